//! TLSA records (RFC 6698) and their RFC 7218 mnemonics: the parameter types, the record
//! data, owner names, and the computation of record data from certificates and keys.
//!
//! Everything here is pure: no I/O, no clock. It reads keys and chains through [`crate::pki`],
//! never the other way round. Parsing accepts any octet value for the three
//! parameters, because a record read from DNS may carry one that is not assigned; such a record
//! is *unusable* (RFC 6698 §4.1, RFC 7671 §9) and [`Rdata::check_usable`] says why. Computing
//! record data accepts only the assigned values.

pub(crate) mod compute;
pub mod matching;
mod owner;
pub mod report;

pub use compute::{CaChoice, ComputeError, Computed, compute};
pub use owner::{OwnerError, Proto, choose_host, owner_name};

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Certificate usage field (RFC 6698 §2.1.1; mnemonics RFC 7218 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Usage {
    PkixTa,
    PkixEe,
    DaneTa,
    DaneEe,
    /// An unassigned value, or 255 (PrivCert).
    Other(u8),
}

/// Selector field (RFC 6698 §2.1.2; mnemonics RFC 7218 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Selector {
    /// The whole certificate, DER.
    Cert,
    /// The SubjectPublicKeyInfo, DER.
    Spki,
    Other(u8),
}

/// Matching type field (RFC 6698 §2.1.3; mnemonics RFC 7218 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Matching {
    /// The selected content itself.
    Full,
    Sha256,
    Sha512,
    Other(u8),
}

/// Why a TLSA field or record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("{field} {value:?} is neither a number from 0 to 255 nor an RFC 7218 name ({names})")]
    Field {
        field: &'static str,
        value: String,
        names: &'static str,
    },
    #[error("{field} {value} is not assigned (known values: {known})")]
    Unassigned {
        field: &'static str,
        value: u8,
        known: &'static str,
    },
    #[error("expected \"USAGE SELECTOR MATCHING\", got {0:?}")]
    ParamSet(String),
    #[error("expected \"USAGE SELECTOR MATCHING DATA\", got {0:?}")]
    Rdata(String),
    #[error("certificate association data is not hexadecimal: {0}")]
    Hex(String),
}

fn parse_number_or(
    s: &str,
    field: &'static str,
    names: &'static str,
    table: &[(&str, u8)],
) -> Result<u8, ParseError> {
    if let Ok(n) = s.parse::<u8>() {
        return Ok(n);
    }
    table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(s))
        .map(|&(_, n)| n)
        .ok_or_else(|| ParseError::Field {
            field,
            value: s.to_string(),
            names,
        })
}

const USAGE_NAMES: &[(&str, u8)] = &[
    ("PKIX-TA", 0),
    ("PKIX-EE", 1),
    ("DANE-TA", 2),
    ("DANE-EE", 3),
    ("PrivCert", 255),
];
const SELECTOR_NAMES: &[(&str, u8)] = &[("Cert", 0), ("SPKI", 1), ("PrivSel", 255)];
const MATCHING_NAMES: &[(&str, u8)] = &[
    ("Full", 0),
    ("SHA2-256", 1),
    ("SHA2-512", 2),
    ("SHA256", 1),
    ("SHA512", 2),
    ("PrivMatch", 255),
];

impl From<u8> for Usage {
    fn from(n: u8) -> Self {
        match n {
            0 => Usage::PkixTa,
            1 => Usage::PkixEe,
            2 => Usage::DaneTa,
            3 => Usage::DaneEe,
            n => Usage::Other(n),
        }
    }
}

impl From<Usage> for u8 {
    fn from(u: Usage) -> u8 {
        match u {
            Usage::PkixTa => 0,
            Usage::PkixEe => 1,
            Usage::DaneTa => 2,
            Usage::DaneEe => 3,
            Usage::Other(n) => n,
        }
    }
}

impl From<u8> for Selector {
    fn from(n: u8) -> Self {
        match n {
            0 => Selector::Cert,
            1 => Selector::Spki,
            n => Selector::Other(n),
        }
    }
}

impl From<Selector> for u8 {
    fn from(s: Selector) -> u8 {
        match s {
            Selector::Cert => 0,
            Selector::Spki => 1,
            Selector::Other(n) => n,
        }
    }
}

impl From<u8> for Matching {
    fn from(n: u8) -> Self {
        match n {
            0 => Matching::Full,
            1 => Matching::Sha256,
            2 => Matching::Sha512,
            n => Matching::Other(n),
        }
    }
}

