//! Public keys: SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) read from SPKI, PKCS#1 (RFC 8017),
//! SEC1 (RFC 5915) and PKCS#8 (RFC 5958) encodings, and what kind of key each one is.
//!
//! The SPKI is rebuilt from the key's own fields, byte for byte as `openssl pkey -pubout`
//! writes it, so that a `3 1 1` computed from a private key equals the one computed from the
//! certificate. Only Ed25519 needs arithmetic (the public key from the seed, by ring).

use std::fmt;

use super::der::{self, BIT_STRING, DerError, INTEGER, OCTET_STRING, OID, SEQUENCE, Tlv};
use thiserror::Error;

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];

/// The algorithm family and size of a public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyInfo {
    Rsa {
        bits: usize,
    },
    Ec {
        curve: Curve,
    },
    Ed25519,
    Ed448,
    /// Another algorithm, by dotted OID.
    Other {
        oid: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
    /// A curve other than the NIST ones, or explicit parameters.
    Other,
}

impl fmt::Display for KeyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyInfo::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyInfo::Ec { curve: Curve::P256 } => f.write_str("ECDSA P-256"),
            KeyInfo::Ec { curve: Curve::P384 } => f.write_str("ECDSA P-384"),
            KeyInfo::Ec { curve: Curve::P521 } => f.write_str("ECDSA P-521"),
            KeyInfo::Ec {
                curve: Curve::Other,
            } => f.write_str("ECDSA (other curve)"),
            KeyInfo::Ed25519 => f.write_str("Ed25519"),
            KeyInfo::Ed448 => f.write_str("Ed448"),
            KeyInfo::Other { oid } => write!(f, "algorithm {oid}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error(transparent)]
    Der(#[from] DerError),
    #[error("{0}")]
    Structure(&'static str),
    #[error("unsupported private key algorithm {0}")]
    Unsupported(String),
    #[error(
        "the EC private key does not carry its public key; write it out with `openssl pkey -pubout` and use that"
    )]
    EcWithoutPublicKey,
    #[error("the EC private key names no curve and its length ({0} bytes) does not tell one")]
    EcUnknownCurve(usize),
}

fn whole<'a>(input: &'a [u8], tag: u8, what: &'static str) -> Result<Tlv<'a>, KeyError> {
    let (tlv, rest) = der::expect(input, tag, what)?;
    if !rest.is_empty() {
        return Err(KeyError::Structure("extra bytes after the key structure"));
    }
    Ok(tlv)
}

fn spki(algorithm_raw: &[u8], key_bits: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(key_bits.len() + 1);
    bits.push(0);
    bits.extend_from_slice(key_bits);
    let mut body = algorithm_raw.to_vec();
    body.extend(der::write_tlv(BIT_STRING, &bits));
    der::write_tlv(SEQUENCE, &body)
}

fn algorithm_identifier(oid: &[u8], params: Option<&[u8]>) -> Vec<u8> {
    let mut body = der::write_tlv(OID, oid);
    if let Some(p) = params {
        body.extend_from_slice(p);
    }
    der::write_tlv(SEQUENCE, &body)
}

fn rsa_public_from_private(rsa_private: &[u8]) -> Result<Vec<u8>, KeyError> {
    // RFC 8017 §A.1.2: RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, ... }
    let seq = whole(rsa_private, SEQUENCE, "RSAPrivateKey SEQUENCE")?;
    let fields = der::children(seq.value)?;
    let (Some(version), Some(n), Some(e)) = (fields.first(), fields.get(1), fields.get(2)) else {
        return Err(KeyError::Structure("RSAPrivateKey has too few fields"));
    };
    if fields.len() < 9 || [version, n, e].iter().any(|t| t.tag != INTEGER) {
        return Err(KeyError::Structure("RSAPrivateKey is not 9 INTEGERs"));
    }
    let mut body = n.raw.to_vec();
    body.extend_from_slice(e.raw);
    Ok(der::write_tlv(SEQUENCE, &body))
}

/// The OID of an AlgorithmIdentifier (RFC 5280 §4.1.1.2) and all its fields.
fn algorithm_oid<'a>(alg: &Tlv<'a>) -> Result<(Tlv<'a>, Vec<Tlv<'a>>), KeyError> {
    let fields = der::children(alg.value)?;
    let oid = fields
        .first()
        .filter(|t| t.tag == OID)
        .copied()
        .ok_or(KeyError::Structure("algorithm identifier without OID"))?;
    Ok((oid, fields))
}

/// SPKI of a PKCS#1 `RSA PRIVATE KEY`.
pub fn spki_from_pkcs1(der_bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
    let public = rsa_public_from_private(der_bytes)?;
    Ok(spki(
        &algorithm_identifier(OID_RSA, Some(&[0x05, 0x00])),
        &public,
    ))
}

