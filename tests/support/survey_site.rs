//! The mail site of the `survey` tests: one signed zone `example.test` with a domain per
//! outcome, one mail server behind it, and `danekit survey` run in-process against them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use hickory_proto::rr::RecordType;

use super::dns_auth::{AuthServer, Hierarchy, ZoneSpec, now};
use super::mail_servers::{Behaviour, LoopbackEnv};
use super::sites::{Servers, WRONG, ee, leaf, root, served, spec, start};

pub static NEXT: AtomicU32 = AtomicU32::new(0);

pub fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "danekit-survey-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The domains of the site and the verdict each must get.
pub const EXPECTED: &[(&str, &str)] = &[
    ("good.example.test.", "pass"),
    ("wrong.example.test.", "fail"),
    ("plain.example.test.", "pass"),
    ("bogus.example.test.", "fail"),
    ("down.example.test.", "indeterminate"),
    ("null.example.test.", "pass"),
    ("gone.example.test.", "fail"),
    ("pkix.example.test.", "pass"),
    ("nostls.example.test.", "fail"),
];

pub struct Site {
    pub servers: Servers,
    pub dns: AuthServer,
    pub dir: PathBuf,
    pub anchor: PathBuf,
}

/// good: authenticated; wrong: mismatch; plain: no TLSA (no-dane); bogus: a tampered TLSA;
/// down: nothing listens at its address; null: a null MX; gone: does not exist; pkix: only a
/// PKIX-EE record (tls-required); nostls: TLSA published, no STARTTLS offered.
pub fn site() -> Site {
    let ca = root("Test Root");
    let (l, k) = leaf(&ca, &["mx.example.test"], (2025, 2100), false);
    let servers = start(vec![
        spec(
            1,
            Behaviour::SmtpStarttls,
            vec![served(vec![l.clone()], k.clone())],
        ),
        spec(
            2,
            Behaviour::SmtpNoStarttls,
            vec![served(vec![l.clone()], k)],
        ),
    ]);
    let p = servers.port;
    let ip = servers.ip(1);
    let no_tls = servers.ip(2);
    let down = servers.ip(9);
    let pkix = ee(&l).replacen("3 1 1", "1 1 1", 1);
    let lines = format!(
        "mx A {ip}\nmx2 A {ip}\nmx3 A {ip}\nmx4 A {ip}\nmx5 A {down}\nmx6 A {ip}\nmx7 A {no_tls}\n\
         good MX 10 mx\nwrong MX 10 mx2\nplain MX 10 mx3\nbogus MX 10 mx4\ndown MX 10 mx5\n\
         pkix MX 10 mx6\nnostls MX 10 mx7\nnull MX 0 .\n\
         _{p}._tcp.mx TLSA {}\n_{p}._tcp.mx2 TLSA {WRONG}\n_{p}._tcp.mx4 TLSA {}\n_{p}._tcp.mx5 TLSA {}\n\
         _{p}._tcp.mx6 TLSA {pkix}\n_{p}._tcp.mx7 TLSA {}\n",
        ee(&l),
        ee(&l),
        ee(&l),
        ee(&l)
    );
    let mut h = Hierarchy::rooted(vec![ZoneSpec::new("example.test").record(&lines)]);
    h.zone_mut("example.test")
        .tamper(&format!("_{p}._tcp.mx4.example.test"), RecordType::TLSA);
    let dns = AuthServer::start(h, vec![]);
    let dir = tempdir();
    let anchor = dir.join("anchor.zone");
    std::fs::write(&anchor, dns.hierarchy().trust_anchor_ds().join("\n")).unwrap();
    Site {
        servers,
        dns,
        dir,
        anchor,
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct Run {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

pub fn survey(site: &Site, args: &[&str], stdin: &str) -> Run {
    let mut env = LoopbackEnv::new();
    env.now = i64::from(now());
    env.stdin = stdin.as_bytes().to_vec();
    let resolver = site.dns.addr.to_string();
    let port = site.servers.port.to_string();
    let mut argv = vec![
        "danekit",
        "survey",
        "--resolver",
        &resolver,
        "--trust-anchor",
        site.anchor.to_str().unwrap(),
        "--timeout",
        "1s",
        "--port",
        &port,
        "--jobs",
        "3",
        "--starttls",
        "smtp",
    ];
    argv.extend_from_slice(args);
    let code = danekit::cli::run(argv, &mut env);
    assert!(env.resolves().is_empty());
    Run {
        code,
        stdout: String::from_utf8(env.stdout).unwrap(),
        stderr: String::from_utf8(env.stderr).unwrap(),
    }
}

pub fn list(site: &Site, domains: &[&str]) -> PathBuf {
    let path = site
        .dir
        .join(format!("list-{}.txt", NEXT.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&path, domains.join("\n")).unwrap();
    path
}

pub fn all_domains() -> Vec<&'static str> {
    let mut v = vec!["# the test domains", ""];
    v.extend(EXPECTED.iter().map(|(d, _)| d.trim_end_matches('.')));
    v
}
