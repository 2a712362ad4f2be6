//! Interoperability of `danekit zone` with real authoritative servers: BIND's `named` and Knot's
//! `knotd`, each started by the test from a temporary directory with only its own
//! configuration (never `/etc/bind` or `/etc/knot`), on an address of 127.0.0.0/8 of its own
//! ([`LoopbackSlot`]), UDP and TCP on one port, and stopped by process group when the test ends.
//!
//! Each server holds the zone `example.test.` ([`initial_zone`]), updatable with two TSIG keys
//! (`danekit-key.`, hmac-sha256, and `danekit-key512.`, hmac-sha512); a third key,
//! `refused-key.`, is known to the server but may not update. The zone has records that every
//! update must leave alone (a TLSA of another host, a TLSA of a port the services file does not
//! name, a TXT at a managed owner) and stale TLSA records at managed owners that every update
//! must replace. After each step the whole zone is read back with a TCP AXFR (`dig` for named,
//! `kdig` for knotd) and compared, record by record, with what it must hold.
//!
//! The tests:
//!
//! - the harness itself, with BIND's `nsupdate` alone: each server takes an update signed with
//!   either key, and answers a wrong secret, an unknown key, a key without the right to update
//!   and a zone it does not serve with the RCODE and TSIG error asserted here, which are the
//!   words `danekit zone --apply` must report;
//! - `-o nsupdate`, run by `nsupdate -k KEYFILE` against named;
//! - `-o knotc`, run by `sh` against knotd (a `knotc` wrapper first on `PATH` adds `-s SOCKET`),
//!   and the same script stopping with `zone-abort` when a call fails;
//! - `--apply` against each server with each key (the hmac-sha256 secret file in BIND's
//!   `key {}` syntax, the hmac-sha512 one as the bare base64 secret): the managed RRsets are
//!   replaced and nothing else changes, the SOA serial grows; the same file again changes
//!   nothing, not even the serial; a new certificate replaces the old record;
//! - `--apply` refused (wrong secret, unknown key, key without update rights, zone not served,
//!   and a clock a day behind under `faketime`): exit 1, the server's RCODE and TSIG error
//!   named, the zone unchanged, the secret never printed; and with no server at the address,
//!   exit 3;
//! - TSIG secrets whose base64 holds `//`, in a BIND `key {}` clause and bare;
//! - `--diff-live --resolver` against named, and `--diff ZONEFILE`, before and after a change.
//!
//! named listens only on addresses its interface scan finds, so the named tests put their
//! slot's address on `lo` for the test's length ([`LoopbackAlias`]), which needs root, as the
//! `.ci/run` tests run. With `CI=true` a missing tool (or root, for named) fails the test;
//! without it the test prints `skipped: …`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fmt;
use std::fmt::Write as _;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde::Deserialize;
use support::interop::{
    JsonRecord, LoopbackAlias, LoopbackSlot, ProcessGroup, TempDir, danekit_bin, describe,
    knot_conf_head, normalise_hex, pki, require_root, require_tool, run, run_with_env,
    start_server, try_danekit_tlsa_json, wait_for_dns_token,
};

/// The zone every server holds.
const ZONE: &str = "example.test.";
/// The TXT record whose answer holds the slot's token: the readiness check.
const READY: &str = "ready.example.test.";
/// How long a server may take to start and answer.
const START_LIMIT: Duration = Duration::from_secs(30);
/// `--timeout` for every danekit run that talks to a server.
const TIMEOUT: &str = "5s";
/// The serial of the initial zone.
const INITIAL_SERIAL: u32 = 1;

/// Association data (32 bytes, as SHA2-256 has) of the records in the initial zone that are
/// not danekit's: each byte is `byte`.
fn filler(byte: u8) -> String {
    format!("{byte:02x}").repeat(32)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("paths are UTF-8")
}

fn write_file(path: &Path, contents: impl AsRef<[u8]>, mode: u32) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("({}: {e})", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Records and zones

/// One resource record as a master-file line has it: owner in lower case with the final dot,
/// TTL, type, and the RDATA with single spaces (TLSA data as lower-case hex without spaces).
/// Class IN throughout.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Rr {
    owner: String,
    ttl: u32,
    rtype: String,
    rdata: String,
}

impl Rr {
    fn new(owner: &str, ttl: u32, rtype: &str, rdata: &str) -> Rr {
        let fields: Vec<&str> = rdata.split_whitespace().collect();
        let rdata = if rtype.eq_ignore_ascii_case("TLSA") && fields.len() >= 4 {
            format!(
                "{} {} {} {}",
                fields[0],
                fields[1],
                fields[2],
                normalise_hex(&fields[3..].join(""))
            )
        } else {
            fields.join(" ")
        };
        Rr {
            owner: owner.to_ascii_lowercase(),
            ttl,
            rtype: rtype.to_ascii_uppercase(),
            rdata,
        }
    }

    fn tlsa(owner: &str, ttl: u32, usage: u8, selector: u8, matching: u8, data: &str) -> Rr {
        Rr::new(
            owner,
            ttl,
            "TLSA",
            &format!("{usage} {selector} {matching} {data}"),
        )
    }
}

impl fmt::Display for Rr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} IN {} {}",
            self.owner, self.ttl, self.rtype, self.rdata
        )
    }
}

fn rr_lines(records: &BTreeSet<Rr>) -> String {
    records.iter().fold(String::new(), |mut s, r| {
        let _ = writeln!(s, "  {r}");
        s
    })
}

/// The records of master-file text with one record per line and every field present (what
/// `dig`/`kdig +noall +answer` and danekit print): `OWNER TTL IN TYPE RDATA…`. Lines that are
/// empty or start with `;` are skipped; any other line that does not parse is an `Err`.
fn parse_master(text: &str) -> Result<Vec<Rr>, String> {
    let mut records = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(owner), Some(ttl), Some(class), Some(rtype)) = (
            fields.first(),
            fields.get(1).and_then(|t| t.parse::<u32>().ok()),
            fields.get(2),
            fields.get(3),
        ) else {
            return Err(format!("not a record line: {line:?}"));
        };
        if *class != "IN" || !owner.ends_with('.') {
            return Err(format!("not a fully qualified IN record: {line:?}"));
        }
        records.push(Rr::new(owner, ttl, rtype, &fields[4..].join(" ")));
    }
    Ok(records)
}

/// A zone as a server serves it: the SOA serial and every other record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ZoneDump {
    serial: u32,
    records: BTreeSet<Rr>,
}

/// Splits an AXFR's records into the SOA serial and the rest. The SOA opens and closes an
/// AXFR (RFC 5936 §2.2); both copies must agree.
fn zone_dump(records: Vec<Rr>) -> Result<ZoneDump, String> {
    let mut serials = BTreeSet::new();
    let mut rest = BTreeSet::new();
    for r in records {
        if r.rtype == "SOA" {
            let serial = r
                .rdata
                .split(' ')
                .nth(2)
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or_else(|| format!("SOA without a serial: {r}"))?;
            serials.insert(serial);
        } else {
            rest.insert(r);
        }
    }
    match serials.into_iter().collect::<Vec<_>>()[..] {
        [serial] => Ok(ZoneDump {
            serial,
            records: rest,
        }),
        ref other => Err(format!("the transfer has SOA serials {other:?}")),
    }
}

/// The zone every server starts with, apart from its SOA (serial [`INITIAL_SERIAL`]): the
/// records an update must leave alone, and the stale TLSA records at `_25._tcp.mail` and
/// `_993._tcp.imap` that an update must replace. `token` goes into the TXT at [`READY`].
fn initial_zone(token: &str) -> BTreeSet<Rr> {
    [
        Rr::new(ZONE, 3600, "NS", "ns1.example.test."),
        Rr::new("ns1.example.test.", 3600, "A", "192.0.2.53"),
        Rr::new("mail.example.test.", 3600, "A", "192.0.2.25"),
        Rr::new(READY, 3600, "TXT", &format!("\"{token}\"")),
        Rr::new(
            "note.example.test.",
            3600,
            "TXT",
            "\"unmanaged: must survive every update\"",
        ),
        // Unmanaged: another host, another port of a managed host, another type at a managed
        // owner.
        Rr::tlsa("_25._tcp.other.example.test.", 3600, 3, 1, 1, &filler(0xa1)),
        Rr::tlsa("_587._tcp.mail.example.test.", 3600, 3, 1, 1, &filler(0x58)),
        Rr::new(
            "_25._tcp.mail.example.test.",
            3600,
            "TXT",
            "\"same owner, other type\"",
        ),
        // Stale: replaced by every update of a file that manages these owners.
        Rr::tlsa("_25._tcp.mail.example.test.", 3600, 3, 1, 1, &filler(0x5e)),
        Rr::tlsa("_993._tcp.imap.example.test.", 600, 3, 1, 1, &filler(0x99)),
    ]
    .into_iter()
    .collect()
}