/// SPKI of a PKCS#1 `RSA PUBLIC KEY` (RFC 8017 §A.1.1).
pub fn spki_from_pkcs1_public(der_bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
    let seq = whole(der_bytes, SEQUENCE, "RSAPublicKey SEQUENCE")?;
    let fields = der::children(seq.value)?;
    if fields.len() != 2 || fields.iter().any(|t| t.tag != INTEGER) {
        return Err(KeyError::Structure("RSAPublicKey is not two INTEGERs"));
    }
    Ok(spki(
        &algorithm_identifier(OID_RSA, Some(&[0x05, 0x00])),
        seq.raw,
    ))
}

fn curve_by_length(len: usize) -> Result<&'static [u8], KeyError> {
    match len {
        32 => Ok(OID_P256),
        48 => Ok(OID_P384),
        66 => Ok(OID_P521),
        n => Err(KeyError::EcUnknownCurve(n)),
    }
}

/// What a SEC1 ECPrivateKey (RFC 5915 §3) says about its public half.
struct Sec1Parts<'a> {
    public: &'a [u8],
    /// The `[0]` parameters (a named-curve OID), DER, when present.
    params: Option<&'a [u8]>,
    private_len: usize,
}

fn sec1_parts(sec1: &[u8]) -> Result<Sec1Parts<'_>, KeyError> {
    let seq = whole(sec1, SEQUENCE, "ECPrivateKey SEQUENCE")?;
    let fields = der::children(seq.value)?;
    let (Some(version), Some(private)) = (fields.first(), fields.get(1)) else {
        return Err(KeyError::Structure("ECPrivateKey has too few fields"));
    };
    if version.tag != INTEGER || version.value != [1] || private.tag != OCTET_STRING {
        return Err(KeyError::Structure("not an ECPrivateKey (version 1)"));
    }
    let mut params = None;
    let mut public = None;
    for f in &fields[2..] {
        match f.tag {
            0xa0 => params = Some(f.value),
            0xa1 => {
                let bits = whole(f.value, BIT_STRING, "public key BIT STRING")?;
                let (unused, key) = bits
                    .value
                    .split_first()
                    .ok_or(KeyError::Structure("empty public key"))?;
                if *unused != 0 {
                    return Err(KeyError::Structure("public key with unused bits"));
                }
                public = Some(key);
            }
            _ => return Err(KeyError::Structure("unexpected field in ECPrivateKey")),
        }
    }
    let public = public.ok_or(KeyError::EcWithoutPublicKey)?;
    Ok(Sec1Parts {
        public,
        params,
        private_len: private.value.len(),
    })
}

/// SPKI of a SEC1 `EC PRIVATE KEY`. The curve comes from its parameters, or from the
/// length of the private key when they are left out.
pub fn spki_from_sec1(der_bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
    let parts = sec1_parts(der_bytes)?;
    let params = match parts.params {
        Some(p) => p.to_vec(),
        None => der::write_tlv(OID, curve_by_length(parts.private_len)?),
    };
    Ok(spki(
        &algorithm_identifier(OID_EC, Some(&params)),
        parts.public,
    ))
}

/// SPKI of a PKCS#8 `PRIVATE KEY` (RFC 5958 OneAsymmetricKey, versions 1 and 2).
pub fn spki_from_pkcs8(der_bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
    let seq = whole(der_bytes, SEQUENCE, "PrivateKeyInfo SEQUENCE")?;
    let fields = der::children(seq.value)?;
    let (Some(version), Some(alg), Some(private)) = (fields.first(), fields.get(1), fields.get(2))
    else {
        return Err(KeyError::Structure("PrivateKeyInfo has too few fields"));
    };
    if version.tag != INTEGER || alg.tag != SEQUENCE || private.tag != OCTET_STRING {
        return Err(KeyError::Structure("not a PKCS#8 PrivateKeyInfo"));
    }
    let (oid, alg_fields) = algorithm_oid(alg)?;
    // RFC 5958 §2: publicKey [1] IMPLICIT BIT STRING, present in version 2.
    let embedded_public = fields[3..]
        .iter()
        .find(|t| t.tag == 0x81)
        .and_then(|t| t.value.split_first())
        .map(|(_, key)| key);
    match oid.value {
        OID_RSA | OID_RSA_PSS => {
            let public = rsa_public_from_private(private.value)?;
            Ok(spki(alg.raw, &public))
        }
        OID_EC => {
            let parts = sec1_parts(private.value)?;
            let params = match (alg_fields.get(1), parts.params) {
                (Some(p), _) => p.raw.to_vec(),
                (None, Some(p)) => p.to_vec(),
                (None, None) => der::write_tlv(OID, curve_by_length(parts.private_len)?),
            };
            Ok(spki(
                &algorithm_identifier(OID_EC, Some(&params)),
                parts.public,
            ))
        }
        OID_ED25519 => {
            let public = match embedded_public {
                Some(p) => p.to_vec(),
                None => {
                    // RFC 8410 §7: privateKey holds CurvePrivateKey ::= OCTET STRING.
                    let seed = whole(private.value, OCTET_STRING, "Ed25519 seed")?;
                    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed.value)
                        .map_err(|_| KeyError::Structure("Ed25519 seed is not 32 bytes"))?;
                    ring::signature::KeyPair::public_key(&pair)
                        .as_ref()
                        .to_vec()
                }
            };
            Ok(spki(&algorithm_identifier(OID_ED25519, None), &public))
        }
        OID_ED448 => match embedded_public {
            Some(p) => Ok(spki(&algorithm_identifier(OID_ED448, None), p)),
            None => Err(KeyError::Unsupported(
                "Ed448 without an embedded public key".into(),
            )),
        },
        other => Err(KeyError::Unsupported(dotted_oid(other))),
    }
}

