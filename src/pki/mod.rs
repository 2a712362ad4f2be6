//! Certificates, chains, keys and CSRs read from PEM or DER into typed values.
//!
//! The kind of an input is told from its content, never from its file name. Every error names
//! the input (a file name, `-` for standard input, or `host:port`) and, for PEM, the line.
//! Inputs are bounded: the caller reads at most [`crate::env::MAX_INPUT_BYTES`], and an input
//! holds at most [`MAX_CERTIFICATES`] certificates. Keys are put in the canonical SPKI form a
//! certificate carries before anyone hashes them (`key.rs`). No I/O happens here: callers hand
//! in the bytes. This module knows nothing of TLSA.

mod cert;
mod chain;
pub mod der;
pub mod ec;
mod key;
mod pem;

pub use cert::Certificate;
pub use key::{Curve, KeyError, KeyInfo, dotted_oid};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::report::Finding;
use crate::text;

/// The most certificates one input may hold. A chain has three or four; a CA bundle belongs
/// elsewhere.
pub const MAX_CERTIFICATES: usize = 100;

/// What kind of key-only input was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    PrivateKey,
    PublicKey,
    Csr,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::PrivateKey => "private key",
            KeyKind::PublicKey => "public key",
            KeyKind::Csr => "CSR",
        }
    }
}

/// The family of a key, as TLS negotiates it and as reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyFamily {
    Ecdsa,
    Rsa,
    Ed25519,
    Ed448,
    Other,
}

impl KeyFamily {
    pub fn of(info: &KeyInfo) -> KeyFamily {
        match info {
            KeyInfo::Rsa { .. } => KeyFamily::Rsa,
            KeyInfo::Ec { .. } => KeyFamily::Ecdsa,
            KeyInfo::Ed25519 => KeyFamily::Ed25519,
            KeyInfo::Ed448 => KeyFamily::Ed448,
            KeyInfo::Other { .. } => KeyFamily::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyFamily::Ecdsa => "ecdsa",
            KeyFamily::Rsa => "rsa",
            KeyFamily::Ed25519 => "ed25519",
            KeyFamily::Ed448 => "ed448",
            KeyFamily::Other => "other",
        }
    }
}

/// What a TLSA record is computed from.
#[derive(Debug, Clone, Copy)]
pub enum Material<'a> {
    /// Certificates, leaf first.
    Chain(&'a [Certificate]),
    /// A public key alone (canonical SPKI DER): from a private key, an SPKI file or a CSR.
    Key { spki: &'a [u8], kind: KeyKind },
}

/// The content of one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// One or more certificates, leaf first.
    Chain(Vec<Certificate>),
    /// A key without a certificate, its SPKI in canonical form.
    Key {
        spki: Vec<u8>,
        kind: KeyKind,
        info: KeyInfo,
    },
}

/// A parsed input with its name and the warnings found while reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The input's name for messages, escaped: a file name, `-`, or `host:port`.
    pub name: String,
    pub loaded: Loaded,
    /// How many certificates, from the leaf, form its issuer path (each issued by the next).
    /// Issuer records may hash only these.
    pub path_len: usize,
    pub findings: Vec<Finding>,
}

impl Input {
    /// What a TLSA record is computed from.
    pub fn material(&self) -> Material<'_> {
        match &self.loaded {
            Loaded::Chain(chain) => Material::Chain(chain),
            Loaded::Key { spki, kind, .. } => Material::Key { spki, kind: *kind },
        }
    }

    /// The key of the leaf (or of the key-only input).
    pub fn leaf_key(&self) -> Option<&KeyInfo> {
        match &self.loaded {
            Loaded::Chain(chain) => chain.first().map(|c| &c.key),
            Loaded::Key { info, .. } => Some(info),
        }
    }

    /// The family of the leaf key.
    pub fn key_family(&self) -> KeyFamily {
        self.leaf_key()
            .map(KeyFamily::of)
            .unwrap_or(KeyFamily::Other)
    }

    /// The leaf certificate, when the input has one.
    pub fn leaf(&self) -> Option<&Certificate> {
        match &self.loaded {
            Loaded::Chain(chain) => chain.first(),
            Loaded::Key { .. } => None,
        }
    }
}

