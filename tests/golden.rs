//! Golden-file tests of `danekit tlsa`: every output format, the lints, and every kind of bad
//! input, run against the built binary from `tests/fixtures/pki`. Each golden file holds the
//! command, its exit code, stdout and stderr. Regenerate with `DANEKIT_UPDATE_GOLDEN=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

const NOW: &str = "2026-12-01T00:00:00Z";

/// (golden name, arguments after `danekit`, expected exit code)
const CASES: &[(&str, &[&str], i32)] = &[
    ("rdata-default", &["tlsa", "leaf-p256.pem"], 0),
    ("rdata-der", &["tlsa", "leaf-rsa2048.der"], 0),
    (
        "rdata-every-key-form",
        &[
            "tlsa",
            "leaf-p384.pem",
            "leaf-p384.der",
            "leaf-p384.key.pem",
            "leaf-p384.key.der",
            "leaf-p384.key.trad.pem",
            "leaf-p384.pub.pem",
            "leaf-p384.pub.der",
            "leaf-p384.csr.pem",
            "leaf-p384.csr.der",
        ],
        0,
    ),
    (
        "rdata-records-order",
        &[
            "tlsa",
            "leaf-ed25519.fullchain.pem",
            "leaf-p256.chain.pem",
            "--records",
            "3 1 1, 2 0 1, 3 1 2, 2 1 1",
        ],
        0,
    ),
    (
        "rdata-mnemonics",
        &[
            "tlsa",
            "-u",
            "dane-ta",
            "-s",
            "spki",
            "-m",
            "sha2-512",
            "leaf-rsa2048.chain.pem",
        ],
        0,
    ),
    (
        "rdata-ca-root",
        &["tlsa", "-u", "2", "--ca", "root", "leaf-p256.fullchain.pem"],
        0,
    ),
    (
        "rdata-ca-2",
        &[
            "tlsa",
            "-u",
            "2",
            "-s",
            "0",
            "--ca",
            "2",
            "leaf-p256.fullchain.pem",
        ],
        0,
    ),
    (
        "rdata-ca-self-anchor",
        &["tlsa", "-u", "2", "-s", "0", "root-ca.pem", "int-ca.pem"],
        0,
    ),
    (
        "rdata-selfsigned-as-anchor",
        &["tlsa", "--records", "3 1 1,2 1 1", "selfsigned.pem"],
        0,
    ),
    (
        "zone",
        &[
            "tlsa",
            "leaf-p256.chain.pem",
            "--records",
            "3 1 1,2 1 1",
            "--host",
            "mail.example.test",
            "-o",
            "zone",
        ],
        0,
    ),
    (
        "zone-owner-options",
        &[
            "tlsa",
            "leaf-p256.pem",
            "-o",
            "zone",
            "--host",
            "Mail.Example.TEST.",
            "--port",
            "853",
            "--proto",
            "udp",
            "--ttl",
            "300",
        ],
        0,
    ),
    (
        "zone-owner-from-certificate",
        &["tlsa", "leaf-rsa2048.pem", "-o", "zone"],
        0,
    ),
    (
        "zone-dedup",
        &[
            "tlsa",
            "leaf-p256.pem",
            "leaf-p256.key.pem",
            "-o",
            "zone",
            "--host",
            "mail.example.test",
        ],
        0,
    ),
    (
        "nsupdate",
        &[
            "tlsa",
            "leaf-p256.chain.pem",
            "leaf-p384.pub.pem",
            "-o",
            "nsupdate",
            "--host",
            "mail.example.test",
        ],
        0,
    ),
    (
        "knotc",
        &[
            "tlsa",
            "leaf-p256.chain.pem",
            "--records",
            "3 1 1,3 1 2",
            "-o",
            "knotc",
            "--host",
            "mail.example.test",
        ],
        0,
    ),
    (
        "knotc-zone-option",
        &[
            "tlsa",
            "leaf-p256.pem",
            "-o",
            "knotc",
            "--host",
            "mx1.mail.example.test",
            "--zone",
            "Example.TEST",
        ],
        0,
    ),
    (
        "json",
        &[
            "tlsa",
            "leaf-p256.fullchain.pem",
            "leaf-p384.chain.pem",
            "--records",
            "3 1 1,2 1 1",
            "--host",
            "mail.example.test",
            "-o",
            "json",
        ],
        0,
    ),
    (
        "json-with-findings",
        &[
            "tlsa",
            "weak-rsa1024.chain.pem",
            "--records",
            "3 0 1,2 1 0",
            "--host",
            "weak.mail.example.test",
            "-o",
            "json",
        ],
        0,
    ),
    (
        "json-no-owner",
        &["tlsa", "leaf-p256.pub.pem", "-o", "json"],
        0,
    ),
    (
        "global-options-after",
        &[
            "tlsa",
            "leaf-p256.pem",
            "-o",
            "zone",
            "--host",
            "mail.example.test",
            "-q",
            "--now",
            NOW,
        ],
        0,
    ),
    (
        "global-options-before",
        &[
            "-o",
            "zone",
            "--now",
            NOW,
            "tlsa",
            "leaf-p256.pem",
            "--host",
            "mail.example.test",
        ],
        0,
    ),
    (
        "lint-dane-ee-full-cert",
        &["tlsa", "-s", "0", "leaf-p256.pem"],
        0,
    ),
    (
        "lint-full-data",
        &["tlsa", "-m", "0", "leaf-ed25519.pem"],
        0,
    ),
    ("lint-weak-key", &["tlsa", "weak-rsa1024.pem"], 0),
    ("lint-quiet", &["tlsa", "weak-rsa1024.pem", "-q"], 0),
    (
        "lint-expired-leaf-ta",
        &["tlsa", "-u", "2", "expired.chain.pem"],
        0,
    ),
    (
        "lint-expired-leaf-ee",
        &["tlsa", "expired.pem", "--now", NOW],
        0,
    ),
    (
        "lint-not-expired-yet",
        &[
            "tlsa",
            "-u",
            "2",
            "expired.chain.pem",
            "--now",
            "2020-06-01T00:00:00Z",
        ],
        0,
    ),
    (
        "lint-chain-order",
        &[
            "tlsa",
            "--records",
            "3 1 1,2 1 1",
            "../misc/reversed-chain.pem",
        ],
        0,
    ),
    (
        "pem-combined-cert-and-key",
        &["tlsa", "--records", "3 1 1,2 1 1", "../misc/combined.pem"],
        0,
    ),
    (
        "pem-key-mismatch",
        &["tlsa", "../misc/mismatched-key.pem"],
        0,
    ),
    (
        "pem-ec-parameters",
        &["tlsa", "../misc/ec-params-key.pem"],
        0,
    ),
    (
        "pem-trusted-certificate",
        &["tlsa", "../misc/trusted-cert.pem"],
        0,
    ),
    (
        "pem-rsa-public-key",
        &["tlsa", "../misc/rsa-public.pem", "leaf-rsa2048.pub.pem"],
        0,
    ),
    (
        "pem-crlf",
        &["tlsa", "--records", "3 1 1,2 1 1", "../misc/crlf-chain.pem"],
        0,
    ),
    ("pem-text-before", &["tlsa", "../misc/text-before.pem"], 0),
    (
        "error-several-keys",
        &["tlsa", "../misc/several-keys.pem"],
        2,
    ),
    (
        "error-not-a-chain-usage-2",
        &["tlsa", "-u", "2", "../misc/leaf-and-root.pem"],
        2,
    ),
    (
        "not-a-chain-usage-3",
        &["tlsa", "../misc/leaf-and-root.pem"],
        0,
    ),
    (
        "refuse-pkix-ee-on-25",
        &["tlsa", "-u", "1", "leaf-p256.pem"],
        2,
    ),
    (
        "refuse-pkix-ta-on-25",
        &["tlsa", "-u", "pkix-ta", "leaf-p256.chain.pem"],
        2,
    ),
    (
        "pkix-forced",
        &["tlsa", "-u", "1", "--force", "leaf-p256.pem"],
        0,
    ),
    (
        "pkix-on-443",
        &[
            "tlsa",
            "--records",
            "0 0 1,1 1 1",
            "--port",
            "443",
            "leaf-p256.chain.pem",
        ],
        0,
    ),
    ("error-empty", &["tlsa", "../bad/empty.pem"], 2),
    ("error-junk", &["tlsa", "../bad/junk.bin"], 2),
    ("error-text", &["tlsa", "../bad/text.txt"], 2),
    (
        "error-wrong-armour",
        &["tlsa", "../bad/wrong-armour.pem"],
        2,
    ),
    ("error-bad-base64", &["tlsa", "../bad/bad-base64.pem"], 2),
    ("error-no-end", &["tlsa", "../bad/no-end.pem"], 2),
    (
        "error-unknown-label",
        &["tlsa", "../bad/unknown-label.pem"],
        2,
    ),
    ("error-truncated-der", &["tlsa", "../bad/truncated.der"], 2),
    ("error-truncated-pem", &["tlsa", "../bad/truncated.pem"], 2),
    ("error-encrypted-pkcs8", &["tlsa", "encrypted.key.pem"], 2),
    (
        "error-encrypted-traditional",
        &["tlsa", "encrypted.key.trad.pem"],
        2,
    ),
    (
        "error-encrypted-der",
        &["tlsa", "../misc/encrypted.key.der"],
        2,
    ),
    ("error-missing-file", &["tlsa", "no-such-file.pem"], 2),
    (
        "error-key-usage-2",
        &["tlsa", "-u", "2", "leaf-p256.key.pem"],
        2,
    ),
    (
        "error-csr-usage-2",
        &["tlsa", "-u", "dane-ta", "leaf-p256.csr.pem"],
        2,
    ),
    (
        "error-key-selector-0",
        &["tlsa", "-s", "0", "leaf-p256.pub.pem"],
        2,
    ),
    (
        "error-csr-selector-0",
        &["tlsa", "-s", "cert", "leaf-p256.csr.pem"],
        2,
    ),
    (
        "error-lone-leaf-usage-2",
        &["tlsa", "-u", "2", "leaf-p256.pem"],
        2,
    ),
    (
        "error-ca-3-on-2-chain",
        &["tlsa", "-u", "2", "--ca", "3", "leaf-p256.chain.pem"],
        2,
    ),
    (
        "error-ca-0",
        &["tlsa", "-u", "2", "--ca", "0", "leaf-p256.chain.pem"],
        2,
    ),
    (
        "error-unknown-mnemonic",
        &["tlsa", "-u", "dane-xx", "leaf-p256.pem"],
        2,
    ),
    (
        "error-unassigned-usage",
        &["tlsa", "--records", "3 1 1,4 1 1", "leaf-p256.pem"],
        2,
    ),
    (
        "error-bad-records",
        &["tlsa", "--records", "3 1", "leaf-p256.pem"],
        2,
    ),
    ("error-no-input", &["tlsa"], 2),
    (
        "error-bad-format",
        &["tlsa", "-o", "yaml", "leaf-p256.pem"],
        2,
    ),
    (
        "error-no-owner",
        &["tlsa", "leaf-p256.pub.pem", "-o", "zone"],
        2,
    ),
    (
        "error-wildcard-host",
        &[
            "tlsa",
            "leaf-p256.pem",
            "-o",
            "zone",
            "--host",
            "*.example.test",
        ],
        2,
    ),
    (
        "error-bad-proto",
        &["tlsa", "leaf-p256.pem", "--proto", "quic"],
        2,
    ),
    (
        "error-bad-now",
        &["tlsa", "leaf-p256.pem", "--now", "yesterday"],
        2,
    ),
    (
        "error-bad-timeout",
        &["tlsa", "leaf-p256.pem", "--timeout", "soon"],
        2,
    ),
    (
        "error-unknown-option",
        &["tlsa", "--frobnicate", "leaf-p256.pem"],
        2,
    ),
];

