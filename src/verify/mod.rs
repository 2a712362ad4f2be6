//! `danekit verify` (RFC 7672) as a library: [`plan()`] asks the validated DNS questions of the
//! RFC 7672 §2.2 procedure and decides, per MX host and port, what a DANE sender requires
//! ([`TlsaState`]); [`run`] connects to every validated address (bounded, side by side) and
//! gives each its [`Outcome`]; [`report`] builds the JSON document and the verdict of a run.

use hickory_proto::rr::Name;

use crate::addr::name_text;
use crate::dnssec::Validator;
use crate::env::Net;

pub mod outcome;
pub mod plan;
pub mod report;
pub mod run;

pub use outcome::{MatchedDoc, MissDoc, Outcome, ProbeResult, classify, exit_code};
pub use plan::{HostPlan, InsecureMx, MxState, Plan, PortPlan, TlsaState, plan, plan_host};
pub use report::{Verdict, VerifyDocument};
pub use run::{Family, HostResult, Options, check_offline, probe_hosts};

/// The whole `verify DOMAIN` procedure: the RFC 7672 §2.2 lookups through `validator`, every
/// address probed, and the document with its verdict.
pub fn check_domain(
    net: &dyn Net,
    validator: &Validator<'_>,
    domain: &Name,
    ports: &[u16],
    options: &Options,
    insecure_mx: plan::InsecureMx,
    require_dane: bool,
) -> VerifyDocument {
    let (planned, results) = run::probe_as_planned(net, options, |submit| {
        plan::plan_each(validator, domain, ports, insecure_mx, submit)
    });
    report::domain_document(
        &name_text(domain),
        &planned.mx,
        &planned.mx_reports,
        &results,
        planned.hosts_omitted,
        require_dane,
        Vec::new(),
    )
}
