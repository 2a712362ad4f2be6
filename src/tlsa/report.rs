//! The report of `danekit tlsa`: the records computed from a set of inputs, with the lints of
//! the command-line contract (RFC 7672 §3.1.3 for PKIX usages on SMTP; RFC 7671 §8 for
//! records that must survive a renewal), and its JSON document.

use hickory_proto::rr::Name;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{CaChoice, ComputeError, Matching, ParamSet, Rdata, Selector, Usage, compute};
use crate::addr::name_text;
use crate::pki::{Input, KeyFamily, KeyInfo};
use crate::report::{Finding, SCHEMA_VERSION, Verdict};
use crate::time::Timestamp;

/// The smallest RSA modulus that is not flagged as weak (RFC 8624 §3.1 and current CA/B Forum
/// practice).
pub const MIN_RSA_BITS: usize = 2048;

/// One computed record with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `_PORT._PROTO.HOST.`, when a host is known.
    pub owner: Option<Name>,
    pub ttl: u32,
    pub rdata: Rdata,
    /// The input's name (file, `-`, or `host:port`).
    pub source: String,
    /// Chain position hashed (0 = leaf).
    pub depth: usize,
    /// The family of the leaf key of the input the record came from.
    pub key_type: KeyFamily,
}

/// Everything `danekit tlsa` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsaReport {
    pub records: Vec<Record>,
    pub findings: Vec<Finding>,
}

/// How to compute: parameter sets, issuer choice and the owner's parts.
#[derive(Debug, Clone)]
pub struct Request {
    pub params: Vec<ParamSet>,
    pub ca: CaChoice,
    pub owner: Option<Name>,
    pub port: u16,
    pub ttl: u32,
    /// Allow usages 0 and 1 on port 25.
    pub force: bool,
    /// For the expiry lint.
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReportError {
    #[error("{source_name}: {error}")]
    Compute {
        source_name: String,
        error: ComputeError,
    },
    #[error(
        "{source_name}: certificate #{} is not on the leaf's issuer path, so it cannot be hashed \
         as its trust anchor; put the chain in order (leaf, then each issuer)", depth + 1
    )]
    OffPath { source_name: String, depth: usize },
    #[error(
        "usage {usage} ({name}) on port 25: RFC 7672 §3.1.3 says SMTP servers should not publish \
         PKIX usages and senders may ignore them; use 3 (DANE-EE) or 2 (DANE-TA)"
    )]
    PkixOnSmtp { usage: u8, name: &'static str },
    #[error("the TTL {0} is above 2147483647 (RFC 2181 §8)")]
    Ttl(u32),
}

/// The largest TTL (RFC 2181 §8).
pub const MAX_TTL: u32 = 0x7fff_ffff;

/// Computes every record, input by input and, per input, in the order of `request.params`.
pub fn build(inputs: &[Input], request: &Request) -> Result<TlsaReport, ReportError> {
    if request.ttl > MAX_TTL {
        return Err(ReportError::Ttl(request.ttl));
    }
    let mut findings: Vec<Finding> = Vec::new();
    for p in &request.params {
        lint_params(*p, request, &mut findings)?;
    }
    let mut records = Vec::new();
    for input in inputs {
        findings.extend(input.findings.iter().cloned());
        lint_input(input, request, &mut findings);
        for &params in &request.params {
            let computed = compute(input.material(), params, request.ca).map_err(|error| {
                ReportError::Compute {
                    source_name: input.name.clone(),
                    error,
                }
            })?;
            if params.usage.is_trust_anchor() && computed.depth >= input.path_len.max(1) {
                return Err(ReportError::OffPath {
                    source_name: input.name.clone(),
                    depth: computed.depth,
                });
            }
            records.push(Record {
                owner: request.owner.clone(),
                ttl: request.ttl,
                rdata: computed.rdata,
                source: input.name.clone(),
                depth: computed.depth,
                key_type: input.key_family(),
            });
        }
    }
    Ok(TlsaReport { records, findings })
}