fn soa_rdata(serial: u32) -> String {
    format!("ns1.example.test. hostmaster.example.test. {serial} 3600 900 604800 300")
}

/// The master file of [`initial_zone`] with its SOA.
fn initial_zone_file(token: &str) -> String {
    let mut text = format!("{ZONE} 3600 IN SOA {}\n", soa_rdata(INITIAL_SERIAL));
    for r in initial_zone(token) {
        let _ = writeln!(text, "{r}");
    }
    text
}

/// What a zone must hold after an update of the RRsets at `managed` owners to `published`:
/// every TLSA at a managed owner is gone, every other record stays, and the published records
/// are there.
fn after_update(
    before: &BTreeSet<Rr>,
    managed: &BTreeSet<String>,
    published: &BTreeSet<Rr>,
) -> BTreeSet<Rr> {
    before
        .iter()
        .filter(|r| !(r.rtype == "TLSA" && managed.contains(&r.owner)))
        .chain(published)
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------------
// TSIG keys

/// As many random bytes as `algorithm`'s output: 32 for hmac-sha256, 64 for hmac-sha512.
fn random_bytes(algorithm: &str) -> Vec<u8> {
    let len = if algorithm == "hmac-sha512" { 64 } else { 32 };
    let mut bytes = vec![0u8; len];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("reading /dev/urandom");
    bytes
}

/// A TSIG key (RFC 8945).
#[derive(Debug, Clone)]
struct TsigKey {
    name: String,
    algorithm: &'static str,
    /// Base64, as BIND and Knot write it.
    secret: String,
}

impl TsigKey {
    /// A key with a fresh random secret as long as the algorithm's output (RFC 8945 §6),
    /// whose base64 form has no `//`: about one random secret in a hundred has one, and
    /// [`TsigKey::with_slashes`] makes such secrets on purpose, for a test of their own.
    fn random(name: &str, algorithm: &'static str) -> TsigKey {
        loop {
            let key = TsigKey::from_bytes(name, algorithm, random_bytes(algorithm));
            if !key.secret.contains("//") {
                return key;
            }
        }
    }

    /// A random key whose base64 secret holds `//` in its middle (bytes 15 and 16 set so that
    /// base64 characters 20 and 21 are `/`, the digit 63). `//` starts a comment in BIND's
    /// configuration syntax, but not inside a quoted string, and a bare base64 secret has no
    /// comments at all.
    fn with_slashes(name: &str, algorithm: &'static str) -> TsigKey {
        let mut bytes = random_bytes(algorithm);
        bytes[15] = 0xff;
        bytes[16] |= 0xf0;
        let key = TsigKey::from_bytes(name, algorithm, bytes);
        assert_eq!(&key.secret[20..22], "//", "{key:?}");
        key
    }

    fn from_bytes(name: &str, algorithm: &'static str, bytes: Vec<u8>) -> TsigKey {
        TsigKey {
            name: name.to_string(),
            algorithm,
            secret: data_encoding::BASE64.encode(&bytes),
        }
    }

    /// The same name and algorithm with other secret bytes.
    fn with_other_secret(&self) -> TsigKey {
        let mut other = TsigKey::random(&self.name, self.algorithm);
        while other.secret == self.secret {
            other = TsigKey::random(&self.name, self.algorithm);
        }
        other
    }

    /// BIND's `key` clause, as `tsig-keygen` writes it: for `named.conf`, `nsupdate -k` and
    /// danekit's `secret_file`.
    fn bind_clause(&self) -> String {
        format!(
            "key \"{}\" {{\n\talgorithm {};\n\tsecret \"{}\";\n}};\n",
            self.name, self.algorithm, self.secret
        )
    }

    /// Writes the `key` clause to `dir/FILE` (mode 0600) and returns its path.
    fn write_clause(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        write_file(&path, self.bind_clause(), 0o600);
        path
    }

    /// Writes the bare base64 secret and a newline to `dir/FILE` (mode 0600).
    fn write_bare(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        write_file(&path, format!("{}\n", self.secret), 0o600);
        path
    }
}

/// The keys a server knows.
#[derive(Debug, Clone)]
struct ServerKeys {
    /// `danekit-key.`, hmac-sha256, may update.
    sha256: TsigKey,
    /// `danekit-key512.`, hmac-sha512, may update.
    sha512: TsigKey,
    /// `refused-key.`, hmac-sha256, known but without the right to update.
    refused: TsigKey,
}

impl ServerKeys {
    /// Keys with secrets that hold `//`.
    fn with_slashes() -> ServerKeys {
        ServerKeys {
            sha256: TsigKey::with_slashes("danekit-key.", "hmac-sha256"),
            sha512: TsigKey::with_slashes("danekit-key512.", "hmac-sha512"),
            refused: TsigKey::with_slashes("refused-key.", "hmac-sha256"),
        }
    }

    fn random() -> ServerKeys {
        ServerKeys {
            sha256: TsigKey::random("danekit-key.", "hmac-sha256"),
            sha512: TsigKey::random("danekit-key512.", "hmac-sha512"),
            refused: TsigKey::random("refused-key.", "hmac-sha256"),
        }
    }

    fn secrets(&self) -> [&str; 3] {
        [
            &self.sha256.secret,
            &self.sha512.secret,
            &self.refused.secret,
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// The servers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Named,
    Knot,
}

impl Flavour {
    fn name(self) -> &'static str {
        match self {
            Flavour::Named => "named",
            Flavour::Knot => "knotd",
        }
    }
}

/// The binaries a server test needs, found with [`require_tool`].
struct Tools {
    flavour: Flavour,
    /// `named` or `knotd`.
    daemon: PathBuf,
    /// `dig` for named, `kdig` for knotd: reads the zone back.
    query: PathBuf,
    /// `ip`, for the loopback address named needs ([`LoopbackAlias`]).
    ip: Option<PathBuf>,
    /// `knotc`, for knotd.
    knotc: Option<PathBuf>,
}

impl Tools {
    /// The tools for `flavour`, or `None` (skip) when one is missing, or for named when the
    /// test is not root.
    fn find(flavour: Flavour) -> Option<Tools> {
        let tools = match flavour {
            Flavour::Named => Tools {
                flavour,
                daemon: require_tool("named", "bind9")?,
                query: require_tool("dig", "bind9-dnsutils")?,
                ip: Some(require_tool("ip", "iproute2")?),
                knotc: None,
            },
            Flavour::Knot => Tools {
                flavour,
                daemon: require_tool("knotd", "knot")?,
                query: require_tool("kdig", "knot-dnsutils")?,
                ip: None,
                knotc: Some(require_tool("knotc", "knot")?),
            },
        };
        // named needs its address on lo (LoopbackAlias); knotd runs as any user.
        match flavour {
            Flavour::Named => require_root("adding named's address to lo").then_some(tools),
            Flavour::Knot => Some(tools),
        }
    }
}

/// A running `named` or `knotd` serving [`initial_zone`] on its own slot.
struct DnsServer {
    // Fields drop in this order: the server stops before its address leaves lo and before its
    // directory is removed.
    _process: ProcessGroup,
    _alias: Option<LoopbackAlias>,
    dir: TempDir,
    flavour: Flavour,
    slot: LoopbackSlot,
    query: PathBuf,
}

impl DnsServer {
    fn start(tools: &Tools, keys: &ServerKeys) -> DnsServer {
        let what = format!("{} for {ZONE}", tools.flavour.name());
        start_server(&what, 1, |slot| DnsServer::start_on(tools, keys, slot))
    }

    fn start_on(tools: &Tools, keys: &ServerKeys, slot: &LoopbackSlot) -> Result<Self, String> {
        let dir = TempDir::new(tools.flavour.name());
        let root = dir.path();
        let zone_file = root.join("example.test.zone");
        write_file(&zone_file, initial_zone_file(&slot.token), 0o644);
        let (config, mut cmd) = match tools.flavour {
            Flavour::Named => {
                let config = root.join("named.conf");
                write_file(&config, named_conf(root, slot, keys, &zone_file), 0o644);
                // An empty trust-anchor file, so that named does not read /etc/bind/bind.keys.
                write_file(&root.join("bind.keys"), "", 0o644);
                let mut cmd = Command::new(&tools.daemon);
                cmd.arg("-g").arg("-c").arg(&config);
                (config, cmd)
            }
            Flavour::Knot => {
                let config = root.join("knot.conf");
                write_file(&config, knot_conf(root, slot, keys, &zone_file), 0o644);
                let mut cmd = Command::new(&tools.daemon);
                cmd.arg("-c").arg(&config);
                (config, cmd)
            }
        };
        let alias = match &tools.ip {
            Some(ip) => Some(LoopbackAlias::add(ip, slot.addr)?),
            None => None,
        };
        let log = root.join("server.log");
        let out = std::fs::File::create(&log).expect("server.log");
        cmd.current_dir(root)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out);
        let mut process = ProcessGroup::spawn(cmd)
            .map_err(|e| format!("cannot start {}: {e}", tools.daemon.display()))?;
        let ready = wait_for_dns_token(
            slot.addr,
            slot.ports[0],
            READY,
            &slot.token,
            START_LIMIT,
            || process.try_wait().map(|s| s.to_string()),
        );
        match ready {
            Ok(()) => Ok(DnsServer {
                _process: process,
                _alias: alias,
                dir,
                flavour: tools.flavour,
                slot: slot.clone(),
                query: tools.query.clone(),
            }),
            Err(e) => {
                drop(process);
                Err(format!(
                    "{e}\n--- {}:\n{}\n--- log:\n{}",
                    config.display(),
                    read_text(&config),
                    read_text(&log)
                ))
            }
        }
    }

    fn addr(&self) -> String {
        self.slot.addr.to_string()
    }

    fn port(&self) -> u16 {
        self.slot.ports[0]
    }

    /// `ADDR:PORT`, for `update.server` and `--resolver`.
    fn socket(&self) -> String {
        self.slot.socket(0)
    }

    /// knotd's control socket, for `knotc -s`.
    fn control_socket(&self) -> PathBuf {
        self.dir.path().join("knot.sock")
    }

    /// The server's log so far, for failure messages.
    fn logs(&self) -> String {
        format!(
            "--- {} log ({}):\n{}",
            self.flavour.name(),
            self.dir.path().join("server.log").display(),
            read_text(&self.dir.path().join("server.log"))
        )
    }

    /// The zone as the server serves it now: an AXFR over TCP with `dig` (named) or `kdig`
    /// (knotd).
    fn zone(&self) -> ZoneDump {
        let port = self.port().to_string();
        let at = format!("@{}", self.addr());
        let args: Vec<&str> = match self.flavour {
            Flavour::Named => vec![
                "+tcp", "+noall", "+answer", "+time=5", "+tries=1", "-p", &port, &at, ZONE, "AXFR",
            ],
            Flavour::Knot => vec![
                "+tcp",
                "+noall",
                "+answer",
                "+timeout=5",
                "+retry=0",
                "-p",
                &port,
                &at,
                ZONE,
                "AXFR",
            ],
        };
        let line = describe(&self.query, &args);
        let out = run(&self.query, &args, None);
        let text = String::from_utf8_lossy(&out.stdout);
        parse_master(&text)
            .and_then(zone_dump)
            .and_then(|d| {
                if out.status.success() {
                    Ok(d)
                } else {
                    Err(format!("exit status {}", out.status))
                }
            })
            .unwrap_or_else(|e| {
                panic!(
                    "`{line}`: {e}\nstdout:\n{text}\nstderr:\n{}\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    self.logs()
                )
            })
    }

    /// Panics, with the server's log, unless the zone holds exactly `records` with `serial`
    /// decided by `serial_ok`.
    fn assert_zone(
        &self,
        step: &str,
        records: &BTreeSet<Rr>,
        serial_ok: impl Fn(u32) -> bool,
        serial_rule: &str,
    ) -> ZoneDump {
        let now = self.zone();
        let missing: BTreeSet<Rr> = records.difference(&now.records).cloned().collect();
        let extra: BTreeSet<Rr> = now.records.difference(records).cloned().collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{step}: {} serves other records than expected.\nmissing:\n{}unexpected:\n{}\
             served:\n{}{}",
            self.flavour.name(),
            rr_lines(&missing),
            rr_lines(&extra),
            rr_lines(&now.records),
            self.logs()
        );
        assert!(
            serial_ok(now.serial),
            "{step}: the SOA serial is {}, expected {serial_rule}\n{}",
            now.serial,
            self.logs()
        );
        now
    }
}

