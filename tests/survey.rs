//! `danekit survey` in one process, against the signed zones and mail servers of the `verify`
//! tests: one domain per outcome, the JSON lines read back, `--resume`, `--shard` (disjoint,
//! covering, merging to the single run's summary), `--from-log`, standard input and bad lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use danekit::survey::Summary;
use danekit::verify::VerifyDocument;
use support::survey_site::{EXPECTED, all_domains, list, site, survey};

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
    assert_eq!(outcome("pkix.example.test."), "tls-required");
    assert_eq!(outcome("nostls.example.test."), "starttls-missing");
    assert!(got["null.example.test."].mx.is_empty());
    // The summary table on stderr.
    assert!(
        r.stderr
            .contains("domains                               9\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("  fail                                4   44.4 %\n"),
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
    assert_eq!(summary.domains, 9);
    assert_eq!(summary.outcomes["pass"], 4);
    assert_eq!(summary.outcomes["fail"], 4);
    assert_eq!(summary.outcomes["indeterminate"], 1);
    assert_eq!(summary.dnssec_signed_mx, 9);
    assert_eq!(summary.with_tlsa, 5);
    assert_eq!(summary.tlsa_correct_at_every_mx, 1);
    assert_eq!(summary.starttls_offered, 4);
    assert_eq!(summary.failures["mismatch"], 1);
    assert_eq!(summary.failures["dns-failure"], 1);
    assert_eq!(summary.failures["mx-lookup"], 1);
    assert_eq!(summary.failures["unreachable"], 1);
    assert_eq!(summary.failures["starttls-missing"], 1);
    assert_eq!(summary.address_outcomes["tls-required"], 1);
    assert_eq!(summary.key_types["ECDSA P-256"], 4);
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
    assert_eq!(got.len(), 9);
    let by_domain: BTreeMap<String, VerifyDocument> =
        got.into_iter().map(|d| (d.domain.clone(), d)).collect();
    assert_eq!(verdicts(&by_domain), expected());
    // The summary counts the earlier lines too.
    assert!(
        r.stderr
            .contains("domains                               9\n"),
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
        "Dec  2 05:00:01 mx postfix/smtp[1]: 4XyZ1A: to=<a@Good.Example.Test>, relay=mx.example.test[127.0.0.1]:25, status=sent (250 ok)\n\
         Dec  2 05:00:02 mx postfix/smtp[1]: 4XyZ2A: to=<b@good.example.test>, relay=mx.example.test[127.0.0.1]:25, status=sent (250 ok)\n\
         Dec  2 05:00:03 mx postfix/local[2]: 4XyZ3A: to=<root@wrong.example.test>, status=sent\n\
         Dec  2 05:00:04 mx postfix/smtp[1]: 4XyZ4A: to=<c@null.example.test>, relay=none, status=bounced\n",
    )
    .unwrap();
    let r = survey(&site, &["--from-log", log.to_str().unwrap()], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let got = docs(&r.stdout);
    assert_eq!(
        got.keys().cloned().collect::<Vec<_>>(),
        vec!["good.example.test.", "null.example.test."]
    );
    // The same log gzipped is read the same way; a device is refused with its name.
    let gz = site.dir.join("mail.log.gz");
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
    std::io::Write::write_all(&mut enc, &std::fs::read(&log).unwrap()).unwrap();
    enc.finish().unwrap();
    let r = survey(&site, &["--from-log", gz.to_str().unwrap()], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(docs(&r.stdout).len(), 2);
    let r = survey(&site, &["--from-log", "/dev/zero"], "");
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (2, "error: /dev/zero: is a device, not a log\n")
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
