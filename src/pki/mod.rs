//! Certificates, chains, keys and CSRs read from PEM or DER into typed values.
//!
//! The kind of an input is told from its content, never from its file name. Every error names
//! the input (a file name, `-` for standard input, or `host:port`) and, for PEM, the line.
//! No I/O happens here: callers hand in the bytes.

mod der;
mod key;
mod pem;

pub use key::{Curve, KeyError, KeyInfo};

use thiserror::Error;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::report::Finding;
use crate::tlsa::Material;

/// One X.509 certificate and the facts about it that DANE needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The whole certificate, DER (what selector 0 hashes).
    pub der: Vec<u8>,
    /// The SubjectPublicKeyInfo, DER (what selector 1 hashes).
    pub spki: Vec<u8>,
    pub subject: String,
    pub issuer: String,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    /// basicConstraints cA is true.
    pub is_ca: bool,
    /// Subject and issuer are the same name.
    pub self_issued: bool,
    /// Validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// DNS names of the subjectAltName extension.
    pub dns_names: Vec<String>,
    pub key: KeyInfo,
}

impl Certificate {
    /// Parses one DER certificate. `trailing_ok` allows bytes after it (OpenSSL's
    /// `TRUSTED CERTIFICATE` appends trust settings).
    fn parse(der_bytes: &[u8], trailing_ok: bool) -> Result<Self, String> {
        let (rest, x) = X509Certificate::from_der(der_bytes).map_err(|e| e.to_string())?;
        if !rest.is_empty() && !trailing_ok {
            return Err(format!(
                "{} bytes of junk after the certificate",
                rest.len()
            ));
        }
        let der = der_bytes[..der_bytes.len() - rest.len()].to_vec();
        let spki = x.public_key().raw.to_vec();
        let key = key::parse_spki(&spki).unwrap_or_else(|_| KeyInfo::Other {
            oid: x.public_key().algorithm.algorithm.to_id_string(),
        });
        let mut dns_names = Vec::new();
        if let Ok(Some(san)) = x.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::DNSName(d) = name {
                    dns_names.push(d.to_string());
                }
            }
        }
        let subject_raw = x.subject().as_raw().to_vec();
        let issuer_raw = x.issuer().as_raw().to_vec();
        Ok(Certificate {
            subject: x.subject().to_string(),
            issuer: x.issuer().to_string(),
            self_issued: subject_raw == issuer_raw,
            subject_raw,
            issuer_raw,
            is_ca: x.is_ca(),
            not_before: x.validity().not_before.timestamp(),
            not_after: x.validity().not_after.timestamp(),
            dns_names,
            key,
            der,
            spki,
        })
    }

    /// Parses one DER certificate with nothing after it.
    pub fn from_der(der_bytes: &[u8]) -> Result<Self, String> {
        Self::parse(der_bytes, false)
    }

    /// True when `issuer`'s subject is this certificate's issuer name.
    pub fn is_named_issuer(&self, issuer: &Certificate) -> bool {
        self.issuer_raw == issuer.subject_raw
    }

    /// A certificate with the given encodings and nothing else, for unit tests of code that
    /// only hashes.
    #[cfg(test)]
    pub(crate) fn synthetic(der: Vec<u8>, spki: Vec<u8>, is_ca: bool) -> Self {
        Certificate {
            der,
            spki,
            subject: String::new(),
            issuer: String::new(),
            subject_raw: Vec::new(),
            issuer_raw: vec![1],
            is_ca,
            self_issued: false,
            not_before: 0,
            not_after: 0,
            dns_names: Vec::new(),
            key: KeyInfo::Ed25519,
        }
    }
}

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

/// The content of one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// One or more certificates, in the order given (leaf first).
    Chain(Vec<Certificate>),
    /// A key without a certificate.
    Key {
        spki: Vec<u8>,
        kind: KeyKind,
        info: KeyInfo,
    },
}

/// A parsed input with its name and the warnings found while reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub name: String,
    pub loaded: Loaded,
    /// How many certificates, from the leaf, form its issuer path (each issued by the next).
    /// Usages 0 and 2 may hash only these.
    pub path_len: usize,
    pub findings: Vec<Finding>,
}

