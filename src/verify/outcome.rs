//! The outcome of one address of one MX host on one port (RFC 7672 §2.2, §3), named as the
//! `verify` JSON contract names it, and the exit code of a run.

use serde::{Deserialize, Serialize};

use super::plan::TlsaState;
use crate::time::Timestamp;
use crate::tlsa::Rdata;
use crate::tlsa::matching::{Outcome as Match, Reference, check_chain};

/// What a probe of one address yielded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// No connection, or the dialogue broke off before TLS began (refused, timeout, closed).
    Unreachable(String),
    /// The server answered but did not offer STARTTLS.
    NoStarttls,
    /// STARTTLS was accepted (or TLS was implicit) and the TLS handshake failed.
    HandshakeFailed(String),
    /// The handshake completed; the chain as presented, DER, leaf first.
    Chain(Vec<Vec<u8>>),
}

/// The record that matched and the depth of the certificate it matched (0 = leaf).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedDoc {
    /// In presentation form, `3 1 1 <hex>`.
    pub record: String,
    pub depth: usize,
}

/// A record and why it did not match, or why it was not used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissDoc {
    pub record: String,
    pub reason: String,
}

/// The outcome of one address on one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// A usable record matched the presented chain.
    Authenticated { matched: MatchedDoc },
    /// Usable records are published and the server could not be authenticated: no record
    /// matched (`misses`, one per record tried), or the TLS handshake failed (`reason`).
    /// `unusable` lists the records that took no part.
    Mismatch {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        misses: Vec<MissDoc>,
        unusable: Vec<MissDoc>,
    },
    /// Only unusable records: TLS is mandatory, the server is not authenticated, and TLS
    /// was had.
    TlsRequired { unusable: Vec<MissDoc> },
    /// DANE does not apply (secure denial, or insecure DNS data).
    NoDane { reason: String },
    /// The TLSA lookup failed while the address lookup was secure: a sender defers.
    DnsFailure { reason: String },
    /// TLSA records are published and the server offers no STARTTLS (a downgrade).
    StarttlsMissing,
    /// No connection, or it broke off before TLS began.
    Unreachable { reason: String },
}

/// Every outcome's name, in the order of the contract.
pub const OUTCOME_WORDS: [&str; 7] = [
    "authenticated",
    "mismatch",
    "tls-required",
    "no-dane",
    "dns-failure",
    "starttls-missing",
    "unreachable",
];

impl Outcome {
    /// The outcome's name in the JSON contract.
    pub fn word(&self) -> &'static str {
        match self {
            Outcome::Authenticated { .. } => "authenticated",
            Outcome::Mismatch { .. } => "mismatch",
            Outcome::TlsRequired { .. } => "tls-required",
            Outcome::NoDane { .. } => "no-dane",
            Outcome::DnsFailure { .. } => "dns-failure",
            Outcome::StarttlsMissing => "starttls-missing",
            Outcome::Unreachable { .. } => "unreachable",
        }
    }
}

