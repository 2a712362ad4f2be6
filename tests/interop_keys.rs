//! Interoperability on a hostile key corpus: every file of `tests/fixtures/keys` (described in
//! its README.md, made by its make.sh) goes through `danekit tlsa` and through OpenSSL.
//!
//! The rule under test: when danekit exits 0, OpenSSL reads the file and every record equals
//! what OpenSSL computes from it; otherwise danekit exits 2 with exactly one line
//! `error: FILE: reason` on stderr (at most [`MAX_ERROR_CHARS`] characters besides the file
//! name, no parser debug text). It never panics. On top of the rule, the tables below give
//! per-file expectations: files that must give records, files that must be refused, and what
//! the refusal must say.
//!
//! What OpenSSL computes (RFC 6698 §2.1.2 and §2.1.3):
//! - private key: `openssl pkey -in F -pubout -outform DER`;
//! - public key: `openssl pkey -pubin -in F -outform DER`;
//! - CSR: `openssl req -in F -pubkey -noout | openssl pkey -pubin -outform DER`;
//! - certificate, selector 0: `openssl x509 -in F -outform DER`;
//! - certificate, selector 1: `openssl x509 -in F -pubkey -noout | openssl pkey -pubin
//!   -outform DER` when that equals the SubjectPublicKeyInfo as encoded in the certificate
//!   (found with `openssl asn1parse`). The two differ when the certificate's SPKI is not the
//!   canonical encoding of its key (an RSA key without the NULL parameter, a non-minimal
//!   INTEGER, BER). OpenSSL's own DANE matcher hashes
//!   `i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert))`: the certificate's AlgorithmIdentifier and
//!   BIT STRING written as DER again, not a re-encoding of the key. So for those certificates
//!   a real `openssl s_server` on 127.0.0.1 and `openssl s_client -dane_tlsa_rrdata` decide
//!   whether danekit's record matches (see `openssl_dane_hashes_the_certificate_spki_as_encoded`
//!   and tests/fixtures/keys/README.md);
//! - digests: `openssl dgst -sha256 -binary` and `-sha512`.
//!
//! Each category is one test; each collects every disagreement, with the command lines that
//! reproduce it, and prints a summary line per file (`cargo test --test interop_keys --
//! --nocapture` shows them). With `CI=true` a missing `openssl` fails the tests; without it they
//! print `skipped: …`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use support::interop::{
    ProcessGroup, TempDir, danekit_bin, describe, openssl_association, require_tool, run,
    start_server, wait_for_listener,
};

/// The longest acceptable error line, not counting the file name in it.
const MAX_ERROR_CHARS: usize = 300;

/// Text that only a parser's `Debug` output contains.
const DEBUG_TEXT: [&str; 4] = ["Der(", "NomError", "UnexpectedTag {", "Eof"];

/// What OpenSSL is asked to read a file as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cert,
    Csr,
    Private,
    Public,
    /// Not meant as an input: OpenSSL tries certificate, CSR, private key, public key.
    Any,
}

/// What a file must give on top of the rule.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Only the rule: records equal to OpenSSL's, or a refusal.
    Rule,
    /// Records equal to OpenSSL's; OpenSSL must read the file.
    Equal,
    /// Records equal to OpenSSL's when OpenSSL reads the file, else a refusal.
    EqualIfOpensslReads,
    /// A refusal.
    Refused,
    /// A refusal whose message, without the file name, contains one of the words as written.
    RefusedNaming(&'static [&'static str]),
    /// Records equal to OpenSSL's and a `warning:` line containing one of the words.
    EqualWithWarning(&'static [&'static str]),
    /// A form OpenSSL 3.0 does not read (PKCS#8 v2, RFC 5958) holding the same key as another
    /// corpus file: records equal to OpenSSL's for that file's public key.
    SameKeyAs(&'static str),
}

/// One line of an expectation table: every corpus file whose name matches `pattern` (`*`
/// matches any text; the first matching row wins).
struct Row {
    pattern: &'static str,
    kind: Kind,
    expect: Expect,
}

const fn row(pattern: &'static str, kind: Kind, expect: Expect) -> Row {
    Row {
        pattern,
        kind,
        expect,
    }
}

use Expect::{
    Equal, EqualIfOpensslReads, EqualWithWarning, Refused, RefusedNaming, Rule, SameKeyAs,
};
use Kind::{Any, Cert, Csr, Private, Public};

/// RSA, RSA-PSS, NIST-curve EC and EdDSA in every usual encoding: all must give records.
const NORMAL: &[Row] = &[
    row("*.crt.*", Cert, Equal),
    row("*.crt-compressed.*", Cert, Equal),
    row("*.csr.*", Csr, Equal),
    row("*.csr-compressed.*", Csr, Equal),
    row("*.spki.*", Public, Equal),
    row("*.spki-compressed.*", Public, Equal),
    row("rsa-*.pkcs1pub.*", Public, Equal),
    row("rsa-*", Private, Equal),
    row("pss-*", Private, Equal),
    row("ec-*", Private, Equal),
    // danekit derives no Ed448 public key (no well-kept crate does it) and says so.
    row("ed-448.p8.*", Private, RefusedNaming(&["Ed448"])),
    row("ed-*", Private, Equal),
];