/// named.conf: only this directory, the slot's address and port, no recursion, no control
/// channel, the three keys, and `example.test` as a primary zone that the two update keys may
/// update (`refused-key.` is known but not allowed), with its journal here.
fn named_conf(root: &Path, slot: &LoopbackSlot, keys: &ServerKeys, zone_file: &Path) -> String {
    let root = root.display();
    let mut conf = format!(
        "options {{\n\
         \tdirectory \"{root}\";\n\
         \tpid-file \"{root}/named.pid\";\n\
         \tsession-keyfile none;\n\
         \tmanaged-keys-directory \"{root}\";\n\
         \tbindkeys-file \"{root}/bind.keys\";\n\
         \tgeoip-directory none;\n\
         \tlisten-on port {port} {{ {addr}; }};\n\
         \tlisten-on-v6 {{ none; }};\n\
         \trecursion no;\n\
         \tdnssec-validation no;\n\
         \tallow-transfer {{ 127.0.0.0/8; }};\n\
         \tnotify no;\n\
         }};\n\
         controls {{ }};\n",
        addr = slot.addr,
        port = slot.ports[0],
    );
    for key in [&keys.sha256, &keys.sha512, &keys.refused] {
        conf.push_str(&key.bind_clause());
    }
    let _ = write!(
        conf,
        "zone \"example.test\" {{\n\
         \ttype primary;\n\
         \tfile \"{file}\";\n\
         \tjournal \"{file}.jnl\";\n\
         \tallow-update {{ key \"{k256}\"; key \"{k512}\"; }};\n\
         }};\n",
        file = zone_file.display(),
        k256 = keys.sha256.name,
        k512 = keys.sha512.name,
    );
    conf
}

/// knot.conf: only this directory (rundir, storage, journal, control socket), the slot's
/// address and port, log to stderr, the three keys, an ACL that lets the two update keys
/// update, and AXFR for loopback clients.
fn knot_conf(root: &Path, slot: &LoopbackSlot, keys: &ServerKeys, zone_file: &Path) -> String {
    let mut conf = knot_conf_head(root, slot, "info", "keys");
    let root = root.display();
    let _ = write!(
        conf,
        "control:\n\
         \x20   listen: \"{root}/knot.sock\"\n\
         key:\n",
    );
    for key in [&keys.sha256, &keys.sha512, &keys.refused] {
        let _ = write!(
            conf,
            "  - id: {}\n    algorithm: {}\n    secret: {}\n",
            key.name, key.algorithm, key.secret
        );
    }
    let _ = write!(
        conf,
        "acl:\n\
         \x20 - id: update\n\
         \x20   key: [{k256}, {k512}]\n\
         \x20   action: update\n\
         \x20 - id: transfer\n\
         \x20   address: 127.0.0.0/8\n\
         \x20   action: transfer\n\
         zone:\n\
         \x20 - domain: {ZONE}\n\
         \x20   storage: \"{root}\"\n\
         \x20   file: \"{file}\"\n\
         \x20   acl: [update, transfer]\n",
        k256 = keys.sha256.name,
        k512 = keys.sha512.name,
        file = zone_file.display(),
    );
    conf
}

// ---------------------------------------------------------------------------------------------
// Services files

