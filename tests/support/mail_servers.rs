//! Loopback mail and TLS servers for tests, with generated certificates.
//!
//! [`MailServer::start`] listens on `127.0.0.1:0` (the listener is kept, so no other process
//! can take the port), serves every connection in its own thread with the given [`Behaviour`]
//! (a correct STARTTLS dialogue, or one of the ways servers get it wrong), and stops when
//! dropped. TLS is rustls `ServerConnection`; a server may hold several certificates
//! ([`ServedCert`]) and chooses, as Postfix, Exim and Dovecot do, by the SNI and by the
//! signature schemes the client offers. [`TestPki`] makes a CA and a leaf with rcgen.
//! [`LoopbackEnv`] is an [`danekit::env::Env`] whose network is loopback only and can map test
//! host names to `127.0.0.1`. Nothing here talks to any address outside 127.0.0.0/8 or ::1.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use danekit::env::{Connection, Env, Net, ReadError, connect_tcp};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection, SignatureScheme};

/// How long a server connection waits for the client before giving up.
const IDLE_LIMIT: Duration = Duration::from_secs(10);
/// How often a waiting server thread looks at the shutdown flag.
const POLL: Duration = Duration::from_millis(50);

/// What a server does with each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// SMTP: 220, EHLO with STARTTLS advertised, 220 to STARTTLS, then TLS (RFC 3207).
    SmtpStarttls,
    /// As `SmtpStarttls`, with bare LF line ends.
    SmtpBareLf,
    /// SMTP whose EHLO reply lacks STARTTLS (`250-PIPELINING`, `250 8BITMIME`).
    SmtpNoStarttls,
    /// SMTP that advertises STARTTLS and answers it with `454 4.7.0 TLS not available`.
    SmtpStarttlsRefused,
    /// SMTP that sends `250 injected\r\n` in the same write as its `220` STARTTLS reply.
    SmtpInjection,
    /// SMTP whose greeting is `554 5.3.2 no service here`.
    SmtpGreeting554,
    /// SMTP that closes the connection as soon as it has read EHLO.
    SmtpCloseAfterEhlo,
    /// SMTP whose greeting is one line of 5000 bytes that never ends.
    SmtpLongLine,
    /// SMTP whose greeting is an endless `220-` multi-line reply.
    SmtpEndlessReply,
    /// IMAP: `* OK`, `CAPABILITY` with STARTTLS, `OK` to STARTTLS, then TLS (RFC 3501).
    ImapStarttls,
    /// IMAP whose greeting carries `[CAPABILITY ... STARTTLS ...]`.
    ImapGreetingCapability,
    /// IMAP whose greeting is `* BYE`.
    ImapBye,
    /// POP3: `+OK`, CAPA listing STLS, `+OK` to STLS, then TLS (RFC 2595).
    Pop3Stls,
    /// POP3 that answers CAPA with `-ERR` but accepts STLS.
    Pop3NoCapa,
    /// TLS from the first byte (implicit TLS, as on 465/993/995).
    ImplicitTls,
    /// Accepts the connection and never sends anything.
    Silent,
    /// Sends an SMTP greeting in plain text where the client expects TLS.
    PlainText,
    /// Reads the ClientHello and answers with a fatal `protocol_version` alert, as a server
    /// limited to TLS 1.0 does.
    AlertProtocolVersion,
    /// Reads the ClientHello and answers with a fatal `handshake_failure` alert, as a server
    /// that allows only static-RSA key exchange does.
    AlertHandshakeFailure,
    /// SMTP that rejects every EHLO name but `client.example.test`, as Postfix
    /// `reject_unknown_helo_hostname` does: `550 5.7.1 <name>: Helo command rejected`.
    SmtpHeloRestriction,
    /// SMTP that waits `seconds` before its greeting; with `partial`, it sends `220-` and the
    /// first line at once and the rest after the wait, as greeting-delay filters do.
    SmtpDelayedGreeting { millis: u64, partial: bool },
    /// POP3 that sends `+OK` and `-ERR` at once, then closes (Cyrus in maintenance).
    Pop3ErrAfterGreeting,
    /// Implicit TLS on the first connection; every later one is accepted and left silent.
    ImplicitTlsOnce,
}