fn pki_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki")
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.expected"))
}

fn render(args: &[&str], code: i32, stdout: &[u8], stderr: &[u8]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') || a.contains('*') || a.is_empty() {
                format!("'{a}'")
            } else {
                (*a).to_string()
            }
        })
        .collect();
    format!(
        "$ danekit {}\n[exit {code}]\n--- stdout\n{}--- stderr\n{}",
        quoted.join(" "),
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr)
    )
}

#[test]
fn golden_files() {
    let update = std::env::var_os("DANEKIT_UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for &(name, args, expected_code) in CASES {
        let out = Command::new(env!("CARGO_BIN_EXE_danekit"))
            .args(args)
            .current_dir(pki_dir())
            .env_remove("NO_COLOR")
            .output()
            .expect("run danekit");
        let code = out.status.code().expect("exit code");
        let actual = render(args, code, &out.stdout, &out.stderr);
        assert_eq!(code, expected_code, "{name}: exit code\n{actual}");
        let path = golden_path(name);
        if update {
            std::fs::write(&path, &actual).expect("write golden file");
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{name}: output differs from {}\n--- expected\n{expected}\n--- actual\n{actual}",
                path.display()
            )),
            Err(e) => failures.push(format!("{name}: cannot read {}: {e}", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden file(s) differ (regenerate with DANEKIT_UPDATE_GOLDEN=1 after checking):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_golden_file_has_a_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    for entry in std::fs::read_dir(dir).expect("golden dir") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".expected") {
            assert!(
                CASES.iter().any(|(n, _, _)| *n == stem),
                "tests/golden/{name} belongs to no case: delete it"
            );
        }
    }
}

