//! `danekit logstats` as a user runs it: the built binary on the log a real Postfix 3.7.11
//! wrote (`tests/fixtures/logstats/postfix-3.7.maillog`, from `tests/interop_logstats.rs`),
//! on hand-made logs in every syslog format, and on inputs that are broken on purpose: gzip,
//! truncated gzip, other compressions, binary junk, invalid UTF-8, overlong lines, missing
//! files, directories and devices. Exit codes, the one `error:` line and the JSON documents
//! are checked; JSON is parsed back into the library's own types.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use danekit::cli::LogstatsDocument;
use danekit::logstats::{ClassCounts, FailureKind};
use support::interop::{TempDir, danekit_bin, run};

/// The day of the fixture, for the year of its traditional syslog dates.
const NOW: &str = "2026-12-02T12:00:00Z";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logstats/postfix-3.7.maillog")
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn logstats(args: &[&str], stdin: Option<&[u8]>) -> Outcome {
    let mut all = vec!["logstats", "--now", NOW];
    all.extend(args);
    let out = run(danekit_bin(), &all, stdin);
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn json(args: &[&str], stdin: Option<&[u8]>) -> LogstatsDocument {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = logstats(&all, stdin);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.stdout))
}

/// Exit 2, one `error:` line that contains `needle`, and with `-o json` the error document.
fn refused(args: &[&str], stdin: Option<&[u8]>, needle: &str) {
    let out = logstats(args, stdin);
    assert_eq!(out.code, 2, "{args:?}\n{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("error: ") && out.stderr.contains(needle),
        "{args:?}: {:?} lacks {needle:?}",
        out.stderr
    );
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = logstats(&all, stdin);
    assert_eq!(out.code, 2);
    let doc: danekit::report::ErrorDocument = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc.verdict, danekit::report::Verdict::Error);
    assert!(doc.error.message.contains(needle), "{:?}", doc.error);
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn counts(v: [u64; 5]) -> ClassCounts {
    ClassCounts {
        verified: v[0],
        trusted: v[1],
        untrusted: v[2],
        anonymous: v[3],
        none: v[4],
    }
}

#[test]
fn real_postfix_log_json() {
    let fixture = fixture();
    let doc = json(&[path(&fixture)], None);
    assert_eq!(doc.schema_version, 1);
    let s = &doc.summary;
    assert_eq!(s.outbound, counts([1, 1, 2, 0, 2]));
    assert_eq!(s.inbound, counts([0, 0, 1, 3, 9]));
    assert_eq!(s.deliveries, counts([2, 1, 1, 0, 2]));
    assert_eq!(s.malformed, 0);
    assert_eq!(s.lines, s.used + s.skipped);
    assert_eq!(s.by_day.len(), 1);
    assert_eq!(s.by_day["2026-12-02"].outbound, s.outbound);
    assert_eq!(s.by_day["2026-12-02"].inbound, s.inbound);
    assert_eq!(
        s.by_domain["verified.test"].deliveries,
        counts([2, 0, 0, 0, 0])
    );
    assert_eq!(
        s.by_domain["trusted.test"].deliveries,
        counts([0, 1, 0, 0, 0])
    );
    assert_eq!(
        s.by_domain["untrusted.test"].deliveries,
        counts([0, 0, 1, 0, 0])
    );
    assert_eq!(
        s.by_domain["plain.test"].deliveries,
        counts([0, 0, 0, 0, 2])
    );
    assert_eq!(s.by_domain["verified.test"].protocols["TLSv1.3"], 2);
    assert_eq!(s.by_domain["refused.test"].policy_failures, 1);
    assert_eq!(s.protocols.outbound["TLSv1.3"], 4);
    assert_eq!(s.ciphers.inbound["TLS_AES_256_GCM_SHA384"], 4);
    assert_eq!(s.top_cleartext.len(), 1);
    assert_eq!(s.top_cleartext[0].domain, "plain.test");
    assert_eq!(s.policy_failures.total, 2);
    assert_eq!(
        s.policy_failures.by_kind[&FailureKind::CertificateNotVerified],
        1
    );
    assert_eq!(
        s.policy_failures.by_kind[&FailureKind::StarttlsNotOffered],
        1
    );
    assert_eq!(doc.inputs.len(), 1);
    assert!(!doc.inputs[0].gzip);
    assert!(doc.findings.is_empty());
    // The contract's field names, as a script reads them.
    let out = logstats(&[path(&fixture), "-o", "json"], None);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    for key in [
        "schema_version",
        "verdict",
        "outbound",
        "inbound",
        "skipped",
        "by_day",
        "by_domain",
    ] {
        assert!(value.get(key).is_some(), "{key} missing");
    }
    assert_eq!(value["verdict"], "ok");
    assert_eq!(value["outbound"]["verified"], 1);
    assert_eq!(value["by_domain"]["plain.test"]["none"], 2);
}

