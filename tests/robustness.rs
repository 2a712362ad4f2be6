//! Bad input never panics: every fixture, truncated at every length and with bytes flipped,
//! either parses or gives an error that names the input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use danekit::pki;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for dir in ["pki", "misc", "bad"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("fixture dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let bytes = std::fs::read(&path).expect("read");
            out.push((path.display().to_string(), bytes));
        }
    }
    out.sort();
    out
}

fn check(name: &str, bytes: &[u8]) {
    if let Err(e) = pki::parse_input(name, bytes) {
        let text = e.to_string();
        assert!(
            text.starts_with(name),
            "error does not name the input: {text}"
        );
        assert!(!text.contains('\n'), "error is not one line: {text}");
    }
}

#[test]
fn truncations_never_panic() {
    for (name, bytes) in fixtures() {
        let step = if bytes.len() > 2000 { 3 } else { 1 };
        for len in (0..bytes.len()).step_by(step) {
            check(&name, &bytes[..len]);
        }
    }
}

#[test]
fn flipped_bytes_never_panic() {
    for (name, bytes) in fixtures() {
        let is_der = bytes.first() == Some(&0x30);
        if !is_der && bytes.len() > 4000 {
            continue;
        }
        // Every byte of DER inputs; PEM is base64, where a flip mostly breaks the armour, so
        // every third byte is enough there.
        let (step, masks): (usize, &[u8]) = if is_der {
            (1, &[0xff, 0x01])
        } else {
            (3, &[0xff])
        };
        let mut copy = bytes.clone();
        for i in (0..copy.len()).step_by(step) {
            for &mask in masks {
                copy[i] ^= mask;
                check(&name, &copy);
                copy[i] ^= mask;
            }
        }
    }
}

#[test]
fn der_length_fields_that_lie_are_errors() {
    let der = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki/leaf-p256.der"),
    )
    .expect("read");
    // The outer SEQUENCE claims 16 MiB.
    let mut huge = der.clone();
    huge[1] = 0x83;
    huge.splice(2..4, [0xff, 0xff, 0xff]);
    let e = pki::parse_input("huge.der", &huge).expect_err("must fail");
    assert!(e.to_string().starts_with("huge.der: truncated DER"), "{e}");
    // Junk after a valid certificate.
    let mut trailing = der.clone();
    trailing.extend_from_slice(b"junk");
    let e = pki::parse_input("trailing.der", &trailing).expect_err("must fail");
    assert_eq!(
        e.to_string(),
        "trailing.der: 4 bytes of junk after the DER object"
    );
}

/// A temporary directory removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("danekit-robustness-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn danekit(args: &[&std::ffi::OsStr], stdin: Option<std::process::Stdio>) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_danekit"));
    cmd.args(args);
    if let Some(s) = stdin {
        cmd.stdin(s);
    }
    cmd.output().expect("run danekit")
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// Inputs are read with a 16 MiB cap: a huge file, `/dev/zero` and a huge standard input end
/// with exit 2 and "too large", without reading on.
#[test]
fn huge_inputs_are_refused_by_size() {
    let scratch = Scratch::new("huge");
    let sparse = scratch.0.join("huge.pem");
    let file = std::fs::File::create(&sparse).expect("create");
    file.set_len(1 << 30).expect("1 GiB sparse file");
    for input in [sparse.as_os_str(), os("/dev/zero")] {
        let out = danekit(&[os("tlsa"), input], None);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.ends_with("larger than 16 MiB, too large for a certificate, key or CSR\n"),
            "{stderr}"
        );
        assert_eq!(stderr.lines().count(), 1);
    }
    let zero = std::fs::File::open("/dev/zero").expect("/dev/zero");
    let out = danekit(&[os("tlsa"), os("-")], Some(zero.into()));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: -: larger than 16 MiB, too large for a certificate, key or CSR\n"
    );
}

fn pem_of(file: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pki")
            .join(file),
    )
    .expect("fixture")
}