/// Checks that `der_bytes` is exactly one SubjectPublicKeyInfo and says what key it holds.
pub fn parse_spki(der_bytes: &[u8]) -> Result<KeyInfo, KeyError> {
    let seq = whole(der_bytes, SEQUENCE, "SubjectPublicKeyInfo SEQUENCE")?;
    let fields = der::children(seq.value)?;
    let [alg, bits] = fields.as_slice() else {
        return Err(KeyError::Structure(
            "SubjectPublicKeyInfo is not two fields",
        ));
    };
    if alg.tag != SEQUENCE || bits.tag != BIT_STRING {
        return Err(KeyError::Structure("not a SubjectPublicKeyInfo"));
    }
    let (oid, alg_fields) = algorithm_oid(alg)?;
    let key = bits.value.get(1..).unwrap_or_default();
    Ok(match oid.value {
        OID_RSA | OID_RSA_PSS => {
            let seq = whole(key, SEQUENCE, "RSAPublicKey SEQUENCE")?;
            let ints = der::children(seq.value)?;
            let n = ints
                .first()
                .filter(|t| t.tag == INTEGER)
                .ok_or(KeyError::Structure("RSAPublicKey without modulus"))?;
            KeyInfo::Rsa {
                bits: bit_length(n.value),
            }
        }
        OID_EC => {
            let curve = match alg_fields.get(1) {
                Some(p) if p.tag == OID && p.value == OID_P256 => Curve::P256,
                Some(p) if p.tag == OID && p.value == OID_P384 => Curve::P384,
                Some(p) if p.tag == OID && p.value == OID_P521 => Curve::P521,
                _ => Curve::Other,
            };
            KeyInfo::Ec { curve }
        }
        OID_ED25519 => KeyInfo::Ed25519,
        OID_ED448 => KeyInfo::Ed448,
        other => KeyInfo::Other {
            oid: dotted_oid(other),
        },
    })
}

fn bit_length(unsigned_be: &[u8]) -> usize {
    let trimmed: &[u8] = {
        let skip = unsigned_be.iter().take_while(|&&b| b == 0).count();
        &unsigned_be[skip..]
    };
    match trimmed.first() {
        None => 0,
        Some(&b) => (trimmed.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
    }
}

fn dotted_oid(bytes: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in bytes {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (acc / 40).min(2);
                parts.push(first);
                parts.push(acc - first * 40);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[0x00]), 0);
    }

    #[test]
    fn dotted_oids() {
        assert_eq!(dotted_oid(OID_RSA), "1.2.840.113549.1.1.1");
        assert_eq!(dotted_oid(OID_P384), "1.3.132.0.34");
        assert_eq!(dotted_oid(OID_ED25519), "1.3.101.112");
    }

    #[test]
    fn ed25519_seed_gives_rfc8032_public_key() {
        // RFC 8032 §7.1 TEST 1, wrapped as RFC 8410 PKCS#8 v1.
        let seed = data_encoding::HEXLOWER
            .decode(b"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let mut inner = vec![0x04, 0x20];
        inner.extend_from_slice(&seed);
        let mut body = der::write_tlv(INTEGER, &[0]);
        body.extend(algorithm_identifier(OID_ED25519, None));
        body.extend(der::write_tlv(OCTET_STRING, &inner));
        let pkcs8 = der::write_tlv(SEQUENCE, &body);
        let spki = spki_from_pkcs8(&pkcs8).unwrap();
        assert_eq!(
            data_encoding::HEXLOWER.encode(&spki),
            "302a300506032b6570032100d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(parse_spki(&spki).unwrap(), KeyInfo::Ed25519);
    }

    #[test]
    fn junk_is_refused_without_panic() {
        for junk in [
            &[][..],
            &[0x30, 0x00],
            &[0x30, 0x03, 0x02, 0x01, 0x00],
            &[0x04, 0x01, 0x00],
        ] {
            assert!(spki_from_pkcs8(junk).is_err());
            assert!(spki_from_pkcs1(junk).is_err());
            assert!(spki_from_sec1(junk).is_err());
            assert!(parse_spki(junk).is_err());
        }
    }
}
