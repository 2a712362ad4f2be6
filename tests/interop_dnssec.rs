//! Interoperability of `danekit dnssec` with two validators that DNS operators trust: NLnet
//! Labs' Unbound and ISC BIND's `delv`, on zones signed by real tools and served by a real
//! Knot DNS `knotd`.
//!
//! The test builds a DNS tree of its own in a temporary directory with
//! `tests/fixtures/dnssec-interop/build-zones.sh`: a root, `test.` under it and one child of
//! `test.` per scenario, keys made by BIND's `dnssec-keygen` and Knot's `keymgr`, zones signed
//! offline by `dnssec-signzone` and `kzonesign` with algorithms 5, 8, 13, 14, 15 and 16 and
//! with NSEC and NSEC3, and the faulty zones edited after signing. The README beside the script
//! lists every scenario and the RFC rule it tests.
//!
//! One `knotd` serves every zone as written (no signing of its own) on a [`LoopbackSlot`];
//! one `unbound` on another slot resolves through it, with a `stub-zone` per zone that points
//! at knotd's address and port (referrals carry addresses only, and knotd is not on port 53),
//! the test root's DS as its only trust anchor, `val-log-level: 2` and Extended DNS Errors.
//! For every scenario, each on a cold cache (`unbound-control flush_zone .`):
//!
//! - Unbound's verdict, from `dig +dnssec` through it: an answer with AD is `secure`, NOERROR
//!   or NXDOMAIN without AD `insecure`, SERVFAIL with a DNSSEC EDE or a `validation failure`
//!   line in its log `bogus`, anything else `indeterminate`;
//! - delv's verdict, from `delv @unbound -a ANCHORS +cdflag`, which validates by itself what
//!   Unbound hands it with checking disabled: `; fully validated` is `secure`, `; unsigned
//!   answer` `insecure`, a validation failure (`RRSIG failed to verify`, `broken trust chain`,
//!   …) `bogus`, and the worst of these over a CNAME chain;
//! - danekit's verdict, from `danekit dnssec NAME --type TYPE --resolver UNBOUND
//!   --trust-anchor FILE -o json` (danekit also asks with CD=1 and validates by itself), with
//!   its exit code, its rrsets and, for denials, the NSEC or NSEC3 records it names; the first
//!   scenario also with the root's DNSKEY and with a BIND `trust-anchors` block as the anchor.
//!
//! Unbound's and delv's verdicts must be the ones the scenario table gives for them, which are
//! the RFC's except where the table says why; danekit's must be the RFC's. Until `danekit
//! dnssec` exists on the branch, the danekit half prints `skipped: …` and the rest still runs.
//! The number of queries each needed (Unbound's upstream queries to knotd; delv's and danekit's
//! queries to Unbound) is printed in a table, for a later benchmark.
//!
//! Runs as any user: knotd and Unbound bind addresses of 127.0.0.0/8 other than 127.0.0.1
//! without an alias on `lo`, on ports above 20000. Nothing is sent outside 127.0.0.0/8: no zone
//! holds an address, the stub-zone for `.` replaces Unbound's built-in root hints (a
//! `root-hints` file would replace the stub instead: "second hints for zone . ignored"), and
//! every IPv4 range but 127.0.0.0/8 is in its `do-not-query-address`. With `CI=true` a missing
//! tool fails the test; without it the test prints `skipped: …`. The whole run takes about
//! ten seconds, two of them for build-zones.sh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;
use support::interop::{
    LoopbackSlot, ProcessGroup, QTYPE_SOA, TempDir, danekit_bin, describe, dns_query_tcp,
    knot_conf_head, print_skip, require_tool, run, start_server, wait_for_dns_token,
};

/// How long a server may take to start and load its zones.
const START_LIMIT: Duration = Duration::from_secs(30);
/// `timeout` for every delv and danekit run, in seconds.
const RUN_LIMIT: &str = "60";
/// The zone that proves knotd is ours, and the owner of its token.
const KNOT_READY_ZONE: &str = "danekit-ready.";
const KNOT_READY: &str = "knotd.danekit-ready.";
/// The local-data that proves Unbound is ours.
const UNBOUND_READY: &str = "unbound.danekit-ready.";
/// The DS query type (RFC 4034 §5).
const QTYPE_DS: u16 = 43;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dnssec-interop")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("paths are UTF-8")
}

fn write_file(path: &Path, contents: impl AsRef<[u8]>) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A domain name in lower case with its final dot.
fn fqdn(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

// ---------------------------------------------------------------------------------------------
// Verdicts and scenarios

/// A DNSSEC verdict (RFC 4035 §4.3), ordered from best to worst as `danekit dnssec` combines
/// the hops of a CNAME chain: bogus > indeterminate > insecure > secure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Secure,
    Insecure,
    Indeterminate,
    Bogus,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Secure => "secure",
            Verdict::Insecure => "insecure",
            Verdict::Indeterminate => "indeterminate",
            Verdict::Bogus => "bogus",
        }
    }

    fn parse(word: &str) -> Option<Verdict> {
        [
            Verdict::Secure,
            Verdict::Insecure,
            Verdict::Indeterminate,
            Verdict::Bogus,
        ]
        .into_iter()
        .find(|v| v.name() == word)
    }

    /// danekit's exit code for this verdict (docs/cli: 0 secure and insecure, 1 bogus, 3
    /// indeterminate).
    fn exit_code(self) -> i32 {
        match self {
            Verdict::Secure | Verdict::Insecure => 0,
            Verdict::Bogus => 1,
            Verdict::Indeterminate => 3,
        }
    }
}

/// What the answer to the question is, as danekit's JSON `answer` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Data,
    NoData,
    NxDomain,
}

impl Answer {
    fn name(self) -> &'static str {
        match self {
            Answer::Data => "data",
            Answer::NoData => "nodata",
            Answer::NxDomain => "nxdomain",
        }
    }
}

/// One question and what each validator must say about it.
#[derive(Debug, Clone)]
struct Scenario {
    /// Named after the RFC rule it tests.
    id: &'static str,
    /// The question: a name with its final dot, and a type.
    name: &'static str,
    qtype: &'static str,
    /// The kind of answer the zone gives (not checked for bogus scenarios, where a validator
    /// gives none).
    answer: Answer,
    /// `NSEC` or `NSEC3`: what danekit's `denial` must list for a negative answer.
    denial: Option<&'static str>,
    /// The RFC's verdict, asserted for danekit.
    expected: Verdict,
    /// Another verdict the RFCs leave danekit free to give (with its reason): `insecure` for
    /// an algorithm it does not implement.
    also_allowed: Option<Verdict>,
    /// What Unbound 1.17 and delv 9.18 say: `expected` unless `note` explains otherwise.
    unbound: Verdict,
    delv: Verdict,
    /// The hops of a CNAME chain, in order, each with the RFC's verdict for it; empty for a
    /// single RRset.
    hops: &'static [(&'static str, Verdict)],
    /// Why a validator departs from the RFC's verdict, or why another verdict is allowed.
    note: Option<&'static str>,
    /// Words danekit's reason must hold (ASCII case ignored) when it gives `expected`: what
    /// the design requires it to state, such as the NSEC3 iteration limit.
    reason_has: &'static [&'static str],
}

