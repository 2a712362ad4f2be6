//! `danekit zone --apply` and `--diff-live` against an in-process DNS server on loopback: the
//! exact UPDATE message (RFC 2136 zone, prerequisite, deletes and adds, TSIG), each way a
//! server refuses, a silent server, TCP after a truncated answer, and drift from live answers.
//! The real BIND and Knot are in `interop_zone_apply.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use danekit::cli;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::TLSA;
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, TsigError, make_tsig_record};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use support::mail_servers::LoopbackEnv;

/// How the fake server answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// NOERROR, with the TLSA records it holds for queries.
    Normal,
    /// Every answer over UDP has the TC bit; TCP answers in full.
    TruncateUdp,
    /// REFUSED.
    Refused,
    /// NOTAUTH with a TSIG error BADKEY (RFC 8945 §5.2.1), unsigned.
    BadKey,
    /// Reads and never answers.
    Silent,
}

/// A DNS server on 127.0.0.1 (UDP and TCP on one port), kept bound for its whole life.
struct FakeDns {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    received: Arc<Mutex<Vec<Message>>>,
    threads: Vec<JoinHandle<()>>,
}

impl FakeDns {
    fn start(answer: Answer, tlsa: Vec<(&str, &str)>) -> FakeDns {
        // TCP first on port 0, then UDP on the same port; another try if UDP is taken.
        let (tcp, udp) = loop {
            let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let port = tcp.local_addr().unwrap().port();
            if let Ok(udp) = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)) {
                break (tcp, udp);
            }
        };
        let addr = udp.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Vec::new()));
        let zone: Vec<(Name, TLSA)> = tlsa
            .into_iter()
            .map(|(owner, rdata)| {
                let rd: danekit::tlsa::Rdata = rdata.parse().unwrap();
                (
                    Name::from_ascii(owner).unwrap(),
                    TLSA::new(
                        CertUsage::from(u8::from(rd.params.usage)),
                        Selector::from(u8::from(rd.params.selector)),
                        Matching::from(u8::from(rd.params.matching)),
                        rd.data,
                    ),
                )
            })
            .collect();
        let zone = Arc::new(zone);
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        tcp.set_nonblocking(true).unwrap();
        let udp_thread = {
            let (stop, received, zone) = (stop.clone(), received.clone(), zone.clone());
            thread::spawn(move || {
                let mut buf = [0u8; 65535];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    let query = Message::from_vec(&buf[..n]).unwrap();
                    received.lock().unwrap().push(query.clone());
                    if answer == Answer::Silent {
                        continue;
                    }
                    let reply = respond(&query, answer, &zone, true);
                    udp.send_to(&reply, from).unwrap();
                }
            })
        };
        let tcp_thread = {
            let (stop, received, zone) = (stop.clone(), received.clone(), zone.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok((mut conn, _)) = tcp.accept() else {
                        thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    conn.set_nonblocking(false).unwrap();
                    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut len = [0u8; 2];
                    if conn.read_exact(&mut len).is_err() {
                        continue;
                    }
                    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    conn.read_exact(&mut body).unwrap();
                    let query = Message::from_vec(&body).unwrap();
                    received.lock().unwrap().push(query.clone());
                    let reply = respond(&query, answer, &zone, false);
                    let mut framed = u16::try_from(reply.len()).unwrap().to_be_bytes().to_vec();
                    framed.extend(reply);
                    conn.write_all(&framed).unwrap();
                }
            })
        };
        FakeDns {
            addr,
            stop,
            received,
            threads: vec![udp_thread, tcp_thread],
        }
    }

    fn received(&self) -> Vec<Message> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn respond(query: &Message, answer: Answer, zone: &[(Name, TLSA)], udp: bool) -> Vec<u8> {
    let mut reply = Message::new(
        query.metadata.id,
        MessageType::Response,
        query.metadata.op_code,
    );
    reply.add_queries(query.queries.clone());
    match answer {
        Answer::Refused => reply.metadata.response_code = ResponseCode::Refused,
        Answer::BadKey => {
            reply.metadata.response_code = ResponseCode::NotAuth;
            let tsig = query.signature().expect("a signed update");
            let error = TSIG::new(
                TsigAlgorithm::HmacSha256,
                tsig.data.time,
                tsig.data.fudge,
                Vec::new(),
                query.metadata.id,
                Some(TsigError::BadKey),
                Vec::new(),
            );
            reply.set_signature(Box::new(make_tsig_record(tsig.name.clone(), error)));
        }
        Answer::TruncateUdp if udp => reply.metadata.truncation = true,
        _ => {
            if query.metadata.op_code == OpCode::Query {
                let name = query.queries[0].name();
                for (owner, tlsa) in zone.iter().filter(|(o, _)| o == name) {
                    reply.add_answer(Record::from_rdata(
                        owner.clone(),
                        300,
                        RData::TLSA(tlsa.clone()),
                    ));
                }
            }
        }
    }
    reply.to_vec().unwrap()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki")
}

