//! `danekit survey`: the `verify DOMAIN` procedure over many domains, and what the results add
//! up to. This module holds the pure parts: reading domain lists and Postfix logs line by line,
//! the stable shard of a domain, and the [`Summary`] that folds `verify` documents one at a
//! time (so memory does not grow with the number of domains) and merges with other shards'.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::rr::Name;
use serde::{Deserialize, Serialize};

use crate::addr::name_text;
use crate::dns::client::Client;
use crate::dnssec::{Limits, TrustAnchors, Validator};
use crate::env::Net;
use crate::report::SCHEMA_VERSION;
use crate::time::Timestamp;
use crate::verify::report::{Verdict, VerifyDocument, domain_document};
use crate::verify::{Options, plan, probe_hosts};

/// What every domain of a survey is checked with.
pub struct Job<'a> {
    pub net: &'a dyn Net,
    pub resolvers: &'a [SocketAddr],
    pub anchors: &'a TrustAnchors,
    pub now: Timestamp,
    pub ports: &'a [u16],
    /// The probe options; their step and greeting limits are shortened to fit the budget.
    pub options: &'a Options,
    /// About the most one domain may take: every DNS question and every connection step is
    /// bounded so that the lookups and the connections fit in it.
    pub budget: Duration,
    pub require_dane: bool,
}

/// The `verify DOMAIN` procedure for one domain of a survey, within the job's budget, with a
/// DNS cache of its own (so memory does not grow with the list).
pub fn survey_domain(job: &Job<'_>, domain: &Name) -> VerifyDocument {
    let start = Instant::now();
    let dns_step = job
        .options
        .timeout
        .min(job.budget / 8)
        .max(Duration::from_millis(1));
    let client = Client::new(job.net, job.resolvers.to_vec(), dns_step);
    let validator = Validator::new(&client, job.anchors, job.now, Limits::default());
    let planned = plan(&validator, domain, job.ports);
    let left = job
        .budget
        .saturating_sub(start.elapsed())
        .max(Duration::from_millis(7));
    let step = left / 7;
    let options = Options {
        timeout: job.options.timeout.min(step),
        greeting_timeout: job.options.greeting_timeout.min(step),
        ..job.options.clone()
    };
    let results = probe_hosts(job.net, planned.hosts, &options);
    domain_document(
        &name_text(domain),
        &planned.mx,
        &planned.mx_reports,
        &results,
        planned.hosts_omitted,
        job.require_dane,
        Vec::new(),
    )
}

/// The longest input line read; longer lines are skipped whole.
pub const MAX_LINE: usize = 4096;

/// What one line of a domain list holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Domain(Name),
    /// A blank line or a `#` comment.
    Nothing,
    /// Not a domain name: the line number and why.
    Bad(usize, String),
}

/// Reads lines of at most [`MAX_LINE`] bytes; a longer line is returned as `Err(number)` and
/// skipped to its end. Invalid UTF-8 is replaced.
pub struct Lines<R> {
    reader: R,
    number: usize,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R) -> Self {
        Lines { reader, number: 0 }
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    /// The line number and the line, or the number of a line that was too long.
    type Item = Result<(usize, String), usize>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        let mut too_long = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return None,
            };
            if available.is_empty() {
                if buf.is_empty() && !too_long {
                    return None;
                }
                break;
            }
            let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], Some(i + 1)),
                None => (available, None),
            };
            if !too_long {
                if buf.len() + chunk.len() > MAX_LINE {
                    too_long = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            let used = done.unwrap_or(available.len());
            self.reader.consume(used);
            if done.is_some() {
                break;
            }
        }
        self.number += 1;
        if too_long {
            return Some(Err(self.number));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Some(Ok((
            self.number,
            String::from_utf8_lossy(&buf).into_owned(),
        )))
    }
}

/// One line of a domain list: a domain, nothing, or why it is not a domain.
pub fn domain_line(number: usize, text: &str) -> Line {
    let text = text.split('#').next().unwrap_or("").trim();
    if text.is_empty() {
        return Line::Nothing;
    }
    match crate::addr::parse_host_name(text) {
        Ok(name) => Line::Domain(name),
        Err(e) => Line::Bad(number, e.to_string()),
    }
}

