//! Host names and `HOST[:PORT]` addresses as users write them, checked once and then typed.
//!
//! [`parse_host_name`] accepts what can stand in a TLSA owner name, an SNI or an `EHLO`: an
//! ASCII domain name of letter-digit-hyphen labels (underscores tolerated), never an IP
//! literal, a wildcard or a non-ASCII name (for which it suggests the A-label). [`HostPort`] is
//! the one parser for `HOST[:PORT]`, `[IPV6]:PORT` and bare addresses. The messages speak of
//! the value, never of a command-line flag, because service files reach the same code.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use hickory_proto::rr::Name;
use thiserror::Error;

use crate::text;

/// The longest domain name in presentation form without the final dot (RFC 1035 §2.3.4).
const MAX_NAME: usize = 253;

/// Why a host name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HostError {
    #[error("the host name is empty")]
    Empty,
    #[error("{0} is an IP address; a host name is needed here")]
    IpLiteral(String),
    #[error("\"{0}\" is a wildcard; a single host name is needed here")]
    Wildcard(String),
    #[error("\"{name}\" is not ASCII; use its A-label {a_label}")]
    Idn { name: String, a_label: String },
    #[error("\"{0}\" is not ASCII and has no A-label")]
    NotAscii(String),
    #[error("\"{name}\" is not a valid host name: {reason}")]
    Invalid { name: String, reason: &'static str },
}

/// Checks `text` as a host name and returns it fully qualified and lower-case.
pub fn parse_host_name(text: &str) -> Result<Name, HostError> {
    let shown = text::clip(text);
    let trimmed = text.strip_suffix('.').unwrap_or(text);
    if trimmed.is_empty() {
        return Err(HostError::Empty);
    }
    if trimmed.parse::<IpAddr>().is_ok()
        || trimmed
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .is_some_and(|t| t.parse::<IpAddr>().is_ok())
    {
        return Err(HostError::IpLiteral(shown));
    }
    if !trimmed.is_ascii() {
        return Err(match Name::from_utf8(trimmed) {
            Ok(name) if name.to_ascii().is_ascii() => HostError::Idn {
                name: shown,
                a_label: name.to_ascii().trim_end_matches('.').to_owned(),
            },
            _ => HostError::NotAscii(shown),
        });
    }
    let invalid = |reason| HostError::Invalid {
        name: shown.clone(),
        reason,
    };
    if trimmed.len() > MAX_NAME {
        return Err(invalid("it is longer than 253 characters"));
    }
    for label in trimmed.split('.') {
        if label == "*" || label.contains('*') {
            return Err(HostError::Wildcard(shown));
        }
        if label.is_empty() {
            return Err(invalid("it has an empty label"));
        }
        if label.len() > 63 {
            return Err(invalid("a label is longer than 63 characters"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a label starts or ends with a hyphen"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "only letters, digits, hyphens and dots are allowed",
            ));
        }
    }
    let fqdn = format!("{}.", trimmed.to_ascii_lowercase());
    Name::from_ascii(&fqdn).map_err(|_| invalid("it is not a domain name"))
}

/// True when [`parse_host_name`] accepts `text`.
pub fn is_host_name(text: &str) -> bool {
    parse_host_name(text).is_ok()
}

/// A domain name in presentation form, fully qualified, lower-case.
pub fn name_text(name: &Name) -> String {
    let text = name.to_lowercase().to_ascii();
    if text.ends_with('.') {
        text
    } else {
        format!("{text}.")
    }
}

/// The host part of an address: a checked domain name or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Name(Name),
    Ip(IpAddr),
}

impl Host {
    /// The name, when the host is one.
    pub fn name(&self) -> Option<&Name> {
        match self {
            Host::Name(n) => Some(n),
            Host::Ip(_) => None,
        }
    }
}

impl fmt::Display for Host {
    /// `mail.example.org` (no final dot), `192.0.2.1`, `2001:db8::1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(name_text(n).trim_end_matches('.')),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// `HOST[:PORT]`: a domain name or an IP address, with an optional port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: Host,
    pub port: Option<u16>,
}

impl HostPort {
    /// `host:port` as it should be shown, with IPv6 in brackets.
    pub fn display_with(&self, port: u16) -> String {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            host => format!("{host}:{port}"),
        }
    }
}

/// Why a `HOST[:PORT]` was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HostPortError {
    #[error("\"{0}\": write an IPv6 address in brackets, as [2001:db8::1]:25")]
    UnbracketedV6(String),
    #[error("\"{0}\": expected ] after the IPv6 address")]
    Bracket(String),
    #[error("\"{0}\": the port is not a number from 1 to 65535")]
    Port(String),
    #[error("\"{0}\": the host is empty")]
    Empty(String),
    #[error("{error}")]
    Host { text: String, error: HostError },
}

