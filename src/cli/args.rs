//! Value parsers for the command line: each flag's text becomes a typed value or a one-line
//! reason, before any command runs.

use std::time::Duration;

use hickory_proto::rr::Name;

use crate::addr;
use crate::env::MAX_WAIT;
use crate::report::Timestamp;
use crate::tlsa::report::MAX_TTL;
use crate::tlsa::{Matching, ParamSet, Selector, Usage};

/// `500ms`, `5s`, `2m`, `1h`, `7d`, or bare seconds; more than zero and at most a day.
pub fn duration(text: &str) -> Result<Duration, String> {
    let bad = || "expected a duration such as 5s, 500ms or 2m".to_owned();
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = |k: u64| n.checked_mul(k).map(Duration::from_secs);
    let d = match unit {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86400),
        _ => return Err(bad()),
    };
    match d {
        Some(d) if d.is_zero() => Err("must be more than zero".into()),
        Some(d) if d <= MAX_WAIT => Ok(d),
        _ => Err("must be at most 24h".into()),
    }
}

/// A look-ahead window such as `7d` or `12h`: more than zero and at most ten years.
pub fn window(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let bad = || "expected a duration such as 7d, 12h or 30m".to_owned();
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return Err(bad()),
    };
    match n.checked_mul(unit_secs) {
        Some(0) => Err("must be more than zero".into()),
        Some(s) if s <= 3650 * 86400 => Ok(Duration::from_secs(s)),
        _ => Err("must be at most 3650d".into()),
    }
}

/// A record type by mnemonic (`TLSA`, `mx`) or as `TYPE52`.
pub fn record_type(text: &str) -> Result<hickory_proto::rr::RecordType, String> {
    use hickory_proto::rr::RecordType;
    let upper = text.trim().to_ascii_uppercase();
    let rtype = match upper.strip_prefix("TYPE") {
        Some(number) if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => number
            .parse::<u16>()
            .map(RecordType::from)
            .map_err(|_| "a record type number is at most 65535".to_owned())?,
        _ => upper
            .parse::<RecordType>()
            .map_err(|_| format!("unknown record type {}", crate::text::clip(text)))?,
    };
    match rtype {
        RecordType::ANY | RecordType::AXFR | RecordType::IXFR | RecordType::OPT => {
            Err(format!("{rtype} is not an RRset that can be validated"))
        }
        t if u16::from(t) == 0 => Err("type 0 is not an RRset".into()),
        t => Ok(t),
    }
}

/// RFC 3339 or Unix seconds.
pub fn time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text)
        .ok_or_else(|| "expected RFC 3339 (2026-12-01T12:00:00Z) or Unix seconds".into())
}

fn assigned<T, F>(text: &str, parse: F) -> Result<T, String>
where
    F: FnOnce(&str) -> Result<T, crate::tlsa::ParseError>,
{
    parse(text).map_err(|e| e.to_string())
}

pub fn usage(text: &str) -> Result<Usage, String> {
    let u: Usage = assigned(text, str::parse)?;
    ParamSet::new(u, Selector::Spki, Matching::Sha256)
        .check_assigned()
        .map(|p| p.usage)
        .map_err(|e| e.to_string())
}

pub fn selector(text: &str) -> Result<Selector, String> {
    let s: Selector = assigned(text, str::parse)?;
    ParamSet::new(Usage::DaneEe, s, Matching::Sha256)
        .check_assigned()
        .map(|p| p.selector)
        .map_err(|e| e.to_string())
}

pub fn matching(text: &str) -> Result<Matching, String> {
    let m: Matching = assigned(text, str::parse)?;
    ParamSet::new(Usage::DaneEe, Selector::Spki, m)
        .check_assigned()
        .map(|p| p.matching)
        .map_err(|e| e.to_string())
}

/// A list of parameter sets given as one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamList(pub Vec<ParamSet>);

