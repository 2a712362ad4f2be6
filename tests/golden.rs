//! Golden-file tests of `danekit tlsa`: every output format, the lints, and every kind of bad
//! input, run against the built binary from `tests/fixtures/pki`. Each golden file holds the
//! command, its exit code, stdout and stderr. Regenerate with `DANEKIT_UPDATE_GOLDEN=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use danekit::pki::KeyFamily;
use danekit::report::{Severity, Verdict};
use danekit::tlsa::report::{RecordDoc, TlsaDocument};

const NOW: &str = "2026-12-01T00:00:00Z";

/// One test per case: `name: [arguments after danekit] => exit code;`. The golden file is
/// `tests/golden/<name with dashes>.expected`; `cargo test --test golden NAME` runs one case.
macro_rules! golden {
    ($($name:ident: [$($arg:expr),* $(,)?] => $code:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name), &[$($arg),*], $code);
            }
        )*
        /// Every case's name, to find golden files that belong to none.
        const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

golden! {
    rdata_default: ["tlsa", "leaf-p256.pem"] => 0;
    rdata_der: ["tlsa", "leaf-rsa2048.der"] => 0;
    rdata_every_key_form: ["tlsa", "leaf-p384.pem", "leaf-p384.der", "leaf-p384.key.pem", "leaf-p384.key.der", "leaf-p384.key.trad.pem", "leaf-p384.pub.pem", "leaf-p384.pub.der", "leaf-p384.csr.pem", "leaf-p384.csr.der"] => 0;
    rdata_records_order: ["tlsa", "leaf-ed25519.fullchain.pem", "leaf-p256.chain.pem", "--records", "3 1 1, 2 0 1, 3 1 2, 2 1 1"] => 0;
    rdata_mnemonics: ["tlsa", "-u", "dane-ta", "-s", "spki", "-m", "sha2-512", "leaf-rsa2048.chain.pem"] => 0;
    rdata_ca_root: ["tlsa", "-u", "2", "--ca", "root", "leaf-p256.fullchain.pem"] => 0;
    rdata_ca_2: ["tlsa", "-u", "2", "-s", "0", "--ca", "2", "leaf-p256.fullchain.pem"] => 0;
    rdata_ca_self_anchor: ["tlsa", "-u", "2", "-s", "0", "root-ca.pem", "int-ca.pem"] => 0;
    rdata_selfsigned_as_anchor: ["tlsa", "--records", "3 1 1,2 1 1", "selfsigned.pem"] => 0;
    zone: ["tlsa", "leaf-p256.chain.pem", "--records", "3 1 1,2 1 1", "--host", "mail.example.test", "-o", "zone"] => 0;
    zone_owner_options: ["tlsa", "leaf-p256.pem", "-o", "zone", "--host", "Mail.Example.TEST.", "--port", "853", "--proto", "udp", "--ttl", "300"] => 0;
    zone_owner_from_certificate: ["tlsa", "leaf-rsa2048.pem", "-o", "zone"] => 0;
    zone_dedup: ["tlsa", "leaf-p256.pem", "leaf-p256.key.pem", "-o", "zone", "--host", "mail.example.test"] => 0;
    nsupdate: ["tlsa", "leaf-p256.chain.pem", "leaf-p384.pub.pem", "-o", "nsupdate", "--host", "mail.example.test"] => 0;
    knotc: ["tlsa", "leaf-p256.chain.pem", "--records", "3 1 1,3 1 2", "-o", "knotc", "--host", "mail.example.test"] => 0;
    knotc_zone_option: ["tlsa", "leaf-p256.pem", "-o", "knotc", "--host", "mx1.mail.example.test", "--zone", "Example.TEST"] => 0;
    json: ["tlsa", "leaf-p256.fullchain.pem", "leaf-p384.chain.pem", "--records", "3 1 1,2 1 1", "--host", "mail.example.test", "-o", "json"] => 0;
    json_with_findings: ["tlsa", "weak-rsa1024.chain.pem", "--records", "3 0 1,2 1 0", "--host", "weak.mail.example.test", "-o", "json"] => 0;
    json_no_owner: ["tlsa", "leaf-p256.pub.pem", "-o", "json"] => 0;
    global_options_after: ["tlsa", "leaf-p256.pem", "-o", "zone", "--host", "mail.example.test", "-q", "--now", NOW] => 0;
    global_options_before: ["-o", "zone", "--now", NOW, "tlsa", "leaf-p256.pem", "--host", "mail.example.test"] => 0;
    lint_dane_ee_full_cert: ["tlsa", "-s", "0", "leaf-p256.pem"] => 0;
    lint_full_data: ["tlsa", "-m", "0", "leaf-ed25519.pem"] => 0;
    lint_weak_key: ["tlsa", "weak-rsa1024.pem"] => 0;
    lint_quiet: ["tlsa", "weak-rsa1024.pem", "-q"] => 0;
    lint_expired_leaf_ta: ["tlsa", "-u", "2", "expired.chain.pem"] => 0;
    lint_expired_leaf_ee: ["tlsa", "expired.pem", "--now", NOW] => 0;
    lint_not_expired_yet: ["tlsa", "-u", "2", "expired.chain.pem", "--now", "2020-06-01T00:00:00Z"] => 0;
    lint_chain_order: ["tlsa", "--records", "3 1 1,2 1 1", "../misc/reversed-chain.pem"] => 0;
    pem_combined_cert_and_key: ["tlsa", "--records", "3 1 1,2 1 1", "../misc/combined.pem"] => 0;
    pem_key_mismatch: ["tlsa", "../misc/mismatched-key.pem"] => 0;
    pem_ec_parameters: ["tlsa", "../misc/ec-params-key.pem"] => 0;
    pem_trusted_certificate: ["tlsa", "../misc/trusted-cert.pem"] => 0;
    pem_rsa_public_key: ["tlsa", "../misc/rsa-public.pem", "leaf-rsa2048.pub.pem"] => 0;
    pem_crlf: ["tlsa", "--records", "3 1 1,2 1 1", "../misc/crlf-chain.pem"] => 0;
    pem_text_before: ["tlsa", "../misc/text-before.pem"] => 0;
    error_several_keys: ["tlsa", "../misc/several-keys.pem"] => 2;
    error_not_a_chain_usage_2: ["tlsa", "-u", "2", "../misc/leaf-and-root.pem"] => 2;
    not_a_chain_usage_3: ["tlsa", "../misc/leaf-and-root.pem"] => 0;
    refuse_pkix_ee_on_25: ["tlsa", "-u", "1", "leaf-p256.pem"] => 2;
    refuse_pkix_ta_on_25: ["tlsa", "-u", "pkix-ta", "leaf-p256.chain.pem"] => 2;
    pkix_forced: ["tlsa", "-u", "1", "--force", "leaf-p256.pem"] => 0;
    pkix_on_443: ["tlsa", "--records", "0 0 1,1 1 1", "--port", "443", "leaf-p256.chain.pem"] => 0;
    error_empty: ["tlsa", "../bad/empty.pem"] => 2;
    error_junk: ["tlsa", "../bad/junk.bin"] => 2;
    error_text: ["tlsa", "../bad/text.txt"] => 2;
    error_wrong_armour: ["tlsa", "../bad/wrong-armour.pem"] => 2;
    error_bad_base64: ["tlsa", "../bad/bad-base64.pem"] => 2;
    error_no_end: ["tlsa", "../bad/no-end.pem"] => 2;
    error_unknown_label: ["tlsa", "../bad/unknown-label.pem"] => 2;
    error_truncated_der: ["tlsa", "../bad/truncated.der"] => 2;
    error_truncated_pem: ["tlsa", "../bad/truncated.pem"] => 2;
    error_encrypted_pkcs8: ["tlsa", "encrypted.key.pem"] => 2;
    error_encrypted_traditional: ["tlsa", "encrypted.key.trad.pem"] => 2;
    error_encrypted_der: ["tlsa", "../misc/encrypted.key.der"] => 2;
    error_missing_file: ["tlsa", "no-such-file.pem"] => 2;
    error_key_usage_2: ["tlsa", "-u", "2", "leaf-p256.key.pem"] => 2;
    error_csr_usage_2: ["tlsa", "-u", "dane-ta", "leaf-p256.csr.pem"] => 2;
    error_key_selector_0: ["tlsa", "-s", "0", "leaf-p256.pub.pem"] => 2;
    error_csr_selector_0: ["tlsa", "-s", "cert", "leaf-p256.csr.pem"] => 2;
    error_lone_leaf_usage_2: ["tlsa", "-u", "2", "leaf-p256.pem"] => 2;
    error_ca_3_on_2_chain: ["tlsa", "-u", "2", "--ca", "3", "leaf-p256.chain.pem"] => 2;
    error_ca_0: ["tlsa", "-u", "2", "--ca", "0", "leaf-p256.chain.pem"] => 2;
    error_unknown_mnemonic: ["tlsa", "-u", "dane-xx", "leaf-p256.pem"] => 2;
    error_unassigned_usage: ["tlsa", "--records", "3 1 1,4 1 1", "leaf-p256.pem"] => 2;
    error_bad_records: ["tlsa", "--records", "3 1", "leaf-p256.pem"] => 2;
    error_no_input: ["tlsa"] => 2;
    error_bad_format: ["tlsa", "-o", "yaml", "leaf-p256.pem"] => 2;
    error_no_owner: ["tlsa", "leaf-p256.pub.pem", "-o", "zone"] => 2;
    error_wildcard_host: ["tlsa", "leaf-p256.pem", "-o", "zone", "--host", "*.example.test"] => 2;
    error_bad_proto: ["tlsa", "leaf-p256.pem", "--proto", "quic"] => 2;
    error_bad_now: ["tlsa", "leaf-p256.pem", "--now", "yesterday"] => 2;
    error_bad_timeout: ["tlsa", "leaf-p256.pem", "--timeout", "soon"] => 2;
    error_unknown_option: ["tlsa", "--frobnicate", "leaf-p256.pem"] => 2;
    error_timeout_too_large: ["tlsa", "leaf-p256.pem", "--timeout", "9300000000000000000s"] => 2;
    error_port_zero: ["tlsa", "leaf-p256.pem", "--host", "mail.example.test", "--port", "0"] => 2;
    error_host_is_an_address: ["tlsa", "leaf-p256.pem", "--host", "192.0.2.1", "-o", "zone"] => 2;
    error_host_idn: ["tlsa", "leaf-p256.pem", "--host", "bücher.example", "-o", "zone"] => 2;
    error_ttl_too_large: ["tlsa", "leaf-p256.pem", "--ttl", "2147483648"] => 2;
    error_zone_injection: ["tlsa", "leaf-p256.pem", "--host", "mail.example.org", "--zone", "example.org;touch x;", "-o", "knotc"] => 2;
    error_zone_not_containing_owner: ["tlsa", "leaf-p256.pem", "--host", "mail.example.org", "--zone", "example.net", "-o", "knotc"] => 2;
    error_server_unbracketed_v6: ["tlsa", "--server", "::1:25"] => 2;
    error_server_bad_name: ["tlsa", "--server", "mail..example.org"] => 2;
    error_pkcs12: ["tlsa", "../misc/bundle.p12"] => 2;
    error_crl: ["tlsa", "../misc/crl.der"] => 2;
    error_dsa_key: ["tlsa", "../misc/dsa.key.der"] => 2;
    error_x25519_key: ["tlsa", "../misc/x25519.key.der"] => 2;
    error_x25519_public_key: ["tlsa", "../misc/x25519.pub.der"] => 2;
    error_dh_parameters: ["tlsa", "../misc/dh.params.der"] => 2;
    error_no_host_in_certificate: ["tlsa", "../misc/no-host-names.pem", "-o", "zone"] => 2;
    json_error_input: ["tlsa", "missing.pem", "-o", "json"] => 2;
    json_error_usage: ["tlsa", "-o", "json", "--frobnicate"] => 2;
    json_no_host_in_certificate: ["tlsa", "../misc/no-host-names.pem", "-o", "json"] => 0;
    zone_owner_skips_invalid_names: ["tlsa", "../misc/odd-names.pem", "-o", "zone"] => 0;
    pem_haproxy_encrypted_key: ["tlsa", "../misc/haproxy-encrypted.pem", "--records", "3 1 1,2 1 1"] => 0;
    zone_example: ["zone", "../../../zones/example.test/services.yaml"] => 0;
    zone_example_nsupdate: ["zone", "../../../zones/example.test/services.yaml", "-o", "nsupdate"] => 0;
    zone_example_knotc: ["zone", "../../../zones/example.test/services.yaml", "-o", "knotc"] => 0;
    zone_example_json: ["zone", "../../../zones/example.test/services.yaml", "-o", "json"] => 0;
    zone_example_diff: ["zone", "../../../zones/example.test/services.yaml", "--diff", "../../../zones/example.test/example.test.db"] => 1;
    zone_example_diff_json: ["zone", "../../../zones/example.test/services.yaml", "--diff", "../../../zones/example.test/example.test.db", "-o", "json"] => 1;
    zone_next_is_a_key: ["zone", "../services/next-is-a-key.yaml"] => 0;
    zone_no_zone: ["zone", "../services/no-zone.yaml", "-o", "nsupdate"] => 0;
    zone_error_no_zone_knotc: ["zone", "../services/no-zone.yaml", "-o", "knotc"] => 2;
    zone_error_unknown_key: ["zone", "../services/unknown-key.yaml"] => 2;
    zone_error_bad_port: ["zone", "../services/bad-port.yaml"] => 2;
    zone_error_bad_record_set: ["zone", "../services/bad-record-set.yaml"] => 2;
    zone_error_host_outside_zone: ["zone", "../services/host-outside-zone.yaml"] => 2;
    zone_error_missing_cert: ["zone", "../services/missing-cert.yaml"] => 2;
    zone_error_cert_not_a_cert: ["zone", "../services/cert-not-a-cert.yaml"] => 2;
    zone_error_syntax: ["zone", "../services/syntax-error.yaml"] => 2;
    zone_error_issuer_from_lone_leaf: ["zone", "../services/issuer-from-lone-leaf.yaml"] => 2;
    zone_error_pkix_on_25: ["zone", "../services/pkix-on-25.yaml"] => 2;
    zone_error_missing_file: ["zone", "../services/no-such.yaml", "-o", "json"] => 2;
    zone_error_apply_without_update: ["zone", "../services/no-zone.yaml", "--apply"] => 2;
    zone_error_diff_missing_zone_file: ["zone", "../../../zones/example.test/services.yaml", "--diff", "no-such.db"] => 2;
    zone_error_bad_format: ["zone", "../../../zones/example.test/services.yaml", "-o", "rdata"] => 2;
}

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