/// Why an input could not be read. Each message starts with the input's name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PkiError {
    #[error("{name}: empty input")]
    Empty { name: String },
    #[error("{name}: not a certificate, chain, key or CSR (neither PEM nor DER)")]
    NotRecognized { name: String },
    #[error("{name}: DER object is not a certificate, CSR, public key or private key")]
    UnknownDer { name: String },
    #[error("{name}{at}: {what}; {hint}")]
    NotAnInput {
        name: String,
        at: String,
        what: &'static str,
        hint: &'static str,
    },
    #[error("{name}: line {line}: {reason}")]
    Pem {
        name: String,
        line: usize,
        reason: String,
    },
    #[error(
        "{name}: line {line}: unknown PEM block \"{label}\" (expected CERTIFICATE, PRIVATE KEY, \
         RSA/EC PRIVATE KEY, PUBLIC KEY or CERTIFICATE REQUEST)"
    )]
    UnknownLabel {
        name: String,
        line: usize,
        label: String,
    },
    #[error(
        "{name}{at}: the private key is encrypted; decrypt it first (openssl pkey -in FILE -out \
         PLAIN.pem) or give the certificate or public key instead"
    )]
    Encrypted { name: String, at: String },
    #[error(
        "{name}{at}: truncated DER: an element declares {declared} bytes but only {available} follow"
    )]
    Truncated {
        name: String,
        at: String,
        declared: usize,
        available: usize,
    },
    #[error("{name}{at}: {trailing} bytes of junk after the DER object")]
    Trailing {
        name: String,
        at: String,
        trailing: usize,
    },
    #[error("{name}{at}: malformed {what}: {reason}")]
    Malformed {
        name: String,
        at: String,
        what: &'static str,
        reason: String,
    },
    #[error("{name}{at}: {error}")]
    Key {
        name: String,
        at: String,
        error: KeyError,
    },
    #[error("{name}: holds no certificate, key or CSR{only}")]
    Nothing { name: String, only: String },
    #[error("{name}: holds {count} keys or CSRs and no certificate; give one per file")]
    Several { name: String, count: usize },
    #[error("{name}: holds more than {limit} certificates; give the server's chain, not a bundle")]
    TooManyCertificates { name: String, limit: usize },
}

/// One object found in an input.
enum Object {
    Cert(Certificate),
    Key {
        spki: Vec<u8>,
        kind: KeyKind,
    },
    /// A private key that cannot be read here (encrypted, or of an algorithm danekit does not
    /// use): fine beside certificates, an error alone.
    Unreadable(PkiError),
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(": line {l}")).unwrap_or_default()
}

/// Reads one input. `name` is used in messages and findings as given: callers pass text that is
/// safe to print (see [`crate::text::escape_bytes`] for file names); it is only cut short.
pub fn parse_input(name: &str, bytes: &[u8]) -> Result<Input, PkiError> {
    let name = text::shorten(name, text::FIELD_CHARS);
    let name = name.as_str();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(PkiError::Empty { name: name.into() });
    }
    let (objects, skipped) = if pem::looks_like_pem(bytes) {
        parse_pem(name, bytes)?
    } else if bytes.first() == Some(&der::SEQUENCE) {
        (
            vec![parse_der(name, None, bytes, DerHint::Any)?],
            Vec::new(),
        )
    } else {
        return Err(PkiError::NotRecognized { name: name.into() });
    };
    assemble(name, objects, &skipped, chain::Origin::File)
}

type PemObjects = (Vec<Object>, Vec<String>);

