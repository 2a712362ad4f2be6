//! Fetching the certificate chains a server presents.
//!
//! This module owns the client side of a probe: name resolution and TCP connections (made
//! through [`Net`], never directly), the optional STARTTLS dialogue ([`starttls`]), and TLS
//! handshakes whose only product is the chain the server sent, leaf first, byte for byte. A
//! server may hold several certificates (ECDSA and RSA, say) and choose by the signature
//! schemes the client offers, so [`probe_all`] makes one handshake per [`KeyType`], each
//! offering only that type's schemes and cipher suites, and keeps every distinct chain.
//!
//! It judges nothing about the chains: no path building, no name or date checks and no TLSA
//! matching happen here. What it checks is the transport: a server that cannot complete a TLS
//! 1.2/1.3 handshake, does not offer STARTTLS, rejects the `EHLO`, or pipelines data after its
//! STARTTLS reply gives a [`ProbeError`] carrying the evidence.
//!
//! Time is bounded: each step waits at most [`Target::timeout`] (the greeting at most
//! [`Target::greeting_timeout`]), and one connection at most [`Target::connection_bound`] in
//! all, however a server trickles its bytes.

pub mod danger;
mod fetch;
pub mod starttls;

pub use fetch::{FetchError, Fetched, choose_sni, fetch_inputs};

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{DnsName, ServerName};
use rustls::{AlertDescription, ClientConfig, ClientConnection, ProtocolVersion, SignatureScheme};

use crate::addr::Host;
use crate::env::{Net, Stream};
use crate::text;

pub use starttls::{Direction, Malformed, Reply, Transcript, TranscriptLine};

/// The `EHLO` name used when the machine has no fully qualified name and the connection has no
/// local address to write as an address literal. `.invalid` is reserved (RFC 2606).
pub const FALLBACK_EHLO: &str = "danekit.invalid";

/// The plaintext dialogue that precedes the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
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

    /// The port a dialogue conventionally uses when none is given.
    pub fn default_port(self) -> u16 {
        match self {
            Starttls::Smtp => 25,
            Starttls::Imap => 143,
            Starttls::Pop3 => 110,
            Starttls::None => 443,
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

/// The kind of certificate key a handshake asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum KeyType {
    Ecdsa,
    Rsa,
    Ed25519,
}

impl KeyType {
    /// Every key type, in the order chains are reported.
    pub const ALL: [KeyType; 3] = [KeyType::Ecdsa, KeyType::Rsa, KeyType::Ed25519];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ecdsa => "ecdsa",
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
        }
    }

    /// The name in prose: `ECDSA`, `RSA`, `Ed25519`.
    pub fn label(self) -> &'static str {
        match self {
            KeyType::Ecdsa => "ECDSA",
            KeyType::Rsa => "RSA",
            KeyType::Ed25519 => "Ed25519",
        }
    }

    /// The signature schemes a client offers to get this type's certificate.
    fn schemes(self) -> &'static [SignatureScheme] {
        match self {
            KeyType::Ecdsa => &[
                SignatureScheme::ECDSA_NISTP256_SHA256,
                SignatureScheme::ECDSA_NISTP384_SHA384,
            ],
            KeyType::Rsa => &[
                SignatureScheme::RSA_PSS_SHA256,
                SignatureScheme::RSA_PSS_SHA384,
                SignatureScheme::RSA_PSS_SHA512,
                SignatureScheme::RSA_PKCS1_SHA256,
                SignatureScheme::RSA_PKCS1_SHA384,
                SignatureScheme::RSA_PKCS1_SHA512,
            ],
            KeyType::Ed25519 => &[SignatureScheme::ED25519],
        }
    }

    /// The TLS 1.2 cipher suites that authenticate with this type's key (RFC 8422 §6 puts
    /// EdDSA under the ECDSA suites). TLS 1.3 suites do not depend on the key.
    fn tls12_suite_uses_key(self, suite: &rustls::SupportedCipherSuite) -> bool {
        let name = suite.suite().as_str().unwrap_or_default();
        match self {
            KeyType::Rsa => name.contains("_RSA_"),
            KeyType::Ecdsa | KeyType::Ed25519 => name.contains("_ECDSA_"),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host to connect to: a name (resolved through [`Net`]) or an address.
    pub host: Host,
    pub port: u16,
    pub starttls: Starttls,
    /// The name to send as SNI, or none. The caller decides (RFC 7672 §8.1: the TLSA base
    /// domain).
    pub sni: Option<DnsName<'static>>,
    /// The name for SMTP `EHLO`; `None` writes the connection's local address as an address
    /// literal (RFC 5321 §4.1.4).
    pub ehlo: Option<String>,
    /// The longest wait for any one step: resolving, connecting, each reply of the dialogue,
    /// the TLS handshake.
    pub timeout: Duration,
    /// The longest wait for the server's greeting (RFC 5321 §4.5.3.2.1 allows 5 minutes).
    pub greeting_timeout: Duration,
}

impl Target {
    /// The most one connection can take, from the start of connecting to the end of the
    /// handshake: the greeting's limit and six steps (connect, three replies, handshake, and
    /// one of slack for the reply bursts of a long dialogue).
    pub fn connection_bound(&self) -> Duration {
        self.greeting_timeout
            .saturating_add(self.timeout.saturating_mul(6))
    }
}

/// What the server presented in one handshake.
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
    /// The key type the handshake asked for.
    pub key_type: KeyType,
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

    fn of(target: &Target) -> Peer {
        Peer::new(&target.host.to_string(), target.port)
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
    Resolve,
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
            Step::Resolve => f.write_str("while resolving the name"),
            Step::Connect => f.write_str("while connecting"),
            Step::Greeting => f.write_str("while waiting for the greeting"),
            Step::Send(command) => write!(f, "while sending {command}"),
            Step::Reply(command) => write!(f, "while waiting for the reply to {command}"),
            Step::Handshake => f.write_str("during the TLS handshake"),
        }
    }
}

