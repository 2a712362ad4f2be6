//! Elliptic-curve keys (RFC 5480, SEC 1): which curve a key is on, whether its point is on
//! that curve, and the public point of a private scalar.
//!
//! The rule is never to guess. A curve is known from a namedCurve OID, or from explicit
//! parameters that are exactly those of P-256, P-384 or P-521; anything else is refused.
//! Points are checked with the RustCrypto curve crates (`p256`, `p384`, `p521`), which also
//! derive the public point when a private key leaves it out. Explicit parameters are written
//! back as OpenSSL writes them (`openssl pkey -pubout`): version 1, the seed if the input had
//! one, and the base point uncompressed.

use thiserror::Error;

use super::der::{self, BIT_STRING, INTEGER, NULL, OCTET_STRING, OID, SEQUENCE, Tlv};

pub const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
pub const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// id-fieldType prime-field (RFC 3279 §2.3.5).
const OID_PRIME_FIELD: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x01, 0x01];

/// The explicit parameters `openssl ecparam -name CURVE -param_enc explicit -outform DER`
/// writes (OpenSSL 3.0), with the seed. The curve constants are read from these.
const EXPLICIT_P256: &str = "3081f7020101302c06072a8648ce3d0101022100ffffffff0000000100000000000000000000\
0000ffffffffffffffffffffffff305b0420ffffffff00000001000000000000000000000000ffffffffffffffffffffff\
fc04205ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b031500c49d360886e704936a6678\
e1139d26b7819f7e900441046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe\
1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5022100ffffffff00000000ffffffffffffffffbce6fa\
ada7179e84f3b9cac2fc632551020101";
const EXPLICIT_P384: &str = "30820157020101303c06072a8648ce3d0101023100ffffffffffffffffffffffffffffffffff\
fffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff307b0430ffffffffffffffffffffffffffff\
fffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffc0430b3312fa7e23ee7e4988e056be3\
f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef031500a335926aa319a27a1d0089\
6a6773a4827acdac73046104aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf\
55296c3a545e3872760ab73617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e\
819d7a431d7c90ea0e5f023100ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db2\
48b0a77aecec196accc52973020101";
const EXPLICIT_P521: &str = "308201c3020101304d06072a8648ce3d0101024201ffffffffffffffffffffffffffff\
ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
ffff30819f044201ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
fffffffffffffffffffffffffffffffffffffffffffffffc04420051953eb9618e1c9a1f929a21a0b68540eea2da725b99\
b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00031500d09e88\
00291cb85396cc6717393284aaa0da64ba0481850400c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828\
af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66011839296a789a3bc0045c\
8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be\
94769fd16650024201fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f96\
6b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409020101";

/// The curves whose points danekit can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamedCurve {
    P256,
    P384,
    P521,
}

