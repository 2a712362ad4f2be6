//! `danekit verify` fan-out (benchmark P3): a mail domain `example.test` with 3 MX hosts × 2
//! addresses, each address a mail server of `tests/support/mail_servers.rs` on an address of
//! 127.0.0.0/8 of its own that delays its SMTP greeting by 200 ms, all on one high port P
//! (TLSA at `_P._tcp.mxN.example.test`), and a signed DNS tree answering on 127.0.0.1
//! (`tests/support/dns_auth.rs`). Each server holds an ECDSA P-256 and an RSA-2048 chain, so
//! both handshakes per address present a chain that a `3 1 1` record matches.
//!
//! The release binary runs as a child process, as a user runs it:
//!
//! - single probes: `danekit verify --host mxN.example.test --connect ADDR ...` for each of the
//!   6 addresses, the single slowest probe being the slowest address's median;
//! - the domain: `danekit verify example.test ...` with the default `--parallel` and with
//!   `--parallel 1` (the sequential baseline); target: median wall time ≤ 1.3 × the single
//!   slowest probe;
//! - `--ports` with 5 ports: the same hosts and addresses, each address serving 5 high ports
//!   with implicit TLS (30 servers, 60 handshakes), wall time and peak RSS.
//!
//! Every run must authenticate every address (exit 0), or the benchmark fails. Rounds
//! alternate the single probes and the domain runs, so that drift of the shared machine hits
//! both alike. Peak RSS is read with `/usr/bin/time -f %M` in a run of its own (without it,
//! from `VmHWM` of `/proc/PID/status`, polled). Run with `cargo bench --bench verify_fanout`;
//! `DANEKIT_BENCH_QUICK=1` for fewer rounds, `DANEKIT_VERIFY_ROUNDS` to set them. Exits 1 when
//! the ratio target is missed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/dns_auth.rs"]
#[allow(dead_code)]
mod dns_auth;
#[path = "../tests/support/mail_servers.rs"]
#[allow(dead_code)]
mod mail_servers;

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dns_auth::{AuthServer, Hierarchy, ZoneSpec};
use mail_servers::{Behaviour, MailServer, ServedCert, TlsVersions};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;

const RSA_KEY: &str = include_str!("../tests/fixtures/pki/leaf-rsa2048.key.pem");
const BIN: &str = env!("CARGO_BIN_EXE_danekit");
const HOSTS: u8 = 3;
const PER_HOST: u8 = 2;
const DELAY_MS: u64 = 200;
const PORTS: usize = 5;
const TARGET: f64 = 1.3;

// ---------------------------------------------------------------------------------------------
// Certificates and sites

struct Ca {
    der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn root() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.distinguished_name = dn("Bench Root");
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let der = p.self_signed(&key).unwrap().der().to_vec();
    Ca {
        der,
        issuer: Issuer::new(p, key),
    }
}

/// A leaf for `name` under `ca`: a new P-256 key, or the fixture RSA-2048 key.
fn leaf(ca: &Ca, name: &str, rsa: bool) -> ServedCert {
    let key = if rsa {
        KeyPair::from_pem(RSA_KEY).unwrap()
    } else {
        KeyPair::generate().unwrap()
    };
    let mut p = CertificateParams::new(vec![name.to_owned()]).unwrap();
    p.distinguished_name = dn(name);
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let der = p.signed_by(&key, &ca.issuer).unwrap().der().to_vec();
    ServedCert {
        sni: None,
        chain: vec![der, ca.der.clone()],
        key_der: key.serialize_der(),
    }
}

/// `3 1 1` of a certificate's key.
fn ee(cert: &[u8]) -> String {
    let spki = danekit::pki::Certificate::from_der(cert).unwrap().spki;
    let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("3 1 1 {hex}")
}

/// The mail servers of one site: 6 addresses of 127.B.C.0/24, each on the same `ports`.
struct Site {
    net: [u8; 2],
    ports: Vec<u16>,
    _servers: Vec<MailServer>,
}

impl Site {
    /// The address of host `h` (0-based), its `i`th address.
    fn ip(&self, h: u8, i: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, self.net[0], self.net[1], 1 + h * PER_HOST + i)
    }
}