/// One entry of `services:`.
#[derive(Debug, Clone)]
struct Service {
    /// The host as the file writes it: relative to `zone`, or with a final dot.
    host: String,
    ports: Vec<u16>,
    proto: Option<&'static str>,
    /// `cert:` as the file writes it, and the file it names.
    cert: (String, PathBuf),
    next: Option<(String, PathBuf)>,
    records: Option<Vec<&'static str>>,
    ttl: Option<u32>,
}

impl Service {
    fn new(host: &str, ports: &[u16], cert: &Path) -> Service {
        Service {
            host: host.to_string(),
            ports: ports.to_vec(),
            proto: None,
            cert: (path_str(cert).to_string(), cert.to_path_buf()),
            next: None,
            records: None,
            ttl: None,
        }
    }

    /// The fully qualified host name.
    fn fqdn(&self) -> String {
        if self.host.ends_with('.') {
            self.host.to_ascii_lowercase()
        } else {
            format!("{}.{ZONE}", self.host.to_ascii_lowercase())
        }
    }

    fn owner(&self, port: u16) -> String {
        format!("_{port}._{}.{}", self.proto.unwrap_or("tcp"), self.fqdn())
    }
}

/// `update:` of a services file.
#[derive(Debug, Clone)]
struct Update {
    server: String,
    key: TsigKey,
    secret_file: PathBuf,
}

/// A services file for `danekit zone`.
#[derive(Debug, Clone)]
struct ServicesFile {
    zone: String,
    ttl: u32,
    records: Vec<&'static str>,
    update: Option<Update>,
    services: Vec<Service>,
}

fn yaml_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
    format!("[{}]", quoted.join(", "))
}

impl ServicesFile {
    fn render(&self) -> String {
        let mut y = format!(
            "zone: {}\nttl: {}\nrecords: {}\n",
            self.zone,
            self.ttl,
            yaml_list(&self.records)
        );
        if let Some(u) = &self.update {
            let _ = write!(
                y,
                "update:\n  server: \"{}\"\n  tsig: {{ name: {}, algorithm: {}, secret_file: \"{}\" }}\n",
                u.server,
                u.key.name,
                u.key.algorithm,
                u.secret_file.display()
            );
        }
        y.push_str("services:\n");
        for s in &self.services {
            let ports: Vec<String> = s.ports.iter().map(u16::to_string).collect();
            let _ = write!(
                y,
                "  - host: {}\n    ports: [{}]\n    cert: \"{}\"\n",
                s.host,
                ports.join(", "),
                s.cert.0
            );
            if let Some(proto) = s.proto {
                let _ = writeln!(y, "    proto: {proto}");
            }
            if let Some((next, _)) = &s.next {
                let _ = writeln!(y, "    next: \"{next}\"");
            }
            if let Some(records) = &s.records {
                let _ = writeln!(y, "    records: {}", yaml_list(records));
            }
            if let Some(ttl) = s.ttl {
                let _ = writeln!(y, "    ttl: {ttl}");
            }
        }
        y
    }

    /// Writes the file to `path` and returns the path.
    fn write(&self, path: &Path) -> PathBuf {
        write_file(path, self.render(), 0o644);
        path.to_path_buf()
    }

    /// The owners whose TLSA RRsets the file manages.
    fn managed(&self) -> BTreeSet<String> {
        self.services
            .iter()
            .flat_map(|s| s.ports.iter().map(|&p| s.owner(p)))
            .collect()
    }

    /// The records the file publishes, each computed by `danekit tlsa -o json` (a command
    /// whose values the other interop tests compare with OpenSSL, ldns-dane and danetool).
    fn published(&self) -> BTreeSet<Rr> {
        let mut set = BTreeSet::new();
        for s in &self.services {
            let records = s.records.as_ref().unwrap_or(&self.records).join(",");
            let ttl = s.ttl.unwrap_or(self.ttl).to_string();
            let host = s.fqdn();
            let host = host.trim_end_matches('.');
            for port in &s.ports {
                let port = port.to_string();
                let mut args: Vec<&str> = vec![path_str(&s.cert.1)];
                if let Some((_, next)) = &s.next {
                    args.push(path_str(next));
                }
                args.extend([
                    "--records",
                    &records,
                    "--host",
                    host,
                    "--port",
                    &port,
                    "--proto",
                    s.proto.unwrap_or("tcp"),
                    "--ttl",
                    &ttl,
                    "-q",
                ]);
                let report = try_danekit_tlsa_json(&args).unwrap_or_else(|e| panic!("{e}"));
                set.extend(report.records.iter().map(rr_of_json));
            }
        }
        set
    }
}

fn rr_of_json(r: &JsonRecord) -> Rr {
    let owner = r
        .owner
        .as_deref()
        .expect("danekit tlsa --host gives an owner");
    Rr::tlsa(owner, r.ttl, r.usage, r.selector, r.matching_type, &r.data)
}

/// The services file most tests apply: two ports of `mail` (relative to the zone) with the
/// default parameter sets `3 1 1` and `2 1 1` (the issuer record is one record for both
/// ports' leaves, deduplicated), and `imap` (fully qualified) with its own TTL, `3 1 1` only,
/// and a next key published beside the current one.
fn services(update: Option<Update>) -> ServicesFile {
    let mail = Service::new("mail", &[25, 465], &pki("leaf-p256.fullchain.pem"));
    let mut imap = Service::new("imap.example.test.", &[993], &pki("leaf-rsa2048.chain.pem"));
    let next = pki("leaf-p384.pub.pem");
    imap.next = Some((path_str(&next).to_string(), next));
    imap.records = Some(vec!["3 1 1"]);
    imap.ttl = Some(300);
    imap.proto = Some("tcp");
    ServicesFile {
        zone: ZONE.to_string(),
        ttl: 3600,
        records: vec!["3 1 1", "2 1 1"],
        update,
        services: vec![mail, imap],
    }
}

/// `update:` for `server` with `key`, its secret file written into `dir`: BIND's `key {}`
/// clause for hmac-sha256, the bare base64 secret for hmac-sha512, so that both forms of
/// `secret_file` are used.
fn update_for(server: &DnsServer, key: &TsigKey, dir: &Path) -> Update {
    let file = format!("{}.secret", key.name.trim_end_matches('.'));
    let secret_file = if key.algorithm == "hmac-sha512" {
        key.write_bare(dir, &file)
    } else {
        key.write_clause(dir, &file)
    };
    Update {
        server: server.socket(),
        key: key.clone(),
        secret_file,
    }
}

// ---------------------------------------------------------------------------------------------
// Running danekit

/// One danekit run: the command line, for messages, and its output.
struct Run {
    line: String,
    out: Output,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.out.status.code()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    fn describe(&self) -> String {
        format!(
            "`{}` exited with {}\nstdout:\n{}\nstderr:\n{}",
            self.line,
            self.out.status,
            self.stdout(),
            self.stderr()
        )
    }

    /// Panics unless the exit code is `code`, with danekit's output and `logs`.
    fn expect_code(&self, code: i32, logs: &str) -> &Run {
        assert_eq!(
            self.code(),
            Some(code),
            "expected exit {code}: {}\n{logs}",
            self.describe()
        );
        self
    }

    /// Panics if stdout or stderr holds any of `secrets`.
    fn expect_no_secret(&self, secrets: &[&str]) -> &Run {
        for secret in secrets {
            assert!(
                !self.stdout().contains(secret) && !self.stderr().contains(secret),
                "danekit printed a TSIG secret: {}",
                self.describe()
            );
        }
        self
    }
}

/// `danekit zone FILE ARGS…`.
fn danekit_zone(file: &Path, args: &[&str]) -> Run {
    danekit_zone_skewed(None, file, args)
}

/// `danekit zone FILE ARGS…`, run by `faketime -f -1d` when `faketime` is given: a clock a day
/// behind, for a TSIG time outside every server's fudge (RFC 8945 §5.2.3).
fn danekit_zone_skewed(faketime: Option<&Path>, file: &Path, args: &[&str]) -> Run {
    let mut all: Vec<&OsStr> = vec![OsStr::new("zone"), file.as_os_str()];
    all.extend(args.iter().map(OsStr::new));
    match faketime {
        None => Run {
            line: describe(danekit_bin(), &all),
            out: run(danekit_bin(), &all, None),
        },
        Some(faketime) => {
            let mut skewed: Vec<&OsStr> = vec![
                OsStr::new("-f"),
                OsStr::new("-1d"),
                OsStr::new(danekit_bin()),
            ];
            skewed.extend(all);
            Run {
                line: describe(faketime, &skewed),
                out: run(faketime, &skewed, None),
            }
        }
    }
}

