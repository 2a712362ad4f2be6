//! `danekit tlsa --server`: the chain fetched from in-test SMTP, IMAP, POP3 and implicit-TLS
//! servers on loopback gives the same records as the chain file the server was given, and
//! every network failure is exit 3 with one line naming the peer.
//!
//! In process through `cli::run` with a loopback-only environment (fixed clock, captured
//! output), and once through the built binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use danekit::cli;
use danekit::pki::{self, Loaded};
use support::mail_servers::{Behaviour, LoopbackEnv, MailServer, ServedCert, TlsVersions};

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
                "warning: 127.0.0.1:{port}: no SNI was sent because the server is given as an \
                 address; a server with per-name certificates may present another certificate \
                 than a DANE client gets; name the host to send it as SNI (--host NAME)\n\
                 warning: port {port}: 3 0 1: a DANE-EE record of the whole certificate changes at \
                 every renewal, even when the key is kept; 3 1 1 survives renewals with the same key\n",
                port = server.port()
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
        (
            Behaviour::PlainText,
            "none",
            "server answered in plain text, not TLS (\"220 mx.example.test ESMTP plain text \
             only\"); it speaks SMTP and expects its STARTTLS dialogue first; try --starttls smtp",
        ),
        (
            Behaviour::AlertProtocolVersion,
            "none",
            "the server speaks only TLS 1.0 or 1.1",
        ),
        (
            Behaviour::AlertHandshakeFailure,
            "none",
            "it may allow only static-RSA key exchange or CBC suites",
        ),
        (
            Behaviour::SmtpHeloRestriction,
            "smtp",
            "server rejected EHLO [127.0.0.1] (550 5.7.1 <[127.0.0.1]>: Helo command rejected: \
             Host not found); give --ehlo with a name the server accepts",
        ),
        (
            Behaviour::Pop3ErrAfterGreeting,
            "pop3",
            "server replied \"-ERR maintenance in progress, try later\" and closed the connection",
        ),
        (
            Behaviour::Silent,
            "smtp",
            "timed out after 500 ms while waiting for the greeting; a server that delays its greeting needs a longer --greeting-timeout",
        ),
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
            "--greeting-timeout",
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
    assert_eq!(
        out.stderr,
        "error: nowhere.example.test:25: cannot resolve the name: nowhere.example.test has no \
         address\n"
    );
    // With -o json, the failure is a JSON document too.
    let out = run(&[
        "tlsa",
        "--server",
        &format!("127.0.0.1:{port}"),
        "-o",
        "json",
    ]);
    assert_eq!(out.code, 3);
    let doc: danekit::report::ErrorDocument = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(doc.error.kind, danekit::report::ErrorKind::Network);
    assert_eq!(
        doc.error.message,
        format!("127.0.0.1:{port}: cannot connect: Connection refused (os error 111)")
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
            "invalid value 'ftp' for '--starttls <STARTTLS>'",
        ),
        (
            &["tlsa", "--server", "::1:25"][..],
            "write an IPv6 address in brackets",
        ),
        (
            &["tlsa", "--server", "bad_host!:25"][..],
            "is not a valid host name",
        ),
        (
            &["tlsa", "--server", "127.0.0.1:25", "--ehlo", "not a name"][..],
            "invalid value 'not a name' for '--ehlo <NAME>'",
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

/// `danekit tlsa --server ADDR --starttls smtp ARGS...`
fn run_smtp(addr: &str, args: &[&str]) -> Outcome {
    let mut all = vec!["tlsa", "--server", addr, "--starttls", "smtp"];
    all.extend_from_slice(args);
    run(&all)
}

fn serve_certs(behaviour: Behaviour, certs: Vec<ServedCert>) -> MailServer {
    MailServer::start_certs(behaviour, TlsVersions::Tls12AndTls13, certs)
}

fn served(leaf: &str, sni: Option<&str>) -> ServedCert {
    ServedCert {
        sni: sni.map(str::to_owned),
        chain: chain_der(&format!("leaf-{leaf}.chain.pem")),
        key_der: std::fs::read(pki(&format!("leaf-{leaf}.key.der"))).expect("key"),
    }
}

/// RFC 7672 §8.1: the SNI is the TLSA base domain; with `--server ADDRESS --host NAME` it is
/// the host, and a server with per-name certificates presents the one for that name.
#[test]
fn sni_defaults_to_the_host() {
    let server = serve_certs(
        Behaviour::SmtpStarttls,
        vec![
            served("p256", None),
            served("p384", Some("mail.example.test")),
        ],
    );
    let addr = format!("127.0.0.1:{}", server.port());
    let out = run_smtp(&addr, &["--host", "mail.example.test"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, from_file("leaf-p384.chain.pem", "3 1 1"));
    assert_eq!(out.stderr, "");
    assert_eq!(
        server.sessions(1)[0].sni.as_deref(),
        Some("mail.example.test")
    );
    // --sni still wins.
    let out = run_smtp(
        &addr,
        &["--host", "mail.example.test", "--sni", "other.example.test"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, from_file("leaf-p256.chain.pem", "3 1 1"));
}

/// A server with an ECDSA and an RSA certificate: the records of both, ECDSA first, each
/// marked with its key type; `--key-type` asks for one.
#[test]
fn every_chain_of_a_dual_key_server() {
    let server = serve_certs(
        Behaviour::SmtpStarttls,
        vec![served("p256", None), served("rsa2048", None)],
    );
    let addr = format!("127.0.0.1:{}", server.port());
    let out = run_smtp(
        &addr,
        &[
            "--host",
            "mail.example.test",
            "--records",
            "3 1 1,2 1 1",
            "-o",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let doc: danekit::tlsa::report::TlsaDocument = serde_json::from_str(&out.stdout).expect("json");
    let got: Vec<(String, u8, String)> = doc
        .records
        .iter()
        .map(|r| (r.key_type.as_str().to_owned(), r.usage, r.data.clone()))
        .collect();
    let expected = |file: &str| -> Vec<String> {
        from_file(file, "3 1 1,2 1 1")
            .lines()
            .map(|l| l.rsplit(' ').next().unwrap_or_default().to_owned())
            .collect()
    };
    let (ecdsa, rsa) = (
        expected("leaf-p256.chain.pem"),
        expected("leaf-rsa2048.chain.pem"),
    );
    assert_eq!(
        got,
        vec![
            ("ecdsa".to_owned(), 3, ecdsa[0].clone()),
            ("ecdsa".to_owned(), 2, ecdsa[1].clone()),
            ("rsa".to_owned(), 3, rsa[0].clone()),
            ("rsa".to_owned(), 2, rsa[1].clone()),
        ]
    );
    assert!(doc.records.iter().all(|r| r.source == addr));

    let out = run_smtp(
        &addr,
        &[
            "--key-type",
            "rsa",
            "-o",
            "zone",
            "--host",
            "mail.example.test",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "_{}._tcp.mail.example.test. 3600 IN TLSA 3 1 1 {}\n",
            server.port(),
            rsa[0]
        )
    );
    // Identical records from two chains are published once; rdata keeps one per chain.
    let out = run_smtp(
        &addr,
        &[
            "--records",
            "2 1 1",
            "-o",
            "zone",
            "--host",
            "mail.example.test",
        ],
    );
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let out = run_smtp(
        &addr,
        &["--records", "2 1 1", "--host", "mail.example.test"],
    );
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
}

/// The EHLO name: the machine's fully qualified name by default, `--ehlo` to choose one.
#[test]
fn ehlo_name_from_the_machine_or_the_option() {
    let server = serve(Behaviour::SmtpHeloRestriction, "p256");
    let addr = format!("127.0.0.1:{}", server.port());
    let mut env = LoopbackEnv::new();
    env.fqdn = Some("client.example.test".into());
    let code = cli::run(
        ["danekit", "tlsa", "--server", &addr, "--starttls", "smtp"],
        &mut env,
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&env.stderr));
    let out = run_smtp(&addr, &["--ehlo", "Client.Example.Test"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let sessions = server.sessions(2);
    assert!(
        sessions
            .iter()
            .all(|s| s.plaintext[0] == "EHLO client.example.test")
    );
}

/// RFC 5321 §4.5.3.2.1 allows a server five minutes for its greeting, and greeting delays are
/// an anti-spam measure: a 15 s delay passes under the default limits, with or without a
/// partial `220-` line first.
#[test]
fn a_fifteen_second_greeting_delay_passes_under_the_default_limits() {
    let handles: Vec<_> = [false, true]
        .into_iter()
        .map(|partial| {
            std::thread::spawn(move || {
                let server = serve(
                    Behaviour::SmtpDelayedGreeting {
                        millis: 15_000,
                        partial,
                    },
                    "p256",
                );
                let addr = format!("127.0.0.1:{}", server.port());
                let out = run_smtp(&addr, &["-q"]);
                (partial, out.code, out.stdout, out.stderr)
            })
        })
        .collect();
    for h in handles {
        let (partial, code, stdout, stderr) = h.join().expect("thread");
        assert_eq!(code, 0, "partial {partial}: {stderr}");
        assert_eq!(stdout, from_file("leaf-p256.chain.pem", "3 1 1"));
    }
}