/// The outcome of one address, from the port's TLSA state and what the probe yielded.
///
/// - `Failure` → `dns-failure`, whatever the probe saw (RFC 7672 §2.2.2: the sender defers).
/// - `Unreachable` → `unreachable` under any other state: a network failure is never a
///   mismatch.
/// - `NoDane` → `no-dane` for any probe that reached the server (opportunistic TLS, RFC 7672
///   §2.2: cleartext or a failed handshake is what such a sender tolerates).
/// - `Usable` or `UnusableOnly` without STARTTLS → `starttls-missing` (TLS is mandatory in
///   both, RFC 7672 §2.2).
/// - `Usable` with a chain → `authenticated` when a record matches ([`check_chain`] with
///   `reference`), else `mismatch` with every record tried and why.
/// - `Usable` with a failed handshake → `mismatch` with the handshake's reason: the server
///   was reached and TLS began, so this is no network failure, and a DANE sender cannot
///   authenticate it and does not deliver (RFC 7672 §2.2). `unreachable` is kept for
///   failures before TLS.
/// - `UnusableOnly` with a chain → `tls-required`; with a failed handshake → `mismatch`,
///   since TLS is mandatory and was not had.
pub fn classify(
    tlsa: &TlsaState,
    probe: &ProbeResult,
    reference: &Reference<'_>,
    now: Timestamp,
) -> Outcome {
    match (tlsa, probe) {
        (TlsaState::Failure(why), _) => Outcome::DnsFailure {
            reason: why.clone(),
        },
        (_, ProbeResult::Unreachable(why)) => Outcome::Unreachable {
            reason: why.clone(),
        },
        (TlsaState::NoDane(why), _) => Outcome::NoDane {
            reason: why.clone(),
        },
        (TlsaState::Usable(_) | TlsaState::UnusableOnly(_), ProbeResult::NoStarttls) => {
            Outcome::StarttlsMissing
        }
        (TlsaState::Usable(records), ProbeResult::HandshakeFailed(why)) => Outcome::Mismatch {
            reason: Some(format!("the TLS handshake failed: {why}")),
            misses: Vec::new(),
            unusable: unusable_docs(records, reference, now),
        },
        (TlsaState::UnusableOnly(records), ProbeResult::HandshakeFailed(why)) => {
            Outcome::Mismatch {
                reason: Some(format!(
                    "TLS is mandatory (only unusable TLSA records) and the TLS handshake failed: {why}"
                )),
                misses: Vec::new(),
                unusable: unusable_docs(records, reference, now),
            }
        }
        (TlsaState::UnusableOnly(records), ProbeResult::Chain(_)) => Outcome::TlsRequired {
            unusable: unusable_docs(records, reference, now),
        },
        (TlsaState::Usable(records), ProbeResult::Chain(chain)) => {
            let report = check_chain(chain, records, reference, now);
            let unusable = report
                .unusable
                .iter()
                .map(|u| MissDoc {
                    record: u.record.to_string(),
                    reason: u.why.to_string(),
                })
                .collect();
            match report.outcome {
                Match::Matched { record, depth } => Outcome::Authenticated {
                    matched: MatchedDoc {
                        record: record.to_string(),
                        depth,
                    },
                },
                Match::NoMatch(misses) => Outcome::Mismatch {
                    reason: None,
                    misses: misses
                        .iter()
                        .map(|m| MissDoc {
                            record: m.record.to_string(),
                            reason: m.why.to_string(),
                        })
                        .collect(),
                    unusable,
                },
            }
        }
    }
}

/// The unusable records of an RRset and why, as [`check_chain`] decides it.
fn unusable_docs(records: &[Rdata], reference: &Reference<'_>, now: Timestamp) -> Vec<MissDoc> {
    check_chain(&[], records, reference, now)
        .unusable
        .iter()
        .map(|u| MissDoc {
            record: u.record.to_string(),
            reason: u.why.to_string(),
        })
        .collect()
}

