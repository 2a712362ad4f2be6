//! Interoperability: the TLSA records of `danekit tlsa` against the same values computed by
//! real software, for the test PKI in `tests/fixtures/pki`.
//!
//! - OpenSSL: the selected bytes (RFC 6698 §2.1.2: the DER certificate, or its
//!   SubjectPublicKeyInfo) and the digests of §2.1.3, for certificates, keys and CSRs.
//! - ldns-dane `create`, offline with `-c CHAINFILE`, for all usages, selectors and matching
//!   types, with the trust anchor chosen by its `-o` offset.
//! - GnuTLS `danetool --tlsa-rr`, owner name and RDATA, from certificates and public keys.
//!
//! The live mail servers (Postfix, Exim, Dovecot) are in `tests/interop_mail.rs`.
//!
//! With `CI=true` a missing tool fails the test; without it the test prints
//! `skipped: <test>: …` on stderr, visible without `--nocapture`.
//! Every comparison is collected, so one failure lists every disagreement with both values.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;

use support::interop::{
    JsonRecord, TempDir, danekit_ok, danekit_tlsa_json, describe, normalise_hex, normalise_rdata,
    openssl_association, openssl_cert_der, openssl_cert_spki, pem_certificates, pki, records_arg,
    records_list, require_tool, run, run_ok, run_with_env,
};

/// The key types of the leaves `leaf-K.*`.
const LEAVES: [&str; 4] = ["rsa2048", "p256", "p384", "ed25519"];
const SELECTORS: [u8; 2] = [0, 1];
const MATCHINGS: [u8; 3] = [0, 1, 2];
const HOST: &str = "mail.example.test";

fn path_str(p: &Path) -> &str {
    p.to_str().expect("fixture paths are UTF-8")
}

