//! `danekit logstats` against the log a real Postfix writes.
//!
//! The test starts one Postfix instance (`master -c DIR -d`, only its own configuration, on an
//! address of 127.0.0.0/8 of its own, `maillog_file` written by `postlogd`) with seven smtpd
//! services. One takes the test's mail in clear text (SMTP from the test itself); the other
//! six are the destinations the Postfix smtp client delivers that mail to, chosen per
//! recipient domain by a transport map (`smtp:[ADDR]:PORT`, so no DNS is asked), and each
//! discards what it receives (`content_filter=discard:`):
//!
//! | domain | server | client policy | expected |
//! |---|---|---|---|
//! | `verified.test` (2 recipients, 1 message) | STARTTLS, test PKI chain | `secure match=mail.example.test`, test root as CAfile | 1 `Verified` session, 2 deliveries |
//! | `trusted.test` | STARTTLS, test PKI chain | `may`, test root as CAfile | `Trusted` |
//! | `untrusted.test` | STARTTLS, test PKI chain | `may`, no CAfile (transport `smtp-untrusted`) | `Untrusted` |
//! | `refused.test` | STARTTLS, test PKI chain | `verify`, no CAfile | `Untrusted` session, deferred: certificate-not-verified |
//! | `plain.test` (2 messages) | no STARTTLS | `may` | 2 deliveries `none` |
//! | `mustencrypt.test` | no STARTTLS | `encrypt` | deferred: starttls-not-offered |
//!
//! Connection caching is off, so each delivery attempt is one connection. Inbound, every
//! message the test sends arrives in clear text (`none`), the two `plain.test` deliveries
//! arrive in clear text at their destination (`none`), and of the four TLS sessions the
//! client makes, the one to `verified.test`, whose server asks for a client certificate
//! (`smtpd_tls_ask_ccert`), is an `Untrusted` session at the server (the client presents the
//! test leaf, whose extended key usage is serverAuth alone, so it does not verify as a client
//! certificate even though the server trusts its CA), the other three `Anonymous` ones (their
//! servers ask for none). danekit must count exactly that, per class, direction, domain and day, in
//! the log as `maillog_file` writes it and in the same log gzip-compressed.
//!
//! With `CI=true` a missing Postfix fails the test; without it the test prints `skipped: …`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;
use support::interop::{
    LoopbackSlot, ProcessGroup, TempDir, danekit_bin, pki, require_root, require_tool,
    require_user, run, run_ok, start_server, wait_for_greeting,
};

/// The name in the test leaf's SAN.
const HOST: &str = "mail.example.test";
/// Where `DANEKIT_WRITE_LOGSTATS_FIXTURE=1` writes the log.
const FIXTURE: &str = "tests/fixtures/logstats/postfix-3.7.maillog";
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long Postfix may take to deliver or defer every message.
const DELIVERY_LIMIT: Duration = Duration::from_secs(90);

/// The destination services, in slot port order after the injection port (port 0).
const DESTINATIONS: [(&str, bool); 6] = [
    ("verified.test", true),
    ("trusted.test", true),
    ("untrusted.test", true),
    ("refused.test", true),
    ("plain.test", false),
    ("mustencrypt.test", false),
];

/// The queue directories Postfix's daemons use.
const QUEUES: [&str; 12] = [
    "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "maildrop",
    "private", "public", "saved",
];

fn write_file(path: &Path, contents: impl AsRef<[u8]>, mode: u32) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

struct Postfix {
    server: ProcessGroup,
    dir: TempDir,
    slot: LoopbackSlot,
}

impl Postfix {
    fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    fn logs(&self) -> String {
        format!(
            "--- maillog (process group {}) ---\n{}\n--- master stdout/stderr ---\n{}",
            self.server.id(),
            self.maillog(),
            std::fs::read_to_string(self.dir.path().join("master.out")).unwrap_or_default()
        )
    }
}

