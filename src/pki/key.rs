//! Public keys: the SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) of a key read from SPKI, PKCS#1
//! (RFC 8017), SEC1 (RFC 5915) or PKCS#8 (RFC 5958), in the canonical DER form that
//! `openssl pkey -pubout` writes and that a certificate carries.
//!
//! Every SPKI built here is re-read by [`canonical_spki`] before anyone hashes it: strict DER,
//! `rsaEncryption` with its NULL parameter, a named or exactly-known curve with a point on it,
//! Ed25519/Ed448 keys of the right length. A key that cannot be put in that form is refused
//! with the reason; nothing is guessed. Arithmetic (a public key from a private one) comes from
//! ring (Ed25519) and the RustCrypto curve crates (P-256, P-384, P-521).

use std::fmt;

use super::der::{
    self, BIT_STRING, DerError, INTEGER, NULL, OCTET_STRING, OID, SEQUENCE, Tlv, write_tlv,
};
use super::ec::{self, CurveParams, EcError, NamedCurve};
use thiserror::Error;

pub const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
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

/// The curve of an EC key, as far as it matters for lints and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
    /// Another named curve, or explicit parameters.
    Other,
}

impl From<NamedCurve> for Curve {
    fn from(c: NamedCurve) -> Curve {
        match c {
            NamedCurve::P256 => Curve::P256,
            NamedCurve::P384 => Curve::P384,
            NamedCurve::P521 => Curve::P521,
        }
    }
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

/// Why a key could not be read or put in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("{0}")]
    Der(#[from] DerError),
    #[error("{0}")]
    Structure(&'static str),
    #[error("{0}")]
    Ec(#[from] EcError),
    /// A key of an algorithm danekit does not compute records from, named.
    #[error("{algorithm}: {why}")]
    Unsupported {
        algorithm: String,
        why: &'static str,
    },
}

fn structure(what: &'static str) -> KeyError {
    KeyError::Structure(what)
}

/// A named algorithm that is refused, and why, for the OIDs people meet in key files.
fn refused_algorithm(oid: &[u8]) -> KeyError {
    let dotted = dotted_oid(oid);
    let (algorithm, why) = match dotted.as_str() {
        "1.2.840.10040.4.1" => (
            "a DSA key",
            "TLS servers no longer use DSA (TLS 1.3 removed it); danekit does not compute \
             records from DSA keys",
        ),
        "1.2.840.113549.1.3.1" | "1.2.840.10046.2.1" => (
            "a DH key",
            "Diffie-Hellman keys agree on secrets and cannot sign a TLS handshake",
        ),
        "1.3.101.110" => (
            "an X25519 key",
            "X25519 keys agree on secrets and cannot sign a TLS handshake",
        ),
        "1.3.101.111" => (
            "an X448 key",
            "X448 keys agree on secrets and cannot sign a TLS handshake",
        ),
        _ => {
            return KeyError::Unsupported {
                algorithm: format!("a key of algorithm {dotted}"),
                why: "danekit cannot check this algorithm's keys; compute the record from \
                      the certificate",
            };
        }
    };
    KeyError::Unsupported {
        algorithm: algorithm.to_owned(),
        why,
    }
}

/// The parts of an AlgorithmIdentifier (RFC 5280 §4.1.1.2): the OID and the optional
/// parameters.
struct Algorithm<'a> {
    oid: &'a [u8],
    params: Option<Tlv<'a>>,
    raw: &'a [u8],
}

fn algorithm<'a>(alg: &Tlv<'a>) -> Result<Algorithm<'a>, KeyError> {
    if alg.tag != SEQUENCE {
        return Err(structure("the algorithm identifier is not a SEQUENCE"));
    }
    let fields = der::children(alg.value)?;
    match fields.as_slice() {
        [oid] if oid.tag == OID => Ok(Algorithm {
            oid: oid.value,
            params: None,
            raw: alg.raw,
        }),
        [oid, params] if oid.tag == OID => Ok(Algorithm {
            oid: oid.value,
            params: Some(*params),
            raw: alg.raw,
        }),
        _ => Err(structure("malformed algorithm identifier")),
    }
}

