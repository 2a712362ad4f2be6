//! `danekit survey` at scale (benchmark P4): 10,000 generated mail domains `dNNNNN.example.test`
//! in one signed zone, served with the rest of a signed tree (root → `test.` → `example.test.`,
//! ECDSA) on 127.0.0.1 by `tests/support/dns_auth.rs`, and a handful of MX hosts, mail servers
//! of `tests/support/mail_servers.rs` on addresses of a 127.B.C.0/24 of their own, one high port
//! P for all (TLSA at `_P._tcp.mxN.example.test`). Out of every 20 domains:
//!
//! - 8 `MX mx1` (ECDSA P-256 chain, matching `3 1 1`): pass, authenticated;
//! - 3 `MX mx2` (RSA-2048 chain, matching `3 1 1`): pass, authenticated;
//! - 2 `MX mx1` and `MX mx2`: pass, both authenticated;
//! - 2 `MX mx3` (a `3 1 1` that matches nothing): fail, mismatch;
//! - 2 `MX mx4` (no TLSA): pass, no-dane;
//! - 1 `MX mx5` (TLSA, but nothing listens at its address): indeterminate, unreachable;
//! - 1 null MX: pass;
//! - 1 not in the zone (NXDOMAIN, proven by NSEC): fail, mx-lookup.
//!
//! The release binary runs as a child process, as a user runs it:
//! `danekit survey LIST --resolver 127.0.0.1:D --trust-anchor ROOT.ds --port P --starttls smtp
//! --jobs N -o jsonl`, standard output into a file. The wall time of the process gives domains
//! per second; its peak RSS comes from `/usr/bin/time -f %M` (without it, from `VmHWM` of
//! `/proc/PID/status`, polled). After each run every line must be a verify document, every
//! domain of the list must appear once with the verdict and the address outcome it was built
//! for, and the summary on stderr must count them all, or the benchmark fails.
//!
//! Runs: the 10,000 domains with `--jobs` 8, 32 (the default) and 64, then 2,000 domains with
//! `--jobs 32` to compare peak RSS (memory must not grow with the list). Targets: ≥ 200
//! domains/s and ≤ 100 MB at the default `--jobs`; the benchmark exits 1 when one is missed.
//! `DANEKIT_BENCH_QUICK=1` (CI): 1,000 domains, `--jobs 32` only. `DANEKIT_SURVEY_DOMAINS` sets
//! the list size, `DANEKIT_SURVEY_JOBS` the `--jobs` values (comma-separated). Run with
//! `cargo bench --bench survey_scale`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/dns_auth.rs"]
#[allow(dead_code)]
mod dns_auth;
#[path = "../tests/support/mail_servers.rs"]
#[allow(dead_code)]
mod mail_servers;
#[path = "../tests/support/sites.rs"]
#[allow(dead_code)]
mod sites;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use danekit::survey::Summary;
use danekit::verify::VerifyDocument;
use dns_auth::{AuthServer, Hierarchy, ZoneSpec};
use mail_servers::Behaviour;
use sites::{Servers, WRONG, ee, leaf, root, served, spec, start};

const BIN: &str = env!("CARGO_BIN_EXE_danekit");
const TARGET_RATE: f64 = 200.0;
const TARGET_MB: f64 = 100.0;
const DEFAULT_JOBS: usize = 32;
/// The last octet of the MX address where nothing listens.
const DOWN: u8 = 9;

/// What a domain of the list is built to give: its verdict and the outcome of each address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ecdsa,
    Rsa,
    Both,
    Mismatch,
    NoDane,
    Down,
    NullMx,
    Missing,
}

impl Kind {
    fn of(i: usize) -> Kind {
        match i % 20 {
            0..=7 => Kind::Ecdsa,
            8..=10 => Kind::Rsa,
            11 | 12 => Kind::Both,
            13 | 14 => Kind::Mismatch,
            15 | 16 => Kind::NoDane,
            17 => Kind::Down,
            18 => Kind::NullMx,
            _ => Kind::Missing,
        }
    }