/// The TLS versions a server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersions {
    Tls12AndTls13,
    Tls12Only,
    Tls13Only,
}

/// What the server saw on one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    /// Lines received before TLS, without line ends.
    pub plaintext: Vec<String>,
    /// Lines received over TLS.
    pub over_tls: Vec<String>,
    /// The SNI the client sent.
    pub sni: Option<String>,
    /// `TLSv1.3` or `TLSv1.2` once the handshake completed.
    pub tls_version: Option<String>,
    /// The signature schemes the client offered.
    pub signature_schemes: Vec<SignatureScheme>,
    /// Which of the server's certificates was presented (an index into its list).
    pub served: Option<usize>,
    /// The rustls or I/O error that ended the handshake, if it failed.
    pub handshake_error: Option<String>,
}

/// A server on `127.0.0.1`, stopped and its threads joined on drop.
pub struct MailServer {
    pub addr: SocketAddr,
    shutdown: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    first_accept: Arc<Mutex<Option<Instant>>>,
    sessions: Arc<Mutex<Vec<Session>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl MailServer {
    /// A server accepting TLS 1.2 and 1.3. `chain` is DER, leaf first; `key_der` is the
    /// leaf's PKCS#8 key.
    pub fn start(behaviour: Behaviour, chain: Vec<Vec<u8>>, key_der: Vec<u8>) -> MailServer {
        Self::start_with(behaviour, TlsVersions::Tls12AndTls13, chain, key_der)
    }

    pub fn start_with(
        behaviour: Behaviour,
        versions: TlsVersions,
        chain: Vec<Vec<u8>>,
        key_der: Vec<u8>,
    ) -> MailServer {
        Self::start_certs(
            behaviour,
            versions,
            vec![ServedCert {
                sni: None,
                chain,
                key_der,
            }],
        )
    }

    /// A server holding several certificates, chosen per connection by the SNI (an entry with
    /// `sni` matching it, else the entries without `sni`) and then by the first signature
    /// scheme the client offers that the entry's key can make.
    pub fn start_certs(
        behaviour: Behaviour,
        versions: TlsVersions,
        certs: Vec<ServedCert>,
    ) -> MailServer {
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self::start_at(any, behaviour, versions, certs).unwrap()
    }

    /// A server listening on `addr` (a loopback address; port 0 picks one).
    pub fn start_at(
        addr: SocketAddr,
        behaviour: Behaviour,
        versions: TlsVersions,
        certs: Vec<ServedCert>,
    ) -> io::Result<MailServer> {
        assert!(addr.ip().is_loopback(), "{addr} is not a loopback address");
        let listener = TcpListener::bind(addr)?;
        let (config, chooser) = server_config(versions, certs);
        let config = Arc::new(config);
        let addr = listener.local_addr()?;
        let shutdown = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let first_accept: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let sessions = Arc::new(Mutex::new(Vec::new()));

        let acceptor = {
            let shutdown = shutdown.clone();
            let accepted = accepted.clone();
            let first_accept = first_accept.clone();
            let sessions = sessions.clone();
            thread::spawn(move || {
                let mut workers = Vec::new();
                // Blocking: a connection is served as soon as it arrives. Drop wakes the
                // accept with a connection of its own after setting `shutdown`.
                while !shutdown.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok(_) if shutdown.load(Ordering::SeqCst) => break,
                        Ok((tcp, _)) => {
                            let index = accepted.fetch_add(1, Ordering::SeqCst);
                            first_accept
                                .lock()
                                .unwrap()
                                .get_or_insert_with(Instant::now);
                            let behaviour = match behaviour {
                                Behaviour::ImplicitTlsOnce if index > 0 => Behaviour::Silent,
                                Behaviour::ImplicitTlsOnce => Behaviour::ImplicitTls,
                                other => other,
                            };
                            let conn = Conn {
                                tcp,
                                shutdown: shutdown.clone(),
                                config: config.clone(),
                                chooser: chooser.clone(),
                                session: Session::default(),
                            };
                            let sessions = sessions.clone();
                            // Finished connections are let go (their threads' stacks are
                            // freed), so a server can take connections by the ten thousand.
                            workers.retain(|w: &JoinHandle<()>| !w.is_finished());
                            workers.push(thread::spawn(move || {
                                let session = conn.serve(behaviour);
                                sessions.lock().unwrap().push(session);
                            }));
                        }
                        Err(_) => thread::sleep(POLL),
                    }
                }
                for worker in workers {
                    let _ = worker.join();
                }
            })
        };