#[test]
fn real_postfix_log_text_tables() {
    let fixture = fixture();
    let out = logstats(&[path(&fixture)], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let has_row = |text: &str, label: &str, numbers: &[u64]| {
        text.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.first() == Some(&label)
                && words[1..]
                    .iter()
                    .map(|w| w.parse::<u64>().ok())
                    .eq(numbers.iter().map(|n| Some(*n)))
        })
    };
    assert!(
        has_row(&out.stdout, "outbound", &[1, 1, 2, 0, 2, 6]),
        "{}",
        out.stdout
    );
    assert!(
        has_row(&out.stdout, "inbound", &[0, 0, 1, 3, 9, 13]),
        "{}",
        out.stdout
    );
    assert!(
        has_row(&out.stdout, "deliveries", &[2, 1, 1, 0, 2, 6]),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("certificate-not-verified"));
    assert!(!out.stdout.contains("by day"));
    let by_day = logstats(&[path(&fixture), "--by", "day"], None);
    assert!(
        has_row(&by_day.stdout, "2026-12-02", &[1, 1, 2, 0, 2, 6]),
        "{}",
        by_day.stdout
    );
    assert!(
        has_row(&by_day.stdout, "2026-12-02", &[0, 0, 1, 3, 9, 13]),
        "{}",
        by_day.stdout
    );
    let by_domain = logstats(&[path(&fixture), "--by", "domain"], None);
    assert!(
        has_row(&by_domain.stdout, "verified.test", &[2, 0, 0, 0, 0, 0]),
        "{}",
        by_domain.stdout
    );
    assert!(
        has_row(&by_domain.stdout, "refused.test", &[0, 0, 0, 0, 0, 1]),
        "{}",
        by_domain.stdout
    );
}

#[test]
fn gzip_files_and_standard_input_count_the_same() {
    let dir = TempDir::new("logstats");
    let log = std::fs::read(fixture()).unwrap();
    let plain = json(&[path(&fixture())], None).summary;
    // One gzip member, and the log split over two members (as `cat a.gz b.gz` makes).
    let gz = dir.path().join("mail.log.1.gz");
    std::fs::write(&gz, gzip(&log)).unwrap();
    let half = log.len() / 2;
    let mut two = gzip(&log[..half]);
    two.extend(gzip(&log[half..]));
    let multi = dir.path().join("mail.log.2.gz");
    std::fs::write(&multi, &two).unwrap();
    for file in [&gz, &multi] {
        let doc = json(&[path(file)], None);
        assert!(doc.inputs[0].gzip);
        assert_eq!(doc.inputs[0].bytes, log.len() as u64);
        assert_eq!(doc.summary, plain, "{}", file.display());
    }
    for stdin in [log.clone(), gzip(&log)] {
        let doc = json(&["-"], Some(&stdin));
        assert_eq!(doc.inputs[0].name, "-");
        assert_eq!(doc.summary, plain);
    }
    // No input at all means standard input.
    assert_eq!(json(&[], Some(&log)).summary, plain);
    // Two files: every count doubles.
    let both = json(&[path(&fixture()), path(&gz)], None);
    assert_eq!(both.inputs.len(), 2);
    assert_eq!(both.summary.outbound.trusted, 2 * plain.outbound.trusted);
    assert_eq!(both.summary.lines, 2 * plain.lines);
}