impl From<Matching> for u8 {
    fn from(m: Matching) -> u8 {
        match m {
            Matching::Full => 0,
            Matching::Sha256 => 1,
            Matching::Sha512 => 2,
            Matching::Other(n) => n,
        }
    }
}

impl Usage {
    /// The RFC 7218 mnemonic, or `None` for an unassigned value.
    pub fn mnemonic(self) -> Option<&'static str> {
        match self {
            Usage::PkixTa => Some("PKIX-TA"),
            Usage::PkixEe => Some("PKIX-EE"),
            Usage::DaneTa => Some("DANE-TA"),
            Usage::DaneEe => Some("DANE-EE"),
            Usage::Other(255) => Some("PrivCert"),
            Usage::Other(_) => None,
        }
    }

    /// True for the usages that name a trust anchor (an issuer) rather than the end entity.
    pub fn is_trust_anchor(self) -> bool {
        matches!(self, Usage::PkixTa | Usage::DaneTa)
    }
}

impl Selector {
    pub fn mnemonic(self) -> Option<&'static str> {
        match self {
            Selector::Cert => Some("Cert"),
            Selector::Spki => Some("SPKI"),
            Selector::Other(255) => Some("PrivSel"),
            Selector::Other(_) => None,
        }
    }
}

impl Matching {
    pub fn mnemonic(self) -> Option<&'static str> {
        match self {
            Matching::Full => Some("Full"),
            Matching::Sha256 => Some("SHA2-256"),
            Matching::Sha512 => Some("SHA2-512"),
            Matching::Other(255) => Some("PrivMatch"),
            Matching::Other(_) => None,
        }
    }

    /// The length of the association data this matching type prescribes, if it prescribes one.
    pub fn digest_len(self) -> Option<usize> {
        match self {
            Matching::Sha256 => Some(32),
            Matching::Sha512 => Some(64),
            _ => None,
        }
    }
}

impl FromStr for Usage {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_number_or(
            s,
            "usage",
            "PKIX-TA, PKIX-EE, DANE-TA, DANE-EE",
            USAGE_NAMES,
        )
        .map(Usage::from)
    }
}

impl FromStr for Selector {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_number_or(s, "selector", "Cert, SPKI", SELECTOR_NAMES).map(Selector::from)
    }
}

impl FromStr for Matching {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_number_or(
            s,
            "matching type",
            "Full, SHA2-256, SHA2-512",
            MATCHING_NAMES,
        )
        .map(Matching::from)
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", u8::from(*self))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", u8::from(*self))
    }
}

impl fmt::Display for Matching {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", u8::from(*self))
    }
}

/// The three parameters of a TLSA record: what to hash and how (e.g. `3 1 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamSet {
    pub usage: Usage,
    pub selector: Selector,
    pub matching: Matching,
}

impl ParamSet {
    pub const fn new(usage: Usage, selector: Selector, matching: Matching) -> Self {
        ParamSet {
            usage,
            selector,
            matching,
        }
    }

    /// `3 1 1`, the default and the most robust choice for a server's own key.
    pub const DANE_EE_SPKI_SHA256: ParamSet =
        ParamSet::new(Usage::DaneEe, Selector::Spki, Matching::Sha256);

    /// Refuses values that RFC 6698 does not assign (and the private-use 255): nothing can be
    /// computed for them.
    pub fn check_assigned(self) -> Result<Self, ParseError> {
        if let Usage::Other(value) = self.usage {
            return Err(ParseError::Unassigned {
                field: "usage",
                value,
                known: "0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE",
            });
        }
        if let Selector::Other(value) = self.selector {
            return Err(ParseError::Unassigned {
                field: "selector",
                value,
                known: "0 Cert, 1 SPKI",
            });
        }
        if let Matching::Other(value) = self.matching {
            return Err(ParseError::Unassigned {
                field: "matching type",
                value,
                known: "0 Full, 1 SHA2-256, 2 SHA2-512",
            });
        }
        Ok(self)
    }

    /// Parses a comma-separated list such as `"3 1 1, 2 1 1"`.
    pub fn parse_list(s: &str) -> Result<Vec<ParamSet>, ParseError> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl FromStr for ParamSet {
    type Err = ParseError;
    /// Three fields separated by white space, numbers or mnemonics: `3 1 1`,
    /// `DANE-EE SPKI SHA2-256`.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let fields: Vec<&str> = s.split_whitespace().collect();
        let [u, sel, m] = fields.as_slice() else {
            return Err(ParseError::ParamSet(s.to_string()));
        };
        Ok(ParamSet::new(u.parse()?, sel.parse()?, m.parse()?))
    }
}

impl fmt::Display for ParamSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.usage, self.selector, self.matching)
    }
}