fn lint_params(
    p: ParamSet,
    request: &Request,
    findings: &mut Vec<Finding>,
) -> Result<(), ReportError> {
    let subject = request
        .owner
        .as_ref()
        .map(name_text)
        .unwrap_or_else(|| format!("port {}", request.port));
    if matches!(p.usage, Usage::PkixTa | Usage::PkixEe) {
        let name = p.usage.mnemonic().unwrap_or_default();
        if request.port == 25 && !request.force {
            return Err(ReportError::PkixOnSmtp {
                usage: p.usage.into(),
                name,
            });
        }
        if request.port == 25 {
            findings.push(Finding::warning(
                "pkix-usage-on-smtp",
                subject.clone(),
                format!(
                    "{p}: usage {} ({name}) is unusable for SMTP (RFC 7672 §3.1.3); published \
                     because it was forced",
                    u8::from(p.usage)
                ),
            ));
        }
    }
    if p.usage == Usage::DaneEe && p.selector == Selector::Cert {
        findings.push(Finding::warning(
            "dane-ee-full-cert",
            subject.clone(),
            format!(
                "{p}: a DANE-EE record of the whole certificate changes at every renewal, even \
                 when the key is kept; 3 1 1 survives renewals with the same key"
            ),
        ));
    }
    if p.matching == Matching::Full {
        findings.push(Finding::warning(
            "full-data",
            subject,
            format!(
                "{p}: matching type 0 publishes the whole {} and makes large DNS answers; \
                 prefer 1 (SHA2-256)",
                if p.selector == Selector::Cert {
                    "certificate"
                } else {
                    "public key"
                }
            ),
        ));
    }
    Ok(())
}

fn lint_input(input: &Input, request: &Request, findings: &mut Vec<Finding>) {
    if let Some(KeyInfo::Rsa { bits }) = input.leaf_key()
        && *bits < MIN_RSA_BITS
    {
        findings.push(Finding::warning(
            "weak-key",
            input.name.clone(),
            format!("the leaf key is RSA-{bits}; use at least RSA-{MIN_RSA_BITS} or ECDSA P-256"),
        ));
    }
    let checks_dates = request.params.iter().any(|p| p.usage != Usage::DaneEe);
    if checks_dates
        && let Some(leaf) = input.leaf()
        && let Some(not_after) = leaf.not_after
        && not_after < request.now
    {
        findings.push(
            Finding::warning(
                "leaf-expired",
                input.name.clone(),
                format!(
                    "the leaf certificate expired at {not_after}; DANE-TA and PKIX clients \
                     check dates (DANE-EE clients do not)"
                ),
            )
            .with("not_after", not_after),
        );
    }
}

/// One record in the JSON document of the command-line contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordDoc {
    pub owner: Option<String>,
    pub ttl: u32,
    pub usage: u8,
    pub selector: u8,
    pub matching_type: u8,
    /// Lower-case hex.
    pub data: String,
    pub source: String,
    pub depth: usize,
    pub key_type: KeyFamily,
}

/// The JSON document of `danekit tlsa`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsaDocument {
    pub schema_version: u32,
    pub verdict: Verdict,
    pub records: Vec<RecordDoc>,
    pub findings: Vec<Finding>,
}

impl TlsaReport {
    pub fn to_document(&self) -> TlsaDocument {
        TlsaDocument {
            schema_version: SCHEMA_VERSION,
            verdict: Verdict::Ok,
            records: self
                .records
                .iter()
                .map(|r| RecordDoc {
                    owner: r.owner.as_ref().map(name_text),
                    ttl: r.ttl,
                    usage: r.rdata.params.usage.into(),
                    selector: r.rdata.params.selector.into(),
                    matching_type: r.rdata.params.matching.into(),
                    data: r.rdata.data_hex(),
                    source: r.source.clone(),
                    depth: r.depth,
                    key_type: r.key_type,
                })
                .collect(),
            findings: self.findings.clone(),
        }
    }
}
