//! Computing certificate association data (RFC 6698 §2.1) from a chain or a key.

use ring::digest;
use thiserror::Error;

use super::{Matching, ParamSet, ParseError, Rdata, Selector};
use crate::pki::{Certificate, Material};

/// Which certificate of the chain a trust-anchor usage (0 or 2) hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaChoice {
    /// The certificate right after the leaf, or a lone CA certificate itself.
    #[default]
    Issuer,
    /// The N-th certificate after the leaf (N ≥ 1).
    Index(usize),
    /// The last certificate of the chain.
    Root,
}

impl std::str::FromStr for CaChoice {
    type Err = String;
    /// `1`, `2`, ... (the N-th certificate after the leaf) or `root`.
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("root") {
            return Ok(CaChoice::Root);
        }
        match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(CaChoice::Index(n)),
            _ => Err("expected a number from 1 (the leaf's issuer) or root".into()),
        }
    }
}

/// A computed record and the chain position it was computed from (0 = leaf).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed {
    pub rdata: Rdata,
    pub depth: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ComputeError {
    #[error(transparent)]
    Unassigned(#[from] ParseError),
    #[error(
        "a {kind} has no certificate: selector 0 (Cert) needs a certificate, use selector 1 (SPKI)"
    )]
    NoCertificate { kind: &'static str },
    #[error("a {kind} has no issuer: usage {usage} needs a chain or a CA certificate")]
    KeyHasNoIssuer { kind: &'static str, usage: u8 },
    #[error(
        "usage {usage} hashes an issuer, but this is a lone leaf certificate: give the chain \
         (leaf first) or the CA certificate itself"
    )]
    LoneLeaf { usage: u8 },
    #[error(
        "issuer {index} is past the chain: it has {len} certificate(s), so the issuers are 1..{last}"
    )]
    NoSuchCa {
        index: usize,
        len: usize,
        last: usize,
    },
    #[error("a lone CA certificate is its own trust anchor; no issuer {index} can be chosen")]
    LoneCaIndex { index: usize },
}

/// Computes the record for `params` from `material` (RFC 6698 §2.1). Usages 0 and 2 hash an
/// issuer chosen by `ca`; a single certificate that is a CA or self-issued is its own trust
/// anchor. Usages 1 and 3 hash the leaf.
pub fn compute(
    material: Material<'_>,
    params: ParamSet,
    ca: CaChoice,
) -> Result<Computed, ComputeError> {
    let params = params.check_assigned()?;
    let usage = u8::from(params.usage);
    let (selected, depth): (&[u8], usize) = match material {
        Material::Key { spki, kind } => {
            let kind = kind.as_str();
            if params.usage.is_trust_anchor() {
                return Err(ComputeError::KeyHasNoIssuer { kind, usage });
            }
            if params.selector == Selector::Cert {
                return Err(ComputeError::NoCertificate { kind });
            }
            (spki, 0)
        }
        Material::Chain(chain) => {
            let depth = if params.usage.is_trust_anchor() {
                pick_issuer(chain, ca, usage)?
            } else {
                0
            };
            let Some(cert) = chain.get(depth) else {
                return Err(ComputeError::NoSuchCa {
                    index: depth,
                    len: chain.len(),
                    last: chain.len().saturating_sub(1),
                });
            };
            (select(cert, params.selector), depth)
        }
    };
    Ok(Computed {
        rdata: Rdata::new(params, associate(params.matching, selected)),
        depth,
    })
}

/// What a selector takes of a certificate: its DER (0) or its SubjectPublicKeyInfo as encoded
/// in it (1).
pub(crate) fn select(cert: &Certificate, selector: Selector) -> &[u8] {
    match selector {
        Selector::Cert => &cert.der,
        _ => &cert.spki,
    }
}

/// The certificate association data of `selected` for a matching type (RFC 6698 §2.1.3).
pub(crate) fn associate(matching: Matching, selected: &[u8]) -> Vec<u8> {
    match matching {
        Matching::Sha256 => digest::digest(&digest::SHA256, selected).as_ref().to_vec(),
        Matching::Sha512 => digest::digest(&digest::SHA512, selected).as_ref().to_vec(),
        _ => selected.to_vec(),
    }
}