/// Why a record cannot take part in matching (RFC 6698 §4.1, RFC 7671 §9): it is dropped and
/// reported, never treated as a mismatch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Unusable {
    #[error("usage {0} is not assigned")]
    Usage(u8),
    #[error("selector {0} is not assigned")]
    Selector(u8),
    #[error("matching type {0} is not assigned")]
    Matching(u8),
    #[error("matching type {matching} needs {expected} bytes of data, the record has {actual}")]
    DigestLength {
        matching: Matching,
        expected: usize,
        actual: usize,
    },
    #[error("the record carries no association data")]
    Empty,
}

/// The RDATA of one TLSA record: parameters and certificate association data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rdata {
    pub params: ParamSet,
    pub data: Vec<u8>,
}

impl Rdata {
    pub fn new(params: ParamSet, data: Vec<u8>) -> Self {
        Rdata { params, data }
    }

    /// The association data as lower-case hex.
    pub fn data_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.data)
    }

    /// Whether a DANE client may use this record at all (RFC 6698 §4.1, RFC 7671 §9).
    pub fn check_usable(&self) -> Result<(), Unusable> {
        let ParamSet {
            usage,
            selector,
            matching,
        } = self.params;
        if let Usage::Other(n) = usage {
            return Err(Unusable::Usage(n));
        }
        if let Selector::Other(n) = selector {
            return Err(Unusable::Selector(n));
        }
        if let Matching::Other(n) = matching {
            return Err(Unusable::Matching(n));
        }
        if self.data.is_empty() {
            return Err(Unusable::Empty);
        }
        if let Some(expected) = matching.digest_len()
            && expected != self.data.len()
        {
            return Err(Unusable::DigestLength {
                matching,
                expected,
                actual: self.data.len(),
            });
        }
        Ok(())
    }
}

impl FromStr for Rdata {
    type Err = ParseError;
    /// Presentation format (RFC 6698 §2.2): three fields and hex, white space allowed inside
    /// the hex; parentheses of a multi-line master-file entry are ignored.
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let cleaned: String = s
            .chars()
            .map(|c| if c == '(' || c == ')' { ' ' } else { c })
            .collect();
        let mut fields = cleaned.split_whitespace();
        let (Some(u), Some(sel), Some(m)) = (fields.next(), fields.next(), fields.next()) else {
            return Err(ParseError::Rdata(s.trim().to_string()));
        };
        let params = ParamSet::new(u.parse()?, sel.parse()?, m.parse()?);
        let hex: String = fields.collect();
        if hex.is_empty() {
            return Err(ParseError::Rdata(s.trim().to_string()));
        }
        let data = data_encoding::HEXLOWER_PERMISSIVE
            .decode(hex.as_bytes())
            .map_err(|e| ParseError::Hex(e.to_string()))?;
        Ok(Rdata { params, data })
    }
}