        Ok(MailServer {
            addr,
            shutdown,
            accepted,
            first_accept,
            sessions,
            acceptor: Some(acceptor),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How many connections have been accepted so far.
    /// When the first connection was accepted, if one was.
    pub fn first_accept(&self) -> Option<Instant> {
        *self.first_accept.lock().unwrap()
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The finished sessions, once at least `count` have finished (waits up to 5 s).
    pub fn sessions(&self, count: usize) -> Vec<Session> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let sessions = self.sessions.lock().unwrap().clone();
            if sessions.len() >= count || Instant::now() >= deadline {
                return sessions;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            let _ = acceptor.join();
        }
    }
}

/// One certificate a server holds: its chain (DER, leaf first), the leaf's PKCS#8 key, and
/// the SNI name it is for (`None`: the default).
#[derive(Debug, Clone)]
pub struct ServedCert {
    pub sni: Option<String>,
    pub chain: Vec<Vec<u8>>,
    pub key_der: Vec<u8>,
}

/// The certificate choice of a server with several: by SNI, then by signature scheme.
#[derive(Debug)]
struct Chooser {
    certs: Vec<(Option<String>, Arc<CertifiedKey>)>,
    /// The choice made for the last ClientHello, read by the connection that made it.
    last: Mutex<Option<(Vec<SignatureScheme>, Option<usize>)>>,
}

impl ResolvesServerCert for Chooser {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello.server_name().map(str::to_ascii_lowercase);
        let schemes = hello.signature_schemes().to_vec();
        let named: Vec<usize> = (0..self.certs.len())
            .filter(|&i| self.certs[i].0.is_some() && self.certs[i].0 == sni)
            .collect();
        let pool: Vec<usize> = if named.is_empty() {
            (0..self.certs.len())
                .filter(|&i| self.certs[i].0.is_none())
                .collect()
        } else {
            named
        };
        let chosen = pool
            .into_iter()
            .find(|&i| self.certs[i].1.key.choose_scheme(&schemes).is_some());
        *self.last.lock().unwrap() = Some((schemes, chosen));
        chosen.map(|i| self.certs[i].1.clone())
    }
}

fn server_config(versions: TlsVersions, certs: Vec<ServedCert>) -> (ServerConfig, Arc<Chooser>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = match versions {
        TlsVersions::Tls12AndTls13 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersions::Tls12Only => &[&rustls::version::TLS12],
        TlsVersions::Tls13Only => &[&rustls::version::TLS13],
    };
    let certs: Vec<(Option<String>, Arc<CertifiedKey>)> = certs
        .into_iter()
        .map(|c| {
            let chain = c.chain.into_iter().map(CertificateDer::from).collect();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der));
            let key = provider.key_provider.load_private_key(key).unwrap();
            (c.sni, Arc::new(CertifiedKey::new(chain, key)))
        })
        .collect();
    let chooser = Arc::new(Chooser {
        certs,
        last: Mutex::new(None),
    });
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(chooser.clone());
    // No session tickets: nothing is left unread in the client's socket when it closes.
    config.send_tls13_tickets = 0;
    (config, chooser)
}

/// The application protocol spoken over TLS after the handshake.
#[derive(Clone, Copy)]
enum Proto {
    Smtp,
    Imap,
    Pop3,
}

struct Conn {
    tcp: TcpStream,
    shutdown: Arc<AtomicBool>,
    config: Arc<ServerConfig>,
    chooser: Arc<Chooser>,
    session: Session,
}

