//! The decisions of `danekit verify` (RFC 7672), without I/O of their own: [`plan()`] asks the
//! validated DNS questions of the RFC 7672 §2.2 procedure and decides, per MX host and port,
//! what a DANE sender requires ([`TlsaState`]); [`outcome`] names what became of one address
//! once probed ([`Outcome`]) and the exit code of a run.

pub mod outcome;
pub mod plan;

pub use outcome::{MatchedDoc, MissDoc, Outcome, ProbeResult, classify, exit_code, is_smtp_port};
pub use plan::{HostPlan, MxState, Plan, PortPlan, TlsaState, plan};