/// The SNI sent in a handshake, as error messages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SniShown(pub Option<String>);

impl fmt::Display for SniShown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(name) => write!(f, "SNI {name}"),
            None => f.write_str("no SNI"),
        }
    }
}

/// Why a probe could not fetch a chain. Each variant names the peer and carries what the
/// server did.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The name has no address, or the resolver failed.
    #[error("{peer}: cannot resolve the name: {error}")]
    Resolve { peer: Box<Peer>, error: io::Error },

    /// The TCP connection could not be opened (refused, unreachable).
    #[error("{peer}: cannot connect: {error}")]
    Connect { peer: Box<Peer>, error: io::Error },

    /// The server did not answer within the limit.
    #[error("{peer}: timed out after {} ms {step}", limit.as_millis())]
    Timeout {
        peer: Box<Peer>,
        step: Step,
        limit: Duration,
    },

    /// The server closed (or reset) the connection.
    #[error("{peer}: server closed the connection {step}")]
    Closed { peer: Box<Peer>, step: Step },

    /// The server sent an error reply and closed the connection (a POP3 server in
    /// maintenance answers `-ERR` after its greeting and hangs up).
    #[error("{peer}: server replied \"{reply}\" and closed the connection")]
    ClosedAfterError { peer: Box<Peer>, reply: String },

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

    /// The server answered `EHLO` with an error (a HELO restriction, RFC 5321 §4.1.1.1).
    #[error("{peer}: server rejected EHLO {name} ({reply})")]
    EhloRejected {
        peer: Box<Peer>,
        name: String,
        reply: Reply,
    },

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
        bytes: usize,
        preview: String,
    },

    /// A reply that does not follow the protocol, or exceeds the reader's bounds.
    #[error("{peer}: malformed reply {step}: {problem}")]
    Protocol {
        peer: Box<Peer>,
        step: Step,
        problem: Malformed,
    },

    /// The server answered the ClientHello in plain text: it expects a STARTTLS dialogue.
    #[error(
        "{peer}: server answered in plain text, not TLS (\"{text}\"){}",
        match suggested {
            Some(p) => format!("; it speaks {} and expects its STARTTLS dialogue first", p.as_str().to_uppercase()),
            None => String::new(),
        }
    )]
    PlainText {
        peer: Box<Peer>,
        text: String,
        suggested: Option<Starttls>,
    },

    /// The server speaks only TLS 1.0 or 1.1 (or SSL), which danekit does not offer.
    #[error(
        "{peer}: TLS handshake failed ({sni}): the server speaks only TLS 1.0 or 1.1, and \
         danekit speaks TLS 1.2 and 1.3 ({error})"
    )]
    OldTls {
        peer: Box<Peer>,
        sni: SniShown,
        error: rustls::Error,
    },

    /// The server accepts none of the cipher suites offered: ECDHE with AES-GCM or
    /// ChaCha20-Poly1305 (static-RSA key exchange and CBC suites are not offered).
    #[error(
        "{peer}: TLS handshake failed ({sni}): the server accepts none of danekit's cipher \
         suites (TLS 1.2/1.3 with ECDHE and AES-GCM or ChaCha20); it may allow only static-RSA \
         key exchange or CBC suites ({error})"
    )]
    NoCommonCipher {
        peer: Box<Peer>,
        sni: SniShown,
        error: rustls::Error,
    },

    /// rustls rejected the handshake for another reason.
    #[error("{peer}: TLS handshake failed ({sni}): {error}")]
    Handshake {
        peer: Box<Peer>,
        sni: SniShown,
        error: rustls::Error,
    },

    /// The handshake produced no certificate.
    #[error("{peer}: server presented no certificate")]
    NoCertificate { peer: Box<Peer> },

    /// The SNI name given cannot be sent. An input error: nothing was sent to the server.
    #[error("invalid SNI name {name:?}: {reason}")]
    InvalidSni { name: String, reason: &'static str },
}