impl Conn {
    fn serve(mut self, behaviour: Behaviour) -> Session {
        let _ = self.tcp.set_nonblocking(false);
        let _ = self.tcp.set_read_timeout(Some(POLL));
        let _ = self.tcp.set_write_timeout(Some(IDLE_LIMIT));
        let _ = self.tcp.set_nodelay(true);
        match behaviour {
            Behaviour::SmtpStarttls
            | Behaviour::SmtpBareLf
            | Behaviour::SmtpNoStarttls
            | Behaviour::SmtpStarttlsRefused
            | Behaviour::SmtpInjection
            | Behaviour::SmtpGreeting554
            | Behaviour::SmtpCloseAfterEhlo
            | Behaviour::SmtpHeloRestriction
            | Behaviour::SmtpDelayedGreeting { .. } => self.smtp(behaviour),
            Behaviour::Pop3ErrAfterGreeting => {
                self.send("+OK POP3 server ready\r\n-ERR maintenance in progress, try later\r\n");
            }
            Behaviour::SmtpLongLine => {
                let line = format!("220 {}", "x".repeat(5000));
                if self.tcp.write_all(line.as_bytes()).is_ok() {
                    self.drain();
                }
            }
            Behaviour::SmtpEndlessReply => {
                let lines = "220-still greeting you\r\n".repeat(64);
                while !self.stopping() && self.tcp.write_all(lines.as_bytes()).is_ok() {}
            }
            Behaviour::ImapStarttls | Behaviour::ImapGreetingCapability | Behaviour::ImapBye => {
                self.imap(behaviour)
            }
            Behaviour::Pop3Stls | Behaviour::Pop3NoCapa => self.pop3(behaviour),
            Behaviour::ImplicitTls | Behaviour::ImplicitTlsOnce => self.tls(Proto::Smtp),
            Behaviour::Silent => self.drain(),
            Behaviour::PlainText => {
                if self.send("220 mx.example.test ESMTP plain text only\r\n") {
                    self.drain();
                }
            }
            Behaviour::AlertProtocolVersion | Behaviour::AlertHandshakeFailure => {
                let mut hello = [0u8; 5];
                if self.read_exact_polling(&mut hello) {
                    // TLS record: alert, TLS 1.0, length 2, fatal (2), then protocol_version
                    // (70) or handshake_failure (40).
                    let description = match behaviour {
                        Behaviour::AlertProtocolVersion => 0x46,
                        _ => 0x28,
                    };
                    let alert = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, description];
                    if self.tcp.write_all(&alert).is_ok() {
                        self.drain();
                    }
                }
            }
        }
        self.session
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    fn send(&mut self, text: &str) -> bool {
        self.tcp.write_all(text.as_bytes()).is_ok()
    }

    fn read_plain_line(&mut self) -> Option<String> {
        let line = read_line(&mut self.tcp, &self.shutdown)?;
        self.session.plaintext.push(line.clone());
        Some(line)
    }