#[test]
fn unreadable_inputs_exit_2_naming_the_file() {
    let dir = TempDir::new("logstats");
    let log = std::fs::read(fixture()).unwrap();
    let compressed = gzip(&log);
    let truncated = dir.path().join("cut.gz");
    std::fs::write(&truncated, &compressed[..compressed.len() / 2]).unwrap();
    refused(
        &[path(&truncated)],
        None,
        "cut.gz: gzip data truncated or corrupt",
    );
    let mut corrupt = compressed.clone();
    for b in &mut corrupt[20..60] {
        *b ^= 0x55;
    }
    let bad = dir.path().join("bad.gz");
    std::fs::write(&bad, &corrupt).unwrap();
    refused(
        &[path(&bad)],
        None,
        "bad.gz: gzip data truncated or corrupt",
    );
    refused(&["-"], Some(&compressed[..100]), "-: gzip data truncated");
    let xz = dir.path().join("mail.log.xz");
    std::fs::write(&xz, b"\xfd7zXZ\x00\x00\x04").unwrap();
    refused(
        &[path(&xz)],
        None,
        "xz-compressed; decompress it first: xz -dc",
    );
    let missing = dir.path().join("no-such.log");
    refused(&[path(&missing)], None, "no-such.log: cannot open");
    refused(&[path(dir.path())], None, "is a directory");
    refused(&["/dev/zero"], None, "/dev/zero: is a device");
    // The first good file is not enough: any unreadable input is exit 2.
    refused(&[path(&fixture()), path(&missing)], None, "no-such.log");
    // A file name that is not UTF-8 is shown escaped.
    use std::os::unix::ffi::OsStrExt;
    let odd = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"m\xffail\x1b.log"));
    let out = run(
        danekit_bin(),
        &[std::ffi::OsStr::new("logstats"), odd.as_os_str()],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains(r"m\x{ff}ail\u{1b}.log"), "{stderr}");
    let out = logstats(&["-o", "zone"], Some(b""));
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr, "error: -o zone: logstats writes text or json\n");
}

#[test]
fn junk_is_counted_never_fatal() {
    let dir = TempDir::new("logstats");
    let mut log = Vec::new();
    log.extend_from_slice(b"\x00\x01\x02\xff binary junk\n");
    log.extend_from_slice(b"Dec  2 05:00:00 mx postfix/smtp[1]: \xff\xfe invalid UTF-8\n");
    log.extend(std::iter::repeat_n(b'x', 200_000));
    log.push(b'\n');
    log.extend_from_slice(
        b"Dec  2 05:00:01 mx postfix/smtp[1]: Anonymous TLS connection established to \
          mx.q.example[192.0.2.7]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 \
          (256/256 bits)\n",
    );
    log.extend_from_slice(
        b"Dec  2 05:00:01 mx postfix/smtp[1]: 4QQQQA: to=<\xc3\xa9l\xc3\xa8ve@\xc3\xa9cole.example>, \
          relay=mx.q.example[192.0.2.7]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n",
    );
    log.extend_from_slice(b"Dec  2 05:00:02 mx postfix/smtp[1]: truncated line without end");
    let file = dir.path().join("junk.log");
    std::fs::write(&file, &log).unwrap();
    let doc = json(&[path(&file)], None);
    let s = &doc.summary;
    assert_eq!((s.lines, s.used, s.malformed, s.too_long), (6, 2, 2, 1));
    assert_eq!(s.skipped, 4);
    assert_eq!(s.outbound.anonymous, 1);
    assert_eq!(s.by_domain["école.example"].deliveries.anonymous, 1);
    // Text output escapes nothing that is safe, and shows the counts.
    let out = logstats(&[path(&file)], None);
    assert_eq!(out.code, 0);
    assert!(
        out.stdout
            .contains("6 lines: 2 used, 4 skipped (2 malformed, 1 too long)")
    );
}

