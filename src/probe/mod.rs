//! Fetching the certificate chain a server presents.
//!
//! This module owns the client side of one probe: the TCP connection (made through
//! [`Env::connect`], never directly), the optional STARTTLS dialogue ([`starttls`]), and the
//! TLS handshake whose only product is the chain the server sent, leaf first, byte for byte.
//! It judges nothing about that chain: no path building, no name or date checks and no TLSA
//! matching happen here (RFC 7671 and RFC 7672 §3 belong to the DANE logic that consumes
//! [`Presented`]). What it does check is the transport itself: a server that cannot complete a
//! TLS 1.2/1.3 handshake, that does not offer STARTTLS, or that pipelines data after its
//! STARTTLS reply gives a [`ProbeError`] carrying the evidence.

pub mod danger;
pub mod starttls;

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{DnsName, ServerName};
use rustls::{ClientConfig, ClientConnection, ProtocolVersion};

use crate::env::Env;

pub use starttls::{Direction, Malformed, Reply, Transcript, TranscriptLine};

/// The client name sent in `EHLO` (RFC 5321 §4.1.1.1). `.invalid` is reserved by RFC 2606, so
/// the name cannot be mistaken for a real host in a server's logs.
pub const CLIENT_NAME: &str = "danekit.invalid";

/// The plaintext dialogue that precedes the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Starttls {
    /// SMTP `STARTTLS` (RFC 3207).
    Smtp,
    /// IMAP `STARTTLS` (RFC 3501 §6.2.1, RFC 9051 §6.2.1).
    Imap,
    /// POP3 `STLS` (RFC 2595 §4).
    Pop3,
    /// No dialogue: the handshake starts as soon as the connection is open (implicit TLS, as
    /// on ports 465, 993, 995 and 443).
    None,
}

impl Starttls {
    /// The dialogue a port conventionally uses: SMTP on 25 (RFC 5321), 587 (RFC 6409) and
    /// 2525; IMAP on 143; POP3 on 110; none elsewhere (implicit TLS, RFC 8314 §3.3).
    pub fn default_for_port(port: u16) -> Starttls {
        match port {
            25 | 587 | 2525 => Starttls::Smtp,
            143 => Starttls::Imap,
            110 => Starttls::Pop3,
            _ => Starttls::None,
        }
    }

    /// The lower-case name used on the command line: `smtp`, `imap`, `pop3` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Starttls::Smtp => "smtp",
            Starttls::Imap => "imap",
            Starttls::Pop3 => "pop3",
            Starttls::None => "none",
        }
    }
}

impl fmt::Display for Starttls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A STARTTLS protocol name that is not one of `smtp`, `imap`, `pop3`, `none`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown STARTTLS protocol {name:?} (expected smtp, imap, pop3 or none)")]
pub struct UnknownStarttls {
    pub name: String,
}

impl FromStr for Starttls {
    type Err = UnknownStarttls;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Starttls::Smtp,
            Starttls::Imap,
            Starttls::Pop3,
            Starttls::None,
        ]
        .into_iter()
        .find(|p| p.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| UnknownStarttls { name: s.to_owned() })
    }
}

/// What to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host name or IP address to connect to (an IPv6 address may be bracketed).
    pub host: String,
    pub port: u16,
    pub starttls: Starttls,
    /// The name to send as SNI. `None` sends `host` when it is a DNS name and no SNI when it is
    /// an IP address.
    pub sni: Option<String>,
    /// The longest wait for any one step: connecting, each reply of the dialogue, and the TLS
    /// handshake.
    pub timeout: Duration,
}

/// What the server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// The certificates as sent, DER, leaf first. Nothing has been verified about them.
    pub chain: Vec<Vec<u8>>,
    /// The address that answered.
    pub peer: SocketAddr,
    /// `TLSv1.3` or `TLSv1.2`.
    pub tls_version: String,
    /// The IANA-style suite name rustls reports, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    pub starttls: Starttls,
    /// The SNI sent in the ClientHello, if any.
    pub sni: Option<String>,
    /// The plaintext dialogue before the handshake, as exchanged.
    pub transcript: Transcript,
}