/// At most 100 certificates per input: a bundle of 20,000 is refused at the 101st.
#[test]
fn too_many_certificates_are_refused() {
    let scratch = Scratch::new("many");
    let path = scratch.0.join("many.pem");
    std::fs::write(&path, pem_of("leaf-p256.pem").repeat(20_000)).expect("write");
    let out = danekit(&[os("tlsa"), path.as_os_str()], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.ends_with(
            "many.pem: holds more than 100 certificates; give the server's chain, not a bundle\n"
        ),
        "{stderr}"
    );
    // 100 is still read.
    std::fs::write(&path, pem_of("leaf-p256.pem").repeat(100)).expect("write");
    let out = danekit(&[os("tlsa"), path.as_os_str()], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Text from files reaches the terminal escaped: a subject with an escape sequence and a
/// bidirectional override, and a PEM label with control characters.
#[test]
fn text_from_files_is_escaped() {
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    };
    let scratch = Scratch::new("escape");
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "CA \u{1b}]0;owned\u{7}");
    ca.distinguished_name = dn;
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().expect("key");
    let mut leaf = CertificateParams::new(vec!["mail.example.test".to_owned()]).expect("params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "leaf\u{1b}[2J\u{202e}gpj.exe");
    leaf.distinguished_name = dn;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf");
    // Issuer first: the chain-order warning names the leaf's subject.
    let path = scratch.0.join("evil.pem");
    std::fs::write(&path, format!("{}{}", ca_cert.pem(), leaf_cert.pem())).expect("write");
    let out = danekit(&[os("tlsa"), path.as_os_str()], None);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{202e}'),
        "{stderr:?}"
    );
    assert!(
        stderr.contains("leaf\\u{1b}[2J\\u{202e}gpj.exe"),
        "{stderr}"
    );

    let label = scratch.0.join("label.pem");
    std::fs::write(
        &label,
        "-----BEGIN \u{1b}[31mEVIL-----\nAAAA\n-----END \u{1b}[31mEVIL-----\n",
    )
    .expect("write");
    let out = danekit(&[os("tlsa"), label.as_os_str()], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(
        stderr.contains("unknown PEM block \"\\u{1b}[31mEVIL\""),
        "{stderr}"
    );
}

/// No warning line grows without bound: a file of 30 unrelated certificates with long names.
#[test]
fn warning_lines_stay_short() {
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
    let scratch = Scratch::new("long");
    let mut pem = String::new();
    for i in 0..30 {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(vec![format!("h{i}.example.test")]).expect("p");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{i} {}", "x".repeat(60)));
        dn.push(DnType::OrganizationName, "y".repeat(60));
        params.distinguished_name = dn;
        pem.push_str(&params.self_signed(&key).expect("cert").pem());
    }
    let path = scratch.0.join("unrelated.pem");
    std::fs::write(&path, pem).expect("write");
    let out = danekit(&[os("tlsa"), path.as_os_str()], None);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("and 26 more"), "{stderr}");
    for line in stderr.lines() {
        assert!(line.len() <= 1024, "{} bytes: {line}", line.len());
    }
}

/// A file name that is not UTF-8 is read, and shown escaped.
#[test]
fn file_names_need_not_be_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let scratch = Scratch::new("names");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.pem");
    let path = scratch.0.join(name);
    std::fs::write(&path, pem_of("leaf-p256.pem")).expect("write");
    let out = danekit(&[os("tlsa"), name, os("-o"), os("json")], None);
    // Run from the scratch directory so the source is the bare name.
    let out2 = std::process::Command::new(env!("CARGO_BIN_EXE_danekit"))
        .args([os("tlsa"), name, os("-o"), os("json")])
        .current_dir(&scratch.0)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "not found from elsewhere");
    assert_eq!(
        out2.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out2.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out2.stdout).expect("json");
    assert_eq!(doc["records"][0]["source"], "caf\\x{e9}.pem");
}