fn parse_pem(name: &str, bytes: &[u8]) -> Result<PemObjects, PkiError> {
    let blocks = pem::parse(bytes).map_err(|e| PkiError::Pem {
        name: name.into(),
        line: e.line,
        reason: e.reason,
    })?;
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    let mut certificates = 0usize;
    for block in blocks {
        let line = Some(block.line);
        let at = at_line(line);
        let not_an_input = |what, hint| PkiError::NotAnInput {
            name: name.into(),
            at: at.clone(),
            what,
            hint,
        };
        let hint = match block.label.as_str() {
            "CERTIFICATE" | "X509 CERTIFICATE" => DerHint::Certificate { trailing_ok: false },
            "TRUSTED CERTIFICATE" => DerHint::Certificate { trailing_ok: true },
            "PRIVATE KEY" => DerHint::Pkcs8,
            "RSA PRIVATE KEY" => DerHint::Pkcs1,
            "EC PRIVATE KEY" => DerHint::Sec1,
            "PUBLIC KEY" => DerHint::Spki,
            "RSA PUBLIC KEY" => DerHint::Pkcs1Public,
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => DerHint::Csr,
            "ENCRYPTED PRIVATE KEY" => {
                objects.push(Object::Unreadable(PkiError::Encrypted {
                    name: name.into(),
                    at,
                }));
                continue;
            }
            "DSA PRIVATE KEY" => {
                objects.push(Object::Unreadable(PkiError::Key {
                    name: name.into(),
                    at,
                    error: KeyError::Unsupported {
                        algorithm: "a DSA private key".into(),
                        why: "TLS servers no longer use DSA (TLS 1.3 removed it); danekit does \
                              not compute records from DSA keys",
                    },
                }));
                continue;
            }
            "PKCS7" | "CMS" => {
                return Err(not_an_input(
                    "this is a PKCS#7/CMS bundle, not a certificate",
                    "extract its certificates with: openssl pkcs7 -print_certs -in FILE",
                ));
            }
            "OPENSSH PRIVATE KEY" | "SSH2 PUBLIC KEY" => {
                return Err(not_an_input(
                    "this is an SSH key, not an X.509 key",
                    "TLSA records come from X.509 certificates and their keys",
                ));
            }
            // Parameters and revocation lists travel beside keys and certificates; they
            // carry nothing a TLSA record is computed from.
            "EC PARAMETERS" | "DH PARAMETERS" | "X9.42 DH PARAMETERS" | "X509 CRL" => {
                skipped.push(block.label.clone());
                continue;
            }
            other => {
                return Err(PkiError::UnknownLabel {
                    name: name.into(),
                    line: block.line,
                    label: text::clip(other),
                });
            }
        };
        if block.encrypted {
            objects.push(Object::Unreadable(PkiError::Encrypted {
                name: name.into(),
                at,
            }));
            continue;
        }
        if matches!(hint, DerHint::Certificate { .. }) {
            certificates += 1;
            if certificates > MAX_CERTIFICATES {
                return Err(PkiError::TooManyCertificates {
                    name: name.into(),
                    limit: MAX_CERTIFICATES,
                });
            }
        }
        objects.push(parse_der(name, line, &block.der, hint)?);
    }
    Ok((objects, skipped))
}

#[derive(Debug, Clone, Copy)]
enum DerHint {
    Any,
    Certificate { trailing_ok: bool },
    Pkcs8,
    Pkcs1,
    Sec1,
    Spki,
    Pkcs1Public,
    Csr,
}

