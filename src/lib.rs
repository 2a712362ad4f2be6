//! danekit: a toolkit for DANE (RFC 6698, RFC 7671, RFC 7672) and TLSA records.
//!
//! The library holds every piece of the `danekit` command so that tests can drive it without a
//! process: [`tlsa`] (RFC 6698 records, computed, printed and matched against chains), [`pki`]
//! (certificates, chains, keys and CSRs read from PEM or DER), [`probe`] (STARTTLS dialogues and
//! the TLS handshakes that capture the presented chains), [`dns`] (DNS exchanges, the DO+CD
//! client, RFC 2136 updates), [`dnssec`] (the explainable validator), [`verify`] (the RFC 7672
//! decisions: which hosts, addresses and records, and each address's outcome), [`zone`] (zone,
//! nsupdate and knotc text), [`config`] (services files), [`report`] (findings and verdicts),
//! [`addr`] (host names and addresses), [`time`] (instants and DNSSEC serial times), [`text`]
//! (escaping what files and peers say), [`env`](mod@env) (clock, streams and network), and
//! [`cli`] (argument parsing, printers and exit codes). [`logstats`] counts TLS classes and
//! clear-text mail in Postfix logs read from any `BufRead`.
//!
//! Arrows point down: `cli` → `verify` → `probe`/`dnssec` → `dns`, and `verify` → `tlsa` →
//! `pki`. `tlsa`, `pki`, `zone`, `dnssec` and `report` do no I/O (`dnssec` asks its questions
//! through a `dns::client::Source`); `probe` and `dns` reach the network only through
//! [`env::Net`]; nothing imports `cli`.

pub mod addr;
pub mod cli;
pub mod config;
pub mod dns;
pub mod dnssec;
pub mod env;
pub mod logstats;
pub mod pki;
pub mod probe;
pub mod report;
pub mod rollover;
pub mod survey;
pub mod text;
pub mod time;
pub mod tlsa;
pub mod verify;
pub mod zone;
