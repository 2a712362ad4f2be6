//! The network half of `danekit verify`: every address of every planned host, on every port,
//! probed side by side (bounded), and each address given its [`Outcome`].
//!
//! Every connection goes to an address that validated DNS returned (or to the one address
//! the caller names, `--connect`); nothing is resolved again. Each address gets one TLS
//! handshake per key type a sender may ask for (ECDSA, then RSA), so a server holding an
//! ECDSA and an RSA certificate has both chains checked: a DANE sender that prefers either
//! must be able to authenticate it. The handshakes of one address run side by side too, so
//! the wall time of a run is about that of its slowest connection.

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::rr::Name;

use super::outcome::{Outcome, ProbeResult, classify};
use super::plan::{HostPlan, PortPlan, TlsaState};
use crate::addr::{Host, name_text};
use crate::env::Net;
use crate::probe::{KeyType, Presented, ProbeError, Starttls, Step, Target, probe_chain, sni_name};
use crate::time::Timestamp;
use crate::tlsa::matching::Reference;

/// The key types a sender may ask for, one handshake each, in the order reported.
pub const KEY_TYPES: [KeyType; 2] = [KeyType::Ecdsa, KeyType::Rsa];

/// At most this many connections are open at once, unless the caller says otherwise.
pub const DEFAULT_PARALLEL: usize = 16;

/// Which address families to connect to (`-4`, `-6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

impl Family {
    fn admits(self, ip: &IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }
}

/// How to probe.
#[derive(Debug, Clone)]
pub struct Options {
    pub family: Family,
    /// The dialogue before TLS; `None` takes it from the port (25/587 SMTP, 143 IMAP, 110
    /// POP3, others implicit TLS).
    pub starttls: Option<Starttls>,
    /// Connect here instead of to the host's validated addresses (`--connect`); the port,
    /// when given, replaces the service port for the connection only.
    pub connect: Option<(IpAddr, Option<u16>)>,
    /// The SMTP `EHLO` name; `None` sends the connection's address literal.
    pub ehlo: Option<String>,
    pub timeout: Duration,
    pub greeting_timeout: Duration,
    /// Connections open at once, at least one.
    pub parallel: usize,
    /// The time certificates are judged at.
    pub now: Timestamp,
}

/// What became of one address on one port.
#[derive(Debug, Clone)]
pub struct AddressResult {
    /// `None` when the host had no address to try: the outcome then says why.
    pub address: Option<IpAddr>,
    /// The service port (the TLSA owner's).
    pub port: u16,
    /// The port connected to: the service port unless `--connect` named another.
    pub connect_port: u16,
    pub outcome: Outcome,
    /// Every distinct chain presented, in the order of [`KEY_TYPES`].
    pub presented: Vec<Presented>,
    /// The index in `presented` of the chain the outcome is about.
    pub chosen: Option<usize>,
    /// What else was seen: a key type whose handshake failed after another succeeded.
    pub notes: Vec<String>,
    /// From the first connection's start to the last one's end.
    pub elapsed: Duration,
}

/// One host with the results of its addresses, port by port in the order asked, and within a
/// port in the order of the host's addresses.
#[derive(Debug, Clone)]
pub struct HostResult {
    pub plan: HostPlan,
    pub results: Vec<AddressResult>,
}

/// One handshake to make.
struct Job {
    host: usize,
    port: usize,
    ip: IpAddr,
    key_type: KeyType,
}

/// What one handshake gave.
struct Done {
    result: Result<Presented, ProbeError>,
    started: Instant,
    ended: Instant,
}

/// Probes every address of every host on every planned port and classifies each.
///
/// Ports whose TLSA state already decides the outcome without a connection (`dns-failure`)
/// are not connected to: a DANE sender defers there without connecting.
pub fn probe_hosts(net: &dyn Net, hosts: Vec<HostPlan>, options: &Options) -> Vec<HostResult> {
    probe_as_planned(net, options, |submit| {
        for host in hosts {
            submit(host);
        }
    })
    .1
}