/// The server a probe talks to, as named in error messages: `host:port`, and the address that
/// answered once the connection is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub host: String,
    pub port: u16,
    pub addr: Option<SocketAddr>,
}

impl Peer {
    pub fn new(host: &str, port: u16) -> Peer {
        Peer {
            host: host.to_owned(),
            port,
            addr: None,
        }
    }

    fn boxed(&self) -> Box<Peer> {
        Box::new(self.clone())
    }

    fn connected(&self, addr: SocketAddr) -> Peer {
        Peer {
            addr: Some(addr),
            ..self.clone()
        }
    }
}

impl fmt::Display for Peer {
    /// `mail.example.test:25 (192.0.2.1)`, `127.0.0.1:25`, `[::1]:25`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bare = bare_host(&self.host);
        if bare.contains(':') {
            write!(f, "[{bare}]:{}", self.port)?;
        } else {
            write!(f, "{bare}:{}", self.port)?;
        }
        match self.addr {
            Some(addr) if addr.ip().to_string() != bare => write!(f, " ({})", addr.ip()),
            _ => Ok(()),
        }
    }
}

/// The step of a probe at which it stopped. The `Display` form is a phrase that follows a
/// verb: "timed out *while waiting for the greeting*".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Connect,
    /// Waiting for the server's first reply (SMTP 220, IMAP `* OK`, POP3 `+OK`).
    Greeting,
    /// Sending the named command.
    Send(&'static str),
    /// Waiting for the reply to the named command.
    Reply(&'static str),
    Handshake,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Connect => f.write_str("while connecting"),
            Step::Greeting => f.write_str("while waiting for the greeting"),
            Step::Send(command) => write!(f, "while sending {command}"),
            Step::Reply(command) => write!(f, "while waiting for the reply to {command}"),
            Step::Handshake => f.write_str("during the TLS handshake"),
        }
    }
}

/// Why a probe could not fetch the chain. Each variant names the peer and carries what the
/// server did.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The TCP connection could not be opened (refused, unreachable, no address).
    #[error("{peer}: cannot connect: {error}")]
    Connect { peer: Box<Peer>, error: io::Error },

    /// The server did not answer within the timeout.
    #[error("{peer}: timed out after {} ms {step}", timeout.as_millis())]
    Timeout {
        peer: Box<Peer>,
        step: Step,
        timeout: Duration,
    },

    /// The server closed (or reset) the connection.
    #[error("{peer}: server closed the connection {step}")]
    Closed { peer: Box<Peer>, step: Step },

    /// Any other I/O failure on an open connection.
    #[error("{peer}: connection failed {step}: {error}")]
    Io {
        peer: Box<Peer>,
        step: Step,
        error: io::Error,
    },

    /// The greeting refused service (SMTP 4xx/5xx, RFC 5321 §3.1; IMAP `* BYE`; POP3 `-ERR`).
    #[error("{peer}: server refused the session in its greeting ({reply})")]
    Greeting { peer: Box<Peer>, reply: Reply },

    /// The server did not advertise STARTTLS (SMTP EHLO keyword, IMAP capability) or STLS
    /// (POP3 CAPA). `seen_in` says which reply was searched: `EHLO reply`, `greeting`, ...
    #[error("{peer}: server does not offer {keyword} ({seen_in}: {reply})")]
    NoStarttls {
        peer: Box<Peer>,
        keyword: &'static str,
        seen_in: &'static str,
        reply: Reply,
    },

    /// The server answered the STARTTLS (or STLS) command with something other than success.
    #[error("{peer}: server refused {command} ({reply})")]
    StarttlsRefused {
        peer: Box<Peer>,
        command: &'static str,
        reply: Reply,
    },

    /// The server sent bytes after its STARTTLS reply and before the handshake. A client must
    /// not act on them (RFC 3207 §5, RFC 2595 §4, RFC 3501 §6.2.1): it is the STARTTLS
    /// response injection of CVE-2011-0411, so the probe stops.
    #[error(
        "{peer}: server sent {bytes} bytes after its {command} reply, before the TLS handshake \
         (STARTTLS response injection, CVE-2011-0411): \"{preview}\""
    )]
    Injection {
        peer: Box<Peer>,
        command: &'static str,
        /// How many such bytes had arrived when the probe stopped reading.
        bytes: usize,
        /// The first of them, escaped.
        preview: String,
    },

    /// A reply that does not follow the protocol, or exceeds the reader's bounds.
    #[error("{peer}: malformed reply {step}: {problem}")]
    Protocol {
        peer: Box<Peer>,
        step: Step,
        problem: Malformed,
    },

    /// rustls rejected the handshake, e.g. `received fatal alert: ProtocolVersion`.
    #[error("{peer}: TLS handshake failed: {error}")]
    Handshake {
        peer: Box<Peer>,
        error: rustls::Error,
    },

    /// The handshake produced no certificate.
    #[error("{peer}: server presented no certificate")]
    NoCertificate { peer: Box<Peer> },

    /// The SNI name given (or derived from the host) cannot be sent. An input error: nothing
    /// was sent to the server.
    #[error("{peer}: invalid SNI name {name:?}: {reason}")]
    InvalidSni {
        peer: Box<Peer>,
        name: String,
        reason: &'static str,
    },
}

