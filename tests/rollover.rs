//! `danekit rollover` in one process: a services file with a current chain and a next key,
//! signed zones served by two in-test authoritative servers (`support::dns_auth`; the second
//! plays a secondary that may lag), the TTL clock in a state file, `plan` and `next-key`.
//! Each test asserts exit codes, verdicts, reasons and records exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData,
};
use serde_json::Value;
use support::dns_auth::{AuthServer, Hierarchy, ZoneSpec, now};
use support::mail_servers::LoopbackEnv;

static NEXT: AtomicU32 = AtomicU32::new(0);

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "danekit-rollover-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn sha256_hex(data: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

/// A services directory: the current chain (leaf for mail.example.test and its CA), the next
/// key, and services.yaml naming them with a TTL of 60.
struct Site {
    dir: PathBuf,
    current_311: String,
    next_311: String,
    ca_211: String,
}

impl Site {
    fn new() -> Site {
        let dir = tempdir("site");
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Example CA");
        ca.distinguished_name = dn;
        let ca_der = ca.self_signed(&ca_key).unwrap().der().to_vec();
        let issuer = Issuer::new(ca, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf = CertificateParams::new(vec!["mail.example.test".to_owned()]).unwrap();
        leaf.not_before = rcgen::date_time_ymd(2025, 1, 1);
        leaf.not_after = rcgen::date_time_ymd(2099, 1, 1);
        let leaf_der = leaf.signed_by(&leaf_key, &issuer).unwrap().der().to_vec();
        let next_key = KeyPair::generate().unwrap();
        std::fs::write(
            dir.join("current.pem"),
            format!(
                "{}{}",
                pem("CERTIFICATE", &leaf_der),
                pem("CERTIFICATE", &ca_der)
            ),
        )
        .unwrap();
        std::fs::write(dir.join("next.pem"), next_key.public_key_pem()).unwrap();
        std::fs::write(
            dir.join("services.yaml"),
            "zone: example.test.\nttl: 60\nrecords: [\"3 1 1\"]\nservices:\n  - host: mail\n    ports: [25]\n    cert: current.pem\n    next: next.pem\n",
        )
        .unwrap();
        let spki = |der: &[u8]| danekit::pki::Certificate::from_der(der).unwrap().spki;
        Site {
            current_311: format!("3 1 1 {}", sha256_hex(&spki(&leaf_der))),
            next_311: format!("3 1 1 {}", sha256_hex(&next_key.subject_public_key_info())),
            ca_211: format!("2 1 1 {}", sha256_hex(&spki(&ca_der))),
            dir,
        }
    }

    fn services(&self) -> String {
        self.dir.join("services.yaml").display().to_string()
    }

    fn state(&self) -> String {
        self.dir.join("state.json").display().to_string()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A signed example.test whose `_25._tcp.mail` TLSA RRset (TTL 60) holds `records`, with
/// the given SOA serial.
fn zone(records: &[&str], serial: u32) -> Hierarchy {
    let mut lines =
        format!("@ SOA ns1 hostmaster {serial} 7200 3600 1209600 300\nmail A 127.0.0.1\n");
    for r in records {
        lines.push_str(&format!("_25._tcp.mail 60 TLSA {r}\n"));
    }
    Hierarchy::rooted(vec![ZoneSpec::new("example.test").record(&lines)])
}

struct Run {
    code: u8,
    doc: Value,
    stdout: String,
    stderr: String,
}

/// Runs `danekit ARGS` with the anchor of `dns`, `dns` as resolver, at `at` (Unix seconds).
fn run(dns: &AuthServer, at: i64, args: &[&str], json: bool) -> Run {
    let dir = tempdir("anchor");
    let anchor = dir.join("anchor.zone");
    std::fs::write(&anchor, dns.hierarchy().trust_anchor_ds().join("\n")).unwrap();
    let mut env = LoopbackEnv::new();
    env.now = at;
    let resolver = dns.addr.to_string();
    let now = at.to_string();
    let mut argv = vec![
        "danekit",
        "--resolver",
        &resolver,
        "--trust-anchor",
        anchor.to_str().unwrap(),
        "--now",
        &now,
        "--timeout",
        "2s",
    ];
    if json {
        argv.extend(["-o", "json"]);
    }
    argv.extend_from_slice(args);
    let code = danekit::cli::run(argv, &mut env);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(env.resolves().is_empty(), "{:?}", env.resolves());
    let stdout = String::from_utf8(env.stdout).unwrap();
    let stderr = String::from_utf8(env.stderr).unwrap();
    let doc = if json {
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
    } else {
        Value::Null
    };
    Run {
        code,
        doc,
        stdout,
        stderr,
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_issuer_record_carries_a_new_key_from_the_same_ca_rule_12b() {
    let site = Site::new();
    let dns = AuthServer::start(zone(&[&site.current_311, &site.ca_211], 1), vec![]);
    let ns = dns.addr.to_string();
    let r = run(
        &dns,
        i64::from(now()),
        &["rollover", "check", &site.services(), "--nameserver", &ns],
        true,
    );
    assert_eq!(r.code, 0, "{}", r.doc);
    assert_eq!(r.doc["verdict"], "safe");
    let s = &r.doc["services"][0];
    assert_eq!(s["host"], "mail.example.test.");
    assert_eq!(s["port"], 25);
    assert_eq!(s["owner"], "_25._tcp.mail.example.test.");
    let codes: Vec<&str> = s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["parameter-set-not-rolled"]);
    assert_eq!(s["nameservers"][0]["verdict"], "secure");
    assert_eq!(s["nameservers"][0]["serial"], 1);
}

#[test]
fn publish_wait_then_safe_with_the_clock_in_the_state_file() {
    let site = Site::new();
    let only_current = AuthServer::start(zone(&[&site.current_311], 1), vec![]);
    let ns = only_current.addr.to_string();
    let t0 = i64::from(now());
    let check = |dns: &AuthServer, at: i64, ns: &[&str]| {
        let services = site.services();
        let mut args = vec!["rollover", "check", &services[..]];
        let state = site.state();
        args.extend(["--state", &state[..]]);
        for n in ns {
            args.extend(["--nameserver", n]);
        }
        run(dns, at, &args, true)
    };
    // 1. Only the current record: unsafe, nothing to wait for, the next record named.
    let r = check(&only_current, t0, &[&ns]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let s = &r.doc["services"][0];
    assert_eq!(s["verdict"], "unsafe");
    assert_eq!(s["safe_after"], Value::Null);
    assert_eq!(strings(&s["publish"]), vec![site.next_311.clone()]);
    assert_eq!(
        strings(&s["reasons"]),
        vec![
            "the next key would not be authenticated by the published records (a SHA2-256 client)",
            "the next key would not be authenticated by the published records (a SHA2-256+SHA2-512 client)"
        ]
    );

    // 2. The primary serves both records, the secondary still the old RRset: named.
    let both = AuthServer::start(zone(&[&site.current_311, &site.next_311], 2), vec![]);
    let primary = both.addr.to_string();
    let r = check(&both, t0 + 10, &[&primary, &ns]);
    assert_eq!(r.code, 1);
    let s = &r.doc["services"][0];
    assert_eq!(
        strings(&s["reasons"]),
        vec![format!(
            "{ns} ({ns}) lags (SOA serial 1): it does not serve {}",
            site.next_311
        )]
    );
    let serials: Vec<u64> = s["nameservers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["serial"].as_u64().unwrap())
        .collect();
    assert_eq!(serials, vec![2, 1]);

    // 3. Both serve it from t0 + 20: unsafe until 2 × max(TTL 60, negative TTL 300) later,
    // since this state file saw the owner first with the old record only (the name existed:
    // the TTL alone counts).
    let secondary = AuthServer::start(zone(&[&site.current_311, &site.next_311], 2), vec![]);
    let second = secondary.addr.to_string();
    let r = check(&both, t0 + 20, &[&primary, &second]);
    assert_eq!(r.code, 1, "{}", r.doc);
    let s = &r.doc["services"][0];
    let expect = danekit::time::Timestamp(t0 + 20 + 120).to_string();
    assert_eq!(s["safe_after"], expect);
    assert_eq!(r.doc["safe_after"], expect);
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(site.state()).unwrap()).unwrap();
    let owner = &state["owners"]["_25._tcp.mail.example.test."];
    assert_eq!(owner["ttl"], 60);
    assert_eq!(
        owner["records"][&site.next_311],
        danekit::time::Timestamp(t0 + 20).to_string()
    );
    assert_eq!(
        owner["records"][&site.current_311],
        danekit::time::Timestamp(t0).to_string()
    );

    // 4. At safe_after: safe, exit 0; the text report says so.
    let r = check(&both, t0 + 140, &[&primary, &second]);
    assert_eq!(
        (r.code, r.doc["verdict"].as_str()),
        (0, Some("safe")),
        "{}",
        r.doc
    );
    let services = site.services();
    let mut args = vec!["rollover", "check", &services[..]];
    let state = site.state();
    args.extend([
        "--state",
        &state[..],
        "--nameserver",
        &primary,
        "--nameserver",
        &second,
    ]);
    let text = run(&both, t0 + 140, &args, false);
    assert_eq!(text.code, 0);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(
        lines[..2],
        [
            "mail.example.test. port 25 (_25._tcp.mail.example.test.): safe",
            "  records:"
        ]
    );
    let mut records = lines[2..4].to_vec();
    records.sort();
    let mut expected = vec![
        format!("    {}  current", site.current_311),
        format!(
            "    {}  next, in every cache from {}",
            site.next_311,
            danekit::time::Timestamp(t0 + 140)
        ),
    ];
    expected.sort();
    assert_eq!(records, expected);
    assert!(text.stdout.ends_with("verdict: safe\n"), "{}", text.stdout);
}

#[test]
fn plan_lists_publish_deploy_and_remove_with_fragments() {
    let site = Site::new();
    let dns = AuthServer::start(zone(&[&site.current_311], 1), vec![]);
    let ns = dns.addr.to_string();
    let t0 = i64::from(now());
    let r = run(
        &dns,
        t0,
        &[
            "rollover",
            "plan",
            &site.services(),
            "--nameserver",
            &ns,
            "--fragment",
            "nsupdate",
        ],
        true,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let steps = r.doc["steps"].as_array().unwrap();
    let actions: Vec<&str> = steps
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["publish", "deploy", "remove"]);
    let when: Vec<String> = steps
        .iter()
        .map(|s| s["earliest"].as_str().unwrap().to_owned())
        .collect();
    let at = |s: i64| danekit::time::Timestamp(s).to_string();
    // The name has an RRset already: 2 × TTL (60 s), the negative TTL does not count.
    assert_eq!(when, vec![at(t0), at(t0 + 120), at(t0 + 120)]);
    assert_eq!(
        steps[0]["fragment"],
        format!(
            "zone example.test.\nupdate delete _25._tcp.mail.example.test. TLSA\n\
             update add _25._tcp.mail.example.test. 60 IN TLSA {}\n\
             update add _25._tcp.mail.example.test. 60 IN TLSA {}\nsend\n",
            site.current_311, site.next_311
        )
    );
    assert_eq!(strings(&steps[2]["records"]), vec![site.next_311.clone()]);
}

#[test]
fn next_key_writes_a_private_key_and_a_csr_and_never_overwrites() {
    let site = Site::new();
    let dns = AuthServer::start(zone(&[&site.current_311], 1), vec![]);
    let out = site.dir.join("keys");
    std::fs::create_dir_all(&out).unwrap();
    let outs = out.display().to_string();
    let args = [
        "rollover",
        "next-key",
        &site.services()[..],
        "--host",
        "mail.example.test",
        "--out",
        &outs,
    ];
    let r = run(&dns, i64::from(now()), &args, false);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let key = out.join("mail.example.test.next.key");
    let csr = out.join("mail.example.test.next.csr");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The printed record is the one `danekit tlsa` computes from the key file.
    let mut env = LoopbackEnv::new();
    let code = danekit::cli::run(
        [
            "danekit",
            "tlsa",
            key.to_str().unwrap(),
            "--host",
            "mail.example.test",
            "--port",
            "25",
            "--ttl",
            "60",
            "-o",
            "zone",
        ],
        &mut env,
    );
    assert_eq!(code, 0);
    let zone_line = String::from_utf8(env.stdout).unwrap();
    assert!(r.stdout.ends_with(&zone_line), "{}\n{zone_line}", r.stdout);
    assert!(
        r.stdout
            .contains(&format!("CSR for mail.example.test: {}", csr.display()))
    );
    let again = run(&dns, i64::from(now()), &args, false);
    assert_eq!(again.code, 2);
    assert_eq!(
        again.stderr,
        format!(
            "error: {}: exists; not overwritten (move it away, or use it as `next:`)\n",
            key.display()
        )
    );
    let unknown = run(
        &dns,
        i64::from(now()),
        &[
            "rollover",
            "next-key",
            &site.services(),
            "--host",
            "www.example.test",
        ],
        false,
    );
    assert_eq!(unknown.code, 2);
    let _ = Path::new(&outs);
}

#[test]
fn malformed_state_files_are_refused_with_their_place() {
    let site = Site::new();
    let dns = AuthServer::start(zone(&[&site.current_311], 1), vec![]);
    std::fs::write(site.state(), "{\"schema_version\": 1, \"owners\": [}").unwrap();
    let r = run(
        &dns,
        i64::from(now()),
        &[
            "rollover",
            "check",
            &site.services(),
            "--state",
            &site.state(),
        ],
        true,
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.doc["verdict"], "error");
    assert!(
        r.stderr.starts_with(&format!("error: {}:1:", site.state())),
        "{}",
        r.stderr
    );
}

#[test]
fn an_issuers_file_must_hold_certificates() {
    let site = Site::new();
    let dns = AuthServer::start(zone(&[&site.current_311], 1), vec![]);
    let key = site.dir.join("next.pem");
    let r = run(
        &dns,
        i64::from(now()),
        &[
            "rollover",
            "check",
            &site.services(),
            "--issuers",
            key.to_str().unwrap(),
        ],
        false,
    );
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        format!(
            "error: {}: issuer files hold certificates, not keys\n",
            key.display()
        )
    );
}