impl ProbeError {
    /// True when the error is in what was asked, not in what the server did.
    pub fn is_input_error(&self) -> bool {
        matches!(self, ProbeError::InvalidSni { .. })
    }

    /// The server the error is about; `None` for an input error found before connecting.
    pub fn peer(&self) -> Option<&Peer> {
        match self {
            ProbeError::Resolve { peer, .. }
            | ProbeError::Connect { peer, .. }
            | ProbeError::Timeout { peer, .. }
            | ProbeError::Closed { peer, .. }
            | ProbeError::ClosedAfterError { peer, .. }
            | ProbeError::Io { peer, .. }
            | ProbeError::Greeting { peer, .. }
            | ProbeError::EhloRejected { peer, .. }
            | ProbeError::NoStarttls { peer, .. }
            | ProbeError::StarttlsRefused { peer, .. }
            | ProbeError::Injection { peer, .. }
            | ProbeError::Protocol { peer, .. }
            | ProbeError::PlainText { peer, .. }
            | ProbeError::OldTls { peer, .. }
            | ProbeError::NoCommonCipher { peer, .. }
            | ProbeError::Handshake { peer, .. }
            | ProbeError::NoCertificate { peer } => Some(peer),
            ProbeError::InvalidSni { .. } => None,
        }
    }

    /// True when the error came from the TLS handshake, where a server that holds no
    /// certificate of the key type asked for fails; another key type may still succeed.
    pub fn is_handshake_error(&self) -> bool {
        matches!(
            self,
            ProbeError::OldTls { .. }
                | ProbeError::NoCommonCipher { .. }
                | ProbeError::Handshake { .. }
                | ProbeError::NoCertificate { .. }
                | ProbeError::Closed {
                    step: Step::Handshake,
                    ..
                }
                | ProbeError::Timeout {
                    step: Step::Handshake,
                    ..
                }
        )
    }

    /// True when a handshake that asked for one key type failed the way a server fails that
    /// holds no certificate of that type: a handshake failure alert, no common signature
    /// scheme, or a signature with a scheme that was not offered.
    pub fn means_no_such_certificate(&self) -> bool {
        match self {
            ProbeError::NoCommonCipher { .. } => true,
            ProbeError::Handshake { error, .. } => matches!(
                error,
                rustls::Error::AlertReceived(_)
                    | rustls::Error::PeerMisbehaved(_)
                    | rustls::Error::PeerIncompatible(_)
            ),
            _ => false,
        }
    }

