//! Helpers for the interoperability tests that compare danekit with real software: OpenSSL,
//! ldns-dane, GnuTLS danetool, and the mail servers Postfix, Exim and Dovecot.
//!
//! [`require_tool`] is the one place that decides what a missing tool means: with `CI=true` it
//! fails the test, otherwise it writes `skipped: <test>: <reason>` to stderr, past libtest's
//! output capture, and the test returns. The rest runs processes, parses danekit's JSON back
//! into structs, makes temporary directories, gives each external server an address and ports
//! of its own ([`LoopbackSlot`], [`start_server`]), fetches the chains a server presents with
//! `openssl s_client` per key type, and stops servers by process group. Nothing here talks to
//! any address outside 127.0.0.0/8.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// Directories searched after `PATH`: Debian puts Postfix's commands in `/usr/sbin`, and a
/// non-root `PATH` often lacks it.
const EXTRA_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/lib/postfix/sbin"];

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Fails the test in CI, else reports the skip and returns `false` for the caller to return
/// early.
fn unavailable(reason: &str) -> bool {
    assert!(
        !in_ci(),
        "{reason}; CI=true requires it (see .ci/run, which installs the interop packages)"
    );
    print_skip(reason);
    false
}

/// Writes `skipped: <test>: <reason>` straight to the process's stderr. libtest captures only
/// what the `print!`/`eprint!` macros write, so a line written through the `std::io::stderr()`
/// handle shows in a plain `cargo test` run (checked with Rust 1.95), where an `eprintln!`
/// would be swallowed and the skipped test would read as a plain `ok`. `<test>` is the name
/// libtest gives the test's thread.
pub fn print_skip(reason: &str) {
    let current = thread::current();
    let test = current
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("interop test");
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "skipped: {test}: {reason}");
    let _ = err.flush();
}

/// Finds `bin` (a name looked up in `PATH` and the sbin directories, or an absolute path).
/// When it is missing: with `CI=true` the test fails; otherwise it prints
/// `skipped: <test>: <bin> not installed (apt-get install <package>)` and returns `None`.
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

/// The Python interpreter that can `import module`: `$DANEKIT_PYTHON` (set by .ci/run to the
/// interpreter of the environment it installs Python packages into), else `python3`. When it
/// cannot: with `CI=true` the test fails; otherwise it prints `skipped: <test>: …` and returns
/// `None`; `how` says what installs the module.
pub fn require_python_module(module: &str, how: &str) -> Option<String> {
    let python = std::env::var("DANEKIT_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Some(python);
    }
    unavailable(&format!("{python} cannot import {module} ({how})"));
    None
}

/// True when the test runs as root. Otherwise fails in CI, or prints `skipped: <test>: …` and
/// returns `false`.
pub fn require_root(why: &str) -> bool {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    root || unavailable(&format!("not running as root, which {why} needs"))
}

/// True when the system account `user` exists (`id -u USER`). Otherwise fails in CI, or prints
/// `skipped: <test>: …` and returns `false`; `how` says what creates it.
pub fn require_user(user: &str, how: &str) -> bool {
    let exists = Command::new("id")
        .args(["-u", user])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    exists || unavailable(&format!("the system user {user} does not exist ({how})"))
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
    /// `"ecdsa"`, `"rsa"` or `"ed25519"`: the key type of the handshake that fetched the chain
    /// (`--server`). `None` when the field is absent or null.
    #[serde(default)]
    pub key_type: Option<String>,
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

/// Waits until 127.0.0.1:`port` accepts a TCP connection, for at most `limit`.
pub fn wait_for_port(port: u16, limit: Duration) -> bool {
    wait_for_listener(Ipv4Addr::LOCALHOST, port, limit)
}

/// Waits until `addr`:`port` accepts a TCP connection, for at most `limit`.
pub fn wait_for_listener(addr: Ipv4Addr, port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&(addr, port).into(), Duration::from_secs(1)).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(50));
    }
    false
}