fn pick_issuer(chain: &[Certificate], ca: CaChoice, usage: u8) -> Result<usize, ComputeError> {
    if let [only] = chain {
        if !(only.is_ca || only.self_issued) {
            return Err(ComputeError::LoneLeaf { usage });
        }
        return match ca {
            CaChoice::Index(index) => Err(ComputeError::LoneCaIndex { index }),
            CaChoice::Issuer | CaChoice::Root => Ok(0),
        };
    }
    let len = chain.len();
    let index = match ca {
        CaChoice::Issuer => 1,
        CaChoice::Root => len.saturating_sub(1),
        CaChoice::Index(n) => n,
    };
    if index == 0 || index >= len {
        return Err(ComputeError::NoSuchCa {
            index,
            len,
            last: len.saturating_sub(1),
        });
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(tag: u8, is_ca: bool) -> Certificate {
        Certificate::synthetic(vec![0x30, 0x01, tag], vec![0x30, 0x02, tag, tag], is_ca)
    }

    fn sha256_hex(b: &[u8]) -> String {
        data_encoding::HEXLOWER.encode(digest::digest(&digest::SHA256, b).as_ref())
    }

    #[test]
    fn dane_ee_hashes_the_leaf_spki_or_cert() {
        let chain = [cert(1, false), cert(2, true)];
        let c = compute(
            Material::Chain(&chain),
            "3 1 1".parse().unwrap(),
            CaChoice::Issuer,
        )
        .unwrap();
        assert_eq!(c.depth, 0);
        assert_eq!(c.rdata.data_hex(), sha256_hex(&[0x30, 0x02, 1, 1]));
        let c = compute(
            Material::Chain(&chain),
            "3 0 0".parse().unwrap(),
            CaChoice::Issuer,
        )
        .unwrap();
        assert_eq!(c.rdata.data, vec![0x30, 0x01, 1]);
        let c = compute(
            Material::Chain(&chain),
            "3 1 2".parse().unwrap(),
            CaChoice::Issuer,
        )
        .unwrap();
        assert_eq!(c.rdata.data.len(), 64);
    }

    #[test]
    fn dane_ta_picks_the_issuer() {
        let chain = [cert(1, false), cert(2, true), cert(3, true)];
        let m = Material::Chain(&chain);
        let p = "2 0 0".parse().unwrap();
        assert_eq!(compute(m, p, CaChoice::Issuer).unwrap().depth, 1);
        assert_eq!(compute(m, p, CaChoice::Index(2)).unwrap().depth, 2);
        assert_eq!(
            compute(m, p, CaChoice::Root).unwrap().rdata.data,
            vec![0x30, 0x01, 3]
        );
        assert_eq!(
            compute(m, p, CaChoice::Index(3)).unwrap_err().to_string(),
            "issuer 3 is past the chain: it has 3 certificate(s), so the issuers are 1..2"
        );
        assert!(compute(m, p, CaChoice::Index(0)).is_err());
    }

    #[test]
    fn lone_ca_is_its_own_trust_anchor_and_lone_leaf_is_refused() {
        let ca = [cert(9, true)];
        let c = compute(
            Material::Chain(&ca),
            "2 1 1".parse().unwrap(),
            CaChoice::Issuer,
        )
        .unwrap();
        assert_eq!(c.depth, 0);
        let leaf = [cert(1, false)];
        assert_eq!(
            compute(
                Material::Chain(&leaf),
                "2 1 1".parse().unwrap(),
                CaChoice::Issuer
            ),
            Err(ComputeError::LoneLeaf { usage: 2 })
        );
        assert_eq!(
            compute(
                Material::Chain(&ca),
                "2 1 1".parse().unwrap(),
                CaChoice::Index(1)
            ),
            Err(ComputeError::LoneCaIndex { index: 1 })
        );
    }

    #[test]
    fn keys_give_only_end_entity_spki_records() {
        let m = Material::Key {
            spki: &[0x30, 0x00],
            kind: crate::pki::KeyKind::Csr,
        };
        assert!(compute(m, "3 1 1".parse().unwrap(), CaChoice::Issuer).is_ok());
        assert!(compute(m, "1 1 2".parse().unwrap(), CaChoice::Issuer).is_ok());
        assert_eq!(
            compute(m, "3 0 1".parse().unwrap(), CaChoice::Issuer),
            Err(ComputeError::NoCertificate { kind: "CSR" })
        );
        assert_eq!(
            compute(m, "2 1 1".parse().unwrap(), CaChoice::Issuer),
            Err(ComputeError::KeyHasNoIssuer {
                kind: "CSR",
                usage: 2
            })
        );
    }
}
