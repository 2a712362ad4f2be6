//! The `verify` document (the JSON contract of cli.md, with more fields) and the verdict of a
//! run, built from the plan and the probe results. `survey` writes one per domain.

use serde::{Deserialize, Serialize};

use super::outcome::{Outcome, exit_code};
use super::plan::{HostPlan, MxState, PortPlan, TlsaState};
use super::run::{AddressResult, HostResult};
use crate::addr::name_text;
use crate::dnssec::{RrsetReport, StatusWord};
use crate::pki::Certificate;
use crate::probe::Presented;
use crate::report::{Finding, SCHEMA_VERSION};
use crate::time::Timestamp;
use crate::tlsa::{Proto, owner_name};

/// The verdict of a run: `pass` exits 0, `fail` 1, `indeterminate` 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    Indeterminate,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Indeterminate => "indeterminate",
        }
    }

    /// The exit code of the contract.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail => 1,
            Verdict::Indeterminate => 3,
        }
    }

    fn of_code(code: u8) -> Verdict {
        match code {
            0 => Verdict::Pass,
            1 => Verdict::Fail,
            _ => Verdict::Indeterminate,
        }
    }
}

/// The document of `danekit verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyDocument {
    pub schema_version: u32,
    pub verdict: Verdict,
    /// The mail domain, or the host with `--host`.
    pub domain: String,
    /// The MX lookup; absent with `--host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mx_lookup: Option<MxLookupDoc>,
    /// Why there is no host to check (null MX, no such domain, a failed MX lookup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The hosts in MX preference order (or the one `--host`).
    pub mx: Vec<MxDoc>,
    /// MX hosts beyond the limit of a run, not checked.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hosts_omitted: usize,
    /// The earliest expiration of the RRSIGs the MX, address and TLSA answers relied on
    /// (their own and those of every DS and DNSKEY RRset on their chains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrsig_expiration: Option<Timestamp>,
    pub findings: Vec<Finding>,
}

/// The MX lookup (RFC 7672 §2.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MxLookupDoc {
    pub verdict: StatusWord,
    /// `secure`, `insecure`, `implicit` (no MX: the domain is its own host), `implicit-insecure`,
    /// `null` (RFC 7505), `no-domain` or `failure`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub records: Vec<String>,
}

/// One MX host. `tlsa_verdict` and `tlsa` are those of the first port checked; `ports` has
/// every port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MxDoc {
    pub host: String,
    /// `null` for the implicit MX (the domain itself) and for `--host`.
    pub preference: Option<u16>,
    /// The DNSSEC verdict of the TLSA lookup; `null` when TLSA was not looked up (insecure
    /// MX or address).
    pub tlsa_verdict: Option<StatusWord>,
    pub tlsa: Vec<String>,
    /// The first responses of the A and AAAA lookups were both secure (RFC 7672 §2.2.2).
    pub addresses_secure: bool,
    /// The fully expanded name of a CNAME'd host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cname_target: Option<String>,
    pub ports: Vec<PortDoc>,
    pub addresses: Vec<AddressDoc>,
    /// Addresses beyond the limit per host, not checked.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub addresses_omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The TLSA state of one port of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortDoc {
    pub port: u16,
    /// The TLSA owner name whose RRset decided (`null` when none did).
    pub owner: Option<String>,
    pub tlsa_verdict: Option<StatusWord>,
    pub tlsa: Vec<String>,
    /// `usable`, `unusable-only`, `no-dane` or `failure`.
    pub dane: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The reference identifiers for DANE-TA name checks (RFC 7672 §3.2.2).
    pub reference_names: Vec<String>,
}

/// One address on one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressDoc {
    /// `null` when the host had no address to try, or for an offline chain (`--cert`).
    pub address: Option<String>,
    pub port: u16,
    /// The port connected to, when `--connect` named another than `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_port: Option<u16>,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The chain the outcome is about, as presented (leaf first).
    pub chain: Vec<CertDoc>,
    /// Every handshake that presented a distinct chain.
    pub tls: Vec<TlsDoc>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub elapsed_ms: u64,
}

