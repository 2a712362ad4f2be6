//! Rendering TLSA records as master-file lines (RFC 1035 §5), `nsupdate` commands (BIND) and
//! `knotc` transactions (Knot DNS).
//!
//! Output is byte-stable: owners fully qualified and lower-case, explicit TTL and class, no
//! `$ORIGIN`, so the text can be `$INCLUDE`d anywhere. Rendering is pure; writing and sending
//! belong to the callers.

use crate::tlsa::Rdata;

/// One resource record to publish.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ZoneRecord {
    /// Fully qualified owner, lower-case, with the trailing dot.
    pub owner: String,
    pub ttl: u32,
    pub rdata: Rdata,
}

/// Drops repeated (owner, rdata) pairs, keeping the first. An RRset is a set (RFC 2181 §5);
/// zone checkers warn on duplicates.
pub fn dedup(records: &[ZoneRecord]) -> Vec<ZoneRecord> {
    let mut seen = std::collections::HashSet::new();
    records
        .iter()
        .filter(|r| seen.insert((r.owner.clone(), r.rdata.clone())))
        .cloned()
        .collect()
}

/// `OWNER TTL IN TLSA U S M HEX` lines.
pub fn render_zone(records: &[ZoneRecord]) -> String {
    records
        .iter()
        .map(|r| format!("{} {} IN TLSA {}\n", r.owner, r.ttl, r.rdata))
        .collect()
}

/// `update add OWNER TTL IN TLSA …` lines for `nsupdate`; the caller's script adds `server`,
/// `zone` and `send` (nsupdate also sends what is pending at the end of its input).
pub fn render_nsupdate_add(records: &[ZoneRecord]) -> String {
    records
        .iter()
        .map(|r| format!("update add {} {} IN TLSA {}\n", r.owner, r.ttl, r.rdata))
        .collect()
}

/// A `knotc` transaction that adds the records to `zone`: `zone-begin`, one `zone-set` per
/// record, `zone-commit`. If a `zone-set` fails, run `knotc zone-abort ZONE` before retrying.
pub fn render_knotc(zone: &str, records: &[ZoneRecord]) -> String {
    let mut out = format!("knotc zone-begin {zone}\n");
    for r in records {
        out.push_str(&format!(
            "knotc zone-set {zone} {} {} TLSA {}\n",
            r.owner, r.ttl, r.rdata
        ));
    }
    out.push_str(&format!("knotc zone-commit {zone}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(owner: &str, rdata: &str) -> ZoneRecord {
        ZoneRecord {
            owner: owner.into(),
            ttl: 3600,
            rdata: rdata.parse().unwrap(),
        }
    }

    #[test]
    fn formats() {
        let rs = vec![rec("_25._tcp.mail.example.org.", "3 1 1 00ff")];
        assert_eq!(
            render_zone(&rs),
            "_25._tcp.mail.example.org. 3600 IN TLSA 3 1 1 00ff\n"
        );
        assert_eq!(
            render_nsupdate_add(&rs),
            "update add _25._tcp.mail.example.org. 3600 IN TLSA 3 1 1 00ff\n"
        );
        assert_eq!(
            render_knotc("example.org.", &rs),
            "knotc zone-begin example.org.\n\
             knotc zone-set example.org. _25._tcp.mail.example.org. 3600 TLSA 3 1 1 00ff\n\
             knotc zone-commit example.org.\n"
        );
    }

    #[test]
    fn dedup_keeps_first_of_each() {
        let rs = vec![
            rec("_25._tcp.a.", "3 1 1 00"),
            rec("_25._tcp.a.", "3 1 1 00"),
            rec("_25._tcp.b.", "3 1 1 00"),
        ];
        assert_eq!(dedup(&rs).len(), 2);
    }
}
