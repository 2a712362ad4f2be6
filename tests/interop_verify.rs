//! Interoperability of `danekit verify` with the DANE implementations mail operators run:
//! Postfix (its `posttls-finger`, which applies the Postfix SMTP client's DANE policy) and
//! NLnet Labs' `ldns-dane`, against real Postfix `smtpd` services, on zones signed by BIND's
//! `dnssec-signzone`, served by Knot DNS `knotd` and resolved by Unbound.
//!
//! Everything runs in a network and mount namespace of its own: the test re-executes itself
//! under `unshare --net --mount`, after `ip link set lo up` and a bind mount of a private
//! `/etc/resolv.conf` (`nameserver 127.0.0.1`, `options trust-ad`) over the host's, so that
//! posttls-finger's and ldns-dane's stub resolvers ask the test's Unbound and keep its AD bit.
//! Inside, `tests/fixtures/verify-interop/build.sh` makes the certificates and signed zones
//! (README.md beside it lists every scenario), then:
//!
//! - knotd serves the zones on 127.0.0.1:5300, as written (the faulty RRset included);
//! - Unbound listens on 127.0.0.1:53 with the test root's DS as its only trust anchor and a
//!   stub-zone per zone;
//! - one Postfix `master` (its own `MAIL_CONFIG` directory, nothing of the host's /etc)
//!   runs an smtpd per MX host on 127.0.0.11–127.0.0.32 port 25, with STARTTLS or without it,
//!   and four with implicit TLS on port 465.
//!
//! For every scenario the test runs `danekit verify DOMAIN --resolver 127.0.0.1:53
//! --trust-anchor root.ds -o json` and `posttls-finger -l dane` (per domain, and per MX host
//! where a domain has several), and for port 465 also `ldns-dane -S -k root.ds verify HOST
//! 465`. Each tool's result must be exactly the one the scenario table gives for it, and
//! danekit's outcome must correspond to Postfix's (authenticated ↔ `Verified` with the same
//! record and depth, mismatch ↔ a DANE verification failure, tls-required ↔ only unsupported
//! TLSA usages, no-dane ↔ no TLSA in play, starttls-missing ↔ no STARTTLS in the EHLO reply,
//! dns-failure ↔ `TLSA lookup error`), except where the table records a difference with the
//! RFC rule that allows it. Every disagreement is collected and reported at once, followed by
//! the servers' logs.
//!
//! Needs root (namespaces, port 25) and the Debian packages postfix, unbound, knot,
//! bind9-utils, bind9-dnsutils, ldnsutils, openssl, iproute2 and util-linux. With `CI=true`
//! a missing tool fails the test; without it the test prints `skipped: …`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::interop::{
    LoopbackSlot, ProcessGroup, QTYPE_SOA, TempDir, danekit_bin, describe, dns_query_tcp,
    knot_conf_head, normalise_hex, print_skip, require_root, require_tool, require_user, run,
    run_with_env, wait_for_dns_token, wait_for_greeting, wait_for_listener,
};

/// Set (to the outer test's work directory) in the copy of this test that runs inside the
/// namespace.
const INNER_ENV: &str = "DANEKIT_VERIFY_INTEROP_INNER";
/// The name libtest gives the namespaced test, for the re-execution.
const TEST_NAME: &str = "danekit_verify_agrees_with_postfix_and_ldns_dane";
/// How long a server may take to start.
const START_LIMIT: Duration = Duration::from_secs(30);
/// Unbound's address inside the namespace.
const RESOLVER: &str = "127.0.0.1:53";
/// knotd's port on 127.0.0.1 inside the namespace.
const KNOT_PORT: u16 = 5300;
const KNOT_READY_ZONE: &str = "danekit-ready.";
const KNOT_READY: &str = "knotd.danekit-ready.";
const UNBOUND_READY: &str = "unbound.danekit-ready.";
/// `timeout` for every client run, in seconds.
const RUN_LIMIT: &str = "60";

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/verify-interop")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("paths are UTF-8")
}

fn write_file(path: &Path, contents: impl AsRef<[u8]>, mode: u32) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A command's stdout then stderr.
fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// What each tool must say

/// danekit's outcome for one address (the `verify` JSON contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Authenticated,
    Mismatch,
    TlsRequired,
    NoDane,
    DnsFailure,
    StarttlsMissing,
}

impl Outcome {
    const ALL: [Outcome; 6] = [
        Outcome::Authenticated,
        Outcome::Mismatch,
        Outcome::TlsRequired,
        Outcome::NoDane,
        Outcome::DnsFailure,
        Outcome::StarttlsMissing,
    ];

    fn parse(word: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.word() == word)
    }

    fn word(self) -> &'static str {
        match self {
            Outcome::Authenticated => "authenticated",
            Outcome::Mismatch => "mismatch",
            Outcome::TlsRequired => "tls-required",
            Outcome::NoDane => "no-dane",
            Outcome::DnsFailure => "dns-failure",
            Outcome::StarttlsMissing => "starttls-missing",
        }
    }

    /// What Postfix reports for a server where a DANE sender reaches this outcome:
    /// authenticated ↔ `Verified` by a DANE record; mismatch ↔ `Untrusted` after a DANE
    /// verification failure; tls-required ↔ `Untrusted` with every record of the RRset an
    /// unsupported usage; no-dane ↔ `Untrusted` with no TLSA record in play (posttls-finger
    /// then applies its `secure` level, and the test gives it no CA, so the chain is
    /// untrusted); starttls-missing ↔ an EHLO reply without STARTTLS and no TLS session;
    /// dns-failure ↔ `TLSA lookup error` and no connection.
    fn postfix_kind(self) -> PostfixKind {
        match self {
            Outcome::Authenticated => PostfixKind::Verified,
            Outcome::Mismatch => PostfixKind::DaneFailed,
            Outcome::TlsRequired => PostfixKind::UnusableTlsa,
            Outcome::NoDane => PostfixKind::NoTlsa,
            Outcome::StarttlsMissing => PostfixKind::NoStarttls,
            Outcome::DnsFailure => PostfixKind::TlsaLookupError,
        }
    }
}

/// The kinds of posttls-finger results, one per danekit outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PostfixKind {
    Verified,
    DaneFailed,
    UnusableTlsa,
    NoTlsa,
    NoStarttls,
    TlsaLookupError,
}

/// What posttls-finger reported for one server (host, address and port).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Postfix {
    /// `Verified TLS connection established`, after `Matched DANE EE|TA certificate at depth
    /// N: RECORD`.
    Verified { record: String, depth: usize },
    /// `Untrusted TLS connection established` after `server certificate verification failed
    /// …: num=N:REASON` (`no matching DANE TLSA records`, `hostname mismatch`).
    DaneFailed(String),
    /// `Untrusted TLS connection established`, with an `unsupported TLSA certificate usage`
    /// warning for each of this many records.
    UnusableTlsa(usize),
    /// `Untrusted TLS connection established` with no TLSA record in play (no DANE match, no
    /// DANE failure, no unsupported-usage warning).
    NoTlsa,
    /// Connected, the EHLO reply lists no STARTTLS, no TLS session.
    NoStarttls,
    /// `TLSA lookup error for HOST:PORT`, no connection.
    TlsaLookupError,
    /// Anything else, with the evidence.
    Other(String),
}

impl Postfix {
    fn kind(&self) -> Option<PostfixKind> {
        Some(match self {
            Postfix::Verified { .. } => PostfixKind::Verified,
            Postfix::DaneFailed(_) => PostfixKind::DaneFailed,
            Postfix::UnusableTlsa(_) => PostfixKind::UnusableTlsa,
            Postfix::NoTlsa => PostfixKind::NoTlsa,
            Postfix::NoStarttls => PostfixKind::NoStarttls,
            Postfix::TlsaLookupError => PostfixKind::TlsaLookupError,
            Postfix::Other(_) => return None,
        })
    }
}