    /// Classifies an I/O error at `step`: a timeout, the peer going away, or something else.
    pub(crate) fn from_io(peer: &Peer, step: Step, limit: Duration, error: io::Error) -> Self {
        let peer = peer.boxed();
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                ProbeError::Timeout { peer, step, limit }
            }
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => ProbeError::Closed { peer, step },
            _ => ProbeError::Io { peer, step, error },
        }
    }
}

/// Checks a name for use as SNI: a DNS name, not an IP literal (RFC 6066 §3).
pub fn sni_name(name: &str) -> Result<DnsName<'static>, ProbeError> {
    let invalid = |reason| ProbeError::InvalidSni {
        name: text::clip(name),
        reason,
    };
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare_host(bare).parse::<IpAddr>().is_ok() {
        return Err(invalid("an IP address cannot be sent as SNI"));
    }
    DnsName::try_from(bare)
        .map(|dns| dns.to_owned())
        .map_err(|_| invalid("not a valid DNS name"))
}

/// When one connection must be over, and how long each step may take.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub timeout: Duration,
    pub greeting_timeout: Duration,
    /// The end of the whole connection.
    pub end: Instant,
}

impl Budget {
    fn new(target: &Target) -> Budget {
        Budget {
            timeout: target.timeout,
            greeting_timeout: target.greeting_timeout,
            end: later(Instant::now(), target.connection_bound()),
        }
    }

    /// The deadline of a step that may take `limit`, within the connection's end.
    pub fn deadline(&self, limit: Duration) -> Instant {
        later(Instant::now(), limit).min(self.end)
    }
}

/// `start + d`, or a day after `start` when that does not fit in an `Instant`.
fn later(start: Instant, d: Duration) -> Instant {
    start
        .checked_add(d)
        .or_else(|| start.checked_add(crate::env::MAX_WAIT))
        .unwrap_or(start)
}

/// The time left until `deadline`, at least a millisecond (a zero read timeout means none).
pub(crate) fn remaining(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1))
}

/// Resolves the target's host within its timeout.
pub fn resolve(net: &dyn Net, target: &Target) -> Result<Vec<SocketAddr>, ProbeError> {
    let peer = Peer::of(target);
    match &target.host {
        Host::Ip(ip) => Ok(vec![SocketAddr::new(*ip, target.port)]),
        Host::Name(name) => {
            let host = crate::addr::name_text(name);
            net.resolve(host.trim_end_matches('.'), target.port, target.timeout)
                .map_err(|error| match error.kind() {
                    io::ErrorKind::TimedOut => ProbeError::Timeout {
                        peer: peer.boxed(),
                        step: Step::Resolve,
                        limit: target.timeout,
                    },
                    _ => ProbeError::Resolve {
                        peer: peer.boxed(),
                        error,
                    },
                })
        }
    }
}