/// A services file for mail.example.test. (25 and 465) and an update section for `server`.
fn services(dir: &Path, server: SocketAddr, tsig: bool) -> PathBuf {
    let pki = fixtures();
    let mut text = format!(
        "zone: example.test.\nrecords: [\"3 1 1\", \"2 1 1\"]\nupdate:\n  server: {server}\n"
    );
    if tsig {
        text.push_str(
            "  tsig: { name: danekit-key., algorithm: hmac-sha256, secret_file: tsig.key }\n",
        );
        std::fs::write(
            dir.join("tsig.key"),
            "key \"danekit-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"S4HjmfAsmAbOQ5cMVGtcd5qCzi/HV3yjZm4PFx2qMDI=\";\n};\n",
        )
        .unwrap();
    }
    text.push_str(&format!(
        "services:\n  - host: mail\n    ports: [25, 465]\n    cert: {}\n",
        pki.join("leaf-p256.chain.pem").display()
    ));
    let path = dir.join("services.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn scratch(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("danekit-zone-dns-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Run {
    code: u8,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let mut env = LoopbackEnv::new();
    let mut argv = vec!["danekit"];
    argv.extend_from_slice(args);
    let code = cli::run(argv, &mut env);
    Run {
        code,
        stdout: String::from_utf8_lossy(&env.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&env.stderr).into_owned(),
    }
}

const P256_311: &str = "3 1 1 fc32c9e85ed03d2bd60072d1b0014bcc4ed83e8c4050211ca8d1e0906c888e0c";
const P256_211: &str = "2 1 1 cbf4fd3eac9bf3ffadb5756f9aa9ea0498b220c5cdfa35c1f51c13b01c013028";

/// RFC 2136: the zone section, the SOA prerequisite, and per owner a delete of the TLSA RRset
/// followed by its new records; RFC 8945: a TSIG record with the key's name, last.
#[test]
fn the_update_replaces_exactly_the_managed_rrsets() {
    let server = FakeDns::start(Answer::Normal, Vec::new());
    let dir = scratch("update");
    let file = services(&dir, server.addr, true);
    let out = run(&["zone", file.to_str().unwrap(), "--apply"]);
    assert_eq!(out.code, 3, "{}{}", out.stdout, out.stderr);
    // The fake server does not sign its answer: a signed update must get a signed answer.
    assert!(
        out.stderr
            .contains("the answer to the update is not signed with the key"),
        "{}",
        out.stderr
    );
    let got = server.received();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.metadata.op_code, OpCode::Update);
    assert_eq!(m.queries[0].name().to_ascii(), "example.test.");
    assert_eq!(m.queries[0].query_type(), RecordType::SOA);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(
        (m.answers[0].dns_class, m.answers[0].record_type()),
        (DNSClass::ANY, RecordType::SOA)
    );
    let updates: Vec<(String, u32, DNSClass, RecordType, String)> = m
        .authorities
        .iter()
        .map(|r| {
            let data = match &r.data {
                RData::TLSA(t) => t.to_string(),
                _ => String::new(),
            };
            (r.name.to_ascii(), r.ttl, r.dns_class, r.record_type(), data)
        })
        .collect();
    let delete = |owner: &str| {
        (
            owner.to_owned(),
            0,
            DNSClass::ANY,
            RecordType::TLSA,
            String::new(),
        )
    };
    let add = |owner: &str, rdata: &str| {
        (
            owner.to_owned(),
            3600,
            DNSClass::IN,
            RecordType::TLSA,
            rdata.to_owned(),
        )
    };
    assert_eq!(
        updates,
        vec![
            delete("_25._tcp.mail.example.test."),
            add("_25._tcp.mail.example.test.", P256_211),
            add("_25._tcp.mail.example.test.", P256_311),
            delete("_465._tcp.mail.example.test."),
            add("_465._tcp.mail.example.test.", P256_211),
            add("_465._tcp.mail.example.test.", P256_311),
        ]
    );
    let tsig = m.signature().expect("TSIG");
    assert_eq!(tsig.name.to_ascii(), "danekit-key.");
    assert_eq!(tsig.data.algorithm, TsigAlgorithm::HmacSha256);
    // The secret appears nowhere in what danekit printed.
    assert!(!out.stderr.contains("S4Hj") && !out.stdout.contains("S4Hj"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_refused_update_is_exit_1_naming_the_rcode() {
    let server = FakeDns::start(Answer::Refused, Vec::new());
    let dir = scratch("refused");
    let file = services(&dir, server.addr, false);
    let out = run(&["zone", file.to_str().unwrap(), "--apply"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        format!(
            "{}: the update of example.test. was refused: REFUSED; nothing was changed\n",
            server.addr
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_key_is_named_in_words_and_in_json() {
    let server = FakeDns::start(Answer::BadKey, Vec::new());
    let dir = scratch("badkey");
    let file = services(&dir, server.addr, true);
    let out = run(&["zone", file.to_str().unwrap(), "--apply", "-o", "json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["verdict"], "fail");
    assert_eq!(doc["apply"]["rcode"], "NOTAUTH");
    assert_eq!(doc["apply"]["tsig_error"], "BADKEY");
    assert_eq!(doc["apply"]["zone"], "example.test.");
    assert!(!out.stdout.contains("S4Hj"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_answer_is_exit_3() {
    let server = FakeDns::start(Answer::Silent, Vec::new());
    let dir = scratch("silent");
    let file = services(&dir, server.addr, false);
    let out = run(&[
        "zone",
        file.to_str().unwrap(),
        "--apply",
        "--timeout",
        "500ms",
    ]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!("error: {}: no answer within 500 ms\n", server.addr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Drift against live answers: equal (in another order, other hex case), then a missing and a
/// stale record. A truncated UDP answer is asked again over TCP.
#[test]
fn drift_against_live_answers() {
    for answer in [Answer::Normal, Answer::TruncateUdp] {
        let server = FakeDns::start(
            answer,
            vec![
                ("_25._tcp.mail.example.test.", P256_311),
                ("_25._tcp.mail.example.test.", P256_211),
                ("_465._tcp.mail.example.test.", P256_211),
                (
                    "_465._tcp.mail.example.test.",
                    "3 1 1 0C72AC70B745AC19998811B131D662C9AC69DBDBE7CB23E5B514B56664C5D3D6",
                ),
            ],
        );
        let dir = scratch("live");
        let file = services(&dir, server.addr, false);
        let resolver = server.addr.to_string();
        let out = run(&[
            "zone",
            file.to_str().unwrap(),
            "--diff-live",
            "--resolver",
            &resolver,
        ]);
        assert_eq!(out.code, 1, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            format!(
                "- _465._tcp.mail.example.test. 300 IN TLSA 3 1 1 \
                 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6\n\
                 + _465._tcp.mail.example.test. 3600 IN TLSA {P256_311}\n"
            )
        );
        // The server has no DNSKEY for the root, so no answer of it validates: the drift is
        // still shown, and the TLSA RRsets are reported bogus.
        assert_eq!(
            out.stderr,
            "error: _25._tcp.mail.example.test. TLSA: DNSSEC validation fails, so DANE senders \
             defer mail: no DNSKEY at the trust anchor .\n\
             error: _465._tcp.mail.example.test. TLSA: DNSSEC validation fails, so DANE senders \
             defer mail: no DNSKEY at the trust anchor .\n"
        );
        if answer == Answer::TruncateUdp {
            // Each of the two owners: UDP (truncated), then TCP.
            let tlsa = server
                .received()
                .iter()
                .filter(|m| m.queries[0].query_type() == RecordType::TLSA)
                .count();
            assert_eq!(tlsa, 4);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