/// secp256k1, Brainpool, prime239v1, a binary curve and SM2: OpenSSL reads them all.
const CURVES: &[Row] = &[
    row("curve-*.crt.*", Cert, Rule),
    row("curve-*.csr.*", Csr, Rule),
    row("curve-*.spki.*", Public, Rule),
    row("curve-*", Private, Rule),
];

/// Explicit EC parameters. For P-256, P-384 and P-521 either the records of OpenSSL (which
/// keeps the parameters explicit) or a refusal is acceptable.
const EXPLICIT: &[Row] = &[
    row("explicit-*.crt.*", Cert, Rule),
    row("explicit-*.csr.*", Csr, Rule),
    row("explicit-*.spki.*", Public, Rule),
    row("explicit-*", Private, Rule),
];

/// BER where DER is required: the canonical records of OpenSSL, or a refusal.
const BER: &[Row] = &[
    row("ber-crt-*", Cert, Rule),
    row("ber-csr-*", Csr, Rule),
    row("ber-spki-*", Public, Rule),
    row("ber-*", Private, Rule),
];

const RSA_ODD: &[Row] = &[
    // The issue being fixed: a PKCS#8 RSA key without the NULL parameter is an ordinary key.
    row("rsaodd-p8-nonull.*", Private, Equal),
    row("rsaodd-crt-*", Cert, Rule),
    row("rsaodd-csr-*", Csr, Rule),
    row("rsaodd-spki-*", Public, Rule),
    row("rsaodd-pkcs1pub-*", Public, Rule),
    row("rsaodd-*", Private, Rule),
];

/// PKCS#8 whose outer and inner curves differ, and EC keys that name no curve.
const EC_CURVE: &[Row] = &[
    row("ecodd-mismatch-*", Private, Refused),
    row("ecodd-nocurve-spki-*", Public, Refused),
    row("ecodd-nocurve-*", Private, Refused),
    row("ecodd-inner-only-*", Private, Rule),
    row("ecodd-both-*", Private, Rule),
];

/// Public points that are not valid encodings of a point on the named curve.
const EC_POINTS: &[Row] = &[
    row("ecodd-point-*.crt.*", Cert, Refused),
    row("ecodd-point-*.spki.*", Public, Refused),
    row("ecodd-point-*", Private, Refused),
];

/// EC private keys without their public key: OpenSSL computes it.
const EC_NOPUB: &[Row] = &[
    row("ecodd-nopub-*-p256.*", Private, Equal),
    row("ecodd-nopub-*-p384.*", Private, Equal),
    row("ecodd-nopub-*-p521.*", Private, Equal),
    row("ecodd-nopub-*", Private, Rule),
];

const EC_OTHER: &[Row] = &[
    row(
        "ecodd-p8-v2-pub.der",
        Private,
        SameKeyAs("ec-p256.spki.der"),
    ),
    row("ecodd-spki-*", Public, Rule),
    row("ecodd-*", Private, Rule),
];

const ED_ODD: &[Row] = &[
    row(
        "edodd-p8-ed25519-v2.der",
        Private,
        SameKeyAs("ed-25519.spki.der"),
    ),
    row("edodd-crt-*", Cert, Rule),
    row("edodd-spki-*", Public, Rule),
    row("edodd-*", Private, Rule),
];

/// Certificates whose validity is malformed: nothing a TLSA record is made of.
const DATES: &[Row] = &[row("date-*", Cert, EqualIfOpensslReads)];

const ENCRYPTED_WORDS: &[&str] = &["encrypted", "could not be checked", "not checked"];
const LIMIT_WORDS: &[&str] = &["100"];

const BUNDLES: &[Row] = &[
    row("bundle-haproxy-*", Cert, EqualWithWarning(ENCRYPTED_WORDS)),
    row("bundle-crt-100.pem", Cert, Equal),
    row("bundle-crt-101.pem", Cert, RefusedNaming(LIMIT_WORDS)),
    row("bundle-crt-150.pem", Cert, RefusedNaming(LIMIT_WORDS)),
    row("bundle-crt-key-mismatch.pem", Cert, Rule),
    row("bundle-*", Cert, Equal),
    row("pem-*", Cert, Equal),
];

const NOT_INPUTS: &[Row] = &[
    row(
        "notinput-pkcs12*",
        Any,
        RefusedNaming(&["PKCS#12", "PKCS12", "PFX"]),
    ),
    row("notinput-crl.*", Any, RefusedNaming(&["CRL"])),
    row("notinput-dsa.*", Any, RefusedNaming(&["DSA"])),
    row(
        "notinput-dh.*",
        Any,
        RefusedNaming(&["DH", "Diffie-Hellman"]),
    ),
    row(
        "notinput-dhx.*",
        Any,
        RefusedNaming(&["DH", "Diffie-Hellman"]),
    ),
    row("notinput-x25519.*", Any, RefusedNaming(&["X25519"])),
    row("notinput-x448.*", Any, RefusedNaming(&["X448"])),
    row("notinput-ecparams-*", Any, Refused),
    row("notinput-pkcs7.*", Any, Refused),
    // A certificate is an input, whatever its key: TLSA records of a DSA certificate exist.
    row("otheralg-*", Cert, Rule),
];