/// Like [`probe_hosts`], for hosts handed over one at a time by `planner` (on this thread):
/// each host's handshakes start as soon as it is handed over, on a pool of at most
/// `options.parallel` threads shared by all hosts, while `planner` goes on with the next.
/// Returns what `planner` returned, and the results.
pub fn probe_as_planned<F, T>(net: &dyn Net, options: &Options, planner: F) -> (T, Vec<HostResult>)
where
    F: FnOnce(&mut dyn FnMut(HostPlan)) -> T,
{
    let mut hosts: Vec<Arc<HostPlan>> = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    let (job_tx, job_rx) = mpsc::channel::<(usize, Arc<HostPlan>, usize, IpAddr, KeyType)>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<(usize, Done)>();
    let planned = std::thread::scope(|scope| {
        for _ in 0..options.parallel.max(1) {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            scope.spawn(move || {
                loop {
                    let next = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => break,
                    };
                    let Ok((n, host, p, ip, key_type)) = next else {
                        break;
                    };
                    let started = Instant::now();
                    let result = handshake(net, &host, &host.ports[p], ip, key_type, options);
                    let done = Done {
                        result,
                        started,
                        ended: Instant::now(),
                    };
                    if done_tx.send((n, done)).is_err() {
                        break;
                    }
                }
            });
        }
        let planned = planner(&mut |plan: HostPlan| {
            let h = hosts.len();
            let host = Arc::new(plan);
            for (p, port) in host.ports.iter().enumerate() {
                if matches!(port.state, TlsaState::Failure(_)) {
                    continue;
                }
                for ip in addresses(&host, options) {
                    for key_type in KEY_TYPES {
                        let _ = job_tx.send((jobs.len(), host.clone(), p, ip, key_type));
                        jobs.push(Job {
                            host: h,
                            port: p,
                            ip,
                            key_type,
                        });
                    }
                }
            }
            hosts.push(host);
        });
        drop(job_tx);
        planned
    });
    drop(done_tx);
    let mut slots: Vec<Option<Done>> = jobs.iter().map(|_| None).collect();
    for (n, done) in done_rx {
        if let Some(slot) = slots.get_mut(n) {
            *slot = Some(done);
        }
    }
    // Every job has its slot filled: a worker sends before taking the next job, and a worker
    // that panicked has ended the scope above with its panic.
    let done: Vec<Done> = slots
        .into_iter()
        .zip(&jobs)
        .map(|(d, job)| {
            d.unwrap_or_else(|| Done {
                result: Err(ProbeError::Io {
                    peer: Box::new(crate::probe::Peer::new(
                        &name_text(&hosts[job.host].name),
                        hosts[job.host].ports[job.port].port,
                    )),
                    step: Step::Connect,
                    error: std::io::Error::other("the probe did not run"),
                }),
                started: Instant::now(),
                ended: Instant::now(),
            })
        })
        .collect();
    let hosts: Vec<HostPlan> = hosts
        .into_iter()
        .map(|h| Arc::try_unwrap(h).unwrap_or_else(|shared| (*shared).clone()))
        .collect();
    let mut done = jobs.iter().zip(done).peekable();
    let mut out = Vec::new();
    for (h, host) in hosts.into_iter().enumerate() {
        let mut results = Vec::new();
        for (p, port) in host.ports.iter().enumerate() {
            let names: Vec<&str> = port.reference_names.iter().map(String::as_str).collect();
            let reference = Reference {
                names: &names,
                smtp: is_smtp(port.port, options),
            };
            let ips = addresses(&host, options);
            if let TlsaState::Failure(_) = port.state {
                if ips.is_empty() {
                    results.push(unprobed(None, port, options, &reference));
                }
                for ip in ips {
                    results.push(unprobed(Some(ip), port, options, &reference));
                }
                continue;
            }
            if ips.is_empty() {
                let why = no_address(&host, options);
                results.push(AddressResult {
                    address: None,
                    port: port.port,
                    connect_port: connect_port(port, options),
                    outcome: Outcome::Unreachable { reason: why },
                    presented: Vec::new(),
                    chosen: None,
                    notes: Vec::new(),
                    elapsed: Duration::ZERO,
                });
                continue;
            }
            for ip in ips {
                let mut handshakes = Vec::new();
                while let Some((job, _)) = done.peek() {
                    if job.host != h || job.port != p || job.ip != ip {
                        break;
                    }
                    if let Some((job, d)) = done.next() {
                        handshakes.push((job.key_type, d));
                    }
                }
                results.push(combine(ip, port, options, &reference, handshakes));
            }
        }
        out.push(HostResult {
            plan: host,
            results,
        });
    }
    (planned, out)
}

