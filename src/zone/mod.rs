//! TLSA records as zone data: the records a services file asks for ([`plan`]), rendered as
//! master-file lines (RFC 1035 §5), `nsupdate` scripts (BIND) and `knotc` transactions (Knot
//! DNS); the TLSA records of a zone file ([`master`]); and the difference between two sets.
//!
//! Output is byte-stable: owners fully qualified and lower-case, explicit TTL and class, no
//! `$ORIGIN`, so the text can be `$INCLUDE`d anywhere. Everything written into a script is a
//! typed value (a checked domain name, numbers, hex), never raw user text. Rendering and
//! comparing are pure; reading files, writing and sending belong to the callers.

pub mod master;
pub mod plan;

use std::collections::BTreeSet;

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

/// A whole `nsupdate` script that replaces exactly the TLSA RRsets of `owners` with
/// `records`: `server` and `zone` lines when known, then per owner `update delete OWNER TLSA`
/// and its `update add` lines, then `send` (RFC 2136 §2.5, applied as one transaction).
pub fn render_nsupdate_script(
    server: Option<&str>,
    zone: Option<&Name>,
    owners: &[Name],
    records: &[ZoneRecord],
) -> String {
    let mut out = String::new();
    if let Some(server) = server {
        out.push_str(&format!("server {server}\n"));
    }
    if let Some(zone) = zone {
        out.push_str(&format!("zone {}\n", name_text(zone)));
    }
    for owner in owners {
        out.push_str(&format!("update delete {} TLSA\n", name_text(owner)));
        let mine: Vec<ZoneRecord> = records
            .iter()
            .filter(|r| &r.owner == owner)
            .cloned()
            .collect();
        out.push_str(&render_nsupdate_add(&mine));
    }
    out.push_str("send\n");
    out
}

/// A `knotc` transaction on `zone` that replaces exactly the TLSA RRsets of `owners`:
/// `zone-unset` of each, then the `zone-set` lines; a failing call aborts it. Knot answers the
/// `zone-unset` of an RRset that does not exist yet with "no such node/record"; that one
/// failure is expected and passes, any other aborts.
pub fn render_knotc_replace(zone: &Name, owners: &[Name], records: &[ZoneRecord]) -> String {
    let zone_text = name_text(zone);
    let mut unset = String::new();
    for owner in owners {
        unset.push_str(&format!(
            "out=$(knotc zone-unset {zone_text} {} TLSA 2>&1) || case $out in *\"no such\"*) ;; \
             *) printf '%s\\n' \"$out\" >&2; knotc zone-abort {zone_text}; exit 1 ;; esac\n",
            name_text(owner)
        ));
    }
    let script = render_knotc(zone, records);
    // After the zone-begin line, before the zone-set lines.
    match script.find(" || exit 1\n") {
        Some(at) => {
            let cut = at + " || exit 1\n".len();
            format!("{}{unset}{}", &script[..cut], &script[cut..])
        }
        None => script,
    }
}

/// What must change in the published RRsets to reach the planned ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub add: Vec<ZoneRecord>,
    pub remove: Vec<ZoneRecord>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// Compares the TLSA RRsets of `owners`: `planned` against `published`. Owners compare without
/// case and record data by value (hex case and spacing do not matter), in any order. With
/// `compare_ttl`, a record whose TTL changed is removed and added again; without it (answers
/// from a cache count TTLs down) only the data counts.
pub fn diff(
    owners: &[Name],
    planned: &[ZoneRecord],
    published: &[ZoneRecord],
    compare_ttl: bool,
) -> Diff {
    let managed: BTreeSet<String> = owners.iter().map(name_text).collect();
    let key = |r: &ZoneRecord| {
        (
            name_text(&r.owner),
            if compare_ttl { r.ttl } else { 0 },
            r.rdata.clone(),
        )
    };
    let want: BTreeSet<_> = planned.iter().map(key).collect();
    let have: BTreeSet<_> = published
        .iter()
        .filter(|r| managed.contains(&name_text(&r.owner)))
        .map(key)
        .collect();
    let pick = |from: &[ZoneRecord], keys: &BTreeSet<_>, other: &BTreeSet<_>| {
        let mut seen = BTreeSet::new();
        from.iter()
            .filter(|r| {
                let k = key(r);
                keys.contains(&k) && !other.contains(&k) && seen.insert(k)
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    Diff {
        add: pick(planned, &want, &have),
        remove: pick(published, &have, &want),
    }
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
    fn whole_scripts_replace_the_managed_rrsets() {
        let rs = vec![
            rec("_25._tcp.mail.example.org.", "3 1 1 00ff"),
            rec("_25._tcp.mail.example.org.", "2 1 1 aa"),
        ];
        let owners = vec![
            Name::from_ascii("_25._tcp.mail.example.org.").unwrap(),
            Name::from_ascii("_465._tcp.mail.example.org.").unwrap(),
        ];
        let zone = Name::from_ascii("example.org.").unwrap();
        assert_eq!(
            render_nsupdate_script(Some("192.0.2.53 53"), Some(&zone), &owners, &rs),
            "server 192.0.2.53 53\n\
             zone example.org.\n\
             update delete _25._tcp.mail.example.org. TLSA\n\
             update add _25._tcp.mail.example.org. 3600 IN TLSA 3 1 1 00ff\n\
             update add _25._tcp.mail.example.org. 3600 IN TLSA 2 1 1 aa\n\
             update delete _465._tcp.mail.example.org. TLSA\n\
             send\n"
        );
        let knotc = render_knotc_replace(&zone, &owners, &rs);
        let lines: Vec<&str> = knotc.lines().collect();
        assert_eq!(lines[2], "knotc zone-begin example.org. || exit 1");
        assert_eq!(
            lines[3],
            "out=$(knotc zone-unset example.org. _25._tcp.mail.example.org. TLSA 2>&1) || case $out in \
             *\"no such\"*) ;; *) printf '%s\\n' \"$out\" >&2; knotc zone-abort example.org.; exit 1 ;; esac"
        );
        assert!(lines[5].starts_with(
            "knotc zone-set example.org. _25._tcp.mail.example.org. 3600 TLSA 3 1 1 00ff"
        ));
        assert!(lines[7].starts_with("knotc zone-commit"));
    }

    #[test]
    fn diffs_ignore_case_order_and_hex_spelling() {
        let owners = vec![Name::from_ascii("_25._tcp.a.").unwrap()];
        let planned = vec![
            rec("_25._tcp.a.", "3 1 1 00FF"),
            rec("_25._tcp.a.", "2 1 1 aa"),
        ];
        let published = vec![
            rec("_25._TCP.A.", "2 1 1 AA"),
            rec("_25._tcp.a.", "3 1 1 0011"),
            rec("_25._tcp.other.", "3 1 1 99"),
        ];
        let d = diff(&owners, &planned, &published, true);
        assert_eq!(d.add, vec![rec("_25._tcp.a.", "3 1 1 00ff")]);
        assert_eq!(d.remove, vec![rec("_25._TCP.A.", "3 1 1 0011")]);
        let same = diff(
            &owners,
            &planned,
            &[planned[1].clone(), planned[0].clone()],
            true,
        );
        assert!(same.is_empty());
        let mut longer = planned.clone();
        longer[0].ttl = 60;
        assert_eq!(diff(&owners, &planned, &longer, true).add.len(), 1);
        assert!(diff(&owners, &planned, &longer, false).is_empty());
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