/// Connects to the first of `addrs` that accepts, runs the STARTTLS dialogue, completes a
/// TLS 1.2 or 1.3 handshake that asks for a `key_type` certificate and accepts any chain, and
/// returns the chain as sent.
///
/// The handshake signature is still checked against the leaf key, so the chain returned is
/// one whose leaf key the server holds. Everything else about the chain is for the caller to
/// judge.
pub fn probe_chain(
    net: &dyn Net,
    target: &Target,
    addrs: &[SocketAddr],
    key_type: KeyType,
) -> Result<Presented, ProbeError> {
    let peer = Peer::of(target);
    let budget = Budget::new(target);
    let mut last = None;
    let mut connection = None;
    for &addr in addrs {
        if Instant::now() >= budget.end {
            break;
        }
        let limit = remaining(budget.deadline(target.timeout));
        match net.connect(addr, limit) {
            Ok(c) => {
                connection = Some(c);
                break;
            }
            Err(error) => last = Some(error),
        }
    }
    let Some(connection) = connection else {
        return Err(match last {
            Some(error)
                if !matches!(
                    error.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                ProbeError::Connect {
                    peer: peer.boxed(),
                    error,
                }
            }
            _ => ProbeError::Timeout {
                peer: peer.boxed(),
                step: Step::Connect,
                limit: target.timeout,
            },
        });
    };
    let peer = peer.connected(connection.peer);
    let mut stream = connection.stream;

    let ehlo = match &target.ehlo {
        Some(name) => name.clone(),
        None => connection
            .local
            .map(address_literal)
            .unwrap_or_else(|| FALLBACK_EHLO.to_owned()),
    };
    let transcript = starttls::negotiate(&mut *stream, target.starttls, &peer, &ehlo, &budget)?;

    let sni_shown = SniShown(target.sni.as_ref().map(|n| n.as_ref().to_owned()));
    let server_name = match &target.sni {
        Some(name) => ServerName::DnsName(name.clone()),
        // No SNI: rustls needs a name for the connection state; with SNI disabled the peer's
        // address is used and nothing is sent (RFC 6066 §3 forbids IP literals in SNI).
        None => ServerName::IpAddress(connection.peer.ip().into()),
    };
    let provider = Arc::new(provider_for(key_type));
    let capture = Arc::new(danger::UnverifiedChainCapture::new(
        provider.clone(),
        key_type.schemes(),
    ));
    let handshake_error = |error| ProbeError::Handshake {
        peer: peer.boxed(),
        sni: sni_shown.clone(),
        error,
    };
    let config =
        client_config(provider, capture.clone(), target.sni.is_some()).map_err(handshake_error)?;
    let mut tls = ClientConnection::new(Arc::new(config), server_name).map_err(handshake_error)?;

    let mut recording = Recording::new(&mut *stream);
    handshake(&mut tls, &mut recording, &peer, &budget, &sni_shown)?;

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

    close(&mut tls, &mut *stream, target.starttls);

    Ok(Presented {
        chain,
        peer: connection.peer,
        tls_version,
        cipher_suite,
        starttls: target.starttls,
        sni: sni_shown.0,
        key_type,
        transcript,
    })
}

/// The results of [`probe_all`]: each distinct chain with the key type that fetched it, and
/// the key types that failed.
#[derive(Debug)]
pub struct ProbeAll {
    pub chains: Vec<Presented>,
    pub failures: Vec<(KeyType, ProbeError)>,
}

/// Probes `target` once per key type in `key_types` (in that order) and keeps every distinct
/// chain. Before any chain is fetched, a failure before the handshake (no connection, no
/// STARTTLS) ends the probe, since another key type would meet it too; a failed handshake only
/// means the server may hold no certificate of that type, so the next type is tried. Once a
/// chain is in hand, every later failure is recorded and the probe goes on. When no chain was
/// fetched, the most telling error is returned.
pub fn probe_all(
    net: &dyn Net,
    target: &Target,
    key_types: &[KeyType],
) -> Result<ProbeAll, ProbeError> {
    let addrs = resolve(net, target)?;
    let mut chains: Vec<Presented> = Vec::new();
    let mut failures = Vec::new();
    for &key_type in key_types {
        match probe_chain(net, target, &addrs, key_type) {
            Ok(presented) => {
                if !chains.iter().any(|c| c.chain == presented.chain) {
                    chains.push(presented);
                }
            }
            Err(e) if e.is_handshake_error() || !chains.is_empty() => failures.push((key_type, e)),
            Err(e) => return Err(e),
        }
    }
    if chains.is_empty() {
        return Err(most_telling(failures, &Peer::of(target)));
    }
    Ok(ProbeAll { chains, failures })
}

/// Of the handshake failures of every key type, the one that explains most: a protocol
/// version alert or plain text says more than a handshake failure alert, which a server
/// without a certificate of the type asked for also sends.
fn most_telling(failures: Vec<(KeyType, ProbeError)>, peer: &Peer) -> ProbeError {
    let rank = |e: &ProbeError| match e {
        ProbeError::OldTls { .. } => 0,
        ProbeError::Handshake { .. } | ProbeError::NoCertificate { .. } => 1,
        ProbeError::Closed { .. } => 2,
        _ => 3,
    };
    failures
        .into_iter()
        .map(|(_, e)| e)
        .min_by_key(rank)
        .unwrap_or_else(|| ProbeError::NoCertificate { peer: peer.boxed() })
}

/// `[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3).
fn address_literal(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => format!("[{ip}]"),
        IpAddr::V6(ip) => format!("[IPv6:{ip}]"),
    }
}