    /// Reads and discards until the client goes away.
    fn drain(&mut self) {
        let deadline = Instant::now() + IDLE_LIMIT;
        let mut buf = [0u8; 1024];
        while !self.stopping() && Instant::now() < deadline {
            match self.tcp.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if is_wait(&e) => {}
                Err(_) => return,
            }
        }
    }

    fn read_exact_polling(&mut self, buf: &mut [u8]) -> bool {
        let deadline = Instant::now() + IDLE_LIMIT;
        let mut filled = 0;
        while filled < buf.len() {
            if self.stopping() || Instant::now() >= deadline {
                return false;
            }
            match self.tcp.read(&mut buf[filled..]) {
                Ok(0) => return false,
                Ok(n) => filled += n,
                Err(e) if is_wait(&e) => {}
                Err(_) => return false,
            }
        }
        true
    }

    fn smtp(&mut self, behaviour: Behaviour) {
        let eol = if behaviour == Behaviour::SmtpBareLf {
            "\n"
        } else {
            "\r\n"
        };
        let greeting = if behaviour == Behaviour::SmtpGreeting554 {
            "554 5.3.2 no service here"
        } else {
            "220 mx.example.test ESMTP test server"
        };
        if let Behaviour::SmtpDelayedGreeting { millis, partial } = behaviour {
            if partial && !self.send(&format!("220-mx.example.test ESMTP, please wait{eol}")) {
                return;
            }
            let until = Instant::now() + Duration::from_millis(millis);
            while Instant::now() < until {
                if self.stopping() {
                    return;
                }
                thread::sleep(POLL);
            }
        }
        if !self.send(&format!("{greeting}{eol}")) {
            return;
        }
        while let Some(line) = self.read_plain_line() {
            let verb = first_word(&line);
            let reply = match verb.as_str() {
                "EHLO" | "HELO" if behaviour == Behaviour::SmtpCloseAfterEhlo => return,
                "EHLO" | "HELO" if behaviour == Behaviour::SmtpGreeting554 => {
                    "503 5.5.1 no service here".to_owned()
                }
                "EHLO"
                    if behaviour == Behaviour::SmtpHeloRestriction
                        && line.split_whitespace().nth(1) != Some("client.example.test") =>
                {
                    let name = line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    format!("550 5.7.1 <{name}>: Helo command rejected: Host not found")
                }
                "EHLO" if behaviour == Behaviour::SmtpNoStarttls => {
                    format!("250-mx.example.test{eol}250-PIPELINING{eol}250 8BITMIME")
                }
                "EHLO" => format!(
                    "250-mx.example.test{eol}250-PIPELINING{eol}250-STARTTLS{eol}250 8BITMIME"
                ),
                "HELO" => "250 mx.example.test".to_owned(),
                "STARTTLS" => match behaviour {
                    Behaviour::SmtpNoStarttls => "502 5.5.1 command not recognized".to_owned(),
                    Behaviour::SmtpStarttlsRefused => "454 4.7.0 TLS not available".to_owned(),
                    Behaviour::SmtpInjection => {
                        // One write, so the injected line reaches the client with the 220.
                        let both = format!("220 2.0.0 Ready to start TLS{eol}250 injected{eol}");
                        if self.send(&both) {
                            self.tls(Proto::Smtp);
                        }
                        return;
                    }
                    _ => {
                        if self.send(&format!("220 2.0.0 Ready to start TLS{eol}")) {
                            self.tls(Proto::Smtp);
                        }
                        return;
                    }
                },
                "QUIT" => {
                    self.send(&format!("221 2.0.0 bye{eol}"));
                    return;
                }
                _ => "502 5.5.2 command not recognized".to_owned(),
            };
            if !self.send(&format!("{reply}{eol}")) {
                return;
            }
        }
    }

    fn imap(&mut self, behaviour: Behaviour) {
        let greeting = match behaviour {
            Behaviour::ImapBye => "* BYE server shutting down\r\n",
            Behaviour::ImapGreetingCapability => {
                "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] test server ready\r\n"
            }
            _ => "* OK IMAP4rev1 test server ready\r\n",
        };
        if !self.send(greeting) || behaviour == Behaviour::ImapBye {
            return;
        }
        while let Some(line) = self.read_plain_line() {
            let (tag, command) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let tag = tag.to_owned();
            let reply = match first_word(command).as_str() {
                "CAPABILITY" => format!(
                    "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n{tag} OK CAPABILITY completed\r\n"
                ),
                "STARTTLS" => {
                    if self.send(&format!("{tag} OK Begin TLS negotiation now\r\n")) {
                        self.tls(Proto::Imap);
                    }
                    return;
                }
                "LOGOUT" => {
                    self.send(&format!(
                        "* BYE logging out\r\n{tag} OK LOGOUT completed\r\n"
                    ));
                    return;
                }
                _ => format!("{tag} BAD command unknown\r\n"),
            };
            if !self.send(&reply) {
                return;
            }
        }
    }

    fn pop3(&mut self, behaviour: Behaviour) {
        if !self.send("+OK POP3 test server ready\r\n") {
            return;
        }
        while let Some(line) = self.read_plain_line() {
            let reply = match first_word(&line).as_str() {
                "CAPA" if behaviour == Behaviour::Pop3NoCapa => "-ERR unknown command\r\n",
                "CAPA" => "+OK Capability list follows\r\nUSER\r\nSTLS\r\n.\r\n",
                "STLS" => {
                    if self.send("+OK Begin TLS negotiation\r\n") {
                        self.tls(Proto::Pop3);
                    }
                    return;
                }
                "QUIT" => {
                    self.send("+OK bye\r\n");
                    return;
                }
                _ => "-ERR unknown command\r\n",
            };
            if !self.send(reply) {
                return;
            }
        }
    }

    /// The TLS handshake, then the protocol's commands over TLS until the client leaves.
    fn tls(&mut self, proto: Proto) {
        let mut tls = match ServerConnection::new(self.config.clone()) {
            Ok(tls) => tls,
            Err(e) => {
                self.session.handshake_error = Some(e.to_string());
                return;
            }
        };
        let deadline = Instant::now() + IDLE_LIMIT;
        while tls.is_handshaking() {
            let result = tls.complete_io(&mut self.tcp);
            if self.session.sni.is_none() {
                self.session.sni = tls.server_name().map(str::to_owned);
            }
            if let Some((schemes, served)) = self.chooser.last.lock().unwrap().take() {
                self.session.signature_schemes = schemes;
                self.session.served = served;
            }
            match result {
                Ok(_) => {}
                Err(e) if is_wait(&e) && !self.stopping() && Instant::now() < deadline => {}
                Err(e) => {
                    self.session.handshake_error = Some(e.to_string());
                    return;
                }
            }
        }
        self.session.tls_version = tls.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            other => format!("{other:?}"),
        });

        let mut stream = rustls::Stream::new(&mut tls, &mut self.tcp);
        while let Some(line) = read_line(&mut stream, &self.shutdown) {
            self.session.over_tls.push(line.clone());
            let (tag, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let (reply, done) = match proto {
                Proto::Smtp => match first_word(&line).as_str() {
                    "QUIT" => ("221 2.0.0 bye\r\n".to_owned(), true),
                    "EHLO" => ("250-mx.example.test\r\n250 8BITMIME\r\n".to_owned(), false),
                    _ => ("502 5.5.2 command not recognized\r\n".to_owned(), false),
                },
                Proto::Imap => match first_word(rest).as_str() {
                    "LOGOUT" => (format!("* BYE logging out\r\n{tag} OK LOGOUT\r\n"), true),
                    _ => (format!("{tag} BAD command unknown\r\n"), false),
                },
                Proto::Pop3 => match first_word(&line).as_str() {
                    "QUIT" => ("+OK bye\r\n".to_owned(), true),
                    _ => ("-ERR unknown command\r\n".to_owned(), false),
                },
            };
            if stream.write_all(reply.as_bytes()).is_err() || done {
                break;
            }
        }
        tls.send_close_notify();
        let _ = tls.complete_io(&mut self.tcp);
    }
}