/// A scenario whose three verdicts are all `verdict`.
const fn agreed(
    id: &'static str,
    name: &'static str,
    qtype: &'static str,
    answer: Answer,
    denial: Option<&'static str>,
    verdict: Verdict,
) -> Scenario {
    Scenario {
        id,
        name,
        qtype,
        answer,
        denial,
        expected: verdict,
        also_allowed: None,
        unbound: verdict,
        delv: verdict,
        hops: &[],
        note: None,
        reason_has: &[],
    }
}

/// Every scenario; README.md beside build-zones.sh describes each one.
fn scenarios() -> Vec<Scenario> {
    use Answer::{Data, NoData, NxDomain};
    use Verdict::{Bogus, Insecure, Secure};
    vec![
        // Secure answers: trust anchor → DS → DNSKEY → RRSIG (RFC 4035 §5, §5.3).
        agreed(
            "rfc4035-5.3-secure-a",
            "www.example.test.",
            "A",
            Data,
            None,
            Secure,
        ),
        agreed(
            "rfc4035-5.3-secure-mx",
            "example.test.",
            "MX",
            Data,
            None,
            Secure,
        ),
        agreed(
            "rfc7672-2.2-secure-tlsa",
            "_25._tcp.mail.example.test.",
            "TLSA",
            Data,
            None,
            Secure,
        ),
        // Authenticated denial of existence (RFC 4035 §5.4, RFC 5155 §8).
        agreed(
            "rfc4035-5.4-nxdomain-nsec",
            "nothere.example.test.",
            "A",
            NxDomain,
            Some("NSEC"),
            Secure,
        ),
        agreed(
            "rfc4035-5.4-nodata-nsec",
            "www.example.test.",
            "TXT",
            NoData,
            Some("NSEC"),
            Secure,
        ),
        agreed(
            "rfc4035-5.3.4-wildcard-nsec",
            "anything.wild.example.test.",
            "A",
            Data,
            None,
            Secure,
        ),
        agreed(
            "rfc5155-8.4-nxdomain-nsec3",
            "nothere.nsec3.test.",
            "A",
            NxDomain,
            Some("NSEC3"),
            Secure,
        ),
        agreed(
            "rfc5155-8.5-nodata-nsec3",
            "www.nsec3.test.",
            "TXT",
            NoData,
            Some("NSEC3"),
            Secure,
        ),
        agreed(
            "rfc5155-8.8-wildcard-nsec3",
            "anything.wild.nsec3.test.",
            "A",
            Data,
            None,
            Secure,
        ),
        // Insecure delegations (RFC 4035 §5.2, RFC 5155 §8.9 and §9.2).
        agreed(
            "rfc4035-5.2-unsigned-delegation",
            "www.unsigned.test.",
            "A",
            Data,
            None,
            Insecure,
        ),
        Scenario {
            reason_has: &["opt-out"],
            ..agreed(
                "rfc5155-9.2-optout-delegation",
                "www.island.optout.test.",
                "A",
                Data,
                None,
                Insecure,
            )
        },
        Scenario {
            delv: Secure,
            reason_has: &["opt-out"],
            note: Some(
                "delv prints \"negative response, fully validated\" for an NXDOMAIN whose \
                 next closer name is covered by an opt-out NSEC3; RFC 5155 §9.2 forbids the AD \
                 bit for it, and Unbound sets none: insecure",
            ),
            ..agreed(
                "rfc5155-9.2-optout-nxdomain",
                "nothere.optout.test.",
                "A",
                NxDomain,
                Some("NSEC3"),
                Insecure,
            )
        },
        // Bogus: each link of RFC 4035 §5 broken once.
        agreed(
            "rfc4035-5.3.3-forged-rdata",
            "www.forged.test.",
            "A",
            Data,
            None,
            Bogus,
        ),
        agreed(
            "rfc4035-5.3.1-expired-rrsig",
            "www.expired.test.",
            "A",
            Data,
            None,
            Bogus,
        ),
        agreed(
            "rfc4035-5.3.1-rrsig-not-yet-valid",
            "www.future.test.",
            "A",
            Data,
            None,
            Bogus,
        ),
        agreed(
            "rfc4035-5.2-ds-matches-no-dnskey",
            "www.ds-mismatch.test.",
            "A",
            Data,
            None,
            Bogus,
        ),
        agreed(
            "rfc4035-5.2-dnskey-not-signed-by-ds-key",
            "www.ksk-nosig.test.",
            "A",
            Data,
            None,
            Bogus,
        ),
        // CNAME chains: every hop validated, the worst verdict wins.
        Scenario {
            hops: &[("alias.example.test.", Secure), ("www.nsec3.test.", Secure)],
            ..agreed(
                "rfc4035-5.3-cname-to-secure",
                "alias.example.test.",
                "A",
                Data,
                None,
                Secure,
            )
        },
        Scenario {
            hops: &[
                ("insecure-alias.example.test.", Secure),
                ("www.unsigned.test.", Insecure),
            ],
            ..agreed(
                "rfc4035-5.2-cname-to-insecure",
                "insecure-alias.example.test.",
                "A",
                Data,
                None,
                Insecure,
            )
        },
        Scenario {
            hops: &[
                ("bogus-alias.example.test.", Secure),
                ("www.forged.test.", Bogus),
            ],
            ..agreed(
                "rfc4035-5.3-cname-to-bogus",
                "bogus-alias.example.test.",
                "A",
                Data,
                None,
                Bogus,
            )
        },
        // NSEC3 iterations (RFC 9276 §3.2: insecure above a limit of the validator's choice).
        Scenario {
            unbound: Secure,
            delv: Secure,
            note: Some(
                "Unbound 1.17 (val-nsec3-keysize-iterations \"1024 150 2048 150 4096 150\") and \
                 BIND 9.18 accept up to 150 iterations; danekit's limit is 100 (RFC 9276 \
                 Appendix A): insecure",
            ),
            reason_has: &["150", "100"],
            ..agreed(
                "rfc9276-3.2-nsec3-150-iterations",
                "nothere.iter150.test.",
                "A",
                NxDomain,
                Some("NSEC3"),
                Insecure,
            )
        },
        Scenario {
            reason_has: &["151", "100"],
            ..agreed(
                "rfc9276-3.2-nsec3-151-iterations",
                "nothere.iter151.test.",
                "A",
                NxDomain,
                Some("NSEC3"),
                Insecure,
            )
        },
        // Algorithms (RFC 4035 §5.2, RFC 6840 §5.2, RFC 9904, RFC 9905).
        Scenario {
            also_allowed: Some(Insecure),
            note: Some(
                "Ed448 is RECOMMENDED, not required, for validation (RFC 8624 §3.1, now the \
                 IANA registry of RFC 9904): a validator without it treats the zone as \
                 unsupported, insecure (RFC 4035 §5.2)",
            ),
            ..agreed(
                "rfc8624-3.1-ed448",
                "www.ed448.test.",
                "A",
                Data,
                None,
                Secure,
            )
        },
        Scenario {
            unbound: Secure,
            delv: Secure,
            also_allowed: Some(Secure),
            note: Some(
                "RFC 9905 §2 (2025): operators MUST treat RSASHA1 as unsupported, so insecure; \
                 Unbound 1.17 and BIND 9.18 predate it and validate it, as RFC 8624 §3.1 \
                 required; implementations must still be able to, so secure is allowed",
            ),
            ..agreed(
                "rfc9905-2-rsasha1",
                "www.rsasha1.test.",
                "A",
                Data,
                None,
                Insecure,
            )
        },
        agreed(
            "rfc4035-5.2-unknown-algorithm",
            "www.unknown-algo.test.",
            "A",
            Data,
            None,
            Insecure,
        ),
        agreed(
            "rfc6840-5.2-unknown-digest",
            "www.unknown-digest.test.",
            "A",
            Data,
            None,
            Insecure,
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Reading the validators' output

/// What one validator said about one scenario.
#[derive(Debug, Clone)]
struct Observed {
    verdict: Verdict,
    answer: Option<Answer>,
    /// The evidence: flags and EDE, delv's status lines, danekit's reason.
    detail: String,
}

/// The header of a `dig` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DigHeader {
    status: String,
    ad: bool,
    answers: usize,
    /// The Extended DNS Error line (`; EDE: 6 (DNSSEC Bogus): (…)`), if any.
    ede: Option<String>,
}

/// Reads the status, the AD flag, the answer count and the EDE from `dig`'s output.
fn parse_dig(text: &str) -> Option<DigHeader> {
    let status = text
        .lines()
        .find_map(|l| l.split("status: ").nth(1))?
        .split(',')
        .next()?
        .trim()
        .to_string();
    let flags_line = text.lines().find(|l| l.starts_with(";; flags:"))?;
    let (flags, counts) = flags_line.trim_start_matches(";; flags:").split_once(';')?;
    let ad = flags.split_whitespace().any(|f| f == "ad");
    let answers = counts
        .split(',')
        .find_map(|c| c.trim().strip_prefix("ANSWER: "))?
        .trim()
        .parse()
        .ok()?;
    let ede = text
        .lines()
        .find(|l| l.starts_with("; EDE:"))
        .map(|l| l.trim().to_string());
    Some(DigHeader {
        status,
        ad,
        answers,
        ede,
    })
}

/// The EDE codes of RFC 8914 §4 that report a DNSSEC failure: 6 DNSSEC Bogus, 7 Signature
/// Expired, 8 Signature Not Yet Valid, 9 DNSKEY Missing, 10 RRSIGs Missing, 11 No Zone Key Bit
/// Set, 12 NSEC Missing.
fn ede_is_dnssec_failure(ede: &str) -> bool {
    ede.trim_start_matches("; EDE:")
        .split_whitespace()
        .next()
        .and_then(|code| code.parse::<u16>().ok())
        .is_some_and(|code| (6..=12).contains(&code))
}

/// Unbound's verdict from `dig +dnssec` through it, and whether its log has a `validation
/// failure <NAME TYPE IN>` line for the question.
fn unbound_verdict(header: &DigHeader, log_failure: Option<&str>) -> Observed {
    let answer = match (header.status.as_str(), header.answers) {
        ("NXDOMAIN", _) => Some(Answer::NxDomain),
        ("NOERROR", 0) => Some(Answer::NoData),
        ("NOERROR", _) => Some(Answer::Data),
        _ => None,
    };
    let verdict = match header.status.as_str() {
        "NOERROR" | "NXDOMAIN" if header.ad => Verdict::Secure,
        "NOERROR" | "NXDOMAIN" => Verdict::Insecure,
        "SERVFAIL"
            if header.ede.as_deref().is_some_and(ede_is_dnssec_failure)
                || log_failure.is_some() =>
        {
            Verdict::Bogus
        }
        _ => Verdict::Indeterminate,
    };
    let mut detail = format!("{}{}", header.status, if header.ad { " ad" } else { "" });
    if let Some(ede) = &header.ede {
        let _ = write!(detail, " {ede}");
    } else if let Some(line) = log_failure {
        let _ = write!(detail, " log: {line}");
    }
    Observed {
        verdict,
        answer,
        detail,
    }
}

/// The `validation failure <NAME TYPE IN>: …` line of Unbound's log (val-log-level 2) for the
/// question, if any.
fn unbound_log_failure<'a>(log: &'a str, name: &str, qtype: &str) -> Option<&'a str> {
    let needle = format!("validation failure <{} {} IN>", fqdn(name), qtype);
    log.lines()
        .rev()
        .find(|l| l.contains(&needle))
        .map(str::trim)
}

