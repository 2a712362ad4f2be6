//! Issuer sets of CAs that rotate among several intermediates.
//!
//! A `2 x x` record names one issuer. A CA that signs each certificate with any one of several
//! intermediates (Let's Encrypt picks one at random per order) makes the next certificate's
//! issuer unknowable in advance: the published issuer records must cover every intermediate
//! the CA may use at the time of renewal, not just today's (rule 12 of the design notes).
//!
//! The built-in table holds Let's Encrypt's production intermediates, as DER certificates
//! published at <https://letsencrypt.org/certificates/> (`static/certs/2024/` and
//! `static/certs/gen-y/` of its website repository), with the dates from which each generation
//! is used for the default `classic` profile. Operators add others with `--issuers FILE`.

use crate::pki::{Certificate, KeyFamily};
use crate::time::Timestamp;

/// One intermediate of a family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// Its common name, e.g. `R11`.
    pub name: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

/// Intermediates a CA uses interchangeably for one key type, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// e.g. `Let's Encrypt RSA 2024 (R10–R14)`.
    pub name: String,
    /// The key type of the certificates it issues (RSA or ECDSA).
    pub issues: KeyFamily,
    pub members: Vec<Issuer>,
    /// From when the family issues the CA's default certificates (`None`: always).
    pub from: Option<Timestamp>,
    /// Until when (`None`: no end known).
    pub until: Option<Timestamp>,
    /// The CA that runs the family; families of one CA replace one another.
    pub ca: String,
}

impl Family {
    /// Whether the family issues at `now`.
    pub fn active(&self, now: Timestamp) -> bool {
        self.from.is_none_or(|f| f <= now) && self.until.is_none_or(|u| now < u)
    }

    /// Whether `der` is one of its members, by key (a re-issued or cross-signed certificate of
    /// a member has the same key).
    pub fn contains(&self, der: &[u8]) -> bool {
        spki(der).is_some_and(|s| self.members.iter().any(|m| spki(&m.der) == Some(s.clone())))
    }
}

fn spki(der: &[u8]) -> Option<Vec<u8>> {
    Certificate::from_der(der).ok().map(|c| c.spki)
}

/// 2026-05-13T00:00:00Z: Let's Encrypt's `classic` profile moves to the Generation Y
/// hierarchy (YR1–YR3, YE1–YE3).
const GEN_Y_CLASSIC: Timestamp = Timestamp(1_778_630_400);

const LE: &str = "Let's Encrypt";

macro_rules! member {
    ($name:literal, $file:literal) => {
        (
            $name,
            include_bytes!(concat!("issuers/", $file, ".der")).as_slice(),
        )
    };
}

/// Let's Encrypt's production intermediates, by generation and key type.
pub fn builtin() -> Vec<Family> {
    let family = |name: &str, issues, members: &[(&str, &[u8])], from, until| Family {
        name: name.to_owned(),
        issues,
        members: members
            .iter()
            .map(|(n, der)| Issuer {
                name: (*n).to_owned(),
                der: der.to_vec(),
            })
            .collect(),
        from,
        until,
        ca: LE.to_owned(),
    };
    vec![
        family(
            "Let's Encrypt RSA 2024 (R10–R14)",
            KeyFamily::Rsa,
            &[
                member!("R10", "r10"),
                member!("R11", "r11"),
                member!("R12", "r12"),
                member!("R13", "r13"),
                member!("R14", "r14"),
            ],
            None,
            Some(GEN_Y_CLASSIC),
        ),
        family(
            "Let's Encrypt ECDSA 2024 (E5–E9)",
            KeyFamily::Ecdsa,
            &[
                member!("E5", "e5"),
                member!("E6", "e6"),
                member!("E7", "e7"),
                member!("E8", "e8"),
                member!("E9", "e9"),
            ],
            None,
            Some(GEN_Y_CLASSIC),
        ),
        family(
            "Let's Encrypt RSA Generation Y (YR1–YR3)",
            KeyFamily::Rsa,
            &[
                member!("YR1", "yr1"),
                member!("YR2", "yr2"),
                member!("YR3", "yr3"),
            ],
            Some(GEN_Y_CLASSIC),
            None,
        ),
        family(
            "Let's Encrypt ECDSA Generation Y (YE1–YE3)",
            KeyFamily::Ecdsa,
            &[
                member!("YE1", "ye1"),
                member!("YE2", "ye2"),
                member!("YE3", "ye3"),
            ],
            Some(GEN_Y_CLASSIC),
            None,
        ),
    ]
}