/// SubjectPublicKeyInfo ::= SEQUENCE { algorithm, subjectPublicKey BIT STRING }, with the
/// key bits (no unused bits).
fn split_spki(spki: &[u8]) -> Result<(Algorithm<'_>, &[u8]), KeyError> {
    let seq = der::whole(spki, SEQUENCE, "SubjectPublicKeyInfo SEQUENCE")?;
    let fields = der::children(seq.value)?;
    let [alg, bits] = fields.as_slice() else {
        return Err(structure("a SubjectPublicKeyInfo has two fields"));
    };
    if bits.tag != BIT_STRING {
        return Err(structure("the public key is not a BIT STRING"));
    }
    let key = match bits.value.split_first() {
        Some((0, key)) => key,
        _ => return Err(structure("the public key BIT STRING has unused bits")),
    };
    Ok((algorithm(alg)?, key))
}

/// Builds `SEQUENCE { algorithm, BIT STRING key }`.
fn build_spki(algorithm_der: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0);
    bits.extend_from_slice(key);
    let mut body = algorithm_der.to_vec();
    body.extend(write_tlv(BIT_STRING, &bits));
    write_tlv(SEQUENCE, &body)
}

fn algorithm_identifier(oid: &[u8], params: Option<&[u8]>) -> Vec<u8> {
    let mut body = write_tlv(OID, oid);
    if let Some(p) = params {
        body.extend_from_slice(p);
    }
    write_tlv(SEQUENCE, &body)
}

/// `RSAPublicKey ::= SEQUENCE { modulus, publicExponent }` (RFC 8017 §A.1.1), minimal.
fn rsa_public(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = der::write_unsigned(n);
    body.extend(der::write_unsigned(e));
    write_tlv(SEQUENCE, &body)
}

/// Reads an RSAPublicKey and returns modulus and exponent (positive, minimal).
fn read_rsa_public(key: &[u8]) -> Result<(&[u8], &[u8]), KeyError> {
    let seq = der::whole(key, SEQUENCE, "RSAPublicKey SEQUENCE")?;
    let fields = der::children(seq.value)?;
    let [n, e] = fields.as_slice() else {
        return Err(structure("an RSAPublicKey is two INTEGERs"));
    };
    let n = der::positive_integer(n).map_err(|_| structure("the RSA modulus is not positive"))?;
    let e = der::positive_integer(e).map_err(|_| structure("the RSA exponent is not positive"))?;
    Ok((n, e))
}

/// The canonical RSA SPKI: `rsaEncryption` with NULL (RFC 8017 §A.1, RFC 3279 §2.3.1), as
/// every certificate and `openssl pkey -pubout` have it. For RSASSA-PSS keys the algorithm
/// identifier is kept as given.
fn rsa_spki(alg: &Algorithm<'_>, n: &[u8], e: &[u8]) -> Result<Vec<u8>, KeyError> {
    let public = rsa_public(n, e);
    match alg.oid {
        OID_RSA => match &alg.params {
            None => Ok(()),
            Some(p) if p.tag == NULL => Ok(()),
            Some(_) => Err(structure("rsaEncryption takes no parameters but NULL")),
        }
        .map(|()| build_spki(&algorithm_identifier(OID_RSA, Some(&[NULL, 0])), &public)),
        _ => Ok(build_spki(alg.raw, &public)),
    }
}

/// The canonical SPKI of an EC key on a checked curve.
fn ec_spki(params: CurveParams, point: &[u8]) -> Result<Vec<u8>, KeyError> {
    params.curve().check_point(point)?;
    Ok(build_spki(
        &algorithm_identifier(OID_EC, Some(&params.encode())),
        point,
    ))
}

fn ed_spki(oid: &[u8], key: &[u8]) -> Vec<u8> {
    build_spki(&algorithm_identifier(oid, None), key)
}

/// Checks a SubjectPublicKeyInfo strictly and returns it in canonical form (equal to the
/// input when the input already is). For public keys, CSRs, and every SPKI built from a
/// private key.
pub fn canonical_spki(spki: &[u8]) -> Result<Vec<u8>, KeyError> {
    der::check_tree(spki)?;
    let (alg, key) = split_spki(spki)?;
    match alg.oid {
        OID_RSA | OID_RSA_PSS => {
            let (n, e) = read_rsa_public(key)?;
            rsa_spki(&alg, n, e)
        }
        OID_EC => ec_spki(ec::parse_params(alg.params.as_ref())?, key),
        OID_ED25519 | OID_ED448 => {
            if alg.params.is_some() {
                return Err(structure(
                    "an EdDSA key takes no algorithm parameters (RFC 8410 §3)",
                ));
            }
            let want = if alg.oid == OID_ED25519 { 32 } else { 57 };
            if key.len() != want {
                return Err(structure("the EdDSA public key has the wrong length"));
            }
            Ok(ed_spki(alg.oid, key))
        }
        other => Err(refused_algorithm(other)),
    }
}

