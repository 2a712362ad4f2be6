//! Bad input never panics: every fixture, truncated at every length and with bytes flipped,
//! either parses or gives an error that names the input.

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