/// Words of delv's `resolution failed:` lines that report a validation failure, as BIND's
/// `isc_result_totext` spells them ("RRSIG failed to verify", "RRSIG has expired", "RRSIG
/// validity period has not begun", "broken trust chain", "no valid RRSIG", "no valid DS",
/// "insecurity proof failed", …). Other failures (`timed out`, `failure`, `SERVFAIL`) say
/// nothing about DNSSEC.
const DELV_VALIDATION_WORDS: &[&str] = &[
    "RRSIG",
    "signature",
    "trust chain",
    "DNSKEY",
    "DS",
    "insecurity proof",
    "validat",
    "expired",
    "not begun",
    "bogus",
];

/// delv's verdict from its output (stdout and stderr together). `resolution failed: ncache
/// nxdomain` / `ncache nxrrset` say the answer is negative; any other `resolution failed` is a
/// validation failure (bogus) or no answer at all (indeterminate). Otherwise the worst of the
/// trust lines `delv` prints before each RRset: `; fully validated` (secure), `; unsigned
/// answer` (insecure), each possibly after `negative response, `.
fn delv_verdict(text: &str) -> Observed {
    let mut answer = None;
    let mut failure: Option<(Verdict, String)> = None;
    let mut worst: Option<Verdict> = None;
    let mut detail = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(why) = line.strip_prefix(";; resolution failed: ") {
            match why {
                "ncache nxdomain" => answer = Some(Answer::NxDomain),
                "ncache nxrrset" => answer = Some(Answer::NoData),
                _ => {
                    let verdict = if DELV_VALIDATION_WORDS.iter().any(|w| why.contains(w)) {
                        Verdict::Bogus
                    } else {
                        Verdict::Indeterminate
                    };
                    if failure.as_ref().is_none_or(|(v, _)| verdict > *v) {
                        failure = Some((verdict, why.to_string()));
                    }
                }
            }
            detail.push(line.to_string());
        } else if let Some(trust) = line.strip_prefix("; ") {
            let trust = trust.strip_prefix("negative response, ").unwrap_or(trust);
            let verdict = match trust {
                "fully validated" | "ultimate trust" => Verdict::Secure,
                "unsigned answer" => Verdict::Insecure,
                // Any other trust line that ends a record block ("answer not validated",
                // "untrusted", …) is no verdict.
                "answer not validated" | "untrusted" => Verdict::Indeterminate,
                _ => continue,
            };
            worst = Some(worst.map_or(verdict, |w| w.max(verdict)));
            detail.push(line.to_string());
        }
    }
    let verdict = match (failure, worst) {
        (Some((v, _)), _) => v,
        (None, Some(w)) => w,
        (None, None) => Verdict::Indeterminate,
    };
    let answer = match (answer, worst) {
        (Some(a), _) => Some(a),
        (None, Some(_)) => Some(Answer::Data),
        (None, None) => None,
    };
    Observed {
        verdict,
        answer,
        detail: detail.join(" | "),
    }
}

