//! A second opinion: hickory-resolver's validator asked the same question through the same
//! resolvers, with the same trust anchors, so that a disagreement with danekit's own walker is
//! seen and reported (with both verdicts) instead of trusted blindly.
//!
//! hickory's validator gives a verdict per record and no reasons; its failures to fetch a DS or
//! DNSKEY come back as bogus. So this is a check on the walker, never the verdict itself. It
//! uses the real clock: a run with `--now` far from it skips the check.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::dnssec::{Proof, TrustAnchors as HickoryAnchors};
use hickory_proto::rr::{Name, RecordType};
use hickory_resolver::Resolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};

use super::StatusWord;
use super::walk::AnchorKey;

/// What hickory-resolver's validator concluded about one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondOpinion {
    pub verdict: StatusWord,
    /// hickory's words, for the finding.
    pub detail: String,
}

/// Asks each question through hickory-resolver with validation on, anchored at `anchors` (the
/// DNSKEYs that danekit's walker trusted at each anchor name). `None` for a question hickory
/// could not be set up for.
pub fn second_opinions(
    servers: &[SocketAddr],
    anchors: &[AnchorKey],
    questions: &[(Name, RecordType)],
    timeout: Duration,
) -> Vec<Option<SecondOpinion>> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return vec![None; questions.len()],
    };
    let mut trust = HickoryAnchors::empty();
    for a in anchors {
        trust.insert_with_name(a.key.public_key(), a.zone.clone().into());
    }
    let name_servers: Vec<NameServerConfig> = servers
        .iter()
        .map(|s| {
            let mut udp = ConnectionConfig::udp();
            udp.port = s.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = s.port();
            NameServerConfig::new(s.ip(), true, vec![udp, tcp])
        })
        .collect();
    let mut opts = ResolverOpts::default();
    opts.use_hosts_file = ResolveHosts::Never;
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.edns0 = true;
    opts.ndots = 0;
    let resolver = match Resolver::builder_with_config(
        ResolverConfig::from_name_servers(name_servers),
        TokioRuntimeProvider::default(),
    )
    .with_options(opts)
    .with_trust_anchor(Arc::new(trust))
    .build()
    {
        Ok(r) => r,
        Err(_) => return vec![None; questions.len()],
    };
    runtime.block_on(async {
        let mut out = Vec::with_capacity(questions.len());
        for (name, rtype) in questions {
            let result = resolver.lookup(name.clone(), *rtype).await;
            out.push(Some(opinion(result)));
        }
        out
    })
}

fn worst_proof<'a>(proofs: impl Iterator<Item = &'a Proof>) -> Option<StatusWord> {
    proofs
        .map(|p| match p {
            Proof::Secure => StatusWord::Secure,
            Proof::Insecure => StatusWord::Insecure,
            Proof::Bogus => StatusWord::Bogus,
            _ => StatusWord::Indeterminate,
        })
        .max_by_key(|w| match w {
            StatusWord::Secure => 0,
            StatusWord::Insecure => 1,
            StatusWord::Indeterminate => 2,
            StatusWord::Bogus => 3,
        })
}

fn opinion(result: Result<hickory_resolver::lookup::Lookup, NetError>) -> SecondOpinion {
    match result {
        Ok(lookup) => {
            let verdict = worst_proof(lookup.answers().iter().map(|r| &r.proof))
                .unwrap_or(StatusWord::Indeterminate);
            SecondOpinion {
                verdict,
                detail: format!("{} records", lookup.answers().len()),
            }
        }
        Err(NetError::Dns(DnsError::NoRecordsFound(no))) => {
            let verdict = no
                .authorities
                .as_deref()
                .and_then(|a| worst_proof(a.iter().map(|r| &r.proof)))
                .or_else(|| {
                    no.soa
                        .as_ref()
                        .and_then(|s| worst_proof(std::iter::once(&s.proof)))
                })
                .unwrap_or(StatusWord::Insecure);
            SecondOpinion {
                verdict,
                detail: format!("no records ({})", no.response_code),
            }
        }
        Err(NetError::Dns(DnsError::Nsec { proof, .. })) => SecondOpinion {
            verdict: worst_proof(std::iter::once(&proof)).unwrap_or(StatusWord::Indeterminate),
            detail: format!("negative answer, {proof}"),
        },
        Err(NetError::Dns(DnsError::DnssecBogus)) => SecondOpinion {
            verdict: StatusWord::Bogus,
            detail: "DNSSEC validation failed".into(),
        },
        Err(e) => SecondOpinion {
            verdict: StatusWord::Indeterminate,
            detail: crate::text::clip(&e.to_string()),
        },
    }
}