#[test]
fn stdin_input_matches_file_input() {
    let file = Command::new(env!("CARGO_BIN_EXE_danekit"))
        .args(["tlsa", "leaf-p256.chain.pem", "--records", "3 1 1,2 1 1"])
        .current_dir(pki_dir())
        .output()
        .expect("run");
    let mut child = Command::new(env!("CARGO_BIN_EXE_danekit"))
        .args(["tlsa", "-", "--records", "3 1 1,2 1 1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let chain = std::fs::read(pki_dir().join("leaf-p256.chain.pem")).expect("read");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&chain)
        .expect("write");
    let piped = child.wait_with_output().expect("wait");
    assert_eq!(piped.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&piped.stdout),
        String::from_utf8_lossy(&file.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&file.stdout).lines().count(), 2);
}

/// The JSON document of the command-line contract, read back strictly: an unknown or missing
/// field fails the test.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsaDoc {
    schema_version: u32,
    verdict: String,
    records: Vec<TlsaRecord>,
    findings: Vec<FindingDoc>,
}

#[derive(Debug, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct TlsaRecord {
    owner: Option<String>,
    ttl: u32,
    usage: u8,
    selector: u8,
    matching_type: u8,
    data: String,
    source: String,
    depth: usize,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingDoc {
    code: String,
    severity: String,
    subject: String,
    message: String,
}