impl ProbeError {
    /// True when the error is in what was asked, not in what the server did.
    pub fn is_input_error(&self) -> bool {
        matches!(self, ProbeError::InvalidSni { .. })
    }

    /// The server the error is about.
    pub fn peer(&self) -> &Peer {
        match self {
            ProbeError::Connect { peer, .. }
            | ProbeError::Timeout { peer, .. }
            | ProbeError::Closed { peer, .. }
            | ProbeError::Io { peer, .. }
            | ProbeError::Greeting { peer, .. }
            | ProbeError::NoStarttls { peer, .. }
            | ProbeError::StarttlsRefused { peer, .. }
            | ProbeError::Injection { peer, .. }
            | ProbeError::Protocol { peer, .. }
            | ProbeError::Handshake { peer, .. }
            | ProbeError::NoCertificate { peer }
            | ProbeError::InvalidSni { peer, .. } => peer,
        }
    }

    /// Classifies an I/O error at `step`: a timeout, the peer going away, or something else.
    pub(crate) fn from_io(peer: &Peer, step: Step, timeout: Duration, error: io::Error) -> Self {
        let peer = peer.boxed();
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ProbeError::Timeout {
                peer,
                step,
                timeout,
            },
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => ProbeError::Closed { peer, step },
            _ => ProbeError::Io { peer, step, error },
        }
    }
}

/// Connects to `target`, runs its STARTTLS dialogue if any, completes a TLS 1.2 or 1.3
/// handshake that accepts any chain, and returns the chain as sent.
///
/// The handshake signature is still checked against the leaf key, so the chain returned is
/// one whose leaf key the server holds. Everything else about the chain is for the caller to
/// judge.
pub fn probe_chain(env: &dyn Env, target: &Target) -> Result<Presented, ProbeError> {
    let peer = Peer::new(&target.host, target.port);
    // The SNI is checked before any packet is sent: a bad name is the caller's mistake.
    let sni = choose_sni(target, &peer)?;

    let connection = env
        .connect(bare_host(&target.host), target.port, target.timeout)
        .map_err(|error| match error.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ProbeError::Timeout {
                peer: peer.boxed(),
                step: Step::Connect,
                timeout: target.timeout,
            },
            _ => ProbeError::Connect {
                peer: peer.boxed(),
                error,
            },
        })?;
    let peer = peer.connected(connection.peer);
    let mut stream = connection.stream;

    let transcript = starttls::negotiate(
        &mut stream,
        target.starttls,
        &peer,
        CLIENT_NAME,
        target.timeout,
    )?;

    let server_name = match &sni {
        Some(name) => ServerName::DnsName(name.clone()),
        // No SNI: rustls needs a name for the connection state; with SNI disabled the peer's
        // address is used and nothing is sent (RFC 6066 §3 forbids IP literals in SNI).
        None => ServerName::IpAddress(connection.peer.ip().into()),
    };
    let capture = Arc::new(danger::UnverifiedChainCapture::new(ring_provider()));
    let config =
        client_config(capture.clone(), sni.is_some()).map_err(|error| ProbeError::Handshake {
            peer: peer.boxed(),
            error,
        })?;
    let mut tls = ClientConnection::new(Arc::new(config), server_name).map_err(|error| {
        ProbeError::Handshake {
            peer: peer.boxed(),
            error,
        }
    })?;

    handshake(&mut tls, &mut stream, &peer, target.timeout)?;

    let chain = capture.captured();
    if chain.is_empty() {
        return Err(ProbeError::NoCertificate { peer: peer.boxed() });
    }
    let tls_version = match tls.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    let cipher_suite = match tls.negotiated_cipher_suite() {
        Some(suite) => match suite.suite().as_str() {
            Some(name) => name.to_owned(),
            None => format!("{:?}", suite.suite()),
        },
        None => String::new(),
    };

    close(&mut tls, &mut stream, target.starttls);

    Ok(Presented {
        chain,
        peer: connection.peer,
        tls_version,
        cipher_suite,
        starttls: target.starttls,
        sni: sni.map(|name| name.as_ref().to_owned()),
        transcript,
    })
}

