//! `danekit verify` (RFC 7672) as a library: [`plan()`] asks the validated DNS questions of the
//! RFC 7672 §2.2 procedure and decides, per MX host and port, what a DANE sender requires
//! ([`TlsaState`]); [`run`] connects to every validated address (bounded, side by side) and
//! gives each its [`Outcome`]; [`report`] builds the JSON document and the verdict of a run.

pub mod outcome;
pub mod plan;
pub mod report;
pub mod run;

pub use outcome::{MatchedDoc, MissDoc, Outcome, ProbeResult, classify, exit_code};
pub use plan::{HostPlan, MxState, Plan, PortPlan, TlsaState, plan, plan_host};
pub use report::{Verdict, VerifyDocument};
pub use run::{Family, HostResult, Options, check_offline, probe_hosts};