    fn verdict(self) -> &'static str {
        match self {
            Kind::Ecdsa | Kind::Rsa | Kind::Both | Kind::NoDane | Kind::NullMx => "pass",
            Kind::Mismatch | Kind::Missing => "fail",
            Kind::Down => "indeterminate",
        }
    }

    /// The outcomes of the addresses, MX by MX.
    fn outcomes(self) -> &'static [&'static str] {
        match self {
            Kind::Ecdsa | Kind::Rsa => &["authenticated"],
            Kind::Both => &["authenticated", "authenticated"],
            Kind::Mismatch => &["mismatch"],
            Kind::NoDane => &["no-dane"],
            Kind::Down => &["unreachable"],
            Kind::NullMx | Kind::Missing => &[],
        }
    }

    /// The zone lines of domain `label`.
    fn lines(self, label: &str) -> String {
        match self {
            Kind::Ecdsa => format!("{label} MX 10 mx1\n"),
            Kind::Rsa => format!("{label} MX 10 mx2\n"),
            Kind::Both => format!("{label} MX 10 mx1\n{label} MX 20 mx2\n"),
            Kind::Mismatch => format!("{label} MX 10 mx3\n"),
            Kind::NoDane => format!("{label} MX 10 mx4\n"),
            Kind::Down => format!("{label} MX 10 mx5\n"),
            Kind::NullMx => format!("{label} MX 0 .\n"),
            Kind::Missing => String::new(),
        }
    }
}

fn label(i: usize) -> String {
    format!("d{i:05}")
}

/// The MX hosts: mx1 (ECDSA), mx2 (RSA), mx3 (wrong TLSA), mx4 (no TLSA) on octets 1–4, and
/// mx5 (TLSA) on an address where nothing listens; and the zone with `domains` domains.
fn site(domains: usize) -> (Servers, ZoneSpec) {
    let ca = root("Bench Root");
    let (l1, k1) = leaf(&ca, &["mx1.example.test"], (2025, 2100), false);
    let (l2, k2) = leaf(&ca, &["mx2.example.test"], (2025, 2100), true);
    let (l3, k3) = leaf(&ca, &["mx3.example.test"], (2025, 2100), false);
    let (l4, k4) = leaf(&ca, &["mx4.example.test"], (2025, 2100), false);
    let chain = |l: &Vec<u8>| vec![l.clone(), ca.der.clone()];
    let servers = start(vec![
        spec(1, Behaviour::SmtpStarttls, vec![served(chain(&l1), k1)]),
        spec(2, Behaviour::SmtpStarttls, vec![served(chain(&l2), k2)]),
        spec(3, Behaviour::SmtpStarttls, vec![served(chain(&l3), k3)]),
        spec(4, Behaviour::SmtpStarttls, vec![served(chain(&l4), k4)]),
    ]);
    let p = servers.port;
    let mut lines = String::new();
    for (n, octet) in [(1, 1), (2, 2), (3, 3), (4, 4), (5, DOWN)] {
        lines.push_str(&format!("mx{n} A {}\n", servers.ip(octet)));
    }
    lines.push_str(&format!(
        "_{p}._tcp.mx1 TLSA {}\n_{p}._tcp.mx2 TLSA {}\n_{p}._tcp.mx3 TLSA {WRONG}\n\
         _{p}._tcp.mx5 TLSA {}\n",
        ee(&l1),
        ee(&l2),
        ee(&l1)
    ));
    for i in 0..domains {
        lines.push_str(&Kind::of(i).lines(&label(i)));
    }
    (servers, ZoneSpec::new("example.test").record(&lines))
}

/// What one run of the binary gave.
struct Run {
    wall: Duration,
    peak_kib: Option<u64>,
    /// The process's user and system CPU time in seconds, when measured.
    cpu: Option<(f64, f64)>,
    /// The CPU time of this process (the DNS and mail servers) over the run, in seconds.
    servers_cpu: f64,
    questions: usize,
    connections: usize,
    summary: Summary,
}

struct Runner<'a> {
    dns: &'a AuthServer,
    servers: &'a Servers,
    anchor: PathBuf,
    dir: PathBuf,
    time_v: bool,
}