/// One certificate of a presented chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertDoc {
    pub subject: String,
    pub issuer: String,
    pub not_after: Option<String>,
    pub spki_sha256: String,
    /// Why the certificate could not be read, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsDoc {
    /// The certificate type asked for: `ecdsa` or `rsa`.
    pub key_type: String,
    pub version: String,
    pub cipher_suite: String,
    pub sni: Option<String>,
    /// The leaf's key, e.g. `ecdsa-p256`, `rsa-2048`.
    pub leaf_key: Option<String>,
}

/// The document and verdict of a `verify DOMAIN` run.
pub fn domain_document(
    domain: &str,
    mx: &MxState,
    mx_reports: &[RrsetReport],
    hosts: &[HostResult],
    hosts_omitted: usize,
    require_dane: bool,
    findings: Vec<Finding>,
) -> VerifyDocument {
    let last = mx_reports.last();
    let verdict_word = worst(mx_reports);
    let (state, reason) = match mx {
        MxState::Secure => ("secure", None),
        MxState::Insecure(why) => ("insecure", Some(why.clone())),
        MxState::Implicit => ("implicit", None),
        MxState::ImplicitInsecure(why) => ("implicit-insecure", Some(why.clone())),
        MxState::Null => ("null", None),
        MxState::NoDomain => ("no-domain", None),
        MxState::Failure(why) => ("failure", Some(why.clone())),
    };
    let mx_lookup = MxLookupDoc {
        verdict: verdict_word,
        state: state.to_owned(),
        reason: reason.clone(),
        records: last.map(|r| r.records.clone()).unwrap_or_default(),
    };
    let (verdict, reason) = match mx {
        MxState::Null => (
            if require_dane {
                Verdict::Fail
            } else {
                Verdict::Pass
            },
            Some(format!(
                "{domain} has a null MX (RFC 7505): it accepts no mail, so there is nothing to check"
            )),
        ),
        MxState::NoDomain => (
            Verdict::Fail,
            Some(format!(
                "{domain} does not exist (NXDOMAIN): mail to it cannot be delivered"
            )),
        ),
        MxState::Failure(why) => (
            if verdict_word == StatusWord::Bogus {
                Verdict::Fail
            } else {
                Verdict::Indeterminate
            },
            Some(format!("a DANE sender defers mail to {domain}: {why}")),
        ),
        _ => (run_verdict(hosts, require_dane), None),
    };
    VerifyDocument {
        schema_version: SCHEMA_VERSION,
        verdict,
        domain: domain.to_owned(),
        mx_lookup: Some(mx_lookup),
        reason,
        mx: hosts.iter().map(mx_doc).collect(),
        hosts_omitted,
        rrsig_expiration: earliest(mx_reports, hosts),
        findings,
    }
}

/// The document and verdict of a `verify --host` run.
pub fn host_document(
    host: &HostResult,
    require_dane: bool,
    findings: Vec<Finding>,
) -> VerifyDocument {
    let hosts = std::slice::from_ref(host);
    VerifyDocument {
        schema_version: SCHEMA_VERSION,
        verdict: run_verdict(hosts, require_dane),
        domain: name_text(&host.plan.name),
        mx_lookup: None,
        reason: None,
        mx: vec![mx_doc(host)],
        hosts_omitted: 0,
        rrsig_expiration: earliest(&[], hosts),
        findings,
    }
}

fn earliest(mx_reports: &[RrsetReport], hosts: &[HostResult]) -> Option<Timestamp> {
    let hosts = hosts.iter().flat_map(|h| {
        h.plan
            .address_reports
            .iter()
            .chain(h.plan.ports.iter().flat_map(|p| p.reports.iter()))
    });
    crate::dnssec::earliest_expiration(mx_reports.iter().chain(hosts))
}

