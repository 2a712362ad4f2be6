//! The probe against in-process servers on loopback: each STARTTLS dialogue, implicit TLS,
//! TLS 1.2, SNI (RFC 7672 §8.1), certificates chosen by SNI and by signature scheme, the EHLO
//! name, the greeting wait, and each way a server can fail.
//!
//! Success paths run with the default limits (10 s per step, 60 s for the greeting); only the
//! tests that wait for a silent server on purpose use short ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use danekit::addr::Host;
use danekit::probe::{
    KeyType, Presented, ProbeError, Starttls, Step, Target, probe_all, probe_chain, sni_name,
};
use rustls::SignatureScheme;
use support::mail_servers::{Behaviour, LoopbackEnv, MailServer, ServedCert, TestPki, TlsVersions};

const TIMEOUT: Duration = Duration::from_secs(10);
const GREETING: Duration = Duration::from_secs(60);
/// For the tests that wait on a silent server on purpose.
const SHORT: Duration = Duration::from_millis(500);
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate(&["mx.example.test"]))
}

fn named_pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate(&["named.example.test"]))
}

/// The fixture RSA-2048 chain and key: a second certificate for a dual-key server.
fn rsa_cert() -> ServedCert {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki");
    let chain = ["leaf-rsa2048.der"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .chain(std::iter::once(pem_der(&dir.join("int-ca.pem"))))
        .collect();
    ServedCert {
        sni: None,
        chain,
        key_der: std::fs::read(dir.join("leaf-rsa2048.key.der")).unwrap(),
    }
}

fn pem_der(path: &std::path::Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    data_encoding::BASE64.decode(b64.as_bytes()).unwrap()
}

fn ecdsa_cert(pki: &TestPki, sni: Option<&str>) -> ServedCert {
    ServedCert {
        sni: sni.map(str::to_owned),
        chain: pki.chain(),
        key_der: pki.leaf_key_der.clone(),
    }
}

fn target(server: &MailServer, starttls: Starttls) -> Target {
    Target {
        host: Host::Ip(LOCALHOST),
        port: server.port(),
        starttls,
        sni: None,
        ehlo: None,
        timeout: TIMEOUT,
        greeting_timeout: GREETING,
    }
}

fn short(server: &MailServer, starttls: Starttls) -> Target {
    Target {
        timeout: SHORT,
        greeting_timeout: SHORT,
        ..target(server, starttls)
    }
}

fn addrs(server: &MailServer) -> Vec<SocketAddr> {
    vec![server.addr]
}

fn probe_with(server: &MailServer, target: &Target) -> Result<Presented, ProbeError> {
    probe_chain(
        &LoopbackEnv::new().net,
        target,
        &addrs(server),
        KeyType::Ecdsa,
    )
}

fn probe(server: &MailServer, starttls: Starttls) -> Result<Presented, ProbeError> {
    probe_with(server, &target(server, starttls))
}

fn check_err(server: &MailServer, err: ProbeError) -> ProbeError {
    let peer = format!("127.0.0.1:{}: ", server.port());
    assert!(err.to_string().starts_with(&peer), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
    assert!(!err.is_input_error(), "{err}");
    err
}

fn probe_err(server: &MailServer, starttls: Starttls) -> ProbeError {
    check_err(server, probe(server, starttls).unwrap_err())
}

fn assert_tls13_chain(presented: &Presented, server: &MailServer, starttls: Starttls) {
    assert_eq!(presented.chain, pki().chain());
    assert_eq!(presented.chain.len(), 2);
    assert_eq!(presented.peer, server.addr);
    assert_eq!(presented.tls_version, "TLSv1.3");
    assert_eq!(presented.cipher_suite, "TLS13_AES_256_GCM_SHA384");
    assert_eq!(presented.starttls, starttls);
    assert_eq!(presented.sni, None);
    assert_eq!(presented.key_type, KeyType::Ecdsa);
}

#[test]
fn smtp_starttls_rfc_3207_captures_the_chain_as_sent() {
    let server = pki().serve(Behaviour::SmtpStarttls);
    let presented = probe(&server, Starttls::Smtp).unwrap();
    assert_tls13_chain(&presented, &server, Starttls::Smtp);

    // Without a fully qualified name, EHLO gives the address literal (RFC 5321 §4.1.4).
    let transcript = presented.transcript.to_string();
    assert_eq!(
        transcript,
        "S: 220 mx.example.test ESMTP test server\n\
         C: EHLO [127.0.0.1]\n\
         S: 250-mx.example.test\n\
         S: 250-PIPELINING\n\
         S: 250-STARTTLS\n\
         S: 250 8BITMIME\n\
         C: STARTTLS\n\
         S: 220 2.0.0 Ready to start TLS\n"
    );

    let sessions = server.sessions(1);
    assert_eq!(sessions[0].plaintext, ["EHLO [127.0.0.1]", "STARTTLS"]);
    assert_eq!(sessions[0].tls_version.as_deref(), Some("TLSv1.3"));
    assert_eq!(sessions[0].sni, None, "no SNI for an IP address");
}

#[test]
fn smtp_starttls_with_bare_lf_line_ends() {
    let server = pki().serve(Behaviour::SmtpBareLf);
    let presented = probe(&server, Starttls::Smtp).unwrap();
    assert_tls13_chain(&presented, &server, Starttls::Smtp);
}

#[test]
fn imap_starttls_rfc_3501() {
    let server = pki().serve(Behaviour::ImapStarttls);
    let presented = probe(&server, Starttls::Imap).unwrap();
    assert_tls13_chain(&presented, &server, Starttls::Imap);
    assert_eq!(
        server.sessions(1)[0].plaintext,
        ["a1 CAPABILITY", "a2 STARTTLS"]
    );
}

#[test]
fn imap_capabilities_in_the_greeting_are_used() {
    let server = pki().serve(Behaviour::ImapGreetingCapability);
    let presented = probe(&server, Starttls::Imap).unwrap();
    assert_tls13_chain(&presented, &server, Starttls::Imap);
    assert_eq!(server.sessions(1)[0].plaintext, ["a2 STARTTLS"]);
}

#[test]
fn pop3_stls_rfc_2595() {
    let server = pki().serve(Behaviour::Pop3Stls);
    let presented = probe(&server, Starttls::Pop3).unwrap();
    assert_tls13_chain(&presented, &server, Starttls::Pop3);
    assert_eq!(server.sessions(1)[0].plaintext, ["CAPA", "STLS"]);
}

#[test]
fn pop3_stls_is_tried_when_capa_fails() {
    let server = pki().serve(Behaviour::Pop3NoCapa);
    let presented = probe(&server, Starttls::Pop3).unwrap();
    assert_tls13_chain(&presented, &server, Starttls::Pop3);
    assert_eq!(server.sessions(1)[0].plaintext, ["CAPA", "STLS"]);
}

#[test]
fn pop3_err_after_the_greeting_is_reported_in_its_own_words() {
    let server = pki().serve(Behaviour::Pop3ErrAfterGreeting);
    let err = probe_err(&server, Starttls::Pop3);
    assert!(matches!(err, ProbeError::ClosedAfterError { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: server replied \"-ERR maintenance in progress, try later\" and \
             closed the connection",
            server.port()
        )
    );
}

#[test]
fn implicit_tls() {
    let server = pki().serve(Behaviour::ImplicitTls);
    let presented = probe(&server, Starttls::None).unwrap();
    assert_tls13_chain(&presented, &server, Starttls::None);
    assert!(presented.transcript.lines.is_empty());
}

#[test]
fn tls12_only_server() {
    let server = pki().serve_with(Behaviour::ImplicitTls, TlsVersions::Tls12Only);
    let presented = probe(&server, Starttls::None).unwrap();
    assert_eq!(presented.chain, pki().chain());
    assert_eq!(presented.tls_version, "TLSv1.2");
    assert_eq!(
        presented.cipher_suite,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
    );
}

#[test]
fn tls12_only_server_after_starttls() {
    let server = pki().serve_with(Behaviour::SmtpStarttls, TlsVersions::Tls12Only);
    let presented = probe(&server, Starttls::Smtp).unwrap();
    assert_eq!(presented.chain, pki().chain());
    assert_eq!(presented.tls_version, "TLSv1.2");
}

#[test]
fn smtp_session_ends_with_quit_over_tls() {
    let server = pki().serve(Behaviour::SmtpStarttls);
    probe(&server, Starttls::Smtp).unwrap();
    assert_eq!(server.sessions(1)[0].over_tls, ["QUIT"]);
}

#[test]
fn several_probes_against_one_server() {
    let server = pki().serve(Behaviour::SmtpStarttls);
    for _ in 0..3 {
        let presented = probe(&server, Starttls::Smtp).unwrap();
        assert_eq!(presented.chain, pki().chain());
    }
    assert_eq!(server.accepted(), 3);
    assert_eq!(server.sessions(3).len(), 3);
}

#[test]
fn a_host_name_is_resolved_through_the_environment() {
    let server = pki().serve(Behaviour::SmtpStarttls);
    let env = LoopbackEnv::new().with_host("mx.example.test", LOCALHOST);
    let target = Target {
        host: Host::Name(danekit::addr::parse_host_name("mx.example.test").unwrap()),
        sni: Some(sni_name("mx.example.test").unwrap()),
        ..target(&server, Starttls::Smtp)
    };
    let found = probe_all(&env.net, &target, &[KeyType::Ecdsa]).unwrap();
    assert_eq!(found.chains.len(), 1);
    assert_eq!(found.chains[0].sni.as_deref(), Some("mx.example.test"));
    assert_eq!(
        server.sessions(1)[0].sni.as_deref(),
        Some("mx.example.test")
    );
    assert_eq!(env.resolves(), ["mx.example.test"]);
    assert_eq!(env.connects(), [server.addr]);
}

#[test]
fn sni_given_explicitly() {
    let server = pki().serve(Behaviour::ImplicitTls);
    let target = Target {
        sni: Some(sni_name("tlsa-base.example.test").unwrap()),
        ..target(&server, Starttls::None)
    };
    let presented = probe_with(&server, &target).unwrap();
    assert_eq!(presented.sni.as_deref(), Some("tlsa-base.example.test"));
    assert_eq!(
        server.sessions(1)[0].sni.as_deref(),
        Some("tlsa-base.example.test")
    );
}

/// A server with a certificate per name (Dovecot `local_name`, Exim `$tls_in_sni`, Postfix
/// `tls_server_sni_maps`) presents the named one only when the SNI asks for it.
#[test]
fn per_name_certificates_follow_the_sni() {
    let server = MailServer::start_certs(
        Behaviour::SmtpStarttls,
        TlsVersions::Tls12AndTls13,
        vec![
            ecdsa_cert(pki(), None),
            ecdsa_cert(named_pki(), Some("named.example.test")),
        ],
    );
    let named = Target {
        sni: Some(sni_name("named.example.test").unwrap()),
        ..target(&server, Starttls::Smtp)
    };
    assert_eq!(
        probe_with(&server, &named).unwrap().chain,
        named_pki().chain()
    );
    assert_eq!(probe(&server, Starttls::Smtp).unwrap().chain, pki().chain());
    let sessions = server.sessions(2);
    assert_eq!(sessions[0].served, Some(1));
    assert_eq!(sessions[1].served, Some(0));
}

/// A server with an ECDSA and an RSA certificate gives each to the client that asks for it:
/// one handshake per key type gets both chains, ECDSA first (RFC 8446 §4.2.3).
#[test]
fn every_certificate_of_a_dual_key_server() {
    for versions in [TlsVersions::Tls12AndTls13, TlsVersions::Tls12Only] {
        let server = MailServer::start_certs(
            Behaviour::SmtpStarttls,
            versions,
            vec![ecdsa_cert(pki(), None), rsa_cert()],
        );
        let env = LoopbackEnv::new();
        let found = probe_all(&env.net, &target(&server, Starttls::Smtp), &KeyType::ALL).unwrap();
        let chains: Vec<_> = found
            .chains
            .iter()
            .map(|p| (p.key_type, p.chain.clone()))
            .collect();
        assert_eq!(
            chains,
            vec![
                (KeyType::Ecdsa, pki().chain()),
                (KeyType::Rsa, rsa_cert().chain)
            ]
        );
        // The Ed25519 handshake found no certificate: the server has none.
        assert_eq!(found.failures.len(), 1);
        assert_eq!(found.failures[0].0, KeyType::Ed25519);
        let sessions = server.sessions(3);
        let offered: Vec<Vec<SignatureScheme>> = sessions
            .iter()
            .map(|s| s.signature_schemes.clone())
            .collect();
        assert!(
            offered.contains(&vec![
                SignatureScheme::ECDSA_NISTP384_SHA384,
                SignatureScheme::ECDSA_NISTP256_SHA256,
            ]) || offered.contains(&vec![
                SignatureScheme::ECDSA_NISTP256_SHA256,
                SignatureScheme::ECDSA_NISTP384_SHA384,
            ]),
            "{offered:?}"
        );
        assert!(
            offered.contains(&vec![SignatureScheme::ED25519]),
            "{offered:?}"
        );
        assert!(
            offered
                .iter()
                .any(|o| !o.is_empty() && o.iter().all(|s| format!("{s:?}").starts_with("RSA_"))),
            "{offered:?}"
        );
    }
}

#[test]
fn one_key_type_asks_for_one_chain() {
    let server = MailServer::start_certs(
        Behaviour::ImplicitTls,
        TlsVersions::Tls12AndTls13,
        vec![ecdsa_cert(pki(), None), rsa_cert()],
    );
    let env = LoopbackEnv::new();
    let found = probe_all(&env.net, &target(&server, Starttls::None), &[KeyType::Rsa]).unwrap();
    assert_eq!(found.chains.len(), 1);
    assert_eq!(found.chains[0].chain, rsa_cert().chain);
    assert_eq!(server.accepted(), 1);
}

/// Once one chain is in hand, a later key type that fails (here: the server goes silent) is
/// recorded and warned about, and the chain is still returned.
#[test]
fn a_failure_after_the_first_chain_is_a_warning() {
    let server = pki().serve(Behaviour::ImplicitTlsOnce);
    let env = LoopbackEnv::new();
    let fetched =
        danekit::probe::fetch_inputs(&env.net, &short(&server, Starttls::None), &KeyType::ALL)
            .unwrap();
    assert_eq!(fetched.inputs.len(), 1);
    let types: Vec<KeyType> = fetched.failures.iter().map(|f| f.0).collect();
    assert_eq!(types, [KeyType::Rsa, KeyType::Ed25519]);
    let messages: Vec<&str> = fetched
        .findings
        .iter()
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(messages.len(), 2);
    assert!(
        messages[0].starts_with(
            "the handshake asking for an RSA certificate failed, so a chain the server holds \
             may be missing from the records: 127.0.0.1:"
        ),
        "{messages:?}"
    );
    assert!(messages[0].ends_with("timed out after 500 ms during the TLS handshake"));
    // A dual-key server's refusal of Ed25519 is no warning: it has no such certificate.
    let dual = MailServer::start_certs(
        Behaviour::ImplicitTls,
        TlsVersions::Tls12AndTls13,
        vec![ecdsa_cert(pki(), None), rsa_cert()],
    );
    let fetched =
        danekit::probe::fetch_inputs(&env.net, &target(&dual, Starttls::None), &KeyType::ALL)
            .unwrap();
    assert_eq!(fetched.inputs.len(), 2);
    assert_eq!(fetched.failures.len(), 1);
    assert!(fetched.findings.is_empty(), "{:?}", fetched.findings);
}

#[test]
fn a_rejected_ehlo_is_named_as_such() {
    let server = pki().serve(Behaviour::SmtpHeloRestriction);
    let err = probe_err(&server, Starttls::Smtp);
    assert!(
        matches!(&err, ProbeError::EhloRejected { name, .. } if name == "[127.0.0.1]"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: server rejected EHLO [127.0.0.1] (550 5.7.1 <[127.0.0.1]>: Helo \
             command rejected: Host not found)",
            server.port()
        )
    );
    let accepted = Target {
        ehlo: Some("client.example.test".into()),
        ..target(&server, Starttls::Smtp)
    };
    let presented = probe_with(&server, &accepted).unwrap();
    assert_eq!(presented.chain, pki().chain());
    assert_eq!(
        server.sessions(2)[1].plaintext,
        ["EHLO client.example.test", "STARTTLS"]
    );
}

#[test]
fn a_greeting_slower_than_the_limit_times_out_with_the_greeting_limit() {
    let server = pki().serve(Behaviour::SmtpDelayedGreeting {
        millis: 5_000,
        partial: true,
    });
    let quick = Target {
        greeting_timeout: Duration::from_millis(700),
        ..target(&server, Starttls::Smtp)
    };
    let err = check_err(&server, probe_with(&server, &quick).unwrap_err());
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: timed out after 700 ms while waiting for the greeting",
            server.port()
        )
    );
}

#[test]
fn smtp_without_starttls() {
    let server = pki().serve(Behaviour::SmtpNoStarttls);
    let err = probe_err(&server, Starttls::Smtp);
    assert!(
        matches!(
            err,
            ProbeError::NoStarttls {
                keyword: "STARTTLS",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: server does not offer STARTTLS \
             (EHLO reply: 250-mx.example.test, 250-PIPELINING, 250 8BITMIME)",
            server.port()
        )
    );
    assert_eq!(server.sessions(1)[0].plaintext, ["EHLO [127.0.0.1]"]);
}

#[test]
fn smtp_starttls_refused_with_454() {
    let server = pki().serve(Behaviour::SmtpStarttlsRefused);
    let err = probe_err(&server, Starttls::Smtp);
    assert!(
        matches!(&err, ProbeError::StarttlsRefused { command: "STARTTLS", reply, .. }
            if reply.lines == ["454 4.7.0 TLS not available"]),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: server refused STARTTLS (454 4.7.0 TLS not available)",
            server.port()
        )
    );
}

#[test]
fn smtp_starttls_response_injection_cve_2011_0411() {
    let server = pki().serve(Behaviour::SmtpInjection);
    let err = probe_err(&server, Starttls::Smtp);
    assert!(
        matches!(&err, ProbeError::Injection { command: "STARTTLS", bytes: 14, preview, .. }
            if preview == "250 injected\\r\\n"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: server sent 14 bytes after its STARTTLS reply, before the TLS \
             handshake (STARTTLS response injection, CVE-2011-0411): \"250 injected\\r\\n\"",
            server.port()
        )
    );
    // The probe stopped: no handshake was attempted.
    let session = &server.sessions(1)[0];
    assert_eq!(session.tls_version, None);
    assert!(session.handshake_error.is_some());
}

#[test]
fn smtp_greeting_554() {
    let server = pki().serve(Behaviour::SmtpGreeting554);
    let err = probe_err(&server, Starttls::Smtp);
    assert!(matches!(err, ProbeError::Greeting { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: server refused the session in its greeting \
             (554 5.3.2 no service here)",
            server.port()
        )
    );
}

#[test]
fn imap_bye_greeting() {
    let server = pki().serve(Behaviour::ImapBye);
    let err = probe_err(&server, Starttls::Imap);
    assert!(matches!(err, ProbeError::Greeting { .. }), "{err}");
    assert!(
        err.to_string().ends_with("(* BYE server shutting down)"),
        "{err}"
    );
}

#[test]
fn silent_server_times_out() {
    let server = pki().serve(Behaviour::Silent);
    let err = check_err(
        &server,
        probe_with(&server, &short(&server, Starttls::Smtp)).unwrap_err(),
    );
    assert!(
        matches!(
            err,
            ProbeError::Timeout {
                step: Step::Greeting,
                limit: SHORT,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: timed out after 500 ms while waiting for the greeting",
            server.port()
        )
    );
}

#[test]
fn silent_server_times_out_in_the_handshake() {
    let server = pki().serve(Behaviour::Silent);
    let err = check_err(
        &server,
        probe_with(&server, &short(&server, Starttls::None)).unwrap_err(),
    );
    assert!(
        matches!(
            err,
            ProbeError::Timeout {
                step: Step::Handshake,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().ends_with("during the TLS handshake"),
        "{err}"
    );
}

#[test]
fn a_probe_stays_within_its_bound() {
    // A server that never answers: the greeting limit and the connection bound end it.
    let server = pki().serve(Behaviour::Silent);
    let started = Instant::now();
    let t = short(&server, Starttls::Smtp);
    probe_with(&server, &t).unwrap_err();
    assert!(started.elapsed() <= t.connection_bound() + Duration::from_secs(2));
}

#[test]
fn server_closes_after_ehlo() {
    let server = pki().serve(Behaviour::SmtpCloseAfterEhlo);
    let err = probe_err(&server, Starttls::Smtp);
    assert!(
        matches!(
            err,
            ProbeError::Closed {
                step: Step::Reply("EHLO"),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: server closed the connection while waiting for the reply to EHLO",
            server.port()
        )
    );
}

#[test]
fn plain_text_where_tls_is_expected() {
    let server = pki().serve(Behaviour::PlainText);
    let err = probe_err(&server, Starttls::None);
    assert!(
        matches!(
            &err,
            ProbeError::PlainText {
                suggested: Some(Starttls::Smtp),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: server answered in plain text, not TLS (\"220 mx.example.test ESMTP \
             plain text only\"); it speaks SMTP and expects its STARTTLS dialogue first",
            server.port()
        )
    );
}

#[test]
fn tls_1_0_only_server_alert() {
    let server = pki().serve(Behaviour::AlertProtocolVersion);
    let target = Target {
        sni: Some(sni_name("mx.example.test").unwrap()),
        ..target(&server, Starttls::None)
    };
    let err = check_err(&server, probe_with(&server, &target).unwrap_err());
    assert!(matches!(&err, ProbeError::OldTls { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: TLS handshake failed (SNI mx.example.test): the server speaks only \
             TLS 1.0 or 1.1, and danekit speaks TLS 1.2 and 1.3 (received fatal alert: \
             ProtocolVersion)",
            server.port()
        )
    );
}

#[test]
fn static_rsa_only_server_alert() {
    let server = pki().serve(Behaviour::AlertHandshakeFailure);
    let env = LoopbackEnv::new();
    let err = probe_all(&env.net, &target(&server, Starttls::None), &KeyType::ALL).unwrap_err();
    let err = check_err(&server, err);
    assert!(matches!(&err, ProbeError::NoCommonCipher { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: TLS handshake failed (no SNI): the server accepts none of danekit's \
             cipher suites (TLS 1.2/1.3 with ECDHE and AES-GCM or ChaCha20); it may allow only \
             static-RSA key exchange or CBC suites (received fatal alert: HandshakeFailure)",
            server.port()
        )
    );
    assert_eq!(server.accepted(), 3, "one handshake per key type");
}

#[test]
fn over_long_line_is_a_protocol_error() {
    let server = pki().serve(Behaviour::SmtpLongLine);
    let err = probe_err(&server, Starttls::Smtp);
    assert!(
        matches!(
            err,
            ProbeError::Protocol {
                step: Step::Greeting,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: malformed reply while waiting for the greeting: \
             a line longer than 4096 bytes",
            server.port()
        )
    );
}

#[test]
fn endless_reply_is_a_protocol_error() {
    let server = pki().serve(Behaviour::SmtpEndlessReply);
    let err = probe_err(&server, Starttls::Smtp);
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: malformed reply while waiting for the greeting: \
             more than 200 lines in one reply",
            server.port()
        )
    );
}

#[test]
fn closed_port_is_a_connect_error() {
    // A listener bound and closed again: nothing listens there. (No server is started on the
    // port, so a race with another process can only make this a different connect error.)
    let addr = {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.local_addr().unwrap()
    };
    let target = Target {
        host: Host::Ip(LOCALHOST),
        port: addr.port(),
        starttls: Starttls::Smtp,
        sni: None,
        ehlo: None,
        timeout: TIMEOUT,
        greeting_timeout: GREETING,
    };
    let err = probe_chain(&LoopbackEnv::new().net, &target, &[addr], KeyType::Ecdsa).unwrap_err();
    assert!(
        matches!(&err, ProbeError::Connect { peer, .. } if peer.addr.is_none()),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("127.0.0.1:{}: cannot connect: ", addr.port())),
        "{err}"
    );
    assert!(!err.is_input_error());
}

#[test]
fn an_unknown_name_is_a_resolution_error() {
    let target = Target {
        host: Host::Name(danekit::addr::parse_host_name("nowhere.example.test").unwrap()),
        port: 25,
        starttls: Starttls::Smtp,
        sni: None,
        ehlo: None,
        timeout: TIMEOUT,
        greeting_timeout: GREETING,
    };
    let err = probe_all(&LoopbackEnv::new().net, &target, &KeyType::ALL).unwrap_err();
    assert_eq!(
        err.to_string(),
        "nowhere.example.test:25: cannot resolve the name: nowhere.example.test has no address"
    );
}

#[test]
fn errors_name_the_host_and_the_address() {
    let server = pki().serve(Behaviour::SmtpNoStarttls);
    let env = LoopbackEnv::new().with_host("mx.example.test", LOCALHOST);
    let target = Target {
        host: Host::Name(danekit::addr::parse_host_name("mx.example.test").unwrap()),
        ..target(&server, Starttls::Smtp)
    };
    let err = probe_all(&env.net, &target, &KeyType::ALL).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "mx.example.test:{} (127.0.0.1): server does not offer STARTTLS",
            server.port()
        )),
        "{err}"
    );
    assert_eq!(err.peer().and_then(|p| p.addr), Some(server.addr));
    // A failure before the handshake is not retried with another key type.
    assert_eq!(server.accepted(), 1);
}

#[test]
fn wrong_dialogue_for_the_server() {
    // An IMAP client against an SMTP server: the greeting is not `* OK`.
    let server = pki().serve(Behaviour::SmtpStarttls);
    let err = probe_err(&server, Starttls::Imap);
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: malformed reply while waiting for the greeting: \
             unexpected line \"220 mx.example.test ESMTP test server\"",
            server.port()
        )
    );
}
