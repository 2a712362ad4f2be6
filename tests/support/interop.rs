//! Helpers for the interoperability tests that compare danekit with real software: OpenSSL,
//! ldns-dane, GnuTLS danetool and Postfix.
//!
//! [`require_tool`] is the one place that decides what a missing tool means: with `CI=true` it
//! fails the test, otherwise it prints `skipped: …` and the test returns. The rest runs
//! processes, parses danekit's JSON back into structs, makes temporary directories and stops
//! servers by process group. Nothing here talks to any address outside 127.0.0.0/8.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// Directories searched after `PATH`: Debian puts Postfix's commands in `/usr/sbin`, and a
/// non-root `PATH` often lacks it.
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/lib/postfix/sbin"];

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Fails the test in CI, else prints why it is skipped. Returns `false` for the caller to
/// return early.
fn unavailable(reason: &str) -> bool {
    assert!(
        !in_ci(),
        "{reason}; CI=true requires it (see .ci/run, which installs the interop packages)"
    );
    eprintln!("skipped: {reason}");
    false
}

/// Finds `bin` (a name looked up in `PATH` and the sbin directories, or an absolute path).
/// When it is missing: with `CI=true` the test fails; otherwise it prints
/// `skipped: <bin> not installed (apt-get install <package>)` and returns `None`.
pub fn require_tool(bin: &str, package: &str) -> Option<PathBuf> {
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
    };
    let found = if bin.contains('/') {
        Some(PathBuf::from(bin)).filter(|p| executable(p))
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(EXTRA_DIRS.iter().map(PathBuf::from))
            .map(|dir| dir.join(bin))
            .find(|p| executable(p))
    };
    if found.is_none() {
        unavailable(&format!("{bin} not installed (apt-get install {package})"));
    }
    found
}

/// True when the test runs as root. Otherwise fails in CI, or prints `skipped: …` and returns
/// `false`.
pub fn require_root(why: &str) -> bool {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    root || unavailable(&format!("not running as root, which {why} needs"))
}

/// The danekit binary built for these tests.
pub fn danekit_bin() -> &'static str {
    env!("CARGO_BIN_EXE_danekit")
}

/// A file of the test PKI.
pub fn pki(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pki")
        .join(name)
}

/// A command line as one string that a shell can run again, for failure messages.
pub fn describe<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> String {
    let quote = |word: &OsStr| {
        let word = word.to_string_lossy();
        let plain = !word.is_empty()
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%[]".contains(c));
        if plain {
            word.into_owned()
        } else {
            format!("'{}'", word.replace('\'', r"'\''"))
        }
    };
    let mut line = quote(program.as_ref());
    for a in args {
        line.push(' ');
        line.push_str(&quote(a.as_ref()));
    }
    line
}

/// Runs `program args`, feeding `stdin` (empty when `None`), and returns its output whatever
/// the exit status.
pub fn run<S: AsRef<OsStr>>(
    program: impl AsRef<OsStr>,
    args: &[S],
    stdin: Option<&[u8]>,
) -> Output {
    run_with_env(program, args, stdin, &[])
}

