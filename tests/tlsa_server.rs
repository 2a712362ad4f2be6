//! `danekit tlsa --server`: the chain fetched from in-test SMTP, IMAP, POP3 and implicit-TLS
//! servers on loopback gives the same records as the chain file the server was given, and
//! every network failure is exit 3 with one line naming the peer.
//!
//! In process through `cli::run` with a loopback-only environment (fixed clock, captured
//! output), and once through the built binary.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use danekit::cli;
use danekit::pki::{self, Loaded};
use support::mail_servers::{Behaviour, LoopbackEnv, MailServer};

fn pki(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pki")
        .join(name)
}

/// The DER certificates of a PEM chain file, in order, as the library reads them.
fn chain_der(file: &str) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(pki(file)).expect("read chain");
    match pki::parse_input(file, &bytes)
        .expect("fixture chain")
        .loaded
    {
        Loaded::Chain(certs) => certs.into_iter().map(|c| c.der).collect(),
        Loaded::Key { .. } => panic!("{file} holds no certificate"),
    }
}

fn serve(behaviour: Behaviour, leaf: &str) -> MailServer {
    let chain = chain_der(&format!("leaf-{leaf}.chain.pem"));
    let key = std::fs::read(pki(&format!("leaf-{leaf}.key.der"))).expect("key");
    MailServer::start(behaviour, chain, key)
}