#[test]
fn syslog_formats_and_the_year_rule() {
    let lines = [
        // Traditional, with the year of --now (2026-12-02), or the year before when ahead.
        "Dec  1 23:59:59 mx postfix/smtpd[7]: connect from a[192.0.2.1]",
        "Dec  1 23:59:59 mx postfix/smtpd[7]: Trusted TLS connection established from a[192.0.2.1]: TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128/128 bits)",
        "Dec 24 10:00:00 mx postfix/smtpd[8]: connect from b[192.0.2.2]",
        "Dec 24 10:00:00 mx postfix/smtpd[8]: 4RRRRA: client=b[192.0.2.2]",
        // RFC 3339 (rsyslog, maillog_file), journalctl short-iso and short-precise.
        "2026-11-30T08:00:00.123456+01:00 mx postfix-out/smtp[9]: Verified TLS connection established to m[192.0.2.3]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
        "2026-11-30T08:00:01+0100 mx postfix-out/smtp[9]: 4RRRRB: to=<a@r.example>, relay=m[192.0.2.3]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
        "Nov 29 08:00:00.000001 mx postfix/lmtp[10]: 4RRRRC: to=<a@s.example>, relay=l[192.0.2.4]:24, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
        // journalctl -o json.
        r#"{"__REALTIME_TIMESTAMP":"1796187600000000","_HOSTNAME":"mx","SYSLOG_IDENTIFIER":"postfix/submission/smtpd","SYSLOG_PID":"11","MESSAGE":"Untrusted TLS connection established from c[192.0.2.5]: TLSv1.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256 (128/128 bits)"}"#,
    ];
    let log = lines.join("\n");
    let doc = json(&["-"], Some(log.as_bytes()));
    let s = &doc.summary;
    let days: Vec<&str> = s.by_day.keys().map(String::as_str).collect();
    assert_eq!(
        days,
        [
            "2025-12-24",
            "2026-11-29",
            "2026-11-30",
            "2026-12-01",
            "2026-12-02"
        ]
    );
    assert_eq!(s.by_day["2025-12-24"].inbound.none, 1);
    assert_eq!(s.by_day["2026-12-01"].inbound.trusted, 1);
    assert_eq!(s.by_day["2026-11-30"].outbound.verified, 1);
    assert_eq!(s.by_day["2026-11-29"].outbound.none, 1);
    assert_eq!(s.by_day["2026-12-02"].inbound.untrusted, 1);
    assert_eq!(s.by_domain["r.example"].deliveries.verified, 1);
    assert_eq!(s.by_domain["s.example"].deliveries.none, 1);
    assert_eq!(s.used, s.lines);
    // Read in January, December lines belong to the year before.
    let out = run(
        danekit_bin(),
        &[
            "logstats",
            "--now",
            "2027-01-03T00:00:00Z",
            "-o",
            "json",
            "-",
        ],
        Some(lines[..2].join("\n").as_bytes()),
    );
    let doc: LogstatsDocument = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc.summary.by_day.contains_key("2026-12-01"));
}

#[test]
fn a_log_without_postfix_lines_gets_a_warning() {
    let log = b"Dec  2 05:00:00 host sshd[1]: Accepted publickey for root\n";
    let doc = json(&["-"], Some(log));
    assert_eq!(doc.summary.used, 0);
    assert_eq!(doc.findings.len(), 1);
    assert_eq!(doc.findings[0].code, "no-postfix-lines");
    let out = logstats(&["-"], Some(log));
    assert_eq!(out.code, 0);
    assert!(
        out.stderr.starts_with("warning: logstats: no line"),
        "{}",
        out.stderr
    );
    assert!(logstats(&["-q", "-"], Some(log)).stderr.is_empty());
    // An empty input is no warning: nothing was there to count.
    let empty = json(&["-"], Some(b""));
    assert!(empty.findings.is_empty());
    assert_eq!(empty.summary.lines, 0);
    // Mail without any TLS line: a hint at the loglevel.
    let plain = b"Dec  2 05:00:00 mx postfix/smtp[1]: 4SSSSA: to=<a@t.example>, \
        relay=mx.t.example[192.0.2.8]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n";
    let doc = json(&["-"], Some(plain));
    let codes: Vec<(&str, &str)> = doc
        .findings
        .iter()
        .map(|f| (f.code.as_str(), f.subject.as_str()))
        .collect();
    assert_eq!(codes, [("no-tls-lines", "outbound")]);
    assert!(doc.findings[0].message.contains("smtp_tls_loglevel = 0"));
}

#[test]
fn in_process_with_the_environment_clock() {
    // No --now: the clock of the environment gives the year of the traditional dates.
    let mut env = support::mail_servers::LoopbackEnv::new();
    env.now = 1_796_212_800; // 2026-12-02T12:00:00Z
    env.stdin = std::fs::read(fixture()).unwrap();
    let code = danekit::cli::run(["danekit", "logstats", "-o", "json"], &mut env);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&env.stderr));
    let doc: LogstatsDocument = serde_json::from_slice(&env.stdout).unwrap();
    assert_eq!(
        doc.summary.by_day.keys().collect::<Vec<_>>(),
        ["2026-12-02"]
    );
    assert_eq!(doc.summary.outbound, counts([1, 1, 2, 0, 2]));
    // Read in June 2027, the December lines are those of 2026.
    let mut env = support::mail_servers::LoopbackEnv::new();
    env.now = 1_811_808_000; // 2027-06-01T00:00:00Z
    env.stdin = std::fs::read(fixture()).unwrap();
    assert_eq!(
        danekit::cli::run(["danekit", "logstats", "-o", "json"], &mut env),
        0
    );
    let doc: LogstatsDocument = serde_json::from_slice(&env.stdout).unwrap();
    assert_eq!(
        doc.summary.by_day.keys().collect::<Vec<_>>(),
        ["2026-12-02"]
    );
}
