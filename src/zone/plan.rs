//! From a services file to the TLSA records it asks for: every service, every port, every
//! parameter set, for the chain served now and for the next key (RFC 7671 §8.1: the next
//! key's record is published beside the current one before the key changes).
//!
//! Pure: the certificates and keys are already read ([`crate::config`]).

use std::collections::BTreeSet;

use hickory_proto::rr::Name;
use thiserror::Error;

use super::ZoneRecord;
use crate::addr::name_text;
use crate::config::ServiceFile;
use crate::pki::{Input, Loaded};
use crate::report::Finding;
use crate::time::Timestamp;
use crate::tlsa::report::{self, Record, ReportError, Request};
use crate::tlsa::{CaChoice, ParamSet, Selector, owner_name};

/// The records a services file asks for, and the RRsets it manages.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Sorted by owner and record data, each (owner, data) once.
    pub records: Vec<Record>,
    /// Every `_PORT._PROTO.HOST.` the file names, sorted, each once: the TLSA RRsets an update
    /// replaces.
    pub owners: Vec<Name>,
    pub findings: Vec<Finding>,
}

impl Plan {
    /// The records as zone records.
    pub fn zone_records(&self) -> Vec<ZoneRecord> {
        self.records
            .iter()
            .filter_map(|r| {
                r.owner.as_ref().map(|owner| ZoneRecord {
                    owner: owner.clone(),
                    ttl: r.ttl,
                    rdata: r.rdata.clone(),
                })
            })
            .collect()
    }
}

#[derive(Debug, Error)]
#[error("{file}: services[{index}] ({host} port {port}): {error}")]
pub struct PlanError {
    pub file: String,
    pub index: usize,
    pub host: String,
    pub port: u16,
    pub error: String,
}

/// Whether a parameter set can be computed from a key, CSR or lone leaf alone: end-entity
/// usages of the SPKI. Issuer records come from the chain served now, and a whole-certificate
/// record of a certificate that does not exist yet cannot be computed.
fn fits_next(next: &Input, p: ParamSet) -> bool {
    match &next.loaded {
        Loaded::Key { .. } => !p.usage.is_trust_anchor() && p.selector == Selector::Spki,
        Loaded::Chain(chain) => !p.usage.is_trust_anchor() || chain.len() > 1,
    }
}

/// Computes the plan of `file` as of `now`.
pub fn plan(file: &ServiceFile, now: Timestamp) -> Result<Plan, PlanError> {
    let mut records: Vec<Record> = Vec::new();
    let mut owners = BTreeSet::new();
    let mut findings: Vec<Finding> = Vec::new();
    for (index, service) in file.services.iter().enumerate() {
        let params = service.records.as_ref().unwrap_or(&file.records);
        let ttl = service.ttl.unwrap_or(file.ttl);
        for &port in &service.ports {
            let fail = |error: String| PlanError {
                file: file.name.clone(),
                index,
                host: name_text(&service.host),
                port,
                error,
            };
            let owner =
                owner_name(port, service.proto, &service.host).map_err(|e| fail(e.to_string()))?;
            owners.insert(owner.clone());
            let request = |params: Vec<ParamSet>| Request {
                params,
                ca: CaChoice::Issuer,
                owner: Some(owner.clone()),
                port,
                ttl,
                force: false,
                now,
            };
            let current = report::build(
                std::slice::from_ref(&service.cert),
                &request(params.clone()),
            )
            .map_err(|e: ReportError| fail(e.to_string()))?;
            records.extend(current.records);
            findings.extend(current.findings);
            if let Some(next) = &service.next {
                let (fit, unfit): (Vec<ParamSet>, Vec<ParamSet>) =
                    params.iter().partition(|&&p| fits_next(next, p));
                for p in unfit.iter().filter(|p| !p.usage.is_trust_anchor()) {
                    findings.push(
                        Finding::warning(
                            "next-record-missing",
                            name_text(&owner),
                            format!(
                                "{p}: no record for the next key, since {} holds no certificate \
                                 yet; publish it once the certificate exists, before it is \
                                 deployed",
                                next.name
                            ),
                        )
                        .with("next", &next.name),
                    );
                }
                if !fit.is_empty() {
                    let upcoming = report::build(std::slice::from_ref(next), &request(fit))
                        .map_err(|e| fail(format!("next: {e}")))?;
                    records.extend(upcoming.records);
                    findings.extend(upcoming.findings);
                }
            }
        }
    }
    records.sort_by(|a, b| {
        let key = |r: &Record| (r.owner.as_ref().map(name_text), r.rdata.clone());
        key(a).cmp(&key(b))
    });
    let mut seen = BTreeSet::new();
    records.retain(|r| seen.insert((r.owner.as_ref().map(name_text), r.rdata.clone())));
    let mut seen_findings = BTreeSet::new();
    findings
        .retain(|f| seen_findings.insert((f.code.clone(), f.subject.clone(), f.message.clone())));
    let mut owners: Vec<Name> = owners.into_iter().collect();
    owners.sort_by_key(name_text);
    owners.dedup();
    Ok(Plan {
        records,
        owners,
        findings,
    })
}