/// Classifies one chain read offline (`--cert`) against every planned port of `host`.
pub fn check_offline(host: HostPlan, chain: &[Vec<u8>], options: &Options) -> HostResult {
    let results = host
        .ports
        .iter()
        .map(|port| {
            let names: Vec<&str> = port.reference_names.iter().map(String::as_str).collect();
            let reference = Reference {
                names: &names,
                smtp: is_smtp(port.port, options),
            };
            let outcome = classify(
                &port.state,
                &ProbeResult::Chain(chain.to_vec()),
                &reference,
                options.now,
            );
            AddressResult {
                address: None,
                port: port.port,
                connect_port: port.port,
                outcome,
                presented: Vec::new(),
                chosen: None,
                notes: Vec::new(),
                elapsed: Duration::ZERO,
            }
        })
        .collect();
    HostResult {
        plan: host,
        results,
    }
}

/// The addresses to connect to: `--connect`, else the validated ones of the family asked.
fn addresses(host: &HostPlan, options: &Options) -> Vec<IpAddr> {
    match options.connect {
        Some((ip, _)) => vec![ip],
        None => host
            .addresses
            .iter()
            .copied()
            .filter(|ip| options.family.admits(ip))
            .collect(),
    }
}

fn no_address(host: &HostPlan, options: &Options) -> String {
    let name = name_text(&host.name);
    match (options.family, host.addresses.is_empty()) {
        (Family::V4, false) => format!("{name} has no IPv4 address (-4)"),
        (Family::V6, false) => format!("{name} has no IPv6 address (-6)"),
        _ => match host.address_reports.iter().find_map(|r| r.reason.clone()) {
            Some(why) if !host.address_secure => {
                format!("{name} has no usable address: {why}")
            }
            _ => format!("{name} has no A or AAAA record"),
        },
    }
}

fn connect_port(port: &PortPlan, options: &Options) -> u16 {
    options.connect.and_then(|(_, p)| p).unwrap_or(port.port)
}

fn starttls(port: &PortPlan, options: &Options) -> Starttls {
    options
        .starttls
        .unwrap_or_else(|| Starttls::default_for_port(port.port))
}

/// SMTP, where usages 0 and 1 are unusable (RFC 7672 §3.1.3): a dialogue of SMTP, or the
/// SMTP submission port with implicit TLS (RFC 8314).
fn is_smtp(port: u16, options: &Options) -> bool {
    match options.starttls {
        Some(mode) => mode == Starttls::Smtp || port == 465,
        None => Starttls::default_for_port(port) == Starttls::Smtp || port == 465,
    }
}

/// The SNI a DANE sender sends: the TLSA base domain (RFC 7672 §8.1), else the host name.
fn sni_for(host: &HostPlan, port: &PortPlan) -> Option<Name> {
    Some(port.base.clone().unwrap_or_else(|| host.name.clone()))
}

fn handshake(
    net: &dyn Net,
    host: &HostPlan,
    port: &PortPlan,
    ip: IpAddr,
    key_type: KeyType,
    options: &Options,
) -> Result<Presented, ProbeError> {
    let sni =
        sni_for(host, port).and_then(|name| sni_name(name_text(&name).trim_end_matches('.')).ok());
    let target = Target {
        host: Host::Name(host.name.clone()),
        port: connect_port(port, options),
        starttls: starttls(port, options),
        sni,
        ehlo: options.ehlo.clone(),
        timeout: options.timeout,
        greeting_timeout: options.greeting_timeout,
    };
    let addr = SocketAddr::new(ip, target.port);
    probe_chain(net, &target, &[addr], key_type)
}

/// The outcome of a port that is not connected to.
fn unprobed(
    address: Option<IpAddr>,
    port: &PortPlan,
    options: &Options,
    reference: &Reference<'_>,
) -> AddressResult {
    let outcome = classify(
        &port.state,
        &ProbeResult::Unreachable("not connected".into()),
        reference,
        options.now,
    );
    AddressResult {
        address,
        port: port.port,
        connect_port: connect_port(port, options),
        outcome,
        presented: Vec::new(),
        chosen: None,
        notes: Vec::new(),
        elapsed: Duration::ZERO,
    }
}

/// How a failed handshake counts for the outcome.
enum Failed {
    /// Before TLS: no connection, no greeting, a broken dialogue, a timeout.
    Unreachable(String),
    NoStarttls,
    /// STARTTLS refused, or the TLS handshake itself failed.
    Tls,
}

