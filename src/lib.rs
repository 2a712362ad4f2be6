//! danekit: a toolkit for DANE (RFC 6698, RFC 7671, RFC 7672) and TLSA records.
//!
//! The library holds every piece of the `danekit` command so that tests can drive it without a
//! process: [`tlsa`] (RFC 6698 records, computed and printed), [`pki`] (certificates, chains,
//! keys and CSRs read from PEM or DER), [`probe`] (STARTTLS dialogues and the TLS handshake that
//! captures a presented chain), [`report`] (findings and verdicts), [`env`] (clock, streams and
//! network), and [`cli`] (argument parsing, printers and exit codes).
//!
//! `tlsa`, `pki` and `report` do no I/O; `probe` reaches the network only through [`env::Env`];
//! nothing imports `cli`.

pub mod cli;
pub mod env;
pub mod pki;
pub mod probe;
pub mod report;
pub mod tlsa;
pub mod zone;