impl Input {
    /// What a TLSA record is computed from.
    pub fn material(&self) -> Material<'_> {
        match &self.loaded {
            Loaded::Chain(chain) => Material::Chain(chain),
            Loaded::Key { spki, kind, .. } => Material::Key {
                spki,
                kind: kind.as_str(),
            },
        }
    }

    /// The key of the leaf (or of the key-only input).
    pub fn leaf_key(&self) -> Option<&KeyInfo> {
        match &self.loaded {
            Loaded::Chain(chain) => chain.first().map(|c| &c.key),
            Loaded::Key { info, .. } => Some(info),
        }
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
        "{name}{at}: truncated DER: an object declares {declared} bytes but only {available} follow"
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
    #[error("{name}: holds no certificate, key or CSR")]
    Nothing { name: String },
    #[error("{name}: holds {count} keys or CSRs and no certificate; give one per file")]
    Several { name: String, count: usize },
}

enum Object {
    Cert(Certificate),
    Key { spki: Vec<u8>, kind: KeyKind },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(": line {l}")).unwrap_or_default()
}

/// Reads one input. `name` is used in messages and findings.
pub fn parse_input(name: &str, bytes: &[u8]) -> Result<Input, PkiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(PkiError::Empty { name: name.into() });
    }
    let objects = if pem::looks_like_pem(bytes) {
        parse_pem(name, bytes)?
    } else if bytes.first() == Some(&der::SEQUENCE) {
        vec![parse_der(name, None, bytes, DerHint::Any)?]
    } else {
        return Err(PkiError::NotRecognized { name: name.into() });
    };
    assemble(name, objects, Origin::File)
}

fn parse_pem(name: &str, bytes: &[u8]) -> Result<Vec<Object>, PkiError> {
    let blocks = pem::parse(bytes).map_err(|e| PkiError::Pem {
        name: name.into(),
        line: e.line,
        reason: e.reason,
    })?;
    let mut objects = Vec::new();
    for block in blocks {
        let line = Some(block.line);
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
                return Err(PkiError::Encrypted {
                    name: name.into(),
                    at: at_line(line),
                });
            }
            // Parameters and revocation lists travel beside keys and certificates; they
            // carry nothing a TLSA record is computed from.
            "EC PARAMETERS" | "DH PARAMETERS" | "X509 CRL" => continue,
            other => {
                return Err(PkiError::UnknownLabel {
                    name: name.into(),
                    line: block.line,
                    label: other.into(),
                });
            }
        };
        if block.encrypted {
            return Err(PkiError::Encrypted {
                name: name.into(),
                at: at_line(line),
            });
        }
        objects.push(parse_der(name, line, &block.der, hint)?);
    }
    Ok(objects)
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
    let outer_len = match der::read_tlv(bytes) {
        Ok((tlv, _)) => tlv.raw.len(),
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
    if outer_len < bytes.len() && !trailing_ok {
        return Err(PkiError::Trailing {
            name: name.into(),
            at,
            trailing: bytes.len() - outer_len,
        });
    }
    let malformed = |what: &'static str, reason: String| PkiError::Malformed {
        name: name.into(),
        at: at.clone(),
        what,
        reason,
    };
    let private = |spki: Vec<u8>| Object::Key {
        spki,
        kind: KeyKind::PrivateKey,
    };
    match hint {
        DerHint::Certificate { trailing_ok } => Certificate::parse(bytes, trailing_ok)
            .map(Object::Cert)
            .map_err(|r| malformed("certificate", r)),
        DerHint::Csr => parse_csr(bytes).map_err(|r| malformed("CSR", r)),
        DerHint::Spki => key::parse_spki(bytes)
            .map(|_| Object::Key {
                spki: bytes.to_vec(),
                kind: KeyKind::PublicKey,
            })
            .map_err(|e| malformed("public key", e.to_string())),
        DerHint::Pkcs1Public => key::spki_from_pkcs1_public(bytes)
            .map(|spki| Object::Key {
                spki,
                kind: KeyKind::PublicKey,
            })
            .map_err(|e| malformed("RSA public key", e.to_string())),
        DerHint::Pkcs8 => key::spki_from_pkcs8(bytes)
            .map(private)
            .map_err(|e| malformed("private key", e.to_string())),
        DerHint::Pkcs1 => key::spki_from_pkcs1(bytes)
            .map(private)
            .map_err(|e| malformed("RSA private key", e.to_string())),
        DerHint::Sec1 => key::spki_from_sec1(bytes)
            .map(private)
            .map_err(|e| malformed("EC private key", e.to_string())),
        DerHint::Any => sniff_der(bytes).ok_or_else(|| classify_failure(name, &at, bytes)),
    }
}