/// `danekit zone FILE --apply --timeout 5s`, checked never to print a secret of `keys`.
fn apply(file: &Path, keys: &ServerKeys) -> Run {
    let run = danekit_zone(file, &["--apply", "--timeout", TIMEOUT]);
    run.expect_no_secret(&keys.secrets());
    run
}

/// The report of `danekit zone … -o json`, in the fields these tests read.
#[derive(Debug, Deserialize)]
struct ZoneReport {
    schema_version: u32,
    verdict: String,
    #[serde(default)]
    diff: Option<ZoneDiff>,
    #[serde(default)]
    error: Option<ErrorReport>,
    #[serde(default)]
    apply: Option<ApplyReport>,
}

/// `apply` of the JSON document: the server's answer in words.
#[derive(Debug, Deserialize)]
struct ApplyReport {
    server: String,
    owners: Vec<String>,
    rcode: String,
    tsig_error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ZoneDiff {
    add: Vec<DiffRecord>,
    remove: Vec<DiffRecord>,
}

#[derive(Debug, Deserialize)]
struct DiffRecord {
    owner: String,
    ttl: u32,
    usage: u8,
    selector: u8,
    matching_type: u8,
    data: String,
}

#[derive(Debug, Deserialize)]
struct ErrorReport {
    kind: String,
    message: String,
}

fn diff_set(records: &[DiffRecord]) -> BTreeSet<Rr> {
    records
        .iter()
        .map(|r| {
            Rr::tlsa(
                &r.owner,
                r.ttl,
                r.usage,
                r.selector,
                r.matching_type,
                &r.data,
            )
        })
        .collect()
}

fn parse_report(run: &Run) -> ZoneReport {
    let report: ZoneReport = serde_json::from_str(&run.stdout()).unwrap_or_else(|e| {
        panic!(
            "danekit printed JSON that does not parse: {e}\n{}",
            run.describe()
        )
    });
    assert_eq!(report.schema_version, 1, "{}", run.describe());
    report
}

// ---------------------------------------------------------------------------------------------
// The harness alone, with BIND's nsupdate

/// The RCODE and TSIG error in `nsupdate -d`'s print of the server's reply: the `status:` of
/// the reply header and the error field of its TSIG pseudo-section (`NOERROR` when it has
/// none).
fn nsupdate_reply(debug: &str) -> (String, String) {
    let reply = debug
        .split("Reply from update query:")
        .nth(1)
        .unwrap_or_default();
    let status = reply
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("(no reply)")
        .to_string();
    // `NAME 0 ANY TSIG ALG TIME FUDGE MACSIZE [MAC] ID ERROR OTHERLEN`: the error is the
    // second-to-last field.
    let tsig_error = reply
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some("TSIG"))
        .and_then(|l| l.split_whitespace().rev().nth(1))
        .unwrap_or("NOERROR")
        .to_string();
    (status, tsig_error)
}