/// Reads one line (CRLF or LF), byte by byte so that nothing after it is consumed. `None` at
/// end of stream, on error, on shutdown, or when the client has been idle too long.
fn read_line(stream: &mut impl Read, shutdown: &AtomicBool) -> Option<String> {
    let deadline = Instant::now() + IDLE_LIMIT;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if shutdown.load(Ordering::SeqCst) || Instant::now() >= deadline {
            return None;
        }
        match stream.read(&mut byte) {
            Ok(0) => return None,
            Ok(_) if byte[0] == b'\n' => {
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            Ok(_) => line.push(byte[0]),
            Err(e) if is_wait(&e) => {}
            Err(_) => return None,
        }
    }
}

fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn first_word(text: &str) -> String {
    text.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// A CA and a leaf it signed, generated with rcgen (ECDSA P-256).
pub struct TestPki {
    pub ca_der: Vec<u8>,
    pub ca_key_der: Vec<u8>,
    pub leaf_der: Vec<u8>,
    pub leaf_key_der: Vec<u8>,
}

impl TestPki {
    /// A leaf for `names` (DNS names in the SAN) issued by `CN=danekit test CA`.
    pub fn generate(names: &[&str]) -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.distinguished_name = distinguished_name("danekit test CA");
        ca_params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        ca_params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca_key_der = ca_key.serialize_der();
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut leaf_params = CertificateParams::new(names.clone()).unwrap();
        leaf_params.distinguished_name =
            distinguished_name(names.first().map_or("danekit test leaf", |n| n.as_str()));
        leaf_params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        leaf_params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

        TestPki {
            ca_der: ca_cert.der().to_vec(),
            ca_key_der,
            leaf_der: leaf_cert.der().to_vec(),
            leaf_key_der: leaf_key.serialize_der(),
        }
    }

    /// Leaf first, then the CA: what a server is configured to send.
    pub fn chain(&self) -> Vec<Vec<u8>> {
        vec![self.leaf_der.clone(), self.ca_der.clone()]
    }

    /// A server presenting this chain.
    pub fn serve(&self, behaviour: Behaviour) -> MailServer {
        MailServer::start(behaviour, self.chain(), self.leaf_key_der.clone())
    }

    /// A server presenting this chain with only the given TLS versions.
    pub fn serve_with(&self, behaviour: Behaviour, versions: TlsVersions) -> MailServer {
        MailServer::start_with(behaviour, versions, self.chain(), self.leaf_key_der.clone())
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// An [`Env`] whose network is loopback only. Host names added with [`LoopbackEnv::with_host`]
/// resolve to the given loopback address; IP literals must be loopback; anything else is
/// refused without touching the network.
pub struct LoopbackEnv {
    pub now: i64,
    pub stdin: Vec<u8>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// What [`Env::fqdn`] answers; `None` by default, so `EHLO` gets the address literal.
    pub fqdn: Option<String>,
    pub net: LoopbackNet,
}

/// The loopback-only network of a [`LoopbackEnv`].
#[derive(Default)]
pub struct LoopbackNet {
    hosts: HashMap<String, IpAddr>,
    resolves: Mutex<Vec<String>>,
    connects: Mutex<Vec<SocketAddr>>,
}

impl LoopbackEnv {
    /// Time fixed at 2026-01-01T00:00:00Z.
    pub fn new() -> LoopbackEnv {
        LoopbackEnv {
            now: 1_767_225_600,
            stdin: Vec::new(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            fqdn: None,
            net: LoopbackNet::default(),
        }
    }

    /// Makes `name` resolve to `ip`, which must be loopback.
    pub fn with_host(mut self, name: &str, ip: IpAddr) -> LoopbackEnv {
        assert!(ip.is_loopback(), "{ip} is not a loopback address");
        self.net.hosts.insert(name.to_ascii_lowercase(), ip);
        self
    }

    /// The names resolved so far.
    pub fn resolves(&self) -> Vec<String> {
        self.net.resolves.lock().unwrap().clone()
    }

    /// The addresses connected to so far.
    pub fn connects(&self) -> Vec<SocketAddr> {
        self.net.connects.lock().unwrap().clone()
    }
}

impl Default for LoopbackEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Net for LoopbackNet {
    fn resolve(&self, host: &str, port: u16, _timeout: Duration) -> io::Result<Vec<SocketAddr>> {
        self.resolves.lock().unwrap().push(host.to_owned());
        let ip = match self.hosts.get(&host.to_ascii_lowercase()) {
            Some(ip) => *ip,
            None => host.parse::<IpAddr>().map_err(|_| {
                io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"))
            })?,
        };
        Ok(vec![SocketAddr::new(ip, port)])
    }

    fn connect(&self, addr: SocketAddr, timeout: Duration) -> io::Result<Connection> {
        self.connects.lock().unwrap().push(addr);
        if !addr.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{addr} is not loopback; tests stay on loopback"),
            ));
        }
        connect_tcp(addr, timeout)
    }

    fn udp_exchange(
        &self,
        server: SocketAddr,
        payload: &[u8],
        timeout: Duration,
    ) -> io::Result<Vec<u8>> {
        if !server.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{server} is not loopback; tests stay on loopback"),
            ));
        }
        danekit::env::udp_exchange(server, payload, timeout)
    }
}

impl Env for LoopbackEnv {
    fn now(&self) -> i64 {
        self.now
    }

    fn net(&self) -> &dyn Net {
        &self.net
    }

    fn fqdn(&self) -> Option<String> {
        self.fqdn.clone()
    }

    fn system_resolvers(&self) -> Vec<SocketAddr> {
        Vec::new()
    }

    fn read_stdin(&mut self, cap: usize) -> Result<Vec<u8>, ReadError> {
        let data = std::mem::take(&mut self.stdin);
        danekit::env::read_capped(&data[..], cap)
    }

    fn stdout(&mut self) -> &mut dyn Write {
        &mut self.stdout
    }

    fn stderr(&mut self) -> &mut dyn Write {
        &mut self.stderr
    }

    fn net_and_stdout(&mut self) -> (&dyn Net, &mut dyn Write) {
        (&self.net, &mut self.stdout)
    }
}