fn bare_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The ring provider restricted to the cipher suites that can authenticate a `key_type`
/// certificate.
fn provider_for(key_type: KeyType) -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|suite| {
        suite.version() == &rustls::version::TLS13 || key_type.tls12_suite_uses_key(suite)
    });
    provider
}

fn client_config(
    provider: Arc<CryptoProvider>,
    capture: Arc<danger::UnverifiedChainCapture>,
    enable_sni: bool,
) -> Result<ClientConfig, rustls::Error> {
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(capture)
        .with_no_client_auth();
    config.enable_sni = enable_sni;
    // A resumed session would skip the certificate message, and with it the capture.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// A stream that keeps the first bytes the server sends, to tell a plain-text answer from TLS.
struct Recording<'a> {
    inner: &'a mut dyn Stream,
    first: Vec<u8>,
}

const RECORDED: usize = 80;

impl<'a> Recording<'a> {
    fn new(inner: &'a mut dyn Stream) -> Self {
        Recording {
            inner,
            first: Vec::new(),
        }
    }

    /// The first bytes, when they look like a text protocol's reply and not a TLS record
    /// (whose first octet is a content type from 20 to 24).
    fn plain_text(&self) -> Option<String> {
        let first = *self.first.first()?;
        if !(0x20..0x7f).contains(&first) {
            return None;
        }
        let line_end = self
            .first
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(self.first.len());
        Some(text::escape_bytes(&self.first[..line_end]))
    }
}

impl Read for Recording<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.first.len() < RECORDED {
            let take = n.min(RECORDED - self.first.len());
            self.first.extend_from_slice(&buf[..take]);
        }
        Ok(n)
    }
}

impl Write for Recording<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Which protocol a plain-text reply belongs to.
fn protocol_of(reply: &str) -> Option<Starttls> {
    if reply.starts_with("220") {
        Some(Starttls::Smtp)
    } else if reply.starts_with("* OK") || reply.starts_with("* PREAUTH") {
        Some(Starttls::Imap)
    } else if reply.starts_with("+OK") {
        Some(Starttls::Pop3)
    } else {
        None
    }
}

/// Drives the handshake to completion within the step limit.
fn handshake(
    tls: &mut ClientConnection,
    stream: &mut Recording<'_>,
    peer: &Peer,
    budget: &Budget,
    sni: &SniShown,
) -> Result<(), ProbeError> {
    let deadline = budget.deadline(budget.timeout);
    let limit = budget.timeout;
    let io_error = |error| ProbeError::from_io(peer, Step::Handshake, limit, error);
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
                limit,
            });
        }
        stream
            .inner
            .set_read_timeout(Some(remaining(deadline)))
            .map_err(io_error)?;
        match tls.read_tls(stream) {
            Ok(0) => {
                return Err(match stream.plain_text() {
                    Some(text) => plain_text_error(peer, text),
                    None => ProbeError::Closed {
                        peer: peer.boxed(),
                        step: Step::Handshake,
                    },
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(match stream.plain_text() {
                    Some(text) => plain_text_error(peer, text),
                    None => io_error(e),
                });
            }
        }
        if let Err(error) = tls.process_new_packets() {
            // Tell the server why (rustls queues an alert); it may already be gone.
            let _ = tls.write_tls(stream);
            let _ = stream.flush();
            if let Some(text) = stream.plain_text() {
                return Err(plain_text_error(peer, text));
            }
            return Err(classify_tls_error(peer, sni, error));
        }
    }
}

fn plain_text_error(peer: &Peer, text: String) -> ProbeError {
    ProbeError::PlainText {
        peer: peer.boxed(),
        suggested: protocol_of(&text),
        text: text::shorten(&text, 120),
    }
}