fn run_verdict(hosts: &[HostResult], require_dane: bool) -> Verdict {
    let outcomes: Vec<Outcome> = hosts
        .iter()
        .flat_map(|h| h.results.iter().map(|r| r.outcome.clone()))
        .collect();
    Verdict::of_code(exit_code(&outcomes, require_dane))
}

fn mx_doc(host: &HostResult) -> MxDoc {
    let plan: &HostPlan = &host.plan;
    let ports: Vec<PortDoc> = plan.ports.iter().map(port_doc).collect();
    let first = ports.first();
    MxDoc {
        host: name_text(&plan.name),
        preference: plan.preference,
        tlsa_verdict: first.and_then(|p| p.tlsa_verdict),
        tlsa: first.map(|p| p.tlsa.clone()).unwrap_or_default(),
        addresses_secure: plan.address_secure,
        cname_target: plan.expanded.as_ref().map(name_text),
        ports,
        addresses: host.results.iter().map(address_doc).collect(),
        addresses_omitted: plan.addresses_omitted,
    }
}

fn port_doc(port: &PortPlan) -> PortDoc {
    let (dane, reason, records) = match &port.state {
        TlsaState::Usable(records) => ("usable", None, records),
        TlsaState::UnusableOnly(records) => ("unusable-only", None, records),
        TlsaState::NoDane(why) => ("no-dane", Some(why.clone()), &Vec::new()),
        TlsaState::Failure(why) => ("failure", Some(why.clone()), &Vec::new()),
    };
    let mut tlsa: Vec<String> = records.iter().map(ToString::to_string).collect();
    tlsa.extend(port.unparsed.iter().cloned());
    PortDoc {
        port: port.port,
        owner: port
            .base
            .as_ref()
            .and_then(|b| owner_name(port.port, Proto::Tcp, b).ok())
            .map(|o| name_text(&o)),
        tlsa_verdict: (!port.reports.is_empty()).then(|| worst(&port.reports)),
        tlsa,
        dane: dane.to_owned(),
        reason,
        reference_names: port.reference_names.clone(),
    }
}

fn address_doc(result: &AddressResult) -> AddressDoc {
    let chain = result
        .chosen
        .and_then(|i| result.presented.get(i))
        .map(|p| chain_docs(&p.chain))
        .unwrap_or_default();
    AddressDoc {
        address: result.address.map(|ip| ip.to_string()),
        port: result.port,
        connect_port: (result.connect_port != result.port).then_some(result.connect_port),
        outcome: result.outcome.clone(),
        chain,
        tls: result.presented.iter().map(tls_doc).collect(),
        notes: result.notes.clone(),
        elapsed_ms: u64::try_from(result.elapsed.as_millis()).unwrap_or(u64::MAX),
    }
}

/// The certificates of a chain as the document shows them.
pub fn chain_docs(chain: &[Vec<u8>]) -> Vec<CertDoc> {
    chain
        .iter()
        .map(|der| match Certificate::from_der(der) {
            Ok(cert) => CertDoc {
                subject: cert.subject.clone(),
                issuer: cert.issuer.clone(),
                not_after: cert.not_after.map(|t: Timestamp| t.to_string()),
                spki_sha256: sha256_hex(&cert.spki),
                error: None,
            },
            Err(why) => CertDoc {
                subject: String::new(),
                issuer: String::new(),
                not_after: None,
                spki_sha256: String::new(),
                error: Some(crate::text::clip(&why)),
            },
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn tls_doc(p: &Presented) -> TlsDoc {
    TlsDoc {
        key_type: p.key_type.as_str().to_owned(),
        version: p.tls_version.clone(),
        cipher_suite: p.cipher_suite.clone(),
        sni: p.sni.clone(),
        leaf_key: p
            .chain
            .first()
            .and_then(|der| Certificate::from_der(der).ok())
            .map(|c| c.key.to_string()),
    }
}

fn worst(reports: &[RrsetReport]) -> StatusWord {
    crate::dnssec::worst(reports).word()
}
