//! The steps of a rollover (RFC 7671 §8.1): publish the next record beside the current one,
//! wait until every cache holds it, deploy the next certificate, then remove the records of the
//! old key. Each step carries the RRset after it and the earliest time to take it; the times
//! never decrease.

use hickory_proto::rr::Name;
use serde::{Deserialize, Serialize};

use crate::time::Timestamp;
use crate::tlsa::{Rdata, Usage};
use crate::zone::{ZoneRecord, render_knotc_replace, render_nsupdate_script, render_zone};

/// How a step's DNS change is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fragment {
    /// Zone-file lines of the whole RRset after the step.
    Zone,
    /// An `nsupdate` script replacing the RRset.
    Nsupdate,
    /// A `knotc` transaction replacing the RRset.
    Knotc,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// `publish`, `deploy` or `remove`.
    pub action: String,
    pub host: String,
    pub port: u16,
    /// The TLSA RRset once the step is taken (empty for `deploy`, which changes no DNS data).
    pub records: Vec<String>,
    /// The change, written as asked (`--fragment`); empty for `deploy`.
    pub fragment: String,
    pub earliest: Timestamp,
    /// What to do, in a sentence.
    pub note: String,
}

/// What the plan of one service starts from.
pub struct PlanInput<'a> {
    pub host: String,
    pub port: u16,
    pub owner: &'a Name,
    pub zone: Option<&'a Name>,
    pub ttl: u32,
    /// The records of the chain served now, for the service's parameter sets.
    pub current: &'a [Rdata],
    /// The records of the next chain or key, for the sets it can give.
    pub next: &'a [Rdata],
    /// The records published now (served everywhere, or through the resolvers).
    pub published: &'a [Rdata],
    /// 2 × the larger of the TTL and the negative TTL: the wait after publishing.
    pub wait: u32,
    /// When the judgement says the swap is safe (`now` when it is safe now), if waiting alone
    /// gets there.
    pub safe_after: Option<Timestamp>,
    pub now: Timestamp,
    pub fragment: Fragment,
}

fn rendered(input: &PlanInput<'_>, records: &[Rdata]) -> String {
    let zrs: Vec<ZoneRecord> = records
        .iter()
        .map(|r| ZoneRecord {
            owner: input.owner.clone(),
            ttl: input.ttl,
            rdata: r.clone(),
        })
        .collect();
    let owners = std::slice::from_ref(input.owner);
    match (input.fragment, input.zone) {
        (Fragment::Zone, _) => render_zone(&zrs),
        (Fragment::Nsupdate, zone) => render_nsupdate_script(None, zone, owners, &zrs),
        (Fragment::Knotc, Some(zone)) => render_knotc_replace(zone, owners, &zrs),
        (Fragment::Knotc, None) => render_zone(&zrs),
    }
}

/// The steps of one service, in order.
pub fn steps(input: &PlanInput<'_>) -> Vec<Step> {
    let mut target: Vec<Rdata> = Vec::new();
    for r in input.current.iter().chain(input.next) {
        if !target.contains(r) {
            target.push(r.clone());
        }
    }
    let mut out = Vec::new();
    let missing: Vec<&Rdata> = target
        .iter()
        .filter(|r| !input.published.contains(r))
        .collect();
    let text = |rs: &[Rdata]| rs.iter().map(ToString::to_string).collect::<Vec<_>>();
    let deploy_at = if missing.is_empty() {
        input
            .safe_after
            .unwrap_or_else(|| Timestamp(input.now.0.saturating_add(i64::from(input.wait))))
            .max(input.now)
    } else {
        out.push(Step {
            action: "publish".into(),
            host: input.host.clone(),
            port: input.port,
            records: text(&target),
            fragment: rendered(input, &target),
            earliest: input.now,
            note: format!(
                "publish {} beside the current records, on every authoritative server",
                missing
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
        Timestamp(input.now.0.saturating_add(i64::from(input.wait)))
    };
    out.push(Step {
        action: "deploy".into(),
        host: input.host.clone(),
        port: input.port,
        records: Vec::new(),
        fragment: String::new(),
        earliest: deploy_at,
        note: "install the next certificate (once `danekit rollover check` says safe), then run `danekit verify`".into(),
    });
    let old: Vec<&Rdata> = input
        .current
        .iter()
        .filter(|r| matches!(r.params.usage, Usage::DaneEe | Usage::PkixEe))
        .filter(|r| !input.next.contains(r))
        .collect();
    if !old.is_empty() && !input.next.is_empty() {
        let after: Vec<Rdata> = target
            .iter()
            .filter(|r| !old.contains(r))
            .cloned()
            .collect();
        out.push(Step {
            action: "remove".into(),
            host: input.host.clone(),
            port: input.port,
            records: text(&after),
            fragment: rendered(input, &after),
            earliest: deploy_at,
            note: format!(
                "once the next certificate is served everywhere, remove {}",
                old.iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rd(t: &str) -> Rdata {
        t.parse().unwrap()
    }

    #[test]
    fn publish_wait_deploy_remove_in_order() {
        let owner = Name::from_ascii("_25._tcp.mail.example.test.").unwrap();
        let cur = rd(&format!("3 1 1 {}", "aa".repeat(32)));
        let ta = rd(&format!("2 1 1 {}", "cc".repeat(32)));
        let next = rd(&format!("3 1 1 {}", "bb".repeat(32)));
        let now = Timestamp(1_800_000_000);
        let input = PlanInput {
            host: "mail.example.test.".into(),
            port: 25,
            owner: &owner,
            zone: None,
            ttl: 3600,
            current: &[cur.clone(), ta.clone()],
            next: std::slice::from_ref(&next),
            published: &[cur.clone(), ta.clone()],
            wait: 7200,
            safe_after: None,
            now,
            fragment: Fragment::Zone,
        };
        let s = steps(&input);
        let actions: Vec<&str> = s.iter().map(|x| x.action.as_str()).collect();
        assert_eq!(actions, ["publish", "deploy", "remove"]);
        assert_eq!(s[0].earliest, now);
        assert_eq!(s[1].earliest, Timestamp(now.0 + 7200));
        assert_eq!(s[2].earliest, s[1].earliest);
        assert_eq!(
            s[0].fragment,
            format!(
                "_25._tcp.mail.example.test. 3600 IN TLSA {cur}\n\
                 _25._tcp.mail.example.test. 3600 IN TLSA {ta}\n\
                 _25._tcp.mail.example.test. 3600 IN TLSA {next}\n"
            )
        );
        assert_eq!(s[2].records, vec![ta.to_string(), next.to_string()]);

        // Already published and judged safe at a time: no publish step, deploy then.
        let later = Timestamp(now.0 + 600);
        let input = PlanInput {
            published: &[cur.clone(), ta.clone(), next.clone()],
            safe_after: Some(later),
            ..input
        };
        let s = steps(&input);
        let actions: Vec<&str> = s.iter().map(|x| x.action.as_str()).collect();
        assert_eq!(actions, ["deploy", "remove"]);
        assert_eq!(s[0].earliest, later);
    }
}