/// `danekit dnssec -o json`, in the fields this test reads.
#[derive(Debug, Deserialize)]
struct DnssecReport {
    schema_version: u32,
    verdict: String,
    #[serde(default)]
    rrsets: Vec<RrsetReport>,
}

#[derive(Debug, Deserialize)]
struct RrsetReport {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    verdict: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    answer: Option<String>,
    #[serde(default)]
    denial: Vec<DenialReport>,
}

#[derive(Debug, Deserialize)]
struct DenialReport {
    #[serde(rename = "type")]
    kind: String,
    owner: String,
}

// ---------------------------------------------------------------------------------------------
// The tools

struct Tools {
    knotd: PathBuf,
    unbound: PathBuf,
    unbound_control: PathBuf,
    dig: PathBuf,
    delv: PathBuf,
    timeout: PathBuf,
    bash: PathBuf,
}

impl Tools {
    /// Every tool the test runs, or `None` (skip) when one is missing; build-zones.sh's own
    /// tools are checked here too, so that a missing one is a skip, not a script failure.
    fn find() -> Option<Tools> {
        for (bin, package) in [
            ("dnssec-keygen", "bind9-utils"),
            ("dnssec-signzone", "bind9-utils"),
            ("dnssec-dsfromkey", "bind9-utils"),
            ("keymgr", "knot-dnssecutils"),
            ("kzonesign", "knot-dnssecutils"),
        ] {
            require_tool(bin, package)?;
        }
        Some(Tools {
            knotd: require_tool("knotd", "knot")?,
            unbound: require_tool("unbound", "unbound")?,
            unbound_control: require_tool("unbound-control", "unbound")?,
            dig: require_tool("dig", "bind9-dnsutils")?,
            delv: require_tool("delv", "bind9-dnsutils")?,
            timeout: require_tool("timeout", "coreutils")?,
            bash: require_tool("bash", "bash")?,
        })
    }
}

/// The output of build-zones.sh.
struct Hierarchy {
    dir: PathBuf,
    /// `(zone, file)`, parents first.
    zones: Vec<(String, PathBuf)>,
}

impl Hierarchy {
    fn build(tools: &Tools, dir: &Path) -> Hierarchy {
        let script = fixture_dir().join("build-zones.sh");
        let args = [path_str(&script), path_str(dir)];
        let out = run(&tools.bash, &args, None);
        assert!(
            out.status.success(),
            "`{}` failed with {}\nstdout:\n{}\nstderr:\n{}",
            describe(&tools.bash, &args),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let list = read_text(&dir.join("zones.list"));
        let zones: Vec<(String, PathBuf)> = list
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(z, f)| (z.to_string(), PathBuf::from(f)))
            .collect();
        assert!(zones.len() > 2, "build-zones.sh listed no zones:\n{list}");
        Hierarchy {
            dir: dir.to_path_buf(),
            zones,
        }
    }

    fn anchor(&self, file: &str) -> PathBuf {
        self.dir.join("anchors").join(file)
    }
}

// ---------------------------------------------------------------------------------------------
// knotd

/// knotd serving every zone of the hierarchy, plus [`KNOT_READY_ZONE`] with the slot's token.
struct Knot {
    _process: ProcessGroup,
    dir: TempDir,
    slot: LoopbackSlot,
}

impl Knot {
    fn start(tools: &Tools, tree: &Hierarchy) -> Knot {
        start_server("knotd for the test hierarchy", 1, |slot| {
            Knot::start_on(tools, tree, slot)
        })
    }

    fn start_on(tools: &Tools, tree: &Hierarchy, slot: &LoopbackSlot) -> Result<Knot, String> {
        let dir = TempDir::new("knotd-dnssec");
        let root = dir.path();
        let ready_file = root.join("danekit-ready.zone");
        write_file(
            &ready_file,
            format!(
                "$TTL 60\n{KNOT_READY_ZONE} SOA ns.nameservers.invalid. \
                 hostmaster.nameservers.invalid. 1 3600 900 604800 60\n\
                 {KNOT_READY_ZONE} NS ns.nameservers.invalid.\n\
                 {KNOT_READY} TXT \"{}\"\n",
                slot.token
            ),
        );
        let config = root.join("knot.conf");
        write_file(&config, knot_conf(root, slot, tree, &ready_file));
        let log = root.join("knotd.log");
        let out = std::fs::File::create(&log).expect("knotd.log");
        let mut cmd = Command::new(&tools.knotd);
        cmd.arg("-c")
            .arg(&config)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out);
        let mut process = ProcessGroup::spawn(cmd)
            .map_err(|e| format!("cannot start {}: {e}", tools.knotd.display()))?;
        let deadline = Instant::now() + START_LIMIT;
        let mut ready = wait_for_dns_token(
            slot.addr,
            slot.ports[0],
            KNOT_READY,
            &slot.token,
            START_LIMIT,
            || process.try_wait().map(|s| s.to_string()),
        );
        if ready.is_ok() {
            ready = wait_for_zones(slot, tree, deadline);
        }
        match ready {
            Ok(()) => Ok(Knot {
                _process: process,
                dir,
                slot: slot.clone(),
            }),
            Err(e) => {
                drop(process);
                Err(format!(
                    "{e}\n--- {}:\n{}\n--- log:\n{}",
                    config.display(),
                    read_text(&config),
                    read_text(&log)
                ))
            }
        }
    }

    fn log(&self) -> String {
        read_text(&self.dir.path().join("knotd.log"))
    }
}