/// A stable partition of domains into `n` shards (FNV-1a of the lower-case name, no trailing
/// dot): the same on every machine and every run, so N copies of a survey split a list
/// without talking to each other.
pub fn shard_of(domain: &Name, n: u32) -> u32 {
    let text = crate::addr::name_text(domain);
    let text = text.trim_end_matches('.');
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash ^= u64::from(b.to_ascii_lowercase());
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    u32::try_from(hash % u64::from(n.max(1))).unwrap_or(0)
}

/// Counts by name.
pub type Counts = BTreeMap<String, u64>;

/// What a survey's documents add up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    /// `pass` when every domain passed, `fail` when any failed, else `indeterminate`.
    pub verdict: Verdict,
    pub domains: u64,
    /// Domains by verdict: `pass`, `fail`, `indeterminate`.
    pub outcomes: Counts,
    /// Domains whose MX lookup was secure (or a secure denial of MX).
    pub dnssec_signed_mx: u64,
    /// Domains with a secure TLSA RRset at some MX host.
    pub with_tlsa: u64,
    /// Domains with TLSA at every MX host and every address authenticated.
    pub tlsa_correct_at_every_mx: u64,
    /// Domains where some address completed a TLS handshake.
    pub starttls_offered: u64,
    /// Addresses by outcome.
    pub address_outcomes: Counts,
    /// Handshakes by TLS version.
    pub tls_versions: Counts,
    /// Handshakes by cipher suite.
    pub cipher_suites: Counts,
    /// Handshakes by the leaf's key.
    pub key_types: Counts,
    /// Domains by the first reason they did not pass: an address outcome, or `mx-lookup`.
    pub failures: Counts,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            schema_version: SCHEMA_VERSION,
            verdict: Verdict::Pass,
            domains: 0,
            outcomes: Counts::new(),
            dnssec_signed_mx: 0,
            with_tlsa: 0,
            tlsa_correct_at_every_mx: 0,
            starttls_offered: 0,
            address_outcomes: Counts::new(),
            tls_versions: Counts::new(),
            cipher_suites: Counts::new(),
            key_types: Counts::new(),
            failures: Counts::new(),
        }
    }
}

fn bump(map: &mut Counts, key: &str, by: u64) {
    *map.entry(key.to_owned()).or_insert(0) += by;
}

impl Summary {
    /// Folds in one domain's document.
    pub fn add(&mut self, doc: &VerifyDocument) {
        self.domains += 1;
        bump(&mut self.outcomes, doc.verdict.as_str(), 1);
        if doc
            .mx_lookup
            .as_ref()
            .is_some_and(|m| m.verdict == crate::dnssec::StatusWord::Secure)
        {
            self.dnssec_signed_mx += 1;
        }
        let has_tlsa = |m: &crate::verify::report::MxDoc| {
            m.ports
                .iter()
                .any(|p| p.dane == "usable" || p.dane == "unusable-only")
        };
        if doc.mx.iter().any(has_tlsa) {
            self.with_tlsa += 1;
        }
        if !doc.mx.is_empty()
            && doc.mx.iter().all(|m| {
                has_tlsa(m)
                    && !m.addresses.is_empty()
                    && m.addresses
                        .iter()
                        .all(|a| a.outcome.word() == "authenticated")
            })
        {
            self.tlsa_correct_at_every_mx += 1;
        }
        let mut tls = false;
        for m in &doc.mx {
            for a in &m.addresses {
                bump(&mut self.address_outcomes, a.outcome.word(), 1);
                for t in &a.tls {
                    tls = true;
                    bump(&mut self.tls_versions, &t.version, 1);
                    bump(&mut self.cipher_suites, &t.cipher_suite, 1);
                    bump(
                        &mut self.key_types,
                        t.leaf_key.as_deref().unwrap_or("unknown"),
                        1,
                    );
                }
            }
        }
        if tls {
            self.starttls_offered += 1;
        }
        if doc.verdict != Verdict::Pass {
            let first = doc
                .mx
                .iter()
                .flat_map(|m| m.addresses.iter())
                .map(|a| a.outcome.word())
                .find(|w| !matches!(*w, "authenticated" | "no-dane" | "tls-required"))
                .unwrap_or("mx-lookup");
            bump(&mut self.failures, first, 1);
        }
        self.verdict = self.verdict_now();
    }

