//! `danekit verify` end to end in one process: signed hierarchies served on 127.0.0.1 by the
//! in-test DNS server (`support::dns_auth`), mail servers of `support::mail_servers` on
//! addresses of 127.0.0.0/8 (and `::1`) of their own, all on one high port per test (the
//! service port: TLSA at `_PORT._tcp`), with certificate chains made for each case. Every
//! test asserts the exact outcome of every address, the record and depth that matched, the
//! reasons of a mismatch, and the exit code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use hickory_proto::rr::RecordType;
use serde_json::Value;
use support::dns_auth::{self, AuthServer, Hierarchy, ZoneSpec, now};
use support::mail_servers::{Behaviour, LoopbackEnv, MailServer, TlsVersions};
use support::sites::{
    RSA_KEY, Servers, Spec, WRONG, ee, hex, intermediate, leaf, root, served, spec, spki_sha256,
    start, ta,
};

static NEXT_NET: AtomicU32 = AtomicU32::new(0);

fn serve(hierarchy: Hierarchy) -> AuthServer {
    AuthServer::start(hierarchy, vec![])
}

/// The result of one run.
struct Run {
    code: u8,
    doc: Value,
    stdout: String,
    stderr: String,
}

impl Run {
    /// `(host, address, port, outcome)` of every address, in report order.
    fn outcomes(&self) -> Vec<(String, String, u64, String)> {
        let mut out = Vec::new();
        for mx in self.doc["mx"].as_array().unwrap() {
            for a in mx["addresses"].as_array().unwrap() {
                out.push((
                    mx["host"].as_str().unwrap().to_owned(),
                    a["address"].as_str().unwrap_or("-").to_owned(),
                    a["port"].as_u64().unwrap(),
                    a["outcome"].as_str().unwrap().to_owned(),
                ));
            }
        }
        out
    }