/// The first port of the range [`LoopbackSlot`] takes its ports from. The range lies below
/// Linux's default ephemeral range (32768–60999), so no outgoing connection of this machine is
/// given one of these ports by the kernel.
const SLOT_PORT_BASE: u16 = 20_000;
/// How many ports the range has.
const SLOT_PORT_SPAN: u16 = 12_000;

static NEXT_SLOT: AtomicU32 = AtomicU32::new(0);

/// Where an external server is told to listen: an address of 127.0.0.0/8 of its own and a run
/// of ports on it, plus a token for its greeting.
///
/// Nothing is bound here and then released for a server to bind later (the bind-release-rebind
/// race, where another process can take the port in between). The address is derived from the
/// process id and a per-process counter, so two tests, or two test processes, ask their servers
/// for different addresses; the ports lie outside the ephemeral range. What remains possible
/// (a listener on the wildcard address and the same port, or two processes whose ids map to
/// the same address) makes the server fail to bind and exit, and [`start_server`] then tries
/// again with another slot. The greeting token lets a test prove that a listener that answers
/// is the server it started, not somebody else's.
#[derive(Debug, Clone)]
pub struct LoopbackSlot {
    pub addr: Ipv4Addr,
    pub ports: Vec<u16>,
    /// A word unique to this slot, for the server's greeting or host name.
    pub token: String,
}

/// The `server`, `log` and `database` sections of a test knotd's configuration: everything under
/// `root`, listening on the slot's address and first port, one worker of each kind. `log_level`
/// is Knot's (`notice`, `info`); `kasp` names the key database's directory under `root`.
pub fn knot_conf_head(root: &Path, slot: &LoopbackSlot, log_level: &str, kasp: &str) -> String {
    let root = root.display();
    format!(
        "server:\n\
         \x20   rundir: \"{root}\"\n\
         \x20   pidfile: \"{root}/knot.pid\"\n\
         \x20   listen: {addr}@{port}\n\
         \x20   udp-workers: 1\n\
         \x20   tcp-workers: 1\n\
         \x20   background-workers: 1\n\
         log:\n\
         \x20 - target: stderr\n\
         \x20   any: {log_level}\n\
         database:\n\
         \x20   storage: \"{root}\"\n\
         \x20   journal-db: \"{root}/journal\"\n\
         \x20   kasp-db: \"{root}/{kasp}\"\n\
         \x20   timer-db: \"{root}/timers\"\n",
        addr = slot.addr,
        port = slot.ports[0],
    )
}

impl LoopbackSlot {
    /// A slot with `count` ports; `attempt` (0, 1, …) moves both address and ports.
    pub fn new(count: u16, attempt: u32) -> LoopbackSlot {
        assert!(count > 0 && count < 100, "a slot has 1 to 99 ports");
        let pid = u64::from(std::process::id());
        let serial = u64::from(NEXT_SLOT.fetch_add(1, Ordering::Relaxed));
        // 127.A.B.C with A in 1..=254, B in 0..=255, C in 2..=254: never 127.0.0.x, where
        // other software listens, nor a .0, .1 or .255 host byte.
        const SPACE: u64 = 254 * 256 * 253;
        let index = (pid * 64 + serial % 64 + u64::from(attempt) * 7_919) % SPACE;
        let a = 1 + index / (256 * 253);
        let b = (index / 253) % 256;
        let c = 2 + index % 253;
        let addr = Ipv4Addr::new(127, a as u8, b as u8, c as u8);
        let span = u64::from(SLOT_PORT_SPAN - count);
        let first = u64::from(SLOT_PORT_BASE)
            + (pid * 131 + serial * 977 + u64::from(attempt) * 4_447) % span;
        let first = first as u16;
        LoopbackSlot {
            addr,
            ports: (first..first + count).collect(),
            token: format!("danekit-{pid}-{serial}-{attempt}"),
        }
    }