    /// Adds another summary (another shard's).
    pub fn merge(&mut self, other: &Summary) {
        self.domains += other.domains;
        self.dnssec_signed_mx += other.dnssec_signed_mx;
        self.with_tlsa += other.with_tlsa;
        self.tlsa_correct_at_every_mx += other.tlsa_correct_at_every_mx;
        self.starttls_offered += other.starttls_offered;
        for (mine, theirs) in [
            (&mut self.outcomes, &other.outcomes),
            (&mut self.address_outcomes, &other.address_outcomes),
            (&mut self.tls_versions, &other.tls_versions),
            (&mut self.cipher_suites, &other.cipher_suites),
            (&mut self.key_types, &other.key_types),
            (&mut self.failures, &other.failures),
        ] {
            for (k, v) in theirs {
                bump(mine, k, *v);
            }
        }
        self.verdict = self.verdict_now();
    }

    fn verdict_now(&self) -> Verdict {
        let n = |k: &str| self.outcomes.get(k).copied().unwrap_or(0);
        if n("fail") > 0 {
            Verdict::Fail
        } else if n("indeterminate") > 0 {
            Verdict::Indeterminate
        } else {
            Verdict::Pass
        }
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let pct = |n: u64| {
            if self.domains == 0 {
                0.0
            } else {
                n as f64 * 100.0 / self.domains as f64
            }
        };
        let n = |k: &str| self.outcomes.get(k).copied().unwrap_or(0);
        let _ = writeln!(out, "domains                        {:>8}", self.domains);
        for k in ["pass", "fail", "indeterminate"] {
            let _ = writeln!(out, "  {k:<28} {:>8}  {:5.1} %", n(k), pct(n(k)));
        }
        for (label, v) in [
            ("DNSSEC-signed MX", self.dnssec_signed_mx),
            ("TLSA published", self.with_tlsa),
            ("TLSA correct at every MX", self.tlsa_correct_at_every_mx),
            ("STARTTLS offered", self.starttls_offered),
        ] {
            let _ = writeln!(out, "{label:<30} {v:>8}  {:5.1} %", pct(v));
        }
        for (label, map) in [
            ("addresses by outcome", &self.address_outcomes),
            ("failures by kind", &self.failures),
            ("TLS versions", &self.tls_versions),
            ("cipher suites", &self.cipher_suites),
            ("key types", &self.key_types),
        ] {
            if map.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{label}");
            for (k, v) in map {
                let _ = writeln!(out, "  {k:<28} {v:>8}");
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_capped_and_numbered() {
        let long = "x".repeat(MAX_LINE + 10);
        let text = format!("a.example\r\n{long}\n\n# c\nb.example");
        let got: Vec<Result<(usize, String), usize>> =
            Lines::new(std::io::Cursor::new(text.into_bytes())).collect();
        assert_eq!(
            got,
            vec![
                Ok((1, "a.example".into())),
                Err(2),
                Ok((3, String::new())),
                Ok((4, "# c".into())),
                Ok((5, "b.example".into())),
            ]
        );
        assert_eq!(domain_line(4, "# c"), Line::Nothing);
        assert!(matches!(domain_line(1, "Example.ORG # x"), Line::Domain(_)));
        assert!(matches!(domain_line(7, "not a domain!"), Line::Bad(7, _)));
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        let a = Name::from_ascii("Example.ORG.").unwrap();
        let b = Name::from_ascii("example.org").unwrap();
        assert_eq!(shard_of(&a, 7), shard_of(&b, 7));
        assert!((0..1000).all(|i| {
            let n = Name::from_ascii(format!("d{i}.example")).unwrap();
            shard_of(&n, 4) < 4
        }));
        // FNV-1a 64 of "example.org" is 0xee7160631269bf51 (computed independently), the same
        // on every platform: modulo 2^32 - 1 that is 14360501.
        assert_eq!(shard_of(&b, u32::MAX), 14_360_501);
    }
}