/// Why an EC key was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EcError {
    #[error("the EC key names no curve; refusing to guess one from the key length")]
    NoCurve,
    #[error(
        "the EC key is on {name}; danekit checks keys only on P-256, P-384 and P-521 (compute \
         the record from the certificate instead)"
    )]
    UnsupportedCurve { name: String },
    #[error(
        "the EC key has explicit curve parameters that are not exactly those of P-256, P-384 \
         or P-521 ({reason})"
    )]
    UnknownExplicit { reason: &'static str },
    #[error("the EC public key is not a point on {curve}")]
    NotOnCurve { curve: &'static str },
    #[error("the EC public key is not a SEC 1 point encoding for {curve} ({reason})")]
    PointEncoding {
        curve: &'static str,
        reason: &'static str,
    },
    #[error("the EC private key is not a valid {curve} scalar")]
    BadScalar { curve: &'static str },
    #[error("the public key stored in the EC private key does not belong to its private key")]
    PublicMismatch,
    #[error("malformed EC parameters: {0}")]
    Der(#[from] der::DerError),
}

impl NamedCurve {
    pub fn from_oid(oid: &[u8]) -> Option<NamedCurve> {
        match oid {
            OID_P256 => Some(NamedCurve::P256),
            OID_P384 => Some(NamedCurve::P384),
            OID_P521 => Some(NamedCurve::P521),
            _ => None,
        }
    }

    pub fn oid(self) -> &'static [u8] {
        match self {
            NamedCurve::P256 => OID_P256,
            NamedCurve::P384 => OID_P384,
            NamedCurve::P521 => OID_P521,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NamedCurve::P256 => "P-256",
            NamedCurve::P384 => "P-384",
            NamedCurve::P521 => "P-521",
        }
    }

    /// Octets of a field element or scalar.
    pub fn field_len(self) -> usize {
        match self {
            NamedCurve::P256 => 32,
            NamedCurve::P384 => 48,
            NamedCurve::P521 => 66,
        }
    }

    fn explicit_hex(self) -> &'static str {
        match self {
            NamedCurve::P256 => EXPLICIT_P256,
            NamedCurve::P384 => EXPLICIT_P384,
            NamedCurve::P521 => EXPLICIT_P521,
        }
    }

    const ALL: [NamedCurve; 3] = [NamedCurve::P256, NamedCurve::P384, NamedCurve::P521];

    /// Checks a SEC 1 point encoding (compressed `02`/`03` or uncompressed `04`): right length,
    /// on the curve, not the identity.
    pub fn check_point(self, point: &[u8]) -> Result<(), EcError> {
        let curve = self.name();
        let n = self.field_len();
        let bad = |reason| EcError::PointEncoding { curve, reason };
        match point.first() {
            None | Some(0x00) => return Err(bad("the point at infinity")),
            Some(0x02 | 0x03) if point.len() == 1 + n => {}
            Some(0x04) if point.len() == 1 + 2 * n => {}
            Some(0x02..=0x04) => return Err(bad("wrong length")),
            Some(0x06 | 0x07) => return Err(bad("hybrid form, which is not used")),
            Some(_) => return Err(bad("unknown form octet")),
        }
        let on_curve = match self {
            NamedCurve::P256 => p256::PublicKey::from_sec1_bytes(point).is_ok(),
            NamedCurve::P384 => p384::PublicKey::from_sec1_bytes(point).is_ok(),
            NamedCurve::P521 => p521::PublicKey::from_sec1_bytes(point).is_ok(),
        };
        if on_curve {
            Ok(())
        } else {
            Err(EcError::NotOnCurve { curve })
        }
    }

    /// The uncompressed public point of a private scalar (big-endian, leading zeros allowed).
    pub fn public_point(self, scalar: &[u8]) -> Result<Vec<u8>, EcError> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let bad = EcError::BadScalar { curve: self.name() };
        let n = self.field_len();
        let skip = scalar.iter().take_while(|&&b| b == 0).count();
        let trimmed = &scalar[skip..];
        if trimmed.len() > n {
            return Err(bad);
        }
        let mut padded = vec![0u8; n - trimmed.len()];
        padded.extend_from_slice(trimmed);
        let point = match self {
            NamedCurve::P256 => p256::SecretKey::from_slice(&padded)
                .map(|k| k.public_key().to_encoded_point(false).as_bytes().to_vec()),
            NamedCurve::P384 => p384::SecretKey::from_slice(&padded)
                .map(|k| k.public_key().to_encoded_point(false).as_bytes().to_vec()),
            NamedCurve::P521 => p521::SecretKey::from_slice(&padded)
                .map(|k| k.public_key().to_encoded_point(false).as_bytes().to_vec()),
        };
        point.map_err(|_| bad)
    }

    /// The same point in uncompressed form, for comparing a stored public key with a derived
    /// one.
    fn uncompressed(self, point: &[u8]) -> Option<Vec<u8>> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        match self {
            NamedCurve::P256 => p256::PublicKey::from_sec1_bytes(point)
                .ok()
                .map(|k| k.to_encoded_point(false).as_bytes().to_vec()),
            NamedCurve::P384 => p384::PublicKey::from_sec1_bytes(point)
                .ok()
                .map(|k| k.to_encoded_point(false).as_bytes().to_vec()),
            NamedCurve::P521 => p521::PublicKey::from_sec1_bytes(point)
                .ok()
                .map(|k| k.to_encoded_point(false).as_bytes().to_vec()),
        }
    }

    /// True when `stored` (any SEC 1 form) is the public point of `scalar`.
    pub fn matches_scalar(self, stored: &[u8], scalar: &[u8]) -> Result<bool, EcError> {
        let derived = self.public_point(scalar)?;
        Ok(self.uncompressed(stored).is_some_and(|p| p == derived))
    }
}