/// Sends one update that replaces `_25._tcp.mail` with one record, signed with `key`, for the
/// zone `zone`, with `nsupdate -d -k`; returns the reply's RCODE and TSIG error.
fn nsupdate_once(
    nsupdate: &Path,
    server: &DnsServer,
    dir: &Path,
    key: &TsigKey,
    zone: &str,
    data: &str,
) -> (String, String) {
    let key_file = key.write_clause(dir, "nsupdate.key");
    let script = format!(
        "server {} {}\nzone {zone}\nupdate delete _25._tcp.mail.{zone} TLSA\n\
         update add _25._tcp.mail.{zone} 3600 IN TLSA 3 1 1 {data}\nsend\n",
        server.addr(),
        server.port()
    );
    let args = [
        OsStr::new("-d"),
        OsStr::new("-t"),
        OsStr::new("5"),
        OsStr::new("-k"),
        key_file.as_os_str(),
    ];
    let out = run(nsupdate, &args, Some(script.as_bytes()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    nsupdate_reply(&text)
}

/// The harness alone: `nsupdate` (BIND's client, for both servers) updates the zone with
/// either key, and each refusal comes back with the RCODE and TSIG error that `--apply` must
/// report. Both servers answer a TSIG failure as RFC 8945 §5.2 says: RCODE NOTAUTH, the TSIG
/// error BADSIG (wrong secret) or BADKEY (unknown key), and no MAC.
fn harness_self_test(flavour: Flavour) {
    let Some(tools) = Tools::find(flavour) else {
        return;
    };
    let Some(nsupdate) = require_tool("nsupdate", "bind9-dnsutils") else {
        return;
    };
    let keys = ServerKeys::random();
    let server = DnsServer::start(&tools, &keys);
    let work = TempDir::new("zone-harness");
    let initial = initial_zone(&server.slot.token);
    server.assert_zone("as started", &initial, |s| s == INITIAL_SERIAL, "1");

    let mut before = initial.clone();
    let mut serial = INITIAL_SERIAL;
    for (i, key) in [&keys.sha256, &keys.sha512].into_iter().enumerate() {
        let data = format!("{:02x}", 0xc0 + i).repeat(32);
        let reply = nsupdate_once(&nsupdate, &server, work.path(), key, ZONE, &data);
        assert_eq!(
            reply,
            ("NOERROR".to_string(), "NOERROR".to_string()),
            "update with {} ({})\n{}",
            key.name,
            key.algorithm,
            server.logs()
        );
        let owner = "_25._tcp.mail.example.test.";
        let managed = BTreeSet::from([owner.to_string()]);
        let published = BTreeSet::from([Rr::tlsa(owner, 3600, 3, 1, 1, &data)]);
        let after = after_update(&before, &managed, &published);
        let now = server.assert_zone(
            &format!("after nsupdate with {}", key.name),
            &after,
            |s| s > serial,
            "greater than before",
        );
        before = after;
        serial = now.serial;
    }

    let data = "ff".repeat(32);
    let unknown = TsigKey::random("nobody-key.", "hmac-sha256");
    let other_zone = TempDir::new("zone-harness-other");
    for (what, key, zone, expected) in [
        (
            "a wrong secret",
            keys.sha256.with_other_secret(),
            ZONE,
            ("NOTAUTH", "BADSIG"),
        ),
        (
            "a wrong hmac-sha512 secret",
            keys.sha512.with_other_secret(),
            ZONE,
            ("NOTAUTH", "BADSIG"),
        ),
        ("an unknown key", unknown, ZONE, ("NOTAUTH", "BADKEY")),
        (
            "a key without the right to update",
            keys.refused.clone(),
            ZONE,
            refused_key_reply(flavour),
        ),
        (
            "a zone the server does not serve",
            keys.sha256.clone(),
            "other.test.",
            ("NOTAUTH", "NOERROR"),
        ),
    ] {
        let reply = nsupdate_once(&nsupdate, &server, other_zone.path(), &key, zone, &data);
        assert_eq!(
            (reply.0.as_str(), reply.1.as_str()),
            expected,
            "{} answers an update with {what} with RCODE {} and TSIG error {}\n{}",
            flavour.name(),
            reply.0,
            reply.1,
            server.logs()
        );
        server.assert_zone(
            &format!("after an update with {what}"),
            &before,
            |s| s == serial,
            "unchanged",
        );
    }
}

/// What each server answers a correctly signed update from a key that the zone's policy does
/// not allow to update: BIND refuses it (REFUSED); Knot's ACL denies it as if the key were
/// unknown (NOTAUTH, TSIG error BADKEY).
fn refused_key_reply(flavour: Flavour) -> (&'static str, &'static str) {
    match flavour {
        Flavour::Named => ("REFUSED", "NOERROR"),
        Flavour::Knot => ("NOTAUTH", "BADKEY"),
    }
}

#[test]
fn named_harness_takes_nsupdate_and_reports_tsig_errors() {
    harness_self_test(Flavour::Named);
}

#[test]
fn knotd_harness_takes_nsupdate_and_reports_tsig_errors() {
    harness_self_test(Flavour::Knot);
}

// ---------------------------------------------------------------------------------------------
// danekit zone -o nsupdate and -o knotc

/// `danekit zone -o nsupdate` is a whole script: `server ADDR PORT` and `zone ZONE` from the
/// file, for each managed owner `update delete OWNER TLSA` before its `update add` lines, then
/// `send`. Run by BIND's own `nsupdate -k KEYFILE` against named, it leaves the zone with
/// exactly the managed RRsets replaced: the stale records gone, every other record as it was,
/// and a greater serial.
#[test]
fn nsupdate_script_from_danekit_updates_named() {
    let Some(tools) = Tools::find(Flavour::Named) else {
        return;
    };
    let Some(nsupdate) = require_tool("nsupdate", "bind9-dnsutils") else {
        return;
    };
    let keys = ServerKeys::random();
    let server = DnsServer::start(&tools, &keys);
    let work = TempDir::new("zone-nsupdate");
    let spec = services(Some(update_for(&server, &keys.sha256, work.path())));
    let file = spec.write(&work.path().join("services.yaml"));
    let made = danekit_zone(&file, &["-o", "nsupdate"]);
    made.expect_code(0, "").expect_no_secret(&keys.secrets());
    let script = made.stdout();

    // The script's shape, line by line.
    let published = spec.published();
    let managed = spec.managed();
    let script_lines: Vec<&str> = script.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(script_lines.len() >= 3, "{}", made.describe());
    let head = format!("server {} {}", server.addr(), server.port());
    assert_eq!(
        script_lines.first().copied(),
        Some(head.as_str()),
        "{}",
        made.describe()
    );
    assert_eq!(
        script_lines.get(1).copied(),
        Some("zone example.test."),
        "{}",
        made.describe()
    );
    assert_eq!(
        script_lines.last().copied(),
        Some("send"),
        "{}",
        made.describe()
    );
    let mut deleted = BTreeSet::new();
    let mut added = BTreeSet::new();
    for line in &script_lines[2..script_lines.len() - 1] {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            ["update", "delete", owner, "TLSA"] => {
                assert!(
                    deleted.insert(owner.to_string()),
                    "{owner} deleted twice:\n{script}"
                );
            }
            ["update", "add", owner, ..] => {
                assert!(
                    deleted.contains(owner),
                    "{owner} is added before its RRset is deleted:\n{script}"
                );
                let rr = parse_master(&fields[2..].join(" "))
                    .unwrap_or_else(|e| panic!("{e}:\n{script}"));
                added.extend(rr);
            }
            _ => panic!("unexpected line {line:?} in the script:\n{script}"),
        }
    }
    assert_eq!(deleted, managed, "owners deleted by the script:\n{script}");
    assert_eq!(
        added,
        published,
        "records added by the script:\n{script}\nexpected:\n{}",
        rr_lines(&published)
    );

    // The script, run by nsupdate.
    let key_file = keys.sha256.write_clause(work.path(), "nsupdate.key");
    let script_file = work.path().join("update.txt");
    write_file(&script_file, &script, 0o644);
    let args = [
        OsStr::new("-t"),
        OsStr::new("5"),
        OsStr::new("-k"),
        key_file.as_os_str(),
        script_file.as_os_str(),
    ];
    let out = run(&nsupdate, &args, None);
    assert!(
        out.status.success(),
        "`{}` failed with {}:\n{}{}\nscript:\n{script}\n{}",
        describe(&nsupdate, &args),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
    let initial = initial_zone(&server.slot.token);
    server.assert_zone(
        "after nsupdate ran danekit's script",
        &after_update(&initial, &managed, &published),
        |s| s > INITIAL_SERIAL,
        "greater than 1",
    );
}

/// A directory with a `knotc` that runs the real one with `-s SOCKET`, logs each call's
/// arguments to `calls.log`, and fails (exit 1, without running knotc) for the command named
/// by `DANEKIT_TEST_FAIL`.
fn knotc_wrapper(dir: &Path, knotc: &Path, socket: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).expect("bin directory");
    let script = format!(
        "#!/bin/sh\n\
         echo \"$*\" >> '{log}'\n\
         if [ -n \"$DANEKIT_TEST_FAIL\" ] && [ \"$1\" = \"$DANEKIT_TEST_FAIL\" ]; then\n\
         \techo \"wrapper: $1 fails for the test\" >&2\n\
         \texit 1\n\
         fi\n\
         exec '{knotc}' -s '{socket}' \"$@\"\n",
        log = dir.join("calls.log").display(),
        knotc = knotc.display(),
        socket = socket.display(),
    );
    write_file(&bin.join("knotc"), script, 0o755);
    bin
}

/// Runs `sh SCRIPT` with `bin` first on `PATH` and `DANEKIT_TEST_FAIL=fail`.
fn run_knotc_script(script: &Path, bin: &Path, fail: &str) -> Output {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&path)),
    )
    .expect("PATH");
    run_with_env(
        "sh",
        &[script.as_os_str()],
        None,
        &[
            ("PATH", path.as_os_str()),
            ("DANEKIT_TEST_FAIL", OsStr::new(fail)),
        ],
    )
}

/// `danekit zone -o knotc` is a `sh` script of `knotc` calls. Run against knotd (through a
/// wrapper that adds `-s SOCKET`), it leaves the zone with exactly the managed RRsets replaced,
/// including owners that did not exist before (`_465._tcp.mail`, where `knotc zone-unset`
/// fails with "no such node"), and a greater serial. When a call inside the transaction fails,
/// the script runs `zone-abort`, commits nothing and exits non-zero, and the zone is as it was.
#[test]
fn knotc_script_from_danekit_updates_knotd() {
    let Some(tools) = Tools::find(Flavour::Knot) else {
        return;
    };
    let knotc = tools.knotc.clone().expect("knotc");
    let keys = ServerKeys::random();
    let server = DnsServer::start(&tools, &keys);
    let work = TempDir::new("zone-knotc");
    let spec = services(None);
    let file = spec.write(&work.path().join("services.yaml"));
    let run = danekit_zone(&file, &["-o", "knotc"]);
    run.expect_code(0, "");
    let script = work.path().join("update.sh");
    write_file(&script, run.stdout(), 0o644);
    let bin = knotc_wrapper(work.path(), &knotc, &server.control_socket());
    let calls = work.path().join("calls.log");
    let initial = initial_zone(&server.slot.token);

    // A call that fails inside the transaction: zone-abort, nothing committed.
    let out = run_knotc_script(&script, &bin, "zone-set");
    let logged = read_text(&calls);
    assert!(
        !out.status.success(),
        "the script exited 0 though a zone-set failed; calls:\n{logged}"
    );
    let called: Vec<&str> = logged
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        called.first().copied(),
        Some("zone-begin"),
        "calls:\n{logged}"
    );
    assert_eq!(
        called.last().copied(),
        Some("zone-abort"),
        "a failed call must end in zone-abort; calls:\n{logged}\nscript:\n{}",
        run.stdout()
    );
    assert!(
        !called.contains(&"zone-commit")
            && called.iter().filter(|c| **c == "zone-set").count() == 1,
        "the script went on after the failed zone-set; calls:\n{logged}"
    );
    server.assert_zone(
        "after the aborted script",
        &initial,
        |s| s == INITIAL_SERIAL,
        "1",
    );
    std::fs::remove_file(&calls).expect("calls.log");

    // The script as it is.
    let out = run_knotc_script(&script, &bin, "");
    assert!(
        out.status.success(),
        "`sh {}` failed with {}:\n{}{}\ncalls:\n{}\nscript:\n{}\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        read_text(&calls),
        run.stdout(),
        server.logs()
    );
    server.assert_zone(
        "after sh ran danekit's knotc script",
        &after_update(&initial, &spec.managed(), &spec.published()),
        |s| s > INITIAL_SERIAL,
        "greater than 1",
    );
}

// ---------------------------------------------------------------------------------------------
// danekit zone --apply