/// Tries each DER structure in turn; the first that parses wins.
fn sniff_der(bytes: &[u8]) -> Option<Object> {
    if let Ok(cert) = Certificate::parse(bytes, false) {
        return Some(Object::Cert(cert));
    }
    if let Ok(csr) = parse_csr(bytes) {
        return Some(csr);
    }
    if key::parse_spki(bytes).is_ok() {
        return Some(Object::Key {
            spki: bytes.to_vec(),
            kind: KeyKind::PublicKey,
        });
    }
    let private = key::spki_from_pkcs8(bytes)
        .or_else(|_| key::spki_from_pkcs1(bytes))
        .or_else(|_| key::spki_from_sec1(bytes));
    if let Ok(spki) = private {
        return Some(Object::Key {
            spki,
            kind: KeyKind::PrivateKey,
        });
    }
    key::spki_from_pkcs1_public(bytes)
        .ok()
        .map(|spki| Object::Key {
            spki,
            kind: KeyKind::PublicKey,
        })
}

/// Names the most likely structure of a DER object that parsed as nothing, so that the error
/// says "malformed certificate" rather than "unknown".
fn classify_failure(name: &str, at: &str, bytes: &[u8]) -> PkiError {
    let shape: Vec<u8> = der::read_tlv(bytes)
        .ok()
        .and_then(|(outer, _)| der::children(outer.value).ok())
        .map(|c| c.iter().map(|t| t.tag).collect())
        .unwrap_or_default();
    match shape.as_slice() {
        // SEQUENCE { tbs SEQUENCE, algorithm SEQUENCE, signature BIT STRING }
        [der::SEQUENCE, der::SEQUENCE, der::BIT_STRING] => {
            let reason = Certificate::parse(bytes, false).err().unwrap_or_default();
            PkiError::Malformed {
                name: name.into(),
                at: at.into(),
                what: "certificate or CSR",
                reason,
            }
        }
        // EncryptedPrivateKeyInfo (RFC 5958 §3): SEQUENCE { algorithm, OCTET STRING }
        [der::SEQUENCE, der::OCTET_STRING] => PkiError::Encrypted {
            name: name.into(),
            at: at.into(),
        },
        _ => PkiError::UnknownDer { name: name.into() },
    }
}

fn parse_csr(bytes: &[u8]) -> Result<Object, String> {
    let (rest, csr) = X509CertificationRequest::from_der(bytes).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!("{} bytes of junk after the CSR", rest.len()));
    }
    let spki = csr.certification_request_info.subject_pki.raw.to_vec();
    key::parse_spki(&spki).map_err(|e| e.to_string())?;
    Ok(Object::Key {
        spki,
        kind: KeyKind::Csr,
    })
}

/// Where a set of certificates came from: a file may list them in any order; a TLS server
/// sends its leaf first (RFC 8446 §4.4.2) and the rest in any order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    File,
    Presented,
}