/// Panics with every collected disagreement.
fn assert_no_mismatches(what: &str, checked: usize, mismatches: &[String]) {
    assert!(
        mismatches.is_empty(),
        "{what}: {} of {checked} comparisons disagree:\n\n{}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
    assert!(checked > 0, "{what}: nothing was compared");
}

/// The bytes that selector 0 and selector 1 pick from one PEM certificate, by OpenSSL.
fn openssl_selected(openssl: &Path, pem: &[u8]) -> [Vec<u8>; 2] {
    [
        openssl_cert_der(openssl, pem),
        openssl_cert_spki(openssl, pem),
    ]
}

/// Compares danekit's JSON records, in `--records` order, with `(usage, selector, matching,
/// depth, data)`.
fn compare_records(
    context: &str,
    got: &[JsonRecord],
    expected: &[(u8, u8, u8, usize, String)],
    mismatches: &mut Vec<String>,
) -> usize {
    if got.len() != expected.len() {
        mismatches.push(format!(
            "{context}: danekit printed {} records, expected {}: {got:#?}",
            got.len(),
            expected.len()
        ));
        return 1;
    }
    for (r, (u, s, m, depth, data)) in got.iter().zip(expected) {
        let want = (*u, *s, *m, *depth, normalise_hex(data));
        let have = (
            r.usage,
            r.selector,
            r.matching_type,
            r.depth,
            normalise_hex(&r.data),
        );
        if have != want {
            mismatches.push(format!(
                "{context}: {u} {s} {m}\n  danekit (usage, selector, matching, depth, data): \
                 {have:?}\n  openssl:                                            {want:?}"
            ));
        }
    }
    expected.len()
}

/// RFC 6698 §2.1: for usage 3 the association data is taken from the end-entity certificate
/// itself, for every selector and matching type, from PEM and DER input.
#[test]
fn openssl_end_entity_associations_match() {
    let Some(openssl) = require_tool("openssl", "openssl") else {
        return;
    };
    let mut files: Vec<String> = Vec::new();
    for k in LEAVES {
        files.push(format!("leaf-{k}.pem"));
        files.push(format!("leaf-{k}.der"));
    }
    files.extend(["selfsigned.pem", "expired.pem", "weak-rsa1024.pem"].map(String::from));
    let list = records_list(&[3], &SELECTORS, &MATCHINGS);
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for name in &files {
        let path = pki(name);
        let pem = if name.ends_with(".der") {
            run_ok(
                &openssl,
                &["x509", "-inform", "DER", "-in", path_str(&path)],
                None,
            )
        } else {
            std::fs::read(&path).expect("fixture")
        };
        let selected = openssl_selected(&openssl, &pem);
        let expected: Vec<_> = list
            .iter()
            .map(|&(u, s, m)| {
                let data = openssl_association(&openssl, &selected[usize::from(s)], m);
                (u, s, m, 0, data)
            })
            .collect();
        let report = danekit_tlsa_json(&[
            path_str(&path),
            "--host",
            HOST,
            "--records",
            &records_arg(&list),
        ]);
        checked += compare_records(name, &report.records, &expected, &mut mismatches);
    }
    assert_no_mismatches("usage 3 against openssl", checked, &mismatches);
}

/// RFC 6698 §2.1.1 and RFC 7671 §5.2: usages 0 and 2 hash an issuer of the chain, chosen with
/// `--ca N` (the N-th certificate after the leaf) or `--ca root` (the last one); a CA
/// certificate given alone, and a self-signed leaf, are their own trust anchor.
#[test]
fn openssl_trust_anchor_associations_match() {
    let Some(openssl) = require_tool("openssl", "openssl") else {
        return;
    };
    // (file, --ca, index of the hashed certificate in the file = the reported depth)
    let mut cases: Vec<(String, Option<&str>, usize)> = Vec::new();
    for k in LEAVES {
        cases.push((format!("leaf-{k}.fullchain.pem"), Some("1"), 1));
        cases.push((format!("leaf-{k}.fullchain.pem"), Some("root"), 2));
        cases.push((format!("leaf-{k}.chain.pem"), Some("1"), 1));
        cases.push((format!("leaf-{k}.chain.pem"), Some("root"), 1));
    }
    for name in ["expired.chain.pem", "weak-rsa1024.chain.pem"] {
        cases.push((name.to_string(), Some("1"), 1));
    }
    for name in ["root-ca.pem", "int-ca.pem", "selfsigned.pem"] {
        cases.push((name.to_string(), None, 0));
    }
    let list = records_list(&[2, 0], &SELECTORS, &MATCHINGS);
    let mut mismatches = Vec::new();
    let mut checked = 0;
    let mut selected_cache: HashMap<String, [Vec<u8>; 2]> = HashMap::new();
    for (name, ca, index) in &cases {
        let path = pki(name);
        let blocks = pem_certificates(&path);
        let block = &blocks[*index];
        let selected = selected_cache
            .entry(block.clone())
            .or_insert_with(|| openssl_selected(&openssl, block.as_bytes()));
        let expected: Vec<_> = list
            .iter()
            .map(|&(u, s, m)| {
                let data = openssl_association(&openssl, &selected[usize::from(s)], m);
                (u, s, m, *index, data)
            })
            .collect();
        let records = records_arg(&list);
        let mut args = vec![path_str(&path), "--host", HOST, "--port", "443"];
        args.extend(["--records", &records]);
        if let Some(ca) = ca {
            args.extend(["--ca", ca]);
        }
        let report = danekit_tlsa_json(&args);
        let context = format!("{name} --ca {}", ca.unwrap_or("(default)"));
        checked += compare_records(&context, &report.records, &expected, &mut mismatches);
    }
    assert_no_mismatches("usages 0 and 2 against openssl", checked, &mismatches);
}

/// Selector 1 from keys and requests (RFC 6698 §2.1.2): the SubjectPublicKeyInfo that
/// `openssl pkey -pubout` derives from every private-key form, that a public-key file holds,
/// and that a CSR carries.
#[test]
fn openssl_key_and_csr_spki_match() {
    let Some(openssl) = require_tool("openssl", "openssl") else {
        return;
    };
    let mut files: Vec<String> = Vec::new();
    for k in LEAVES {
        for suffix in [
            "key.pem", "key.der", "pub.pem", "pub.der", "csr.pem", "csr.der",
        ] {
            files.push(format!("leaf-{k}.{suffix}"));
        }
        if k != "ed25519" {
            files.push(format!("leaf-{k}.key.trad.pem"));
        }
    }
    for stem in ["selfsigned", "expired", "weak-rsa1024"] {
        files.push(format!("{stem}.key.pem"));
        files.push(format!("{stem}.csr.pem"));
    }
    let list = records_list(&[3], &[1], &MATCHINGS);
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for name in &files {
        let path = pki(name);
        let file = path_str(&path);
        let inform = if name.ends_with(".der") { "DER" } else { "PEM" };
        let spki = if name.contains(".key.") {
            run_ok(
                &openssl,
                &[
                    "pkey", "-in", file, "-inform", inform, "-pubout", "-outform", "DER",
                ],
                None,
            )
        } else if name.contains(".pub.") {
            run_ok(
                &openssl,
                &[
                    "pkey", "-pubin", "-in", file, "-inform", inform, "-outform", "DER",
                ],
                None,
            )
        } else {
            let pubkey = run_ok(
                &openssl,
                &["req", "-in", file, "-inform", inform, "-pubkey", "-noout"],
                None,
            );
            run_ok(
                &openssl,
                &["pkey", "-pubin", "-outform", "DER"],
                Some(&pubkey),
            )
        };
        let expected: Vec<_> = list
            .iter()
            .map(|&(u, s, m)| (u, s, m, 0, openssl_association(&openssl, &spki, m)))
            .collect();
        let report = danekit_tlsa_json(&[file, "--host", HOST, "--records", &records_arg(&list)]);
        checked += compare_records(name, &report.records, &expected, &mut mismatches);
    }
    assert_no_mismatches("keys and CSRs against openssl", checked, &mismatches);
}

/// One `ldns-dane create` configuration and the danekit options that choose the same
/// certificate.
struct LdnsCase {
    file: String,
    ldns: Vec<String>,
    danekit: Vec<&'static str>,
    usages: Vec<u8>,
}

impl LdnsCase {
    fn new(file: &str, ldns: &[&str], danekit: &[&'static str], usages: &[u8]) -> Self {
        LdnsCase {
            file: file.to_string(),
            ldns: ldns.iter().map(|a| a.to_string()).collect(),
            danekit: danekit.to_vec(),
            usages: usages.to_vec(),
        }
    }
}

/// An OpenSSL configuration with security level 0. ldns-dane loads the leaf into an
/// `SSL_CTX`, and OpenSSL's default level refuses the RSA-1024 key of `weak-rsa1024.pem`
/// ("ee key too small") before any record is made.
const SECLEVEL_0_CONF: &str = "openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
CipherString = DEFAULT@SECLEVEL=0
";

/// Runs `ldns-dane [opts] -c FILE create mail.example.test 443 U S M` for every combination of
/// each case and compares the RDATA with `danekit tlsa FILE -o rdata`.
///
/// `ldns-dane -c` reads the chain from the file and does no DNS and no TLS for `create`. It
/// loads OpenSSL's default CA store on every run unless `-f` names one; `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` point that at nothing, so the system store takes no part and each run takes
/// milliseconds instead of tens of them.
fn check_ldns_cases(what: &str, cases: &[LdnsCase]) {
    let Some(ldns) = require_tool("ldns-dane", "ldnsutils") else {
        return;
    };
    let scratch = TempDir::new("ldns-dane");
    let empty_ca_dir = scratch.path().join("ca");
    std::fs::create_dir(&empty_ca_dir).expect("empty CA directory");
    let openssl_conf = scratch.path().join("openssl.cnf");
    std::fs::write(&openssl_conf, SECLEVEL_0_CONF).expect("openssl.cnf");
    let env: [(&str, &OsStr); 3] = [
        ("SSL_CERT_FILE", OsStr::new("/dev/null")),
        ("SSL_CERT_DIR", empty_ca_dir.as_os_str()),
        ("OPENSSL_CONF", openssl_conf.as_os_str()),
    ];
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for case in cases {
        let path = pki(&case.file);
        let file = path_str(&path);
        let list = records_list(&case.usages, &SELECTORS, &MATCHINGS);
        let records = records_arg(&list);
        let mut args = vec!["tlsa", file, "--host", HOST, "--port", "443"];
        args.extend(["--records", &records, "-o", "rdata"]);
        args.extend(&case.danekit);
        let danekit_out = danekit_ok(&args);
        let danekit_lines: Vec<&str> = danekit_out.lines().collect();
        let danekit_line = describe("danekit", &args);
        if danekit_lines.len() != list.len() {
            mismatches.push(format!(
                "`{danekit_line}` printed {} lines, expected {}:\n{danekit_out}",
                danekit_lines.len(),
                list.len()
            ));
            continue;
        }
        for (&(u, s, m), danekit_rdata) in list.iter().zip(&danekit_lines) {
            checked += 1;
            let (us, ss, ms) = (u.to_string(), s.to_string(), m.to_string());
            let mut ldns_args: Vec<&str> = case.ldns.iter().map(String::as_str).collect();
            ldns_args.extend(["-c", file, "create", HOST, "443", &us, &ss, &ms]);
            let out = run_with_env(&ldns, &ldns_args, None, &env);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let ldns_line = describe("ldns-dane", &ldns_args);
            let fields: Vec<&str> = stdout.split_whitespace().collect();
            let parsed = match fields.as_slice() {
                [owner, _ttl, "IN", "TLSA", u, s, m, data @ ..]
                    if stdout.lines().count() == 1 && !data.is_empty() =>
                {
                    match (u.parse(), s.parse(), m.parse()) {
                        (Ok(u), Ok(s), Ok(m)) => {
                            Some((*owner, normalise_rdata(u, s, m, &data.concat())))
                        }
                        _ => None,
                    }
                }
                _ => None,
            };
            let Some((owner, ldns_rdata)) = parsed.filter(|_| out.status.success()) else {
                mismatches.push(format!(
                    "`{ldns_line}` gave no TLSA record ({}):\nstdout: {stdout}\nstderr: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
                continue;
            };
            let fields: Vec<&str> = danekit_rdata.split_whitespace().collect();
            let danekit_rdata = match fields.as_slice() {
                [u, s, m, data] => format!("{u} {s} {m} {}", normalise_hex(data)),
                _ => danekit_rdata.to_string(),
            };
            if owner != "_443._tcp.mail.example.test." || danekit_rdata != ldns_rdata {
                mismatches.push(format!(
                    "{} {u} {s} {m}\n  `{ldns_line}`:\n    {owner} {ldns_rdata}\n  \
                     `{danekit_line}`:\n    {danekit_rdata}",
                    case.file
                ));
            }
        }
    }
    let what = format!(
        "{what} (ldns-dane ran with SSL_CERT_FILE=/dev/null, an empty SSL_CERT_DIR and \
         OPENSSL_CONF at security level 0)"
    );
    assert_no_mismatches(&what, checked, &mismatches);
}

/// Full chains (leaf, intermediate, root) validated by ldns-dane against `root-ca.pem` with
/// `-f`: PKIX-TA and DANE-TA at `-o 0` (the root, at the end of the validation path) equal
/// danekit's `--ca root`, and at `-o 1` (the intermediate) danekit's `--ca 1`. For a chain
/// without the root, `-f` makes ldns-dane's validation path end in the root from the CA file,
/// so its PKIX-TA `-o 1` is the intermediate, danekit's `--ca 1`.
#[test]
fn ldns_dane_create_matches_on_validated_chains() {
    let root_path = pki("root-ca.pem");
    let root = path_str(&root_path);
    let mut cases = Vec::new();
    for k in LEAVES {
        let full = format!("leaf-{k}.fullchain.pem");
        let chain = format!("leaf-{k}.chain.pem");
        cases.push(LdnsCase::new(
            &full,
            &["-f", root, "-o", "0"],
            &["--ca", "root"],
            &[0, 1, 2, 3],
        ));
        cases.push(LdnsCase::new(
            &full,
            &["-f", root, "-o", "1"],
            &["--ca", "1"],
            &[0, 2],
        ));
        cases.push(LdnsCase::new(
            &chain,
            &["-f", root, "-o", "1"],
            &["--ca", "1"],
            &[0],
        ));
    }
    check_ldns_cases("ldns-dane create on validated chains", &cases);
}

/// Chains as presented, without PKIX validation (`-s`): ldns-dane counts `-o` from the end of
/// the file's chain, so `-o 0` is its last certificate, danekit's `--ca root`; without `-o` it
/// requires that last certificate to be self-signed.
#[test]
fn ldns_dane_create_matches_on_presented_chains() {
    let mut cases = Vec::new();
    for k in LEAVES {
        let chain = format!("leaf-{k}.chain.pem");
        cases.push(LdnsCase::new(
            &chain,
            &["-s", "-o", "0"],
            &["--ca", "root"],
            &[0, 1, 2, 3],
        ));
        let full = format!("leaf-{k}.fullchain.pem");
        cases.push(LdnsCase::new(&full, &["-s"], &["--ca", "root"], &[0, 2]));
    }
    for name in ["expired.chain.pem", "weak-rsa1024.chain.pem"] {
        cases.push(LdnsCase::new(
            name,
            &["-s", "-o", "0"],
            &["--ca", "root"],
            &[0, 1, 2, 3],
        ));
    }
    check_ldns_cases("ldns-dane create on presented chains", &cases);
}

/// A single certificate is its own trust anchor for both tools: the self-signed leaf and the
/// root (also with ldns-dane's default `-o -1`, which requires self-signed), and the
/// intermediate CA on its own (`-o 0`). `-n` because the CA certificates name no host.
#[test]
fn ldns_dane_create_matches_on_single_certificates() {
    let mut cases = Vec::new();
    for name in ["selfsigned.pem", "root-ca.pem", "int-ca.pem"] {
        cases.push(LdnsCase::new(
            name,
            &["-s", "-n", "-o", "0"],
            &[],
            &[0, 1, 2, 3],
        ));
    }
    for name in ["selfsigned.pem", "root-ca.pem"] {
        cases.push(LdnsCase::new(name, &["-s", "-n"], &[], &[0, 2]));
    }
    check_ldns_cases("ldns-dane create on single certificates", &cases);
}

/// The danetool options for a usage: `--ca` for the CA usages 0 and 2, `--no-domain` for the
/// PKIX usages 0 and 1 (`--domain`, the default, gives the DANE usages 2 and 3).
fn danetool_usage_flags(usage: u8) -> &'static [&'static str] {
    match usage {
        0 => &["--ca", "--no-domain"],
        1 => &["--no-domain"],
        2 => &["--ca"],
        3 => &[],
        u => panic!("no usage {u}"),
    }
}

/// An owner name and `U S M DATA`.
type ZoneRr = (String, String);

/// A danetool command line, and the record it printed or why there is none.
type DanetoolRun = (String, Result<ZoneRr, String>);

/// `(owner, "U S M DATA")` from a zone line of danetool, `OWNER IN TLSA ( 03 01 01 HEX )`, or
/// of danekit, `OWNER TTL IN TLSA 3 1 1 HEX`.
fn parse_zone_line(line: &str) -> Option<ZoneRr> {
    let fields: Vec<&str> = line
        .split_whitespace()
        .filter(|f| *f != "(" && *f != ")")
        .collect();
    let (owner, rest) = fields.split_first()?;
    let type_at = rest.iter().position(|f| *f == "TLSA")?;
    let (params, data) = rest[type_at + 1..].split_at_checked(3)?;
    let [u, s, m] = params else { return None };
    if data.is_empty() {
        return None;
    }
    let rdata = normalise_rdata(
        u.parse().ok()?,
        s.parse().ok()?,
        m.parse().ok()?,
        &data.concat(),
    );
    Some((owner.to_string(), rdata))
}

/// One danetool input and the danekit input and options that hash the same certificate or key.
struct DanetoolCase {
    /// `--load-certificate FILE` or `--load-pubkey FILE`, plus `--inder` for DER.
    load: Vec<String>,
    danekit: Vec<String>,
    usages: &'static [u8],
    selectors: &'static [u8],
    port: u16,
    proto: &'static str,
}

fn check_danetool_cases(what: &str, cases: &[DanetoolCase]) {
    let Some(danetool) = require_tool("danetool", "gnutls-bin") else {
        return;
    };
    let mut mismatches = Vec::new();
    let mut checked = 0;
    let mut cache: HashMap<Vec<String>, DanetoolRun> = HashMap::new();
    for case in cases {
        let list = records_list(case.usages, case.selectors, &[1, 2]);
        let port = case.port.to_string();
        let records = records_arg(&list);
        let mut args: Vec<&str> = vec!["tlsa"];
        args.extend(case.danekit.iter().map(String::as_str));
        args.extend(["--host", HOST, "--port", &port, "--proto", case.proto]);
        args.extend(["--records", &records, "-o", "zone"]);
        let danekit_out = danekit_ok(&args);
        let danekit_line = describe("danekit", &args);
        let danekit_rrs: Vec<_> = danekit_out.lines().map(parse_zone_line).collect();
        if danekit_rrs.len() != list.len() || danekit_rrs.iter().any(Option::is_none) {
            mismatches.push(format!(
                "`{danekit_line}` did not print {} TLSA lines:\n{danekit_out}",
                list.len()
            ));
            continue;
        }
        for (&(u, s, m), danekit_rr) in list.iter().zip(danekit_rrs.into_iter().flatten()) {
            checked += 1;
            let mut dt_args: Vec<String> = ["--tlsa-rr", "--host", HOST, "--port", &port]
                .iter()
                .map(|a| a.to_string())
                .collect();
            dt_args.extend(["--proto".into(), case.proto.into()]);
            dt_args.extend(case.load.iter().cloned());
            dt_args.extend(danetool_usage_flags(u).iter().map(|a| a.to_string()));
            if s == 0 {
                dt_args.push("--x509".into());
            }
            dt_args.push("--hash".into());
            dt_args.push(if m == 1 { "sha256" } else { "sha512" }.into());
            let (dt_line, dt_rr) = cache
                .entry(dt_args.clone())
                .or_insert_with(|| {
                    let out = run(&danetool, &dt_args, None);
                    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                    let rr = stdout
                        .lines()
                        .find(|l| l.contains("TLSA"))
                        .and_then(parse_zone_line)
                        .filter(|_| out.status.success())
                        .ok_or_else(|| {
                            format!(
                                "{}\nstdout: {stdout}\nstderr: {}",
                                out.status,
                                String::from_utf8_lossy(&out.stderr)
                            )
                        });
                    (describe("danetool", &dt_args), rr)
                })
                .clone();
            match dt_rr {
                Ok(dt_rr) if dt_rr == danekit_rr => {}
                Ok((owner, rdata)) => mismatches.push(format!(
                    "{u} {s} {m}\n  `{dt_line}`:\n    {owner} {rdata}\n  `{danekit_line}`:\n    \
                     {} {}",
                    danekit_rr.0, danekit_rr.1
                )),
                Err(e) => mismatches.push(format!("`{dt_line}` gave no TLSA record: {e}")),
            }
        }
    }
    assert_no_mismatches(what, checked, &mismatches);
}

/// danetool hashes the certificate it loads (the first of the file) and sets the usage from
/// `--ca` and `--domain`. So the end-entity usages compare leaf files and chain files with the
/// same file in danekit, and the CA usages compare `int-ca.pem` with danekit's `--ca 1` of
/// each chain, `root-ca.pem` with `--ca root` of each full chain, and each CA certificate or
/// self-signed leaf with danekit's self-anchor of that file. danetool's matching types are
/// SHA2-256 and SHA2-512 only; it has no Full (0). It reads certificates only as PEM.
#[test]
fn danetool_tlsa_rr_matches_for_certificates() {
    let cert = |file: &str| {
        vec![
            "--load-certificate".to_string(),
            path_str(&pki(file)).into(),
        ]
    };
    let input = |file: &str, opts: &[&str]| {
        let mut v = vec![path_str(&pki(file)).to_string()];
        v.extend(opts.iter().map(|o| o.to_string()));
        v
    };
    let case = |load: Vec<String>, danekit: Vec<String>, usages: &'static [u8]| DanetoolCase {
        load,
        danekit,
        usages,
        selectors: &[0, 1],
        port: 443,
        proto: "tcp",
    };
    let mut cases = Vec::new();
    let mut end_entity: Vec<String> = ["selfsigned.pem", "expired.pem", "weak-rsa1024.pem"]
        .map(String::from)
        .to_vec();
    for k in LEAVES {
        end_entity.push(format!("leaf-{k}.pem"));
        end_entity.push(format!("leaf-{k}.chain.pem"));
        end_entity.push(format!("leaf-{k}.fullchain.pem"));
    }
    for file in &end_entity {
        cases.push(case(cert(file), input(file, &[]), &[3, 1]));
    }
    let mut intermediate_chains = vec!["expired.chain.pem".to_string()];
    intermediate_chains.push("weak-rsa1024.chain.pem".into());
    for k in LEAVES {
        intermediate_chains.push(format!("leaf-{k}.chain.pem"));
        intermediate_chains.push(format!("leaf-{k}.fullchain.pem"));
        let full = format!("leaf-{k}.fullchain.pem");
        cases.push(case(
            cert("root-ca.pem"),
            input(&full, &["--ca", "root"]),
            &[2, 0],
        ));
    }
    for chain in &intermediate_chains {
        cases.push(case(
            cert("int-ca.pem"),
            input(chain, &["--ca", "1"]),
            &[2, 0],
        ));
    }
    for file in ["root-ca.pem", "int-ca.pem", "selfsigned.pem"] {
        cases.push(case(cert(file), input(file, &[]), &[2, 0]));
    }
    for (port, proto) in [(25, "tcp"), (853, "udp"), (5061, "sctp"), (65535, "tcp")] {
        cases.push(DanetoolCase {
            load: cert("leaf-p256.pem"),
            danekit: input("leaf-p256.pem", &[]),
            usages: &[3],
            selectors: &[1],
            port,
            proto,
        });
    }
    check_danetool_cases("danetool --tlsa-rr on certificates", &cases);
}

/// danetool `--load-pubkey` on the SubjectPublicKeyInfo files (PEM, and DER with `--inder`):
/// selector 1 only, end-entity usages.
#[test]
fn danetool_tlsa_rr_matches_for_public_keys() {
    let mut cases = Vec::new();
    for k in LEAVES {
        for (file, der) in [
            (format!("leaf-{k}.pub.pem"), false),
            (format!("leaf-{k}.pub.der"), true),
        ] {
            let path = path_str(&pki(&file)).to_string();
            let mut load = vec!["--load-pubkey".to_string(), path.clone()];
            if der {
                load.push("--inder".into());
            }
            cases.push(DanetoolCase {
                load,
                danekit: vec![path],
                usages: &[3, 1],
                selectors: &[1],
                port: 443,
                proto: "tcp",
            });
        }
    }
    check_danetool_cases("danetool --tlsa-rr on public keys", &cases);
}
