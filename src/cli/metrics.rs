//! `-o openmetrics`: the OpenMetrics text format (what node_exporter's textfile collector and
//! Prometheus read) for `verify`, `dnssec` and `rollover check`.
//!
//! Names follow the Prometheus conventions: a `danekit_` prefix, base units (seconds) in the
//! name, `_timestamp_seconds` for points in time; a state is one gauge per possible value, 1
//! for the one that holds and 0 for the others, so that alerts can match on a label.

use std::fmt::Write as _;

use crate::dnssec::{RrsetReport, StatusWord, earliest_expiration};
use crate::rollover::Safety;
use crate::time::Timestamp;
use crate::verify::outcome::OUTCOME_WORDS;
use crate::verify::plan::{parse_records, usable as usable_record};
use crate::verify::report::{Verdict, VerifyDocument};

/// One metric family being written.
struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn new(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            samples: Vec::new(),
        }
    }

    fn push(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push((labels, value));
    }
}

/// A label value as OpenMetrics writes it: backslash, double quote and line feed escaped.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The families, each with its TYPE and HELP, then `# EOF`. Families without samples are
/// left out.
fn render(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(out, "# TYPE {} gauge", f.name);
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        for (labels, value) in &f.samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            if labels.is_empty() {
                let _ = writeln!(out, "{} {}", f.name, number(*value));
            } else {
                let _ = writeln!(out, "{}{{{}}} {}", f.name, labels.join(","), number(*value));
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

fn seconds_until(t: Timestamp, now: Timestamp) -> f64 {
    (t.0.saturating_sub(now.0)) as f64
}

/// The metrics of a `verify` run.
pub fn verify(doc: &VerifyDocument, now: Timestamp) -> String {
    let domain = doc.domain.clone();
    let mut verdict = Family::new(
        "danekit_verify_verdict",
        "Verdict of the run: 1 for the verdict that holds, 0 for the others.",
    );
    for v in [Verdict::Pass, Verdict::Fail, Verdict::Indeterminate] {
        verdict.push(
            vec![("domain", domain.clone()), ("verdict", v.as_str().into())],
            f64::from(u8::from(doc.verdict == v)),
        );
    }
    let mut outcome = Family::new(
        "danekit_verify_outcome",
        "Outcome of one address on one port: 1 for the outcome that holds, 0 for the others.",
    );
    let mut expiry = Family::new(
        "danekit_verify_leaf_expiry_seconds",
        "Seconds until the leaf certificate presented expires (negative once expired).",
    );
    let mut duration = Family::new(
        "danekit_verify_probe_duration_seconds",
        "Seconds from the first connection to an address to the end of its last handshake.",
    );
    let mut usable = Family::new(
        "danekit_verify_tlsa_usable_records",
        "Usable TLSA records (DANE-TA and DANE-EE, well formed) of a host and port.",
    );
    let mut rrsig = Family::new(
        "danekit_verify_rrsig_expiry_seconds",
        "Seconds until the earliest RRSIG on the DNSSEC paths of the MX, address and TLSA answers expires.",
    );
    for mx in &doc.mx {
        for p in &mx.ports {
            let count = if p.dane == "usable" || p.dane == "unusable-only" {
                parse_records(&p.tlsa)
                    .0
                    .iter()
                    .filter(|r| usable_record(r))
                    .count()
            } else {
                0
            };
            usable.push(
                vec![
                    ("domain", domain.clone()),
                    ("host", mx.host.clone()),
                    ("port", p.port.to_string()),
                ],
                count as f64,
            );
        }
        for a in &mx.addresses {
            let base = vec![
                ("domain", domain.clone()),
                ("host", mx.host.clone()),
                ("address", a.address.clone().unwrap_or_default()),
                ("port", a.port.to_string()),
            ];
            for o in OUTCOME_WORDS {
                let mut labels = base.clone();
                labels.push(("outcome", o.to_owned()));
                outcome.push(labels, f64::from(u8::from(a.outcome.word() == o)));
            }
            if let Some(t) = a
                .chain
                .first()
                .and_then(|c| c.not_after.as_deref())
                .and_then(Timestamp::parse)
            {
                expiry.push(base.clone(), seconds_until(t, now));
            }
            if !a.tls.is_empty() {
                duration.push(base, a.elapsed_ms as f64 / 1000.0);
            }
        }
    }
    if let Some(t) = doc.rrsig_expiration {
        rrsig.push(vec![("domain", domain)], seconds_until(t, now));
    }
    render(&[verdict, outcome, usable, expiry, rrsig, duration])
}

/// The metrics of a `dnssec` run.
pub fn dnssec(domain: &str, rrsets: &[RrsetReport], now: Timestamp) -> String {
    let mut status = Family::new(
        "danekit_dnssec_status",
        "DNSSEC verdict of one RRset: 1 for the verdict that holds, 0 for the others.",
    );
    let mut expiry = Family::new(
        "danekit_dnssec_rrsig_expiry_seconds",
        "Seconds until the earliest RRSIG on the path of an RRset expires.",
    );
    for r in rrsets {
        let base = vec![
            ("domain", domain.to_owned()),
            ("name", r.name.clone()),
            ("type", r.rtype.clone()),
        ];
        for w in [
            StatusWord::Secure,
            StatusWord::Insecure,
            StatusWord::Bogus,
            StatusWord::Indeterminate,
        ] {
            let mut labels = base.clone();
            labels.push(("status", w.as_str().to_owned()));
            status.push(labels, f64::from(u8::from(r.verdict == w)));
        }
        if let Some(t) = earliest_expiration(std::slice::from_ref(r)) {
            expiry.push(base, seconds_until(t, now));
        }
    }
    render(&[status, expiry])
}

/// One service of a `rollover check` run, as the metrics need it.
pub struct RolloverService<'a> {
    pub host: &'a str,
    pub port: u16,
    pub verdict: Safety,
    pub safe_after: Option<Timestamp>,
}

/// The metrics of a `rollover check` run.
pub fn rollover(services: &[RolloverService<'_>]) -> String {
    let mut state = Family::new(
        "danekit_rollover_verdict",
        "Whether swapping the certificate for the next one is safe now: 1 for the verdict that holds, 0 for the others.",
    );
    let mut after = Family::new(
        "danekit_rollover_safe_after_timestamp_seconds",
        "When waiting alone makes the swap safe (Unix time).",
    );
    for s in services {
        let base = vec![("host", s.host.to_owned()), ("port", s.port.to_string())];
        for v in [Safety::Safe, Safety::Unsafe, Safety::Indeterminate] {
            let mut labels = base.clone();
            labels.push(("verdict", v.as_str().to_owned()));
            state.push(labels, f64::from(u8::from(s.verdict == v)));
        }
        if let Some(t) = s.safe_after {
            after.push(base, t.0 as f64);
        }
    }
    render(&[state, after])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_families_end_with_eof() {
        let mut f = Family::new("danekit_test", "A test.");
        f.push(vec![("name", "a\"b\\c\nd".into())], 1.5);
        f.push(vec![], 2.0);
        assert_eq!(
            render(&[f, Family::new("danekit_empty", "Left out.")]),
            "# TYPE danekit_test gauge\n# HELP danekit_test A test.\n\
             danekit_test{name=\"a\\\"b\\\\c\\nd\"} 1.5\ndanekit_test 2\n# EOF\n"
        );
    }
}
