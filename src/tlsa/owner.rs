//! TLSA owner names: `_PORT._PROTO.BASE.` (RFC 6698 §3), and the choice of the base host when
//! the caller does not name one.

use std::fmt;
use std::str::FromStr;

use hickory_proto::rr::Name;
use thiserror::Error;

use crate::addr::{self, Host, name_text};
use crate::pki::Input;
use crate::report::Finding;

/// The transport label of a TLSA owner name (RFC 6698 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
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
            _ => Err(OwnerError::Proto(crate::text::clip(s))),
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
    #[error("port 0 cannot be in an owner name")]
    PortZero,
    #[error("the owner name _{port}._{proto}.{host} is longer than 255 octets")]
    TooLong {
        port: u16,
        proto: Proto,
        host: String,
    },
}

/// The fully qualified, lower-case owner `_PORT._PROTO.HOST.` for a checked host name.
pub fn owner_name(port: u16, proto: Proto, host: &Name) -> Result<Name, OwnerError> {
    if port == 0 {
        return Err(OwnerError::PortZero);
    }
    let host = name_text(host);
    Name::from_ascii(format!("_{port}._{proto}.{host}")).map_err(|_| OwnerError::TooLong {
        port,
        proto,
        host,
    })
}

/// The host of the owner name: `explicit` if given, else the server's name, else the first
/// DNS name of a leaf certificate that is a valid host name (wildcards, IP addresses and
/// non-ASCII names are skipped), reported so that an operator can check it. `None` when no
/// host is known.
pub fn choose_host(
    explicit: Option<&Name>,
    server: Option<&Host>,
    inputs: &[Input],
) -> (Option<Name>, Vec<Finding>) {
    if let Some(name) = explicit {
        return (Some(name.clone()), Vec::new());
    }
    if let Some(Host::Name(name)) = server {
        return (Some(name.clone()), Vec::new());
    }
    for input in inputs {
        let Some(leaf) = input.leaf() else { continue };
        if let Some(name) = leaf
            .dns_names
            .iter()
            .find_map(|n| addr::parse_host_name(n).ok())
        {
            let shown = name_text(&name);
            let finding = Finding::warning(
                "owner-from-certificate",
                input.name.clone(),
                format!(
                    "owner host taken from the certificate's first DNS name that is a host \
                     name, {}; name the host to choose another",
                    shown.trim_end_matches('.')
                ),
            )
            .with("host", &shown);
            return (Some(name), vec![finding]);
        }
    }
    (None, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> Name {
        addr::parse_host_name(s).unwrap()
    }

    #[test]
    fn owner_names_are_fully_qualified_and_lower_case() {
        assert_eq!(
            name_text(&owner_name(25, Proto::Tcp, &host("Mail.Example.ORG")).unwrap()),
            "_25._tcp.mail.example.org."
        );
        assert_eq!(
            name_text(&owner_name(853, Proto::Udp, &host("dns.example.")).unwrap()),
            "_853._udp.dns.example."
        );
        assert_eq!(
            name_text(&owner_name(5061, "SCTP".parse().unwrap(), &host("sip.example")).unwrap()),
            "_5061._sctp.sip.example."
        );
        assert_eq!(
            owner_name(0, Proto::Tcp, &host("a.example")),
            Err(OwnerError::PortZero)
        );
        assert!("quic".parse::<Proto>().is_err());
    }

    #[test]
    fn owner_names_longer_than_255_octets_are_refused() {
        let label = "a".repeat(63);
        let long = host(&format!("{label}.{label}.{label}.{}", "b".repeat(55)));
        assert!(matches!(
            owner_name(25, Proto::Tcp, &long),
            Err(OwnerError::TooLong { .. })
        ));
    }
}