fn parse_der(
    name: &str,
    line: Option<usize>,
    bytes: &[u8],
    hint: DerHint,
) -> Result<Object, PkiError> {
    let at = at_line(line);
    let outer = match der::read_tlv(bytes) {
        Ok((tlv, _)) => tlv,
        Err(der::DerError::Truncated {
            declared,
            available,
        }) => {
            return Err(PkiError::Truncated {
                name: name.into(),
                at,
                declared,
                available,
            });
        }
        Err(e) => {
            return Err(PkiError::Malformed {
                name: name.into(),
                at,
                what: "DER object",
                reason: e.to_string(),
            });
        }
    };
    let trailing_ok = matches!(hint, DerHint::Certificate { trailing_ok: true });
    if outer.raw.len() < bytes.len() && !trailing_ok {
        return Err(PkiError::Trailing {
            name: name.into(),
            at,
            trailing: bytes.len() - outer.raw.len(),
        });
    }
    let malformed = |what: &'static str, reason: String| PkiError::Malformed {
        name: name.into(),
        at: at.clone(),
        what,
        reason,
    };
    let key_error = |kind: KeyKind, error: KeyError| match error {
        KeyError::Unsupported { .. } | KeyError::Ec(_) => PkiError::Key {
            name: name.into(),
            at: at.clone(),
            error,
        },
        other => malformed(kind_what(kind), other.to_string()),
    };
    let key = |kind: KeyKind, result: Result<Vec<u8>, KeyError>| match result {
        Ok(spki) => Ok(Object::Key { spki, kind }),
        // A private key only serves to check the leaf: beside certificates, one that cannot be
        // read costs a warning; alone, it is the error (see `assemble`).
        Err(e) if kind == KeyKind::PrivateKey => Ok(Object::Unreadable(key_error(kind, e))),
        Err(e) => Err(key_error(kind, e)),
    };
    match hint {
        DerHint::Certificate { trailing_ok } => Certificate::parse(bytes, trailing_ok)
            .map(Object::Cert)
            .map_err(|r| malformed("certificate", r)),
        DerHint::Csr => csr_spki(bytes)
            .map_err(|r| malformed("CSR", r))
            .and_then(|spki| key(KeyKind::Csr, key::canonical_spki(&spki))),
        DerHint::Spki => key(KeyKind::PublicKey, key::canonical_spki(bytes)),
        DerHint::Pkcs1Public => key(KeyKind::PublicKey, key::spki_from_pkcs1_public(bytes)),
        DerHint::Pkcs8 => key(KeyKind::PrivateKey, key::spki_from_pkcs8(bytes)),
        DerHint::Pkcs1 => key(KeyKind::PrivateKey, key::spki_from_pkcs1(bytes)),
        DerHint::Sec1 => key(KeyKind::PrivateKey, key::spki_from_sec1(bytes)),
        DerHint::Any => match classify(&outer) {
            Shape::CertLike => match Certificate::parse(bytes, false) {
                Ok(c) => Ok(Object::Cert(c)),
                Err(cert_error) => match csr_spki(bytes) {
                    Ok(spki) => key(KeyKind::Csr, key::canonical_spki(&spki)),
                    Err(_) => Err(malformed("certificate", cert_error)),
                },
            },
            Shape::Crl => Err(PkiError::NotAnInput {
                name: name.into(),
                at,
                what: "this is a certificate revocation list (CRL), not a certificate",
                hint: "give the certificate itself",
            }),
            Shape::Spki => parse_der(name, line, bytes, DerHint::Spki),
            Shape::Pkcs8 => parse_der(name, line, bytes, DerHint::Pkcs8),
            Shape::Pkcs1 => parse_der(name, line, bytes, DerHint::Pkcs1),
            Shape::Sec1 => parse_der(name, line, bytes, DerHint::Sec1),
            Shape::Pkcs1Public => parse_der(name, line, bytes, DerHint::Pkcs1Public),
            Shape::EncryptedPkcs8 => Err(PkiError::Encrypted {
                name: name.into(),
                at,
            }),
            Shape::Other { what, hint } => Err(PkiError::NotAnInput {
                name: name.into(),
                at,
                what,
                hint,
            }),
            Shape::Unknown => Err(PkiError::UnknownDer { name: name.into() }),
        },
    }
}

fn kind_what(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::PrivateKey => "private key",
        KeyKind::PublicKey => "public key",
        KeyKind::Csr => "CSR",
    }
}