fn classify_tls_error(peer: &Peer, sni: &SniShown, error: rustls::Error) -> ProbeError {
    use rustls::PeerIncompatible as P;
    let peer = peer.boxed();
    let sni = sni.clone();
    match &error {
        rustls::Error::NoCertificatesPresented => ProbeError::NoCertificate { peer },
        rustls::Error::AlertReceived(AlertDescription::ProtocolVersion)
        | rustls::Error::PeerIncompatible(
            P::ServerDoesNotSupportTls12Or13 | P::ServerTlsVersionIsDisabledByOurConfig,
        ) => ProbeError::OldTls { peer, sni, error },
        rustls::Error::AlertReceived(
            AlertDescription::HandshakeFailure | AlertDescription::InsufficientSecurity,
        )
        | rustls::Error::PeerIncompatible(P::NoCipherSuitesInCommon) => {
            ProbeError::NoCommonCipher { peer, sni, error }
        }
        _ => ProbeError::Handshake { peer, sni, error },
    }
}

/// Ends the session politely: the protocol's goodbye over TLS, then close_notify (RFC 8446
/// §6.1). The chain is already in hand, so failures here change nothing and are ignored.
fn close(tls: &mut ClientConnection, stream: &mut dyn Stream, protocol: Starttls) {
    let goodbye: &[u8] = match protocol {
        Starttls::Smtp | Starttls::Pop3 => b"QUIT\r\n",
        Starttls::Imap => b"a3 LOGOUT\r\n",
        Starttls::None => b"",
    };
    if !goodbye.is_empty() {
        let _ = tls.writer().write_all(goodbye);
    }
    tls.send_close_notify();
    let mut writer = StreamWriter(stream);
    while tls.wants_write() {
        match tls.write_tls(&mut writer) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = writer.flush();
}

struct StreamWriter<'a>(&'a mut dyn Stream);

impl Write for StreamWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
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

    #[test]
    fn sni_names_rfc_6066_section_3() {
        assert_eq!(
            sni_name("mail.example.test.").unwrap().as_ref(),
            "mail.example.test"
        );
        for bad in ["bad name", "192.0.2.1", "[::1]", "-.example", ""] {
            let err = sni_name(bad).unwrap_err();
            assert!(err.is_input_error(), "{bad}: {err}");
            assert!(err.to_string().starts_with("invalid SNI name"), "{err}");
        }
    }

    #[test]
    fn address_literals_rfc_5321_section_4_1_3() {
        assert_eq!(
            address_literal("192.0.2.1:25".parse().unwrap()),
            "[192.0.2.1]"
        );
        assert_eq!(
            address_literal("[2001:db8::1]:25".parse().unwrap()),
            "[IPv6:2001:db8::1]"
        );
    }

    #[test]
    fn key_types_restrict_tls12_suites() {
        let names = |k: KeyType| -> Vec<String> {
            provider_for(k)
                .cipher_suites
                .iter()
                .filter(|s| s.version() == &rustls::version::TLS12)
                .map(|s| s.suite().as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert!(names(KeyType::Rsa).iter().all(|n| n.contains("_RSA_")));
        assert!(names(KeyType::Ecdsa).iter().all(|n| n.contains("_ECDSA_")));
        assert!(!names(KeyType::Rsa).is_empty());
        assert!(!names(KeyType::Ecdsa).is_empty());
        assert_eq!(
            provider_for(KeyType::Rsa)
                .cipher_suites
                .iter()
                .filter(|s| s.version() == &rustls::version::TLS13)
                .count(),
            3
        );
    }

    #[test]
    fn plain_text_replies_name_their_protocol() {
        assert_eq!(protocol_of("220 mx ESMTP"), Some(Starttls::Smtp));
        assert_eq!(protocol_of("* OK IMAP4rev1"), Some(Starttls::Imap));
        assert_eq!(protocol_of("+OK POP3"), Some(Starttls::Pop3));
        assert_eq!(protocol_of("HTTP/1.1 400"), None);
    }

    #[test]
    fn connection_bound_never_overflows() {
        let t = Target {
            host: Host::Ip(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
            port: 25,
            starttls: Starttls::Smtp,
            sni: None,
            ehlo: None,
            timeout: Duration::MAX,
            greeting_timeout: Duration::MAX,
        };
        assert_eq!(t.connection_bound(), Duration::MAX);
        let b = Budget::new(&t);
        assert!(b.end > Instant::now());
        assert!(b.deadline(Duration::MAX) <= b.end);
    }
}