fn failed(error: &ProbeError) -> Failed {
    match error {
        ProbeError::NoStarttls { .. } => Failed::NoStarttls,
        ProbeError::Timeout { .. } => Failed::Unreachable(error.to_string()),
        ProbeError::StarttlsRefused { .. }
        | ProbeError::Injection { .. }
        | ProbeError::PlainText { .. }
        | ProbeError::OldTls { .. }
        | ProbeError::NoCommonCipher { .. }
        | ProbeError::Handshake { .. }
        | ProbeError::NoCertificate { .. }
        | ProbeError::Closed {
            step: Step::Handshake,
            ..
        } => Failed::Tls,
        _ => Failed::Unreachable(error.to_string()),
    }
}

/// The outcome of one address from its handshakes, one per key type.
///
/// Each distinct chain is matched; the address is `authenticated` only when every chain is.
/// With no chain, a failure before TLS on any handshake makes it `unreachable` (another key
/// type might have been served), a server without STARTTLS `starttls-missing`, and failed
/// handshakes alone a TLS failure.
fn combine(
    ip: IpAddr,
    port: &PortPlan,
    options: &Options,
    reference: &Reference<'_>,
    handshakes: Vec<(KeyType, Done)>,
) -> AddressResult {
    let started = handshakes.iter().map(|(_, d)| d.started).min();
    let ended = handshakes.iter().map(|(_, d)| d.ended).max();
    let elapsed = match (started, ended) {
        (Some(s), Some(e)) => e.saturating_duration_since(s),
        _ => Duration::ZERO,
    };
    let mut presented: Vec<Presented> = Vec::new();
    let mut errors = Vec::new();
    for (key_type, done) in handshakes {
        match done.result {
            Ok(p) => {
                if !presented.iter().any(|q| q.chain == p.chain) {
                    presented.push(p);
                }
            }
            Err(e) => errors.push((key_type, e)),
        }
    }
    let mut result = AddressResult {
        address: Some(ip),
        port: port.port,
        connect_port: connect_port(port, options),
        outcome: Outcome::Unreachable {
            reason: String::new(),
        },
        presented: Vec::new(),
        chosen: None,
        notes: Vec::new(),
        elapsed,
    };
    if presented.is_empty() {
        let kinds: Vec<Failed> = errors.iter().map(|(_, e)| failed(e)).collect();
        let probe = if let Some(Failed::Unreachable(why)) =
            kinds.iter().find(|k| matches!(k, Failed::Unreachable(_)))
        {
            ProbeResult::Unreachable(why.clone())
        } else if kinds.iter().any(|k| matches!(k, Failed::NoStarttls)) {
            ProbeResult::NoStarttls
        } else {
            let why = errors
                .iter()
                .find(|(_, e)| !e.means_no_such_certificate())
                .or(errors.first())
                .map(|(_, e)| e.to_string())
                .unwrap_or_else(|| "no handshake was made".into());
            ProbeResult::HandshakeFailed(why)
        };
        result.outcome = classify(&port.state, &probe, reference, options.now);
        return result;
    }
    for (key_type, e) in &errors {
        if !e.means_no_such_certificate() {
            result.notes.push(format!(
                "the handshake asking for an {} certificate failed: {e}",
                key_type.label()
            ));
        }
    }
    let outcomes: Vec<Outcome> = presented
        .iter()
        .map(|p| {
            classify(
                &port.state,
                &ProbeResult::Chain(p.chain.clone()),
                reference,
                options.now,
            )
        })
        .collect();
    let chosen = outcomes
        .iter()
        .position(|o| !matches!(o, Outcome::Authenticated { .. }))
        .unwrap_or(0);
    let mut outcome = outcomes[chosen].clone();
    if presented.len() > 1
        && let Outcome::Mismatch { reason, .. } = &mut outcome
        && reason.is_none()
    {
        let others: Vec<String> = presented
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| matches!(o, Outcome::Authenticated { .. }))
            .map(|(p, _)| p.key_type.label().to_owned())
            .collect();
        if !others.is_empty() {
            *reason = Some(format!(
                "the {} chain matches no usable record, while the {} chain does",
                presented[chosen].key_type.label(),
                others.join(" and ")
            ));
        }
    }
    result.outcome = outcome;
    result.presented = presented;
    result.chosen = Some(chosen);
    result
}