fn start_postfix(master: &Path) -> Postfix {
    start_server("Postfix", 7, |slot| {
        let dir = TempDir::new("logstats-postfix");
        let root = dir.path();
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let queue = root.join("queue");
        let data = root.join("data");
        // The queue as `postfix post-install` lays it out: pid owned by root, the rest by
        // the postfix user (maildrop is unused: mail arrives over SMTP only).
        std::fs::create_dir_all(queue.join("pid")).expect("queue directory");
        std::fs::create_dir(&data).expect("data directory");
        let mut owned = vec![data.clone().into_os_string()];
        for d in QUEUES {
            let path = queue.join(d);
            std::fs::create_dir(&path).expect("queue directory");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).expect("chmod");
            owned.push(path.into_os_string());
        }
        let mut args = vec![OsStr::new("postfix:postfix")];
        args.extend(owned.iter().map(|p| p.as_os_str()));
        run_ok("chown", &args, None);
        // smtpd_tls_chain_files: the private key, then the chain, leaf first.
        let mut chain = std::fs::read(pki("leaf-p256.key.pem")).expect("key");
        chain.extend(std::fs::read(pki("leaf-p256.fullchain.pem")).expect("chain"));
        let chain_file = root.join("p256.key-chain.pem");
        write_file(&chain_file, chain, 0o600);
        let ca_file = pki("root-ca.pem");

        let addr = slot.addr;
        let mut master_cf = format!(
            "{addr}:{port} inet n - n - - smtpd\n  -o smtpd_tls_security_level=none\n",
            port = slot.ports[0]
        );
        let mut transport = String::new();
        let mut policy = String::new();
        for (i, (domain, tls)) in DESTINATIONS.iter().enumerate() {
            let port = slot.ports[i + 1];
            let _ = writeln!(
                master_cf,
                "{addr}:{port} inet n - n - - smtpd\n  -o content_filter=discard:\n  \
                 -o smtpd_tls_security_level={}",
                if *tls { "may" } else { "none" }
            );
            if *domain == "verified.test" {
                // This one asks for the client's certificate and trusts its CA; the test leaf
                // is no client certificate (serverAuth only): `Untrusted` at the server.
                let _ = writeln!(
                    master_cf,
                    "  -o smtpd_tls_ask_ccert=yes\n  -o smtpd_tls_CAfile={}",
                    ca_file.display()
                );
            }
            let service = match *domain {
                "untrusted.test" | "refused.test" => "smtp-untrusted",
                _ => "smtp",
            };
            let _ = writeln!(transport, "{domain} {service}:[{addr}]:{port}");
            let level = match *domain {
                "verified.test" => format!("secure match={HOST}"),
                "refused.test" => format!("verify match={HOST}"),
                "mustencrypt.test" => "encrypt".to_owned(),
                _ => "may".to_owned(),
            };
            let _ = writeln!(policy, "[{addr}]:{port} {level}");
        }
        master_cf.push_str(
            "pickup unix n - n 60 1 pickup\n\
             cleanup unix n - n - 0 cleanup\n\
             qmgr unix n - n 300 1 qmgr\n\
             tlsmgr unix - - n 1000? 1 tlsmgr\n\
             rewrite unix - - n - - trivial-rewrite\n\
             bounce unix - - n - 0 bounce\n\
             defer unix - - n - 0 bounce\n\
             trace unix - - n - 0 bounce\n\
             verify unix - - n - 1 verify\n\
             flush unix n - n 1000? 0 flush\n\
             proxymap unix - - n - - proxymap\n\
             smtp unix - - n - - smtp\n\
             smtp-untrusted unix - - n - - smtp\n  -o smtp_tls_CAfile=\n\
             relay unix - - n - - smtp\n\
             showq unix n - n - - showq\n\
             error unix - - n - - error\n\
             retry unix - - n - - error\n\
             discard unix - - n - - discard\n\
             anvil unix - - n - 1 anvil\n\
             scache unix - - n - 1 scache\n\
             postlog unix-dgram n - n - 1 postlogd\n",
        );
        write_file(&root.join("transport"), transport, 0o644);
        write_file(&root.join("tls_policy"), policy, 0o644);
        let main_cf = format!(
            "compatibility_level = 3.6\n\
             meta_directory = {root}\n\
             queue_directory = {queue}\n\
             data_directory = {data}\n\
             maillog_file = {root}/maillog\n\
             maillog_file_prefixes = {root}\n\
             myhostname = mx.example.test\n\
             mydomain = example.test\n\
             myorigin = example.test\n\
             smtpd_banner = $myhostname ESMTP {token}\n\
             mydestination =\n\
             mynetworks = 127.0.0.0/8\n\
             inet_interfaces = loopback-only\n\
             inet_protocols = ipv4\n\
             smtpd_peername_lookup = no\n\
             smtpd_relay_restrictions = permit_mynetworks, reject\n\
             smtpd_tls_chain_files = {chain}\n\
             smtpd_tls_loglevel = 1\n\
             smtp_tls_loglevel = 1\n\
             smtp_tls_security_level = may\n\
             smtp_tls_CAfile = {ca}\n\
             smtp_tls_chain_files = {chain}\n\
             smtp_tls_policy_maps = texthash:{root}/tls_policy\n\
             transport_maps = texthash:{root}/transport\n\
             smtp_connection_cache_on_demand = no\n\
             smtp_host_lookup = native\n\
             smtp_dns_support_level = disabled\n\
             alias_maps =\n\
             alias_database =\n\
             local_recipient_maps =\n\
             biff = no\n",
            queue = queue.display(),
            data = data.display(),
            root = root.display(),
            token = slot.token,
            chain = chain_file.display(),
            ca = ca_file.display(),
        );
        write_file(&root.join("main.cf"), main_cf, 0o644);
        write_file(&root.join("master.cf"), master_cf, 0o644);

        let out = std::fs::File::create(root.join("master.out")).expect("master.out");
        let mut cmd = Command::new(master);
        cmd.arg("-c")
            .arg(root)
            .arg("-d")
            .env("MAIL_CONFIG", root)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out);
        let mut server = ProcessGroup::spawn(cmd)
            .map_err(|e| format!("cannot start {}: {e}", master.display()))?;
        let mut ready = Ok(());
        for &port in &slot.ports {
            ready = ready.and_then(|()| {
                wait_for_greeting(slot.addr, port, &slot.token, START_LIMIT, || {
                    server.try_wait().map(|s| s.to_string())
                })
            });
        }
        match ready {
            Ok(()) => Ok(Postfix {
                server,
                dir,
                slot: slot.clone(),
            }),
            Err(e) => {
                let logs = std::fs::read_to_string(root.join("maillog")).unwrap_or_default();
                drop(server);
                Err(format!("{e}\n--- maillog ---\n{logs}"))
            }
        }
    })
}

