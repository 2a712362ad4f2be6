//! The TTL clock of a rollover (RFC 7671 §8.1, RFC 6698 appendix A.4): a new record is relied
//! upon only when every resolver cache that could hold the RRset without it has expired, that
//! is 2 × TTL after every authoritative server first served it (2 × the negative TTL of the
//! zone's SOA, RFC 2308 §5, when the name had no TLSA RRset before).
//!
//! The state file remembers, per owner name, when each record was first seen on every
//! authoritative server. It is JSON, written atomically by the caller; this module reads,
//! updates and judges it, with the time handed in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// The state file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub schema_version: u32,
    /// By owner name (fully qualified, lower case).
    pub owners: BTreeMap<String, OwnerState>,
}

/// What is known of one owner name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerState {
    /// When the owner was first seen with a TLSA RRset on every authoritative server.
    pub since: Timestamp,
    /// Each record served everywhere, by presentation form, with when it was first seen so.
    pub records: BTreeMap<String, Timestamp>,
    /// The largest TLSA TTL seen served.
    pub ttl: u32,
    /// When the state of this owner was last brought up to date.
    pub checked: Timestamp,
}

impl State {
    pub fn new() -> State {
        State {
            schema_version: 1,
            owners: BTreeMap::new(),
        }
    }

    /// Records what every authoritative server serves now at `owner`: `served` is the RRset
    /// they all serve (`None` when they do not agree or some did not answer: nothing is learnt,
    /// and records not yet known stay unknown), with its TTL.
    pub fn observe(&mut self, owner: &str, served: Option<(&[String], u32)>, now: Timestamp) {
        let Some((records, ttl)) = served else {
            return;
        };
        if records.is_empty() {
            self.owners.remove(owner);
            return;
        }
        let entry = self
            .owners
            .entry(owner.to_owned())
            .or_insert_with(|| OwnerState {
                since: now,
                records: BTreeMap::new(),
                ttl,
                checked: now,
            });
        entry.records.retain(|r, _| records.contains(r));
        for r in records {
            entry.records.entry(r.clone()).or_insert(now);
        }
        entry.ttl = entry.ttl.max(ttl);
        entry.checked = now;
    }

    /// When `record` at `owner` can be relied upon by every cache: 2 × the TLSA TTL after it
    /// was first seen everywhere, or 2 × the larger of that TTL and `negative_ttl` when it
    /// appeared with the owner's first RRset (the name may have been cached as absent, and a
    /// first observation cannot tell whether it was). `None` while it is not seen everywhere.
    pub fn ready_at(&self, owner: &str, record: &str, negative_ttl: u32) -> Option<Timestamp> {
        let o = self.owners.get(owner)?;
        let seen = *o.records.get(record)?;
        let wait = if seen <= o.since {
            o.ttl.max(negative_ttl)
        } else {
            o.ttl
        };
        Some(Timestamp(seen.0.saturating_add(2 * i64::from(wait))))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp(1_800_000_000 + s)
    }

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const O: &str = "_25._tcp.mail.example.test.";

    #[test]
    fn a_record_is_ready_two_ttls_after_it_is_seen_everywhere() {
        let mut s = State::new();
        s.observe(O, Some((&owned(&["3 1 1 aa"]), 300)), t(0));
        // First observation: the name may have been new, so the negative TTL counts too.
        assert_eq!(s.ready_at(O, "3 1 1 aa", 900), Some(t(1800)));
        s.observe(O, Some((&owned(&["3 1 1 aa", "3 1 1 bb"]), 300)), t(100));
        assert_eq!(s.ready_at(O, "3 1 1 bb", 900), Some(t(700)));
        // Not seen everywhere: no time.
        s.observe(O, None, t(200));
        assert_eq!(s.ready_at(O, "3 1 1 cc", 900), None);
        // A record that disappears and comes back starts again.
        s.observe(O, Some((&owned(&["3 1 1 aa"]), 300)), t(300));
        s.observe(O, Some((&owned(&["3 1 1 aa", "3 1 1 bb"]), 600)), t(400));
        assert_eq!(s.ready_at(O, "3 1 1 bb", 900), Some(t(400 + 1200)));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&json).unwrap(), s);
    }
}