/// Checks a certificate's SPKI where danekit can tell a valid key: an EC point must be on its
/// curve (when the curve is one danekit checks) and an EdDSA key must have its length and no
/// parameters. OpenSSL refuses such keys, so no TLS server can use them. Algorithms and
/// curves danekit does not check pass: the record hashes the SPKI as the certificate carries
/// it, which is what DANE clients compare.
pub fn check_certificate_spki(spki: &[u8]) -> Result<(), KeyError> {
    let (alg, key) = split_spki(spki)?;
    match alg.oid {
        OID_EC => match ec::parse_params(alg.params.as_ref()) {
            Ok(params) => Ok(params.curve().check_point(key)?),
            Err(EcError::UnsupportedCurve { .. } | EcError::UnknownExplicit { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        },
        OID_ED25519 | OID_ED448 => canonical_spki(spki).map(|_| ()),
        _ => Ok(()),
    }
}

/// What kind of key a certificate's SPKI holds. Lenient: the SPKI is hashed as the
/// certificate carries it, so an algorithm danekit cannot check is reported, not refused.
pub fn spki_info(spki: &[u8]) -> Result<KeyInfo, KeyError> {
    let (alg, key) = split_spki(spki)?;
    Ok(match alg.oid {
        OID_RSA | OID_RSA_PSS => {
            let (n, _) = read_rsa_public(key)?;
            KeyInfo::Rsa {
                bits: bit_length(n),
            }
        }
        OID_EC => KeyInfo::Ec {
            curve: match alg.params {
                Some(p) if p.tag == OID => NamedCurve::from_oid(p.value)
                    .map(Curve::from)
                    .unwrap_or(Curve::Other),
                _ => Curve::Other,
            },
        },
        OID_ED25519 => KeyInfo::Ed25519,
        OID_ED448 => KeyInfo::Ed448,
        other => KeyInfo::Other {
            oid: dotted_oid(other),
        },
    })
}

/// The SPKI of a PKCS#1 `RSA PRIVATE KEY` (RFC 8017 §A.1.2).
pub fn spki_from_pkcs1(der_bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
    der::check_tree(der_bytes)?;
    let (n, e) = rsa_private_public_half(der_bytes)?;
    canonical_spki(&build_spki(
        &algorithm_identifier(OID_RSA, Some(&[NULL, 0])),
        &rsa_public(n, e),
    ))
}

/// Modulus and exponent of an RSAPrivateKey: version (0, or 1 with other primes), then
/// eight INTEGERs.
fn rsa_private_public_half(der_bytes: &[u8]) -> Result<(&[u8], &[u8]), KeyError> {
    let seq = der::whole(der_bytes, SEQUENCE, "RSAPrivateKey SEQUENCE")?;
    let fields = der::children(seq.value)?;
    if fields.len() < 9 || fields[..9].iter().any(|t| t.tag != INTEGER) {
        return Err(structure("an RSAPrivateKey starts with nine INTEGERs"));
    }
    if fields[0].value != [0] && fields[0].value != [1] {
        return Err(structure("unknown RSAPrivateKey version"));
    }
    let n = der::positive_integer(&fields[1])
        .map_err(|_| structure("the RSA modulus is not positive"))?;
    let e = der::positive_integer(&fields[2])
        .map_err(|_| structure("the RSA exponent is not positive"))?;
    Ok((n, e))
}

/// The SPKI of a PKCS#1 `RSA PUBLIC KEY` (RFC 8017 §A.1.1).
pub fn spki_from_pkcs1_public(der_bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
    der::check_tree(der_bytes)?;
    let (n, e) = read_rsa_public(der_bytes)?;
    canonical_spki(&build_spki(
        &algorithm_identifier(OID_RSA, Some(&[NULL, 0])),
        &rsa_public(n, e),
    ))
}

/// The parts of a SEC1 ECPrivateKey (RFC 5915 §3).
struct Sec1<'a> {
    scalar: &'a [u8],
    params: Option<Tlv<'a>>,
    public: Option<&'a [u8]>,
}

fn read_sec1(sec1: &[u8]) -> Result<Sec1<'_>, KeyError> {
    let seq = der::whole(sec1, SEQUENCE, "ECPrivateKey SEQUENCE")?;
    let fields = der::children(seq.value)?;
    let (Some(version), Some(private)) = (fields.first(), fields.get(1)) else {
        return Err(structure("an ECPrivateKey has at least two fields"));
    };
    if version.tag != INTEGER || version.value != [1] || private.tag != OCTET_STRING {
        return Err(structure("not an ECPrivateKey (version 1)"));
    }
    let mut params = None;
    let mut public = None;
    for f in &fields[2..] {
        match f.tag {
            0xa0 if params.is_none() && public.is_none() => {
                let (inner, rest) = der::read_tlv(f.value)?;
                if !rest.is_empty() {
                    return Err(structure("extra bytes in the ECPrivateKey parameters"));
                }
                params = Some(inner);
            }
            0xa1 if public.is_none() => {
                let bits = der::whole(f.value, BIT_STRING, "public key BIT STRING")?;
                match bits.value.split_first() {
                    Some((0, key)) => public = Some(key),
                    _ => return Err(structure("the EC public key BIT STRING has unused bits")),
                }
            }
            _ => return Err(structure("unexpected field in ECPrivateKey")),
        }
    }
    Ok(Sec1 {
        scalar: private.value,
        params,
        public,
    })
}