/// Runs one case and compares its output with the golden file, or rewrites the file when
/// `DANEKIT_UPDATE_GOLDEN` is set.
fn check(ident: &str, args: &[&str], expected_code: i32) {
    let name = ident.replace('_', "-");
    let out = Command::new(env!("CARGO_BIN_EXE_danekit"))
        .args(args)
        .current_dir(pki_dir())
        .env_remove("NO_COLOR")
        .output()
        .expect("run danekit");
    let code = out.status.code().expect("exit code");
    let actual = render(args, code, &out.stdout, &out.stderr);
    assert_eq!(code, expected_code, "{name}: exit code\n{actual}");
    for line in String::from_utf8_lossy(&out.stderr).lines() {
        assert!(
            line.len() <= 1100,
            "{name}: a stderr line of {} bytes",
            line.len()
        );
    }
    let path = golden_path(&name);
    if std::env::var_os("DANEKIT_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{name}: cannot read {}: {e}", path.display()));
    assert!(
        expected == actual,
        "{name}: output differs from {} (regenerate with DANEKIT_UPDATE_GOLDEN=1 after \
         checking)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
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
                NAMES.iter().any(|n| n.replace('_', "-") == stem),
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
    // The library's own document type, which denies unknown fields.
    let doc: TlsaDocument = serde_json::from_slice(&out.stdout).expect("contract JSON");
    assert_eq!(doc.schema_version, 1);
    assert_eq!(doc.verdict, Verdict::Ok);
    assert_eq!(
        doc.records,
        vec![
            RecordDoc {
                owner: Some("_587._tcp.mail.example.test.".into()),
                ttl: 300,
                usage: 3,
                selector: 1,
                matching_type: 1,
                data: "a948a88b9e7bc53c8e492526187f55c665bdb4a72d4a1188fd0c4b23188f1d3f".into(),
                source: "weak-rsa1024.chain.pem".into(),
                depth: 0,
                key_type: KeyFamily::Rsa,
            },
            RecordDoc {
                owner: Some("_587._tcp.mail.example.test.".into()),
                ttl: 300,
                usage: 3,
                selector: 1,
                matching_type: 1,
                data: "fc32c9e85ed03d2bd60072d1b0014bcc4ed83e8c4050211ca8d1e0906c888e0c".into(),
                source: "leaf-p256.csr.pem".into(),
                depth: 0,
                key_type: KeyFamily::Ecdsa,
            },
        ]
    );
    assert_eq!(doc.findings.len(), 1);
    assert_eq!(doc.findings[0].code, "weak-key");
    assert_eq!(doc.findings[0].severity, Severity::Warning);
    assert_eq!(doc.findings[0].subject, "weak-rsa1024.chain.pem");
    assert!(doc.findings[0].message.contains("RSA-1024"));
}