/// The curve of an EC key as its parameters give it (RFC 5480 §2.1.1 ECParameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurveParams {
    /// `namedCurve` OID.
    Named(NamedCurve),
    /// `specifiedCurve` parameters equal to a known curve's; `seed` says whether they carried
    /// the curve's seed.
    Explicit { curve: NamedCurve, seed: bool },
}

impl CurveParams {
    pub fn curve(self) -> NamedCurve {
        match self {
            CurveParams::Named(c) | CurveParams::Explicit { curve: c, .. } => c,
        }
    }

    /// The parameters as OpenSSL writes them in a SubjectPublicKeyInfo.
    pub fn encode(self) -> Vec<u8> {
        match self {
            CurveParams::Named(c) => der::write_tlv(OID, c.oid()),
            CurveParams::Explicit { curve, seed } => {
                let canonical = explicit_der(curve);
                if seed {
                    canonical
                } else {
                    strip_seed(&canonical).unwrap_or(canonical)
                }
            }
        }
    }
}

fn explicit_der(curve: NamedCurve) -> Vec<u8> {
    data_encoding::HEXLOWER
        .decode(curve.explicit_hex().as_bytes())
        .unwrap_or_default()
}

/// The fields of explicit prime-field parameters, as numbers and octets.
struct Explicit<'a> {
    prime: &'a [u8],
    a: &'a [u8],
    b: &'a [u8],
    seed: Option<&'a [u8]>,
    base: &'a [u8],
    order: &'a [u8],
    cofactor: Option<&'a [u8]>,
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    &bytes[skip..]
}

fn parse_explicit<'a>(params: &Tlv<'a>) -> Result<Explicit<'a>, EcError> {
    let unknown = |reason| EcError::UnknownExplicit { reason };
    let fields = der::children(params.value)?;
    let [version, field, curve, base, order, rest @ ..] = fields.as_slice() else {
        return Err(unknown("too few fields"));
    };
    if version.tag != INTEGER || version.value != [1] {
        return Err(unknown("version is not 1"));
    }
    if field.tag != SEQUENCE {
        return Err(unknown("no fieldID"));
    }
    let field_parts = der::children(field.value)?;
    let [field_type, prime] = field_parts.as_slice() else {
        return Err(unknown("malformed fieldID"));
    };
    if field_type.tag != OID || field_type.value != OID_PRIME_FIELD {
        return Err(unknown("not a prime field"));
    }
    let prime = der::positive_integer(prime)?;
    if curve.tag != SEQUENCE {
        return Err(unknown("no curve"));
    }
    let curve_parts = der::children(curve.value)?;
    let (a, b, seed) = match curve_parts.as_slice() {
        [a, b] => (a, b, None),
        [a, b, s] if s.tag == BIT_STRING => (a, b, Some(s.value)),
        _ => return Err(unknown("malformed curve")),
    };
    if a.tag != OCTET_STRING || b.tag != OCTET_STRING || base.tag != OCTET_STRING {
        return Err(unknown("malformed curve"));
    }
    let order = der::positive_integer(order)?;
    let cofactor = match rest {
        [] => None,
        [h] => Some(der::positive_integer(h)?),
        _ => return Err(unknown("too many fields")),
    };
    Ok(Explicit {
        prime,
        a: a.value,
        b: b.value,
        seed,
        base: base.value,
        order,
        cofactor,
    })
}