/// The SPKI of an EC private key on `params`: the stored public point after checking that it
/// belongs to the scalar, or the point derived from the scalar (uncompressed, as OpenSSL
/// writes it) when the key does not store one.
fn ec_private_spki(params: CurveParams, sec1: &Sec1<'_>) -> Result<Vec<u8>, KeyError> {
    let curve = params.curve();
    let point = match sec1.public {
        Some(stored) => {
            curve.check_point(stored)?;
            if !curve.matches_scalar(stored, sec1.scalar)? {
                return Err(EcError::PublicMismatch.into());
            }
            stored.to_vec()
        }
        None => curve.public_point(sec1.scalar)?,
    };
    canonical_spki(&ec_spki(params, &point)?)
}

/// The SPKI of a SEC1 `EC PRIVATE KEY`. The curve comes from its `[0]` parameters; a key
/// without them names no curve and is refused.
pub fn spki_from_sec1(der_bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
    der::check_tree(der_bytes)?;
    let sec1 = read_sec1(der_bytes)?;
    let params = ec::parse_params(sec1.params.as_ref())?;
    ec_private_spki(params, &sec1)
}

/// The SPKI of a PKCS#8 `PRIVATE KEY` (RFC 5958 OneAsymmetricKey, versions 1 and 2).
pub fn spki_from_pkcs8(der_bytes: &[u8]) -> Result<Vec<u8>, KeyError> {
    der::check_tree(der_bytes)?;
    let seq = der::whole(der_bytes, SEQUENCE, "PrivateKeyInfo SEQUENCE")?;
    let fields = der::children(seq.value)?;
    let (Some(version), Some(alg), Some(private)) = (fields.first(), fields.get(1), fields.get(2))
    else {
        return Err(structure("a PrivateKeyInfo has at least three fields"));
    };
    if version.tag != INTEGER || (version.value != [0] && version.value != [1]) {
        return Err(structure("not a PKCS#8 PrivateKeyInfo (version 0 or 1)"));
    }
    if private.tag != OCTET_STRING {
        return Err(structure("the PKCS#8 private key is not an OCTET STRING"));
    }
    let alg = algorithm(alg)?;
    // RFC 5958 §2: publicKey [1] IMPLICIT BIT STRING, in version 2.
    let embedded_public = fields[3..]
        .iter()
        .find(|t| t.tag == 0x81)
        .map(|t| match t.value.split_first() {
            Some((0, key)) => Ok(key),
            _ => Err(structure("the PKCS#8 public key has unused bits")),
        })
        .transpose()?;
    match alg.oid {
        OID_RSA | OID_RSA_PSS => {
            let (n, e) = rsa_private_public_half(private.value)?;
            canonical_spki(&rsa_spki(&alg, n, e)?)
        }
        OID_EC => {
            // OpenSSL takes the curve from the inner key when it has one; a key whose two
            // curves disagree is refused rather than read either way.
            let outer = ec::parse_params(alg.params.as_ref())?;
            let sec1 = read_sec1(private.value)?;
            if let Some(inner) = &sec1.params {
                let inner = ec::parse_params(Some(inner))?;
                if inner != outer {
                    return Err(structure(
                        "the curve in the PKCS#8 algorithm identifier differs from the curve \
                         inside the EC private key",
                    ));
                }
            }
            let spki = ec_private_spki(outer, &sec1)?;
            // RFC 5958 §2: a version 2 key may carry its public key outside too; it must be
            // the same point.
            if let Some(outside) = embedded_public {
                let curve = outer.curve();
                curve.check_point(outside)?;
                if !curve.matches_scalar(outside, sec1.scalar)? {
                    return Err(EcError::PublicMismatch.into());
                }
            }
            Ok(spki)
        }
        OID_ED25519 => {
            if alg.params.is_some() {
                return Err(structure("an Ed25519 key takes no algorithm parameters"));
            }
            // RFC 8410 §7: privateKey holds CurvePrivateKey ::= OCTET STRING (the seed).
            let seed = der::whole(private.value, OCTET_STRING, "Ed25519 seed")?;
            let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed.value)
                .map_err(|_| structure("the Ed25519 seed is not 32 bytes"))?;
            let public = ring::signature::KeyPair::public_key(&pair)
                .as_ref()
                .to_vec();
            if embedded_public.is_some_and(|p| p != public.as_slice()) {
                return Err(structure(
                    "the public key stored in the Ed25519 private key does not belong to it",
                ));
            }
            canonical_spki(&ed_spki(OID_ED25519, &public))
        }
        OID_ED448 => Err(KeyError::Unsupported {
            algorithm: "an Ed448 private key".into(),
            why: "danekit cannot derive its public key; give the certificate or the public key \
                  (openssl pkey -pubout)",
        }),
        other => Err(refused_algorithm(other)),
    }
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