struct Outcome {
    code: u8,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Outcome {
    let mut env =
        LoopbackEnv::new().with_host("mail.example.test", IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut argv = vec!["danekit"];
    argv.extend_from_slice(args);
    let code = cli::run(argv, &mut env);
    Outcome {
        code,
        stdout: String::from_utf8_lossy(&env.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&env.stderr).into_owned(),
    }
}

fn from_file(file: &str, records: &str) -> String {
    let path = pki(file);
    let out = run(&[
        "tlsa",
        path.to_str().expect("utf-8 path"),
        "--records",
        records,
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
}

#[test]
fn smtp_starttls_chain_gives_the_records_of_the_chain_file() {
    for leaf in ["p256", "rsa2048", "ed25519"] {
        let server = serve(Behaviour::SmtpStarttls, leaf);
        let addr = format!("127.0.0.1:{}", server.port());
        let out = run(&[
            "tlsa",
            "--server",
            &addr,
            "--starttls",
            "smtp",
            "--records",
            "3 1 1,2 1 1,3 0 1",
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            from_file(&format!("leaf-{leaf}.chain.pem"), "3 1 1,2 1 1,3 0 1")
        );
        assert_eq!(out.stdout.lines().count(), 3);
        assert_eq!(
            out.stderr,
            format!(
                "warning: port {}: 3 0 1: a DANE-EE record of the whole certificate changes at \
                 every renewal, even when the key is kept; 3 1 1 survives renewals with the same key\n",
                server.port()
            )
        );
    }
}

#[test]
fn imap_pop3_and_implicit_tls() {
    let expected = from_file("leaf-p384.chain.pem", "3 1 1,2 0 1");
    for (behaviour, starttls) in [
        (Behaviour::ImapStarttls, "imap"),
        (Behaviour::Pop3Stls, "pop3"),
        (Behaviour::ImplicitTls, "none"),
    ] {
        let server = serve(behaviour, "p384");
        let addr = format!("127.0.0.1:{}", server.port());
        let out = run(&[
            "tlsa",
            "--server",
            &addr,
            "--starttls",
            starttls,
            "--records",
            "3 1 1,2 0 1",
        ]);
        assert_eq!(out.code, 0, "{starttls}: {}", out.stderr);
        assert_eq!(out.stdout, expected, "{starttls}");
    }
}

#[test]
fn owner_comes_from_the_server_name_and_port() {
    let server = serve(Behaviour::SmtpStarttls, "p256");
    let addr = format!("mail.example.test:{}", server.port());
    let out = run(&[
        "tlsa",
        "--server",
        &addr,
        "--starttls",
        "smtp",
        "-o",
        "zone",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "_{}._tcp.mail.example.test. 3600 IN TLSA 3 1 1 \
             fc32c9e85ed03d2bd60072d1b0014bcc4ed83e8c4050211ca8d1e0906c888e0c\n",
            server.port()
        )
    );
    // The server saw the host name as SNI (RFC 7672 §8.1).
    let sessions = server.sessions(1);
    assert_eq!(sessions[0].sni.as_deref(), Some("mail.example.test"));

    let out = run(&[
        "tlsa",
        "--server",
        &addr,
        "--starttls",
        "smtp",
        "-o",
        "zone",
        "--port",
        "25",
        "--host",
        "mx.example.test",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with("_25._tcp.mx.example.test. 3600 IN TLSA 3 1 1 fc32c9e8"),
        "{}",
        out.stdout
    );
}

#[test]
fn json_names_the_server_as_source() {
    let server = serve(Behaviour::SmtpStarttls, "p256");
    let addr = format!("127.0.0.1:{}", server.port());
    let out = run(&[
        "tlsa",
        "--server",
        &addr,
        "--starttls",
        "smtp",
        "--records",
        "3 1 1,2 1 1",
        "--host",
        "mail.example.test",
        "--port",
        "25",
        "-o",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["verdict"], "ok");
    let records = doc["records"].as_array().expect("records");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["source"], addr.as_str());
    assert_eq!(records[0]["owner"], "_25._tcp.mail.example.test.");
    assert_eq!(records[0]["depth"], 0);
    assert_eq!(records[1]["usage"], 2);
    assert_eq!(records[1]["depth"], 1);
    assert_eq!(
        records[1]["data"],
        "cbf4fd3eac9bf3ffadb5756f9aa9ea0498b220c5cdfa35c1f51c13b01c013028"
    );
}

/// Each failure: exit 3 (2 for the bad SNI), nothing on stdout, one `error:` line naming the peer.
#[test]
fn network_failures_are_exit_3_with_one_line_naming_the_peer() {
    let cases: &[(Behaviour, &str, &str)] = &[
        (
            Behaviour::SmtpNoStarttls,
            "smtp",
            "server does not offer STARTTLS",
        ),
        (
            Behaviour::SmtpStarttlsRefused,
            "smtp",
            "server refused STARTTLS (454 4.7.0 TLS not available)",
        ),
        (
            Behaviour::SmtpInjection,
            "smtp",
            "STARTTLS response injection",
        ),
        (
            Behaviour::SmtpGreeting554,
            "smtp",
            "554 5.3.2 no service here",
        ),
        (
            Behaviour::SmtpCloseAfterEhlo,
            "smtp",
            "server closed the connection",
        ),
        (Behaviour::PlainText, "none", "TLS handshake failed"),
        (
            Behaviour::AlertProtocolVersion,
            "none",
            "received fatal alert: ProtocolVersion",
        ),
        (Behaviour::Silent, "smtp", "timed out after 500 ms"),
        (Behaviour::ImapBye, "imap", "server refused the session"),
    ];
    for &(behaviour, starttls, expected) in cases {
        let server = serve(behaviour, "p256");
        let addr = format!("127.0.0.1:{}", server.port());
        let out = run(&[
            "tlsa",
            "--server",
            &addr,
            "--starttls",
            starttls,
            "--timeout",
            "500ms",
        ]);
        assert_eq!(out.code, 3, "{behaviour:?}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{behaviour:?}");
        assert_eq!(
            out.stderr.lines().count(),
            1,
            "{behaviour:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.starts_with(&format!("error: {addr}: ")),
            "{behaviour:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(expected),
            "{behaviour:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn closed_port_and_unknown_host_are_exit_3() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let out = run(&["tlsa", "--server", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.code, 3);
    assert_eq!(
        out.stderr,
        format!("error: 127.0.0.1:{port}: cannot connect: Connection refused (os error 111)\n")
    );
    let out = run(&["tlsa", "--server", "nowhere.example.test:25"]);
    assert_eq!(out.code, 3);
    assert!(
        out.stderr
            .starts_with("error: nowhere.example.test:25: cannot connect"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_server_arguments_are_exit_2() {
    for (args, expected) in [
        (
            &["tlsa", "--server", "127.0.0.1:2525", "--sni", "192.0.2.1"][..],
            "invalid SNI name",
        ),
        (
            &["tlsa", "--server", "127.0.0.1:http"][..],
            "the port is not a number",
        ),
        (
            &["tlsa", "--server", "127.0.0.1:25", "--starttls", "ftp"][..],
            "--starttls ftp",
        ),
        (&["tlsa", "--starttls", "smtp", "x.pem"][..], "--server"),
    ] {
        let out = run(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn server_and_files_together_give_records_input_by_input() {
    let server = serve(Behaviour::SmtpStarttls, "p256");
    let addr = format!("127.0.0.1:{}", server.port());
    let next = pki("leaf-p384.pub.pem");
    let out = run(&[
        "tlsa",
        next.to_str().expect("path"),
        "--server",
        &addr,
        "--starttls",
        "smtp",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "3 1 1 b4ec4ab81ba5e2f3dc4f42bc6aa6c63d204512650bdc890d944a85fab7bec0ef\n\
         3 1 1 fc32c9e85ed03d2bd60072d1b0014bcc4ed83e8c4050211ca8d1e0906c888e0c\n"
    );
}

#[test]
fn built_binary_probes_a_loopback_server() {
    let server = serve(Behaviour::SmtpStarttls, "rsa2048");
    let out = Command::new(env!("CARGO_BIN_EXE_danekit"))
        .args([
            "tlsa",
            "--server",
            &format!("127.0.0.1:{}", server.port()),
            "--starttls",
            "smtp",
            "-v",
        ])
        .output()
        .expect("run danekit");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "3 1 1 3ff311e37f01c7463145c39d98a569065e95696d4df1e70a83e11f8d4d084b04\n"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TLSv1.3"), "{stderr}");
    assert!(stderr.contains("2 certificate(s)"), "{stderr}");
}