fn parse_port(text: &str, whole: &str) -> Result<u16, HostPortError> {
    text.parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| HostPortError::Port(text::clip(whole)))
}

impl FromStr for HostPort {
    type Err = HostPortError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let shown = || text::clip(text);
        if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest
                .split_once(']')
                .ok_or_else(|| HostPortError::Bracket(shown()))?;
            let ip = inside
                .parse::<IpAddr>()
                .map_err(|_| HostPortError::Bracket(shown()))?;
            let port = match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(p) => Some(parse_port(p, text)?),
                    None => return Err(HostPortError::Bracket(shown())),
                },
            };
            return Ok(HostPort {
                host: Host::Ip(ip),
                port,
            });
        }
        if text.matches(':').count() > 1 {
            return Err(HostPortError::UnbracketedV6(shown()));
        }
        let (host, port) = match text.split_once(':') {
            Some((h, p)) => (h, Some(parse_port(p, text)?)),
            None => (text, None),
        };
        if host.is_empty() {
            return Err(HostPortError::Empty(shown()));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(HostPort {
                host: Host::Ip(ip),
                port,
            });
        }
        let name = parse_host_name(host).map_err(|error| HostPortError::Host {
            text: shown(),
            error,
        })?;
        Ok(HostPort {
            host: Host::Name(name),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(text: &str) -> (String, Option<u16>) {
        let v: HostPort = text.parse().unwrap();
        (v.host.to_string(), v.port)
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(hp("mail.example.org"), ("mail.example.org".into(), None));
        assert_eq!(
            hp("Mail.Example.ORG.:587"),
            ("mail.example.org".into(), Some(587))
        );
        assert_eq!(hp("127.0.0.1:2525"), ("127.0.0.1".into(), Some(2525)));
        assert_eq!(hp("[::1]:25"), ("::1".into(), Some(25)));
        assert_eq!(hp("[2001:db8::1]"), ("2001:db8::1".into(), None));
        let v6: HostPort = "[::1]:25".parse().unwrap();
        assert_eq!(v6.display_with(25), "[::1]:25");
    }

    #[test]
    fn host_port_errors_are_input_errors() {
        for (text, message) in [
            (
                "::1:25",
                "\"::1:25\": write an IPv6 address in brackets, as [2001:db8::1]:25",
            ),
            (
                "::1",
                "\"::1\": write an IPv6 address in brackets, as [2001:db8::1]:25",
            ),
            (
                "host:0",
                "\"host:0\": the port is not a number from 1 to 65535",
            ),
            (
                "host:smtp",
                "\"host:smtp\": the port is not a number from 1 to 65535",
            ),
            (":25", "\":25\": the host is empty"),
            ("[::1", "\"[::1\": expected ] after the IPv6 address"),
            ("[::1]25", "\"[::1]25\": expected ] after the IPv6 address"),
            (
                "bad_name!:25",
                "\"bad_name!\" is not a valid host name: only letters, digits, hyphens and \
                 dots are allowed",
            ),
        ] {
            assert_eq!(
                text.parse::<HostPort>().unwrap_err().to_string(),
                message,
                "{text}"
            );
        }
    }

    #[test]
    fn host_names() {
        assert_eq!(
            name_text(&parse_host_name("Mail.Example.TEST.").unwrap()),
            "mail.example.test."
        );
        assert!(is_host_name("a-b.example"));
        assert!(is_host_name("_dmarc.example"));
        for bad in [
            "",
            ".",
            "a..b",
            "-a.example",
            "a-.example",
            "mail example",
            "*.example",
        ] {
            assert!(parse_host_name(bad).is_err(), "{bad:?}");
        }
        assert!(!is_host_name(&format!("{}.example", "a".repeat(64))));
        assert_eq!(
            parse_host_name("a.*.example").unwrap_err(),
            HostError::Wildcard("a.*.example".into())
        );
        assert_eq!(
            parse_host_name("192.0.2.1").unwrap_err().to_string(),
            "192.0.2.1 is an IP address; a host name is needed here"
        );
        assert_eq!(
            parse_host_name("[2001:db8::1]").unwrap_err().to_string(),
            "[2001:db8::1] is an IP address; a host name is needed here"
        );
        assert_eq!(
            parse_host_name("bücher.example").unwrap_err().to_string(),
            "\"bücher.example\" is not ASCII; use its A-label xn--bcher-kva.example"
        );
    }
}