/// Starts `ports` servers of `behaviour` on each of the 6 addresses, every address on the same
/// ports, each server holding `certs[host]`.
fn start_site(seed: u32, ports: usize, behaviour: Behaviour, certs: &[Vec<ServedCert>]) -> Site {
    'attempt: for attempt in 0..50 {
        let n = seed + attempt * 7919 + std::process::id() % 997 * 61;
        let net = [10 + (n / 250 % 240) as u8, 1 + (n % 250) as u8];
        let mut site = Site {
            net,
            ports: Vec::new(),
            _servers: Vec::new(),
        };
        for _ in 0..ports {
            let mut port = 0;
            for h in 0..HOSTS {
                for i in 0..PER_HOST {
                    let addr = SocketAddr::from((site.ip(h, i), port));
                    match MailServer::start_at(
                        addr,
                        behaviour,
                        TlsVersions::Tls12AndTls13,
                        certs[usize::from(h)].clone(),
                    ) {
                        Ok(server) => {
                            port = server.port();
                            site._servers.push(server);
                        }
                        Err(_) => continue 'attempt,
                    }
                }
            }
            site.ports.push(port);
        }
        return site;
    }
    panic!("no free loopback addresses and ports for the mail servers");
}

/// The zone `example.test`: MX 10/20/30 `mx1`..`mx3`, two A records each, and on every port
/// of `site` a `3 1 1` TLSA for each of the host's two leaves.
fn zone(site: &Site, certs: &[Vec<ServedCert>]) -> ZoneSpec {
    let mut lines = String::new();
    for h in 0..HOSTS {
        let n = h + 1;
        lines.push_str(&format!("@ MX {} mx{n}\n", 10 * u16::from(n)));
        for i in 0..PER_HOST {
            lines.push_str(&format!("mx{n} A {}\n", site.ip(h, i)));
        }
        for port in &site.ports {
            for cert in &certs[usize::from(h)] {
                lines.push_str(&format!("_{port}._tcp.mx{n} TLSA {}\n", ee(&cert.chain[0])));
            }
        }
    }
    ZoneSpec::new("example.test").record(&lines)
}

// ---------------------------------------------------------------------------------------------
// Runs

/// What one run of the binary gave.
struct Run {
    wall: Duration,
    /// Peak resident memory in KiB, when measured.
    peak_kib: Option<u64>,
    /// The longest `elapsed_ms` of an address (connections of that address, start to end).
    probe_ms: u64,
    stderr: String,
}

struct Runner {
    resolver: String,
    anchor: PathBuf,
    time_v: bool,
}

impl Runner {
    fn command(&self, args: &[String], rss: bool) -> (Command, Option<PathBuf>) {
        let mut base = vec![
            "verify".to_owned(),
            "--resolver".into(),
            self.resolver.clone(),
            "--trust-anchor".into(),
            self.anchor.display().to_string(),
            "--timeout".into(),
            "5s".into(),
            "-o".into(),
            "json".into(),
        ];
        base.extend_from_slice(args);
        if rss && self.time_v {
            let out = self.anchor.with_file_name("time.out");
            let mut cmd = Command::new("/usr/bin/time");
            cmd.arg("-f").arg("%M").arg("-o").arg(&out).arg(BIN);
            cmd.args(&base);
            (cmd, Some(out))
        } else {
            let mut cmd = Command::new(BIN);
            cmd.args(&base);
            (cmd, None)
        }
    }

    /// Runs `danekit verify ARGS`; every address must be authenticated, `expect` of them.
    fn run(&self, args: &[String], expect: usize, rss: bool) -> Run {
        let (mut cmd, time_out) = self.command(args, rss);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd.spawn().expect("spawn danekit");
        let mut polled = 0;
        let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
        let poll = rss && time_out.is_none();
        let stdout_pipe = child.stdout.take().unwrap();
        let stderr_pipe = child.stderr.take().unwrap();
        let out_reader = std::thread::spawn(move || read_all(stdout_pipe));
        let err_reader = std::thread::spawn(move || read_all(stderr_pipe));
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if poll {
                polled = polled.max(vm_hwm(&status_file).unwrap_or(0));
                std::thread::sleep(Duration::from_micros(500));
            } else {
                break child.wait().unwrap();
            }
        };
        let wall = start.elapsed();
        let stdout = out_reader.join().unwrap();
        let stderr = err_reader.join().unwrap();
        assert!(
            status.success(),
            "danekit verify {args:?}: {status}\n{stdout}\n{stderr}"
        );
        let doc: Value = serde_json::from_str(&stdout).expect("JSON");
        let mut seen = 0;
        let mut probe_ms = 0;
        for mx in doc["mx"].as_array().unwrap() {
            for a in mx["addresses"].as_array().unwrap() {
                assert_eq!(a["outcome"], "authenticated", "{a}");
                assert_eq!(a["tls"].as_array().map_or(0, Vec::len), 2, "{a}");
                probe_ms = probe_ms.max(a["elapsed_ms"].as_u64().unwrap_or(0));
                seen += 1;
            }
        }
        assert_eq!(seen, expect, "addresses checked: {stdout}");
        let peak_kib = match time_out {
            Some(path) => std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.lines().last().and_then(|l| l.trim().parse().ok())),
            None if poll => Some(polled),
            None => None,
        };
        Run {
            wall,
            peak_kib,
            probe_ms,
            stderr,
        }
    }
}