/// `"3 1 1, 2 1 1"`: one or more assigned parameter sets.
pub fn records(text: &str) -> Result<ParamList, String> {
    let sets = ParamSet::parse_list(text).map_err(|e| e.to_string())?;
    if sets.is_empty() {
        return Err("no parameter set given".into());
    }
    sets.into_iter()
        .map(|p| p.check_assigned().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map(ParamList)
}

/// A host name for an owner name or SNI.
pub fn host(text: &str) -> Result<Name, String> {
    addr::parse_host_name(text).map_err(|e| e.to_string())
}

pub fn ttl(text: &str) -> Result<u32, String> {
    match text.parse::<u64>() {
        Ok(n) if n <= u64::from(MAX_TTL) => Ok(n as u32),
        Ok(_) => Err("a TTL is at most 2147483647 (RFC 2181 §8)".into()),
        Err(_) => Err("expected a number of seconds".into()),
    }
}

pub fn port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(0) => Err("port 0 cannot be in an owner name or be connected to".into()),
        Ok(p) => Ok(p),
        Err(_) => Err("expected a port from 1 to 65535".into()),
    }
}

/// An `EHLO` argument: a host name or an address literal (RFC 5321 §4.1.3).
pub fn ehlo(text: &str) -> Result<String, String> {
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let ip = inner.strip_prefix("IPv6:").unwrap_or(inner);
        return match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(_)) if inner.starts_with("IPv6:") => Ok(text.to_owned()),
            Ok(std::net::IpAddr::V4(_)) if !inner.starts_with("IPv6:") => Ok(text.to_owned()),
            _ => Err("expected a host name, [192.0.2.1] or [IPv6:2001:db8::1]".into()),
        };
    }
    addr::parse_host_name(text)
        .map(|n| addr::name_text(&n).trim_end_matches('.').to_owned())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_record_types() {
        assert_eq!(window("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(window("2w"), Ok(Duration::from_secs(14 * 86400)));
        assert_eq!(window("0d"), Err("must be more than zero".into()));
        assert_eq!(window("3651d"), Err("must be at most 3650d".into()));
        assert!(window("7 days").is_err());
        use hickory_proto::rr::RecordType;
        assert_eq!(record_type("tlsa"), Ok(RecordType::TLSA));
        assert_eq!(record_type("TYPE52"), Ok(RecordType::TLSA));
        assert_eq!(record_type("MX"), Ok(RecordType::MX));
        assert!(record_type("ANY").is_err());
        assert!(record_type("TYPE0").is_err());
        assert!(record_type("NOPE").is_err());
        assert!(record_type("TYPE99999").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(duration("3"), Ok(Duration::from_secs(3)));
        assert!(duration("0s").is_err());
        assert!(duration("5 parsecs").is_err());
        assert!(duration("").is_err());
        assert_eq!(duration("2d"), Err("must be at most 24h".into()));
        assert_eq!(
            duration("9300000000000000000s"),
            Err("must be at most 24h".into())
        );
        assert_eq!(
            duration("99999999999999999999999s"),
            Err("expected a duration such as 5s, 500ms or 2m".into())
        );
    }

    #[test]
    fn ttls_rfc_2181_section_8() {
        assert_eq!(ttl("0"), Ok(0));
        assert_eq!(ttl("2147483647"), Ok(MAX_TTL));
        assert!(ttl("2147483648").is_err());
        assert!(ttl("-1").is_err());
    }

    #[test]
    fn ehlo_names() {
        assert_eq!(ehlo("Mail.Example.ORG"), Ok("mail.example.org".into()));
        assert_eq!(ehlo("[192.0.2.1]"), Ok("[192.0.2.1]".into()));
        assert_eq!(ehlo("[IPv6:2001:db8::1]"), Ok("[IPv6:2001:db8::1]".into()));
        assert!(ehlo("[2001:db8::1]").is_err());
        assert!(ehlo("bad name").is_err());
        assert!(ehlo("192.0.2.1").is_err());
    }
}