const TABLES: &[(&str, &[Row])] = &[
    ("normal", NORMAL),
    ("curves", CURVES),
    ("explicit", EXPLICIT),
    ("ber", BER),
    ("rsa-odd", RSA_ODD),
    ("ec-curve", EC_CURVE),
    ("ec-points", EC_POINTS),
    ("ec-nopub", EC_NOPUB),
    ("ec-other", EC_OTHER),
    ("ed-odd", ED_ODD),
    ("dates", DATES),
    ("bundles", BUNDLES),
    ("not-inputs", NOT_INPUTS),
];

/// Which file names each table covers (a file belongs to exactly one table).
fn table_covers(table: &str, name: &str) -> bool {
    let prefixes: &[&str] = match table {
        "normal" => &["rsa-", "pss-", "ec-", "ed-"],
        "curves" => &["curve-"],
        "explicit" => &["explicit-"],
        "ber" => &["ber-"],
        "rsa-odd" => &["rsaodd-"],
        "ec-curve" => &[
            "ecodd-mismatch-",
            "ecodd-nocurve-",
            "ecodd-inner-only-",
            "ecodd-both-",
        ],
        "ec-points" => &["ecodd-point-"],
        "ec-nopub" => &["ecodd-nopub-"],
        "ec-other" => &[
            "ecodd-short-",
            "ecodd-pub-",
            "ecodd-sec1-",
            "ecodd-spki-",
            "ecodd-p8-",
        ],
        "ed-odd" => &["edodd-"],
        "dates" => &["date-"],
        "bundles" => &["bundle-", "pem-"],
        "not-inputs" => &["notinput-", "otheralg-"],
        other => panic!("no table {other}"),
    };
    prefixes.iter().any(|p| name.starts_with(p))
}

/// The keys of the certificates whose SPKI `openssl x509 -pubkey` re-encodes differently, for
/// the `openssl s_server` that lets libssl's DANE matcher judge danekit's record.
const LIVE_KEYS: &[(&str, &str)] = &[
    ("rsaodd-crt-nonull.der", "rsa-2048.p8.pem"),
    ("rsaodd-crt-nonull.pem", "rsa-2048.p8.pem"),
    ("rsaodd-crt-n-zero.der", "rsa-2048.p8.pem"),
    ("ber-crt-rsa2048-spki-inner-len.der", "rsa-2048.p8.pem"),
    ("ber-crt-p256-spki-len.der", "ec-p256.p8.pem"),
    ("ber-crt-p256-spki-indef.der", "ec-p256.p8.pem"),
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys")
}

/// The corpus files, sorted, without README.md and make.sh.
fn corpus_files() -> Vec<String> {
    let dir = corpus_dir();
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .into_string()
                .expect("UTF-8 file name")
        })
        .filter(|n| n != "README.md" && n != "make.sh")
        .collect();
    names.sort();
    names
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len())
                    .filter(|&i| name.is_char_boundary(head.len() + i))
                    .any(|i| glob(tail, &name[head.len() + i..]))
        }
    }
}

fn find_row<'a>(rows: &'a [Row], name: &str) -> Option<&'a Row> {
    rows.iter().find(|r| glob(r.pattern, name))
}

// ------------------------------------------------------------------------ OpenSSL's answer

/// Runs openssl; `Err` holds the command line and the last line of its stderr.
fn openssl_run(openssl: &Path, args: &[&str], stdin: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let out = run(openssl, args, stdin);
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty());
        Err(format!(
            "`{}` failed: {}",
            describe(openssl, args),
            last.unwrap_or("(no message)")
        ))
    }
}

/// What OpenSSL makes of one file.
#[derive(Default)]
struct Oracle {
    /// What OpenSSL read the file as; `None` when it read nothing.
    read_as: Option<Kind>,
    /// Selector 1, when OpenSSL's tools agree on it.
    spki: Option<Vec<u8>>,
    /// For a certificate whose SPKI as encoded differs from `openssl x509 -pubkey`'s
    /// re-encoding: (the re-encoding, the SPKI as encoded or `None`). libssl decides.
    disputed: Option<(Vec<u8>, Option<Vec<u8>>)>,
    /// Selector 0 of a certificate.
    cert: Option<Vec<u8>>,
    /// The commands run, for the failure message.
    commands: Vec<String>,
    /// Why OpenSSL read nothing.
    failures: Vec<String>,
}

fn inform(path: &Path) -> &'static str {
    let bytes = fs::read(path).unwrap_or_default();
    let head = &bytes[..bytes.len().min(64 * 1024)];
    if head.windows(11).any(|w| w == b"-----BEGIN ") {
        "PEM"
    } else {
        "DER"
    }
}

/// The SubjectPublicKeyInfo as encoded in a DER certificate, located by `openssl asn1parse`:
/// the sixth element of tbsCertificate after the optional `[0]` version.
fn spki_as_encoded(openssl: &Path, cert_der: &[u8]) -> Option<Vec<u8>> {
    let listing = openssl_run(openssl, &["asn1parse", "-inform", "DER"], Some(cert_der)).ok()?;
    let text = String::from_utf8_lossy(&listing);
    // "   4:d=1  hl=4 l= 412 cons: SEQUENCE"
    let parse = |line: &str| -> Option<(usize, usize, usize, Option<usize>, bool)> {
        let (offset, rest) = line.trim_start().split_once(':')?;
        let depth = rest.strip_prefix("d=")?.split_whitespace().next()?;
        let hl = rest.split("hl=").nth(1)?.split_whitespace().next()?;
        let len = rest.split(" l=").nth(1)?.split_whitespace().next()?;
        Some((
            offset.parse().ok()?,
            depth.parse().ok()?,
            hl.parse().ok()?,
            len.parse().ok(),
            rest.contains("cont [ 0 ]"),
        ))
    };
    let mut in_tbs = false;
    let mut children = Vec::new();
    for line in text.lines() {
        let (offset, depth, hl, len, is_version) = parse(line)?;
        match depth {
            1 if in_tbs => break,
            1 => in_tbs = true,
            2 if in_tbs => children.push((offset, hl, len, is_version)),
            _ => {}
        }
    }
    let skip = usize::from(children.first().is_some_and(|c| c.3));
    let &(offset, hl, len, _) = children.get(skip + 5)?;
    cert_der.get(offset..offset + hl + len?).map(<[u8]>::to_vec)
}

