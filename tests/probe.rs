//! `probe::probe_chain` against in-process servers on loopback: each STARTTLS dialogue, implicit
//! TLS, TLS 1.2, SNI choice (RFC 7672 §8.1), and each way a server can fail.

mod support;

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use danekit::probe::{Presented, ProbeError, Starttls, Step, Target, probe_chain};
use support::mail_servers::{Behaviour, LoopbackEnv, MailServer, TestPki, TlsVersions};

const TIMEOUT: Duration = Duration::from_millis(500);
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate(&["mx.example.test"]))
}

fn target(server: &MailServer, starttls: Starttls) -> Target {
    Target {
        host: "127.0.0.1".to_owned(),
        port: server.port(),
        starttls,
        sni: None,
        timeout: TIMEOUT,
    }
}

fn probe(server: &MailServer, starttls: Starttls) -> Result<Presented, ProbeError> {
    probe_chain(&LoopbackEnv::new(), &target(server, starttls))
}

fn probe_err(server: &MailServer, starttls: Starttls) -> ProbeError {
    let err = probe(server, starttls).unwrap_err();
    let peer = format!("127.0.0.1:{}: ", server.port());
    assert!(err.to_string().starts_with(&peer), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
    assert!(!err.is_input_error(), "{err}");
    err
}

fn assert_tls13_chain(presented: &Presented, server: &MailServer, starttls: Starttls) {
    assert_eq!(presented.chain, pki().chain());
    assert_eq!(presented.chain.len(), 2);
    assert_eq!(presented.peer, server.addr);
    assert_eq!(presented.tls_version, "TLSv1.3");
    assert_eq!(presented.cipher_suite, "TLS13_AES_256_GCM_SHA384");
    assert_eq!(presented.starttls, starttls);
    assert_eq!(presented.sni, None);
}

#[test]
fn smtp_starttls_rfc_3207_captures_the_chain_as_sent() {
    let server = pki().serve(Behaviour::SmtpStarttls);
    let presented = probe(&server, Starttls::Smtp).unwrap();
    assert_tls13_chain(&presented, &server, Starttls::Smtp);

    let transcript = presented.transcript.to_string();
    assert_eq!(
        transcript,
        "S: 220 mx.example.test ESMTP test server\n\
         C: EHLO danekit.invalid\n\
         S: 250-mx.example.test\n\
         S: 250-PIPELINING\n\
         S: 250-STARTTLS\n\
         S: 250 8BITMIME\n\
         C: STARTTLS\n\
         S: 220 2.0.0 Ready to start TLS\n"
    );

    let sessions = server.sessions(1);
    assert_eq!(sessions[0].plaintext, ["EHLO danekit.invalid", "STARTTLS"]);
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
fn sni_is_the_host_name_rfc_7672_section_8_1() {
    let server = pki().serve(Behaviour::SmtpStarttls);
    let env = LoopbackEnv::new().with_host("mx.example.test", LOCALHOST);
    let target = Target {
        host: "mx.example.test".to_owned(),
        ..target(&server, Starttls::Smtp)
    };
    let presented = probe_chain(&env, &target).unwrap();
    assert_eq!(presented.sni.as_deref(), Some("mx.example.test"));
    assert_eq!(
        server.sessions(1)[0].sni.as_deref(),
        Some("mx.example.test")
    );
    assert_eq!(
        env.connects(),
        [("mx.example.test".to_owned(), server.port())]
    );
}

#[test]
fn sni_given_explicitly() {
    let server = pki().serve(Behaviour::ImplicitTls);
    let target = Target {
        sni: Some("tlsa-base.example.test".to_owned()),
        ..target(&server, Starttls::None)
    };
    let presented = probe_chain(&LoopbackEnv::new(), &target).unwrap();
    assert_eq!(presented.sni.as_deref(), Some("tlsa-base.example.test"));
    assert_eq!(
        server.sessions(1)[0].sni.as_deref(),
        Some("tlsa-base.example.test")
    );
}

#[test]
fn invalid_sni_is_an_input_error_and_nothing_is_sent() {
    let server = pki().serve(Behaviour::SmtpStarttls);
    for bad in ["not a name", "192.0.2.1"] {
        let target = Target {
            sni: Some(bad.to_owned()),
            ..target(&server, Starttls::Smtp)
        };
        let err = probe_chain(&LoopbackEnv::new(), &target).unwrap_err();
        assert!(
            matches!(&err, ProbeError::InvalidSni { name, .. } if name == bad),
            "{err}"
        );
        assert!(err.is_input_error());
        assert!(
            err.to_string().starts_with(&format!(
                "127.0.0.1:{}: invalid SNI name \"{bad}\": ",
                server.port()
            )),
            "{err}"
        );
    }
    assert_eq!(server.accepted(), 0);
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
    assert_eq!(server.sessions(1)[0].plaintext, ["EHLO danekit.invalid"]);
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
    let started = Instant::now();
    let err = probe_err(&server, Starttls::Smtp);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        matches!(
            err,
            ProbeError::Timeout {
                step: Step::Greeting,
                timeout: TIMEOUT,
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
    let err = probe_err(&server, Starttls::None);
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
            ProbeError::Handshake {
                error: rustls::Error::InvalidMessage(_),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: TLS handshake failed: received corrupt message of type \
             InvalidContentType",
            server.port()
        )
    );
}

#[test]
fn tls_1_0_only_server_alert() {
    let server = pki().serve(Behaviour::AlertProtocolVersion);
    let err = probe_err(&server, Starttls::None);
    assert!(
        matches!(
            &err,
            ProbeError::Handshake {
                error: rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "127.0.0.1:{}: TLS handshake failed: received fatal alert: ProtocolVersion",
            server.port()
        )
    );
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
    let port = {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.local_addr().unwrap().port()
    };
    let target = Target {
        host: "127.0.0.1".to_owned(),
        port,
        starttls: Starttls::Smtp,
        sni: None,
        timeout: TIMEOUT,
    };
    let err = probe_chain(&LoopbackEnv::new(), &target).unwrap_err();
    assert!(
        matches!(&err, ProbeError::Connect { peer, error }
            if peer.addr.is_none() && error.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("127.0.0.1:{port}: cannot connect: ")),
        "{err}"
    );
    assert!(!err.is_input_error());
}

#[test]
fn errors_name_the_host_and_the_address() {
    let server = pki().serve(Behaviour::SmtpNoStarttls);
    let env = LoopbackEnv::new().with_host("mx.example.test", LOCALHOST);
    let target = Target {
        host: "mx.example.test".to_owned(),
        ..target(&server, Starttls::Smtp)
    };
    let err = probe_chain(&env, &target).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "mx.example.test:{} (127.0.0.1): server does not offer STARTTLS",
            server.port()
        )),
        "{err}"
    );
    assert_eq!(err.peer().addr, Some(server.addr));
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