impl Runner<'_> {
    /// `danekit survey` over the first `domains` domains with `--jobs jobs`; every line is
    /// checked.
    fn run(&self, domains: usize, jobs: usize) -> Run {
        let list = self.dir.join(format!("domains-{domains}.txt"));
        if !list.exists() {
            let mut text = String::from("# generated for the survey benchmark\n");
            for i in 0..domains {
                text.push_str(&format!("{}.example.test\n", label(i)));
            }
            std::fs::write(&list, text).unwrap();
        }
        let out_path = self.dir.join("out.jsonl");
        let time_out = self.dir.join("time.out");
        let args: Vec<String> = vec![
            "survey".into(),
            list.display().to_string(),
            "--resolver".into(),
            self.dns.addr.to_string(),
            "--trust-anchor".into(),
            self.anchor.display().to_string(),
            "--timeout".into(),
            "5s".into(),
            "--port".into(),
            self.servers.port.to_string(),
            "--starttls".into(),
            "smtp".into(),
            "--jobs".into(),
            jobs.to_string(),
            "-o".into(),
            "jsonl".into(),
        ];
        let mut cmd = if self.time_v {
            let mut cmd = Command::new("/usr/bin/time");
            cmd.arg("-f")
                .arg("%M %U %S")
                .arg("-o")
                .arg(&time_out)
                .arg(BIN);
            cmd
        } else {
            Command::new(BIN)
        };
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(Stdio::piped());
        self.dns.clear_queries();
        let accepted = self.servers.accepted();
        let servers_before = own_cpu();
        let start = Instant::now();
        let mut child = cmd.spawn().expect("spawn danekit");
        let stderr_pipe = child.stderr.take().unwrap();
        let err_reader = std::thread::spawn(move || read_all(stderr_pipe));
        let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
        let mut polled = 0;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if self.time_v {
                break child.wait().unwrap();
            }
            polled = polled.max(vm_hwm(&status_file).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(2));
        };
        let wall = start.elapsed();
        let servers_cpu = own_cpu() - servers_before;
        let stderr = err_reader.join().unwrap();
        let questions = self.dns.queries().len();
        self.dns.clear_queries();
        let connections = self.servers.accepted() - accepted;
        // Some domains fail by construction: exit 1.
        assert_eq!(
            status.code(),
            Some(1),
            "danekit {args:?}: {status}\n{stderr}"
        );
        let timed: Vec<String> = std::fs::read_to_string(&time_out)
            .ok()
            .and_then(|t| t.lines().last().map(str::to_owned))
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let peak_kib = if self.time_v {
            timed.first().and_then(|m| m.parse().ok())
        } else {
            Some(polled)
        };
        let cpu = match (timed.get(1), timed.get(2)) {
            (Some(u), Some(s)) => u.parse().ok().zip(s.parse().ok()),
            _ => None,
        };
        let summary = check(&std::fs::read_to_string(&out_path).unwrap(), domains);
        assert!(
            stderr.ends_with(&summary.table()),
            "the summary on stderr:\n{stderr}"
        );
        let _ = std::fs::remove_file(&out_path);
        Run {
            wall,
            peak_kib,
            cpu,
            servers_cpu,
            questions,
            connections,
            summary,
        }
    }
}

/// Every line a verify document, every domain once with its verdict and address outcomes;
/// returns the summary of the lines.
fn check(text: &str, domains: usize) -> Summary {
    let mut seen: BTreeMap<usize, ()> = BTreeMap::new();
    let mut summary = Summary::default();
    for line in text.lines() {
        let doc: VerifyDocument =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let i: usize = doc
            .domain
            .strip_prefix('d')
            .and_then(|d| d.strip_suffix(".example.test."))
            .and_then(|d| d.parse().ok())
            .unwrap_or_else(|| panic!("unexpected domain {}", doc.domain));
        assert!(
            i < domains && seen.insert(i, ()).is_none(),
            "{}",
            doc.domain
        );
        let kind = Kind::of(i);
        assert_eq!(doc.verdict.as_str(), kind.verdict(), "{line}");
        let outcomes: Vec<&str> = doc
            .mx
            .iter()
            .flat_map(|m| m.addresses.iter().map(|a| a.outcome.word()))
            .collect();
        assert_eq!(outcomes, kind.outcomes(), "{line}");
        summary.add(&doc);
    }
    assert_eq!(
        seen.len(),
        domains,
        "lines for {} of {domains} domains",
        seen.len()
    );
    summary
}

fn read_all(mut r: impl std::io::Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}

/// The user + system CPU time of this process so far, in seconds (`/proc/self/stat`, in clock
/// ticks of 1/100 s).
fn own_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat(5), counted from the state (field 3) at index 0.
    (ticks(11) + ticks(12)) / 100.0
}