impl fmt::Display for Rdata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.params, self.data_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7218_mnemonics_parse_in_any_case() {
        assert_eq!("dane-ee".parse::<Usage>(), Ok(Usage::DaneEe));
        assert_eq!("DANE-TA".parse::<Usage>(), Ok(Usage::DaneTa));
        assert_eq!("pkix-ta".parse::<Usage>(), Ok(Usage::PkixTa));
        assert_eq!("PKIX-EE".parse::<Usage>(), Ok(Usage::PkixEe));
        assert_eq!("privcert".parse::<Usage>(), Ok(Usage::Other(255)));
        assert_eq!("spki".parse::<Selector>(), Ok(Selector::Spki));
        assert_eq!("Cert".parse::<Selector>(), Ok(Selector::Cert));
        assert_eq!("sha2-256".parse::<Matching>(), Ok(Matching::Sha256));
        assert_eq!("SHA2-512".parse::<Matching>(), Ok(Matching::Sha512));
        assert_eq!("full".parse::<Matching>(), Ok(Matching::Full));
    }

    #[test]
    fn numbers_parse_and_print() {
        for n in 0..=255u8 {
            let s = n.to_string();
            assert_eq!(u8::from(s.parse::<Usage>().unwrap()), n);
            assert_eq!(u8::from(s.parse::<Selector>().unwrap()), n);
            assert_eq!(u8::from(s.parse::<Matching>().unwrap()), n);
            assert_eq!(Usage::from(n).to_string(), s);
        }
    }

    #[test]
    fn unknown_mnemonic_is_an_error_naming_the_field() {
        let err = "dane-xx".parse::<Usage>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "usage \"dane-xx\" is neither a number from 0 to 255 nor an RFC 7218 name \
             (PKIX-TA, PKIX-EE, DANE-TA, DANE-EE)"
        );
        assert!("256".parse::<Selector>().is_err());
        assert!("sha1".parse::<Matching>().is_err());
    }

    #[test]
    fn param_sets_parse_numbers_and_names() {
        assert_eq!(
            "3 1 1".parse::<ParamSet>(),
            Ok(ParamSet::DANE_EE_SPKI_SHA256)
        );
        assert_eq!(
            "DANE-TA Cert SHA2-512"
                .parse::<ParamSet>()
                .unwrap()
                .to_string(),
            "2 0 2"
        );
        assert_eq!(
            ParamSet::parse_list("3 1 1, 2 1 1,3 0 2").unwrap(),
            vec![
                "3 1 1".parse().unwrap(),
                "2 1 1".parse().unwrap(),
                "3 0 2".parse().unwrap()
            ]
        );
        assert!("3 1".parse::<ParamSet>().is_err());
        assert!("3 1 1 1".parse::<ParamSet>().is_err());
    }

    #[test]
    fn unassigned_values_cannot_be_computed() {
        let p: ParamSet = "4 1 1".parse().unwrap();
        assert_eq!(
            p.check_assigned().unwrap_err().to_string(),
            "usage 4 is not assigned (known values: 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE)"
        );
        for text in ["3 2 1", "3 1 3", "3 1 255", "255 1 1"] {
            let p: ParamSet = text.parse().unwrap();
            assert!(p.check_assigned().is_err(), "{text}");
        }
    }

    const HASH: &str = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";

    #[test]
    fn rdata_round_trip_rfc6698_example() {
        // RFC 6698 §2.3 example, with the hex split and in upper case.
        let text = "3 1 1 ( 0C72AC70B745AC19998811B131D662C9\n AC69DBDBE7CB23E5B514B56664C5D3D6 )";
        let rd: Rdata = text.parse().unwrap();
        assert_eq!(rd.params, ParamSet::DANE_EE_SPKI_SHA256);
        assert_eq!(rd.to_string(), format!("3 1 1 {HASH}"));
        assert_eq!(rd.to_string().parse::<Rdata>().unwrap(), rd);
        assert_eq!(rd.check_usable(), Ok(()));
    }

    #[test]
    fn rdata_rejects_bad_hex_and_missing_data() {
        assert!(matches!(
            "3 1 1 zz".parse::<Rdata>(),
            Err(ParseError::Hex(_))
        ));
        assert!(matches!(
            "3 1 1 abc".parse::<Rdata>(),
            Err(ParseError::Hex(_))
        ));
        assert!(matches!(
            "3 1 1".parse::<Rdata>(),
            Err(ParseError::Rdata(_))
        ));
    }

    #[test]
    fn wrong_digest_lengths_are_unusable() {
        // RFC 6698 §4.1: a SHA2-256 record must carry 32 bytes, SHA2-512 64.
        let short: Rdata = "3 1 1 0c72ac70".parse().unwrap();
        assert_eq!(
            short.check_usable(),
            Err(Unusable::DigestLength {
                matching: Matching::Sha256,
                expected: 32,
                actual: 4
            })
        );
        let rd: Rdata = format!("3 1 2 {HASH}").parse().unwrap();
        assert_eq!(
            rd.check_usable().unwrap_err().to_string(),
            "matching type 2 needs 64 bytes of data, the record has 32"
        );
        let full: Rdata = format!("3 1 0 {HASH}").parse().unwrap();
        assert_eq!(full.check_usable(), Ok(()));
        let unknown: Rdata = format!("4 1 1 {HASH}").parse().unwrap();
        assert_eq!(unknown.check_usable(), Err(Unusable::Usage(4)));
        let unknown: Rdata = format!("3 2 1 {HASH}").parse().unwrap();
        assert_eq!(unknown.check_usable(), Err(Unusable::Selector(2)));
        let unknown: Rdata = format!("3 1 9 {HASH}").parse().unwrap();
        assert_eq!(unknown.check_usable(), Err(Unusable::Matching(9)));
    }

    #[test]
    fn rdata_agrees_with_hickory_wire_format() {
        use hickory_proto::rr::rdata::TLSA;
        use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching as HMatching, Selector as HSel};
        let rd: Rdata = format!("2 0 1 {HASH}").parse().unwrap();
        let h = TLSA::new(
            CertUsage::from(u8::from(rd.params.usage)),
            HSel::from(u8::from(rd.params.selector)),
            HMatching::from(u8::from(rd.params.matching)),
            rd.data.clone(),
        );
        assert_eq!(h.to_string(), rd.to_string());
    }
}