/// One SMTP reply: its code, after any continuation lines.
fn reply(reader: &mut BufReader<TcpStream>) -> Result<u16, String> {
    loop {
        let mut line = String::new();
        reader
            .read_line(&mut line)
            .map_err(|e| format!("no SMTP reply: {e}"))?;
        if line.len() < 4 {
            return Err(format!("short SMTP reply {line:?}"));
        }
        if line.as_bytes()[3] != b'-' {
            return line[..3]
                .parse()
                .map_err(|_| format!("no reply code in {line:?}"));
        }
    }
}

/// Sends one message in clear text to `addr:port`, for `recipients`.
fn send(postfix: &Postfix, recipients: &[&str]) {
    let stream = TcpStream::connect((postfix.slot.addr, postfix.slot.ports[0])).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut step = |command: Option<&str>, expect: u16| {
        if let Some(c) = command {
            writer
                .write_all(format!("{c}\r\n").as_bytes())
                .expect("write");
        }
        let code = reply(&mut reader);
        assert_eq!(code, Ok(expect), "after {command:?}\n{}", postfix.logs());
    };
    step(None, 220);
    step(Some("EHLO client.example.test"), 250);
    step(Some("MAIL FROM:<sender@example.test>"), 250);
    for r in recipients {
        step(Some(&format!("RCPT TO:<{r}>")), 250);
    }
    step(Some("DATA"), 354);
    let body = format!(
        "From: sender@example.test\r\nTo: {}\r\nSubject: logstats\r\n\r\nhello\r\n.",
        recipients.join(", ")
    );
    step(Some(&body), 250);
    step(Some("QUIT"), 221);
}