fn vm_hwm(status: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() {
    let quick = std::env::var_os("DANEKIT_BENCH_QUICK").is_some_and(|v| !v.is_empty());
    let domains =
        env_number("DANEKIT_SURVEY_DOMAINS").unwrap_or(if quick { 1_000 } else { 10_000 });
    let jobs_list: Vec<usize> = match std::env::var("DANEKIT_SURVEY_JOBS") {
        Ok(v) => v.split(',').filter_map(|j| j.trim().parse().ok()).collect(),
        Err(_) if quick => vec![DEFAULT_JOBS],
        Err(_) => vec![8, DEFAULT_JOBS, 64],
    };
    let small = (domains / 5).max(1);

    let built = Instant::now();
    let (servers, zone) = site(domains);
    let dns = AuthServer::start(Hierarchy::rooted(vec![zone]), vec![]);
    let setup = built.elapsed();
    let dir = std::env::temp_dir().join(format!("danekit-survey-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let anchor = dir.join("anchor.zone");
    let mut f = std::fs::File::create(&anchor).unwrap();
    for l in dns.hierarchy().trust_anchor_ds() {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let runner = Runner {
        dns: &dns,
        servers: &servers,
        anchor,
        dir: dir.clone(),
        time_v: Path::new("/usr/bin/time").exists(),
    };
    let how = if runner.time_v {
        "/usr/bin/time -f %M"
    } else {
        "VmHWM, polled"
    };
    println!(
        "survey P4: {domains} domains in one signed zone (signed and served in {:.1} s), \
         5 MX hosts on one port, release binary {BIN}",
        setup.as_secs_f64()
    );

    // Warm-up: page cache, the servers' first handshakes.
    runner.run(small.min(200), DEFAULT_JOBS);

    let mut missed = Vec::new();
    let mut reference: Option<Summary> = None;
    for &jobs in &jobs_list {
        let r = runner.run(domains, jobs);
        let rate = domains as f64 / r.wall.as_secs_f64();
        let mb = r.peak_kib.map(|k| k as f64 / 1024.0);
        println!(
            "survey P4: {domains} domains, --jobs {jobs:<3} {:8.2} s  {rate:7.0} domains/s  peak RSS {}  \
             (danekit CPU {}; servers {:.1} s CPU; {:.1} DNS questions and {:.2} connections per domain)",
            r.wall.as_secs_f64(),
            mb.map_or("?".into(), |m| format!("{m:.1} MB")),
            r.cpu.map_or("?".into(), |(u, s)| format!(
                "{u:.1} s user + {s:.1} s system, {:.2} ms per domain",
                (u + s) * 1e3 / domains as f64
            )),
            r.servers_cpu,
            r.questions as f64 / domains as f64,
            r.connections as f64 / domains as f64,
        );
        if jobs == DEFAULT_JOBS {
            if rate < TARGET_RATE {
                missed.push(format!("{rate:.0} domains/s < {TARGET_RATE}"));
            }
            if mb.is_some_and(|m| m > TARGET_MB) {
                missed.push(format!("{:.1} MB > {TARGET_MB}", mb.unwrap_or(0.0)));
            }
        }
        match &reference {
            Some(s) => assert_eq!(&r.summary, s, "the summary changed with --jobs {jobs}"),
            None => reference = Some(r.summary),
        }
    }
    if let Some(s) = &reference {
        let n = |k: &str| s.outcomes.get(k).copied().unwrap_or(0);
        println!(
            "survey P4: outcomes pass {} fail {} indeterminate {}; TLSA correct at every MX {}; \
             STARTTLS offered {}",
            n("pass"),
            n("fail"),
            n("indeterminate"),
            s.tlsa_correct_at_every_mx,
            s.starttls_offered
        );
    }
    if !quick && small < domains {
        let big = runner.run(domains, DEFAULT_JOBS);
        let little = runner.run(small, DEFAULT_JOBS);
        let mb = |r: &Run| r.peak_kib.map_or(0.0, |k| k as f64 / 1024.0);
        println!(
            "survey P4: peak RSS, --jobs {DEFAULT_JOBS}: {small} domains {:.1} MB, {domains} domains {:.1} MB ({how})",
            mb(&little),
            mb(&big)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    if !missed.is_empty() {
        println!("survey P4: FAILED: {}", missed.join(", "));
        std::process::exit(1);
    }
}