/// An OID in dotted form. Arcs too long for 64 bits are shown as `?`.
pub fn dotted_oid(bytes: &[u8]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut acc: Option<u64> = Some(0);
    for &b in bytes {
        acc = acc
            .and_then(|a| a.checked_mul(128))
            .map(|a| a | u64::from(b & 0x7f));
        if b & 0x80 == 0 {
            match acc {
                Some(v) if parts.is_empty() => {
                    let first = (v / 40).min(2);
                    parts.push(first.to_string());
                    parts.push((v - first * 40).to_string());
                }
                Some(v) => parts.push(v.to_string()),
                None => parts.push("?".into()),
            }
            acc = Some(0);
        }
    }
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap()
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[0x00]), 0);
    }

    #[test]
    fn dotted_oids() {
        assert_eq!(dotted_oid(OID_RSA), "1.2.840.113549.1.1.1");
        assert_eq!(dotted_oid(ec::OID_P384), "1.3.132.0.34");
        assert_eq!(dotted_oid(OID_ED25519), "1.3.101.112");
        let mut huge = vec![0x2a];
        huge.extend([0xff; 11]);
        huge.push(0x01);
        assert_eq!(dotted_oid(&huge), "1.2.?");
    }

    fn pkcs8(alg: &[u8], private: &[u8]) -> Vec<u8> {
        let mut body = write_tlv(INTEGER, &[0]);
        body.extend_from_slice(alg);
        body.extend(write_tlv(OCTET_STRING, private));
        write_tlv(SEQUENCE, &body)
    }

    #[test]
    fn ed25519_seed_gives_rfc8032_public_key() {
        // RFC 8032 §7.1 TEST 1, wrapped as RFC 8410 PKCS#8 v1.
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let spki = spki_from_pkcs8(&pkcs8(
            &algorithm_identifier(OID_ED25519, None),
            &write_tlv(OCTET_STRING, &seed),
        ))
        .unwrap();
        assert_eq!(
            data_encoding::HEXLOWER.encode(&spki),
            "302a300506032b6570032100d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(spki_info(&spki).unwrap(), KeyInfo::Ed25519);
        assert_eq!(canonical_spki(&spki).unwrap(), spki);
    }

    /// A small RSA key (n = 3233, e = 17) is enough for the encoding rules.
    fn rsa_private() -> Vec<u8> {
        let mut body = Vec::new();
        for v in [
            &[0u8][..],
            &[0x0c, 0xa1],
            &[0x11],
            &[0x0a, 0xc1],
            &[0x3d],
            &[0x35],
            &[0x35],
            &[0x31],
            &[0x26],
        ] {
            body.extend(write_tlv(INTEGER, v));
        }
        write_tlv(SEQUENCE, &body)
    }

    #[test]
    fn rsa_without_null_gets_the_null_of_every_certificate() {
        let expected = build_spki(
            &algorithm_identifier(OID_RSA, Some(&[NULL, 0])),
            &rsa_public(&[0x0c, 0xa1], &[0x11]),
        );
        let no_null = pkcs8(&algorithm_identifier(OID_RSA, None), &rsa_private());
        assert_eq!(spki_from_pkcs8(&no_null).unwrap(), expected);
        let with_null = pkcs8(
            &algorithm_identifier(OID_RSA, Some(&[NULL, 0])),
            &rsa_private(),
        );
        assert_eq!(spki_from_pkcs8(&with_null).unwrap(), expected);
        assert_eq!(spki_from_pkcs1(&rsa_private()).unwrap(), expected);
        let spki_no_null = build_spki(
            &algorithm_identifier(OID_RSA, None),
            &rsa_public(&[0x0c, 0xa1], &[0x11]),
        );
        assert_eq!(canonical_spki(&spki_no_null).unwrap(), expected);
        let bad_params = pkcs8(
            &algorithm_identifier(OID_RSA, Some(&[OID, 1, 1])),
            &rsa_private(),
        );
        assert!(spki_from_pkcs8(&bad_params).is_err());
    }

    #[test]
    fn non_der_spki_is_refused() {
        let good = build_spki(
            &algorithm_identifier(OID_RSA, Some(&[NULL, 0])),
            &rsa_public(&[0x0c, 0xa1], &[0x11]),
        );
        canonical_spki(&good).unwrap();
        // The same SPKI with its outer length in the long form.
        let mut ber = vec![0x30, 0x81, good[1]];
        ber.extend_from_slice(&good[2..]);
        assert_eq!(
            canonical_spki(&ber).unwrap_err().to_string(),
            "not DER at byte 1: a long-form length that fits in one octet"
        );
    }

    #[test]
    fn ec_keys_never_guess_a_curve() {
        // ECPrivateKey { 1, scalar 1 } without parameters or public key.
        let mut body = write_tlv(INTEGER, &[1]);
        let mut scalar = vec![0u8; 31];
        scalar.push(1);
        body.extend(write_tlv(OCTET_STRING, &scalar));
        let sec1 = write_tlv(SEQUENCE, &body);
        assert_eq!(
            spki_from_sec1(&sec1).unwrap_err(),
            KeyError::Ec(EcError::NoCurve)
        );
        // With the curve named only outside, in PKCS#8, the point is derived.
        let p256 = write_tlv(OID, ec::OID_P256);
        let spki =
            spki_from_pkcs8(&pkcs8(&algorithm_identifier(OID_EC, Some(&p256)), &sec1)).unwrap();
        assert_eq!(
            spki_info(&spki).unwrap(),
            KeyInfo::Ec { curve: Curve::P256 }
        );
        assert_eq!(spki.len(), 91);
        // Outer P-384, inner P-256: refused.
        let mut body2 = body.clone();
        body2.extend(write_tlv(0xa0, &p256));
        let inner_p256 = write_tlv(SEQUENCE, &body2);
        let p384 = write_tlv(OID, ec::OID_P384);
        let err = spki_from_pkcs8(&pkcs8(
            &algorithm_identifier(OID_EC, Some(&p384)),
            &inner_p256,
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("differs from the curve inside"),
            "{err}"
        );
        // No curve anywhere.
        assert_eq!(
            spki_from_pkcs8(&pkcs8(&algorithm_identifier(OID_EC, None), &sec1)).unwrap_err(),
            KeyError::Ec(EcError::NoCurve)
        );
    }

    #[test]
    fn key_agreement_and_dsa_keys_are_named() {
        for (oid, name) in [
            (&[0x2b, 0x65, 0x6e][..], "an X25519 key"),
            (&[0x2b, 0x65, 0x6f], "an X448 key"),
            (&[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01], "a DSA key"),
            (
                &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x03, 0x01],
                "a DH key",
            ),
        ] {
            let spki = build_spki(&algorithm_identifier(oid, None), &[0u8; 32]);
            let e = canonical_spki(&spki).unwrap_err().to_string();
            assert!(e.starts_with(name), "{e}");
        }
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
            assert!(canonical_spki(junk).is_err());
            assert!(spki_info(junk).is_err());
        }
    }
}