#[derive(Debug, Deserialize, PartialEq, Eq, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct Classes {
    verified: u64,
    trusted: u64,
    untrusted: u64,
    anonymous: u64,
    none: u64,
}

#[derive(Debug, Deserialize)]
struct DayDoc {
    outbound: Classes,
    inbound: Classes,
}

#[derive(Debug, Deserialize)]
struct DomainDoc {
    #[serde(flatten)]
    deliveries: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Failures {
    total: u64,
    by_kind: BTreeMap<String, u64>,
}

#[derive(Debug, Deserialize)]
struct Doc {
    schema_version: u32,
    verdict: String,
    lines: u64,
    malformed: u64,
    outbound: Classes,
    inbound: Classes,
    deliveries: Classes,
    by_day: BTreeMap<String, DayDoc>,
    by_domain: BTreeMap<String, DomainDoc>,
    protocols: BTreeMap<String, BTreeMap<String, u64>>,
    top_cleartext: Vec<serde_json::Value>,
    policy_failures: Failures,
}

fn count(domain: &DomainDoc, class: &str) -> u64 {
    domain.deliveries[class].as_u64().expect("a count")
}

fn logstats(args: &[&OsStr], log: &str) -> Doc {
    let mut all: Vec<&OsStr> = vec![OsStr::new("logstats")];
    all.extend(args);
    all.extend([OsStr::new("-o"), OsStr::new("json")]);
    let out = run(danekit_bin(), &all, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "danekit logstats failed: {}\n{stdout}\n{}\n--- log ---\n{log}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}\n{stdout}"))
}

/// True once every message has been delivered or deferred: 8 smtp outcomes (6 sent, 2
/// deferred, counting the two recipients of the first message) and 6 discards.
fn settled(log: &str) -> bool {
    let smtp_outcomes = log
        .lines()
        .filter(|l| {
            l.contains("/smtp[") && (l.contains("status=sent") || l.contains("status=deferred"))
        })
        .count();
    let discarded = log
        .lines()
        .filter(|l| l.contains("/discard[") && l.contains("status=sent"))
        .count();
    let disconnects = log
        .lines()
        .filter(|l| l.contains("/smtpd[") && l.contains("disconnect from"))
        .count();
    // Each of the 7 readiness probes, the 7 messages sent and the 7 delivery attempts ends
    // with a disconnect line.
    smtp_outcomes >= 8 && discarded >= 6 && disconnects >= 7 + 7 + 7
}