/// Puts certificates in path order, leaf first, each followed by its issuer. A file whose
/// certificates form one path in another order is reordered with a warning; one whose
/// certificates do not form a path is refused, because every record computed from it would be
/// a guess. A presented chain keeps its leaf; certificates off the path go last, with a warning.
fn order_chain(
    name: &str,
    certs: Vec<Certificate>,
    origin: Origin,
    findings: &mut Vec<Finding>,
) -> (Vec<Certificate>, usize) {
    let in_order = certs.windows(2).all(|p| p[0].is_named_issuer(&p[1]));
    if in_order {
        let len = certs.len();
        return (certs, len);
    }
    let issues_another = |i: usize| {
        certs
            .iter()
            .enumerate()
            .any(|(j, c)| j != i && !certs[i].self_issued && c.is_named_issuer(&certs[i]))
    };
    let leaf = match origin {
        Origin::Presented => 0,
        Origin::File => {
            let candidates: Vec<usize> = (0..certs.len()).filter(|&i| !issues_another(i)).collect();
            match candidates.as_slice() {
                [only] => *only,
                _ => return keep_file_order(name, certs, findings),
            }
        }
    };
    let mut used = vec![false; certs.len()];
    let mut path = vec![leaf];
    used[leaf] = true;
    let mut current = leaf;
    while let Some(next) = (0..certs.len()).find(|&j| {
        !used[j] && !certs[current].self_issued && certs[current].is_named_issuer(&certs[j])
    }) {
        used[next] = true;
        path.push(next);
        current = next;
    }
    let off_path: Vec<usize> = (0..certs.len()).filter(|&j| !used[j]).collect();
    if origin == Origin::File && !off_path.is_empty() {
        return keep_file_order(name, certs, findings);
    }
    let path_len = path.len();
    findings.push(Finding::warning(
        "chain-order",
        name,
        match origin {
            Origin::File => format!(
                "the certificates are not listed leaf first, each followed by its issuer; \
                 records are computed from the leaf \"{}\" and its path, but a server must \
                 send them in that order",
                certs[leaf].subject
            ),
            Origin::Presented => format!(
                "the server sends its certificates out of path order{}",
                if off_path.is_empty() {
                    String::new()
                } else {
                    format!(", and {} that are not on the leaf's path", off_path.len())
                }
            ),
        },
    ));
    let mut slots: Vec<Option<Certificate>> = certs.into_iter().map(Some).collect();
    let ordered = path
        .into_iter()
        .chain(off_path)
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect();
    (ordered, path_len)
}

/// Keeps a file's certificates as given when they form no single path: the first is taken as
/// the leaf, and only the in-order prefix counts as its issuer path.
fn keep_file_order(
    name: &str,
    certs: Vec<Certificate>,
    findings: &mut Vec<Finding>,
) -> (Vec<Certificate>, usize) {
    let path_len = 1 + certs
        .windows(2)
        .take_while(|p| p[0].is_named_issuer(&p[1]))
        .count();
    let subjects: Vec<String> = certs
        .iter()
        .enumerate()
        .map(|(i, c)| format!("#{} \"{}\" issued by \"{}\"", i + 1, c.subject, c.issuer))
        .collect();
    findings.push(Finding::warning(
        "not-a-chain",
        name,
        format!(
            "the certificates do not form one chain; the first is taken as the leaf: {}",
            subjects.join("; ")
        ),
    ));
    (certs, path_len)
}

fn assemble(name: &str, objects: Vec<Object>, origin: Origin) -> Result<Input, PkiError> {
    let mut certs = Vec::new();
    let mut keys = Vec::new();
    for o in objects {
        match o {
            Object::Cert(c) => certs.push(c),
            Object::Key { spki, kind } => keys.push((spki, kind)),
        }
    }
    let mut findings = Vec::new();
    if !certs.is_empty() {
        let (certs, path_len) = order_chain(name, certs, origin, &mut findings);
        for (spki, kind) in &keys {
            if *kind == KeyKind::PrivateKey && *spki != certs[0].spki {
                findings.push(Finding::warning(
                    "key-mismatch",
                    name,
                    "the private key in this file does not belong to the first certificate",
                ));
            }
        }
        return Ok(Input {
            name: name.into(),
            loaded: Loaded::Chain(certs),
            path_len,
            findings,
        });
    }
    match keys.len() {
        0 => Err(PkiError::Nothing { name: name.into() }),
        1 => {
            let (spki, kind) = keys.remove(0);
            let info = key::parse_spki(&spki).map_err(|e| PkiError::Malformed {
                name: name.into(),
                at: String::new(),
                what: "public key",
                reason: e.to_string(),
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

/// Reads a chain as presented by a server (DER certificates, leaf first). `peer` names it.
pub fn parse_presented(peer: &str, chain: &[Vec<u8>]) -> Result<Input, PkiError> {
    let objects = chain
        .iter()
        .enumerate()
        .map(|(i, der_bytes)| {
            Certificate::from_der(der_bytes)
                .map(Object::Cert)
                .map_err(|reason| PkiError::Malformed {
                    name: peer.into(),
                    at: format!(": certificate #{}", i + 1),
                    what: "certificate",
                    reason,
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    assemble(peer, objects, Origin::Presented)
}