fn ask_openssl(openssl: &Path, path: &Path, kind: Kind) -> Oracle {
    let file = path.to_str().expect("UTF-8 path");
    let form = inform(path);
    let mut o = Oracle::default();
    let kinds: &[Kind] = match kind {
        Any => &[Cert, Csr, Private, Public],
        Cert => &[Cert],
        Csr => &[Csr],
        Private => &[Private],
        Public => &[Public],
    };
    for &k in kinds {
        let mut cmds = Vec::new();
        let result = (|| -> Result<(), String> {
            match k {
                Cert => {
                    let der_args = ["x509", "-in", file, "-inform", form, "-outform", "DER"];
                    cmds.push(describe(openssl, &der_args));
                    let der = openssl_run(openssl, &der_args, None)?;
                    let pub_args = ["x509", "-in", file, "-inform", form, "-pubkey", "-noout"];
                    cmds.push(format!(
                        "{} | openssl pkey -pubin -outform DER",
                        describe(openssl, &pub_args)
                    ));
                    let pem = openssl_run(openssl, &pub_args, None)?;
                    let spki =
                        openssl_run(openssl, &["pkey", "-pubin", "-outform", "DER"], Some(&pem))?;
                    cmds.push(format!(
                        "{} | openssl asn1parse -inform DER   (the SPKI as encoded)",
                        describe(openssl, &der_args)
                    ));
                    let encoded = spki_as_encoded(openssl, &der);
                    if encoded.as_deref() == Some(spki.as_slice()) {
                        o.spki = Some(spki);
                    } else {
                        o.disputed = Some((spki, encoded));
                    }
                    o.cert = Some(der);
                }
                Csr => {
                    let args = ["req", "-in", file, "-inform", form, "-pubkey", "-noout"];
                    cmds.push(format!(
                        "{} | openssl pkey -pubin -outform DER",
                        describe(openssl, &args)
                    ));
                    let pem = openssl_run(openssl, &args, None)?;
                    o.spki = Some(openssl_run(
                        openssl,
                        &["pkey", "-pubin", "-outform", "DER"],
                        Some(&pem),
                    )?);
                }
                Private => {
                    let args = [
                        "pkey",
                        "-in",
                        file,
                        "-inform",
                        form,
                        "-passin",
                        "pass:danekit",
                        "-pubout",
                        "-outform",
                        "DER",
                    ];
                    cmds.push(describe(openssl, &args));
                    o.spki = Some(openssl_run(openssl, &args, None)?);
                }
                Public | Any => {
                    let args = [
                        "pkey", "-pubin", "-in", file, "-inform", form, "-outform", "DER",
                    ];
                    cmds.push(describe(openssl, &args));
                    o.spki = Some(openssl_run(openssl, &args, None)?);
                }
            }
            Ok(())
        })();
        o.commands.extend(cmds);
        match result {
            Ok(()) => {
                o.read_as = Some(k);
                return o;
            }
            Err(e) => {
                o.failures.push(e);
                o.spki = None;
                o.disputed = None;
                o.cert = None;
            }
        }
    }
    o
}

// ------------------------------------------------------------------------ danekit's answer

struct DanekitRun {
    line: String,
    out: Output,
}

impl DanekitRun {
    fn new(args: &[&str]) -> Self {
        DanekitRun {
            line: describe("danekit", args),
            out: run(danekit_bin(), args, None),
        }
    }

    fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// `(usage, selector, matching, lower-case hex)` of each printed record.
    fn records(&self) -> Vec<(String, String)> {
        self.stdout()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                match f.as_slice() {
                    [u, s, m, data] => (format!("{u} {s} {m}"), data.to_ascii_lowercase()),
                    _ => (l.to_string(), String::new()),
                }
            })
            .collect()
    }
}

/// Problems with a refusal: the exit code and the one `error:` line.
fn check_refusal(r: &DanekitRun, file: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if r.code() != Some(2) {
        problems.push(format!(
            "ended with {} instead of exit status 2",
            r.out.status
        ));
    }
    let stderr = r.stderr();
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let [line] = lines.as_slice() else {
        problems.push(format!(
            "{} lines on stderr instead of one:\n{stderr}",
            lines.len()
        ));
        return problems;
    };
    if !line.starts_with("error: ") {
        problems.push(format!("stderr does not start with `error: `: {line}"));
    }
    if !line.contains(file) {
        problems.push(format!("the error does not name the file: {line}"));
    }
    if let Some(d) = DEBUG_TEXT.iter().find(|d| line.contains(*d)) {
        problems.push(format!("the error holds parser debug text `{d}`: {line}"));
    }
    let chars = line.replace(file, "FILE").chars().count();
    if chars > MAX_ERROR_CHARS {
        problems.push(format!(
            "the error is {chars} characters long (more than {MAX_ERROR_CHARS}): {line}"
        ));
    }
    problems
}