/// What the table expects of posttls-finger: [`Postfix`] with the matched record named by its
/// parameters (`"3 1 1"`) and looked up among the published records at run time.
#[derive(Debug, Clone, Copy)]
enum PostfixWant {
    Verified(&'static str, usize),
    DaneFailed(&'static str),
    UnusableTlsa(usize),
    NoTlsa,
    NoStarttls,
    TlsaLookupError,
}

impl PostfixWant {
    fn kind(self) -> PostfixKind {
        match self {
            PostfixWant::Verified(..) => PostfixKind::Verified,
            PostfixWant::DaneFailed(_) => PostfixKind::DaneFailed,
            PostfixWant::UnusableTlsa(_) => PostfixKind::UnusableTlsa,
            PostfixWant::NoTlsa => PostfixKind::NoTlsa,
            PostfixWant::NoStarttls => PostfixKind::NoStarttls,
            PostfixWant::TlsaLookupError => PostfixKind::TlsaLookupError,
        }
    }
}

/// One address of one MX host as danekit must report it.
#[derive(Debug, Clone, Copy)]
struct AddressWant {
    address: &'static str,
    port: u16,
    outcome: Outcome,
    /// The matched record's parameters and depth, for `authenticated`.
    matched: Option<(&'static str, usize)>,
}

/// One MX host as danekit must report it.
#[derive(Debug, Clone, Copy)]
struct HostWant {
    host: &'static str,
    preference: u16,
    /// `secure`, `insecure`, `bogus` (the TLSA RRset's DNSSEC status), or `None` for JSON
    /// `null`: no TLSA lookup was made, because the MX lookup was insecure (RFC 7672 §2.2.1).
    tlsa_verdict: Option<&'static str>,
    /// When true, `tlsa` must list exactly the records build.sh published at the TLSA owner
    /// (none where there are none); when false (no lookup made, or a bogus RRset), `tlsa`
    /// must be empty.
    tlsa_published: bool,
    /// The TLSA base domain where it is not `host` (a CNAME, RFC 7672 §2.2.2).
    tlsa_base: Option<&'static str>,
    addresses: &'static [AddressWant],
}

/// One posttls-finger run and what it must report for the one server it connects to first.
#[derive(Debug, Clone, Copy)]
struct FingerRun {
    /// Extra options before the destination (`-w`, `-M may`).
    options: &'static [&'static str],
    /// `DOMAIN`, or `[HOST]` / `[HOST]:PORT` for one MX host.
    destination: &'static str,
    host: &'static str,
    address: &'static str,
    port: u16,
    /// The TLSA base domain where it is not `host` (a CNAME, RFC 7672 §2.2.2).
    tlsa_base: Option<&'static str>,
    want: PostfixWant,
    /// True where Postfix's result is the scenario's recorded difference from danekit's
    /// outcome; false where the two must correspond.
    differs: bool,
}

/// One ldns-dane run (`verify HOST PORT`) and what it must report.
#[derive(Debug, Clone, Copy)]
struct LdnsRun {
    host: &'static str,
    port: u16,
    address: &'static str,
    /// `None` for `dane-validated successfully`, else the reason after `because: `.
    failure: Option<&'static str>,
}

/// One danekit run: its arguments before the common ones, and what it must report.
#[derive(Debug, Clone, Copy)]
struct DanekitRun {
    args: &'static [&'static str],
    verdict: &'static str,
    exit: i32,
    hosts: &'static [HostWant],
}

/// A scenario: a domain (or host and port), and what each tool must report for it.
#[derive(Debug, Clone, Copy)]
struct Scenario {
    /// Named after the RFC rule it tests.
    id: &'static str,
    danekit: &'static [DanekitRun],
    postfix: &'static [FingerRun],
    ldns: &'static [LdnsRun],
    /// Where Postfix's result does not correspond to danekit's outcome, and the rule that
    /// allows both; `None` when they must correspond.
    difference: Option<&'static str>,
}

const fn addr(
    address: &'static str,
    port: u16,
    outcome: Outcome,
    matched: Option<(&'static str, usize)>,
) -> AddressWant {
    AddressWant {
        address,
        port,
        outcome,
        matched,
    }
}

/// Every scenario; README.md beside build.sh has the same table.
fn scenarios() -> Vec<Scenario> {
    SCENARIOS.to_vec()
}

const SCENARIOS: &[Scenario] = {
    use Outcome::*;
    &[
        Scenario {
            id: "rfc7672-3.1.1-dane-ee",
            danekit: &[DanekitRun {
                args: &["ee.dane.test"],
                verdict: "pass",
                exit: 0,
                hosts: &[HostWant {
                    host: "mx.ee.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.11", 25, Authenticated, Some(("3 1 1", 0)))],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "ee.dane.test",
                host: "mx.ee.dane.test",
                address: "127.0.0.11",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::Verified("3 1 1", 0),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-3.1.2-dane-ta-spki",
            danekit: &[DanekitRun {
                args: &["ta.dane.test"],
                verdict: "pass",
                exit: 0,
                hosts: &[HostWant {
                    host: "mx.ta.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.12", 25, Authenticated, Some(("2 1 1", 1)))],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "ta.dane.test",
                host: "mx.ta.dane.test",
                address: "127.0.0.12",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::Verified("2 1 1", 1),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-3.1.2-dane-ta-cert-rsa",
            danekit: &[DanekitRun {
                args: &["rsa.dane.test"],
                verdict: "pass",
                exit: 0,
                hosts: &[HostWant {
                    host: "mx.rsa.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.13", 25, Authenticated, Some(("2 0 1", 1)))],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "rsa.dane.test",
                host: "mx.rsa.dane.test",
                address: "127.0.0.13",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::Verified("2 0 1", 1),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7671-5.1-dane-ee-expired-leaf",
            danekit: &[DanekitRun {
                args: &["expired.dane.test"],
                verdict: "pass",
                exit: 0,
                hosts: &[HostWant {
                    host: "mx.expired.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.20", 25, Authenticated, Some(("3 1 1", 0)))],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "expired.dane.test",
                host: "mx.expired.dane.test",
                address: "127.0.0.20",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::Verified("3 1 1", 0),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-2.2-mismatch",
            danekit: &[DanekitRun {
                args: &["mismatch.dane.test"],
                verdict: "fail",
                exit: 1,
                hosts: &[HostWant {
                    host: "mx.mismatch.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.14", 25, Mismatch, None)],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "mismatch.dane.test",
                host: "mx.mismatch.dane.test",
                address: "127.0.0.14",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::DaneFailed("no matching DANE TLSA records"),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-3.2.2-dane-ta-name-mismatch",
            danekit: &[DanekitRun {
                args: &["badname.dane.test"],
                verdict: "fail",
                exit: 1,
                hosts: &[HostWant {
                    host: "mx.badname.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.23", 25, Mismatch, None)],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "badname.dane.test",
                host: "mx.badname.dane.test",
                address: "127.0.0.23",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::DaneFailed("hostname mismatch"),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7671-5.2-dane-ta-not-sent",
            danekit: &[DanekitRun {
                args: &["tanotsent.dane.test"],
                verdict: "fail",
                exit: 1,
                hosts: &[HostWant {
                    host: "mx.tanotsent.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.24", 25, Mismatch, None)],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "tanotsent.dane.test",
                host: "mx.tanotsent.dane.test",
                address: "127.0.0.24",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::DaneFailed("no matching DANE TLSA records"),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-3.1.3-only-pkix-usages",
            danekit: &[
                DanekitRun {
                    args: &["unusable.dane.test"],
                    verdict: "pass",
                    exit: 0,
                    hosts: &[HostWant {
                        host: "mx.unusable.dane.test.",
                        preference: 10,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.15", 25, TlsRequired, None)],
                    }],
                },
                DanekitRun {
                    args: &["unusable.dane.test", "--require-dane"],
                    verdict: "fail",
                    exit: 1,
                    hosts: &[HostWant {
                        host: "mx.unusable.dane.test.",
                        preference: 10,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.15", 25, TlsRequired, None)],
                    }],
                },
            ],
            postfix: &[FingerRun {
                options: &[],
                destination: "unusable.dane.test",
                host: "mx.unusable.dane.test",
                address: "127.0.0.15",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::UnusableTlsa(2),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-2.2-secure-denial",
            danekit: &[
                DanekitRun {
                    args: &["nodane.dane.test"],
                    verdict: "pass",
                    exit: 0,
                    hosts: &[HostWant {
                        host: "mx.nodane.dane.test.",
                        preference: 10,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.16", 25, NoDane, None)],
                    }],
                },
                DanekitRun {
                    args: &["nodane.dane.test", "--require-dane"],
                    verdict: "fail",
                    exit: 1,
                    hosts: &[HostWant {
                        host: "mx.nodane.dane.test.",
                        preference: 10,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.16", 25, NoDane, None)],
                    }],
                },
            ],
            postfix: &[FingerRun {
                options: &[],
                destination: "nodane.dane.test",
                host: "mx.nodane.dane.test",
                address: "127.0.0.16",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::NoTlsa,
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-2.2-unsigned-zone",
            danekit: &[DanekitRun {
                args: &["unsigned.test"],
                verdict: "pass",
                exit: 0,
                hosts: &[HostWant {
                    host: "mx.unsigned.test.",
                    preference: 10,
                    tlsa_verdict: None,
                    tlsa_published: false,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.17", 25, NoDane, None)],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "unsigned.test",
                host: "mx.unsigned.test",
                address: "127.0.0.17",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::NoTlsa,
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-2.2-starttls-missing",
            danekit: &[DanekitRun {
                args: &["nostarttls.dane.test"],
                verdict: "fail",
                exit: 1,
                hosts: &[HostWant {
                    host: "mx.nostarttls.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.18", 25, StarttlsMissing, None)],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "nostarttls.dane.test",
                host: "mx.nostarttls.dane.test",
                address: "127.0.0.18",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::NoStarttls,
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-2.2.2-bogus-tlsa",
            danekit: &[DanekitRun {
                args: &["bogus.dane.test"],
                verdict: "fail",
                exit: 1,
                hosts: &[HostWant {
                    host: "mx.bogus.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("bogus"),
                    tlsa_published: false,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.19", 25, DnsFailure, None)],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "bogus.dane.test",
                host: "mx.bogus.dane.test",
                address: "127.0.0.19",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::TlsaLookupError,
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-2.2.1-two-mx-mixed",
            danekit: &[DanekitRun {
                args: &["two.dane.test"],
                verdict: "fail",
                exit: 1,
                hosts: &[
                    HostWant {
                        host: "mx1.two.dane.test.",
                        preference: 10,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.21", 25, Authenticated, Some(("3 1 1", 0)))],
                    },
                    HostWant {
                        host: "mx2.two.dane.test.",
                        preference: 20,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.22", 25, Mismatch, None)],
                    },
                ],
            }],
            postfix: &[
                // posttls-finger stops at the first MX host it reaches.
                FingerRun {
                    options: &[],
                    destination: "two.dane.test",
                    host: "mx1.two.dane.test",
                    address: "127.0.0.21",
                    port: 25,
                    tlsa_base: None,
                    want: PostfixWant::Verified("3 1 1", 0),
                    differs: false,
                },
                FingerRun {
                    options: &[],
                    destination: "[mx2.two.dane.test]",
                    host: "mx2.two.dane.test",
                    address: "127.0.0.22",
                    port: 25,
                    tlsa_base: None,
                    want: PostfixWant::DaneFailed("no matching DANE TLSA records"),
                    differs: false,
                },
            ],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-2.2.2-cname-expanded-name",
            danekit: &[DanekitRun {
                args: &["cname.dane.test"],
                verdict: "pass",
                exit: 0,
                hosts: &[HostWant {
                    host: "alias.cname.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: Some("mx.cname-target.dane.test"),
                    addresses: &[addr("127.0.0.25", 25, Authenticated, Some(("3 1 1", 0)))],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "cname.dane.test",
                host: "alias.cname.dane.test",
                address: "127.0.0.25",
                port: 25,
                tlsa_base: Some("mx.cname-target.dane.test"),
                want: PostfixWant::Verified("3 1 1", 0),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-2.2.2-cname-original-name",
            danekit: &[DanekitRun {
                args: &["cname-orig.dane.test"],
                verdict: "pass",
                exit: 0,
                hosts: &[HostWant {
                    host: "alias.cname-orig.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.26", 25, Authenticated, Some(("3 1 1", 0)))],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "cname-orig.dane.test",
                host: "alias.cname-orig.dane.test",
                address: "127.0.0.26",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::Verified("3 1 1", 0),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7671-8-every-chain-must-match",
            danekit: &[DanekitRun {
                args: &["dual.dane.test"],
                verdict: "fail",
                exit: 1,
                hosts: &[HostWant {
                    host: "mx.dual.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.27", 25, Mismatch, None)],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "dual.dane.test",
                host: "mx.dual.dane.test",
                address: "127.0.0.27",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::DaneFailed("no matching DANE TLSA records"),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7671-9-digest-agility",
            danekit: &[DanekitRun {
                args: &["agility.dane.test"],
                verdict: "fail",
                exit: 1,
                hosts: &[HostWant {
                    host: "mx.agility.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.28", 25, Mismatch, None)],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "agility.dane.test",
                host: "mx.agility.dane.test",
                address: "127.0.0.28",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::DaneFailed("no matching DANE TLSA records"),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7671-5.2-dane-ta-full-cert-not-sent",
            danekit: &[DanekitRun {
                args: &["ta200.dane.test"],
                verdict: "pass",
                exit: 0,
                hosts: &[HostWant {
                    host: "mx.ta200.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.29", 25, Authenticated, Some(("2 0 0", 2)))],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "ta200.dane.test",
                host: "mx.ta200.dane.test",
                address: "127.0.0.29",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::Verified("2 0 0", 2),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7671-5.2.3-dane-ta-bare-key-not-sent",
            danekit: &[DanekitRun {
                args: &["ta210.dane.test"],
                verdict: "fail",
                exit: 1,
                hosts: &[HostWant {
                    host: "mx.ta210.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.30", 25, Mismatch, None)],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "ta210.dane.test",
                host: "mx.ta210.dane.test",
                address: "127.0.0.30",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::Verified("2 1 0", 1),
                differs: true,
            }],
            ldns: &[],
            difference: Some(
                "RFC 7671 §5.2.3: servers cannot rely on DANE-TA(2) SPKI(1) Full(0) records without \
                 the TA certificate in their chain and MUST send it; OpenSSL, and so Postfix, \
                 still accepts the bare key (`Matched DANE TA public key verified certificate`). \
                 danekit reports the deployment that breaks the MUST, which other clients fail, \
                 as a mismatch.",
            ),
        },
        Scenario {
            id: "rfc7672-3.2.2-dane-ta-next-hop-name",
            danekit: &[DanekitRun {
                args: &["nexthop.dane.test"],
                verdict: "pass",
                exit: 0,
                hosts: &[HostWant {
                    host: "mx.nexthop.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.31", 25, Authenticated, Some(("2 1 1", 1)))],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "nexthop.dane.test",
                host: "mx.nexthop.dane.test",
                address: "127.0.0.31",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::Verified("2 1 1", 1),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc6125-6.4.3-dane-ta-wildcard-name",
            danekit: &[DanekitRun {
                args: &["wild.dane.test"],
                verdict: "pass",
                exit: 0,
                hosts: &[HostWant {
                    host: "mx.wild.dane.test.",
                    preference: 10,
                    tlsa_verdict: Some("secure"),
                    tlsa_published: true,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.32", 25, Authenticated, Some(("2 1 1", 1)))],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "wild.dane.test",
                host: "mx.wild.dane.test",
                address: "127.0.0.32",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::Verified("2 1 1", 1),
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-2.2.2-insecure-address",
            danekit: &[DanekitRun {
                args: &["insecure-host.dane.test"],
                verdict: "pass",
                exit: 0,
                hosts: &[HostWant {
                    host: "mx.unsigned.test.",
                    preference: 10,
                    tlsa_verdict: None,
                    tlsa_published: false,
                    tlsa_base: None,
                    addresses: &[addr("127.0.0.17", 25, NoDane, None)],
                }],
            }],
            postfix: &[FingerRun {
                options: &[],
                destination: "insecure-host.dane.test",
                host: "mx.unsigned.test",
                address: "127.0.0.17",
                port: 25,
                tlsa_base: None,
                want: PostfixWant::NoTlsa,
                differs: false,
            }],
            ldns: &[],
            difference: None,
        },
        Scenario {
            id: "rfc7672-2.2.1-insecure-mx",
            danekit: &[
                DanekitRun {
                    args: &["insecure-mx.unsigned.test"],
                    verdict: "pass",
                    exit: 0,
                    hosts: &[HostWant {
                        host: "mx.mismatch.dane.test.",
                        preference: 10,
                        tlsa_verdict: None,
                        tlsa_published: false,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.14", 25, NoDane, None)],
                    }],
                },
                // As Postfix by default: the host's own TLSA RRset applies.
                DanekitRun {
                    args: &["insecure-mx.unsigned.test", "--insecure-mx", "dane"],
                    verdict: "fail",
                    exit: 1,
                    hosts: &[HostWant {
                        host: "mx.mismatch.dane.test.",
                        preference: 10,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.14", 25, Mismatch, None)],
                    }],
                },
            ],
            postfix: &[
                FingerRun {
                    options: &[],
                    destination: "insecure-mx.unsigned.test",
                    host: "mx.mismatch.dane.test",
                    address: "127.0.0.14",
                    port: 25,
                    tlsa_base: None,
                    want: PostfixWant::DaneFailed("no matching DANE TLSA records"),
                    differs: true,
                },
                FingerRun {
                    options: &["-M", "may"],
                    destination: "insecure-mx.unsigned.test",
                    host: "mx.mismatch.dane.test",
                    address: "127.0.0.14",
                    port: 25,
                    tlsa_base: None,
                    want: PostfixWant::NoTlsa,
                    differs: false,
                },
            ],
            ldns: &[],
            difference: Some(
                "RFC 7672 §2.2.1: a client MAY use DANE with MX hosts from an insecure MX \
                 RRset. Postfix does by default (smtp_tls_dane_insecure_mx_policy = dane, \
                 posttls-finger -M dane) and fails the host's mismatching TLSA record; danekit \
                 applies DANE only below a secure MX lookup and reports no-dane, as Postfix \
                 does with -M may; with --insecure-mx dane it fails the host as Postfix does.",
            ),
        },
        Scenario {
            id: "rfc7671-5.1-dane-ee-implicit-tls-465",
            danekit: &[
                DanekitRun {
                    args: &[
                        "--host",
                        "mx.ee.dane.test",
                        "--port",
                        "465",
                        "--starttls",
                        "none",
                    ],
                    verdict: "pass",
                    exit: 0,
                    hosts: &[HostWant {
                        host: "mx.ee.dane.test.",
                        preference: 0,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.11", 465, Authenticated, Some(("3 1 1", 0)))],
                    }],
                },
                DanekitRun {
                    args: &["ee.dane.test", "--ports", "25,465"],
                    verdict: "pass",
                    exit: 0,
                    hosts: &[HostWant {
                        host: "mx.ee.dane.test.",
                        preference: 10,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[
                            addr("127.0.0.11", 25, Authenticated, Some(("3 1 1", 0))),
                            addr("127.0.0.11", 465, Authenticated, Some(("3 1 1", 0))),
                        ],
                    }],
                },
                DanekitRun {
                    args: &["ee.dane.test", "--port", "465"],
                    verdict: "pass",
                    exit: 0,
                    hosts: &[HostWant {
                        host: "mx.ee.dane.test.",
                        preference: 10,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.11", 465, Authenticated, Some(("3 1 1", 0)))],
                    }],
                },
            ],
            postfix: &[FingerRun {
                options: &["-w"],
                destination: "[mx.ee.dane.test]:465",
                host: "mx.ee.dane.test",
                address: "127.0.0.11",
                port: 465,
                tlsa_base: None,
                want: PostfixWant::Verified("3 1 1", 0),
                differs: false,
            }],
            ldns: &[LdnsRun {
                host: "mx.ee.dane.test",
                port: 465,
                address: "127.0.0.11",
                failure: None,
            }],
            difference: None,
        },
        Scenario {
            id: "rfc7671-5.1-dane-ee-mismatch-implicit-tls-465",
            danekit: &[
                DanekitRun {
                    args: &[
                        "--host",
                        "mx.mismatch.dane.test",
                        "--port",
                        "465",
                        "--starttls",
                        "none",
                    ],
                    verdict: "fail",
                    exit: 1,
                    hosts: &[HostWant {
                        host: "mx.mismatch.dane.test.",
                        preference: 0,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.14", 465, Mismatch, None)],
                    }],
                },
                DanekitRun {
                    args: &["mismatch.dane.test", "--port", "465"],
                    verdict: "fail",
                    exit: 1,
                    hosts: &[HostWant {
                        host: "mx.mismatch.dane.test.",
                        preference: 10,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.14", 465, Mismatch, None)],
                    }],
                },
            ],
            postfix: &[FingerRun {
                options: &["-w"],
                destination: "[mx.mismatch.dane.test]:465",
                host: "mx.mismatch.dane.test",
                address: "127.0.0.14",
                port: 465,
                tlsa_base: None,
                want: PostfixWant::DaneFailed("no matching DANE TLSA records"),
                differs: false,
            }],
            ldns: &[LdnsRun {
                host: "mx.mismatch.dane.test",
                port: 465,
                address: "127.0.0.14",
                failure: Some("no matching DANE TLSA records"),
            }],
            difference: None,
        },
        Scenario {
            id: "rfc7671-5.2-dane-ta-implicit-tls-465",
            danekit: &[
                DanekitRun {
                    args: &["--host", "mx.ta.dane.test", "--port", "465"],
                    verdict: "pass",
                    exit: 0,
                    hosts: &[HostWant {
                        host: "mx.ta.dane.test.",
                        preference: 0,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.12", 465, Authenticated, Some(("2 1 1", 1)))],
                    }],
                },
                DanekitRun {
                    args: &["--host", "mx.badname.dane.test", "--port", "465"],
                    verdict: "fail",
                    exit: 1,
                    hosts: &[HostWant {
                        host: "mx.badname.dane.test.",
                        preference: 0,
                        tlsa_verdict: Some("secure"),
                        tlsa_published: true,
                        tlsa_base: None,
                        addresses: &[addr("127.0.0.23", 465, Mismatch, None)],
                    }],
                },
            ],
            postfix: &[
                FingerRun {
                    options: &["-w"],
                    destination: "[mx.ta.dane.test]:465",
                    host: "mx.ta.dane.test",
                    address: "127.0.0.12",
                    port: 465,
                    tlsa_base: None,
                    want: PostfixWant::Verified("2 1 1", 1),
                    differs: false,
                },
                FingerRun {
                    options: &["-w"],
                    destination: "[mx.badname.dane.test]:465",
                    host: "mx.badname.dane.test",
                    address: "127.0.0.23",
                    port: 465,
                    tlsa_base: None,
                    want: PostfixWant::DaneFailed("hostname mismatch"),
                    differs: false,
                },
            ],
            ldns: &[
                LdnsRun {
                    host: "mx.ta.dane.test",
                    port: 465,
                    address: "127.0.0.12",
                    failure: None,
                },
                LdnsRun {
                    host: "mx.badname.dane.test",
                    port: 465,
                    address: "127.0.0.23",
                    failure: Some("hostname mismatch"),
                },
            ],
            difference: None,
        },
    ]
};

// ---------------------------------------------------------------------------------------------
// The fixture tree

/// What build.sh made.
struct Tree {
    dir: PathBuf,
    /// `(zone, file)`, parents first.
    zones: Vec<(String, PathBuf)>,
    /// `(address, port, kind, chain file)`, kind `starttls`, `plain` or `wrapper`.
    services: Vec<(Ipv4Addr, u16, String, PathBuf)>,
    /// The published TLSA records by owner (lower case, final dot), normalised.
    tlsa: BTreeMap<String, Vec<String>>,
}

impl Tree {
    fn build(bash: &Path, dir: &Path) -> Tree {
        let script = fixture_dir().join("build.sh");
        let args = [path_str(&script), path_str(dir)];
        let out = run(bash, &args, None);
        assert!(
            out.status.success(),
            "`{}` failed with {}\n{}",
            describe(bash, &args),
            out.status,
            output_text(&out)
        );
        let zones = read_text(&dir.join("zones.list"))
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(z, f)| (z.to_string(), PathBuf::from(f)))
            .collect();
        let services = read_text(&dir.join("services.list"))
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(f.len(), 4, "services.list line {l:?}");
                (
                    f[0].parse().expect("an address"),
                    f[1].parse().expect("a port"),
                    f[2].to_string(),
                    PathBuf::from(f[3]),
                )
            })
            .collect();
        let mut tlsa: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in read_text(&dir.join("tlsa.list")).lines() {
            let (owner, rdata) = l.split_once(' ').expect("OWNER RDATA");
            tlsa.entry(owner.to_ascii_lowercase())
                .or_default()
                .push(normalise_record(rdata).expect("a TLSA record"));
        }
        Tree {
            dir: dir.to_path_buf(),
            zones,
            services,
            tlsa,
        }
    }

    fn anchor(&self, file: &str) -> PathBuf {
        self.dir.join("anchors").join(file)
    }

    /// The published records at `_PORT._tcp.HOST`, in build.sh's order.
    fn records(&self, host: &str, port: u16) -> Vec<String> {
        let owner = format!("_{port}._tcp.{}.", host.trim_end_matches('.'));
        self.tlsa
            .get(&owner.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// The one published record at `_PORT._tcp.HOST` with parameters `params` (`"3 1 1"`).
    fn record(&self, host: &str, port: u16, params: &str) -> String {
        let found: Vec<String> = self
            .records(host, port)
            .into_iter()
            .filter(|r| r.starts_with(&format!("{params} ")))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "build.sh publishes one {params} record for {host}:{port}"
        );
        found.into_iter().next().unwrap()
    }
}

/// `U S M HEX` with single spaces and lower-case hex, from a record in presentation form
/// (hex possibly split by spaces, in either case).
fn normalise_record(text: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    let u: u8 = words.next()?.parse().ok()?;
    let s: u8 = words.next()?.parse().ok()?;
    let m: u8 = words.next()?.parse().ok()?;
    let data: String = words.collect();
    if data.is_empty() {
        return None;
    }
    Some(format!("{u} {s} {m} {}", normalise_hex(&data)))
}

// ---------------------------------------------------------------------------------------------
// Tools

struct Tools {
    bash: PathBuf,
    knotd: PathBuf,
    unbound: PathBuf,
    dig: PathBuf,
    master: PathBuf,
    finger: PathBuf,
    ldns_dane: PathBuf,
}

impl Tools {
    /// Every tool the namespaced half needs; `None` (after `skipped: …`, or a failure in CI)
    /// when one is missing.
    fn find() -> Option<Tools> {
        let tools = Tools {
            bash: require_tool("bash", "bash")?,
            knotd: require_tool("knotd", "knot")?,
            unbound: require_tool("unbound", "unbound")?,
            dig: require_tool("dig", "bind9-dnsutils")?,
            master: require_tool("/usr/lib/postfix/sbin/master", "postfix")?,
            finger: require_tool("posttls-finger", "postfix")?,
            ldns_dane: require_tool("ldns-dane", "ldnsutils")?,
        };
        for (bin, package) in [
            ("openssl", "openssl"),
            ("dnssec-keygen", "bind9-utils"),
            ("dnssec-signzone", "bind9-utils"),
            ("dnssec-dsfromkey", "bind9-utils"),
        ] {
            require_tool(bin, package)?;
        }
        require_user("postfix", "apt-get install postfix").then_some(tools)
    }
}

// ---------------------------------------------------------------------------------------------
// Servers, inside the namespace

/// A fixed address and port as a [`LoopbackSlot`], for the support helpers: inside the
/// namespace nothing else listens.
fn fixed_slot(port: u16, token: &str) -> LoopbackSlot {
    LoopbackSlot {
        addr: Ipv4Addr::LOCALHOST,
        ports: vec![port],
        token: token.to_string(),
    }
}

struct Server {
    _process: ProcessGroup,
    dir: TempDir,
    log: &'static str,
}

impl Server {
    fn log(&self) -> String {
        read_text(&self.dir.path().join(self.log))
    }
}

fn spawn_logged(program: &Path, args: &[&OsStr], dir: &Path, log: &str) -> ProcessGroup {
    let out = std::fs::File::create(dir.join(log)).expect("log file");
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out);
    ProcessGroup::spawn(cmd).unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()))
}

/// knotd serving the tree as written on 127.0.0.1:[`KNOT_PORT`].
fn start_knot(tools: &Tools, tree: &Tree, token: &str) -> Server {
    let dir = TempDir::new("verify-knotd");
    let root = dir.path();
    let slot = fixed_slot(KNOT_PORT, token);
    let ready = root.join("danekit-ready.zone");
    write_file(
        &ready,
        format!(
            "$TTL 60\n{KNOT_READY_ZONE} SOA ns.nameservers.invalid. \
             hostmaster.nameservers.invalid. 1 3600 900 604800 60\n\
             {KNOT_READY_ZONE} NS ns.nameservers.invalid.\n\
             {KNOT_READY} TXT \"{token}\"\n"
        ),
        0o644,
    );
    let mut conf = knot_conf_head(root, &slot, "notice", "kasp");
    let _ = write!(
        conf,
        "template:\n\
         \x20 - id: default\n\
         \x20   storage: \"{r}\"\n\
         \x20   dnssec-signing: off\n\
         \x20   zonefile-sync: -1\n\
         \x20   zonefile-load: whole\n\
         \x20   journal-content: none\n\
         \x20   semantic-checks: off\n\
         zone:\n\
         \x20 - domain: \"{KNOT_READY_ZONE}\"\n\
         \x20   file: \"{f}\"\n",
        r = root.display(),
        f = ready.display(),
    );
    for (zone, file) in &tree.zones {
        let _ = write!(
            conf,
            "  - domain: \"{zone}\"\n    file: \"{}\"\n",
            file.display()
        );
    }
    let config = root.join("knot.conf");
    write_file(&config, conf, 0o644);
    let mut process = spawn_logged(
        &tools.knotd,
        &[OsStr::new("-c"), config.as_os_str()],
        root,
        "knotd.log",
    );
    let mut ready = wait_for_dns_token(
        Ipv4Addr::LOCALHOST,
        KNOT_PORT,
        KNOT_READY,
        token,
        START_LIMIT,
        || process.try_wait().map(|s| s.to_string()),
    );
    // Every zone loaded: its SOA (for the root, the DS of test., answered from the root's
    // side, RFC 4035 §3.1.4.1).
    let deadline = Instant::now() + START_LIMIT;
    for (zone, _) in &tree.zones {
        let (qname, qtype) = if zone == "." {
            ("test.", 43)
        } else {
            (zone.as_str(), QTYPE_SOA)
        };
        while ready.is_ok() {
            let answer = dns_query_tcp(
                Ipv4Addr::LOCALHOST,
                KNOT_PORT,
                qname,
                qtype,
                Duration::from_secs(2),
            );
            // RCODE NOERROR, AA set, an answer.
            if answer
                .as_ref()
                .is_ok_and(|r| r[3] & 0x0f == 0 && r[2] & 0x04 != 0 && r[6..8] != [0, 0])
            {
                break;
            }
            if Instant::now() >= deadline {
                ready = Err(format!("knotd does not serve {zone}: {answer:?}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    let server = Server {
        _process: process,
        dir,
        log: "knotd.log",
    };
    if let Err(e) = ready {
        panic!(
            "knotd did not start: {e}\n--- {}:\n{}\n--- log:\n{}",
            config.display(),
            read_text(&config),
            server.log()
        );
    }
    server
}

/// The IPv4 ranges outside 127.0.0.0/8, for `do-not-query-address`.
const NOT_LOOPBACK: &[&str] = &[
    "0.0.0.0/2",
    "64.0.0.0/3",
    "96.0.0.0/4",
    "112.0.0.0/5",
    "120.0.0.0/6",
    "124.0.0.0/7",
    "126.0.0.0/8",
    "128.0.0.0/1",
];

/// Unbound on [`RESOLVER`], validating from the test root's DS, a stub-zone per zone.
fn start_unbound(tools: &Tools, tree: &Tree, token: &str) -> Server {
    let dir = TempDir::new("verify-unbound");
    let root = dir.path();
    let r = root.display();
    let mut conf = format!(
        "server:\n\
         \x20   verbosity: 1\n\
         \x20   num-threads: 1\n\
         \x20   interface: 127.0.0.1@53\n\
         \x20   do-ip4: yes\n\
         \x20   do-ip6: no\n\
         \x20   so-reuseport: no\n\
         \x20   outgoing-range: 256\n\
         \x20   access-control: 127.0.0.0/8 allow\n\
         \x20   chroot: \"\"\n\
         \x20   username: \"\"\n\
         \x20   directory: \"{r}\"\n\
         \x20   pidfile: \"{r}/unbound.pid\"\n\
         \x20   do-daemonize: no\n\
         \x20   use-syslog: no\n\
         \x20   logfile: \"\"\n\
         \x20   log-time-ascii: yes\n\
         \x20   module-config: \"validator iterator\"\n\
         \x20   trust-anchor-file: \"{anchor}\"\n\
         \x20   trust-anchor-signaling: no\n\
         \x20   root-key-sentinel: no\n\
         \x20   val-log-level: 2\n\
         \x20   ede: yes\n\
         \x20   do-not-query-localhost: no\n\
         \x20   local-zone: \"test.\" nodefault\n\
         \x20   local-zone: \"danekit-ready.\" static\n\
         \x20   local-data: '{UNBOUND_READY} 60 IN TXT \"{token}\"'\n",
        anchor = tree.anchor("root.ds").display(),
    );
    for range in NOT_LOOPBACK {
        let _ = writeln!(conf, "    do-not-query-address: {range}");
    }
    for (zone, _) in &tree.zones {
        let _ = write!(
            conf,
            "stub-zone:\n    name: \"{zone}\"\n    stub-addr: 127.0.0.1@{KNOT_PORT}\n"
        );
    }
    let config = root.join("unbound.conf");
    write_file(&config, conf, 0o644);
    let mut process = spawn_logged(
        &tools.unbound,
        &[OsStr::new("-d"), OsStr::new("-c"), config.as_os_str()],
        root,
        "unbound.log",
    );
    let ready = wait_for_dns_token(
        Ipv4Addr::LOCALHOST,
        53,
        UNBOUND_READY,
        token,
        START_LIMIT,
        || process.try_wait().map(|s| s.to_string()),
    );
    let server = Server {
        _process: process,
        dir,
        log: "unbound.log",
    };
    if let Err(e) = ready {
        panic!(
            "unbound did not start: {e}\n--- {}:\n{}\n--- log:\n{}",
            config.display(),
            read_text(&config),
            server.log()
        );
    }
    server
}

/// Fails at once, with the logs, unless Unbound answers a secure A record with AD: every
/// scenario would otherwise wait for its timeouts.
fn assert_resolver_validates(tools: &Tools, knot: &Server, unbound: &Server) {
    let args = [
        "@127.0.0.1",
        "mx.ee.dane.test.",
        "A",
        "+dnssec",
        "+time=5",
        "+tries=2",
    ];
    let out = run(&tools.dig, &args, None);
    let text = output_text(&out);
    assert!(
        text.contains("status: NOERROR")
            && text
                .lines()
                .any(|l| l.contains("flags:") && l.contains(" ad")),
        "Unbound does not validate the test tree:\n$ {}\n{text}\n--- unbound log:\n{}\n--- knotd log:\n{}",
        describe(&tools.dig, &args),
        tail(&unbound.log(), 40),
        tail(&knot.log(), 20)
    );
}

/// The directory `MAIL_CONFIG` names: Postfix's main.cf, master.cf, queue and logs.
struct Postfixd {
    server: Server,
}

impl Postfixd {
    fn config_dir(&self) -> &Path {
        self.server.dir.path()
    }

    fn logs(&self) -> String {
        let dir = self.config_dir();
        format!(
            "--- maillog ---\n{}\n--- master stdout/stderr ---\n{}",
            tail(&read_text(&dir.join("maillog")), 80),
            read_text(&dir.join("master.out"))
        )
    }
}

/// One Postfix `master` with an smtpd per line of services.list, from its own directory.
fn start_postfix(tools: &Tools, tree: &Tree, token: &str) -> Postfixd {
    let dir = TempDir::new("verify-postfix");
    let root = dir.path();
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let queue = root.join("queue");
    let data = root.join("data");
    for d in ["pid", "private", "public"] {
        std::fs::create_dir_all(queue.join(d)).expect("queue directory");
    }
    std::fs::create_dir(&data).expect("data directory");
    let chown = run(
        "chown",
        &[
            OsStr::new("postfix:postfix"),
            queue.join("private").as_os_str(),
            queue.join("public").as_os_str(),
            data.as_os_str(),
        ],
        None,
    );
    assert!(chown.status.success(), "chown: {}", output_text(&chown));
    let mut master_cf = String::new();
    for (addr, port, kind, chain) in &tree.services {
        let chain = chain.display();
        let options = match kind.as_str() {
            "starttls" => format!("-o smtpd_tls_chain_files={chain}"),
            // No STARTTLS in the EHLO reply.
            "plain" => "-o smtpd_tls_security_level=none".to_string(),
            // Implicit TLS (RFC 8314).
            "wrapper" => format!(
                "-o smtpd_tls_chain_files={chain} -o smtpd_tls_wrappermode=yes \
                 -o smtpd_tls_security_level=encrypt"
            ),
            other => panic!("services.list: unknown kind {other}"),
        };
        let _ = writeln!(master_cf, "{addr}:{port} inet n - n - - smtpd\n  {options}");
    }
    master_cf.push_str(
        "tlsmgr unix - - n 1000? 1 tlsmgr\n\
         anvil unix - - n - 1 anvil\n\
         postlog unix-dgram n - n - 1 postlogd\n",
    );
    // The smtp_* settings are posttls-finger's: DNSSEC lookups, IPv4 only.
    let main_cf = format!(
        "compatibility_level = 3.6\n\
         meta_directory = {r}\n\
         queue_directory = {q}\n\
         data_directory = {d}\n\
         maillog_file = {r}/maillog\n\
         maillog_file_prefixes = {r}\n\
         myhostname = sender.invalid\n\
         mydomain = invalid\n\
         smtpd_banner = $myhostname ESMTP {token}\n\
         mydestination =\n\
         inet_interfaces = loopback-only\n\
         inet_protocols = ipv4\n\
         smtpd_peername_lookup = no\n\
         smtpd_tls_security_level = may\n\
         smtpd_relay_restrictions = reject\n\
         alias_maps =\n\
         alias_database =\n\
         local_recipient_maps =\n\
         smtp_dns_support_level = dnssec\n\
         smtp_address_preference = ipv4\n",
        r = root.display(),
        q = queue.display(),
        d = data.display(),
    );
    write_file(&root.join("main.cf"), main_cf, 0o644);
    write_file(&root.join("master.cf"), master_cf, 0o644);
    let out = std::fs::File::create(root.join("master.out")).expect("master.out");
    let mut cmd = Command::new(&tools.master);
    cmd.arg("-c")
        .arg(root)
        .arg("-d")
        .env("MAIL_CONFIG", root)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out);
    let mut process = ProcessGroup::spawn(cmd)
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", tools.master.display()));
    let mut ready = Ok(());
    for (addr, port, kind, _) in &tree.services {
        ready = ready.and_then(|()| {
            if kind == "wrapper" {
                // Implicit TLS: the greeting comes after a handshake.
                if wait_for_listener(*addr, *port, START_LIMIT) {
                    Ok(())
                } else {
                    Err(format!("{addr}:{port} does not accept connections"))
                }
            } else {
                wait_for_greeting(*addr, *port, token, START_LIMIT, || {
                    process.try_wait().map(|s| s.to_string())
                })
            }
        });
    }
    let postfix = Postfixd {
        server: Server {
            _process: process,
            dir,
            log: "maillog",
        },
    };
    if let Err(e) = ready {
        panic!("Postfix did not start: {e}\n{}", postfix.logs());
    }
    postfix
}

// ---------------------------------------------------------------------------------------------
// posttls-finger

/// Reads posttls-finger's report for the server `host[address]:port`.
fn parse_finger(text: &str, host: &str, address: &str, port: u16) -> Postfix {
    let server = format!("{host}[{address}]:{port}");
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_prefix("posttls-finger: ").unwrap_or(l))
        .collect();
    if lines
        .iter()
        .any(|l| l.contains(&format!("TLSA lookup error for {host}:{port}")))
    {
        return Postfix::TlsaLookupError;
    }
    let established = lines.iter().find_map(|l| {
        let (level, rest) = l.split_once(" TLS connection established to ")?;
        rest.starts_with(&format!("{server}:")).then_some(level)
    });
    let Some(level) = established else {
        let connected = lines.iter().any(|l| *l == format!("Connected to {server}"));
        let ehlo: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("< 250"))
            .map(|l| l.trim_start_matches(['-', ' ']))
            .collect();
        if connected && !ehlo.is_empty() && !ehlo.iter().any(|l| l.eq_ignore_ascii_case("STARTTLS"))
        {
            return Postfix::NoStarttls;
        }
        return Postfix::Other(format!("no TLS connection to {server}"));
    };
    let prefix = format!("{server}: ");
    let matched = lines.iter().find_map(|l| {
        let rest = l.strip_prefix(&prefix)?;
        let rest = [
            "Matched DANE EE certificate at depth ",
            "Matched DANE TA certificate at depth ",
            // A `2 1 0` key that signed the certificate at this depth (no TA certificate).
            "Matched DANE TA public key verified certificate at depth ",
        ]
        .iter()
        .find_map(|p| rest.strip_prefix(p))?;
        let (depth, record) = rest.split_once(": ")?;
        Some((depth.parse::<usize>().ok()?, normalise_record(record)?))
    });
    let failure = lines.iter().find_map(|l| {
        let (_, rest) = l.split_once("verification failed for ")?;
        let rest = rest.strip_prefix(&format!("{server}: "))?;
        // `num=65:no matching DANE TLSA records`
        Some(rest.split_once(':').map_or(rest, |(_, r)| r).to_string())
    });
    let tlsa_prefix = format!("_{port}._tcp.");
    // `-L verbose`: one line per TLSA record Postfix uses.
    let in_play = lines
        .iter()
        .filter(|l| {
            l.strip_prefix("DNSSEC-signed TLSA record: ")
                .is_some_and(|r| r.starts_with(&tlsa_prefix))
        })
        .count();
    let unsupported = lines
        .iter()
        .filter(|l| {
            l.strip_prefix("warning: ").is_some_and(|r| {
                r.starts_with(&tlsa_prefix) && r.contains(" unsupported TLSA certificate usage")
            })
        })
        .count();
    match (level, matched, failure) {
        ("Verified", Some((depth, record)), _) => Postfix::Verified { record, depth },
        ("Untrusted", None, _) if unsupported > 0 => Postfix::UnusableTlsa(unsupported),
        ("Untrusted", None, Some(reason)) if in_play > 0 => Postfix::DaneFailed(reason),
        ("Untrusted", None, _) if in_play == 0 => Postfix::NoTlsa,
        (level, matched, failure) => Postfix::Other(format!(
            "{level} TLS connection, {in_play} TLSA records, DANE match {matched:?}, failure \
             {failure:?}"
        )),
    }
}

/// Whether posttls-finger's report `seen` is `want`. posttls-finger abbreviates long
/// association data to its first and last 32 bytes around `...`.
fn finger_agrees(seen: &Postfix, want: &Postfix) -> bool {
    match (seen, want) {
        (
            Postfix::Verified { record, depth },
            Postfix::Verified {
                record: full,
                depth: want_depth,
            },
        ) => {
            depth == want_depth
                && match record.split_once("...") {
                    Some((head, tail)) => {
                        full.len() > record.len() && full.starts_with(head) && full.ends_with(tail)
                    }
                    None => record == full,
                }
        }
        _ => seen == want,
    }
}

/// `pkey_fingerprint=` of posttls-finger's peer certificate line for `server`: the SHA-256 of
/// the leaf's SubjectPublicKeyInfo (`smtp_tls_fingerprint_digest` is sha256 from
/// `compatibility_level = 3.6`, which main.cf sets).
fn finger_leaf_spki(text: &str, host: &str, address: &str, port: u16) -> Option<String> {
    let prefix = format!("{host}[{address}]:{port}: subject_CN=");
    text.lines()
        .filter_map(|l| l.strip_prefix("posttls-finger: "))
        .filter(|l| l.starts_with(&prefix))
        .find_map(|l| l.split_once("pkey_fingerprint="))
        .map(|(_, fp)| normalise_hex(fp.split(',').next().unwrap_or(fp)))
}

fn run_finger(tools: &Tools, postfix: &Postfixd, f: &FingerRun) -> (Postfix, String, String) {
    let mut args: Vec<&str> = vec![
        RUN_LIMIT,
        path_str(&tools.finger),
        "-t",
        "5",
        "-T",
        "5",
        "-l",
        "dane",
        // verbose: a `DNSSEC-signed TLSA record` line for each record in play.
        "-L",
        "routine,certmatch,verbose",
    ];
    args.extend_from_slice(f.options);
    args.push(f.destination);
    let line = format!(
        "MAIL_CONFIG={} {}",
        postfix.config_dir().display(),
        describe("timeout", &args)
    );
    let out = run_with_env(
        "timeout",
        &args,
        None,
        &[("MAIL_CONFIG", postfix.config_dir().as_os_str())],
    );
    let text = output_text(&out);
    (parse_finger(&text, f.host, f.address, f.port), text, line)
}

impl PostfixWant {
    /// The exact [`Postfix`] value this stands for, with the record from the tree.
    fn resolve(self, tree: &Tree, host: &str, port: u16) -> Postfix {
        match self {
            PostfixWant::Verified(params, depth) => Postfix::Verified {
                record: tree.record(host, port, params),
                depth,
            },
            PostfixWant::DaneFailed(reason) => Postfix::DaneFailed(reason.to_string()),
            PostfixWant::UnusableTlsa(n) => Postfix::UnusableTlsa(n),
            PostfixWant::NoTlsa => Postfix::NoTlsa,
            PostfixWant::NoStarttls => Postfix::NoStarttls,
            PostfixWant::TlsaLookupError => Postfix::TlsaLookupError,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ldns-dane

/// `Ok(())` for `ADDRESS dane-validated successfully`, `Err(reason)` for `ADDRESS did not
/// dane-validate, because: REASON`, `Err(evidence)` for anything else.
fn parse_ldns(text: &str, address: &str) -> Result<(), String> {
    for l in text.lines() {
        if l.trim() == format!("{address} dane-validated successfully") {
            return Ok(());
        }
        if let Some(reason) = l.strip_prefix(&format!("{address} did not dane-validate, because: "))
        {
            return Err(reason.trim().to_string());
        }
    }
    Err(format!("no verdict for {address}"))
}

fn run_ldns(tools: &Tools, tree: &Tree, l: &LdnsRun) -> (Result<(), String>, i32, String, String) {
    let anchor = tree.anchor("root.ds");
    let port = l.port.to_string();
    // -S: chase the signatures from the anchor itself; -4: IPv4 only; the resolver is the
    // namespace's /etc/resolv.conf, given explicitly.
    let args = [
        RUN_LIMIT,
        path_str(&tools.ldns_dane),
        "-4",
        "-r",
        "127.0.0.1",
        "-S",
        "-k",
        path_str(&anchor),
        "verify",
        l.host,
        &port,
    ];
    let out = run("timeout", &args, None);
    let text = output_text(&out);
    (
        parse_ldns(&text, l.address),
        out.status.code().unwrap_or(-1),
        text,
        describe("timeout", &args),
    )
}

// ---------------------------------------------------------------------------------------------
// danekit

/// One address of danekit's report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AddressSeen {
    address: String,
    port: u64,
    outcome: String,
    matched: Option<(String, u64)>,
    leaf_spki: Option<String>,
}

/// One MX host of danekit's report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostSeen {
    host: String,
    preference: Option<u64>,
    tlsa_verdict: Option<String>,
    tlsa: Vec<String>,
    addresses: Vec<AddressSeen>,
}

/// The fields of `danekit verify -o json` the test checks.
#[derive(Debug, Clone)]
struct DanekitSeen {
    exit: i32,
    verdict: String,
    hosts: Vec<HostSeen>,
}

fn parse_danekit(out: &Output) -> Result<DanekitSeen, String> {
    let text = String::from_utf8_lossy(&out.stdout);
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("stdout is not one JSON document: {e}"))?;
    if doc["schema_version"] != 1 {
        return Err(format!("schema_version is {}", doc["schema_version"]));
    }
    let s = |v: &Value| v.as_str().map(str::to_string);
    let verdict = s(&doc["verdict"]).ok_or("no verdict")?;
    let mut hosts = Vec::new();
    for h in doc["mx"].as_array().ok_or("no `mx` array")? {
        let mut addresses = Vec::new();
        for a in h["addresses"]
            .as_array()
            .ok_or("an mx entry without `addresses`")?
        {
            let matched = match &a["matched"] {
                Value::Null => None,
                m => Some((
                    s(&m["record"])
                        .and_then(|r| normalise_record(&r))
                        .ok_or("`matched` without a record")?,
                    m["depth"].as_u64().ok_or("`matched` without a depth")?,
                )),
            };
            addresses.push(AddressSeen {
                address: s(&a["address"]).ok_or("an address without `address`")?,
                port: a["port"].as_u64().ok_or("an address without `port`")?,
                outcome: s(&a["outcome"]).ok_or("an address without `outcome`")?,
                matched,
                leaf_spki: a["chain"]
                    .get(0)
                    .and_then(|c| c["spki_sha256"].as_str())
                    .map(normalise_hex),
            });
        }
        hosts.push(HostSeen {
            host: s(&h["host"]).ok_or("an mx entry without `host`")?,
            preference: h["preference"].as_u64(),
            tlsa_verdict: match &h["tlsa_verdict"] {
                Value::Null => None,
                v => Some(s(v).ok_or("`tlsa_verdict` is neither a string nor null")?),
            },
            tlsa: h["tlsa"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter_map(|r| r.as_str().and_then(normalise_record))
                        .collect()
                })
                .unwrap_or_default(),
            addresses,
        });
    }
    Ok(DanekitSeen {
        exit: out.status.code().unwrap_or(-1),
        verdict,
        hosts,
    })
}

fn run_danekit(tree: &Tree, d: &DanekitRun) -> (Result<DanekitSeen, String>, String, String) {
    let anchor = tree.anchor("root.ds");
    let mut args: Vec<&str> = vec![RUN_LIMIT, danekit_bin(), "verify"];
    args.extend_from_slice(d.args);
    args.extend([
        "--resolver",
        RESOLVER,
        "--trust-anchor",
        path_str(&anchor),
        "--timeout",
        "5s",
        "-o",
        "json",
    ]);
    let out = run("timeout", &args, None);
    (
        parse_danekit(&out),
        output_text(&out),
        describe("timeout", &args),
    )
}

/// Every difference between what danekit reported and what `d` wants.
fn check_danekit(tree: &Tree, d: &DanekitRun, seen: &DanekitSeen) -> Vec<String> {
    let mut problems = Vec::new();
    if seen.exit != d.exit {
        problems.push(format!("exit code {}, expected {}", seen.exit, d.exit));
    }
    if seen.verdict != d.verdict {
        problems.push(format!(
            "verdict {:?}, expected {:?}",
            seen.verdict, d.verdict
        ));
    }
    let got: Vec<&str> = seen.hosts.iter().map(|h| h.host.as_str()).collect();
    let want: Vec<&str> = d.hosts.iter().map(|h| h.host).collect();
    if got != want {
        problems.push(format!("MX hosts {got:?}, expected {want:?}"));
        return problems;
    }
    let is_host_form = d.args.first() == Some(&"--host");
    for (h, w) in seen.hosts.iter().zip(d.hosts) {
        if !is_host_form && h.preference != Some(u64::from(w.preference)) {
            problems.push(format!(
                "{}: preference {:?}, expected {}",
                w.host, h.preference, w.preference
            ));
        }
        if h.tlsa_verdict.as_deref() != w.tlsa_verdict {
            problems.push(format!(
                "{}: tlsa_verdict {:?}, expected {:?}",
                w.host, h.tlsa_verdict, w.tlsa_verdict
            ));
        }
        let port = w.addresses.first().map_or(25, |a| a.port);
        let base = w.tlsa_base.unwrap_or(w.host);
        if w.tlsa_published {
            let mut want_tlsa = tree.records(base, port);
            let mut got_tlsa = h.tlsa.clone();
            want_tlsa.sort();
            got_tlsa.sort();
            if got_tlsa != want_tlsa {
                problems.push(format!(
                    "{}: tlsa {got_tlsa:?}, expected the published {want_tlsa:?}",
                    w.host
                ));
            }
        } else if !h.tlsa.is_empty() {
            problems.push(format!(
                "{}: tlsa {:?}, expected none (no secure TLSA RRset)",
                w.host, h.tlsa
            ));
        }
        let got: Vec<(&str, u64)> = h
            .addresses
            .iter()
            .map(|a| (a.address.as_str(), a.port))
            .collect();
        let want: Vec<(&str, u64)> = w
            .addresses
            .iter()
            .map(|a| (a.address, u64::from(a.port)))
            .collect();
        if got != want {
            problems.push(format!("{}: addresses {got:?}, expected {want:?}", w.host));
            continue;
        }
        for (a, wa) in h.addresses.iter().zip(w.addresses) {
            let at = format!("{} {}:{}", w.host, wa.address, wa.port);
            if a.outcome != wa.outcome.word() {
                problems.push(format!(
                    "{at}: outcome {:?}, expected {:?}",
                    a.outcome,
                    wa.outcome.word()
                ));
            }
            let want_matched = wa
                .matched
                .map(|(params, depth)| (tree.record(base, wa.port, params), depth as u64));
            if a.matched != want_matched {
                problems.push(format!(
                    "{at}: matched {:?}, expected {want_matched:?}",
                    a.matched
                ));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// The test

/// One line of the summary table.
struct Row {
    id: &'static str,
    what: String,
    danekit: String,
    postfix: String,
    ldns: String,
}

fn summary(rows: &[Row]) -> String {
    let mut t = format!(
        "{:<40} {:<62} {:<34} {:<44} {}\n",
        "scenario", "run", "danekit", "posttls-finger", "ldns-dane"
    );
    for r in rows {
        let _ = writeln!(
            t,
            "{:<40} {:<62} {:<34} {:<44} {}",
            r.id, r.what, r.danekit, r.postfix, r.ldns
        );
    }
    t
}

fn short(p: &Postfix) -> String {
    match p {
        Postfix::Verified { record, depth } => {
            format!("Verified ({} at depth {depth})", &record[..5])
        }
        Postfix::DaneFailed(why) => format!("Untrusted ({why})"),
        Postfix::UnusableTlsa(n) => format!("Untrusted ({n} unsupported usages)"),
        Postfix::NoTlsa => "Untrusted (no TLSA)".to_string(),
        Postfix::NoStarttls => "no STARTTLS offered".to_string(),
        Postfix::TlsaLookupError => "TLSA lookup error".to_string(),
        Postfix::Other(why) => format!("other: {why}"),
    }
}

/// Runs the scenarios inside the namespace, where 127.0.0.1:53 is the test's Unbound.
fn inner() {
    let Some(tools) = Tools::find() else {
        return;
    };
    let started = Instant::now();
    let work = TempDir::new("verify-interop");
    let tree = Tree::build(&tools.bash, &work.path().join("tree"));
    let token = format!("danekit-verify-{}", std::process::id());
    let knot = start_knot(&tools, &tree, &token);
    let unbound = start_unbound(&tools, &tree, &token);
    assert_resolver_validates(&tools, &knot, &unbound);
    let postfix = start_postfix(&tools, &tree, &token);
    let ready = started.elapsed();

    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for s in scenarios() {
        // danekit's outcome per (host, address, port), for the comparison with Postfix.
        let mut outcomes: BTreeMap<(String, String, u16), (String, Option<String>)> =
            BTreeMap::new();
        for d in s.danekit {
            let what = format!("danekit verify {}", d.args.join(" "));
            let cell = {
                let (seen, text, line) = run_danekit(&tree, d);
                match seen {
                    Ok(seen) => {
                        let list = check_danekit(&tree, d, &seen);
                        if !list.is_empty() {
                            problems.push(format!(
                                "{}: `{line}`:\n  {}\n{text}",
                                s.id,
                                list.join("\n  ")
                            ));
                        }
                        for h in &seen.hosts {
                            for a in &h.addresses {
                                let key = (
                                    h.host.trim_end_matches('.').to_string(),
                                    a.address.clone(),
                                    u16::try_from(a.port).unwrap_or(0),
                                );
                                outcomes
                                    .entry(key)
                                    .or_insert((a.outcome.clone(), a.leaf_spki.clone()));
                            }
                        }
                        let words: Vec<String> = seen
                            .hosts
                            .iter()
                            .flat_map(|h| h.addresses.iter().map(|a| a.outcome.clone()))
                            .collect();
                        format!(
                            "{} / {} / exit {}",
                            words.join(","),
                            seen.verdict,
                            seen.exit
                        )
                    }
                    Err(e) => {
                        problems.push(format!("{}: `{line}`: {e}\n{text}", s.id));
                        "FAILED".to_string()
                    }
                }
            };
            rows.push(Row {
                id: s.id,
                what,
                danekit: cell,
                postfix: String::new(),
                ldns: String::new(),
            });
        }
        for f in s.postfix {
            let (seen, text, line) = run_finger(&tools, &postfix, f);
            let want = f.want.resolve(&tree, f.tlsa_base.unwrap_or(f.host), f.port);
            if !finger_agrees(&seen, &want) {
                problems.push(format!(
                    "{}: `{line}` reports {seen:?}, the table says {want:?}\n{text}",
                    s.id
                ));
            }
            let key = (f.host.to_string(), f.address.to_string(), f.port);
            if !outcomes.contains_key(&key) {
                problems.push(format!(
                    "{}: danekit reported no outcome for {}[{}]:{}, which posttls-finger reached",
                    s.id, f.host, f.address, f.port
                ));
            }
            if let Some((outcome, leaf_spki)) = outcomes.get(&key) {
                // The outcome-to-Postfix correspondence, unless the scenario records why not.
                // The outcome-to-Postfix correspondence, or the recorded difference.
                let corresponds =
                    Outcome::parse(outcome).is_some_and(|o| Some(o.postfix_kind()) == seen.kind());
                if corresponds == f.differs {
                    problems.push(format!(
                        "{}: danekit says {outcome} for {}[{}]:{}, Postfix {seen:?}: {}",
                        s.id,
                        f.host,
                        f.address,
                        f.port,
                        if f.differs {
                            "they correspond, where the table records a difference"
                        } else {
                            "they do not correspond"
                        }
                    ));
                }
                if let (Some(danekit_spki), Some(postfix_spki)) = (
                    leaf_spki,
                    finger_leaf_spki(&text, f.host, f.address, f.port),
                ) && *danekit_spki != postfix_spki
                {
                    problems.push(format!(
                        "{}: danekit's leaf spki_sha256 {danekit_spki} differs from \
                         posttls-finger's pkey_fingerprint {postfix_spki}",
                        s.id
                    ));
                }
            }
            rows.push(Row {
                id: s.id,
                what: format!("posttls-finger {}{}", opts(f.options), f.destination),
                danekit: String::new(),
                postfix: short(&seen),
                ldns: String::new(),
            });
        }
        for l in s.ldns {
            let (seen, code, text, line) = run_ldns(&tools, &tree, l);
            let want = l.failure.map_or(Ok(()), |r| Err(r.to_string()));
            let want_code = if want.is_ok() { 0 } else { 1 };
            if seen != want || code != want_code {
                problems.push(format!(
                    "{}: `{line}` reports {seen:?} (exit {code}), the table says {want:?} \
                     (exit {want_code})\n{text}",
                    s.id
                ));
            }
            let key = (l.host.to_string(), l.address.to_string(), l.port);
            if !outcomes.contains_key(&key) {
                problems.push(format!(
                    "{}: danekit reported no outcome for {}:{}, which ldns-dane checked",
                    s.id, l.host, l.port
                ));
            }
            if let Some((outcome, _)) = outcomes.get(&key) {
                let agrees = (outcome == "authenticated") == seen.is_ok();
                if !agrees {
                    problems.push(format!(
                        "{}: danekit says {outcome} for {}:{}, ldns-dane {seen:?}",
                        s.id, l.host, l.port
                    ));
                }
            }
            rows.push(Row {
                id: s.id,
                what: format!("ldns-dane verify {} {}", l.host, l.port),
                danekit: String::new(),
                postfix: String::new(),
                ldns: match &seen {
                    Ok(()) => "dane-validated".to_string(),
                    Err(why) => format!("did not dane-validate ({why})"),
                },
            });
        }
    }
    let table = summary(&rows);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{table}\nservers ready in {ready:.1?}, whole run {:.1?}",
        started.elapsed()
    );
    drop(out);
    assert!(
        problems.is_empty(),
        "{} problem(s):\n\n{}\n\n{table}\n{}\n--- unbound log (tail):\n{}\n--- knotd log (tail):\n{}",
        problems.len(),
        problems.join("\n\n"),
        postfix.logs(),
        tail(&unbound.log(), 60),
        tail(&knot.log(), 20)
    );
    drop(postfix);
    drop(unbound);
    drop(knot);
}

fn opts(options: &[&str]) -> String {
    options.iter().map(|o| format!("{o} ")).collect()
}

/// danekit's expected outcome for the server a posttls-finger run reaches, from the
/// scenario's first danekit run that names it.
fn scenario_outcome(s: &Scenario, f: &FingerRun) -> Option<Outcome> {
    s.danekit.iter().find_map(|d| {
        d.hosts
            .iter()
            .filter(|h| h.host.trim_end_matches('.') == f.host)
            .flat_map(|h| h.addresses)
            .find(|a| a.address == f.address && a.port == f.port)
            .map(|a| a.outcome)
    })
}

/// Runs [`inner`] in a new network and mount namespace: `unshare --net --mount` runs a shell
/// that brings `lo` up, bind-mounts the test's resolv.conf over /etc/resolv.conf (the mount
/// is private to the namespace) and executes this test binary again for this test alone.
#[test]
fn danekit_verify_agrees_with_postfix_and_ldns_dane() {
    if std::env::var_os(INNER_ENV).is_some() {
        inner();
        return;
    }
    if !require_root("unshare --net --mount, and Postfix on port 25,") {
        return;
    }
    let Some(unshare) = require_tool("unshare", "util-linux") else {
        return;
    };
    let Some(ip) = require_tool("ip", "iproute2") else {
        return;
    };
    let Some(sh) = require_tool("sh", "dash") else {
        return;
    };
    let work = TempDir::new("verify-netns");
    let resolv = work.path().join("resolv.conf");
    // trust-ad: glibc passes the AD bit on to Postfix only with it (glibc 2.31).
    write_file(&resolv, "nameserver 127.0.0.1\noptions trust-ad\n", 0o644);
    let exe = std::env::current_exe().expect("the test binary");
    let script = "set -e\n\
                  \"$1\" link set lo up\n\
                  mount --bind \"$2\" /etc/resolv.conf\n\
                  shift 2\n\
                  exec \"$@\"\n";
    // A hung run ends after five minutes (the whole test takes seconds).
    let args: Vec<&OsStr> = vec![
        OsStr::new("--kill-after=10"),
        OsStr::new("300"),
        unshare.as_os_str(),
        OsStr::new("--net"),
        OsStr::new("--mount"),
        OsStr::new("--propagation"),
        OsStr::new("private"),
        OsStr::new("--"),
        sh.as_os_str(),
        OsStr::new("-c"),
        OsStr::new(script),
        OsStr::new("sh"),
        ip.as_os_str(),
        resolv.as_os_str(),
        exe.as_os_str(),
        OsStr::new("--exact"),
        OsStr::new(TEST_NAME),
        OsStr::new("--nocapture"),
        OsStr::new("--test-threads=1"),
    ];
    let line = describe("timeout", &args);
    let out = run_with_env(
        "timeout",
        &args,
        None,
        &[(INNER_ENV, work.path().as_os_str())],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The namespaced run's skip lines, past libtest's capture.
    for l in stderr.lines().filter(|l| l.starts_with("skipped: ")) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{l}");
    }
    if !stdout.contains("running 1 test") && stderr.contains("unshare: ") {
        // The namespaces could not be made (no CAP_SYS_ADMIN, or user namespaces only).
        let why = format!(
            "`unshare --net --mount` cannot make the test's namespaces: {}",
            stderr.trim()
        );
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "{why}; CI=true requires them"
        );
        print_skip(&why);
        return;
    }
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "the namespaced run `{line}` failed with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    println!("{stdout}");
}

// ---------------------------------------------------------------------------------------------
// The harness's own parts, without servers

#[test]
fn scenario_table_is_consistent() {
    let all = scenarios();
    let mut ids: Vec<&str> = all.iter().map(|s| s.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "scenario ids are unique");
    for s in &all {
        assert!(!s.danekit.is_empty(), "{}: no danekit run", s.id);
        for d in s.danekit {
            let outcomes: Vec<Outcome> = d
                .hosts
                .iter()
                .flat_map(|h| h.addresses.iter().map(|a| a.outcome))
                .collect();
            let require = d.args.contains(&"--require-dane");
            let failed = outcomes.iter().any(|o| match o {
                Outcome::Mismatch | Outcome::StarttlsMissing | Outcome::DnsFailure => true,
                Outcome::NoDane | Outcome::TlsRequired => require,
                Outcome::Authenticated => false,
            });
            let (exit, verdict) = if failed { (1, "fail") } else { (0, "pass") };
            assert_eq!(
                (d.exit, d.verdict),
                (exit, verdict),
                "{}: {:?}",
                s.id,
                d.args
            );
            for h in d.hosts {
                for a in h.addresses {
                    assert_eq!(
                        a.matched.is_some(),
                        a.outcome == Outcome::Authenticated,
                        "{}: a matched record goes with authenticated",
                        s.id
                    );
                }
            }
        }
        for f in s.postfix {
            let outcome = scenario_outcome(s, f)
                .unwrap_or_else(|| panic!("{}: {} is in no danekit run", s.id, f.destination));
            let corresponds = outcome.postfix_kind() == f.want.kind();
            assert_eq!(
                corresponds, !f.differs,
                "{}: {outcome:?} and {:?}: `differs` must say whether they correspond",
                s.id, f.want
            );
            assert!(
                !f.differs || s.difference.is_some(),
                "{}: a difference without its reason",
                s.id
            );
        }
        for l in s.ldns {
            assert_eq!(l.port, 465, "{}: ldns-dane has no STARTTLS", s.id);
        }
    }
}

#[test]
fn posttls_finger_reports_are_read() {
    let p = "posttls-finger: ";
    let verified = format!(
        "{p}mx.ee.dane.test[127.0.0.11]:25: Matched DANE EE certificate at depth 0: 3 1 1 \
         CD72034C763E54096A3C1F0972E6859E904DFBB28EED7FA108A2769A3C21AC24\n\
         {p}mx.ee.dane.test[127.0.0.11]:25: subject_CN=mx.ee.dane.test, issuer_CN=x, \
         fingerprint=6F:F1, pkey_fingerprint=CD:72:03\n\
         {p}Verified TLS connection established to mx.ee.dane.test[127.0.0.11]:25: TLSv1.3 \
         with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n"
    );
    assert_eq!(
        parse_finger(&verified, "mx.ee.dane.test", "127.0.0.11", 25),
        Postfix::Verified {
            record: "3 1 1 cd72034c763e54096a3c1f0972e6859e904dfbb28eed7fa108a2769a3c21ac24".into(),
            depth: 0
        }
    );
    assert_eq!(
        finger_leaf_spki(&verified, "mx.ee.dane.test", "127.0.0.11", 25).as_deref(),
        Some("cd7203")
    );
    // Another server's line is not this one's.
    assert!(matches!(
        parse_finger(&verified, "mx.ee.dane.test", "127.0.0.12", 25),
        Postfix::Other(_)
    ));
    let failed = format!(
        "{p}DNSSEC-signed TLSA record: _25._tcp.mx.m.test: 3 1 1 0000\n\
         {p}server certificate verification failed for mx.m.test[127.0.0.14]:25: \
         num=65:no matching DANE TLSA records\n\
         {p}Untrusted TLS connection established to mx.m.test[127.0.0.14]:25: TLSv1.3\n"
    );
    assert_eq!(
        parse_finger(&failed, "mx.m.test", "127.0.0.14", 25),
        Postfix::DaneFailed("no matching DANE TLSA records".into())
    );
    let unusable = format!(
        "{p}warning: _25._tcp.mx.u.test unsupported TLSA certificate usage: 0 0 1 1D19\n\
         {p}warning: _25._tcp.mx.u.test unsupported TLSA certificate usage: 1 1 1 090F\n\
         {p}certificate verification failed for mx.u.test[127.0.0.15]:25: untrusted issuer \
         /CN=root\n\
         {p}Untrusted TLS connection established to mx.u.test[127.0.0.15]:25: TLSv1.3\n"
    );
    assert_eq!(
        parse_finger(&unusable, "mx.u.test", "127.0.0.15", 25),
        Postfix::UnusableTlsa(2)
    );
    // The same failure with no TLSA record in play is PKIX's, at posttls-finger's `secure`
    // level.
    let named = failed
        .lines()
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace(
            "num=65:no matching DANE TLSA records",
            "num=62:hostname mismatch",
        );
    assert_eq!(
        parse_finger(&named, "mx.m.test", "127.0.0.14", 25),
        Postfix::NoTlsa
    );
    // A `2 1 0` key, and data abbreviated around `...`.
    let key = format!(
        "{p}mx.k.test[127.0.0.30]:25: Matched DANE TA public key verified certificate at depth \
         1: 2 1 0 3059AA...BB25B3\n\
         {p}Verified TLS connection established to mx.k.test[127.0.0.30]:25: TLSv1.3\n"
    );
    let seen = parse_finger(&key, "mx.k.test", "127.0.0.30", 25);
    assert_eq!(
        seen,
        Postfix::Verified {
            record: "2 1 0 3059aa...bb25b3".into(),
            depth: 1
        }
    );
    let full = |data: &str| Postfix::Verified {
        record: format!("2 1 0 {data}"),
        depth: 1,
    };
    assert!(finger_agrees(&seen, &full("3059aa0102bb25b3")));
    assert!(!finger_agrees(&seen, &full("3059ab0102bb25b3")));
    assert!(!finger_agrees(&seen, &full("3059aa0102bb25b4")));
    assert!(!finger_agrees(
        &seen,
        &Postfix::Verified {
            record: "2 1 0 3059aa0102bb25b3".into(),
            depth: 2
        }
    ));
    let pkix = format!(
        "{p}certificate verification failed for mx.n.test[127.0.0.16]:25: untrusted issuer \
         /CN=root\n\
         {p}Untrusted TLS connection established to mx.n.test[127.0.0.16]:25: TLSv1.3\n"
    );
    assert_eq!(
        parse_finger(&pkix, "mx.n.test", "127.0.0.16", 25),
        Postfix::NoTlsa
    );
    let plain = format!(
        "{p}Connected to mx.p.test[127.0.0.18]:25\n{p}< 220 mx ESMTP\n{p}> EHLO x\n\
         {p}< 250-mx\n{p}< 250-PIPELINING\n{p}< 250 CHUNKING\n{p}> QUIT\n"
    );
    assert_eq!(
        parse_finger(&plain, "mx.p.test", "127.0.0.18", 25),
        Postfix::NoStarttls
    );
    let offered = plain.replace("250 CHUNKING", "250 STARTTLS");
    assert!(matches!(
        parse_finger(&offered, "mx.p.test", "127.0.0.18", 25),
        Postfix::Other(_)
    ));
    let bogus = format!(
        "{p}warning: DANE TLSA lookup problem: Host or domain name not found.\n\
         {p}Failed to establish session to b.test via mx.b.test: TLSA lookup error for \
         mx.b.test:25\n"
    );
    assert_eq!(
        parse_finger(&bogus, "mx.b.test", "127.0.0.19", 25),
        Postfix::TlsaLookupError
    );
}

#[test]
fn ldns_dane_reports_are_read() {
    assert_eq!(
        parse_ldns("127.0.0.11 dane-validated successfully\n", "127.0.0.11"),
        Ok(())
    );
    assert_eq!(
        parse_ldns(
            "127.0.0.14 did not dane-validate, because: no matching DANE TLSA records\n",
            "127.0.0.14"
        ),
        Err("no matching DANE TLSA records".into())
    );
    assert!(parse_ldns("127.0.0.11 dane-validated successfully\n", "127.0.0.1").is_err());
    assert!(parse_ldns("dane_query: General memory error\n", "127.0.0.11").is_err());
}

#[test]
fn danekit_reports_are_read() {
    let json = r#"{"schema_version":1,"verdict":"fail","domain":"two.dane.test.","mx":[
        {"host":"mx1.two.dane.test.","preference":10,"tlsa_verdict":"secure",
         "tlsa":["3 1 1 AB CD"],"addresses":[{"address":"127.0.0.21","port":25,
         "outcome":"authenticated","matched":{"record":"3 1 1 abcd","depth":0},
         "chain":[{"subject":"CN=x","issuer":"CN=y","not_after":"2027-01-01T00:00:00Z",
         "spki_sha256":"ABCD"}]}]},
        {"host":"mx2.two.dane.test.","preference":20,"tlsa_verdict":null,"tlsa":[],
         "addresses":[{"address":"127.0.0.22","port":25,"outcome":"mismatch"}]}]}"#;
    let out = Output {
        status: std::process::ExitStatus::from_raw(1 << 8),
        stdout: json.as_bytes().to_vec(),
        stderr: Vec::new(),
    };
    let seen = parse_danekit(&out).expect("parses");
    assert_eq!(seen.exit, 1);
    assert_eq!(seen.verdict, "fail");
    assert_eq!(
        seen.hosts[0].addresses[0].matched,
        Some(("3 1 1 abcd".into(), 0))
    );
    assert_eq!(seen.hosts[0].tlsa, vec!["3 1 1 abcd".to_string()]);
    assert_eq!(
        seen.hosts[0].addresses[0].leaf_spki.as_deref(),
        Some("abcd")
    );
    assert_eq!(seen.hosts[0].tlsa_verdict.as_deref(), Some("secure"));
    assert_eq!(seen.hosts[1].tlsa_verdict, None);
    assert_eq!(seen.hosts[1].preference, Some(20));
    assert_eq!(seen.hosts[1].addresses[0].matched, None);
    assert_eq!(seen.hosts[1].addresses[0].leaf_spki, None);
}