/// `--apply` with `key` against a fresh server of `flavour`:
///
/// 1. the managed RRsets are replaced, nothing else changes, and the serial grows;
/// 2. the same file again, with `-o json`: exit 0, `"verdict": "ok"`, `apply` with the server,
///    the managed owners and `NOERROR`; the same zone, and the same serial (neither server
///    bumps the serial for an update that changes nothing);
/// 3. `cert:` of `mail` points to another chain: its `3 1 1` records change, its issuer
///    record (the same intermediate CA) stays, nothing else changes, and the serial grows.
fn apply_scenario(flavour: Flavour, which: fn(&ServerKeys) -> &TsigKey) {
    let Some(tools) = Tools::find(flavour) else {
        return;
    };
    let keys = ServerKeys::random();
    let key = which(&keys).clone();
    let server = DnsServer::start(&tools, &keys);
    let work = TempDir::new("zone-apply");
    let initial = initial_zone(&server.slot.token);
    let start = server.assert_zone("as started", &initial, |s| s == INITIAL_SERIAL, "1");

    let mut spec = services(Some(update_for(&server, &key, work.path())));
    let file = spec.write(&work.path().join("services.yaml"));
    let managed = spec.managed();
    let expected = after_update(&initial, &managed, &spec.published());
    apply(&file, &keys).expect_code(0, &server.logs());
    let first = server.assert_zone(
        &format!("after --apply with {}", key.algorithm),
        &expected,
        |s| s > start.serial,
        &format!("greater than {}", start.serial),
    );

    let again = danekit_zone(&file, &["--apply", "--timeout", TIMEOUT, "-o", "json"]);
    again
        .expect_code(0, &server.logs())
        .expect_no_secret(&keys.secrets());
    let report = parse_report(&again);
    let applied = report
        .apply
        .unwrap_or_else(|| panic!("no `apply` object: {}", again.describe()));
    assert_eq!(report.verdict, "ok", "{}", again.describe());
    assert_eq!(
        (
            applied.server.as_str(),
            applied.rcode.as_str(),
            applied.tsig_error.as_deref()
        ),
        (server.socket().as_str(), "NOERROR", None),
        "{}",
        again.describe()
    );
    assert_eq!(
        applied.owners.iter().cloned().collect::<BTreeSet<_>>(),
        managed,
        "{}",
        again.describe()
    );
    let second = server.assert_zone(
        "after the same --apply again",
        &expected,
        |s| s == first.serial,
        &format!("{} (unchanged)", first.serial),
    );

    spec.services[0].cert = {
        let cert = pki("leaf-ed25519.fullchain.pem");
        (path_str(&cert).to_string(), cert)
    };
    spec.write(&file);
    let renewed = spec.published();
    let expected_renewed = after_update(&initial, &managed, &renewed);
    // The change is the `3 1 1` record of both mail ports, and only that.
    let gone: BTreeSet<Rr> = expected.difference(&expected_renewed).cloned().collect();
    let new: BTreeSet<Rr> = expected_renewed.difference(&expected).cloned().collect();
    assert_eq!(
        (gone.len(), new.len()),
        (2, 2),
        "gone:\n{}new:\n{}",
        rr_lines(&gone),
        rr_lines(&new)
    );
    apply(&file, &keys).expect_code(0, &server.logs());
    server.assert_zone(
        "after --apply with a new certificate",
        &expected_renewed,
        |s| s > second.serial,
        &format!("greater than {}", second.serial),
    );
}

#[test]
fn apply_to_named_with_hmac_sha256() {
    apply_scenario(Flavour::Named, |k| &k.sha256);
}

#[test]
fn apply_to_named_with_hmac_sha512() {
    apply_scenario(Flavour::Named, |k| &k.sha512);
}

#[test]
fn apply_to_knotd_with_hmac_sha256() {
    apply_scenario(Flavour::Knot, |k| &k.sha256);
}

#[test]
fn apply_to_knotd_with_hmac_sha512() {
    apply_scenario(Flavour::Knot, |k| &k.sha512);
}

/// TSIG secrets whose base64 holds `//` (about one random secret in a hundred): read whole from
/// BIND's `key {}` clause (hmac-sha256, where `//` inside the quoted secret is no comment) and
/// from a bare secret file (hmac-sha512). BIND's own `nsupdate -k` takes the same clause
/// first, so the file is known to be good. Each `--apply` must then update named.
#[test]
fn apply_with_secrets_that_hold_slashes() {
    let Some(tools) = Tools::find(Flavour::Named) else {
        return;
    };
    let Some(nsupdate) = require_tool("nsupdate", "bind9-dnsutils") else {
        return;
    };
    let keys = ServerKeys::with_slashes();
    let server = DnsServer::start(&tools, &keys);
    let work = TempDir::new("zone-slashes");
    let initial = initial_zone(&server.slot.token);
    let data = filler(0x77);
    let reply = nsupdate_once(&nsupdate, &server, work.path(), &keys.sha256, ZONE, &data);
    assert_eq!(
        (reply.0.as_str(), reply.1.as_str()),
        ("NOERROR", "NOERROR"),
        "nsupdate -k with a secret that holds //\n{}",
        server.logs()
    );
    let owner = "_25._tcp.mail.example.test.";
    let mut before = after_update(
        &initial,
        &BTreeSet::from([owner.to_string()]),
        &BTreeSet::from([Rr::tlsa(owner, 3600, 3, 1, 1, &data)]),
    );
    let mut serial = server
        .assert_zone("after nsupdate", &before, |s| s > INITIAL_SERIAL, "> 1")
        .serial;
    for (key, mail_cert) in [
        (&keys.sha256, "leaf-p256.fullchain.pem"),
        (&keys.sha512, "leaf-ed25519.fullchain.pem"),
    ] {
        let mut spec = services(Some(update_for(&server, key, work.path())));
        let cert = pki(mail_cert);
        spec.services[0].cert = (path_str(&cert).to_string(), cert);
        let file = spec.write(&work.path().join("services.yaml"));
        apply(&file, &keys).expect_code(0, &server.logs());
        let after = after_update(&before, &spec.managed(), &spec.published());
        serial = server
            .assert_zone(
                &format!(
                    "after --apply with the {} secret {}",
                    key.algorithm, key.secret
                ),
                &after,
                |s| s > serial,
                &format!("greater than {serial}"),
            )
            .serial;
        before = after;
    }
}