/// The likely structure of a DER object, from the tags of its first levels, so that a
/// failure names what the input is ("a PKCS#12 bundle", "malformed certificate").
enum Shape {
    CertLike,
    Crl,
    Spki,
    Pkcs8,
    Pkcs1,
    Sec1,
    Pkcs1Public,
    EncryptedPkcs8,
    Other {
        what: &'static str,
        hint: &'static str,
    },
    Unknown,
}

const OID_PKCS7_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07];

fn classify(outer: &der::Tlv<'_>) -> Shape {
    use der::{BIT_STRING, INTEGER, OCTET_STRING, OID, SEQUENCE};
    if outer.tag != SEQUENCE {
        return Shape::Unknown;
    }
    let Ok(fields) = der::children(outer.value) else {
        return Shape::Unknown;
    };
    let tags: Vec<u8> = fields.iter().map(|t| t.tag).collect();
    let int_value = |i: usize| fields.get(i).map(|t| t.value);
    match tags.as_slice() {
        [SEQUENCE, SEQUENCE, BIT_STRING] => {
            // A TBSCertList has its thisUpdate time directly inside (RFC 5280 §5.1); a
            // TBSCertificate keeps its times in a Validity SEQUENCE.
            let tbs = der::children(fields[0].value).unwrap_or_default();
            let has_time = tbs
                .iter()
                .take(4)
                .any(|t| t.tag == der::UTC_TIME || t.tag == der::GENERALIZED_TIME);
            if has_time {
                Shape::Crl
            } else {
                Shape::CertLike
            }
        }
        [SEQUENCE, BIT_STRING] => Shape::Spki,
        [SEQUENCE, OCTET_STRING] => Shape::EncryptedPkcs8,
        [INTEGER, SEQUENCE, OCTET_STRING, ..] => Shape::Pkcs8,
        [INTEGER, OCTET_STRING, ..] if int_value(0) == Some(&[1]) => Shape::Sec1,
        [INTEGER, SEQUENCE, ..]
            if int_value(0) == Some(&[3])
                && der::children(fields[1].value).ok().and_then(|c| {
                    c.first()
                        .map(|o| o.tag == OID && o.value.starts_with(OID_PKCS7_PREFIX))
                }) == Some(true) =>
        {
            Shape::Other {
                what: "this is a PKCS#12 bundle, which danekit does not open",
                hint: "extract the certificate chain with: openssl pkcs12 -in FILE -nokeys -out chain.pem",
            }
        }
        [OID, 0xa0, ..] if fields[0].value.starts_with(OID_PKCS7_PREFIX) => Shape::Other {
            what: "this is a PKCS#7/CMS bundle, not a certificate",
            hint: "extract its certificates with: openssl pkcs7 -inform DER -print_certs -in FILE",
        },
        ints if ints.iter().all(|&t| t == INTEGER) => match ints.len() {
            n if n >= 9 => Shape::Pkcs1,
            6 if int_value(0) == Some(&[0]) => Shape::Other {
                what: "this is a DSA private key",
                hint: "TLS servers no longer use DSA (TLS 1.3 removed it)",
            },
            // RSAPublicKey { n, e } has an odd exponent; DHParameter { p, g } a small even or
            // other generator. PKCS#3 and X9.42 parameters have more fields.
            2 if int_value(1)
                .and_then(|e| e.last())
                .is_some_and(|b| b & 1 == 1) =>
            {
                Shape::Pkcs1Public
            }
            2..=5 => Shape::Other {
                what: "these are Diffie-Hellman parameters, not a key",
                hint: "they carry no key a TLSA record is computed from",
            },
            _ => Shape::Unknown,
        },
        _ => Shape::Unknown,
    }
}

/// The SPKI of a PKCS#10 request, as it carries it.
fn csr_spki(bytes: &[u8]) -> Result<Vec<u8>, String> {
    der::check_tree(bytes).map_err(|e| e.to_string())?;
    let (rest, csr) = X509CertificationRequest::from_der(bytes)
        .map_err(|_| "not a PKCS#10 certification request".to_owned())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes of junk after the CSR", rest.len()));
    }
    Ok(csr.certification_request_info.subject_pki.raw.to_vec())
}