#[test]
fn postfix_log_counts() {
    let Some(master) = require_tool("/usr/lib/postfix/sbin/master", "postfix") else {
        return;
    };
    if !require_root("running a Postfix master")
        || !require_user("postfix", "apt-get install postfix")
    {
        return;
    }
    let postfix = start_postfix(&master);
    send(&postfix, &["a1@verified.test", "a2@Verified.TEST"]);
    for rcpt in [
        "b@trusted.test",
        "c@untrusted.test",
        "d1@plain.test",
        "d2@plain.test",
        "e@refused.test",
        "f@mustencrypt.test",
    ] {
        send(&postfix, &[rcpt]);
    }
    let deadline = Instant::now() + DELIVERY_LIMIT;
    while !settled(&postfix.maillog()) {
        assert!(
            Instant::now() < deadline,
            "Postfix did not deliver or defer every message within {DELIVERY_LIMIT:?}\n{}",
            postfix.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // postlogd writes what it receives; give the last datagrams time to land.
    std::thread::sleep(Duration::from_millis(500));
    let log = postfix.maillog();
    let log_path = postfix.dir.path().join("maillog");
    // DANEKIT_WRITE_LOGSTATS_FIXTURE=1 keeps this log as the fixture of tests/logstats.rs.
    if std::env::var_os("DANEKIT_WRITE_LOGSTATS_FIXTURE").is_some() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
        std::fs::write(&fixture, &log).expect("writing the fixture");
    }

    let doc = logstats(&[log_path.as_os_str()], &log);
    assert_eq!((doc.schema_version, doc.verdict.as_str()), (1, "ok"));
    let context = format!("{doc:#?}\n--- log ---\n{log}");
    assert_eq!(doc.malformed, 0, "{context}");
    assert_eq!(
        doc.outbound,
        Classes {
            verified: 1,
            trusted: 1,
            untrusted: 2,
            anonymous: 0,
            none: 2
        },
        "{context}"
    );
    assert_eq!(
        doc.deliveries,
        Classes {
            verified: 2,
            trusted: 1,
            untrusted: 1,
            anonymous: 0,
            none: 2
        },
        "{context}"
    );
    assert_eq!(
        doc.inbound,
        Classes {
            untrusted: 1,
            anonymous: 3,
            none: 7 + 2,
            ..Classes::default()
        },
        "{context}"
    );
    let expect_domain = [
        ("verified.test", "verified", 2),
        ("trusted.test", "trusted", 1),
        ("untrusted.test", "untrusted", 1),
        ("plain.test", "none", 2),
    ];
    for (domain, class, n) in expect_domain {
        let d = doc
            .by_domain
            .get(domain)
            .unwrap_or_else(|| panic!("{domain} missing\n{context}"));
        assert_eq!(count(d, class), n, "{domain} {class}\n{context}");
        let total: u64 = ["verified", "trusted", "untrusted", "anonymous", "none"]
            .iter()
            .map(|c| count(d, c))
            .sum();
        assert_eq!(total, n, "{domain}\n{context}");
    }
    assert_eq!(count(&doc.by_domain["refused.test"], "policy_failures"), 1);
    assert_eq!(
        count(&doc.by_domain["mustencrypt.test"], "policy_failures"),
        1
    );
    assert_eq!(doc.policy_failures.total, 2, "{context}");
    assert_eq!(
        doc.policy_failures.by_kind,
        BTreeMap::from([
            ("certificate-not-verified".to_owned(), 1),
            ("starttls-not-offered".to_owned(), 1)
        ]),
        "{context}"
    );
    assert_eq!(
        doc.top_cleartext,
        vec![serde_json::json!({"domain": "plain.test", "deliveries": 2})]
    );
    let outbound_protocols: u64 = doc.protocols["outbound"].values().sum();
    assert_eq!(outbound_protocols, 4, "{context}");
    // One day (or two, for a run across midnight), adding up to the totals.
    assert!(!doc.by_day.is_empty() && doc.by_day.len() <= 2, "{context}");
    let mut out = Classes::default();
    let mut inb = Classes::default();
    for day in doc.by_day.values() {
        out.verified += day.outbound.verified;
        out.trusted += day.outbound.trusted;
        out.untrusted += day.outbound.untrusted;
        out.none += day.outbound.none;
        inb.untrusted += day.inbound.untrusted;
        inb.anonymous += day.inbound.anonymous;
        inb.none += day.inbound.none;
    }
    assert_eq!(out, doc.outbound, "{context}");
    assert_eq!(inb, doc.inbound, "{context}");

    // The same log, gzip-compressed and on standard input, counts the same.
    let gz = postfix.dir.path().join("maillog.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(log.as_bytes()).expect("gzip");
    std::fs::write(&gz, encoder.finish().expect("gzip")).expect("write");
    let gz_doc = logstats(&[gz.as_os_str()], &log);
    assert_eq!(gz_doc.outbound, doc.outbound);
    assert_eq!(gz_doc.inbound, doc.inbound);
    assert_eq!(gz_doc.lines, doc.lines);
}
