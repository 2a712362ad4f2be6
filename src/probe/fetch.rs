//! Probe, then read: the chains a server presents as [`Input`]s, ready for TLSA computation
//! and matching, with the choice of SNI that a DANE client makes.
//!
//! `tlsa --server` and `verify` call this same code, so both ask a server for what a DANE
//! client would get (RFC 7672 §8.1: the TLSA base domain as SNI) and both see every chain a
//! server holds.

use hickory_proto::rr::Name;
use rustls::pki_types::DnsName;
use thiserror::Error;

use super::{KeyType, Presented, ProbeError, Target, probe_all, sni_name};
use crate::addr::{Host, name_text};
use crate::env::Net;
use crate::pki::{self, Input, PkiError};
use crate::report::Finding;

/// What a server presented, read.
#[derive(Debug)]
pub struct Fetched {
    /// One input per distinct chain, in the order of the key types asked for. Each is named
    /// `host:port`.
    pub inputs: Vec<Input>,
    /// The handshakes behind `inputs`, in the same order.
    pub presented: Vec<Presented>,
    /// Key types for which the server gave no chain, and why.
    pub failures: Vec<(KeyType, ProbeError)>,
    /// Warnings for the key types whose handshake failed for another reason than the server
    /// holding no such certificate: the records may miss a chain.
    pub findings: Vec<Finding>,
}

#[derive(Debug, Error)]
pub enum FetchError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The server sent a certificate that cannot be read.
    #[error(transparent)]
    Pki(#[from] PkiError),
}

/// The SNI a DANE client sends, and a warning when none can be sent: `explicit` if given,
/// else the TLSA base domain (`owner_host`), else the server's name; an IP address with no
/// name gets no SNI (RFC 6066 §3), and the warning says a server with per-name certificates
/// may then present another one.
pub fn choose_sni(
    explicit: Option<&str>,
    owner_host: Option<&Name>,
    server: &Host,
    port: u16,
) -> Result<(Option<DnsName<'static>>, Vec<Finding>), ProbeError> {
    if let Some(name) = explicit {
        return Ok((Some(sni_name(name)?), Vec::new()));
    }
    let name = owner_host.or(server.name());
    match name {
        Some(name) => Ok((Some(sni_name(&name_text(name))?), Vec::new())),
        None => {
            let peer = match server {
                Host::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
                other => format!("{other}:{port}"),
            };
            let finding = Finding::warning(
                "no-sni",
                peer,
                "no SNI was sent because the server is given as an address; a server with \
                 per-name certificates may present another certificate than a DANE client \
                 gets; name the host to send it as SNI",
            );
            Ok((None, vec![finding]))
        }
    }
}

/// Probes `target` for each of `key_types` and reads every distinct chain it presents.
pub fn fetch_inputs(
    net: &dyn Net,
    target: &Target,
    key_types: &[KeyType],
) -> Result<Fetched, FetchError> {
    let found = probe_all(net, target, key_types)?;
    let host = match &target.host {
        Host::Ip(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        other => other.to_string(),
    };
    let name = format!("{host}:{}", target.port);
    let inputs = found
        .chains
        .iter()
        .map(|p| pki::parse_presented(&name, &p.chain))
        .collect::<Result<Vec<_>, _>>()?;
    let findings = found
        .failures
        .iter()
        .filter(|(_, e)| !e.means_no_such_certificate())
        .map(|(key_type, e)| {
            Finding::warning(
                "key-type-failed",
                name.clone(),
                format!(
                    "the handshake asking for an {} certificate failed, so a chain the server \
                     holds may be missing from the records: {e}",
                    key_type.label()
                ),
            )
            .with("key_type", key_type)
        })
        .collect();
    Ok(Fetched {
        inputs,
        presented: found.chains,
        failures: found.failures,
        findings,
    })
}