/// Which known curve explicit parameters describe, and whether they carry its seed.
fn recognize_explicit(params: &Tlv<'_>) -> Result<CurveParams, EcError> {
    let unknown = |reason| EcError::UnknownExplicit { reason };
    let given = parse_explicit(params)?;
    for curve in NamedCurve::ALL {
        let canonical_der = explicit_der(curve);
        let Ok(canonical_tlv) = der::whole(&canonical_der, SEQUENCE, "ECParameters") else {
            continue;
        };
        let Ok(known) = parse_explicit(&canonical_tlv) else {
            continue;
        };
        if strip_zeros(given.prime) != strip_zeros(known.prime) {
            continue;
        }
        if strip_zeros(given.a) != strip_zeros(known.a)
            || strip_zeros(given.b) != strip_zeros(known.b)
        {
            return Err(unknown("the field is known but a or b differ"));
        }
        if strip_zeros(given.order) != strip_zeros(known.order) {
            return Err(unknown("the order differs"));
        }
        if given.cofactor.is_some_and(|h| strip_zeros(h) != [1]) {
            return Err(unknown("the cofactor is not 1"));
        }
        let base_ok = given.base == known.base
            || curve
                .uncompressed(given.base)
                .is_some_and(|p| p == known.base);
        if !base_ok {
            return Err(unknown("the base point differs"));
        }
        return match given.seed {
            None => Ok(CurveParams::Explicit { curve, seed: false }),
            Some(s) if Some(s) == known.seed => Ok(CurveParams::Explicit { curve, seed: true }),
            Some(_) => Err(unknown("the seed differs from the curve's")),
        };
    }
    Err(unknown("the field prime is not one of theirs"))
}

/// Removes the seed from canonical explicit parameters (as `openssl ecparam -no_seed`).
fn strip_seed(canonical: &[u8]) -> Option<Vec<u8>> {
    let outer = der::whole(canonical, SEQUENCE, "ECParameters").ok()?;
    let fields = der::children(outer.value).ok()?;
    let mut body = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        if i == 2 {
            let parts = der::children(f.value).ok()?;
            let mut curve = Vec::new();
            for p in parts.iter().take(2) {
                curve.extend_from_slice(p.raw);
            }
            body.extend(der::write_tlv(SEQUENCE, &curve));
        } else {
            body.extend_from_slice(f.raw);
        }
    }
    Some(der::write_tlv(SEQUENCE, &body))
}

/// A dotted OID and, for curves people meet, its name.
fn curve_name(oid: &[u8]) -> String {
    let dotted = super::key::dotted_oid(oid);
    let known = match dotted.as_str() {
        "1.3.132.0.10" => Some("secp256k1"),
        "1.3.132.0.33" => Some("secp224r1"),
        "1.2.840.10045.3.1.1" => Some("prime192v1"),
        "1.2.840.10045.3.1.4" => Some("prime239v1"),
        "1.3.36.3.3.2.8.1.1.7" => Some("brainpoolP256r1"),
        "1.3.36.3.3.2.8.1.1.11" => Some("brainpoolP384r1"),
        "1.3.36.3.3.2.8.1.1.13" => Some("brainpoolP512r1"),
        "1.2.156.10197.1.301" => Some("SM2"),
        _ => None,
    };
    match known {
        Some(name) => format!("{name} ({dotted})"),
        None => format!("curve {dotted}"),
    }
}