/// A family read from a file of issuer certificates (`--issuers FILE`): all of them are
/// alternatives the CA may use, at any time, for certificates of their own key type.
pub fn from_certificates(name: &str, certs: &[Certificate]) -> Vec<Family> {
    let mut by_type: Vec<Family> = Vec::new();
    for cert in certs {
        let issues = KeyFamily::of(&cert.key);
        let issuer = Issuer {
            name: common_name(&cert.subject),
            der: cert.der.clone(),
        };
        match by_type.iter_mut().find(|f| f.issues == issues) {
            Some(f) => f.members.push(issuer),
            None => by_type.push(Family {
                name: format!("{name} ({})", issues.as_str()),
                issues,
                members: vec![issuer],
                from: None,
                until: None,
                ca: name.to_owned(),
            }),
        }
    }
    by_type
}

/// `R11` from `C=US, O=Let's Encrypt, CN=R11`; the whole subject when it has no CN.
pub fn common_name(subject: &str) -> String {
    subject
        .split(", ")
        .find_map(|part| part.strip_prefix("CN="))
        .unwrap_or(subject)
        .to_owned()
}

/// The issuers the CA that signed `current_issuer` may use for the next certificate, of key
/// type `next_key`, at `now`: the family the current issuer belongs to (or, once that family
/// no longer issues, the family of the same CA that does), for the next key's type.
/// `None` when the issuer is in no known family.
pub fn possible_next<'a>(
    families: &'a [Family],
    current_issuer: &[u8],
    next_key: KeyFamily,
    now: Timestamp,
) -> Option<&'a Family> {
    let current = families.iter().find(|f| f.contains(current_issuer))?;
    let same_ca = |f: &&Family| f.ca == current.ca && f.issues == next_key;
    families
        .iter()
        .filter(same_ca)
        .find(|f| f.active(now))
        .or_else(|| {
            (current.issues == next_key)
                .then_some(current)
                .or_else(|| families.iter().find(same_ca))
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ring::digest;

    /// SPKI SHA-256 of each built-in certificate, as `openssl x509 -pubkey | openssl pkey
    /// -pubin -outform DER | openssl dgst -sha256` gives it for the PEM files of
    /// letsencrypt.org/certificates.
    const OPENSSL: &[(&str, &str)] = &[
        (
            "R10",
            "2bbad93ab5c79279ec121507f272cbe0c6647a3aae52e22f388afab426b4adba",
        ),
        (
            "R11",
            "6ddac18698f7f1f7e1c69b9bce420d974ac6f94ca8b2c761701623f99c767dc7",
        ),
        (
            "R12",
            "919c0df7a787b597ed056ace654b1de9c0387acf349f73734a4fd7b58cf612a4",
        ),
        (
            "R13",
            "025490860b498ab73c6a12f27a49ad5fe230fafe3ac8f6112c9b7d0aad46941d",
        ),
        (
            "R14",
            "f1647a5ee3efac54c892e930584fe47979b7acd1c76c1271bca1c5076d869888",
        ),
        (
            "E5",
            "3586d4ecf070578cbd27aedce20b964e48bc149faeb9dad72f46b857869172b8",
        ),
        (
            "E6",
            "d016e1fe311948aca64f2de44ce86c9a51ca041df6103bb52a88eb3f761f57d7",
        ),
        (
            "E7",
            "cbbc559b44d524d6a132bdac672744da3407f12aae5d5f722c5f6c7913871c75",
        ),
        (
            "E8",
            "885bf0572252c6741dc9a52f5044487fef2a93b811cdedfad7624cc283b7cdd5",
        ),
        (
            "E9",
            "f1440a9b76e1e41e53a4cb461329bf6337b419726be513e42e19f1c691c5d4b2",
        ),
        (
            "YR1",
            "2e8307068b6db620e4a39d068b5dee5d6ef5788cbb2c0b6d23ead84fcc17178c",
        ),
        (
            "YR2",
            "9d637b3d27a9e570d07607b9ccadb80a70915c7af72afce12841b1b1da825fd1",
        ),
        (
            "YR3",
            "51aaa87d984b559ac69e929f888a022d832e089ff4dba0a412b5101bca4bc799",
        ),
        (
            "YE1",
            "6ebcefb4210b088654a38b03fea3d7d1c711b4fb1ddc363a45f9b1a4e53da01e",
        ),
        (
            "YE2",
            "b3fb5d00e994cddf2cc9a4eea9f806bc5727e83cc0e4299bf956f2d524fe5376",
        ),
        (
            "YE3",
            "a698a20824be04e47a1a33c4fa488731be92011f23a31e900e2ca26c9c2acfce",
        ),
    ];

    #[test]
    fn builtin_certificates_are_the_published_intermediates() {
        let mut seen = Vec::new();
        for family in builtin() {
            for m in &family.members {
                let cert = Certificate::from_der(&m.der).unwrap();
                assert_eq!(common_name(&cert.subject), m.name);
                assert_eq!(KeyFamily::of(&cert.key), family.issues, "{}", m.name);
                let hash = digest::digest(&digest::SHA256, &cert.spki);
                let hex = data_encoding::HEXLOWER.encode(hash.as_ref());
                let expected = OPENSSL.iter().find(|(n, _)| *n == m.name).unwrap().1;
                assert_eq!(hex, expected, "{}", m.name);
                seen.push(m.name.clone());
            }
        }
        assert_eq!(seen.len(), OPENSSL.len());
    }

    #[test]
    fn issuer_files_make_one_family_per_key_type() {
        let pem = |text: &str| match crate::pki::parse_input("x", text.as_bytes())
            .unwrap()
            .loaded
        {
            crate::pki::Loaded::Chain(c) => c,
            crate::pki::Loaded::Key { .. } => panic!("not certificates"),
        };
        let mut certs = pem(include_str!("../../tests/fixtures/pki/int-ca.pem"));
        certs.extend(pem(include_str!(
            "../../tests/fixtures/pki/leaf-rsa2048.pem"
        )));
        let families = from_certificates("issuers.pem", &certs);
        let names: Vec<(String, KeyFamily, usize)> = families
            .iter()
            .map(|f| (f.name.clone(), f.issues, f.members.len()))
            .collect();
        let int = &certs[0];
        let int_family = KeyFamily::of(&int.key);
        assert!(names.contains(&(
            format!("issuers.pem ({})", int_family.as_str()),
            int_family,
            1
        )));
        let now = Timestamp::parse("2026-12-02T00:00:00Z").unwrap();
        let found = possible_next(&families, &int.der, int_family, now).unwrap();
        assert!(found.contains(&int.der));
        assert!(found.active(now));
    }

    #[test]
    fn the_next_issuers_follow_the_generation_in_force() {
        let families = builtin();
        let r11 = &families[0].members[1].der;
        let before = Timestamp::parse("2026-03-01T00:00:00Z").unwrap();
        let after = Timestamp::parse("2026-12-02T00:00:00Z").unwrap();
        let name = |f: Option<&Family>| f.map(|f| f.name.clone());
        assert_eq!(
            name(possible_next(&families, r11, KeyFamily::Rsa, before)),
            Some("Let's Encrypt RSA 2024 (R10–R14)".into())
        );
        assert_eq!(
            name(possible_next(&families, r11, KeyFamily::Rsa, after)),
            Some("Let's Encrypt RSA Generation Y (YR1–YR3)".into())
        );
        // An ECDSA next key under an RSA issuer today: the ECDSA family in force.
        assert_eq!(
            name(possible_next(&families, r11, KeyFamily::Ecdsa, before)),
            Some("Let's Encrypt ECDSA 2024 (E5–E9)".into())
        );
        let yr2 = &families[2].members[1].der;
        assert_eq!(
            name(possible_next(&families, yr2, KeyFamily::Rsa, after)),
            Some("Let's Encrypt RSA Generation Y (YR1–YR3)".into())
        );
        let leaf = include_bytes!("../../tests/fixtures/pki/leaf-p256.der");
        assert_eq!(
            possible_next(&families, leaf, KeyFamily::Ecdsa, after),
            None
        );
    }
}