    /// `ADDR:PORT` of the `i`-th port.
    pub fn socket(&self, i: usize) -> String {
        format!("{}:{}", self.addr, self.ports[i])
    }
}

/// How many slots [`start_server`] tries before it gives up.
const START_ATTEMPTS: u32 = 4;

/// Starts a server with `start` on a fresh [`LoopbackSlot`] of `ports` ports, and again on
/// another slot when `start` fails (the server exited, or its listener did not prove to be
/// ours), up to four times. Panics with every attempt's error when none succeeds.
pub fn start_server<S>(
    what: &str,
    ports: u16,
    mut start: impl FnMut(&LoopbackSlot) -> Result<S, String>,
) -> S {
    let mut errors = Vec::new();
    for attempt in 0..START_ATTEMPTS {
        let slot = LoopbackSlot::new(ports, attempt);
        match start(&slot) {
            Ok(server) => return server,
            Err(e) => errors.push(format!(
                "attempt {} on {} ports {:?}:\n{e}",
                attempt + 1,
                slot.addr,
                slot.ports
            )),
        }
    }
    panic!(
        "{what} did not start in {START_ATTEMPTS} attempts:\n\n{}",
        errors.join("\n\n")
    );
}

/// Waits until `addr`:`port` greets with a first line that contains `token`, the proof that
/// the listener is the server the test started. `exited` is asked between tries and says why
/// the server is gone, which ends the wait at once. Gives up after `limit`; a connection that
/// is accepted but stays silent is given ten seconds to greet.
pub fn wait_for_greeting(
    addr: Ipv4Addr,
    port: u16,
    token: &str,
    limit: Duration,
    mut exited: impl FnMut() -> Option<String>,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut last = String::from("no connection accepted");
    loop {
        if let Some(why) = exited() {
            return Err(format!(
                "the server exited ({why}) before {addr}:{port} greeted"
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{addr}:{port} gave no greeting with {token:?} within {limit:?}: {last}"
            ));
        }
        match TcpStream::connect_timeout(&(addr, port).into(), Duration::from_secs(1)) {
            Ok(stream) => match read_first_line(stream) {
                Ok(line) if line.contains(token) => return Ok(()),
                Ok(line) => {
                    return Err(format!(
                        "{addr}:{port} is not our server: it greets with {line:?}, without \
                         {token:?}"
                    ));
                }
                Err(e) => last = format!("greeting: {e}"),
            },
            Err(e) => last = format!("connect: {e}"),
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The first line a server sends, read within ten seconds.
fn read_first_line(mut stream: TcpStream) -> std::io::Result<String> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 1000 {
        match stream.read(&mut byte)? {
            0 => break,
            _ if byte[0] == b'\n' => break,
            _ => line.push(byte[0]),
        }
    }
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}

/// The key types `danekit tlsa --key-type` knows, in the order its records come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ecdsa,
    Rsa,
    Ed25519,
}

impl KeyType {
    pub const ALL: [KeyType; 3] = [KeyType::Ecdsa, KeyType::Rsa, KeyType::Ed25519];

    /// The name in `--key-type` and in the JSON `key_type` field.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ecdsa => "ecdsa",
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
        }
    }

    /// `openssl s_client -sigalgs` offering only this key type's signature schemes (RFC 8446
    /// §4.2.3; the `RSA+` PKCS#1 entries are the TLS 1.2 ones). A server then has to present
    /// a certificate of this type, or fail the handshake.
    pub fn openssl_sigalgs(self) -> &'static str {
        match self {
            KeyType::Ecdsa => "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512",
            KeyType::Rsa => {
                "RSA-PSS+SHA256:RSA-PSS+SHA384:RSA-PSS+SHA512:RSA+SHA256:RSA+SHA384:RSA+SHA512"
            }
            KeyType::Ed25519 => "ed25519",
        }
    }
}

