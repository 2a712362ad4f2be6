//! Throughput and memory of `danekit logstats` on a generated Postfix log: about 1 GB (100 MB
//! with `DANEKIT_BENCH_QUICK=1`; `DANEKIT_LOGSTATS_MB` sets the size) of the lines a busy
//! Postfix 3.7 relay writes, in a temporary directory. The release binary reads it as a plain
//! file and again gzip-compressed; each run reports MB/s of log text per second of wall time
//! and per second of CPU time (which other work on a shared machine does not inflate), and the
//! peak resident memory of the process (the kernel's `VmHWM`, read while it runs). The counts danekit prints
//! are checked against those the generator wrote. Run with `cargo bench --bench logstats`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A small deterministic generator (64-bit LCG, the high bits used).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// What the generator wrote, to compare with danekit's counts.
#[derive(Default)]
struct Expected {
    outbound: [u64; 5],
    inbound: [u64; 5],
    lines: u64,
}

const CLASSES: [&str; 4] = ["Verified", "Trusted", "Untrusted", "Anonymous"];
const CIPHERS: [(&str, &str); 3] = [
    (
        "TLSv1.3",
        "TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256",
    ),
    (
        "TLSv1.3",
        "TLS_AES_128_GCM_SHA256 (128/128 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256",
    ),
    ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)"),
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn queue_id(rng: &mut Rng) -> String {
    format!("{:05X}{:05X}", rng.below(0xFFFFF), rng.below(0xFFFFF))
}

/// Writes about `bytes` of log to `path`: inbound sessions (70 % with TLS), outbound
/// deliveries over each class or in clear text, DANE deferrals, and the lines of other Postfix
/// processes that logstats passes over.
fn generate(path: &Path, bytes: u64) -> Expected {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut rng = Rng(0x5eed);
    let mut exp = Expected::default();
    let mut written: u64 = 0;
    let mut second: u64 = 0;
    let mut line = String::with_capacity(512);
    let mut emit = |line: &mut String, exp: &mut Expected, written: &mut u64| {
        line.push('\n');
        out.write_all(line.as_bytes()).unwrap();
        *written += line.len() as u64;
        exp.lines += 1;
        line.clear();
    };
    while written < bytes {
        second += 1;
        let day = 1 + (second / 86_400) % 28;
        let month = MONTHS[((second / (86_400 * 28)) % 11) as usize];
        let stamp = format!(
            "{month} {day:>2} {:02}:{:02}:{:02}",
            second / 3600 % 24,
            second / 60 % 60,
            second % 60
        );
        let client = format!(
            "client{}.example.net[198.51.100.{}]",
            rng.below(500),
            rng.below(254) + 1
        );
        let smtpd = 10_000 + rng.below(200);
        let qid = queue_id(&mut rng);
        use std::fmt::Write as _;
        let _ = write!(
            line,
            "{stamp} mx1 postfix/postscreen[900]: CONNECT from [198.51.100.7]:{} to [192.0.2.25]:25",
            30_000 + rng.below(30_000)
        );
        emit(&mut line, &mut exp, &mut written);
        let _ = write!(
            line,
            "{stamp} mx1 postfix/smtpd[{smtpd}]: connect from {client}"
        );
        emit(&mut line, &mut exp, &mut written);
        if rng.below(10) < 7 {
            let (proto, cipher) = CIPHERS[rng.below(3) as usize];
            let _ = write!(
                line,
                "{stamp} mx1 postfix/smtpd[{smtpd}]: Anonymous TLS connection established from {client}: {proto} with cipher {cipher}"
            );
            emit(&mut line, &mut exp, &mut written);
            exp.inbound[3] += 1;
        } else {
            exp.inbound[4] += 1;
        }
        let _ = write!(
            line,
            "{stamp} mx1 postfix/smtpd[{smtpd}]: {qid}: client={client}"
        );
        emit(&mut line, &mut exp, &mut written);
        let _ = write!(
            line,
            "{stamp} mx1 postfix/cleanup[{}]: {qid}: message-id=<{}.{}@example.net>",
            20_000 + rng.below(10),
            rng.next(),
            rng.next()
        );
        emit(&mut line, &mut exp, &mut written);
        let _ = write!(
            line,
            "{stamp} mx1 postfix/qmgr[800]: {qid}: from=<sender{}@example.net>, size={}, nrcpt=1 (queue active)",
            rng.below(1000),
            1000 + rng.below(100_000)
        );
        emit(&mut line, &mut exp, &mut written);
        let _ = write!(
            line,
            "{stamp} mx1 postfix/smtpd[{smtpd}]: disconnect from {client} ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7"
        );
        emit(&mut line, &mut exp, &mut written);
        // The outbound delivery of that message.
        let smtp = 30_000 + rng.below(100);
        let domain = format!("dest{}.example", rng.below(5000));
        let relay = format!("mx.{domain}[203.0.113.{}]:25", rng.below(254) + 1);
        let pick = rng.below(100);
        if pick < 3 {
            let _ = write!(
                line,
                "{stamp} mx1 postfix/smtp[{smtp}]: {qid}: to=<user{}@{domain}>, relay=none, delay=0.2, delays=0.1/0/0.1/0, dsn=4.7.5, status=deferred (TLSA lookup error for mx.{domain}:25)",
                rng.below(1000)
            );
            emit(&mut line, &mut exp, &mut written);
            continue;
        }
        if pick >= 15 {
            let class = [0, 1, 1, 2, 2, 2, 3][rng.below(7) as usize];
            let (proto, cipher) = CIPHERS[rng.below(3) as usize];
            let _ = write!(
                line,
                "{stamp} mx1 postfix/smtp[{smtp}]: {} TLS connection established to {relay}: {proto} with cipher {cipher}",
                CLASSES[class]
            );
            emit(&mut line, &mut exp, &mut written);
            exp.outbound[class] += 1;
        } else {
            exp.outbound[4] += 1;
        }
        let _ = write!(
            line,
            "{stamp} mx1 postfix/smtp[{smtp}]: {qid}: to=<user{}@{domain}>, relay={relay}, delay=0.61, delays=0.06/0.01/0.25/0.29, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as {})",
            rng.below(1000),
            queue_id(&mut rng)
        );
        emit(&mut line, &mut exp, &mut written);
        let _ = write!(line, "{stamp} mx1 postfix/qmgr[800]: {qid}: removed");
        emit(&mut line, &mut exp, &mut written);
    }
    out.flush().unwrap();
    exp
}

/// Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`, 100 on Linux).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User plus system CPU time of a running process, in clock ticks (`/proc/PID/stat` fields
/// 14 and 15).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(") ")? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// One measured run.
struct Run {
    wall: Duration,
    /// CPU seconds (user + system), which another load on the machine does not inflate.
    cpu: f64,
    peak: u64,
    doc: serde_json::Value,
}

/// Runs `danekit logstats FILE -o json`; returns the wall time, the CPU time, the peak
/// resident set in bytes and the parsed document.
fn measure(bin: &str, file: &Path) -> Run {
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args(["logstats", "--now", "2026-12-28T00:00:00Z", "-o", "json"])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let stat_file = format!("/proc/{}/stat", child.id());
    let mut peak_kb = 0u64;
    let mut ticks = 0u64;
    // The peak is read from /proc while the process runs; memory is flat, so the last reading
    // before it exits is its peak.
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut { stdout }, &mut text).unwrap();
        text
    });
    while child.try_wait().unwrap().is_none() {
        let status = std::fs::read_to_string(&status_file).unwrap_or_default();
        if let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        let stat = std::fs::read_to_string(&stat_file).unwrap_or_default();
        if let Some(t) = cpu_ticks(&stat) {
            ticks = ticks.max(t);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed();
    let text = reader.join().unwrap();
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    Run {
        wall: elapsed,
        cpu: ticks as f64 / clock_ticks(),
        peak: peak_kb * 1024,
        doc,
    }
}

fn check(doc: &serde_json::Value, exp: &Expected) {
    let names = ["verified", "trusted", "untrusted", "anonymous", "none"];
    for (i, name) in names.iter().enumerate() {
        assert_eq!(doc["outbound"][name], exp.outbound[i], "outbound {name}");
        assert_eq!(doc["inbound"][name], exp.inbound[i], "inbound {name}");
    }
    assert_eq!(doc["lines"], exp.lines);
    assert_eq!(doc["malformed"], 0);
}

fn main() {
    let quick = std::env::var_os("DANEKIT_BENCH_QUICK").is_some();
    let mb: u64 = std::env::var("DANEKIT_LOGSTATS_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 100 } else { 1000 });
    let bin = env!("CARGO_BIN_EXE_danekit");
    let dir: PathBuf =
        std::env::temp_dir().join(format!("danekit-logstats-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plain = dir.join("mail.log");
    let t = Instant::now();
    let exp = generate(&plain, mb * 1_000_000);
    let size = std::fs::metadata(&plain).unwrap().len();
    println!(
        "logstats: generated {:.0} MB, {} lines, in {:.1} s",
        size as f64 / 1e6,
        exp.lines,
        t.elapsed().as_secs_f64()
    );
    let gz = dir.join("mail.log.gz");
    {
        let mut encoder = flate2::write::GzEncoder::new(
            BufWriter::with_capacity(1 << 20, File::create(&gz).unwrap()),
            flate2::Compression::fast(),
        );
        std::io::copy(&mut File::open(&plain).unwrap(), &mut encoder).unwrap();
        encoder.finish().unwrap().flush().unwrap();
    }
    let gz_size = std::fs::metadata(&gz).unwrap().len();
    // A first read warms the page cache, so that both runs measure danekit, not the disk.
    let _ = std::fs::read(&gz);
    for (what, file) in [("plain", &plain), ("gzip", &gz)] {
        let _ = measure(bin, file);
        let run = measure(bin, file);
        check(&run.doc, &exp);
        let mb = size as f64 / 1e6;
        println!(
            "logstats: {what:<5} {mb:>6.0} MB of log in {:>6.2} s: {:>6.0} MB/s \
             (CPU {:.2} s: {:.0} MB/s), peak RSS {:.1} MB{}",
            run.wall.as_secs_f64(),
            mb / run.wall.as_secs_f64(),
            run.cpu,
            mb / run.cpu.max(0.001),
            run.peak as f64 / 1e6,
            if what == "gzip" {
                format!(" ({:.0} MB compressed)", gz_size as f64 / 1e6)
            } else {
                String::new()
            }
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
