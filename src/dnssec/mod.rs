//! An explainable DNSSEC validator (RFC 4033–4035, 5155, 6840, 9276, 8624).
//!
//! It walks the chain itself, from a trust anchor down through DS → DNSKEY → RRSIG to the
//! answer (or to the NSEC/NSEC3 records that deny it), over answers fetched with DO and CD set
//! from a [`Source`](crate::dns::client::Source), and records every link it used: the DS and
//! which key each matches, the DNSKEYs, every RRSIG with its window and its fate, the denial
//! records and what each proves. The verdict of each RRset is a value ([`Status`]), never
//! inferred from `Ok`: `Secure`, `Insecure(why)`, `Bogus(why)` or `Indeterminate(why)`.
//!
//! It is pure, synchronous code over the answers it is given (the [`Source`] is the only way
//! out), so it runs the same over the network, over canned answers in tests, and under a
//! fuzzer. Its work is bounded (KeyTrap, CVE-2023-50387; CVE-2023-50868): key-tag candidates
//! per signature, signature checks per RRset and per run, NSEC3 iterations, CNAME hops and
//! zone depth; a limit that is exceeded makes the answer bogus with the limit named.
//!
//! [`Source`]: crate::dns::client::Source

pub mod anchor;
pub mod cross;
mod denial;
mod walk;

pub use anchor::{AnchorError, TrustAnchors};
pub use walk::{AnchorKey, Limits, Validator};

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The verdict of one RRset (RFC 4035 §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// A chain of signatures from a trust anchor proves it.
    Secure,
    /// Provably unsigned: an unsigned delegation, an opt-out span, an algorithm or digest
    /// danekit cannot check, a name under no trust anchor.
    Insecure(String),
    /// Should be signed and is not, or the signatures fail.
    Bogus(String),
    /// No verdict could be reached: no answer, SERVFAIL, a timeout.
    Indeterminate(String),
}

impl Status {
    pub fn word(&self) -> StatusWord {
        match self {
            Status::Secure => StatusWord::Secure,
            Status::Insecure(_) => StatusWord::Insecure,
            Status::Bogus(_) => StatusWord::Bogus,
            Status::Indeterminate(_) => StatusWord::Indeterminate,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Status::Secure => None,
            Status::Insecure(r) | Status::Bogus(r) | Status::Indeterminate(r) => Some(r),
        }
    }

    /// How bad it is: bogus > indeterminate > insecure > secure (the contract's order for a
    /// top-level verdict).
    pub fn rank(&self) -> u8 {
        match self {
            Status::Secure => 0,
            Status::Insecure(_) => 1,
            Status::Indeterminate(_) => 2,
            Status::Bogus(_) => 3,
        }
    }
}

/// A verdict as JSON writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusWord {
    Secure,
    Insecure,
    Bogus,
    Indeterminate,
}

impl StatusWord {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusWord::Secure => "secure",
            StatusWord::Insecure => "insecure",
            StatusWord::Bogus => "bogus",
            StatusWord::Indeterminate => "indeterminate",
        }
    }
}

/// What the answer to the question was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    Data,
    Nodata,
    Nxdomain,
    /// No answer was had.
    None,
}

/// A DS record on the path, and whether a DNSKEY of the child matches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsDoc {
    pub key_tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
    pub matches_dnskey: bool,
}

/// A DNSKEY of a zone on the path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDoc {
    pub key_tag: u16,
    pub flags: u16,
    pub algorithm: u8,
    /// Key size in bits (RSA modulus; curve size otherwise).
    pub bits: u32,
}

/// An RRSIG on the path and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigDoc {
    /// The type it covers.
    pub covers: String,
    pub key_tag: u16,
    pub algorithm: u8,
    pub signer: String,
    pub inception: Timestamp,
    pub expiration: Timestamp,
    /// `valid`, or why not: `expired`, `not yet valid`, `bad signature`, `no key`, ...
    pub status: String,
}

/// One zone of the chain: the DS in its parent, its DNSKEYs, the RRSIGs checked with them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    pub zone: String,
    /// `trust anchor`, `DS`, or `no DS` (an insecure delegation).
    pub via: String,
    pub ds: Vec<DsDoc>,
    pub dnskey: Vec<KeyDoc>,
    pub rrsig: Vec<SigDoc>,
    pub status: StatusWord,
    pub reason: Option<String>,
}

/// A denial record used, and what it proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenialDoc {
    #[serde(rename = "type")]
    pub rtype: String,
    pub owner: String,
    pub proves: String,
}

/// The validation of one RRset, with the chain that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RrsetReport {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub verdict: StatusWord,
    pub reason: Option<String>,
    pub answer: AnswerKind,
    /// The RRset in presentation form (`3 1 1 abcd…`), empty for a denial.
    pub records: Vec<String>,
    /// The RRset's TTL as served (the smallest of its records').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    pub chain: Vec<ChainLink>,
    /// The RRSIGs over the answer RRset itself.
    pub rrsig: Vec<SigDoc>,
    pub denial: Vec<DenialDoc>,
    /// When this RRset is a hop of a CNAME chain: the name it points to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cname_target: Option<String>,
}

/// The earliest expiration of the valid RRSIGs that the reports relied on: over each answer
/// and over every DS and DNSKEY RRset on its chain. `None` when there is none (an insecure
/// answer).
pub fn earliest_expiration<'a>(
    reports: impl IntoIterator<Item = &'a RrsetReport>,
) -> Option<Timestamp> {
    reports
        .into_iter()
        .flat_map(|r| {
            r.rrsig
                .iter()
                .chain(r.chain.iter().flat_map(|l| l.rrsig.iter()))
        })
        .filter(|s| s.status == "valid")
        .map(|s| s.expiration)
        .min()
}

/// The worst status of the reports (bogus > indeterminate > insecure > secure); none at all
/// is indeterminate.
pub fn worst(reports: &[RrsetReport]) -> Status {
    reports
        .iter()
        .map(RrsetReport::status)
        .max_by_key(Status::rank)
        .unwrap_or(Status::Indeterminate("no answer".into()))
}

impl RrsetReport {
    pub fn status(&self) -> Status {
        let reason = self.reason.clone().unwrap_or_default();
        match self.verdict {
            StatusWord::Secure => Status::Secure,
            StatusWord::Insecure => Status::Insecure(reason),
            StatusWord::Bogus => Status::Bogus(reason),
            StatusWord::Indeterminate => Status::Indeterminate(reason),
        }
    }
}
