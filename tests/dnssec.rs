//! `danekit dnssec` against signed hierarchies served on 127.0.0.1 by the in-test server
//! (`support::dns_auth`), one scenario per rule, each named after the RFC section that decides
//! it. Every test asserts the exact verdict of every RRset, the reason where there is one, and
//! the exit code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write as _;

use danekit::dnssec::StatusWord;
use hickory_proto::rr::RecordType;
use serde_json::Value;
use support::dns_auth::{
    AuthServer, Behaviour, DAY, Hierarchy, KeyAlg, KeySpec, ZoneSpec, name, now,
};
use support::mail_servers::LoopbackEnv;

/// A mail domain: MX to mail.example.test, which has an address and a TLSA RRset.
fn mail_zone(apex: &str) -> ZoneSpec {
    ZoneSpec::new(apex).record(
        "@ MX 10 mail\n\
         mail A 127.0.0.1\n\
         mail AAAA ::1\n\
         _25._tcp.mail TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    )
}

/// The result of one run: exit code, the JSON document, and stderr.
struct Run {
    code: u8,
    doc: Value,
    stderr: String,
}

impl Run {
    /// The verdict of the RRset `name`/`rtype`.
    fn verdict(&self, owner: &str, rtype: &str) -> String {
        self.rrset(owner, rtype)["verdict"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn rrset(&self, owner: &str, rtype: &str) -> &Value {
        self.doc["rrsets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == owner && r["type"] == rtype)
            .unwrap_or_else(|| panic!("no {owner} {rtype} in {:#}", self.doc))
    }

    fn reason(&self, owner: &str, rtype: &str) -> String {
        self.rrset(owner, rtype)["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// (name, type, verdict) of every RRset, in order.
    fn summary(&self) -> Vec<(String, String, String)> {
        self.doc["rrsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    r["type"].as_str().unwrap().to_owned(),
                    r["verdict"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn row(name: &str, rtype: &str, verdict: &str) -> (String, String, String) {
    (name.into(), rtype.into(), verdict.into())
}

/// Writes the hierarchy's trust anchor (DS lines) to a temporary file.
fn anchor_file(dir: &std::path::Path, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join("anchor.zone");
    let mut f = std::fs::File::create(&path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    path
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "danekit-dnssec-{tag}-{}-{}",
        std::process::id(),
        now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `danekit dnssec ARGS -o json` against `server` with the hierarchy's root anchor.
fn run(server: &AuthServer, tag: &str, args: &[&str]) -> Run {
    let anchors = server.hierarchy().trust_anchor_ds();
    run_with_anchor(server, tag, &anchors, args)
}

/// Where hickory-resolver's validator is known to disagree, and the RFC rule that decides for
/// danekit (the interop tests check these against Unbound and delv).
const KNOWN_DISAGREEMENTS: &[(&str, &str, &str)] = &[
    // A CNAME whose target has no AAAA: the CNAME is signed and the target's NSEC proves
    // NODATA (RFC 4035 §5.4 per hop); hickory-resolver rejects the combined answer.
    ("cnamemx", "mail.example.test.", "AAAA"),
    // A wildcard expansion with its NSEC proof (RFC 4035 §5.3.4); hickory-resolver's
    // wildcard handling (its issue #2882) calls it bogus.
    ("wild", "_25._tcp.mail.example.test.", "TLSA"),
];

fn run_with_anchor(server: &AuthServer, tag: &str, anchors: &[String], args: &[&str]) -> Run {
    run_opts(server, tag, anchors, args, true)
}

/// Like [`run`], without the cross-check (whose questions would count in the server's log).
fn run_alone(server: &AuthServer, tag: &str, args: &[&str]) -> Run {
    let anchors = server.hierarchy().trust_anchor_ds();
    run_opts(server, tag, &anchors, args, false)
}

fn run_opts(server: &AuthServer, tag: &str, anchors: &[String], args: &[&str], cross: bool) -> Run {
    let dir = tempdir(tag);
    let anchor = anchor_file(&dir, anchors);
    let mut env = LoopbackEnv::new();
    env.now = i64::from(now());
    let resolver = server.addr.to_string();
    let mut argv = vec![
        "danekit",
        "dnssec",
        "--resolver",
        &resolver,
        "--trust-anchor",
        anchor.to_str().unwrap(),
        "--timeout",
        "2s",
        "-o",
        "json",
    ];
    if cross {
        argv.push("--cross-check");
    }
    argv.extend_from_slice(args);
    let code = danekit::cli::run(argv, &mut env);
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8(env.stdout).unwrap();
    let doc: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"));
    if let Some(cc) = doc["cross_check"].as_array() {
        for c in cc.iter().filter(|c| c["agree"] == false) {
            let (name, rtype) = (c["name"].as_str().unwrap(), c["type"].as_str().unwrap());
            assert!(
                KNOWN_DISAGREEMENTS.contains(&(tag, name, rtype)),
                "{tag}: hickory-resolver disagrees on {name} {rtype}: {c:#}"
            );
        }
    }
    Run {
        code,
        doc,
        stderr: String::from_utf8(env.stderr).unwrap(),
    }
}

fn serve(specs: Vec<ZoneSpec>) -> AuthServer {
    AuthServer::start(Hierarchy::rooted(specs), vec![])
}

#[test]
fn secure_mail_domain_rfc7672_section_2_2() {
    let server = serve(vec![mail_zone("example.test")]);
    let r = run(&server, "secure", &["example.test"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.doc["verdict"], "secure");
    assert_eq!(r.doc["schema_version"], 1);
    assert_eq!(
        r.summary(),
        vec![
            row("example.test.", "MX", "secure"),
            row("mail.example.test.", "A", "secure"),
            row("mail.example.test.", "AAAA", "secure"),
            row("_25._tcp.mail.example.test.", "TLSA", "secure"),
        ]
    );
    let tlsa = r.rrset("_25._tcp.mail.example.test.", "TLSA");
    assert_eq!(
        tlsa["records"][0],
        "3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(tlsa["answer"], "data");
    // The chain: the root by the anchor, then test. and example.test. by DS.
    let chain = tlsa["chain"].as_array().unwrap();
    let zones: Vec<&str> = chain.iter().map(|l| l["zone"].as_str().unwrap()).collect();
    assert_eq!(zones, [".", "test.", "example.test."]);
    assert_eq!(chain[0]["via"], "trust anchor");
    for link in chain {
        assert_eq!(link["status"], "secure");
        assert_eq!(link["ds"][0]["matches_dnskey"], true);
        assert_eq!(link["ds"][0]["digest_type"], 2);
        assert_eq!(link["dnskey"][0]["algorithm"], 13);
        assert_eq!(link["dnskey"][0]["bits"], 256);
        let sigs = link["rrsig"].as_array().unwrap();
        assert!(sigs.iter().all(|s| s["status"] == "valid"), "{link:#}");
        let covers: Vec<&str> = sigs.iter().map(|s| s["covers"].as_str().unwrap()).collect();
        // The DS RRSIG (by the parent) and the DNSKEY RRSIG (by the zone's own key).
        if link["zone"] == "." {
            assert_eq!(covers, ["DNSKEY"]);
        } else {
            assert_eq!(covers, ["DS", "DNSKEY"]);
        }
    }
    let zone = server.hierarchy().zone("example.test");
    assert_eq!(chain[2]["dnskey"][0]["key_tag"], zone.key_tag(0));
    assert_eq!(tlsa["rrsig"][0]["signer"], "example.test.");
    assert_eq!(tlsa["rrsig"][0]["key_tag"], zone.key_tag(0));
    assert_eq!(tlsa["rrsig"][0]["expiration"], "2090-01-01T00:00:00Z");
}

#[test]
fn each_dnskey_and_ds_is_asked_once_per_run() {
    let server =
        serve(vec![mail_zone("example.test").record(
            "@ MX 20 mx2\nmx2 A 127.0.0.2\n_25._tcp.mx2 TLSA 3 1 1 00",
        )]);
    let r = run_alone(&server, "cache", &["example.test"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let queries = server.queries();
    for zone in [".", "test.", "example.test."] {
        let n = queries
            .iter()
            .filter(|(q, t, _)| q.to_ascii() == zone && *t == RecordType::DNSKEY)
            .count();
        assert_eq!(n, 1, "DNSKEY {zone} asked {n} times: {queries:?}");
    }
    assert_eq!(r.doc["queries"], queries.len());
}

#[test]
fn text_output_draws_the_chain() {
    let server = serve(vec![mail_zone("example.test")]);
    let dir = tempdir("text");
    let anchor = anchor_file(&dir, &server.hierarchy().trust_anchor_ds());
    let mut env = LoopbackEnv::new();
    env.now = i64::from(now());
    let resolver = server.addr.to_string();
    let code = danekit::cli::run(
        [
            "danekit",
            "dnssec",
            "_25._tcp.mail.example.test",
            "--type",
            "tlsa",
            "--resolver",
            &resolver,
            "--trust-anchor",
            anchor.to_str().unwrap(),
        ],
        &mut env,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let out = String::from_utf8(env.stdout).unwrap();
    assert_eq!(code, 0, "{out}");
    let tag = server.hierarchy().zone("example.test").key_tag(0);
    assert!(
        out.starts_with("_25._tcp.mail.example.test. TLSA: secure\n"),
        "{out}"
    );
    assert!(out.contains("    . (via trust anchor): secure\n"), "{out}");
    assert!(
        out.contains("    example.test. (via DS): secure\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "      DS {tag} algorithm 13 digest 2: matches a DNSKEY\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "      DNSKEY {tag} flags 257 (KSK) algorithm 13, 256 bits\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "    RRSIG TLSA by example.test. key {tag} algorithm 13, 2025-01-01T00:00:00Z .. 2090-01-01T00:00:00Z: valid\n"
        )),
        "{out}"
    );
    assert!(
        out.ends_with("verdict: secure (1 RRsets, 6 questions)\n"),
        "{out}"
    );
}

#[test]
fn authenticated_nxdomain_and_nodata_are_secure_rfc4035_section_5_4() {
    let server = serve(vec![mail_zone("example.test")]);
    let r = run(
        &server,
        "nx",
        &["_25._tcp.nohost.example.test", "--type", "TLSA"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rr = r.rrset("_25._tcp.nohost.example.test.", "TLSA");
    assert_eq!(rr["verdict"], "secure");
    assert_eq!(rr["answer"], "nxdomain");
    let proves: Vec<&str> = rr["denial"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    assert!(proves.iter().all(|t| *t == "NSEC"), "{rr:#}");
    assert!(!proves.is_empty());

    let r = run(&server, "nodata", &["mail.example.test", "--type", "TXT"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.verdict("mail.example.test.", "TXT"), "secure");
    assert_eq!(r.rrset("mail.example.test.", "TXT")["answer"], "nodata");
}

#[test]
fn nsec3_nxdomain_and_nodata_are_secure_rfc5155_section_8() {
    let server = serve(vec![mail_zone("example.test").nsec3(0, b"", false)]);
    let r = run(
        &server,
        "n3nx",
        &["_25._tcp.nohost.example.test", "--type", "TLSA"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rr = r.rrset("_25._tcp.nohost.example.test.", "TLSA");
    assert_eq!(rr["verdict"], "secure", "{rr:#}");
    assert_eq!(rr["answer"], "nxdomain");
    assert!(
        rr["denial"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["type"] == "NSEC3")
    );

    let r = run(&server, "n3nodata", &["mail.example.test", "--type", "TXT"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.verdict("mail.example.test.", "TXT"), "secure");
    assert_eq!(r.rrset("mail.example.test.", "TXT")["answer"], "nodata");
}

#[test]
fn nsec3_opt_out_span_is_insecure_rfc5155_section_9_2() {
    let server = serve(vec![
        ZoneSpec::new("test").nsec3(0, b"", true),
        ZoneSpec::unsigned("example.test").record("@ MX 10 mail\nmail A 127.0.0.1"),
    ]);
    let r = run(&server, "optout", &["example.test", "--type", "MX"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.verdict("example.test.", "MX"), "insecure");
    assert!(
        r.reason("example.test.", "MX").contains("opt-out"),
        "{}",
        r.reason("example.test.", "MX")
    );
}

#[test]
fn unsigned_delegation_is_insecure_rfc4035_section_5_2() {
    let server = serve(vec![
        ZoneSpec::unsigned("example.test").record("@ MX 10 mail\nmail A 127.0.0.1"),
    ]);
    let r = run(&server, "unsigned", &["example.test"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.doc["verdict"], "insecure");
    assert_eq!(
        r.reason("example.test.", "MX"),
        "example.test. is an unsigned delegation: its parent proves it has no DS"
    );
    let chain = r.rrset("example.test.", "MX")["chain"]
        .as_array()
        .unwrap()
        .clone();
    let last = chain.last().unwrap();
    assert_eq!(last["zone"], "example.test.");
    assert!(
        last["via"]
            .as_str()
            .unwrap()
            .starts_with("no DS (NSEC example.test.")
    );
}

#[test]
fn forged_signature_is_bogus_rfc4035_section_5_3_3() {
    let mut h = Hierarchy::rooted(vec![mail_zone("example.test")]);
    h.zone_mut("example.test")
        .tamper("_25._tcp.mail.example.test", RecordType::TLSA);
    let server = AuthServer::start(h, vec![]);
    let r = run(&server, "forged", &["example.test"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.doc["verdict"], "bogus");
    assert_eq!(r.verdict("example.test.", "MX"), "secure");
    assert_eq!(r.verdict("_25._tcp.mail.example.test.", "TLSA"), "bogus");
    let tag = server.hierarchy().zone("example.test").key_tag(0);
    assert_eq!(
        r.reason("_25._tcp.mail.example.test.", "TLSA"),
        format!(
            "no valid RRSIG over _25._tcp.mail.example.test. TLSA: RRSIG {tag} by example.test.: signature does not verify"
        )
    );
    assert_eq!(
        r.rrset("_25._tcp.mail.example.test.", "TLSA")["rrsig"][0]["status"],
        "signature does not verify"
    );
}

#[test]
fn expired_signature_is_bogus_rfc4034_section_3_1_5() {
    let t = now();
    let mut h = Hierarchy::rooted(vec![mail_zone("example.test")]);
    h.zone_mut("example.test").set_window(
        "mail.example.test",
        RecordType::A,
        t - 20 * DAY,
        t - DAY,
    );
    let server = AuthServer::start(h, vec![]);
    let r = run(&server, "expired", &["mail.example.test", "--type", "A"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let reason = r.reason("mail.example.test.", "A");
    assert!(reason.contains(": expired at "), "{reason}");
    assert_eq!(
        r.rrset("mail.example.test.", "A")["rrsig"][0]["status"]
            .as_str()
            .unwrap()
            .split(' ')
            .next(),
        Some("expired")
    );
}

#[test]
fn not_yet_valid_signature_is_bogus_rfc4035_section_5_3_1() {
    let t = now();
    let mut h = Hierarchy::rooted(vec![mail_zone("example.test")]);
    h.zone_mut("example.test").set_window(
        "mail.example.test",
        RecordType::A,
        t + DAY,
        t + 30 * DAY,
    );
    let server = AuthServer::start(h, vec![]);
    let r = run(&server, "future", &["mail.example.test", "--type", "A"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.reason("mail.example.test.", "A")
            .contains(": not valid before ")
    );
}

#[test]
fn signature_windows_use_serial_arithmetic_rfc4034_section_3_1_5() {
    // An expiration past 2106 wraps to a small 32-bit number; serial arithmetic still reads it
    // as later than the inception, so the signature is valid.
    let t = now();
    let mut h = Hierarchy::rooted(vec![mail_zone("example.test")]);
    let expiration = t.wrapping_add(1 << 30);
    h.zone_mut("example.test")
        .set_window("mail.example.test", RecordType::A, t - DAY, expiration);
    let server = AuthServer::start(h, vec![]);
    let r = run(&server, "serial", &["mail.example.test", "--type", "A"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.verdict("mail.example.test.", "A"), "secure");
}

#[test]
fn ds_matching_no_dnskey_is_bogus_rfc4035_section_5_2() {
    let mut h = Hierarchy::rooted(vec![mail_zone("example.test")]);
    // Replace the DS in test. with one for another key, signed properly.
    let other = Hierarchy::rooted(vec![
        mail_zone("example.test").keys([KeySpec::csk(KeyAlg::EcdsaP256).seeded(99)]),
    ]);
    let wrong_ds = other.zone("example.test").ds(0);
    {
        let parent = h.zone_mut("test");
        parent.remove_rrset("example.test", RecordType::DS);
        parent.add_records(&format!(
            "example.test. 3600 IN DS {} 13 2 {}",
            wrong_ds.key_tag(),
            data_encoding::HEXUPPER.encode(wrong_ds.digest())
        ));
        parent.sign_rrset("example.test", RecordType::DS);
    }
    let server = AuthServer::start(h, vec![]);
    let r = run(&server, "dsmismatch", &["mail.example.test", "--type", "A"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.reason("mail.example.test.", "A"),
        format!(
            "no DNSKEY of example.test. matches its DS (key tags {})",
            wrong_ds.key_tag()
        )
    );
    let chain = r.rrset("mail.example.test.", "A")["chain"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(chain.last().unwrap()["status"], "bogus");
    assert_eq!(chain.last().unwrap()["ds"][0]["matches_dnskey"], false);
    assert_eq!(chain[1]["status"], "secure");
}

#[test]
fn missing_dnskey_rrset_is_bogus_rfc4035_section_5_2() {
    let mut h = Hierarchy::rooted(vec![mail_zone("example.test")]);
    h.zone_mut("example.test")
        .remove_rrset("example.test", RecordType::DNSKEY);
    let server = AuthServer::start(h, vec![]);
    let r = run(&server, "nokey", &["mail.example.test", "--type", "A"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.reason("mail.example.test.", "A"),
        "example.test. has a DS in its parent but no DNSKEY RRset"
    );
}

#[test]
fn missing_denial_is_bogus_rfc4035_section_5_4() {
    let mut h = Hierarchy::rooted(vec![mail_zone("example.test")]);
    h.zone_mut("example.test")
        .remove_denial("_25._tcp.nohost.example.test", RecordType::TLSA);
    let server = AuthServer::start(h, vec![]);
    let r = run(
        &server,
        "nodenial",
        &["_25._tcp.nohost.example.test", "--type", "TLSA"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.verdict("_25._tcp.nohost.example.test.", "TLSA"), "bogus");
}

#[test]
fn wildcard_answer_with_proof_is_secure_rfc4035_section_5_3_4() {
    let server = serve(vec![
        ZoneSpec::new("example.test").record("*._tcp.mail TLSA 3 1 1 abcdef\nmail A 127.0.0.1"),
    ]);
    let r = run(
        &server,
        "wild",
        &["_25._tcp.mail.example.test", "--type", "TLSA"],
    );
    let rr = r.rrset("_25._tcp.mail.example.test.", "TLSA");
    assert_eq!(r.code, 0, "{rr:#}");
    assert_eq!(rr["verdict"], "secure", "{rr:#}");
    assert_eq!(rr["records"][0], "3 1 1 abcdef");
    assert!(!rr["denial"].as_array().unwrap().is_empty(), "{rr:#}");
    let finding = &r.doc["findings"][0];
    assert_eq!(finding["code"], "cross-check-disagrees");
    assert_eq!(finding["subject"], "_25._tcp.mail.example.test. TLSA");
    assert_eq!(
        finding["message"],
        "danekit says secure, hickory-resolver says bogus (DNSSEC validation failed)"
    );
}

#[test]
fn wildcard_answer_without_proof_is_bogus_rfc4035_section_5_3_4() {
    let mut h = Hierarchy::rooted(vec![
        ZoneSpec::new("example.test").record("*._tcp.mail TLSA 3 1 1 abcdef\nmail A 127.0.0.1"),
    ]);
    h.zone_mut("example.test")
        .remove_denial("_25._tcp.mail.example.test", RecordType::TLSA);
    let server = AuthServer::start(h, vec![]);
    let r = run(
        &server,
        "wildbad",
        &["_25._tcp.mail.example.test", "--type", "TLSA"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.verdict("_25._tcp.mail.example.test.", "TLSA"), "bogus");
}

#[test]
fn cname_into_a_bogus_zone_is_bogus_at_its_hop_rfc4035_section_5_3() {
    let mut h = Hierarchy::rooted(vec![
        ZoneSpec::new("example.test").record("@ MX 10 mail\nmail CNAME mx.provider.test."),
        ZoneSpec::new("provider.test")
            .record("mx A 127.0.0.1\n_25._tcp.mx TLSA 3 1 1 00aa\n_25._tcp.mail.example.test. TLSA 3 1 1 00bb"),
    ]);
    h.zone_mut("provider.test")
        .tamper("mx.provider.test", RecordType::A);
    let server = AuthServer::start(h, vec![]);
    let r = run(&server, "cname", &["mail.example.test", "--type", "A"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.summary(),
        vec![
            row("mail.example.test.", "CNAME", "secure"),
            row("mx.provider.test.", "A", "bogus"),
        ]
    );
    assert_eq!(
        r.rrset("mail.example.test.", "CNAME")["cname_target"],
        "mx.provider.test."
    );
    assert_eq!(r.doc["verdict"], "bogus");
}

#[test]
fn cname_mx_host_tlsa_at_the_target_first_rfc7672_section_2_2_2() {
    let server = serve(vec![
        ZoneSpec::new("example.test").record("@ MX 10 mail\nmail CNAME mx.provider.test."),
        ZoneSpec::new("provider.test").record("mx A 127.0.0.1\n_25._tcp.mx TLSA 3 1 1 00aa"),
    ]);
    let r = run(&server, "cnamemx", &["example.test"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = r.summary();
    assert_eq!(rows[0], row("example.test.", "MX", "secure"));
    assert!(rows.contains(&row("_25._tcp.mx.provider.test.", "TLSA", "secure")));
    let target = rows
        .iter()
        .position(|x| x.0 == "_25._tcp.mx.provider.test.")
        .unwrap();
    let original = rows
        .iter()
        .position(|x| x.0 == "_25._tcp.mail.example.test.")
        .unwrap();
    assert!(target < original, "{rows:?}");
    assert_eq!(
        r.rrset("_25._tcp.mail.example.test.", "TLSA")["answer"],
        "nxdomain"
    );
}

#[test]
fn colliding_key_tags_are_each_tried_rfc4035_section_5_3_1() {
    let server = serve(vec![
        mail_zone("example.test").keys(KeySpec::colliding_pair(KeyAlg::EcdsaP256)),
    ]);
    let keys = server.hierarchy().zone("example.test").keys().len();
    assert_eq!(keys, 2);
    let r = run(&server, "collide", &["mail.example.test", "--type", "A"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.verdict("mail.example.test.", "A"), "secure");
}

#[test]
fn unsupported_algorithm_is_insecure_rfc6840_section_5_2() {
    let server = serve(vec![mail_zone("example.test").alg(KeyAlg::Unsupported(16))]);
    let r = run(&server, "ed448", &["mail.example.test", "--type", "A"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.verdict("mail.example.test.", "A"), "insecure");
    assert_eq!(
        r.reason("mail.example.test.", "A"),
        "the DS of example.test. uses only algorithms or digest types danekit does not check \
         (algorithm 16 digest 2)"
    );
}

#[test]
fn every_supported_algorithm_validates_rfc8624_section_3_1() {
    for alg in KeyAlg::ALL {
        let server = serve(vec![mail_zone("example.test").split(alg)]);
        let r = run(&server, "algs", &["example.test"]);
        assert_eq!(r.code, 0, "{alg:?}: {}", r.stderr);
        assert_eq!(r.doc["verdict"], "secure", "{alg:?}: {:#}", r.doc);
    }
}

#[test]
fn revoked_key_cannot_sign_rfc5011_section_2_1() {
    let server = serve(vec![
        mail_zone("example.test").keys([KeySpec::csk(KeyAlg::EcdsaP256).revoked()]),
    ]);
    let r = run(&server, "revoked", &["mail.example.test", "--type", "A"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.verdict("mail.example.test.", "A"), "bogus");
}

#[test]
fn nsec3_iterations_above_the_limit_are_insecure_rfc9276_section_3_2() {
    let server = serve(vec![mail_zone("example.test").nsec3(
        150,
        b"\xab\xcd",
        false,
    )]);
    let r = run(&server, "iter", &["nohost.example.test", "--type", "A"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.verdict("nohost.example.test.", "A"), "insecure");
    assert_eq!(
        r.reason("nohost.example.test.", "A"),
        "NSEC3 with 150 iterations, above the limit of 100 (RFC 9276 §3.2): treated as insecure"
    );
}

#[test]
fn servfail_is_indeterminate_not_bogus() {
    let server = AuthServer::start(
        Hierarchy::rooted(vec![mail_zone("example.test")]),
        vec![Behaviour::ServFail(name("mail.example.test"))],
    );
    let r = run(&server, "servfail", &["mail.example.test", "--type", "A"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.doc["verdict"], "indeterminate");
    assert!(
        r.reason("mail.example.test.", "A").contains("SERVFAIL"),
        "{}",
        r.reason("mail.example.test.", "A")
    );
}

#[test]
fn timeout_is_indeterminate_not_bogus() {
    let server = AuthServer::start(
        Hierarchy::rooted(vec![mail_zone("example.test")]),
        vec![Behaviour::Drop(name("example.test"))],
    );
    let r = run(&server, "timeout", &["mail.example.test", "--type", "A"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.doc["verdict"], "indeterminate");
}

#[test]
fn truncated_udp_answers_are_retried_over_tcp_rfc7766_section_5() {
    let server = AuthServer::start(
        Hierarchy::rooted(vec![mail_zone("example.test").split(KeyAlg::RsaSha256)]),
        vec![Behaviour::TruncateUdp],
    );
    let r = run(&server, "tc", &["example.test"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.doc["verdict"], "secure");
    assert!(server.queries().iter().any(|q| q.2), "no TCP question");
}

#[test]
fn island_of_trust_anchors_its_own_name_rfc4033_section_3() {
    let server = serve(vec![mail_zone("example.test")]);
    let h = server.hierarchy();
    let zone = h.zone("example.test");
    let ds = zone.ds(0);
    let anchor = vec![format!(
        "example.test. 3600 IN DS {} 13 2 {}",
        ds.key_tag(),
        data_encoding::HEXUPPER.encode(ds.digest())
    )];
    let r = run_with_anchor(&server, "island", &anchor, &["example.test"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.doc["verdict"], "secure");
    let chain = r.rrset("example.test.", "MX")["chain"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0]["zone"], "example.test.");
    assert_eq!(chain[0]["via"], "trust anchor");
    // A name under no anchor is insecure.
    let r = run_with_anchor(&server, "island2", &anchor, &["test", "--type", "SOA"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.verdict("test.", "SOA"), "insecure");
    assert_eq!(r.reason("test.", "SOA"), "no trust anchor above test.");
}

#[test]
fn dnskey_anchor_is_accepted() {
    let server = serve(vec![mail_zone("example.test")]);
    let anchors = server.hierarchy().trust_anchor_dnskey();
    let r = run_with_anchor(&server, "dnskey", &anchors, &["example.test"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.doc["verdict"], "secure");
}

#[test]
fn warn_expiry_lists_signatures_that_expire_soon() {
    let t = now();
    let mut h = Hierarchy::rooted(vec![mail_zone("example.test")]);
    h.zone_mut("example.test").set_window(
        "_25._tcp.mail.example.test",
        RecordType::TLSA,
        t - DAY,
        t + 3 * DAY,
    );
    let server = AuthServer::start(h, vec![]);
    let r = run(&server, "expiry", &["example.test", "--warn-expiry", "7d"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let findings = r.doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0]["code"], "signature-expires-soon");
    assert_eq!(findings[0]["severity"], "warning");
    assert_eq!(findings[0]["subject"], "_25._tcp.mail.example.test. TLSA");
    let r = run(&server, "expiry2", &["example.test", "--warn-expiry", "1d"]);
    assert!(r.doc["findings"].as_array().unwrap().is_empty());
}

#[test]
fn null_mx_has_no_hosts_rfc7505_section_3() {
    let server = serve(vec![ZoneSpec::new("example.test").record("@ MX 0 .")]);
    let r = run(&server, "nullmx", &["example.test"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary(), vec![row("example.test.", "MX", "secure")]);
}

#[test]
fn no_mx_means_the_domain_is_its_own_host_rfc5321_section_5_1() {
    let server = serve(vec![
        ZoneSpec::new("example.test").record("@ A 127.0.0.1\n_25._tcp TLSA 3 1 1 00"),
    ]);
    let r = run(&server, "implicit", &["example.test"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary(),
        vec![
            row("example.test.", "MX", "secure"),
            row("example.test.", "A", "secure"),
            row("example.test.", "AAAA", "secure"),
            row("_25._tcp.example.test.", "TLSA", "secure"),
        ]
    );
    assert_eq!(r.rrset("example.test.", "MX")["answer"], "nodata");
}

#[test]
fn bad_trust_anchor_file_is_exit_2() {
    let server = serve(vec![mail_zone("example.test")]);
    let r = run_with_anchor(
        &server,
        "badanchor",
        &["example.test. IN DS 1 2".into()],
        &["example.test"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.doc["verdict"], "error");
    assert_eq!(r.doc["error"]["kind"], "input");
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    assert!(r.stderr.contains("anchor.zone:1:"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1);
}

#[test]
fn port_option_names_the_tlsa_owner() {
    let server = serve(vec![
        mail_zone("example.test").record("_465._tcp.mail TLSA 3 1 1 0465"),
    ]);
    let r = run(&server, "port", &["example.test", "--port", "465"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.verdict("_465._tcp.mail.example.test.", "TLSA"), "secure");
    assert_eq!(
        r.rrset("_465._tcp.mail.example.test.", "TLSA")["records"][0],
        "3 1 1 0465"
    );
}

#[test]
fn verdict_words_are_the_contracts() {
    for (w, s) in [
        (StatusWord::Secure, "secure"),
        (StatusWord::Insecure, "insecure"),
        (StatusWord::Bogus, "bogus"),
        (StatusWord::Indeterminate, "indeterminate"),
    ] {
        assert_eq!(w.as_str(), s);
        assert_eq!(serde_json::to_value(w).unwrap(), s);
    }
}

#[test]
fn work_limits_make_the_answer_bogus_and_name_the_limit_cve_2023_50387() {
    use danekit::dns::client::Client;
    use danekit::dnssec::{Limits, TrustAnchors, Validator};
    use danekit::report::Timestamp;
    let server = serve(vec![mail_zone("example.test")]);
    let anchors =
        TrustAnchors::parse("anchor", &server.hierarchy().trust_anchor_ds().join("\n")).unwrap();
    let env = LoopbackEnv::new();
    let client = Client::new(
        &env.net,
        vec![server.addr],
        std::time::Duration::from_secs(2),
    );
    let limits = Limits {
        verifications: 3,
        ..Limits::default()
    };
    let validator = Validator::new(&client, &anchors, Timestamp(i64::from(now())), limits);
    let reports = validator.validate(&name("mail.example.test"), RecordType::A);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].verdict, StatusWord::Bogus);
    let reason = reports[0].reason.clone().unwrap();
    assert!(
        reason.contains("work limit: more than 3 signature checks in one run"),
        "{reason}"
    );
    assert_eq!(validator.checks(), 3);
}

#[test]
fn cross_check_is_skipped_when_now_is_not_the_clock() {
    let server = serve(vec![mail_zone("example.test")]);
    let r = run(
        &server,
        "crossnow",
        &[
            "mail.example.test",
            "--type",
            "A",
            "--now",
            "2030-01-01T00:00:00Z",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.verdict("mail.example.test.", "A"), "secure");
    assert!(r.doc.get("cross_check").is_none());
    assert_eq!(r.doc["findings"][0]["code"], "cross-check-skipped");
}

/// `zone --diff-live` validates what it compares: the same records, secure, exit 0; a forged
/// TLSA RRset, bogus, exit 1 with the reason, even though its data equals the plan.
#[test]
fn zone_diff_live_is_dnssec_validated() {
    const P256_311: &str = "3 1 1 fc32c9e85ed03d2bd60072d1b0014bcc4ed83e8c4050211ca8d1e0906c888e0c";
    let spec = || {
        ZoneSpec::new("example.test")
            .record(&format!("mail A 127.0.0.1\n_25._tcp.mail TLSA {P256_311}"))
    };
    let dir = tempdir("difflive");
    let pki = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki");
    let services = dir.join("services.yaml");
    std::fs::write(
        &services,
        format!(
            "zone: example.test.\nrecords: [\"3 1 1\"]\nservices:\n  - host: mail\n    ports: [25]\n    cert: {}\n",
            pki.join("leaf-p256.chain.pem").display()
        ),
    )
    .unwrap();
    let diff_live = |server: &AuthServer| {
        let anchor = anchor_file(&dir, &server.hierarchy().trust_anchor_ds());
        let mut env = LoopbackEnv::new();
        env.now = i64::from(now());
        let resolver = server.addr.to_string();
        let code = danekit::cli::run(
            [
                "danekit",
                "zone",
                services.to_str().unwrap(),
                "--diff-live",
                "--resolver",
                &resolver,
                "--trust-anchor",
                anchor.to_str().unwrap(),
                "-o",
                "json",
            ],
            &mut env,
        );
        let doc: Value = serde_json::from_slice(&env.stdout).unwrap();
        (code, doc)
    };

    let server = serve(vec![spec()]);
    let (code, doc) = diff_live(&server);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["verdict"], "ok");
    assert_eq!(doc["findings"].as_array().map(Vec::len), Some(0), "{doc:#}");

    let mut h = Hierarchy::rooted(vec![spec()]);
    h.zone_mut("example.test")
        .tamper_rrsigs("_25._tcp.mail.example.test", RecordType::TLSA);
    let server = AuthServer::start(h, vec![]);
    let (code, doc) = diff_live(&server);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(doc["verdict"], "ok", "the data itself does not differ");
    assert_eq!(doc["findings"][0]["code"], "tlsa-dnssec-bogus");
    assert_eq!(doc["findings"][0]["severity"], "error");
    assert_eq!(
        doc["findings"][0]["subject"],
        "_25._tcp.mail.example.test. TLSA"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dnskey_rrset_signed_only_by_a_key_no_ds_names_is_bogus_rfc4035_section_5_2() {
    let mut h = Hierarchy::rooted(vec![mail_zone("example.test").split(KeyAlg::EcdsaP256)]);
    h.zone_mut("example.test")
        .resign_by("example.test", RecordType::DNSKEY, 1);
    let server = AuthServer::start(h, vec![]);
    let zsk = server.hierarchy().zone("example.test").key_tag(1);
    let r = run(&server, "zskonly", &["mail.example.test", "--type", "A"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.verdict("mail.example.test.", "A"), "bogus");
    let chain = r.rrset("mail.example.test.", "A")["chain"]
        .as_array()
        .unwrap()
        .clone();
    let link = chain.last().unwrap();
    assert_eq!(link["zone"], "example.test.");
    let dnskey_sig = link["rrsig"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["covers"] == "DNSKEY")
        .unwrap()
        .clone();
    assert_eq!(dnskey_sig["key_tag"], zsk);
    assert_eq!(
        dnskey_sig["status"],
        format!("key {zsk} is published, but no DS or trust anchor names it")
    );
    assert!(
        r.reason("mail.example.test.", "A").starts_with(
            "the DNSKEY RRset of example.test. is not signed by a key the DS or anchor names"
        ),
        "{}",
        r.reason("mail.example.test.", "A")
    );
}

#[test]
fn a_dnskey_anchor_without_the_sep_bit_is_an_anchor_rfc4035_section_5() {
    use hickory_proto::dnssec::rdata::DNSSECRData;
    use hickory_proto::rr::{RData, Record};
    use support::dns_auth::FLAG_ZONE;
    // One key that signs everything, published with flags 256 (no SEP bit).
    let csk = KeySpec {
        flags: FLAG_ZONE,
        ..KeySpec::csk(KeyAlg::EcdsaP256)
    };
    let server = serve(vec![
        mail_zone("example.test").keys([csk, KeySpec::zsk(KeyAlg::EcdsaP256)]),
    ]);
    let zone = server.hierarchy().zone("example.test");
    let line = |i: usize| {
        Record::from_rdata(
            name("example.test"),
            3600,
            RData::DNSSEC(DNSSECRData::DNSKEY(zone.keys()[i].dnskey.clone())),
        )
        .to_string()
    };
    assert_eq!(zone.keys()[0].dnskey.flags(), 256);
    // Without the cross-check: hickory-resolver cannot start from this island (it answers
    // indeterminate).
    let r = run_opts(
        &server,
        "nosep",
        &[line(0)],
        &["mail.example.test", "--type", "A"],
        false,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.verdict("mail.example.test.", "A"), "secure");
    // A key that does not sign the DNSKEY RRset cannot anchor it, as Unbound and BIND hold.
    let r = run_opts(
        &server,
        "zskanchor",
        &[line(1)],
        &["mail.example.test", "--type", "A"],
        false,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.reason("mail.example.test.", "A").starts_with(
            "the DNSKEY RRset of example.test. is not signed by a key the DS or anchor names"
        ),
        "{}",
        r.reason("mail.example.test.", "A")
    );
}

/// Answers from the server, but for a few questions a crafted message.
struct Patched<'a> {
    inner: danekit::dns::client::Client<'a>,
    over: std::collections::HashMap<
        (hickory_proto::rr::Name, RecordType),
        std::rc::Rc<hickory_proto::op::Message>,
    >,
}

impl danekit::dns::client::Source for Patched<'_> {
    fn fetch(
        &self,
        name: &hickory_proto::rr::Name,
        rtype: RecordType,
    ) -> Result<std::rc::Rc<hickory_proto::op::Message>, danekit::dns::client::NoAnswer> {
        match self.over.get(&(name.clone(), rtype)) {
            Some(m) => Ok(m.clone()),
            None => self.inner.fetch(name, rtype),
        }
    }
}

/// A DNAME answer as a resolver gives it (RFC 6672 §5.3.3): the signed DNAME, the unsigned
/// CNAME synthesized from it. The DNAME is validated and the CNAME checked against it; a
/// CNAME that does not follow from the DNAME is bogus.
#[test]
fn dname_with_its_synthesized_cname_rfc6672_section_5_3_3() {
    use danekit::dnssec::{Limits, TrustAnchors, Validator};
    use danekit::report::Timestamp;
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::{CNAME, NULL};
    use hickory_proto::rr::{RData, Record};
    use hickory_proto::serialize::binary::BinEncodable;

    let mut h = Hierarchy::rooted(vec![
        ZoneSpec::new("example.test").record("mail.new A 127.0.0.1\nmail.evil A 127.0.0.2"),
    ]);
    let target = name("new.example.test");
    let dname = Record::from_rdata(
        name("old.example.test"),
        3600,
        RData::Unknown {
            code: RecordType::DNAME,
            rdata: NULL::with(target.to_bytes().unwrap()),
        },
    );
    let zone = h.zone_mut("example.test");
    zone.add_record(dname.clone());
    zone.sign_rrset("old.example.test", RecordType::DNAME);
    let dname_sigs = zone.rrsigs("old.example.test", RecordType::DNAME).to_vec();
    assert!(!dname_sigs.is_empty());
    let server = AuthServer::start(h, vec![]);
    let anchors =
        TrustAnchors::parse("anchor", &server.hierarchy().trust_anchor_ds().join("\n")).unwrap();
    let env = LoopbackEnv::new();
    let qname = name("mail.old.example.test");
    let answer = |cname_target: &str| {
        let mut m = Message::new(1, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(qname.clone(), RecordType::A));
        m.add_answer(dname.clone());
        for s in &dname_sigs {
            m.add_answer(s.clone());
        }
        m.add_answer(Record::from_rdata(
            qname.clone(),
            3600,
            RData::CNAME(CNAME(name(cname_target))),
        ));
        std::rc::Rc::new(m)
    };
    let validate = |cname_target: &str| {
        let source = Patched {
            inner: danekit::dns::client::Client::new(
                &env.net,
                vec![server.addr],
                std::time::Duration::from_secs(2),
            ),
            over: [((qname.clone(), RecordType::A), answer(cname_target))].into(),
        };
        let validator = Validator::new(
            &source,
            &anchors,
            Timestamp(i64::from(now())),
            Limits::default(),
        );
        validator
            .validate(&qname, RecordType::A)
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    r.rtype.clone(),
                    r.verdict.as_str().to_owned(),
                    r.cname_target.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        validate("mail.new.example.test"),
        vec![
            (
                "old.example.test.".to_owned(),
                "DNAME".to_owned(),
                "secure".to_owned(),
                Some("mail.new.example.test.".to_owned())
            ),
            (
                "mail.new.example.test.".to_owned(),
                "A".to_owned(),
                "secure".to_owned(),
                None
            ),
        ]
    );
    let forged = validate("mail.evil.example.test");
    assert_eq!(forged[0].1, "DNAME");
    assert_eq!(forged[0].2, "bogus");
}

#[test]
fn bad_arguments_are_exit_2_with_one_line() {
    for (args, want) in [
        (
            vec!["example.test", "-o", "yaml"],
            "error: -o yaml: dnssec writes text, json or openmetrics\n",
        ),
        (
            vec!["example.test", "--type", "ANY"],
            "error: invalid value 'ANY' for '--type <TYPE>': ANY is not an RRset that can be validated (see --help)\n",
        ),
        (
            vec!["example.test", "--warn-expiry", "0d"],
            "error: invalid value '0d' for '--warn-expiry <DURATION>': must be more than zero (see --help)\n",
        ),
        (
            vec!["example.test", "--resolver", "resolver.example"],
            "error: --resolver resolver.example:53: give the resolver's address, not a name\n",
        ),
    ] {
        let mut env = LoopbackEnv::new();
        let mut argv = vec!["danekit", "dnssec"];
        argv.extend(args.iter().copied());
        let code = danekit::cli::run(argv, &mut env);
        assert_eq!(code, 2, "{args:?}");
        assert_eq!(String::from_utf8(env.stderr).unwrap(), want, "{args:?}");
        assert!(env.stdout.is_empty(), "{args:?}");
    }
}