fn assemble(
    name: &str,
    objects: Vec<Object>,
    skipped: &[String],
    origin: chain::Origin,
) -> Result<Input, PkiError> {
    let mut certs = Vec::new();
    let mut keys = Vec::new();
    let mut unreadable = Vec::new();
    for o in objects {
        match o {
            Object::Cert(c) => certs.push(c),
            Object::Key { spki, kind } => keys.push((spki, kind)),
            Object::Unreadable(e) => unreadable.push(e),
        }
    }
    let mut findings = Vec::new();
    if !certs.is_empty() {
        let (certs, path_len) = chain::order(name, certs, origin, &mut findings);
        for cert in &certs {
            if !cert.unreadable.is_empty() {
                findings.push(
                    Finding::warning(
                        "unreadable-field",
                        name,
                        format!(
                            "certificate \"{}\": {} could not be read; records do not depend \
                             on it, but the lints that need it were skipped",
                            cert.subject,
                            cert.unreadable.join(", ")
                        ),
                    )
                    .with("subject", &cert.subject),
                );
            }
        }
        for (spki, kind) in &keys {
            if *kind == KeyKind::PrivateKey && *spki != certs[0].spki {
                findings.push(Finding::warning(
                    "key-mismatch",
                    name,
                    "the private key in this file does not belong to the first certificate",
                ));
            }
        }
        for e in &unreadable {
            findings.push(Finding::warning(
                "key-not-checked",
                name,
                format!(
                    "a private key in this file could not be read ({}), so it was not checked \
                     against the leaf certificate",
                    short_reason(e)
                ),
            ));
        }
        return Ok(Input {
            name: name.into(),
            loaded: Loaded::Chain(certs),
            path_len,
            findings,
        });
    }
    if let Some(e) = unreadable.into_iter().next()
        && keys.is_empty()
    {
        return Err(e);
    }
    match keys.len() {
        0 => Err(PkiError::Nothing {
            name: name.into(),
            only: if skipped.is_empty() {
                String::new()
            } else {
                format!(" (only {})", skipped.join(", "))
            },
        }),
        1 => {
            let (spki, kind) = keys.remove(0);
            let info = key::spki_info(&spki).map_err(|error| PkiError::Key {
                name: name.into(),
                at: String::new(),
                error,
            })?;
            Ok(Input {
                name: name.into(),
                loaded: Loaded::Key { spki, kind, info },
                path_len: 0,
                findings,
            })
        }
        count => Err(PkiError::Several {
            name: name.into(),
            count,
        }),
    }
}

/// Why a private key was unreadable, without the input's name.
fn short_reason(e: &PkiError) -> String {
    match e {
        PkiError::Encrypted { .. } => "it is encrypted".into(),
        PkiError::Key { error, .. } => error.to_string(),
        other => other.to_string(),
    }
}

/// Reads a chain as presented by a server (DER certificates, leaf first). `peer` names it.
pub fn parse_presented(peer: &str, chain: &[Vec<u8>]) -> Result<Input, PkiError> {
    let peer = text::shorten(peer, text::FIELD_CHARS);
    if chain.len() > MAX_CERTIFICATES {
        return Err(PkiError::TooManyCertificates {
            name: peer,
            limit: MAX_CERTIFICATES,
        });
    }
    let objects = chain
        .iter()
        .enumerate()
        .map(|(i, der_bytes)| {
            Certificate::from_der(der_bytes)
                .map(Object::Cert)
                .map_err(|reason| PkiError::Malformed {
                    name: peer.clone(),
                    at: format!(": certificate #{}", i + 1),
                    what: "certificate",
                    reason,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    assemble(&peer, objects, &[], chain::Origin::Presented)
}