/// The exit code of a run (issue 15, the exit codes of cli.md): 1 when any address is a
/// `mismatch`, `starttls-missing` or `dns-failure` (and, with `require_dane`, `no-dane` or
/// `tls-required`); else 3 when there is no outcome at all or any address was `unreachable`
/// (no verdict for it); else 0.
pub fn exit_code(outcomes: &[Outcome], require_dane: bool) -> u8 {
    let failed = outcomes.iter().any(|o| match o {
        Outcome::Mismatch { .. } | Outcome::StarttlsMissing | Outcome::DnsFailure { .. } => true,
        Outcome::NoDane { .. } | Outcome::TlsRequired { .. } => require_dane,
        Outcome::Authenticated { .. } | Outcome::Unreachable { .. } => false,
    });
    if failed {
        1
    } else if outcomes.is_empty()
        || outcomes
            .iter()
            .any(|o| matches!(o, Outcome::Unreachable { .. }))
    {
        3
    } else {
        0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::pki::{Certificate, Loaded, parse_input};
    use ring::digest;

    const LEAF: &str = include_str!("../../tests/fixtures/pki/leaf-p256.pem");
    const INT: &str = include_str!("../../tests/fixtures/pki/int-ca.pem");
    const SMTP: Reference<'static> = Reference {
        names: &["mail.example.test", "example.test"],
        smtp: true,
    };

    fn now() -> Timestamp {
        Timestamp::parse("2026-12-02T00:00:00Z").unwrap()
    }

    fn der(pem: &str) -> Vec<u8> {
        match parse_input("fixture", pem.as_bytes()).unwrap().loaded {
            Loaded::Chain(certs) => certs[0].der.clone(),
            Loaded::Key { .. } => panic!("not a certificate"),
        }
    }

    fn hex(bytes: &[u8]) -> String {
        data_encoding::HEXLOWER.encode(bytes)
    }

    fn spki_sha256(cert: &[u8]) -> String {
        let spki = Certificate::from_der(cert).unwrap().spki;
        hex(digest::digest(&digest::SHA256, &spki).as_ref())
    }

    fn chain() -> ProbeResult {
        ProbeResult::Chain(vec![der(LEAF), der(INT)])
    }

    fn rd(text: &str) -> Rdata {
        text.parse().unwrap()
    }

    const WRONG: &str = "3 1 1 abababababababababababababababababababababababababababababababab";
    const PKIX: &str = "1 1 1 abababababababababababababababababababababababababababababababab";

    fn pkix_unused() -> Vec<MissDoc> {
        vec![MissDoc {
            record: PKIX.into(),
            reason: "usage 1 (PKIX-EE) is not used for SMTP (RFC 7672 §3.1.3)".into(),
        }]
    }

    #[test]
    fn rfc7672_3_1_1_dane_ee_match_is_authenticated_at_depth_0() {
        let ee = format!("3 1 1 {}", spki_sha256(&der(LEAF)));
        let state = TlsaState::Usable(vec![rd(WRONG), rd(&ee)]);
        let outcome = classify(&state, &chain(), &SMTP, now());
        assert_eq!(
            outcome,
            Outcome::Authenticated {
                matched: MatchedDoc {
                    record: ee.clone(),
                    depth: 0
                }
            }
        );
        assert_eq!(
            serde_json::to_value(&outcome).unwrap(),
            serde_json::json!({"outcome": "authenticated", "matched": {"record": ee, "depth": 0}})
        );
    }

    #[test]
    fn rfc7672_3_1_2_dane_ta_match_is_authenticated_at_the_issuer_depth() {
        let ta = format!("2 1 1 {}", spki_sha256(&der(INT)));
        let state = TlsaState::Usable(vec![rd(&ta)]);
        assert_eq!(
            classify(&state, &chain(), &SMTP, now()),
            Outcome::Authenticated {
                matched: MatchedDoc {
                    record: ta,
                    depth: 1
                }
            }
        );
    }

    #[test]
    fn rfc7672_2_2_no_matching_record_is_a_mismatch_with_each_reason() {
        let state = TlsaState::Usable(vec![rd(WRONG), rd(PKIX)]);
        let outcome = classify(&state, &chain(), &SMTP, now());
        assert_eq!(
            outcome,
            Outcome::Mismatch {
                reason: None,
                misses: vec![MissDoc {
                    record: WRONG.into(),
                    reason: format!(
                        "the leaf's SPKI hashes to {}, the record has {}",
                        spki_sha256(&der(LEAF)),
                        "ab".repeat(32)
                    ),
                }],
                unusable: pkix_unused(),
            }
        );
        assert_eq!(
            serde_json::to_value(&outcome).unwrap()["outcome"],
            "mismatch"
        );
    }

    #[test]
    fn rfc7672_2_2_handshake_failure_under_usable_records_is_a_mismatch() {
        let state = TlsaState::Usable(vec![rd(WRONG)]);
        let probe = ProbeResult::HandshakeFailed("no shared cipher".into());
        assert_eq!(
            classify(&state, &probe, &SMTP, now()),
            Outcome::Mismatch {
                reason: Some("the TLS handshake failed: no shared cipher".into()),
                misses: vec![],
                unusable: vec![],
            }
        );
    }

    #[test]
    fn rfc7672_2_2_handshake_failure_under_unusable_records_is_a_mismatch() {
        let state = TlsaState::UnusableOnly(vec![rd(PKIX)]);
        let probe = ProbeResult::HandshakeFailed("alert 40".into());
        assert_eq!(
            classify(&state, &probe, &SMTP, now()),
            Outcome::Mismatch {
                reason: Some(
                    "TLS is mandatory (only unusable TLSA records) and the TLS handshake failed: alert 40"
                        .into()
                ),
                misses: vec![],
                unusable: pkix_unused(),
            }
        );
    }

    #[test]
    fn rfc7672_2_2_only_unusable_records_with_tls_is_tls_required() {
        let state = TlsaState::UnusableOnly(vec![rd(PKIX)]);
        let outcome = classify(&state, &chain(), &SMTP, now());
        assert_eq!(
            outcome,
            Outcome::TlsRequired {
                unusable: pkix_unused()
            }
        );
        assert_eq!(
            serde_json::to_value(&outcome).unwrap()["outcome"],
            "tls-required"
        );
    }

    #[test]
    fn rfc7672_2_2_no_starttls_under_tlsa_is_starttls_missing() {
        for state in [
            TlsaState::Usable(vec![rd(WRONG)]),
            TlsaState::UnusableOnly(vec![rd(PKIX)]),
        ] {
            let outcome = classify(&state, &ProbeResult::NoStarttls, &SMTP, now());
            assert_eq!(outcome, Outcome::StarttlsMissing);
            assert_eq!(
                serde_json::to_value(&outcome).unwrap(),
                serde_json::json!({"outcome": "starttls-missing"})
            );
        }
    }

    #[test]
    fn rfc7672_2_2_no_dane_whatever_the_probe_reached() {
        let state = TlsaState::NoDane("no TLSA".into());
        for probe in [
            chain(),
            ProbeResult::NoStarttls,
            ProbeResult::HandshakeFailed("x".into()),
        ] {
            let outcome = classify(&state, &probe, &SMTP, now());
            assert_eq!(
                outcome,
                Outcome::NoDane {
                    reason: "no TLSA".into()
                }
            );
            assert_eq!(
                serde_json::to_value(&outcome).unwrap()["outcome"],
                "no-dane"
            );
        }
    }

    #[test]
    fn rfc7672_2_2_2_dns_failure_whatever_the_probe() {
        let state = TlsaState::Failure("bogus".into());
        for probe in [
            chain(),
            ProbeResult::NoStarttls,
            ProbeResult::HandshakeFailed("x".into()),
            ProbeResult::Unreachable("refused".into()),
        ] {
            let outcome = classify(&state, &probe, &SMTP, now());
            assert_eq!(
                outcome,
                Outcome::DnsFailure {
                    reason: "bogus".into()
                }
            );
            assert_eq!(
                serde_json::to_value(&outcome).unwrap()["outcome"],
                "dns-failure"
            );
        }
    }

    #[test]
    fn network_failure_is_unreachable_never_a_mismatch() {
        for state in [
            TlsaState::Usable(vec![rd(WRONG)]),
            TlsaState::UnusableOnly(vec![rd(PKIX)]),
            TlsaState::NoDane("no TLSA".into()),
        ] {
            let outcome = classify(
                &state,
                &ProbeResult::Unreachable("timed out".into()),
                &SMTP,
                now(),
            );
            assert_eq!(
                outcome,
                Outcome::Unreachable {
                    reason: "timed out".into()
                }
            );
            assert_eq!(
                serde_json::to_value(&outcome).unwrap(),
                serde_json::json!({"outcome": "unreachable", "reason": "timed out"})
            );
        }
    }

    #[test]
    fn outcome_words_are_the_contract_names() {
        let all = [
            Outcome::Authenticated {
                matched: MatchedDoc {
                    record: "3 1 1 00".into(),
                    depth: 0,
                },
            },
            Outcome::Mismatch {
                reason: None,
                misses: vec![],
                unusable: vec![],
            },
            Outcome::TlsRequired { unusable: vec![] },
            Outcome::NoDane { reason: "r".into() },
            Outcome::DnsFailure { reason: "r".into() },
            Outcome::StarttlsMissing,
            Outcome::Unreachable { reason: "r".into() },
        ];
        let words: Vec<&str> = all.iter().map(Outcome::word).collect();
        assert_eq!(words, OUTCOME_WORDS);
        for o in &all {
            let v = serde_json::to_value(o).unwrap();
            assert_eq!(v["outcome"], o.word());
            assert_eq!(&serde_json::from_value::<Outcome>(v).unwrap(), o);
        }
    }

    #[test]
    fn exit_codes_issue_15() {
        let auth = Outcome::Authenticated {
            matched: MatchedDoc {
                record: "3 1 1 00".into(),
                depth: 0,
            },
        };
        let mismatch = Outcome::Mismatch {
            reason: None,
            misses: vec![],
            unusable: vec![],
        };
        let tls = Outcome::TlsRequired { unusable: vec![] };
        let no_dane = Outcome::NoDane { reason: "r".into() };
        let dns = Outcome::DnsFailure { reason: "r".into() };
        let unreachable = Outcome::Unreachable { reason: "r".into() };
        let cases: Vec<(Vec<Outcome>, bool, u8)> = vec![
            (vec![auth.clone()], false, 0),
            (vec![auth.clone(), tls.clone(), no_dane.clone()], false, 0),
            (vec![auth.clone(), tls.clone()], true, 1),
            (vec![auth.clone(), no_dane.clone()], true, 1),
            (vec![auth.clone()], true, 0),
            (vec![auth.clone(), mismatch.clone()], false, 1),
            (vec![auth.clone(), Outcome::StarttlsMissing], false, 1),
            (vec![auth.clone(), dns.clone()], false, 1),
            (vec![mismatch, unreachable.clone()], false, 1),
            (vec![auth.clone(), unreachable.clone()], false, 3),
            (vec![unreachable], false, 3),
            (vec![], false, 3),
            (vec![], true, 3),
        ];
        for (outcomes, require, code) in cases {
            let words: Vec<&str> = outcomes.iter().map(Outcome::word).collect();
            assert_eq!(exit_code(&outcomes, require), code, "{words:?} {require}");
        }
    }
}