fn read_all(mut r: impl std::io::Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}

fn vm_hwm(status: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn range(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn main() {
    let quick = std::env::var_os("DANEKIT_BENCH_QUICK").is_some_and(|v| !v.is_empty());
    let rounds: usize = std::env::var("DANEKIT_VERIFY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 5 } else { 15 });
    let seq_rounds = if quick { 1 } else { 3.min(rounds) };
    let port_rounds = if quick { 3 } else { rounds };

    let ca = root();
    let certs: Vec<Vec<ServedCert>> = (1..=HOSTS)
        .map(|n| {
            let name = format!("mx{n}.example.test");
            vec![leaf(&ca, &name, false), leaf(&ca, &name, true)]
        })
        .collect();
    let delayed = start_site(
        0,
        1,
        Behaviour::SmtpDelayedGreeting {
            millis: DELAY_MS,
            partial: false,
        },
        &certs,
    );
    let five = start_site(1, PORTS, Behaviour::ImplicitTls, &certs);
    // The 5-port site answers on addresses of its own: its hosts are `mxN.five.example.test`.
    let mut five_lines = String::new();
    for h in 0..HOSTS {
        let n = h + 1;
        five_lines.push_str(&format!("five MX {} mx{n}.five\n", 10 * u16::from(n)));
        for i in 0..PER_HOST {
            five_lines.push_str(&format!("mx{n}.five A {}\n", five.ip(h, i)));
        }
        for port in &five.ports {
            for cert in &certs[usize::from(h)] {
                five_lines.push_str(&format!(
                    "_{port}._tcp.mx{n}.five TLSA {}\n",
                    ee(&cert.chain[0])
                ));
            }
        }
    }
    let lines = zone(&delayed, &certs).record(&five_lines);
    let dns = AuthServer::start(Hierarchy::rooted(vec![lines]), vec![]);

    let dir = std::env::temp_dir().join(format!("danekit-verify-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let anchor = dir.join("anchor.zone");
    let mut f = std::fs::File::create(&anchor).unwrap();
    for l in dns.hierarchy().trust_anchor_ds() {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let runner = Runner {
        resolver: dns.addr.to_string(),
        anchor,
        time_v: Path::new("/usr/bin/time").exists(),
    };

    let port = delayed.ports[0].to_string();
    let domain = strings(&["example.test", "--port", &port, "--starttls", "smtp"]);
    let mut sequential = domain.clone();
    sequential.extend(strings(&["--parallel", "1"]));
    let single = |h: u8, i: u8| {
        let host = format!("mx{}.example.test", h + 1);
        let ip = delayed.ip(h, i).to_string();
        strings(&[
            "--host",
            &host,
            "--connect",
            &ip,
            "--port",
            &port,
            "--starttls",
            "smtp",
        ])
    };
    let port_list = five
        .ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let five_args = strings(&["five.example.test", "--ports", &port_list]);
    let addresses = usize::from(HOSTS * PER_HOST);

    // Warm-up (page cache, the servers' first handshakes), with -v for the DNS questions.
    let verbose = |args: &[String], expect: usize| {
        let mut args = args.to_vec();
        args.push("-v".into());
        let r = runner.run(&args, expect, false);
        r.stderr
            .lines()
            .find(|l| l.contains("DNS questions"))
            .unwrap_or("")
            .to_owned()
    };
    let questions = [
        verbose(&single(0, 0), 1),
        verbose(&domain, addresses),
        verbose(&five_args, addresses * PORTS),
    ];

    let mut singles: Vec<Vec<f64>> = vec![Vec::new(); addresses];
    let mut single_probe: Vec<f64> = Vec::new();
    let mut full: Vec<f64> = Vec::new();
    let mut full_probe: Vec<f64> = Vec::new();
    let mut ratios: Vec<f64> = Vec::new();
    for _ in 0..rounds {
        let mut slowest: f64 = 0.0;
        for h in 0..HOSTS {
            for i in 0..PER_HOST {
                let r = runner.run(&single(h, i), 1, false);
                singles[usize::from(h * PER_HOST + i)].push(ms(r.wall));
                single_probe.push(r.probe_ms as f64);
                slowest = slowest.max(ms(r.wall));
            }
        }
        let r = runner.run(&domain, addresses, false);
        full.push(ms(r.wall));
        full_probe.push(r.probe_ms as f64);
        ratios.push(ms(r.wall) / slowest);
    }
    let mut seq: Vec<f64> = Vec::new();
    for _ in 0..seq_rounds {
        seq.push(ms(runner.run(&sequential, addresses, false).wall));
    }
    let domain_rss = runner.run(&domain, addresses, true).peak_kib;

    let mut five_wall: Vec<f64> = Vec::new();
    let mut five_probe: Vec<f64> = Vec::new();
    for _ in 0..port_rounds {
        let r = runner.run(&five_args, addresses * PORTS, false);
        five_wall.push(ms(r.wall));
        five_probe.push(r.probe_ms as f64);
    }
    let mut five_rss: Vec<f64> = Vec::new();
    for _ in 0..port_rounds.min(3) {
        if let Some(kib) = runner.run(&five_args, addresses * PORTS, true).peak_kib {
            five_rss.push(kib as f64 / 1024.0);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    let medians: Vec<f64> = singles.iter().map(|v| median(v.clone())).collect();
    let (slowest_at, slowest) = medians
        .iter()
        .copied()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let full_median = median(full.clone());
    let ratio = full_median / slowest;
    let how = if runner.time_v {
        "/usr/bin/time -f %M"
    } else {
        "VmHWM, polled"
    };
    println!(
        "verify P3: {HOSTS} MX hosts x {PER_HOST} addresses, SMTP greeting delayed {DELAY_MS} ms, \
         2 handshakes per address (ECDSA, RSA); release binary {BIN}; median of {rounds} rounds"
    );
    for (k, m) in medians.iter().enumerate() {
        let (lo, hi) = range(&singles[k]);
        let (h, i) = (k as u8 / PER_HOST, k as u8 % PER_HOST);
        println!(
            "verify P3: single probe mx{}.example.test {:<15} {m:8.1} ms  ({lo:.1}-{hi:.1})",
            h + 1,
            delayed.ip(h, i)
        );
    }
    println!(
        "verify P3: single slowest probe (address {})    {slowest:8.1} ms  (its connections: {:.0} ms)",
        slowest_at + 1,
        median(single_probe)
    );
    let (lo, hi) = range(&full);
    println!(
        "verify P3: whole domain, --parallel 16 (default)  {full_median:8.1} ms  ({lo:.1}-{hi:.1}; slowest address's connections {:.0} ms)",
        median(full_probe)
    );
    let (rlo, rhi) = range(&ratios);
    println!(
        "verify P3: ratio whole / single slowest            {ratio:8.2}    (per round {rlo:.2}-{rhi:.2}; target <= {TARGET})"
    );
    println!(
        "verify P3: whole domain, --parallel 1              {:8.1} ms  ({} round(s))",
        median(seq.clone()),
        seq.len()
    );
    for (what, line) in ["single probe", "whole domain", "--ports x5"]
        .iter()
        .zip(&questions)
    {
        println!("verify P3: {what}: {line}");
    }
    if let Some(kib) = domain_rss {
        println!(
            "verify P3: whole domain peak RSS                  {:8.1} MB  ({how})",
            kib as f64 / 1024.0
        );
    }
    let (lo, hi) = range(&five_wall);
    println!(
        "verify P3: --ports x{PORTS} (implicit TLS), {} servers, {} handshakes: {:8.1} ms  ({lo:.1}-{hi:.1}; median of {port_rounds}; slowest address {:.0} ms)",
        addresses * PORTS,
        addresses * PORTS * 2,
        median(five_wall.clone()),
        median(five_probe)
    );
    if !five_rss.is_empty() {
        let (lo, hi) = range(&five_rss);
        println!(
            "verify P3: --ports x{PORTS} peak RSS                       {:8.1} MB  ({lo:.1}-{hi:.1}; {how})",
            median(five_rss.clone())
        );
    }
    if ratio > TARGET {
        println!("verify P3: FAILED: ratio {ratio:.2} > {TARGET}");
        std::process::exit(1);
    }
}
