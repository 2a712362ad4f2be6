//! `danekit survey` in one process, against the signed zones and mail servers of the `verify`
//! tests: one domain per outcome, the JSON lines read back, `--resume`, `--shard` (disjoint,
//! covering, merging to the single run's summary), `--from-log`, standard input and bad lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use danekit::survey::Summary;
use danekit::verify::VerifyDocument;
use hickory_proto::rr::RecordType;
use support::dns_auth::{AuthServer, Hierarchy, ZoneSpec, now};
use support::mail_servers::{Behaviour, LoopbackEnv};
use support::sites::{Servers, WRONG, ee, leaf, root, served, spec, start};

static NEXT: AtomicU32 = AtomicU32::new(0);

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "danekit-survey-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The domains of the site and the verdict each must get.
const EXPECTED: &[(&str, &str)] = &[
    ("good.example.test.", "pass"),
    ("wrong.example.test.", "fail"),
    ("plain.example.test.", "pass"),
    ("bogus.example.test.", "fail"),
    ("down.example.test.", "indeterminate"),
    ("null.example.test.", "pass"),
    ("gone.example.test.", "fail"),
];

struct Site {
    servers: Servers,
    dns: AuthServer,
    dir: PathBuf,
    anchor: PathBuf,
}

/// good: authenticated; wrong: mismatch; plain: no TLSA (no-dane); bogus: a tampered TLSA;
/// down: nothing listens at its address; null: a null MX; gone: does not exist.
fn site() -> Site {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let servers = start(vec![spec(
        1,
        Behaviour::SmtpStarttls,
        vec![served(vec![l.clone()], k)],
    )]);
    let p = servers.port;
    let ip = servers.ip(1);
    let down = servers.ip(9);
    let lines = format!(
        "mx A {ip}\nmx2 A {ip}\nmx3 A {ip}\nmx4 A {ip}\nmx5 A {down}\n\
         good MX 10 mx\nwrong MX 10 mx2\nplain MX 10 mx3\nbogus MX 10 mx4\ndown MX 10 mx5\n\
         null MX 0 .\n\
         _{p}._tcp.mx TLSA {}\n_{p}._tcp.mx2 TLSA {WRONG}\n_{p}._tcp.mx4 TLSA {}\n_{p}._tcp.mx5 TLSA {}\n",
        ee(&l),
        ee(&l),
        ee(&l)
    );
    let mut h = Hierarchy::rooted(vec![ZoneSpec::new("example.test").record(&lines)]);
    h.zone_mut("example.test")
        .tamper(&format!("_{p}._tcp.mx4.example.test"), RecordType::TLSA);
    let dns = AuthServer::start(h, vec![]);
    let dir = tempdir();
    let anchor = dir.join("anchor.zone");
    std::fs::write(&anchor, dns.hierarchy().trust_anchor_ds().join("\n")).unwrap();
    Site {
        servers,
        dns,
        dir,
        anchor,
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Run {
    code: u8,
    stdout: String,
    stderr: String,
}

fn survey(site: &Site, args: &[&str], stdin: &str) -> Run {
    let mut env = LoopbackEnv::new();
    env.now = i64::from(now());
    env.stdin = stdin.as_bytes().to_vec();
    let resolver = site.dns.addr.to_string();
    let port = site.servers.port.to_string();
    let mut argv = vec![
        "danekit",
        "survey",
        "--resolver",
        &resolver,
        "--trust-anchor",
        site.anchor.to_str().unwrap(),
        "--timeout",
        "1s",
        "--port",
        &port,
        "--jobs",
        "3",
        "--starttls",
        "smtp",
    ];
    argv.extend_from_slice(args);
    let code = danekit::cli::run(argv, &mut env);
    assert!(env.resolves().is_empty());
    Run {
        code,
        stdout: String::from_utf8(env.stdout).unwrap(),
        stderr: String::from_utf8(env.stderr).unwrap(),
    }
}

fn list(site: &Site, domains: &[&str]) -> PathBuf {
    let path = site
        .dir
        .join(format!("list-{}.txt", NEXT.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&path, domains.join("\n")).unwrap();
    path
}

fn all_domains() -> Vec<&'static str> {
    let mut v = vec!["# the test domains", ""];
    v.extend(EXPECTED.iter().map(|(d, _)| d.trim_end_matches('.')));
    v
}

/// Each line read back as a verify document, by domain.
fn docs(text: &str) -> BTreeMap<String, VerifyDocument> {
    text.lines()
        .map(|l| {
            let d: VerifyDocument = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            (d.domain.clone(), d)
        })
        .collect()
}

fn verdicts(docs: &BTreeMap<String, VerifyDocument>) -> BTreeMap<String, String> {
    docs.iter()
        .map(|(k, d)| (k.clone(), d.verdict.as_str().to_owned()))
        .collect()
}

fn expected() -> BTreeMap<String, String> {
    EXPECTED
        .iter()
        .map(|(d, v)| (d.to_string(), v.to_string()))
        .collect()
}

#[test]
fn one_line_per_domain_with_every_outcome_and_the_summary() {
    let site = site();
    let file = list(&site, &all_domains());
    let r = survey(&site, &[file.to_str().unwrap()], "");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let got = docs(&r.stdout);
    assert_eq!(verdicts(&got), expected());
    let outcome = |d: &str| got[d].mx[0].addresses[0].outcome.word();
    assert_eq!(outcome("good.example.test."), "authenticated");
    assert_eq!(outcome("wrong.example.test."), "mismatch");
    assert_eq!(outcome("plain.example.test."), "no-dane");
    assert_eq!(outcome("bogus.example.test."), "dns-failure");
    assert_eq!(outcome("down.example.test."), "unreachable");
    assert!(got["null.example.test."].mx.is_empty());
    // The summary table on stderr.
    assert!(
        r.stderr
            .contains("domains                               7\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("  fail                                3   42.9 %\n"),
        "{}",
        r.stderr
    );

    // The same as a summary document.
    let s = survey(
        &site,
        &[file.to_str().unwrap(), "--summary-only", "-o", "json"],
        "",
    );
    assert_eq!(s.code, 1);
    let summary: Summary = serde_json::from_str(&s.stdout).unwrap();
    assert_eq!(summary.domains, 7);
    assert_eq!(summary.outcomes["pass"], 3);
    assert_eq!(summary.outcomes["fail"], 3);
    assert_eq!(summary.outcomes["indeterminate"], 1);
    assert_eq!(summary.dnssec_signed_mx, 7);
    assert_eq!(summary.with_tlsa, 3);
    assert_eq!(summary.tlsa_correct_at_every_mx, 1);
    assert_eq!(summary.starttls_offered, 3);
    assert_eq!(summary.failures["mismatch"], 1);
    assert_eq!(summary.failures["dns-failure"], 1);
    assert_eq!(summary.failures["mx-lookup"], 1);
    assert_eq!(summary.failures["unreachable"], 1);
    assert_eq!(summary.key_types["ECDSA P-256"], 3);
    let mut expected = Summary::default();
    for d in got.values() {
        expected.add(d);
    }
    assert_eq!(summary, expected);
}

#[test]
fn resume_skips_what_is_done_and_appends_the_rest() {
    let site = site();
    let file = list(&site, &all_domains());
    let out = site.dir.join("out.jsonl");
    let first = survey(&site, &[file.to_str().unwrap()], "");
    let lines: Vec<&str> = first.stdout.lines().collect();
    // Two domains done, and a line that is not a document.
    std::fs::write(&out, format!("{}\n{}\nnot json\n", lines[0], lines[1])).unwrap();
    let before = site.servers.servers[0].accepted();
    let r = survey(
        &site,
        &[file.to_str().unwrap(), "--resume", out.to_str().unwrap()],
        "",
    );
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr
            .contains("warning: 1 lines of the resume file are not verify documents")
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let got: Vec<VerifyDocument> = text
        .lines()
        .filter(|l| *l != "not json")
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 7);
    let by_domain: BTreeMap<String, VerifyDocument> =
        got.into_iter().map(|d| (d.domain.clone(), d)).collect();
    assert_eq!(verdicts(&by_domain), expected());
    // The summary counts the earlier lines too.
    assert!(
        r.stderr
            .contains("domains                               7\n"),
        "{}",
        r.stderr
    );
    assert!(site.servers.servers[0].accepted() > before);
}

#[test]
fn shards_are_disjoint_cover_the_list_and_merge_to_the_single_run() {
    let site = site();
    let file = list(&site, &all_domains());
    let whole = survey(
        &site,
        &[file.to_str().unwrap(), "--summary-only", "-o", "json"],
        "",
    );
    let whole: Summary = serde_json::from_str(&whole.stdout).unwrap();
    let mut merged = Summary::default();
    let mut seen: Vec<String> = Vec::new();
    for k in 0..3 {
        let shard = format!("{k}/3");
        let r = survey(&site, &[file.to_str().unwrap(), "--shard", &shard], "");
        let got = docs(&r.stdout);
        for (d, doc) in &got {
            assert!(!seen.contains(d), "{d} in two shards");
            seen.push(d.clone());
            let mut one = Summary::default();
            one.add(doc);
            merged.merge(&one);
        }
    }
    seen.sort();
    let mut all: Vec<String> = EXPECTED.iter().map(|(d, _)| d.to_string()).collect();
    all.sort();
    assert_eq!(seen, all);
    assert_eq!(merged, whole);
}

#[test]
fn domains_from_a_postfix_log_and_from_standard_input() {
    let site = site();
    let log = site.dir.join("mail.log");
    std::fs::write(
        &log,
        "Dec  2 05:00:01 mx postfix/smtp[1]: A1: to=<a@Good.Example.Test>, relay=mx.example.test[127.0.0.1]:25, status=sent (250 ok)\n\
         Dec  2 05:00:02 mx postfix/smtp[1]: A2: to=<b@good.example.test>, relay=mx.example.test[127.0.0.1]:25, status=sent (250 ok)\n\
         Dec  2 05:00:03 mx postfix/local[2]: A3: to=<root@wrong.example.test>, status=sent\n\
         Dec  2 05:00:04 mx postfix/smtp[1]: A4: to=<c@null.example.test>, relay=none, status=bounced\n",
    )
    .unwrap();
    let r = survey(&site, &["--from-log", log.to_str().unwrap()], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = docs(&r.stdout);
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        vec!["good.example.test.", "null.example.test."]
    );
    let r = survey(&site, &["-"], "good.example.test\nnot a domain!\n\n");
    assert_eq!(r.code, 0);
    assert_eq!(docs(&r.stdout).len(), 1);
    assert!(r.stderr.starts_with("warning: line 2: "), "{}", r.stderr);
}

#[test]
fn usage_errors() {
    let site = site();
    for args in [
        vec!["--shard", "3/3"],
        vec!["--shard", "x"],
        vec!["--jobs", "0"],
        vec!["a.txt", "--from-log", "b.log"],
    ] {
        let r = survey(&site, &args, "");
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    }
}