/// What danekit did with one file, for the summary and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Equal,
    Refused,
    /// Records that differ from OpenSSL's.
    WrongRecord,
    /// Records for a file OpenSSL cannot read.
    RecordOpensslRefuses,
    Panic,
    OtherExit,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Equal => "equal",
            Outcome::Refused => "refused",
            Outcome::WrongRecord => "WRONG RECORD",
            Outcome::RecordOpensslRefuses => "WRONG RECORD (openssl cannot read it)",
            Outcome::Panic => "PANIC",
            Outcome::OtherExit => "OTHER EXIT",
        }
    }
}

/// Starts `openssl s_server` with `cert` and `key` on 127.0.0.1 and asks `openssl s_client`
/// whether the TLSA record `rrdata` matches the certificate it is sent (DANE-EE, names not
/// checked, RFC 7671 §5.1).
fn libssl_dane_matches(
    openssl: &Path,
    cert: &Path,
    key: &Path,
    rrdata: &str,
) -> Result<bool, String> {
    // An address and port of the test's own (no bind-release-rebind race); a server that
    // cannot bind exits, and start_server tries another slot.
    let (_server, accept) = start_server("openssl s_server", 1, |slot| {
        let accept = slot.socket(0);
        let mut cmd = Command::new(openssl);
        // Two connections: the readiness probe, then s_client.
        cmd.args(["s_server", "-accept", &accept, "-naccept", "2", "-quiet"])
            .args(["-cert", cert.to_str().expect("UTF-8 path")])
            .args(["-certform", inform(cert)])
            .args(["-key", key.to_str().expect("UTF-8 path")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut server = ProcessGroup::spawn(cmd).map_err(|e| format!("starting s_server: {e}"))?;
        let up = wait_for_listener(slot.addr, slot.ports[0], Duration::from_secs(10));
        match (up, server.try_wait()) {
            (true, None) => Ok((server, accept)),
            (_, status) => Err(format!(
                "openssl s_server -cert {} -key {} did not start ({status:?})",
                cert.display(),
                key.display()
            )),
        }
    });
    let connect = accept.clone();
    let args = [
        "s_client",
        "-connect",
        &connect,
        "-dane_tlsa_domain",
        "danekit.test",
        "-dane_tlsa_rrdata",
        rrdata,
        "-dane_ee_no_namechecks",
        "-verify_return_error",
        "-brief",
    ];
    let out = run(openssl, &args, Some(b""));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.status.success() && text.contains("matched EE certificate"))
}

/// One record of `--records`: its parameters and the association data OpenSSL gives for it,
/// `None` when libssl must judge (a disputed certificate SPKI).
type Expected = (String, Option<String>);

/// The records OpenSSL computes for `list`, in order.
fn expected_records(openssl: &Path, o: &Oracle, list: &[&str]) -> Vec<Expected> {
    list.iter()
        .map(|p| {
            let selected = match (p.as_bytes()[2], &o.spki, &o.cert) {
                (b'0', _, Some(cert)) => Some(cert),
                (b'1', Some(spki), _) => Some(spki),
                _ => None,
            };
            let matching = if p.ends_with('2') { 2 } else { 1 };
            let data = selected.map(|s| openssl_association(openssl, s, matching));
            (p.to_string(), data)
        })
        .collect()
}

/// Checks exit codes and error lines of both runs; returns the outcome so far.
fn check_exits(runs: [&DanekitRun; 2], file: &str, problems: &mut Vec<String>) -> Outcome {
    let mut outcome = Outcome::Equal;
    for d in runs {
        match d.code() {
            Some(0) => {}
            Some(2) => {
                outcome = Outcome::Refused;
                let found = check_refusal(d, file);
                problems.extend(found.into_iter().map(|p| format!("`{}`: {p}", d.line)));
            }
            Some(101) => {
                outcome = Outcome::Panic;
                problems.push(format!("`{}` panicked:\n{}", d.line, d.stderr()));
            }
            _ => {
                outcome = Outcome::OtherExit;
                problems.push(format!(
                    "`{}` ended with {} (only 0 and 2 are allowed):\n{}",
                    d.line,
                    d.out.status,
                    d.stderr()
                ));
            }
        }
    }
    let [plain, full] = runs;
    if plain.code() != full.code() {
        problems.push(format!(
            "`{}` exits with {:?} but `{}` with {:?}",
            plain.line,
            plain.code(),
            full.line,
            full.code()
        ));
    }
    outcome
}

/// Asks libssl about one disputed record; returns a problem when it does not match.
fn judge_by_libssl(
    openssl: &Path,
    name: &str,
    o: &Oracle,
    params: &str,
    data: &str,
) -> Option<String> {
    let rrdata = format!("{params} {data}");
    let Some((_, key)) = LIVE_KEYS.iter().find(|(c, _)| *c == name) else {
        return Some(format!(
            "the certificate's SPKI as encoded differs from `openssl x509 -pubkey`; add its \
             key to LIVE_KEYS so that libssl can judge `{rrdata}`"
        ));
    };
    let path = corpus_dir().join(name);
    match libssl_dane_matches(openssl, &path, &corpus_dir().join(key), &rrdata) {
        Ok(true) => None,
        Ok(false) => {
            let reencoded = o.disputed.as_ref().map(|(r, _)| r.as_slice());
            let matching = if params.ends_with('2') { 2 } else { 1 };
            let via_pkey = reencoded.map(|r| openssl_association(openssl, r, matching));
            Some(format!(
                "libssl's DANE matcher (openssl s_server + s_client -dane_tlsa_rrdata) does not \
                 match `{rrdata}`; `openssl x509 -pubkey | openssl pkey -pubin -outform DER` \
                 gives {params} {}",
                via_pkey.unwrap_or_default()
            ))
        }
        Err(e) => Some(format!("cannot ask libssl about `{rrdata}`: {e}")),
    }
}

/// Compares the records of a successful run with OpenSSL's; returns the problems.
fn compare_records(
    openssl: &Path,
    name: &str,
    o: &Oracle,
    read_as: Kind,
    list: &[&str],
    full: &DanekitRun,
) -> Vec<String> {
    let got = full.records();
    let want = expected_records(openssl, o, list);
    let mut problems = Vec::new();
    let mut wrong = got.len() != want.len();
    for ((params, data), (want_params, want_data)) in got.iter().zip(&want) {
        if params != want_params {
            wrong = true;
            continue;
        }
        match want_data {
            Some(w) => wrong |= data != w,
            None => {
                if let Some(p) = judge_by_libssl(openssl, name, o, params, data) {
                    problems.push(p);
                    wrong = true;
                }
            }
        }
    }
    if wrong {
        let show = |v: Vec<(&str, &str)>| {
            v.iter()
                .map(|(p, d)| format!("    {p} {d}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let got = show(got.iter().map(|(p, d)| (p.as_str(), d.as_str())).collect());
        let want = show(
            want.iter()
                .map(|(p, d)| (p.as_str(), d.as_deref().unwrap_or("(libssl judges)")))
                .collect(),
        );
        problems.push(format!(
            "WRONG RECORD: `{}` printed\n{got}\n  OpenSSL (read as {read_as:?}) computes\n{want}\n  \
             with `openssl dgst -sha256|-sha512 -binary` over the output of\n    {}",
            full.line,
            o.commands.join("\n    ")
        ));
    }
    problems
}

/// Checks the expectation of the table row; returns the problems.
fn check_expectation(expect: Expect, o: &Oracle, file: &str, full: &DanekitRun) -> Vec<String> {
    let refused = full.code() == Some(2);
    let succeeded = full.code() == Some(0);
    let stderr = full.stderr();
    let error = stderr.trim();
    let line = &full.line;
    let openssl_reads = o.read_as.is_some();
    let unread = || format!(" (OpenSSL cannot read it: {})", o.failures.join("; "));
    let problem = match expect {
        Rule => None,
        Equal if !openssl_reads => Some(format!(
            "the table says Equal, but OpenSSL cannot read the file: {}",
            o.failures.join("; ")
        )),
        Equal | SameKeyAs(_) if !succeeded => Some(format!(
            "must give OpenSSL's records, but `{line}` refuses it: {error}"
        )),
        EqualIfOpensslReads if openssl_reads && !succeeded => Some(format!(
            "OpenSSL reads it, so it must give OpenSSL's records, but `{line}` refuses it: \
             {error}"
        )),
        EqualIfOpensslReads if !openssl_reads && !refused => {
            Some(format!("must be refused{}", unread()))
        }
        Refused if !refused => Some(format!(
            "must be refused (exit status 2), but `{line}` ended with {}{}",
            full.out.status,
            if openssl_reads {
                String::new()
            } else {
                unread()
            }
        )),
        RefusedNaming(words) if !refused => Some(format!(
            "must be refused with a message naming it ({}), but `{line}` ended with {}",
            words.join(" or "),
            full.out.status
        )),
        RefusedNaming(words) if !names_any(&error.replace(file, "FILE"), words) => Some(format!(
            "the refusal must name what the input is ({}): {error}",
            words.join(" or ")
        )),
        EqualWithWarning(words) if !succeeded => Some(format!(
            "must give the certificate's records with a warning ({}), but `{line}` refuses \
             it: {error}",
            words.join(" or ")
        )),
        EqualWithWarning(words)
            if !stderr
                .lines()
                .any(|l| l.starts_with("warning:") && contains_any(l, words)) =>
        {
            Some(format!(
                "no `warning:` line mentioning {} on stderr of `{line}`:\n{stderr}",
                words.join(" or ")
            ))
        }
        _ => None,
    };
    problem.into_iter().collect()
}

/// Checks one file; returns its outcome and every problem found.
fn check_file(openssl: &Path, name: &str, r: &Row) -> (Outcome, Vec<String>) {
    let path = corpus_dir().join(name);
    let file = path.to_str().expect("UTF-8 path");
    let o = match r.expect {
        SameKeyAs(other) => ask_openssl(openssl, &corpus_dir().join(other), Public),
        _ => ask_openssl(openssl, &path, r.kind),
    };
    let is_cert = o.read_as == Some(Cert) || (o.read_as.is_none() && r.kind == Cert);
    let list: &[&str] = if is_cert {
        &["3 1 1", "3 1 2", "3 0 1"]
    } else {
        &["3 1 1", "3 1 2"]
    };
    let records = list.join(",");
    let plain = DanekitRun::new(&["tlsa", file]);
    let full = DanekitRun::new(&["tlsa", file, "--records", &records]);
    let mut problems = Vec::new();
    let mut outcome = check_exits([&plain, &full], file, &mut problems);
    if plain.code() == Some(0) && full.code() == Some(0) {
        match o.read_as {
            None => {
                outcome = Outcome::RecordOpensslRefuses;
                problems.push(format!(
                    "WRONG RECORD: danekit gives records for a file OpenSSL cannot read:\n  \
                     {}\n  {}",
                    full.line,
                    o.failures.join("\n  ")
                ));
            }
            Some(read_as) => {
                let found = compare_records(openssl, name, &o, read_as, list, &full);
                if !found.is_empty() {
                    outcome = Outcome::WrongRecord;
                }
                problems.extend(found);
            }
        }
        let first = plain.records();
        if first.len() != 1 || full.records().first() != first.first() {
            problems.push(format!(
                "`{}` printed {first:?}, not the first record of `{}`",
                plain.line, full.line
            ));
        }
    }
    problems.extend(check_expectation(r.expect, &o, file, &full));
    (outcome, problems)
}

/// True when `text` contains one of `words`, as written (so that "DH" is not found in
/// "width").
fn names_any(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| text.contains(w))
}

/// True when `text` contains one of `words`, ASCII case ignored.
fn contains_any(text: &str, words: &[&str]) -> bool {
    let text = text.to_ascii_lowercase();
    words.iter().any(|w| text.contains(&w.to_ascii_lowercase()))
}

/// Checks every corpus file that `table` covers and panics with every problem.
fn check_table(table: &str) {
    let Some(openssl) = require_tool("openssl", "openssl") else {
        return;
    };
    let rows = TABLES
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, rows)| *rows)
        .expect("table");
    let files: Vec<String> = corpus_files()
        .into_iter()
        .filter(|n| table_covers(table, n))
        .collect();
    assert!(!files.is_empty(), "{table}: no corpus file");
    let mut failures = Vec::new();
    let mut summary = String::new();
    for name in &files {
        let Some(r) = find_row(rows, name) else {
            failures.push(format!("{name}: no row of the {table} table matches it"));
            continue;
        };
        let (outcome, problems) = check_file(&openssl, name, r);
        summary.push_str(&format!(
            "{table:10} {name:48} {:38} {:4} {:?}\n",
            outcome.as_str(),
            if problems.is_empty() { "ok" } else { "FAIL" },
            r.expect
        ));
        if !problems.is_empty() {
            failures.push(format!(
                "{name} ({:?}, expected {:?}):\n  {}",
                r.kind,
                r.expect,
                problems.join("\n  ")
            ));
        }
    }
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(summary.as_bytes());
    drop(err);
    assert!(
        failures.is_empty(),
        "{table}: {} of {} files disagree with OpenSSL or with the table \
         (tests/fixtures/keys/README.md says what each file is):\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn normal_keys_csrs_and_certificates_equal_openssl() {
    check_table("normal");
}

#[test]
fn other_curves_equal_openssl_or_are_refused() {
    check_table("curves");
}

#[test]
fn explicit_ec_parameters_equal_openssl_or_are_refused() {
    check_table("explicit");
}

#[test]
fn ber_encodings_equal_canonical_openssl_or_are_refused() {
    check_table("ber");
}

#[test]
fn odd_rsa_encodings() {
    check_table("rsa-odd");
}

#[test]
fn ec_curve_mismatch_and_missing_curve_are_refused() {
    check_table("ec-curve");
}

#[test]
fn ec_points_off_the_curve_or_badly_encoded_are_refused() {
    check_table("ec-points");
}

#[test]
fn ec_private_keys_without_public_key_equal_openssl() {
    check_table("ec-nopub");
}

#[test]
fn other_odd_ec_keys() {
    check_table("ec-other");
}

#[test]
fn odd_eddsa_keys() {
    check_table("ed-odd");
}

#[test]
fn malformed_validity_dates_do_not_matter() {
    check_table("dates");
}

#[test]
fn bundles_and_pem_oddities() {
    check_table("bundles");
}

#[test]
fn things_that_are_not_inputs_are_refused_by_name() {
    check_table("not-inputs");
}

/// Every corpus file has exactly one table and a row in it, every row matches a file, every
/// file of LIVE_KEYS exists, and the README describes every file.
#[test]
fn corpus_and_tables_agree() {
    let files = corpus_files();
    let readme = fs::read_to_string(corpus_dir().join("README.md")).expect("README.md");
    let mut problems = Vec::new();
    for name in &files {
        let tables: Vec<&str> = TABLES
            .iter()
            .map(|(t, _)| *t)
            .filter(|t| table_covers(t, name))
            .collect();
        match tables.as_slice() {
            [t] => {
                let rows = TABLES.iter().find(|(n, _)| n == t).expect("table").1;
                if find_row(rows, name).is_none() {
                    problems.push(format!("{name}: no row of table {t} matches"));
                }
            }
            _ => problems.push(format!("{name}: covered by tables {tables:?}, not one")),
        }
        if !readme.contains(&format!("`{name}`")) {
            problems.push(format!("{name}: not described in README.md"));
        }
    }
    for (table, rows) in TABLES {
        for r in *rows {
            let used = files
                .iter()
                .filter(|n| table_covers(table, n))
                .any(|n| find_row(rows, n).is_some_and(|first| std::ptr::eq(first, r)));
            if !used {
                problems.push(format!(
                    "table {table}: row `{}` matches no file",
                    r.pattern
                ));
            }
        }
    }
    for (cert, key) in LIVE_KEYS {
        for f in [cert, key] {
            if !files.iter().any(|n| n == f) {
                problems.push(format!("LIVE_KEYS names {f}, which is not in the corpus"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Why certificates are judged by libssl when `openssl x509 -pubkey` re-encodes their SPKI:
/// for an RSA certificate whose AlgorithmIdentifier lacks the NULL parameter, OpenSSL's DANE
/// matcher accepts the SHA-256 of the SPKI as encoded in the certificate and rejects the
/// SHA-256 of `openssl x509 -pubkey | openssl pkey -pubin -outform DER` (which adds the NULL).
#[test]
fn openssl_dane_hashes_the_certificate_spki_as_encoded() {
    let Some(openssl) = require_tool("openssl", "openssl") else {
        return;
    };
    let cert = corpus_dir().join("rsaodd-crt-nonull.pem");
    let key = corpus_dir().join("rsa-2048.p8.pem");
    let o = ask_openssl(&openssl, &cert, Cert);
    let Some((reencoded, Some(encoded))) = &o.disputed else {
        panic!("OpenSSL's tools agree on the SPKI of {}", cert.display());
    };
    let as_encoded = format!("3 1 1 {}", openssl_association(&openssl, encoded, 1));
    let via_pkey = format!("3 1 1 {}", openssl_association(&openssl, reencoded, 1));
    assert_eq!(
        libssl_dane_matches(&openssl, &cert, &key, &as_encoded),
        Ok(true),
        "libssl should match the SPKI as encoded: {as_encoded}"
    );
    assert_eq!(
        libssl_dane_matches(&openssl, &cert, &key, &via_pkey),
        Ok(false),
        "libssl should not match the re-encoded SPKI: {via_pkey}"
    );
}

/// Inputs are read under a 16 MiB cap: 20 MB of zeros and 20 MB of PEM-looking text are
/// refused as too large, a certificate padded to just under the cap still gives its records,
/// and the same padded to just over it is refused.
#[test]
fn oversized_inputs_are_refused_as_too_large() {
    let Some(openssl) = require_tool("openssl", "openssl") else {
        return;
    };
    const MIB: usize = 1024 * 1024;
    let scratch = TempDir::new("keys-size");
    let cert_pem = fs::read(corpus_dir().join("rsa-2048.crt.pem")).expect("certificate");
    let mut pem_text = b"-----BEGIN CERTIFICATE-----\n".to_vec();
    while pem_text.len() < 20 * MIB {
        pem_text.extend_from_slice(&[b'A'; 64]);
        pem_text.push(b'\n');
    }
    pem_text.extend_from_slice(b"-----END CERTIFICATE-----\n");
    let padded = |len: usize| {
        let mut v = cert_pem.clone();
        v.resize(len, b'\n');
        v
    };
    // (file, content, must succeed)
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("zeros-20MB.der", vec![0u8; 20_000_000], false),
        ("text-20MB.pem", pem_text, false),
        ("cert-under-cap.pem", padded(16 * MIB - 4096), true),
        ("cert-over-cap.pem", padded(16 * MIB + 4096), false),
    ];
    let o = ask_openssl(&openssl, &corpus_dir().join("rsa-2048.crt.pem"), Cert);
    let want = format!(
        "3 1 1 {}",
        openssl_association(&openssl, o.spki.as_ref().expect("SPKI"), 1)
    );
    let mut problems = Vec::new();
    for (name, content, ok) in cases {
        let path = scratch.path().join(name);
        fs::write(&path, &content).expect("write");
        let file = path.to_str().expect("UTF-8 path");
        let d = DanekitRun::new(&["tlsa", file]);
        if ok {
            if d.code() != Some(0) || d.stdout().trim() != want {
                problems.push(format!(
                    "`{}` ({} bytes) must print `{want}`, got {}:\n{}{}",
                    d.line,
                    content.len(),
                    d.out.status,
                    d.stdout(),
                    d.stderr()
                ));
            }
            continue;
        }
        let mut p = check_refusal(&d, file);
        if d.code() == Some(2) && !contains_any(&d.stderr(), &["too large"]) {
            p.push(format!(
                "the error does not say `too large`: {}",
                d.stderr().trim()
            ));
        }
        problems.extend(
            p.into_iter()
                .map(|p| format!("`{}` ({} bytes): {p}", d.line, content.len())),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn glob_patterns() {
    assert!(glob("rsa-*", "rsa-2048.p8.pem"));
    assert!(glob("*.crt.*", "ec-p256.crt.der"));
    assert!(!glob("*.crt.*", "ec-p256.crt-compressed.pem"));
    assert!(glob("ecodd-nopub-*-p256.*", "ecodd-nopub-sec1-p256.pem"));
    assert!(!glob("ecodd-nopub-*-p256.*", "ecodd-nopub-sec1-p384.pem"));
    assert!(glob("bundle-crt-100.pem", "bundle-crt-100.pem"));
    assert!(!glob("a*b", "ac"));
}