/// Reads ECParameters (RFC 5480 §2.1.1) from an AlgorithmIdentifier or a SEC 1 `[0]`.
/// `None` (absent) and NULL (implicitlyCA) name no curve and are refused.
pub fn parse_params(params: Option<&Tlv<'_>>) -> Result<CurveParams, EcError> {
    let Some(params) = params else {
        return Err(EcError::NoCurve);
    };
    match params.tag {
        OID => NamedCurve::from_oid(params.value)
            .map(CurveParams::Named)
            .ok_or_else(|| EcError::UnsupportedCurve {
                name: curve_name(params.value),
            }),
        SEQUENCE => recognize_explicit(params),
        NULL => Err(EcError::NoCurve),
        _ => Err(EcError::UnknownExplicit {
            reason: "neither a curve OID nor parameters",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap()
    }

    #[test]
    fn openssl_explicit_forms_are_recognised() {
        // openssl ecparam -name prime256v1 -param_enc explicit [-no_seed] [-conv_form compressed]
        let no_seed = hex(
            "3081e0020101302c06072a8648ce3d0101022100ffffffff00000001000000000000000000000000ffffffffffffffffffffffff30440420ffffffff00000001000000000000000000000000fffffffffffffffffffffffc04205ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b0441046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5022100ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551020101",
        );
        let compressed = hex(
            "3081d7020101302c06072a8648ce3d0101022100ffffffff00000001000000000000000000000000ffffffffffffffffffffffff305b0420ffffffff00000001000000000000000000000000fffffffffffffffffffffffc04205ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b031500c49d360886e704936a6678e1139d26b7819f7e900421036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296022100ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551020101",
        );
        let with_seed = explicit_der(NamedCurve::P256);
        for (der_bytes, seed) in [(&with_seed, true), (&no_seed, false), (&compressed, true)] {
            let tlv = der::whole(der_bytes, SEQUENCE, "p").unwrap();
            let p = parse_params(Some(&tlv)).unwrap();
            assert_eq!(
                p,
                CurveParams::Explicit {
                    curve: NamedCurve::P256,
                    seed
                }
            );
        }
        assert_eq!(
            CurveParams::Explicit {
                curve: NamedCurve::P256,
                seed: false
            }
            .encode(),
            no_seed
        );
        for curve in NamedCurve::ALL {
            let der_bytes = explicit_der(curve);
            let tlv = der::whole(&der_bytes, SEQUENCE, "p").unwrap();
            assert_eq!(
                parse_params(Some(&tlv)).unwrap(),
                CurveParams::Explicit { curve, seed: true }
            );
        }
    }

    #[test]
    fn unknown_curves_are_refused_by_name() {
        let k1 = der::write_tlv(OID, &[0x2b, 0x81, 0x04, 0x00, 0x0a]);
        let (tlv, _) = der::read_tlv(&k1).unwrap();
        assert_eq!(
            parse_params(Some(&tlv)).unwrap_err().to_string(),
            "the EC key is on secp256k1 (1.3.132.0.10); danekit checks keys only on P-256, \
             P-384 and P-521 (compute the record from the certificate instead)"
        );
        assert_eq!(parse_params(None), Err(EcError::NoCurve));
        let null = [0x05, 0x00];
        let (tlv, _) = der::read_tlv(&null).unwrap();
        assert_eq!(parse_params(Some(&tlv)), Err(EcError::NoCurve));
    }

    #[test]
    fn points_are_checked() {
        // The P-256 base point is on the curve; changing one octet moves it off.
        let g = hex(
            "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
        );
        NamedCurve::P256.check_point(&g).unwrap();
        let mut off = g.clone();
        off[40] ^= 1;
        assert_eq!(
            NamedCurve::P256.check_point(&off),
            Err(EcError::NotOnCurve { curve: "P-256" })
        );
        assert!(NamedCurve::P256.check_point(&[0x00]).is_err());
        assert!(NamedCurve::P256.check_point(&g[..40]).is_err());
        assert!(NamedCurve::P384.check_point(&g).is_err());
        let mut hybrid = g.clone();
        hybrid[0] = 0x06;
        assert!(NamedCurve::P256.check_point(&hybrid).is_err());
        // Scalar 1 gives the base point.
        assert_eq!(NamedCurve::P256.public_point(&[1]).unwrap(), g);
        assert!(NamedCurve::P256.matches_scalar(&g, &[0, 0, 1]).unwrap());
        assert!(NamedCurve::P256.public_point(&[0]).is_err());
        assert!(NamedCurve::P256.public_point(&[0xff; 32]).is_err());
    }
}