/// The SNI to send: `target.sni` if given, else the host when it is a DNS name, else none.
/// RFC 7672 §8.1: an SMTP client sends the TLSA base domain, which is the host it was asked
/// to connect to.
fn choose_sni(target: &Target, peer: &Peer) -> Result<Option<DnsName<'static>>, ProbeError> {
    let invalid = |name: &str, reason| ProbeError::InvalidSni {
        peer: peer.boxed(),
        name: name.to_owned(),
        reason,
    };
    match &target.sni {
        Some(name) => {
            if bare_host(name).parse::<IpAddr>().is_ok() {
                // RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted".
                return Err(invalid(name, "an IP address cannot be sent as SNI"));
            }
            DnsName::try_from(name.as_str())
                .map(|dns| Some(dns.to_owned()))
                .map_err(|_| invalid(name, "not a valid DNS name"))
        }
        None => {
            let host = bare_host(&target.host);
            if host.parse::<IpAddr>().is_ok() {
                return Ok(None);
            }
            // A host that resolves but is not a DNS name the TLS layer accepts gets no SNI
            // rather than a made-up one.
            Ok(DnsName::try_from(host).ok().map(|dns| dns.to_owned()))
        }
    }
}

fn bare_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(
    capture: Arc<danger::UnverifiedChainCapture>,
    enable_sni: bool,
) -> Result<ClientConfig, rustls::Error> {
    let mut config = ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(capture)
        .with_no_client_auth();
    config.enable_sni = enable_sni;
    // A resumed session would skip the certificate message, and with it the capture.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// Drives the handshake to completion, with `timeout` as the bound for the whole of it as
/// well as for each read.
fn handshake<S: Read + Write>(
    tls: &mut ClientConnection,
    stream: &mut S,
    peer: &Peer,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let deadline = Instant::now() + timeout;
    let io_error = |error| ProbeError::from_io(peer, Step::Handshake, timeout, error);
    loop {
        while tls.wants_write() {
            tls.write_tls(stream).map_err(io_error)?;
        }
        stream.flush().map_err(io_error)?;
        if !tls.is_handshaking() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ProbeError::Timeout {
                peer: peer.boxed(),
                step: Step::Handshake,
                timeout,
            });
        }
        match tls.read_tls(stream) {
            Ok(0) => {
                return Err(ProbeError::Closed {
                    peer: peer.boxed(),
                    step: Step::Handshake,
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(e)),
        }
        if let Err(error) = tls.process_new_packets() {
            // Tell the server why (rustls queues an alert); it may already be gone.
            let _ = tls.write_tls(stream);
            let _ = stream.flush();
            return Err(match error {
                rustls::Error::NoCertificatesPresented => {
                    ProbeError::NoCertificate { peer: peer.boxed() }
                }
                error => ProbeError::Handshake {
                    peer: peer.boxed(),
                    error,
                },
            });
        }
    }
}

/// Ends the session politely: the protocol's goodbye over TLS, then close_notify (RFC 8446
/// §6.1). The chain is already in hand, so failures here change nothing and are ignored.
fn close<S: Read + Write>(tls: &mut ClientConnection, stream: &mut S, protocol: Starttls) {
    let goodbye: &[u8] = match protocol {
        Starttls::Smtp | Starttls::Pop3 => b"QUIT\r\n",
        Starttls::Imap => b"a3 LOGOUT\r\n",
        Starttls::None => b"",
    };
    if !goodbye.is_empty() {
        let _ = tls.writer().write_all(goodbye);
    }
    tls.send_close_notify();
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = stream.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starttls_names_round_trip() {
        for (name, value) in [
            ("smtp", Starttls::Smtp),
            ("imap", Starttls::Imap),
            ("pop3", Starttls::Pop3),
            ("none", Starttls::None),
        ] {
            assert_eq!(name.parse::<Starttls>(), Ok(value));
            assert_eq!(value.to_string(), name);
        }
        assert_eq!("SMTP".parse::<Starttls>(), Ok(Starttls::Smtp));
        let err = "ftp".parse::<Starttls>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown STARTTLS protocol \"ftp\" (expected smtp, imap, pop3 or none)"
        );
    }

    #[test]
    fn default_dialogue_per_port() {
        for (port, want) in [
            (25, Starttls::Smtp),
            (587, Starttls::Smtp),
            (2525, Starttls::Smtp),
            (143, Starttls::Imap),
            (110, Starttls::Pop3),
            (465, Starttls::None),
            (993, Starttls::None),
            (995, Starttls::None),
            (443, Starttls::None),
        ] {
            assert_eq!(Starttls::default_for_port(port), want, "port {port}");
        }
    }

    #[test]
    fn peer_display() {
        let mut peer = Peer::new("127.0.0.1", 2525);
        assert_eq!(peer.to_string(), "127.0.0.1:2525");
        peer.addr = Some("127.0.0.1:2525".parse().unwrap());
        assert_eq!(peer.to_string(), "127.0.0.1:2525");

        let mut peer = Peer::new("mail.example.test", 25);
        assert_eq!(peer.to_string(), "mail.example.test:25");
        peer.addr = Some("192.0.2.1:25".parse().unwrap());
        assert_eq!(peer.to_string(), "mail.example.test:25 (192.0.2.1)");

        assert_eq!(Peer::new("::1", 25).to_string(), "[::1]:25");
        assert_eq!(Peer::new("[::1]", 25).to_string(), "[::1]:25");
    }

    fn target(host: &str, sni: Option<&str>) -> Target {
        Target {
            host: host.to_owned(),
            port: 25,
            starttls: Starttls::Smtp,
            sni: sni.map(str::to_owned),
            timeout: Duration::from_millis(500),
        }
    }

    fn sni_of(host: &str, sni: Option<&str>) -> Result<Option<String>, ProbeError> {
        let t = target(host, sni);
        choose_sni(&t, &Peer::new(&t.host, t.port)).map(|name| name.map(|n| n.as_ref().to_owned()))
    }

    #[test]
    fn sni_choice_follows_rfc_7672_section_8_1() {
        assert_eq!(
            sni_of("mail.example.test", None).unwrap(),
            Some("mail.example.test".to_owned())
        );
        assert_eq!(
            sni_of("mail.example.test.", None).unwrap(),
            Some("mail.example.test".to_owned())
        );
        assert_eq!(sni_of("192.0.2.1", None).unwrap(), None);
        assert_eq!(sni_of("[2001:db8::1]", None).unwrap(), None);
        assert_eq!(
            sni_of("192.0.2.1", Some("mx.example.test")).unwrap(),
            Some("mx.example.test".to_owned())
        );
    }

    #[test]
    fn invalid_sni_is_an_input_error() {
        for bad in ["bad name", "192.0.2.1", "-.example", ""] {
            let err = sni_of("mail.example.test", Some(bad)).unwrap_err();
            assert!(matches!(err, ProbeError::InvalidSni { .. }), "{bad}: {err}");
            assert!(err.is_input_error());
            assert!(
                err.to_string()
                    .starts_with("mail.example.test:25: invalid SNI name")
            );
        }
    }
}
