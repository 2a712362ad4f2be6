//! TLSA owner names: `_PORT._PROTO.BASE.` (RFC 6698 §3).

use std::fmt;
use std::str::FromStr;

use hickory_proto::rr::Name;
use thiserror::Error;

/// The transport label of a TLSA owner name (RFC 6698 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Proto {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

impl FromStr for Proto {
    type Err = OwnerError;
    fn from_str(s: &str) -> Result<Self, OwnerError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Ok(Proto::Sctp),
            _ => Err(OwnerError::Proto(s.to_string())),
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OwnerError {
    #[error("protocol {0:?} is not tcp, udp or sctp")]
    Proto(String),
    #[error("host {host:?} is not a valid domain name: {reason}")]
    Host { host: String, reason: String },
    #[error("host {0:?} is a wildcard; TLSA records are published per host name")]
    Wildcard(String),
}

/// Builds the fully qualified, lower-case owner `_PORT._PROTO.HOST.`.
pub fn owner_name(port: u16, proto: Proto, host: &str) -> Result<String, OwnerError> {
    let bad = |reason: String| OwnerError::Host {
        host: host.to_string(),
        reason,
    };
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    if trimmed.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if trimmed.split('.').any(|l| l == "*") {
        return Err(OwnerError::Wildcard(host.to_string()));
    }
    if let Some(c) = trimmed
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_' || *c == '.'))
    {
        return Err(bad(format!("character {c:?} is not allowed")));
    }
    let fqdn = format!("_{port}._{proto}.{}.", trimmed.to_ascii_lowercase());
    Name::from_ascii(&fqdn).map_err(|e| bad(e.to_string()))?;
    if trimmed.split('.').any(str::is_empty) {
        return Err(bad("it has an empty label".into()));
    }
    Ok(fqdn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_names_are_fully_qualified_and_lower_case() {
        assert_eq!(
            owner_name(25, Proto::Tcp, "Mail.Example.ORG").unwrap(),
            "_25._tcp.mail.example.org."
        );
        assert_eq!(
            owner_name(853, Proto::Udp, "dns.example.").unwrap(),
            "_853._udp.dns.example."
        );
        assert_eq!(
            owner_name(5061, "SCTP".parse().unwrap(), "sip.example").unwrap(),
            "_5061._sctp.sip.example."
        );
    }

    #[test]
    fn bad_hosts_are_refused() {
        assert!(matches!(
            owner_name(25, Proto::Tcp, "*.example.org"),
            Err(OwnerError::Wildcard(_))
        ));
        assert!(owner_name(25, Proto::Tcp, "").is_err());
        assert!(owner_name(25, Proto::Tcp, "a..b").is_err());
        assert!(owner_name(25, Proto::Tcp, "mail example").is_err());
        let long = format!("{}.example", "a".repeat(64));
        assert!(owner_name(25, Proto::Tcp, &long).is_err());
        assert!("quic".parse::<Proto>().is_err());
    }
}