/// As [`run`], with extra environment variables.
pub fn run_with_env<S: AsRef<OsStr>>(
    program: impl AsRef<OsStr>,
    args: &[S],
    stdin: Option<&[u8]>,
    env: &[(&str, &OsStr)],
) -> Output {
    let line = describe(&program, args);
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{line}`: {e}"));
    let input = stdin.unwrap_or_default().to_vec();
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let writer = thread::spawn(move || {
        // A tool that exits without reading its input closes the pipe: not an error here.
        let _ = pipe.write_all(&input);
    });
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for `{line}`: {e}"));
    writer.join().expect("stdin writer thread");
    output
}

/// As [`run`], and panics with the command line and stderr unless it exits 0.
pub fn run_ok<S: AsRef<OsStr>>(
    program: impl AsRef<OsStr>,
    args: &[S],
    stdin: Option<&[u8]>,
) -> Vec<u8> {
    let line = describe(&program, args);
    let out = run(program, args, stdin);
    assert!(
        out.status.success(),
        "`{line}` failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs danekit with `args`; panics with its stderr unless it exits 0. Returns stdout.
pub fn danekit_ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    String::from_utf8(run_ok(danekit_bin(), args, None)).expect("danekit prints UTF-8")
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Hex text with whitespace and colons removed, lower-cased.
pub fn normalise_hex(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .flat_map(char::to_lowercase)
        .collect()
}

/// `U S M DATA` with single spaces and lower-case hex.
pub fn normalise_rdata(usage: u8, selector: u8, matching: u8, data: &str) -> String {
    format!("{usage} {selector} {matching} {}", normalise_hex(data))
}

/// One record of `danekit tlsa -o json`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct JsonRecord {
    pub owner: Option<String>,
    pub ttl: u32,
    pub usage: u8,
    pub selector: u8,
    pub matching_type: u8,
    pub data: String,
    pub source: String,
    pub depth: usize,
}

/// The report of `danekit tlsa -o json`.
#[derive(Debug, Clone, Deserialize)]
pub struct JsonReport {
    pub schema_version: u32,
    pub verdict: String,
    pub records: Vec<JsonRecord>,
}

/// Runs `danekit tlsa ARGS -o json` and parses the report; `Err` says what went wrong, with
/// the command line and danekit's output.
pub fn try_danekit_tlsa_json<S: AsRef<OsStr>>(args: &[S]) -> Result<JsonReport, String> {
    let mut all: Vec<&OsStr> = vec![OsStr::new("tlsa")];
    all.extend(args.iter().map(AsRef::as_ref));
    all.extend([OsStr::new("-o"), OsStr::new("json")]);
    let line = describe(danekit_bin(), &all);
    let out = run(danekit_bin(), &all, None);
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "`{line}` failed with {}\nstdout:\n{text}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let report: JsonReport = serde_json::from_str(&text)
        .map_err(|e| format!("`{line}` printed JSON that does not parse: {e}\n{text}"))?;
    if report.schema_version != 1 {
        return Err(format!("`{line}`: schema_version is not 1:\n{text}"));
    }
    Ok(report)
}

/// As [`try_danekit_tlsa_json`], and panics on `Err`.
pub fn danekit_tlsa_json<S: AsRef<OsStr>>(args: &[S]) -> JsonReport {
    try_danekit_tlsa_json(args).unwrap_or_else(|e| panic!("{e}"))
}

/// A `--records` list of every usage × selector × matching type given.
pub fn records_list(usages: &[u8], selectors: &[u8], matchings: &[u8]) -> Vec<(u8, u8, u8)> {
    let mut list = Vec::new();
    for &u in usages {
        for &s in selectors {
            for &m in matchings {
                list.push((u, s, m));
            }
        }
    }
    list
}

/// `"3 1 1,2 0 1"` for `--records`.
pub fn records_arg(list: &[(u8, u8, u8)]) -> String {
    list.iter()
        .map(|(u, s, m)| format!("{u} {s} {m}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The `CERTIFICATE` blocks of a PEM file, in order, each with its armour.
pub fn pem_certificates(path: &Path) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut blocks = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find(BEGIN) {
        let end = rest[start..]
            .find(END)
            .unwrap_or_else(|| panic!("{}: BEGIN CERTIFICATE without END", path.display()));
        let stop = start + end + END.len();
        blocks.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    blocks
}

/// `openssl x509 -outform DER` of one PEM certificate: selector 0 (Cert).
pub fn openssl_cert_der(openssl: &Path, pem: &[u8]) -> Vec<u8> {
    run_ok(openssl, &["x509", "-outform", "DER"], Some(pem))
}

/// `openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER`: selector 1 (SPKI).
pub fn openssl_cert_spki(openssl: &Path, pem: &[u8]) -> Vec<u8> {
    let pubkey = run_ok(openssl, &["x509", "-pubkey", "-noout"], Some(pem));
    run_ok(
        openssl,
        &["pkey", "-pubin", "-outform", "DER"],
        Some(&pubkey),
    )
}

/// The association data for matching type `matching` of `selected`: the bytes themselves (0),
/// `openssl dgst -sha256 -binary` (1) or `openssl dgst -sha512 -binary` (2), as hex.
pub fn openssl_association(openssl: &Path, selected: &[u8], matching: u8) -> String {
    match matching {
        0 => hex(selected),
        1 => hex(&run_ok(
            openssl,
            &["dgst", "-sha256", "-binary"],
            Some(selected),
        )),
        2 => hex(&run_ok(
            openssl,
            &["dgst", "-sha512", "-binary"],
            Some(selected),
        )),
        m => panic!("no matching type {m}"),
    }
}

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// A directory under the system temporary directory, removed when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "danekit-{label}-{}-{}-{nanos}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A port on 127.0.0.1 that was free a moment ago: bound to port 0, then released.
pub fn free_loopback_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

/// Waits until 127.0.0.1:`port` accepts a TCP connection, for at most `limit`.
pub fn wait_for_port(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(1))
            .is_ok()
        {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A child process started as the leader of its own process group. Dropping it (also while a
/// test panics) sends SIGTERM to the leader, waits up to five seconds, then SIGKILLs the whole
/// group by its id.
pub struct ProcessGroup {
    child: Child,
}

impl ProcessGroup {
    /// Spawns `cmd` in a new process group.
    pub fn spawn(mut cmd: Command) -> std::io::Result<ProcessGroup> {
        cmd.process_group(0);
        cmd.spawn().map(|child| ProcessGroup { child })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the leader has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// `kill -SIGNAL TARGET` through `sh`, whose built-in `kill` exists where procps is not
    /// installed; a negative target is a process group.
    fn signal(&self, signal: &str, target: &str) {
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {target}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        if self.try_wait().is_none() {
            self.signal("TERM", &pid);
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.try_wait().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(50));
            }
        }
        self.signal("KILL", &format!("-{pid}"));
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