    fn address(&self, mx: usize, index: usize) -> &Value {
        &self.doc["mx"][mx]["addresses"][index]
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "danekit-verify-{tag}-{}-{}",
        std::process::id(),
        NEXT_NET.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `danekit verify ARGS` against `dns` with its root anchor and the real clock (the
/// signatures are made around it). Asserts that nothing was resolved by name.
fn verify_with(dns: &AuthServer, args: &[&str], json: bool) -> Run {
    let dir = tempdir("anchor");
    let anchor = dir.join("anchor.zone");
    let mut f = std::fs::File::create(&anchor).unwrap();
    for l in dns.hierarchy().trust_anchor_ds() {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let mut env = LoopbackEnv::new();
    env.now = i64::from(now());
    let resolver = dns.addr.to_string();
    let mut argv = vec![
        "danekit",
        "verify",
        "--resolver",
        &resolver,
        "--trust-anchor",
        anchor.to_str().unwrap(),
    ];
    if !args.contains(&"--timeout") {
        argv.extend(["--timeout", "3s"]);
    }
    if json {
        argv.extend(["-o", "json"]);
    }
    argv.extend_from_slice(args);
    let code = danekit::cli::run(argv, &mut env);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(env.resolves().is_empty(), "resolved: {:?}", env.resolves());
    let stdout = String::from_utf8(env.stdout).unwrap();
    let stderr = String::from_utf8(env.stderr).unwrap();
    let doc = if json {
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}\n{stderr}"))
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

fn verify(dns: &AuthServer, args: &[&str]) -> Run {
    verify_with(dns, args, true)
}

fn row(host: &str, address: &str, port: u16, outcome: &str) -> (String, String, u64, String) {
    (
        host.to_owned(),
        address.to_owned(),
        u64::from(port),
        outcome.to_owned(),
    )
}

/// A zone `example.test` from lines, `PORT` replaced by the servers' port.
fn zone(servers: &Servers, lines: &str) -> ZoneSpec {
    ZoneSpec::new("example.test").record(&lines.replace("PORT", &servers.port.to_string()))
}

fn smtp_args(servers: &Servers) -> Vec<String> {
    vec![
        "example.test".into(),
        "--port".into(),
        servers.port.to_string(),
        "--starttls".into(),
        "smtp".into(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// One MX host `mx` at octet 1 serving `chain`, with the TLSA records given.
fn one_host(chain: Vec<Vec<u8>>, key: Vec<u8>, tlsa: &[String]) -> (Servers, AuthServer) {
    let servers = start(vec![spec(
        1,
        Behaviour::SmtpStarttls,
        vec![served(chain, key)],
    )]);
    let mut lines = format!("@ MX 10 mx\nmx A {}\n", servers.ip(1));
    for t in tlsa {
        lines.push_str(&format!("_PORT._tcp.mx TLSA {t}\n"));
    }
    let dns = serve(Hierarchy::rooted(vec![zone(&servers, &lines)]));
    (servers, dns)
}

/// One host `LABEL.example.test` at octet 1 behaving as given with a fresh leaf for its name,
/// and its zone, not yet served: an MX to it when `mx`, its address, `TLSA 3 1 1` of the leaf.
fn single(label: &str, behaviour: Behaviour, mx: bool) -> (Vec<u8>, Servers, Hierarchy) {
    let ca = root("Test Root");
    let name = format!("{label}.example.test");
    let (l, k) = leaf(&ca, &[&name], (2025, 2100), false);
    let servers = start(vec![spec(1, behaviour, vec![served(vec![l.clone()], k)])]);
    let mx = if mx {
        format!("@ MX 10 {label}\n")
    } else {
        String::new()
    };
    let lines = format!(
        "{mx}{label} A {}\n_PORT._tcp.{label} TLSA {}\n",
        servers.ip(1),
        ee(&l)
    );
    let hierarchy = Hierarchy::rooted(vec![zone(&servers, &lines)]);
    (l, servers, hierarchy)
}

// ---------------------------------------------------------------------------------------------
// Outcomes

#[test]
fn dane_ee_match_is_authenticated_at_depth_0_rfc7672_section_3_1_1() {
    let ca = root("Test Root");
    let (leaf_der, key) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let record = ee(&leaf_der);
    let (servers, dns) = one_host(
        vec![leaf_der.clone(), ca.der.clone()],
        key,
        &[WRONG.into(), record.clone()],
    );
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.doc["verdict"], "pass");
    assert_eq!(r.doc["domain"], "example.test.");
    assert_eq!(r.doc["mx_lookup"]["verdict"], "secure");
    let ip = servers.ip(1);
    assert_eq!(
        r.outcomes(),
        vec![row("mx.example.test.", &ip, servers.port, "authenticated")]
    );
    let mx = &r.doc["mx"][0];
    assert_eq!(mx["preference"], 10);
    assert_eq!(mx["tlsa_verdict"], "secure");
    assert_eq!(mx["tlsa"], serde_json::json!([WRONG, record]));
    let a = r.address(0, 0);
    assert_eq!(
        a["matched"],
        serde_json::json!({"record": record, "depth": 0})
    );
    assert_eq!(a["chain"][0]["subject"], "CN=mx.example.test");
    assert_eq!(a["chain"][0]["issuer"], "CN=Test Root");
    assert_eq!(a["chain"][0]["spki_sha256"], spki_sha256(&leaf_der));
    assert_eq!(a["chain"][1]["subject"], "CN=Test Root");
    assert_eq!(a["chain"][0]["not_after"], "2100-01-01T00:00:00Z");
    // The ECDSA handshake presented the chain; the RSA one found no RSA certificate.
    assert_eq!(a["tls"].as_array().unwrap().len(), 1);
    assert_eq!(a["tls"][0]["key_type"], "ecdsa");
    assert_eq!(a["tls"][0]["sni"], "mx.example.test");
    assert_eq!(a["tls"][0]["leaf_key"], "ECDSA P-256");
    // RFC 7672 §8.1: the SNI is the TLSA base domain; EHLO names the client's address.
    let sessions = servers.servers[0].sessions(2);
    let ok: Vec<_> = sessions
        .iter()
        .filter(|s| s.tls_version.is_some())
        .collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].sni.as_deref(), Some("mx.example.test"));
    assert!(
        ok[0].plaintext[0].starts_with("EHLO [127."),
        "{:?}",
        ok[0].plaintext
    );
}

#[test]
fn text_report_is_a_tree_with_the_detail_under_failures() {
    let ca = root("Test Root");
    let (leaf_der, key) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let record = ee(&leaf_der);
    let servers = start(vec![
        spec(
            1,
            Behaviour::SmtpStarttls,
            vec![served(vec![leaf_der.clone()], key.clone())],
        ),
        spec(
            2,
            Behaviour::SmtpStarttls,
            vec![served(vec![leaf_der.clone()], key)],
        ),
    ]);
    let lines = format!(
        "@ MX 10 mx\n@ MX 20 mx2\nmx A {}\nmx2 A {}\n_PORT._tcp.mx TLSA {record}\n_PORT._tcp.mx2 TLSA {WRONG}\n",
        servers.ip(1),
        servers.ip(2)
    );
    let dns = serve(Hierarchy::rooted(vec![zone(&servers, &lines)]));
    let r = verify_with(&dns, &strs(&smtp_args(&servers)), false);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let p = servers.port;
    let expected = format!(
        "example.test.: fail\n\
         \x20 MX lookup: secure (MX)\n\
         \x20 MX 10 mx.example.test.\n\
         \x20   _{p}._tcp.mx.example.test. TLSA: secure, usable\n\
         \x20     {record}\n\
         \x20     {ip1}:{p}  authenticated: {record} at depth 0 (TLSv1.3 ECDSA P-256)\n\
         \x20 MX 20 mx2.example.test.\n\
         \x20   _{p}._tcp.mx2.example.test. TLSA: secure, usable\n\
         \x20     {WRONG}\n\
         \x20     {ip2}:{p}  mismatch (TLSv1.3 ECDSA P-256)\n\
         \x20       {WRONG}: the leaf's SPKI hashes to {spki}, the record has {ab}\n\
         \x20       chain[0] CN=mx.example.test (issuer CN=Test Root, until 2100-01-01T00:00:00Z, SPKI SHA-256 {spki})\n",
        ip1 = servers.ip(1),
        ip2 = servers.ip(2),
        spki = spki_sha256(&leaf_der),
        ab = "ab".repeat(32),
    );
    assert_eq!(r.stdout, expected);
}

#[test]
fn dane_ee_ignores_expiry_and_names_rfc7672_section_3_1_1() {
    let ca = root("Test Root");
    let (expired, k1) = leaf(&ca, &["mx.example.test"], (2020, 2021), false);
    let (misnamed, k2) = leaf(&ca, &["other.example.net"], (2025, 2100), false);
    let servers = start(vec![
        spec(
            1,
            Behaviour::SmtpStarttls,
            vec![served(vec![expired.clone()], k1)],
        ),
        spec(
            2,
            Behaviour::SmtpStarttls,
            vec![served(vec![misnamed.clone()], k2)],
        ),
    ]);
    let lines = format!(
        "@ MX 10 mx\n@ MX 20 mx2\nmx A {}\nmx2 A {}\n_PORT._tcp.mx TLSA {}\n_PORT._tcp.mx2 TLSA {}\n",
        servers.ip(1),
        servers.ip(2),
        ee(&expired),
        ee(&misnamed)
    );
    let dns = serve(Hierarchy::rooted(vec![zone(&servers, &lines)]));
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!(r.code, 0, "{}", r.stdout);
    let p = servers.port;
    assert_eq!(
        r.outcomes(),
        vec![
            row("mx.example.test.", &servers.ip(1), p, "authenticated"),
            row("mx2.example.test.", &servers.ip(2), p, "authenticated"),
        ]
    );
    assert_eq!(
        r.address(0, 0)["chain"][0]["not_after"],
        "2021-01-01T00:00:00Z"
    );
}

#[test]
fn dane_ta_paths_rfc7672_section_3_1_2() {
    // mx1: leaf + intermediate sent, TLSA 2 1 1 of the intermediate: authenticated at depth 1.
    // mx2: the intermediate not sent: mismatch.
    // mx3: the intermediate expired: mismatch.
    // mx4: 2 0 0 of the root, which is not sent: authenticated at the root's depth (2).
    // mx5: leaf for another name under the TA: mismatch (RFC 7672 §3.2.2).
    let root_ca = root("Test Root");
    let int = intermediate(&root_ca, "Test Issuing CA", (2020, 2100));
    let old = intermediate(&root_ca, "Old Issuing CA", (2020, 2021));
    let (l1, k1) = leaf(&int, &["mx1.example.test"], (2025, 2100), false);
    let (l2, k2) = leaf(&int, &["mx2.example.test"], (2025, 2100), false);
    let (l3, k3) = leaf(&old, &["mx3.example.test"], (2025, 2100), false);
    let (l4, k4) = leaf(&int, &["mx4.example.test"], (2025, 2100), false);
    let (l5, k5) = leaf(&int, &["www.example.net"], (2025, 2100), false);
    let servers = start(vec![
        spec(
            1,
            Behaviour::SmtpStarttls,
            vec![served(vec![l1, int.der.clone()], k1)],
        ),
        spec(2, Behaviour::SmtpStarttls, vec![served(vec![l2], k2)]),
        spec(
            3,
            Behaviour::SmtpStarttls,
            vec![served(vec![l3, old.der.clone()], k3)],
        ),
        spec(
            4,
            Behaviour::SmtpStarttls,
            vec![served(vec![l4, int.der.clone()], k4)],
        ),
        spec(
            5,
            Behaviour::SmtpStarttls,
            vec![served(vec![l5, int.der.clone()], k5)],
        ),
    ]);
    let full_root = format!("2 0 0 {}", hex(&root_ca.der));
    let lines = format!(
        "@ MX 1 mx1\n@ MX 2 mx2\n@ MX 3 mx3\n@ MX 4 mx4\n@ MX 5 mx5\n\
         mx1 A {}\nmx2 A {}\nmx3 A {}\nmx4 A {}\nmx5 A {}\n\
         _PORT._tcp.mx1 TLSA {ta}\n_PORT._tcp.mx2 TLSA {ta}\n_PORT._tcp.mx3 TLSA {old_ta}\n\
         _PORT._tcp.mx4 TLSA {full_root}\n_PORT._tcp.mx5 TLSA {ta}\n",
        servers.ip(1),
        servers.ip(2),
        servers.ip(3),
        servers.ip(4),
        servers.ip(5),
        ta = ta(&int.der),
        old_ta = ta(&old.der),
    );
    let dns = serve(Hierarchy::rooted(vec![zone(&servers, &lines)]));
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!(r.code, 1);
    let p = servers.port;
    assert_eq!(
        r.outcomes(),
        vec![
            row("mx1.example.test.", &servers.ip(1), p, "authenticated"),
            row("mx2.example.test.", &servers.ip(2), p, "mismatch"),
            row("mx3.example.test.", &servers.ip(3), p, "mismatch"),
            row("mx4.example.test.", &servers.ip(4), p, "authenticated"),
            row("mx5.example.test.", &servers.ip(5), p, "mismatch"),
        ]
    );
    assert_eq!(
        r.address(0, 0)["matched"],
        serde_json::json!({"record": ta(&int.der), "depth": 1})
    );
    assert_eq!(
        r.address(3, 0)["matched"],
        serde_json::json!({"record": full_root, "depth": 2})
    );
    let why = |i: usize| {
        r.address(i, 0)["misses"][0]["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(why(1), "no certificate in the chain hashes to it");
    assert_eq!(
        why(2),
        "matches depth 1 but the chain from it to the leaf does not verify: the certificate \
         at depth 1 (CN=Old Issuing CA) expired at 2021-01-01T00:00:00Z"
    );
    assert_eq!(
        why(4),
        "matches depth 1 but the chain from it to the leaf does not verify: the leaf names \
         www.example.net, not mx5.example.test or example.test"
    );
}

#[test]
fn only_unusable_records_require_tls_without_authentication_rfc7672_section_2_2() {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let pkix = format!("1 1 1 {}", spki_sha256(&l));
    let (servers, dns) = one_host(vec![l], k, std::slice::from_ref(&pkix));
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.doc["mx"][0]["ports"][0]["dane"], "unusable-only");
    let a = r.address(0, 0);
    assert_eq!(a["outcome"], "tls-required");
    assert_eq!(
        a["unusable"],
        serde_json::json!([{"record": pkix, "reason": "usage 1 (PKIX-EE) is not used for SMTP (RFC 7672 §3.1.3)"}])
    );
    let mut args = smtp_args(&servers);
    args.push("--require-dane".into());
    let r = verify(&dns, &strs(&args));
    assert_eq!((r.code, r.doc["verdict"].as_str()), (1, Some("fail")));
}

#[test]
fn secure_denial_is_no_dane_and_require_dane_fails_it_rfc7672_section_2_2() {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let (servers, dns) = one_host(vec![l], k, &[]);
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let a = r.address(0, 0);
    assert_eq!(a["outcome"], "no-dane");
    let p = servers.port;
    assert_eq!(
        a["reason"],
        format!("no TLSA RRset at _{p}._tcp.mx.example.test. (secure NXDOMAIN)")
    );
    // The server was still probed: its TLS is reported.
    assert_eq!(a["tls"][0]["version"], "TLSv1.3");
    let mut args = smtp_args(&servers);
    args.push("--require-dane".into());
    assert_eq!(verify(&dns, &strs(&args)).code, 1);
}

#[test]
fn wrong_record_is_a_mismatch_with_the_reason_for_each_record_rfc7672_section_2_2() {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let other = "3 0 1 cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
    let (servers, dns) = one_host(vec![l], k, &[WRONG.into(), other.into()]);
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!((r.code, r.doc["verdict"].as_str()), (1, Some("fail")));
    let a = r.address(0, 0);
    assert_eq!(a["outcome"], "mismatch");
    let misses: Vec<&str> = a["misses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["record"].as_str().unwrap())
        .collect();
    assert_eq!(misses, vec![WRONG, other]);
    assert_eq!(a["chain"][0]["subject"], "CN=mx.example.test");
}

#[test]
fn bogus_tlsa_is_a_dns_failure_and_nothing_is_connected_rfc7672_section_2_2_2() {
    let (_, servers, mut h) = single("mx", Behaviour::SmtpStarttls, true);
    let owner = format!("_{}._tcp.mx.example.test", servers.port);
    h.zone_mut("example.test").tamper(&owner, RecordType::TLSA);
    let dns = serve(h);
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!((r.code, r.doc["verdict"].as_str()), (1, Some("fail")));
    let a = r.address(0, 0);
    assert_eq!(a["outcome"], "dns-failure");
    let owner = format!("_{}._tcp.mx.example.test.", servers.port);
    assert!(
        a["reason"]
            .as_str()
            .unwrap()
            .starts_with(&format!("the TLSA RRset at {owner} is bogus: ")),
        "{}",
        a["reason"]
    );
    assert_eq!(r.doc["mx"][0]["tlsa_verdict"], "bogus");
    assert_eq!(servers.accepted(), 0);
}

#[test]
fn no_starttls_under_tlsa_is_a_downgrade_rfc7672_section_2_2() {
    let (_, servers, h) = single("mx", Behaviour::SmtpNoStarttls, true);
    let dns = serve(h);
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!(r.code, 1);
    assert_eq!(r.address(0, 0)["outcome"], "starttls-missing");
}

#[test]
fn silent_closing_and_refusing_servers_are_unreachable_not_mismatches() {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let cert = || vec![served(vec![l.clone()], k.clone())];
    let servers = start(vec![
        spec(1, Behaviour::Silent, cert()),
        spec(2, Behaviour::SmtpCloseAfterEhlo, cert()),
    ]);
    // mx3 has an address nothing listens on.
    let lines = format!(
        "@ MX 10 mx1\n@ MX 20 mx2\n@ MX 30 mx3\nmx1 A {}\nmx2 A {}\nmx3 A {}\n\
         _PORT._tcp.mx1 TLSA {r}\n_PORT._tcp.mx2 TLSA {r}\n_PORT._tcp.mx3 TLSA {r}\n",
        servers.ip(1),
        servers.ip(2),
        servers.ip(3),
        r = ee(&l)
    );
    let dns = serve(Hierarchy::rooted(vec![zone(&servers, &lines)]));
    let mut args = smtp_args(&servers);
    args.extend(["--timeout".into(), "1s".into()]);
    let r = verify(&dns, &strs(&args));
    assert_eq!(
        (r.code, r.doc["verdict"].as_str()),
        (3, Some("indeterminate"))
    );
    let p = servers.port;
    assert_eq!(
        r.outcomes(),
        vec![
            row("mx1.example.test.", &servers.ip(1), p, "unreachable"),
            row("mx2.example.test.", &servers.ip(2), p, "unreachable"),
            row("mx3.example.test.", &servers.ip(3), p, "unreachable"),
        ]
    );
    let why = |i: usize| r.address(i, 0)["reason"].as_str().unwrap().to_owned();
    assert!(
        why(0).contains("timed out") && why(0).contains("greeting"),
        "{}",
        why(0)
    );
    assert!(why(1).contains("closed the connection"), "{}", why(1));
    assert!(why(2).contains("cannot connect"), "{}", why(2));
}

#[test]
fn multi_mx_mixed_outcomes_in_preference_order() {
    let ca = root("Test Root");
    let (l1, k1) = leaf(&ca, &["a.example.test"], (2025, 2100), false);
    let (l2, k2) = leaf(&ca, &["b.example.test"], (2025, 2100), false);
    let (l3, k3) = leaf(&ca, &["c.example.test"], (2025, 2100), false);
    let servers = start(vec![
        spec(
            1,
            Behaviour::SmtpStarttls,
            vec![served(vec![l1.clone()], k1)],
        ),
        spec(2, Behaviour::SmtpStarttls, vec![served(vec![l2], k2)]),
        spec(3, Behaviour::SmtpStarttls, vec![served(vec![l3], k3)]),
    ]);
    // c is in an unsigned zone: DANE does not apply to it.
    let lines = format!(
        "@ MX 30 c.insecure.test.\n@ MX 10 a\n@ MX 20 b\na A {}\nb A {}\n\
         _PORT._tcp.a TLSA {}\n_PORT._tcp.b TLSA {WRONG}\n",
        servers.ip(1),
        servers.ip(2),
        ee(&l1)
    );
    let insecure = ZoneSpec::unsigned("insecure.test").record(&format!("c A {}", servers.ip(3)));
    let dns = serve(Hierarchy::rooted(vec![zone(&servers, &lines), insecure]));
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!(r.code, 1);
    let p = servers.port;
    assert_eq!(
        r.outcomes(),
        vec![
            row("a.example.test.", &servers.ip(1), p, "authenticated"),
            row("b.example.test.", &servers.ip(2), p, "mismatch"),
            row("c.insecure.test.", &servers.ip(3), p, "no-dane"),
        ]
    );
    let prefs: Vec<&Value> = r.doc["mx"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["preference"])
        .collect();
    assert_eq!(prefs, vec![10, 20, 30]);
    assert_eq!(r.doc["mx"][2]["tlsa_verdict"], Value::Null);
    assert_eq!(r.doc["mx"][2]["addresses_secure"], false);
}

#[test]
fn cname_mx_host_uses_the_target_as_tlsa_base_and_sni_rfc7672_section_2_2_2() {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.provider.test"], (2025, 2100), false);
    let servers = start(vec![spec(
        1,
        Behaviour::SmtpStarttls,
        vec![served(vec![l.clone()], k)],
    )]);
    let port = servers.port;
    let domain = zone(&servers, "@ MX 10 mail\nmail CNAME mx.provider.test.");
    let provider = ZoneSpec::new("provider.test").record(&format!(
        "mx A {}\n_{port}._tcp.mx TLSA {}",
        servers.ip(1),
        ee(&l)
    ));
    let dns = serve(Hierarchy::rooted(vec![domain, provider]));
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mx = &r.doc["mx"][0];
    assert_eq!(mx["host"], "mail.example.test.");
    assert_eq!(mx["cname_target"], "mx.provider.test.");
    assert_eq!(
        mx["ports"][0]["owner"],
        format!("_{port}._tcp.mx.provider.test.")
    );
    assert_eq!(
        mx["ports"][0]["reference_names"],
        serde_json::json!(["mx.provider.test.", "mail.example.test.", "example.test."])
    );
    assert_eq!(r.address(0, 0)["outcome"], "authenticated");
    assert_eq!(r.address(0, 0)["tls"][0]["sni"], "mx.provider.test");
}

#[test]
fn ipv6_loopback_and_address_family_filters() {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let cert = || vec![served(vec![l.clone()], k.clone())];
    let servers = start(vec![
        spec(1, Behaviour::SmtpStarttls, cert()),
        Spec {
            octet: None,
            behaviour: Behaviour::SmtpStarttls,
            certs: cert(),
        },
    ]);
    let lines = format!(
        "@ MX 10 mx\nmx A {}\nmx AAAA ::1\n_PORT._tcp.mx TLSA {}\n",
        servers.ip(1),
        ee(&l)
    );
    let dns = serve(Hierarchy::rooted(vec![zone(&servers, &lines)]));
    let p = servers.port;
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.outcomes(),
        vec![
            row("mx.example.test.", &servers.ip(1), p, "authenticated"),
            row("mx.example.test.", "::1", p, "authenticated"),
        ]
    );
    let mut v6 = smtp_args(&servers);
    v6.push("-6".into());
    let r = verify(&dns, &strs(&v6));
    assert_eq!(
        r.outcomes(),
        vec![row("mx.example.test.", "::1", p, "authenticated")]
    );
    let mut v4 = smtp_args(&servers);
    v4.push("-4".into());
    let r = verify(&dns, &strs(&v4));
    assert_eq!(
        r.outcomes(),
        vec![row("mx.example.test.", &servers.ip(1), p, "authenticated")]
    );
}

#[test]
fn every_key_type_chain_must_match_when_a_server_holds_two() {
    let ca = root("Test Root");
    let (ec, ec_key) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let (rsa, rsa_key) = leaf(&ca, &["mx.example.test"], (2025, 2100), true);
    let certs = vec![
        served(vec![ec.clone()], ec_key),
        served(vec![rsa.clone()], rsa_key),
    ];
    let servers = start(vec![spec(1, Behaviour::SmtpStarttls, certs)]);
    let lines = format!(
        "@ MX 10 mx\nmx A {}\n_PORT._tcp.mx TLSA {}\n",
        servers.ip(1),
        ee(&ec)
    );
    let dns = serve(Hierarchy::rooted(vec![zone(&servers, &lines)]));
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!(r.code, 1);
    let a = r.address(0, 0);
    assert_eq!(a["outcome"], "mismatch");
    assert_eq!(
        a["reason"],
        "the RSA chain matches no usable record, while the ECDSA chain does"
    );
    assert_eq!(a["chain"][0]["spki_sha256"], spki_sha256(&rsa));
    let kinds: Vec<&str> = a["tls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["leaf_key"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["ECDSA P-256", "RSA-2048"]);

    // Both published: authenticated, the ECDSA match reported.
    let lines = format!(
        "@ MX 10 mx\nmx A {}\n_PORT._tcp.mx TLSA {}\n_PORT._tcp.mx TLSA {}\n",
        servers.ip(1),
        ee(&ec),
        ee(&rsa)
    );
    let dns = serve(Hierarchy::rooted(vec![zone(&servers, &lines)]));
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.address(0, 0)["matched"]["record"], ee(&ec));
}

// ---------------------------------------------------------------------------------------------
// The MX lookup

#[test]
fn null_mx_passes_and_a_missing_domain_fails() {
    let servers = start(vec![]);
    let dns = serve(Hierarchy::rooted(vec![
        ZoneSpec::new("example.test").record("@ MX 0 .\nnone A 127.0.0.9"),
    ]));
    let r = verify(&dns, &["example.test"]);
    assert_eq!((r.code, r.doc["verdict"].as_str()), (0, Some("pass")));
    assert_eq!(r.doc["mx_lookup"]["state"], "null");
    assert_eq!(r.doc["mx"], serde_json::json!([]));
    let r = verify(&dns, &["nowhere.example.test"]);
    assert_eq!((r.code, r.doc["verdict"].as_str()), (1, Some("fail")));
    assert_eq!(r.doc["mx_lookup"]["state"], "no-domain");
    drop(servers);
}

#[test]
fn bogus_mx_fails_and_an_unanswered_mx_is_indeterminate() {
    let mut h = Hierarchy::rooted(vec![
        ZoneSpec::new("example.test").record("@ MX 10 mx\nmx A 127.0.0.9"),
        ZoneSpec::new("quiet.test").record("@ MX 10 mx\nmx A 127.0.0.9"),
    ]);
    let past = now() - 30 * dns_auth::DAY;
    h.zone_mut("example.test").set_window(
        "example.test",
        RecordType::MX,
        past - dns_auth::DAY,
        past,
    );
    let dns = AuthServer::start(
        h,
        vec![dns_auth::Behaviour::ServFail(dns_auth::name("quiet.test"))],
    );
    let r = verify(&dns, &["example.test"]);
    assert_eq!((r.code, r.doc["verdict"].as_str()), (1, Some("fail")));
    assert_eq!(r.doc["mx_lookup"]["verdict"], "bogus");
    assert!(
        r.doc["reason"]
            .as_str()
            .unwrap()
            .starts_with("a DANE sender defers mail to example.test.: the MX RRset is bogus")
    );
    let r = verify(&dns, &["quiet.test"]);
    assert_eq!(
        (r.code, r.doc["verdict"].as_str()),
        (3, Some("indeterminate"))
    );
    assert_eq!(r.doc["mx_lookup"]["verdict"], "indeterminate");
}

// ---------------------------------------------------------------------------------------------
// --host, --connect, --cert, --ports, other protocols

#[test]
fn host_mode_with_connect_probes_another_address_with_the_hosts_dns_data() {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let servers = start(vec![spec(
        7,
        Behaviour::SmtpStarttls,
        vec![served(vec![l.clone()], k)],
    )]);
    // DNS names another address, where nothing listens.
    let lines = format!("mx A {}\n_PORT._tcp.mx TLSA {}\n", servers.ip(1), ee(&l));
    let dns = serve(Hierarchy::rooted(vec![zone(&servers, &lines)]));
    let p = servers.port.to_string();
    let connect = format!("{}:{p}", servers.ip(7));
    let r = verify(
        &dns,
        &[
            "--host",
            "mx.example.test",
            "--port",
            &p,
            "--starttls",
            "smtp",
            "--connect",
            &connect,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.doc["mx_lookup"], Value::Null);
    assert_eq!(r.doc["domain"], "mx.example.test.");
    assert_eq!(r.doc["mx"][0]["preference"], Value::Null);
    assert_eq!(
        r.outcomes(),
        vec![row(
            "mx.example.test.",
            &servers.ip(7),
            servers.port,
            "authenticated"
        )]
    );
}

#[test]
fn offline_chain_is_matched_without_connecting() {
    let ca = root("Test Root");
    let (l, _) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let (next, _) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let servers = start(vec![]);
    let dns = serve(Hierarchy::rooted(vec![
        ZoneSpec::new("example.test")
            .record(&format!("mx A 127.0.0.9\n_25._tcp.mx TLSA {}", ee(&l))),
    ]));
    let dir = tempdir("cert");
    let pem = |der: &[u8]| {
        let b64 = data_encoding::BASE64.encode(der);
        format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n")
    };
    let current = dir.join("current.pem");
    let renewed = dir.join("next.pem");
    std::fs::write(&current, pem(&l)).unwrap();
    std::fs::write(&renewed, pem(&next)).unwrap();
    let r = verify(
        &dns,
        &[
            "--host",
            "mx.example.test",
            "--cert",
            current.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.outcomes(),
        vec![row("mx.example.test.", "-", 25, "authenticated")]
    );
    let r = verify(
        &dns,
        &[
            "--host",
            "mx.example.test",
            "--cert",
            renewed.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 1);
    assert_eq!(
        r.outcomes(),
        vec![row("mx.example.test.", "-", 25, "mismatch")]
    );
    let key = dir.join("key.pem");
    std::fs::write(&key, RSA_KEY).unwrap();
    let r = verify(
        &dns,
        &["--host", "mx.example.test", "--cert", key.to_str().unwrap()],
    );
    assert_eq!((r.code, r.doc["verdict"].as_str()), (2, Some("error")));
    assert!(
        r.stderr.contains("give the certificate chain"),
        "{}",
        r.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(servers.accepted(), 0);
}

#[test]
fn several_ports_each_with_its_own_tlsa_and_dialogue() {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let cert = || vec![served(vec![l.clone()], k.clone())];
    // Implicit TLS on two ports of the same address.
    let a = start(vec![spec(1, Behaviour::ImplicitTls, cert())]);
    let ip = a.ip(1);
    let second = MailServer::start_at(
        SocketAddr::new(ip.parse().unwrap(), 0),
        Behaviour::ImplicitTls,
        TlsVersions::Tls12AndTls13,
        cert(),
    )
    .unwrap();
    let (p1, p2) = (a.port, second.port());
    let lines = format!(
        "mx A {ip}\n_{p1}._tcp.mx TLSA {}\n_{p2}._tcp.mx TLSA {WRONG}\n",
        ee(&l)
    );
    let dns = serve(Hierarchy::rooted(vec![
        ZoneSpec::new("example.test").record(&lines),
    ]));
    let ports = format!("{p1},{p2}");
    let r = verify(&dns, &["--host", "mx.example.test", "--ports", &ports]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.outcomes(),
        vec![
            row("mx.example.test.", &ip, p1, "authenticated"),
            row("mx.example.test.", &ip, p2, "mismatch"),
        ]
    );
    let ports_doc: Vec<u64> = r.doc["mx"][0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports_doc, vec![u64::from(p1), u64::from(p2)]);
}

#[test]
fn imap_starttls_service() {
    let (_, servers, h) = single("imap", Behaviour::ImapStarttls, false);
    let dns = serve(h);
    let p = servers.port.to_string();
    let r = verify(
        &dns,
        &[
            "--host",
            "imap.example.test",
            "--port",
            &p,
            "--starttls",
            "imap",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.address(0, 0)["outcome"], "authenticated");
}

#[test]
fn usage_errors_exit_2_with_a_json_error_document() {
    let dns = serve(Hierarchy::rooted(vec![ZoneSpec::new("example.test")]));
    for args in [
        vec!["example.test", "--host", "mx.example.test"],
        vec!["--host", "mx.example.test", "--connect", "mx.example.test"],
        vec!["example.test", "--ports", "25,0"],
        vec!["example.test", "--port", "25", "--ports", "25,465"],
        vec!["--connect", "127.0.0.1"],
        vec![],
    ] {
        let r = verify(&dns, &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(r.doc["verdict"], "error", "{args:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn hostile_mx_and_address_sets_are_bounded_with_a_warning() {
    let servers = start(vec![]);
    let mut lines = String::new();
    for i in 0..40 {
        lines.push_str(&format!("@ MX {i} mx{i:02}\n"));
    }
    for i in 1..=20 {
        lines.push_str(&format!("mx00 A {}\n", servers.ip(i)));
    }
    lines.push_str("_PORT._tcp.mx00 TLSA 3 1 1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    let dns = serve(Hierarchy::rooted(vec![zone(&servers, &lines)]));
    let r = verify(&dns, &["example.test", "--port", "2525", "--timeout", "1s"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.doc["mx"].as_array().unwrap().len(), 32);
    assert_eq!(r.doc["hosts_omitted"], 8);
    assert_eq!(r.doc["mx"][31]["host"], "mx31.example.test.");
    let first = &r.doc["mx"][0];
    assert_eq!(first["addresses"].as_array().unwrap().len(), 16);
    assert_eq!(first["addresses_omitted"], 4);
    assert_eq!(r.doc["mx"][1]["addresses"][0]["address"], Value::Null);
    assert_eq!(
        r.doc["mx"][1]["addresses"][0]["reason"],
        "mx01.example.test. has no A or AAAA record"
    );
    let codes: Vec<&str> = r.doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["mx-hosts-omitted", "addresses-omitted"]);
}

#[test]
fn the_first_host_is_probed_while_the_next_one_is_still_being_looked_up() {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let cert = || vec![served(vec![l.clone()], k.clone())];
    let servers = start(vec![
        spec(1, Behaviour::SmtpStarttls, cert()),
        spec(2, Behaviour::SmtpStarttls, cert()),
    ]);
    let p = servers.port;
    let domain = ZoneSpec::new("example.test").record(&format!(
        "@ MX 10 mx\n@ MX 20 mx.slow.test.\nmx A {}\n_{p}._tcp.mx TLSA {}",
        servers.ip(1),
        ee(&l)
    ));
    let slow = ZoneSpec::new("slow.test").record(&format!(
        "mx A {}\n_{p}._tcp.mx TLSA {}",
        servers.ip(2),
        ee(&l)
    ));
    // Every answer about slow.test comes 300 ms late.
    let dns = AuthServer::start(
        Hierarchy::rooted(vec![domain, slow]),
        vec![dns_auth::Behaviour::Delay(
            dns_auth::name("slow.test"),
            std::time::Duration::from_millis(300),
        )],
    );
    let r = verify(&dns, &strs(&smtp_args(&servers)));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.outcomes(),
        vec![
            row("mx.example.test.", &servers.ip(1), p, "authenticated"),
            row("mx.slow.test.", &servers.ip(2), p, "authenticated"),
        ]
    );
    // The first MX host's server was connected to before the second host's TLSA question was
    // answered: its plan was handed to the probes as soon as it was ready.
    let first = servers.servers[0].first_accept().unwrap();
    let tlsa_answered = dns
        .answered()
        .iter()
        .find(|(n, t, _)| *t == RecordType::TLSA && n.to_string().ends_with("slow.test."))
        .map(|(_, _, at)| *at)
        .unwrap();
    assert!(first < tlsa_answered);
}

#[test]
fn insecure_mx_hosts_are_no_dane_unless_asked_like_postfix_rfc7672_section_2_2_1() {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let servers = start(vec![spec(
        1,
        Behaviour::SmtpStarttls,
        vec![served(vec![l], k)],
    )]);
    let signed = zone(
        &servers,
        &format!("mx A {}\n_PORT._tcp.mx TLSA {WRONG}\n", servers.ip(1)),
    );
    let unsigned = ZoneSpec::unsigned("insecure.test").record("@ MX 10 mx.example.test.");
    let dns = serve(Hierarchy::rooted(vec![signed, unsigned]));
    let p = servers.port.to_string();
    let base = ["insecure.test", "--port", &p, "--starttls", "smtp"];
    let r = verify(&dns, &base);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.address(0, 0)["outcome"], "no-dane");
    assert_eq!(r.doc["findings"][0]["code"], "insecure-mx");
    let mut dane = base.to_vec();
    dane.extend(["--insecure-mx", "dane"]);
    let r = verify(&dns, &dane);
    assert_eq!(r.code, 1);
    assert_eq!(r.address(0, 0)["outcome"], "mismatch");
    assert_eq!(r.doc["mx"][0]["tlsa_verdict"], "secure");
    assert_eq!(r.doc["findings"], serde_json::json!([]));
}