/// How `openssl s_client` reaches a server.
#[derive(Debug, Clone)]
pub struct TlsTarget {
    pub addr: Ipv4Addr,
    pub port: u16,
    /// `smtp`, `imap`, `pop3`, or `none` for implicit TLS.
    pub starttls: &'static str,
}

impl TlsTarget {
    /// `ADDR:PORT` for `--server` and `-connect`.
    pub fn socket(&self) -> String {
        format!("{}:{}", self.addr, self.port)
    }
}

/// The chain the server at `target` presents to `openssl s_client` that sends `servername` as
/// SNI (none when `None`) and offers only `key_type`'s signature schemes: the PEM blocks that
/// `-showcerts` prints, leaf first. `Err` when the handshake fails, with openssl's output.
/// `timeout 30` bounds a server that never answers.
pub fn openssl_presented_chain(
    openssl: &Path,
    target: &TlsTarget,
    servername: Option<&str>,
    key_type: KeyType,
) -> Result<Vec<String>, String> {
    let connect = target.socket();
    let mut args: Vec<&str> = vec!["30", path_text(openssl), "s_client", "-connect", &connect];
    if target.starttls != "none" {
        args.extend(["-starttls", target.starttls]);
    }
    match servername {
        Some(name) => args.extend(["-servername", name]),
        None => args.push("-noservername"),
    }
    args.extend(["-sigalgs", key_type.openssl_sigalgs(), "-showcerts"]);
    let line = describe("timeout", &args);
    let out = run("timeout", &args, None);
    let text = String::from_utf8_lossy(&out.stdout);
    let chain = pem_blocks(&text);
    if !out.status.success() || chain.is_empty() {
        return Err(format!(
            "`{line}` gave no chain ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(chain)
}

fn path_text(p: &Path) -> &str {
    p.to_str().expect("tool paths are UTF-8")
}

/// The `CERTIFICATE` blocks of PEM text, in order, each with its armour and a final newline.
pub fn pem_blocks(text: &str) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(end) = rest[start..].find(END) else {
            break;
        };
        let stop = start + end + END.len();
        blocks.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    blocks
}

/// A record as `danekit tlsa -o json` should print it, in the fields a comparison uses:
/// `(owner, key_type, usage, selector, matching type, depth, data)`.
pub type KeyedRecord = (Option<String>, Option<String>, u8, u8, u8, usize, String);

/// The fields of danekit's records that a comparison with a server's chains uses.
pub fn keyed_records(records: &[JsonRecord]) -> Vec<KeyedRecord> {
    records
        .iter()
        .map(|r| {
            (
                r.owner.clone(),
                r.key_type.clone(),
                r.usage,
                r.selector,
                r.matching_type,
                r.depth,
                normalise_hex(&r.data),
            )
        })
        .collect()
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

/// An address of 127.0.0.0/8 put on the loopback interface (`ip addr add ADDR/32 dev lo`) and
/// taken off again when dropped.
///
/// Most servers can bind any address of 127.0.0.0/8, since Linux routes the whole block to
/// `lo`. BIND's `named` cannot: it listens only on the addresses that its interface scan finds,
/// and `lo` has only 127.0.0.1, so a `listen-on { 127.A.B.C; }` of a [`LoopbackSlot`] would
/// bind nothing. BIND's own system tests put their 10.53.0.x addresses on an interface for the
/// same reason. Needs root. An address that is already there (another process uses it) is an
/// `Err`, so that [`start_server`] moves to another slot, and is never removed by this type.
pub struct LoopbackAlias {
    ip: PathBuf,
    addr: Ipv4Addr,
}

impl LoopbackAlias {
    /// Adds `addr`/32 to `lo` with the `ip` binary at `ip` (iproute2).
    pub fn add(ip: &Path, addr: Ipv4Addr) -> Result<LoopbackAlias, String> {
        let cidr = format!("{addr}/32");
        let args = ["addr", "add", cidr.as_str(), "dev", "lo"];
        let out = run(ip, &args, None);
        if out.status.success() {
            Ok(LoopbackAlias {
                ip: ip.to_path_buf(),
                addr,
            })
        } else {
            Err(format!(
                "`{}` failed with {}: {}",
                describe(ip, &args),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
}

impl Drop for LoopbackAlias {
    fn drop(&mut self) {
        let cidr = format!("{}/32", self.addr);
        let _ = Command::new(&self.ip)
            .args(["addr", "del", cidr.as_str(), "dev", "lo"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// DNS query types used by the tests.
pub const QTYPE_SOA: u16 = 6;
pub const QTYPE_TXT: u16 = 16;

/// One DNS query over TCP (RFC 1035 §4.2.2: a two-byte length before each message) for
/// `name` (a domain name, with or without the final dot) and `qtype`, class IN, without
/// recursion; returns the response message. Every step waits at most `limit`. Written with
/// `std` alone, so that a readiness check depends on no DNS tool.
pub fn dns_query_tcp(
    addr: Ipv4Addr,
    port: u16,
    name: &str,
    qtype: u16,
    limit: Duration,
) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind};
    const ID: [u8; 2] = [0x5a, 0x17];
    // Header: ID, flags 0 (a query, RD clear), QDCOUNT 1, then AN/NS/ARCOUNT 0.
    let mut msg = vec![ID[0], ID[1], 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..64).contains(l))
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, format!("bad label in {name}")))?;
        msg.push(len);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.push(0);
    msg.extend_from_slice(&qtype.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes());
    let mut stream = TcpStream::connect_timeout(&(addr, port).into(), limit)?;
    stream.set_read_timeout(Some(limit))?;
    stream.set_write_timeout(Some(limit))?;
    let len = u16::try_from(msg.len()).map_err(|e| Error::new(ErrorKind::InvalidInput, e))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(&msg);
    stream.write_all(&framed)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut response = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut response)?;
    if response.len() < 12 || response[..2] != ID || response[2] & 0x80 == 0 {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("not a response to the query: {}", hex(&response)),
        ));
    }
    Ok(response)
}

/// Waits until the DNS server at `addr`:`port` answers a TCP query for the TXT record `name`
/// with NOERROR and an answer that holds `token`: the proof that the server has loaded its zone
/// and is the one the test started. `exited` is asked between tries and says why the server is
/// gone, which ends the wait at once. A server that answers without the token is somebody
/// else's, and ends the wait too. Gives up after `limit`.
pub fn wait_for_dns_token(
    addr: Ipv4Addr,
    port: u16,
    name: &str,
    token: &str,
    limit: Duration,
    mut exited: impl FnMut() -> Option<String>,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut last = String::from("no connection accepted");
    loop {
        if let Some(why) = exited() {
            return Err(format!(
                "the server exited ({why}) before {addr}:{port} answered"
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{addr}:{port} gave no TXT {name} with {token:?} within {limit:?}: {last}"
            ));
        }
        match dns_query_tcp(addr, port, name, QTYPE_TXT, Duration::from_secs(2)) {
            Ok(response) => {
                let rcode = response[3] & 0x0f;
                let answers = u16::from_be_bytes([response[6], response[7]]);
                let has_token = response.windows(token.len()).any(|w| w == token.as_bytes());
                match (rcode, answers, has_token) {
                    (0, 1.., true) => return Ok(()),
                    (0, 1.., false) => {
                        return Err(format!(
                            "{addr}:{port} is not our server: its TXT {name} lacks {token:?}"
                        ));
                    }
                    // SERVFAIL or REFUSED while the zone is still loading.
                    _ => last = format!("RCODE {rcode}, {answers} answers"),
                }
            }
            Err(e) => last = format!("query: {e}"),
        }
        thread::sleep(Duration::from_millis(50));
    }
}
