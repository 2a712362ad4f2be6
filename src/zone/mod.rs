//! Rendering TLSA records as master-file lines (RFC 1035 §5), `nsupdate` commands (BIND) and
//! `knotc` transactions (Knot DNS).
//!
//! Output is byte-stable: owners fully qualified and lower-case, explicit TTL and class, no
//! `$ORIGIN`, so the text can be `$INCLUDE`d anywhere. Everything written into a script is a
//! typed value (a checked domain name, numbers, hex), never raw user text. Rendering is pure;
//! writing and sending belong to the callers.

use hickory_proto::rr::Name;

use crate::addr::name_text;
use crate::tlsa::Rdata;

/// One resource record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRecord {
    pub owner: Name,
    pub ttl: u32,
    pub rdata: Rdata,
}

/// Drops repeated (owner, rdata) pairs, keeping the first. An RRset is a set (RFC 2181 §5);
/// zone checkers warn on duplicates.
pub fn dedup(records: &[ZoneRecord]) -> Vec<ZoneRecord> {
    let mut seen = std::collections::HashSet::new();
    records
        .iter()
        .filter(|r| seen.insert((name_text(&r.owner), r.rdata.clone())))
        .cloned()
        .collect()
}

/// `OWNER TTL IN TLSA U S M HEX` lines.
pub fn render_zone(records: &[ZoneRecord]) -> String {
    records
        .iter()
        .map(|r| format!("{} {} IN TLSA {}\n", name_text(&r.owner), r.ttl, r.rdata))
        .collect()
}

/// `update add OWNER TTL IN TLSA …` lines for `nsupdate`; the caller's script adds `server`,
/// `zone` and `send` (nsupdate also sends what is pending at the end of its input).
pub fn render_nsupdate_add(records: &[ZoneRecord]) -> String {
    records
        .iter()
        .map(|r| {
            format!(
                "update add {} {} IN TLSA {}\n",
                name_text(&r.owner),
                r.ttl,
                r.rdata
            )
        })
        .collect()
}

/// A shell script that adds the records to `zone` in one `knotc` transaction: `zone-begin`,
/// one `zone-set` per record, `zone-commit`. The first call that fails stops the script; once
/// the transaction is open, a failure aborts it (`zone-abort`) so nothing is committed.
pub fn render_knotc(zone: &Name, records: &[ZoneRecord]) -> String {
    let zone = name_text(zone);
    let mut out = format!(
        "#!/bin/sh\n\
         # One knotc transaction on {zone}: nothing is committed unless every step succeeds.\n\
         knotc zone-begin {zone} || exit 1\n"
    );
    for r in records {
        out.push_str(&format!(
            "knotc zone-set {zone} {} {} TLSA {} || {{ knotc zone-abort {zone}; exit 1; }}\n",
            name_text(&r.owner),
            r.ttl,
            r.rdata
        ));
    }
    out.push_str(&format!(
        "knotc zone-commit {zone} || {{ knotc zone-abort {zone}; exit 1; }}\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(owner: &str, rdata: &str) -> ZoneRecord {
        ZoneRecord {
            owner: Name::from_ascii(owner).unwrap(),
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
            render_knotc(&Name::from_ascii("example.org.").unwrap(), &rs),
            "#!/bin/sh\n\
             # One knotc transaction on example.org.: nothing is committed unless every step succeeds.\n\
             knotc zone-begin example.org. || exit 1\n\
             knotc zone-set example.org. _25._tcp.mail.example.org. 3600 TLSA 3 1 1 00ff || { knotc zone-abort example.org.; exit 1; }\n\
             knotc zone-commit example.org. || { knotc zone-abort example.org.; exit 1; }\n"
        );
    }

    #[test]
    fn dedup_keeps_first_of_each() {
        let rs = vec![
            rec("_25._tcp.a.", "3 1 1 00"),
            rec("_25._tcp.A.", "3 1 1 00"),
            rec("_25._tcp.b.", "3 1 1 00"),
        ];
        assert_eq!(dedup(&rs).len(), 2);
    }
}