/// `--apply` that the server refuses (a wrong secret, an unknown key, a key without the right
/// to update, a zone it does not serve, and, under `faketime`, a clock a day behind): exit 1,
/// the RCODE and TSIG error that the server sent (the first four as [`harness_self_test`]
/// sees them with `nsupdate`) named in the text output and given exactly in JSON (`"verdict":
/// "fail"`, `apply.rcode`, `apply.tsig_error`), the zone unchanged, and no secret printed.
fn refusal_scenario(flavour: Flavour) {
    /// What is wrong, the key, the zone, `faketime` for a skewed clock, the RCODE and the TSIG
    /// error.
    type Refusal<'a> = (
        &'a str,
        &'a TsigKey,
        &'a str,
        Option<PathBuf>,
        &'a str,
        Option<&'a str>,
    );
    let Some(tools) = Tools::find(flavour) else {
        return;
    };
    let keys = ServerKeys::random();
    let server = DnsServer::start(&tools, &keys);
    let work = TempDir::new("zone-refused");
    let initial = initial_zone(&server.slot.token);
    server.assert_zone("as started", &initial, |s| s == INITIAL_SERIAL, "1");

    let wrong = keys.sha256.with_other_secret();
    let unknown = TsigKey::random("nobody-key.", "hmac-sha256");
    let tsig = |error: &'static str| (error != "NOERROR").then_some(error);
    let (refused_rcode, refused_tsig) = refused_key_reply(flavour);
    // (what, key, zone, a skewed clock, RCODE, TSIG error): the last is what the servers
    // answer nsupdate too (see harness_self_test).
    let mut cases: Vec<Refusal> = vec![
        (
            "a wrong secret",
            &wrong,
            ZONE,
            None,
            "NOTAUTH",
            Some("BADSIG"),
        ),
        (
            "an unknown key",
            &unknown,
            ZONE,
            None,
            "NOTAUTH",
            Some("BADKEY"),
        ),
        (
            "a key without the right to update",
            &keys.refused,
            ZONE,
            None,
            refused_rcode,
            tsig(refused_tsig),
        ),
        (
            "a zone the server does not serve",
            &keys.sha256,
            "other.test.",
            None,
            "NOTAUTH",
            None,
        ),
    ];
    // A clock a day behind: BADTIME, in a response the server signs (RFC 8945 §5.2.3).
    if let Some(faketime) = require_tool("faketime", "faketime") {
        cases.push((
            "a clock a day behind",
            &keys.sha256,
            ZONE,
            Some(faketime),
            "NOTAUTH",
            Some("BADTIME"),
        ));
    }
    let secrets = [&keys.secrets()[..], &[&wrong.secret, &unknown.secret]].concat();
    for (what, key, zone, faketime, rcode, tsig_error) in cases {
        let mut spec = services(Some(update_for(&server, key, work.path())));
        spec.zone = zone.to_string();
        for s in &mut spec.services {
            if s.host.ends_with('.') {
                s.host = format!("imap.{zone}");
            }
        }
        let file = spec.write(&work.path().join("services.yaml"));

        // Text: the RCODE and the TSIG error in words.
        let faketime = faketime.as_deref();
        let text = danekit_zone_skewed(faketime, &file, &["--apply", "--timeout", TIMEOUT]);
        text.expect_code(1, &server.logs())
            .expect_no_secret(&secrets);
        let said = format!("{}{}", text.stdout(), text.stderr());
        for word in std::iter::once(rcode).chain(tsig_error) {
            assert!(
                said.contains(word),
                "{} answered an update with {what} with {rcode}{}: danekit must name {word}:\n{}",
                flavour.name(),
                tsig_error.map(|t| format!("/{t}")).unwrap_or_default(),
                text.describe()
            );
        }

        // JSON: `"verdict": "fail"` and `apply.rcode`, `apply.tsig_error` exactly.
        let json = danekit_zone_skewed(
            faketime,
            &file,
            &["--apply", "--timeout", TIMEOUT, "-o", "json"],
        );
        json.expect_code(1, &server.logs())
            .expect_no_secret(&secrets);
        let report = parse_report(&json);
        assert_eq!(report.verdict, "fail", "{}", json.describe());
        let applied = report
            .apply
            .unwrap_or_else(|| panic!("no `apply` object: {}", json.describe()));
        assert_eq!(
            (applied.rcode.as_str(), applied.tsig_error.as_deref()),
            (rcode, tsig_error),
            "{} answered an update with {what}: {}",
            flavour.name(),
            json.describe()
        );

        server.assert_zone(
            &format!("after --apply with {what}"),
            &initial,
            |s| s == INITIAL_SERIAL,
            "1 (unchanged)",
        );
    }
}

#[test]
fn apply_refused_by_named_names_the_error_and_changes_nothing() {
    refusal_scenario(Flavour::Named);
}

#[test]
fn apply_refused_by_knotd_names_the_error_and_changes_nothing() {
    refusal_scenario(Flavour::Knot);
}

/// `--apply` to an address where nothing listens (a fresh slot, no server): exit 3, a network
/// error, within the timeout; with `-o json`, one document with `"verdict": "error"` and
/// `"kind": "network"`.
#[test]
fn apply_without_a_server_exits_3() {
    let work = TempDir::new("zone-noserver");
    let slot = LoopbackSlot::new(1, 0);
    let key = TsigKey::random("danekit-key.", "hmac-sha256");
    let update = Update {
        server: slot.socket(0),
        key: key.clone(),
        secret_file: key.write_clause(work.path(), "danekit-key.secret"),
    };
    let file = services(Some(update)).write(&work.path().join("services.yaml"));
    let started = std::time::Instant::now();
    let run = danekit_zone(&file, &["--apply", "--timeout", "2s"]);
    run.expect_code(3, "").expect_no_secret(&[&key.secret]);
    let json = danekit_zone(&file, &["--apply", "--timeout", "2s", "-o", "json"]);
    json.expect_code(3, "").expect_no_secret(&[&key.secret]);
    let report = parse_report(&json);
    assert_eq!(report.verdict, "error", "{}", json.describe());
    let error = report
        .error
        .unwrap_or_else(|| panic!("no error: {}", json.describe()));
    assert_eq!(error.kind, "network", "{}", json.describe());
    assert!(!error.message.is_empty(), "{}", json.describe());
    // Two runs, each bounded by its 2 s timeout (UDP and a TCP fallback may each take it).
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "two runs took {:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// danekit zone --diff-live and --diff

/// `--diff-live --resolver ADDR:PORT` against named after an `--apply`: exit 0, `"verdict":
/// "ok"`, an empty diff. After `cert:` points to another chain (not applied): exit 1,
/// `"differs"`, and the diff holds exactly the new record to add and the old one to remove.
/// `--diff ZONEFILE` against the zone named serves (from an AXFR) says the same.
#[test]
fn diff_live_against_named() {
    let Some(tools) = Tools::find(Flavour::Named) else {
        return;
    };
    let keys = ServerKeys::random();
    let server = DnsServer::start(&tools, &keys);
    let work = TempDir::new("zone-diff");
    let update = update_for(&server, &keys.sha256, work.path());
    let mut spec = services(Some(update));
    // One port of one host, so that a new certificate changes exactly one record.
    spec.services.truncate(1);
    spec.services[0].ports = vec![25];
    let file = spec.write(&work.path().join("services.yaml"));
    let managed = spec.managed();
    let published = spec.published();
    let initial = initial_zone(&server.slot.token);

    // Before the update: the stale record differs.
    let resolver = server.socket();
    let live = |extra: &[&str]| {
        let mut args = vec!["--diff-live", "--resolver", &resolver, "--timeout", TIMEOUT];
        args.extend(extra);
        danekit_zone(&file, &args)
    };
    live(&[]).expect_code(1, &server.logs());

    apply(&file, &keys).expect_code(0, &server.logs());
    let served = server.assert_zone(
        "after --apply",
        &after_update(&initial, &managed, &published),
        |s| s > INITIAL_SERIAL,
        "greater than 1",
    );
    let run = live(&["-o", "json"]);
    run.expect_code(0, &server.logs());
    let report = parse_report(&run);
    assert_eq!(report.verdict, "ok", "{}", run.describe());
    if let Some(diff) = &report.diff {
        assert!(
            diff.add.is_empty() && diff.remove.is_empty(),
            "{}",
            run.describe()
        );
    }
    live(&[]).expect_code(0, &server.logs());

    // The same comparison with a zone file: the zone as named serves it.
    let zone_file = work.path().join("served.zone");
    let mut text = format!("{ZONE} 3600 IN SOA {}\n", soa_rdata(served.serial));
    for r in &served.records {
        let _ = writeln!(text, "{r}");
    }
    write_file(&zone_file, &text, 0o644);
    let zone_arg = path_str(&zone_file);
    let run = danekit_zone(&file, &["--diff", zone_arg, "-o", "json"]);
    run.expect_code(0, "");
    assert_eq!(parse_report(&run).verdict, "ok", "{}", run.describe());

    // A new certificate, not applied.
    spec.services[0].cert = {
        let cert = pki("leaf-ed25519.fullchain.pem");
        (path_str(&cert).to_string(), cert)
    };
    spec.write(&file);
    let renewed = spec.published();
    let add: BTreeSet<Rr> = renewed.difference(&published).cloned().collect();
    let remove: BTreeSet<Rr> = published.difference(&renewed).cloned().collect();
    assert_eq!(
        (add.len(), remove.len()),
        (1, 1),
        "the 3 1 1 record changes"
    );
    for run in [
        live(&["-o", "json"]),
        danekit_zone(&file, &["--diff", zone_arg, "-o", "json"]),
    ] {
        run.expect_code(1, &server.logs());
        let report = parse_report(&run);
        assert_eq!(report.verdict, "differs", "{}", run.describe());
        let diff = report
            .diff
            .unwrap_or_else(|| panic!("no diff: {}", run.describe()));
        assert_eq!(diff_set(&diff.add), add, "add: {}", run.describe());
        assert_eq!(diff_set(&diff.remove), remove, "remove: {}", run.describe());
        assert_eq!(
            (diff.add.len(), diff.remove.len()),
            (1, 1),
            "{}",
            run.describe()
        );
    }
    live(&[]).expect_code(1, &server.logs());
    // Nothing was applied.
    server.assert_zone(
        "after the diffs",
        &served.records,
        |s| s == served.serial,
        "unchanged",
    );
}