/// Waits until knotd answers a query of every zone authoritatively: knotd loads zones in
/// the background, the token's zone first or last.
fn wait_for_zones(slot: &LoopbackSlot, tree: &Hierarchy, deadline: Instant) -> Result<(), String> {
    for (zone, _) in &tree.zones {
        // dns_query_tcp takes no empty name: the root zone is asked for the DS of `test.`,
        // which knotd answers from the parent side (RFC 4035 §3.1.4.1), the root.
        let (qname, qtype) = if zone == "." {
            ("test.", QTYPE_DS)
        } else {
            (zone.as_str(), QTYPE_SOA)
        };
        loop {
            let why = match dns_query_tcp(
                slot.addr,
                slot.ports[0],
                qname,
                qtype,
                Duration::from_secs(2),
            ) {
                // RCODE NOERROR, AA set, one answer or more.
                Ok(r) if r[3] & 0x0f == 0 && r[2] & 0x04 != 0 && r[6..8] != [0, 0] => break,
                Ok(r) => format!("RCODE {} flags {:02x}{:02x}", r[3] & 0x0f, r[2], r[3]),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(format!("knotd does not serve {zone}: {why}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// knot.conf: only this directory, the slot's address and port, no signing (zones are served
/// exactly as build-zones.sh wrote them, faults included), zone files never written back.
fn knot_conf(root: &Path, slot: &LoopbackSlot, tree: &Hierarchy, ready_file: &Path) -> String {
    let mut conf = knot_conf_head(root, slot, "notice", "kasp");
    let root = root.display();
    let _ = write!(
        conf,
        "template:\n\
         \x20 - id: default\n\
         \x20   storage: \"{root}\"\n\
         \x20   dnssec-signing: off\n\
         \x20   zonefile-sync: -1\n\
         \x20   zonefile-load: whole\n\
         \x20   journal-content: none\n\
         \x20   semantic-checks: off\n\
         zone:\n\
         \x20 - domain: \"{KNOT_READY_ZONE}\"\n\
         \x20   file: \"{ready}\"\n",
        ready = ready_file.display(),
    );
    for (zone, file) in &tree.zones {
        let _ = write!(
            conf,
            "  - domain: \"{zone}\"\n    file: \"{}\"\n",
            file.display()
        );
    }
    conf
}

// ---------------------------------------------------------------------------------------------
// Unbound

/// Unbound resolving the hierarchy through knotd.
struct Unbound {
    _process: ProcessGroup,
    dir: TempDir,
    slot: LoopbackSlot,
    control: PathBuf,
}

/// Unbound's counters since the last reset.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    /// Queries clients sent to Unbound (`total.num.queries`).
    client: u64,
    /// Queries Unbound sent upstream, to knotd (`num.query.udpout` + `num.query.tcpout`).
    upstream: u64,
}

impl Unbound {
    fn start(tools: &Tools, tree: &Hierarchy, knot: &Knot) -> Unbound {
        start_server("unbound for the test hierarchy", 1, |slot| {
            Unbound::start_on(tools, tree, knot, slot)
        })
    }

    fn start_on(
        tools: &Tools,
        tree: &Hierarchy,
        knot: &Knot,
        slot: &LoopbackSlot,
    ) -> Result<Unbound, String> {
        let dir = TempDir::new("unbound-dnssec");
        let root = dir.path();
        let config = root.join("unbound.conf");
        write_file(&config, unbound_conf(root, slot, tree, knot));
        let log = root.join("unbound.log");
        let out = std::fs::File::create(&log).expect("unbound.log");
        let mut cmd = Command::new(&tools.unbound);
        cmd.arg("-d")
            .arg("-c")
            .arg(&config)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out);
        let mut process = ProcessGroup::spawn(cmd)
            .map_err(|e| format!("cannot start {}: {e}", tools.unbound.display()))?;
        let ready = wait_for_dns_token(
            slot.addr,
            slot.ports[0],
            UNBOUND_READY,
            &slot.token,
            START_LIMIT,
            || process.try_wait().map(|s| s.to_string()),
        );
        match ready {
            Ok(()) => Ok(Unbound {
                _process: process,
                dir,
                slot: slot.clone(),
                control: tools.unbound_control.clone(),
            }),
            Err(e) => {
                drop(process);
                Err(format!(
                    "{e}\n--- {}:\n{}\n--- log:\n{}",
                    config.display(),
                    read_text(&config),
                    read_text(&log)
                ))
            }
        }
    }

    fn addr(&self) -> Ipv4Addr {
        self.slot.addr
    }

    fn port(&self) -> u16 {
        self.slot.ports[0]
    }

    fn log(&self) -> String {
        read_text(&self.dir.path().join("unbound.log"))
    }

    /// Fails at once, with both logs, unless Unbound validates the test root's DNSKEY RRset
    /// (every scenario would otherwise wait for its timeouts).
    fn assert_validates_root(&self, tools: &Tools, knot: &Knot) {
        let port = self.port().to_string();
        let at = format!("@{}", self.addr());
        let args = [
            at.as_str(),
            "-p",
            &port,
            ".",
            "DNSKEY",
            "+dnssec",
            "+time=5",
            "+tries=2",
        ];
        let out = run(&tools.dig, &args, None);
        let text = output_text(&out);
        let header = parse_dig(&text);
        assert!(
            header
                .as_ref()
                .is_some_and(|h| h.status == "NOERROR" && h.ad),
            "Unbound does not validate the test root with its trust anchor:\n$ {}\n{text}\n\
             --- unbound log:\n{}\n--- knotd log:\n{}",
            describe(&tools.dig, &args),
            tail(&self.log(), 40),
            tail(&knot.log(), 20)
        );
    }

    /// `unbound-control -c unbound.conf ARGS…` over the control socket in its directory.
    fn control(&self, args: &[&str]) -> String {
        let config = self.dir.path().join("unbound.conf");
        let mut all = vec!["-c", path_str(&config)];
        all.extend_from_slice(args);
        let out = run(&self.control, &all, None);
        assert!(
            out.status.success(),
            "`{}` failed with {}\nstdout:\n{}\nstderr:\n{}",
            describe(&self.control, &all),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Forgets everything learnt (RRsets, messages, validated keys, server state) and resets
    /// the counters, so that each run starts from the trust anchor alone.
    fn forget(&self) {
        self.control(&["flush_zone", "."]);
        self.control(&["flush_infra", "all"]);
        self.counters();
    }

    /// The counters since the last call, which resets them (`statistics-cumulative: no`).
    fn counters(&self) -> Counters {
        let text = self.control(&["stats"]);
        let value = |key: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        Counters {
            client: value("total.num.queries"),
            upstream: value("num.query.udpout") + value("num.query.tcpout"),
        }
    }
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

/// unbound.conf: everything in this directory (no chroot, no user change, no daemon), the
/// slot's address and port, queries from 127.0.0.0/8, the test root's DS as the only trust
/// anchor (no auto-trust-anchor-file, no RFC 8145 signalling), validation failures logged
/// with their reasons and returned as Extended DNS Errors, a stub-zone with knotd's address and
/// port for every zone, and a control socket for flushing the cache and reading counters.
fn unbound_conf(root: &Path, slot: &LoopbackSlot, tree: &Hierarchy, knot: &Knot) -> String {
    let root_dir = root.display();
    let mut conf = format!(
        "server:\n\
         \x20   verbosity: 1\n\
         \x20   num-threads: 1\n\
         \x20   interface: {addr}@{port}\n\
         \x20   port: {port}\n\
         \x20   do-ip4: yes\n\
         \x20   do-ip6: no\n\
         \x20   so-reuseport: no\n\
         \x20   outgoing-range: 256\n\
         \x20   access-control: 127.0.0.0/8 allow\n\
         \x20   chroot: \"\"\n\
         \x20   username: \"\"\n\
         \x20   directory: \"{root_dir}\"\n\
         \x20   pidfile: \"{root_dir}/unbound.pid\"\n\
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
         \x20   extended-statistics: yes\n\
         \x20   statistics-cumulative: no\n\
         \x20   msg-cache-size: 4m\n\
         \x20   rrset-cache-size: 4m\n\
         \x20   key-cache-size: 4m\n\
         \x20   neg-cache-size: 1m\n\
         \x20   local-zone: \"test.\" nodefault\n\
         \x20   local-zone: \"danekit-ready.\" static\n\
         \x20   local-data: '{UNBOUND_READY} 60 IN TXT \"{token}\"'\n",
        addr = slot.addr,
        port = slot.ports[0],
        anchor = tree.anchor("root.ds").display(),
        token = slot.token,
    );
    for range in NOT_LOOPBACK {
        let _ = writeln!(conf, "    do-not-query-address: {range}");
    }
    let _ = write!(
        conf,
        "remote-control:\n\
         \x20   control-enable: yes\n\
         \x20   control-interface: \"{root_dir}/unbound.ctl\"\n"
    );
    for (zone, _) in &tree.zones {
        let _ = write!(
            conf,
            "stub-zone:\n    name: \"{zone}\"\n    stub-addr: {}@{}\n",
            knot.slot.addr, knot.slot.ports[0]
        );
    }
    conf
}

// ---------------------------------------------------------------------------------------------
// Asking each validator

/// A command's output, stdout then stderr, for parsing and messages.
fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Unbound's own verdict: `dig +dnssec` through it.
fn ask_unbound(tools: &Tools, unbound: &Unbound, s: &Scenario) -> (Observed, Counters, String) {
    unbound.forget();
    let port = unbound.port().to_string();
    let at = format!("@{}", unbound.addr());
    let args = [
        at.as_str(),
        "-p",
        &port,
        s.name,
        s.qtype,
        "+dnssec",
        "+time=10",
        "+tries=1",
    ];
    let out = run(&tools.dig, &args, None);
    let counters = unbound.counters();
    let text = output_text(&out);
    let observed = match parse_dig(&text) {
        Some(header) => {
            let log = unbound.log();
            unbound_verdict(&header, unbound_log_failure(&log, s.name, s.qtype))
        }
        None => Observed {
            verdict: Verdict::Indeterminate,
            answer: None,
            detail: format!("dig gave no answer ({})", out.status),
        },
    };
    (
        observed,
        counters,
        format!("$ {}\n{text}", describe(&tools.dig, &args)),
    )
}

/// delv's verdict: `delv @UNBOUND -a root.bind +cdflag`, validating by itself.
fn ask_delv(
    tools: &Tools,
    unbound: &Unbound,
    tree: &Hierarchy,
    s: &Scenario,
) -> (Observed, Counters, String) {
    unbound.forget();
    let port = unbound.port().to_string();
    let at = format!("@{}", unbound.addr());
    let anchor = tree.anchor("root.bind");
    let args = [
        RUN_LIMIT,
        path_str(&tools.delv),
        at.as_str(),
        "-p",
        &port,
        "-a",
        path_str(&anchor),
        "+cdflag",
        "+rtrace",
        s.name,
        s.qtype,
    ];
    let out = run(&tools.timeout, &args, None);
    let counters = unbound.counters();
    let text = output_text(&out);
    let observed = delv_verdict(&text);
    (
        observed,
        counters,
        format!("$ {}\n{text}", describe("timeout", &args)),
    )
}

/// Whether this build has `danekit dnssec` with `--resolver` and `--trust-anchor`; `Err` says
/// what is missing.
fn danekit_dnssec_available() -> Result<(), String> {
    let out = run(danekit_bin(), &["dnssec", "--help"], None);
    let help = output_text(&out);
    if !out.status.success() {
        return Err(format!(
            "`danekit dnssec` is not on this branch yet (`danekit dnssec --help`: {}: {})",
            out.status,
            help.lines().next().unwrap_or("").trim()
        ));
    }
    for flag in ["--resolver", "--trust-anchor", "--type"] {
        if !help.contains(flag) {
            return Err(format!("`danekit dnssec` has no {flag} yet"));
        }
    }
    Ok(())
}

/// danekit's verdict for `s` with the trust anchor `anchor`, checked against the scenario:
/// `Err` lists every difference.
fn ask_danekit(
    tools: &Tools,
    unbound: &Unbound,
    anchor: &Path,
    s: &Scenario,
) -> (Result<Observed, Vec<String>>, Counters, String) {
    unbound.forget();
    let resolver = format!("{}:{}", unbound.addr(), unbound.port());
    let args = [
        RUN_LIMIT,
        danekit_bin(),
        "dnssec",
        s.name,
        "--type",
        s.qtype,
        "--resolver",
        &resolver,
        "--trust-anchor",
        path_str(anchor),
        "-o",
        "json",
    ];
    let out = run(&tools.timeout, &args, None);
    let counters = unbound.counters();
    let transcript = format!("$ {}\n{}", describe("timeout", &args), output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: DnssecReport = match serde_json::from_str(&stdout) {
        Ok(r) => r,
        Err(e) => {
            return (
                Err(vec![format!("the JSON does not parse ({e})")]),
                counters,
                transcript,
            );
        }
    };
    (
        check_danekit(s, &report, out.status.code()),
        counters,
        transcript,
    )
}

/// Compares danekit's report and exit code with what the scenario requires.
fn check_danekit(
    s: &Scenario,
    report: &DnssecReport,
    code: Option<i32>,
) -> Result<Observed, Vec<String>> {
    let mut problems = Vec::new();
    if report.schema_version != 1 {
        problems.push(format!("schema_version {}", report.schema_version));
    }
    let Some(verdict) = Verdict::parse(&report.verdict) else {
        problems.push(format!(
            "verdict {:?} is not a DNSSEC verdict",
            report.verdict
        ));
        return Err(problems);
    };
    let allowed = [Some(s.expected), s.also_allowed];
    if !allowed.contains(&Some(verdict)) {
        problems.push(format!(
            "verdict {} where the RFC says {}",
            verdict.name(),
            s.expected.name()
        ));
    }
    if code != Some(verdict.exit_code()) {
        problems.push(format!(
            "exit code {code:?} for {}, not {}",
            verdict.name(),
            verdict.exit_code()
        ));
    }
    let reason = report
        .rrsets
        .iter()
        .filter_map(|r| r.reason.as_deref())
        .find(|r| !r.trim().is_empty())
        .unwrap_or("")
        .to_string();
    if verdict != Verdict::Secure && reason.is_empty() {
        problems.push(format!("{} without a reason", verdict.name()));
    }
    if verdict == s.expected {
        let lower = reason.to_ascii_lowercase();
        for word in s.reason_has {
            if !lower.contains(&word.to_ascii_lowercase()) {
                problems.push(format!("the reason {reason:?} does not say {word:?}"));
            }
        }
    }
    let names: Vec<String> = report.rrsets.iter().map(|r| fqdn(&r.name)).collect();
    match s.hops {
        [] => match report.rrsets.as_slice() {
            [rrset] => {
                if fqdn(&rrset.name) != s.name || !rrset.rtype.eq_ignore_ascii_case(s.qtype) {
                    problems.push(format!(
                        "the rrset is {} {}, not {} {}",
                        rrset.name, rrset.rtype, s.name, s.qtype
                    ));
                }
                if rrset.verdict != report.verdict {
                    problems.push(format!(
                        "the rrset's verdict {} differs from the top-level {}",
                        rrset.verdict, report.verdict
                    ));
                }
            }
            other => problems.push(format!("{} rrsets, expected one", other.len())),
        },
        hops => {
            let want: Vec<String> = hops.iter().map(|(n, _)| fqdn(n)).collect();
            if names != want {
                problems.push(format!(
                    "the rrsets are {names:?}, expected the hops {want:?}"
                ));
            } else {
                for ((name, hop_verdict), rrset) in hops.iter().zip(&report.rrsets) {
                    if rrset.verdict != hop_verdict.name() {
                        problems.push(format!(
                            "hop {name} is {}, expected {}",
                            rrset.verdict,
                            hop_verdict.name()
                        ));
                    }
                }
            }
        }
    }
    let last = report.rrsets.last();
    let answer = last.and_then(|r| r.answer.as_deref()).and_then(|a| {
        [Answer::Data, Answer::NoData, Answer::NxDomain]
            .into_iter()
            .find(|k| k.name() == a)
    });
    if verdict != Verdict::Bogus && answer != Some(s.answer) {
        problems.push(format!(
            "answer {:?}, expected {:?}",
            last.and_then(|r| r.answer.as_deref()),
            s.answer.name()
        ));
    }
    if let (Some(kind), Some(rrset)) = (s.denial, last)
        && verdict != Verdict::Bogus
    {
        // A secure denial names its proof. An insecure one may not get as far: danekit stops
        // hashing NSEC3 names above its iteration limit (CVE-2023-50868).
        if rrset.denial.is_empty() && verdict == Verdict::Secure {
            problems.push(format!(
                "a secure negative answer without its {kind} records"
            ));
        }
        for d in &rrset.denial {
            if d.kind != kind {
                problems.push(format!(
                    "denial record {} {} is not {kind}",
                    d.owner, d.kind
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(Observed {
            verdict,
            answer,
            detail: reason,
        })
    } else {
        Err(problems)
    }
}

// ---------------------------------------------------------------------------------------------
// The test

/// One row of the summary.
struct Row {
    id: &'static str,
    question: String,
    expected: Verdict,
    unbound: Observed,
    delv: Observed,
    danekit: Option<Result<Observed, Vec<String>>>,
    queries: [Option<u64>; 3],
}

fn cell(o: &Observed) -> String {
    o.verdict.name().to_string()
}

/// Each validator's evidence, scenario by scenario: Unbound's status and EDE, delv's status
/// lines, danekit's reason (or what went wrong).
fn evidence(rows: &[Row]) -> String {
    let mut t = String::new();
    for r in rows {
        let danekit = match &r.danekit {
            None => "pending".to_string(),
            Some(Ok(o)) => o.detail.clone(),
            Some(Err(problems)) => problems.join("; "),
        };
        let _ = writeln!(
            t,
            "{}\n  unbound: {}\n  delv:    {}\n  danekit: {}",
            r.id, r.unbound.detail, r.delv.detail, danekit
        );
    }
    t
}

fn summary(rows: &[Row]) -> String {
    let mut t = format!(
        "{:<42} {:<36} {:<9} {:<9} {:<9} {:<9} {}\n",
        "scenario",
        "question",
        "rfc",
        "unbound",
        "delv",
        "danekit",
        "queries (unbound→knotd, delv→unbound, danekit→unbound)"
    );
    for r in rows {
        let danekit = match &r.danekit {
            None => "pending".to_string(),
            Some(Ok(o)) => cell(o),
            Some(Err(_)) => "FAILED".to_string(),
        };
        let q = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
        let _ = writeln!(
            t,
            "{:<42} {:<36} {:<9} {:<9} {:<9} {:<9} {} / {} / {}",
            r.id,
            r.question,
            r.expected.name(),
            cell(&r.unbound),
            cell(&r.delv),
            danekit,
            q(r.queries[0]),
            q(r.queries[1]),
            q(r.queries[2]),
        );
    }
    t
}

#[test]
fn unbound_delv_and_danekit_agree_on_dnssec_verdicts() {
    let Some(tools) = Tools::find() else {
        return;
    };
    let started = Instant::now();
    let work = TempDir::new("dnssec-interop");
    let tree = Hierarchy::build(&tools, &work.path().join("tree"));
    let built = started.elapsed();
    let knot = Knot::start(&tools, &tree);
    let unbound = Unbound::start(&tools, &tree, &knot);
    unbound.assert_validates_root(&tools, &knot);
    let danekit = danekit_dnssec_available();
    if let Err(why) = &danekit {
        print_skip(&format!(
            "{why}: the danekit assertions are pending; Unbound and delv are still compared"
        ));
    }

    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for s in scenarios() {
        let question = format!("{} {}", s.name, s.qtype);
        let (ub, ub_counters, ub_text) = ask_unbound(&tools, &unbound, &s);
        let (dv, dv_counters, dv_text) = ask_delv(&tools, &unbound, &tree, &s);
        for (tool, observed, want, text) in [
            ("Unbound", &ub, s.unbound, &ub_text),
            ("delv", &dv, s.delv, &dv_text),
        ] {
            if observed.verdict != want {
                problems.push(format!(
                    "{}: {tool} says {} ({}), the table says {}\n{text}",
                    s.id,
                    observed.verdict.name(),
                    observed.detail,
                    want.name()
                ));
            } else if want != Verdict::Bogus && observed.answer != Some(s.answer) {
                problems.push(format!(
                    "{}: {tool}'s answer is {:?}, expected {}\n{text}",
                    s.id,
                    observed.answer.map(Answer::name),
                    s.answer.name()
                ));
            }
        }
        let mut queries = [Some(ub_counters.upstream), Some(dv_counters.client), None];
        let danekit_result = danekit.is_ok().then(|| {
            let (result, counters, text) =
                ask_danekit(&tools, &unbound, &tree.anchor("root.ds"), &s);
            queries[2] = Some(counters.client);
            if let Err(list) = &result {
                problems.push(format!("{}: danekit: {}\n{text}", s.id, list.join("; ")));
            }
            result
        });
        rows.push(Row {
            id: s.id,
            question,
            expected: s.expected,
            unbound: ub,
            delv: dv,
            danekit: danekit_result,
            queries,
        });
    }

    // The trust anchor in each form danekit reads: DS, DNSKEY, BIND trust-anchors.
    if danekit.is_ok() {
        let secure = &scenarios()[0];
        for file in ["root.dnskey", "root.bind"] {
            let (result, _, text) = ask_danekit(&tools, &unbound, &tree.anchor(file), secure);
            if let Err(list) = result {
                problems.push(format!(
                    "{} with the trust anchor {file}: {}\n{text}",
                    secure.id,
                    list.join("; ")
                ));
            }
        }
    }

    let table = summary(&rows);
    println!(
        "{table}\n{}\nzones built in {built:.1?}, whole test {:.1?}",
        evidence(&rows),
        started.elapsed()
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n\n{}\n\n{table}\n--- unbound log (tail):\n{}\n--- knotd log (tail):\n{}",
        problems.len(),
        problems.join("\n\n"),
        tail(&unbound.log(), 60),
        tail(&knot.log(), 30)
    );
}

// ---------------------------------------------------------------------------------------------
// The harness's own parts, without servers

#[test]
fn scenario_table_is_consistent() {
    let all = scenarios();
    let mut ids: Vec<&str> = all.iter().map(|s| s.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "scenario ids repeat");
    let readme = read_text(&fixture_dir().join("README.md"));
    for s in &all {
        assert!(
            s.name.ends_with('.'),
            "{}: {} lacks its final dot",
            s.id,
            s.name
        );
        let departs = s.unbound != s.expected || s.delv != s.expected || s.also_allowed.is_some();
        assert_eq!(
            departs,
            s.note.is_some(),
            "{}: a departure from the RFC's verdict needs a note, and a note a departure",
            s.id
        );
        assert_eq!(
            s.denial.is_some(),
            s.answer != Answer::Data,
            "{}: negative answers, and only they, name their denial records",
            s.id
        );
        if let Some((_, last)) = s.hops.last() {
            assert_eq!(*last, s.expected, "{}: the last hop decides", s.id);
            assert_eq!(
                fqdn(s.hops[0].0),
                s.name,
                "{}: the first hop is the question",
                s.id
            );
        }
        assert!(
            readme.contains(s.id),
            "{}: not described in README.md",
            s.id
        );
    }
}

#[test]
fn dig_headers_are_read() {
    let bogus = "\
;; ->>HEADER<<- opcode: QUERY, status: SERVFAIL, id: 1
;; flags: qr rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 1
; EDNS: version: 0, flags: do; udp: 1232
; EDE: 6 (DNSSEC Bogus): (validation failure <www.forged.test. A IN>: signature crypto failed from 127.77.0.2)
";
    let header = parse_dig(bogus).unwrap();
    assert_eq!(header.status, "SERVFAIL");
    assert!(!header.ad);
    assert_eq!(unbound_verdict(&header, None).verdict, Verdict::Bogus);

    let secure = "\
;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 2
;; flags: qr rd ra ad; QUERY: 1, ANSWER: 0, AUTHORITY: 6, ADDITIONAL: 1
";
    let header = parse_dig(secure).unwrap();
    let seen = unbound_verdict(&header, None);
    assert_eq!(
        (seen.verdict, seen.answer),
        (Verdict::Secure, Some(Answer::NxDomain))
    );

    let insecure = "\
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 3
;; flags: qr rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1
";
    let seen = unbound_verdict(&parse_dig(insecure).unwrap(), None);
    assert_eq!(
        (seen.verdict, seen.answer),
        (Verdict::Insecure, Some(Answer::Data))
    );

    // SERVFAIL without any sign of a validation failure: no verdict.
    let servfail = "\
;; ->>HEADER<<- opcode: QUERY, status: SERVFAIL, id: 4
;; flags: qr rd ra; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 1
; EDE: 22 (No Reachable Authority)
";
    let header = parse_dig(servfail).unwrap();
    assert_eq!(
        unbound_verdict(&header, None).verdict,
        Verdict::Indeterminate
    );
    let log =
        "[1] unbound[1:0] info: validation failure <www.expired.test. A IN>: signature expired";
    assert_eq!(
        unbound_verdict(&header, unbound_log_failure(log, "www.expired.test", "A")).verdict,
        Verdict::Bogus
    );
    assert_eq!(unbound_log_failure(log, "www.expired.test.", "AAAA"), None);
}

#[test]
fn delv_output_is_read() {
    let cases: &[(&str, Verdict, Option<Answer>)] = &[
        (
            "; fully validated\nwww.example.test.\t3597\tIN\tA\t192.0.2.1\n",
            Verdict::Secure,
            Some(Answer::Data),
        ),
        (
            "; unsigned answer\nwww.unsigned.test.\t3596\tIN\tA\t192.0.2.4\n",
            Verdict::Insecure,
            Some(Answer::Data),
        ),
        (
            ";; resolution failed: ncache nxdomain\n; negative response, fully validated\n\
             ; nothere.example.test.\t297\tIN\t\\-ANY\t;-$NXDOMAIN\n",
            Verdict::Secure,
            Some(Answer::NxDomain),
        ),
        (
            ";; resolution failed: ncache nxrrset\n; negative response, fully validated\n",
            Verdict::Secure,
            Some(Answer::NoData),
        ),
        (
            ";; resolution failed: ncache nxdomain\n; negative response, unsigned answer\n",
            Verdict::Insecure,
            Some(Answer::NxDomain),
        ),
        (
            ";; validating www.expired.test/A: verify failed due to bad signature (keyid=46233): \
             RRSIG has expired\n;; resolution failed: RRSIG has expired\n",
            Verdict::Bogus,
            None,
        ),
        (
            ";; broken trust chain resolving 'www.ds-mismatch.test/A/IN': 127.77.0.3#20054\n\
             ;; resolution failed: broken trust chain\n",
            Verdict::Bogus,
            None,
        ),
        // A CNAME from a secure zone into a bogus one: the CNAME is validated, its target not.
        (
            ";; resolution failed: RRSIG failed to verify\n; fully validated\n\
             bogus-alias.example.test. 3596\tIN\tCNAME\twww.forged.test.\n",
            Verdict::Bogus,
            Some(Answer::Data),
        ),
        // A CNAME from a secure zone into an insecure one: the worst hop.
        (
            "; fully validated\ninsecure-alias.example.test. 3596 IN CNAME www.unsigned.test.\n\n\
             ; unsigned answer\nwww.unsigned.test.\t3596\tIN\tA\t192.0.2.4\n",
            Verdict::Insecure,
            Some(Answer::Data),
        ),
        // No server: no verdict.
        (
            ";; connection refused resolving 'www.unsigned.test/A/IN': 127.77.0.3#20099\n\
             ;; resolution failed: failure\n",
            Verdict::Indeterminate,
            None,
        ),
        ("", Verdict::Indeterminate, None),
    ];
    for (text, verdict, answer) in cases {
        let seen = delv_verdict(text);
        assert_eq!((seen.verdict, seen.answer), (*verdict, *answer), "{text}");
    }
}