#[test]
fn json_document_parses_into_the_contract_types() {
    let out = Command::new(env!("CARGO_BIN_EXE_danekit"))
        .args([
            "tlsa",
            "weak-rsa1024.chain.pem",
            "leaf-p256.csr.pem",
            "--records",
            "3 1 1",
            "--host",
            "Mail.Example.Test",
            "--port",
            "587",
            "--ttl",
            "300",
            "-o",
            "json",
        ])
        .current_dir(pki_dir())
        .output()
        .expect("run danekit");
    assert_eq!(out.status.code(), Some(0));
    // Findings are in the document, not on stderr.
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let doc: TlsaDoc = serde_json::from_slice(&out.stdout).expect("contract JSON");
    assert_eq!(doc.schema_version, 1);
    assert_eq!(doc.verdict, "ok");
    assert_eq!(
        doc.records,
        vec![
            TlsaRecord {
                owner: Some("_587._tcp.mail.example.test.".into()),
                ttl: 300,
                usage: 3,
                selector: 1,
                matching_type: 1,
                data: "a948a88b9e7bc53c8e492526187f55c665bdb4a72d4a1188fd0c4b23188f1d3f".into(),
                source: "weak-rsa1024.chain.pem".into(),
                depth: 0,
            },
            TlsaRecord {
                owner: Some("_587._tcp.mail.example.test.".into()),
                ttl: 300,
                usage: 3,
                selector: 1,
                matching_type: 1,
                data: "fc32c9e85ed03d2bd60072d1b0014bcc4ed83e8c4050211ca8d1e0906c888e0c".into(),
                source: "leaf-p256.csr.pem".into(),
                depth: 0,
            },
        ]
    );
    assert_eq!(doc.findings.len(), 1);
    assert_eq!(doc.findings[0].code, "weak-key");
    assert_eq!(doc.findings[0].severity, "warning");
    assert_eq!(doc.findings[0].subject, "weak-rsa1024.chain.pem");
    assert!(doc.findings[0].message.contains("RSA-1024"));
}
