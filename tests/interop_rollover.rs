//! `danekit rollover` end to end, against real DNS servers and real ACME tooling.
//!
//! - **Primary and secondary.** A Knot DNS `knotd` primary holds `.`, `test.` and
//!   `example.test.`, signs them itself (ECDSA P-256 keys made with `keymgr` before it starts,
//!   a `manual` policy) and takes changes to the TLSA RRset as `knotc` transactions. A second
//!   `knotd` is the secondary of `example.test.`: it transfers the zone when it starts and
//!   again only when told (`knotc zone-refresh`), since the primary sends no NOTIFY and the SOA
//!   refresh is an hour. Each runs on an address of 127.0.0.0/8 of its own
//!   ([`LoopbackSlot`]). danekit asks the primary as its resolver (it serves the whole chain
//!   from the root, and answers DS questions from the parent zone) with the root's DS as the
//!   trust anchor, and both servers directly (`--nameserver`).
//!
//!   The rollover, with an injected clock (`--now`) and a TTL of 60 s: the current `3 1 1`
//!   alone is unsafe and `publish` names the next record; `rollover plan --fragment knotc`
//!   gives the publish step, which is run with `sh` against the primary; while the secondary
//!   still serves the old RRset the check is unsafe and names it; after the transfer the state
//!   file starts the clock (`safe_after` = first seen everywhere + 2 × TTL); one second before
//!   that it is still unsafe, then safe (exit 0). `danekit zone --diff-live` agrees at each
//!   step. After the swap, the plan's remove step is run and the deployed certificate is
//!   checked again. A state file started only after the transfer waits 2 × the negative TTL
//!   of the SOA (300 s), since its first observation cannot tell whether the name was new.
//!   Without `--nameserver`, the zone's NS names the primary's address on port 53, where
//!   nothing answers: exit 3, indeterminate, the server named.
//! - **A BIND secondary.** The same primary with `named` as its secondary (its address put on
//!   `lo`, so root is needed), refreshed with `rndc refresh`; the publish step is `danekit zone
//!   -o knotc`, the next key an Ed25519 one: named lags and is named, then the clock runs and
//!   the swap is safe 2 × TTL after the transfer.
//! - **`next-key`.** The CSR it writes passes `openssl req -verify`, names the host and the
//!   other names of the current certificate, and its key (mode 0600) is the one the printed
//!   record hashes; an existing file is never replaced. Pebble (Let's Encrypt's ACME test
//!   server, Debian's `pebble`) and `certbot certonly --csr` then issue a certificate for that
//!   CSR, whose `3 1 1` record is the one `next-key` printed.
//! - **`contrib/`.** The certbot and acme.sh hooks, with a stand-in `danekit` on `PATH` that
//!   exits 0, 1 or 3: the hooks' exit codes, and what certbot does with them (certbot 2.1 runs
//!   a failing `--pre-hook` and renews anyway; acme.sh stops). `sh -n` and `shellcheck` on
//!   every script, `systemd-analyze verify` on the units when systemd is there.
//!
//! With `CI=true` a missing tool fails the test; without it the test prints `skipped: …`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use danekit::time::Timestamp;
use serde_json::Value;
use support::interop::{
    LoopbackAlias, LoopbackSlot, ProcessGroup, TempDir, danekit_bin, describe, knot_conf_head, pki,
    require_root, require_tool, run, run_ok, run_with_env, start_server, wait_for_dns_token,
};

/// The zone of the services.
const ZONE: &str = "example.test.";
/// The owner name of the service's TLSA RRset.
const OWNER: &str = "_25._tcp.mail.example.test.";
/// The TTL of the TLSA RRset, in the zone and in the services file.
const TTL: i64 = 60;
/// The negative TTL of example.test.'s SOA (RFC 2308 §5: the smaller of its TTL and MINIMUM).
const NEGATIVE_TTL: i64 = 300;
/// How long a server may take to start and answer.
const START_LIMIT: Duration = Duration::from_secs(30);

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

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// RFC 3339, as danekit writes times in JSON.
fn rfc3339(t: i64) -> String {
    Timestamp(t).to_string()
}

/// `3 1 1 …` of a certificate, chain, key or CSR, as `danekit tlsa` computes it.
fn record_of(input: &Path) -> String {
    let out = run_ok(
        danekit_bin(),
        &[OsStr::new("tlsa"), input.as_os_str()],
        None,
    );
    String::from_utf8(out).unwrap().trim().to_string()
}

/// Waits until `ready` holds, for at most `limit`; `what` goes into the panic message.
fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------------
// danekit runs

/// One danekit run: the command line, exit code, stdout (parsed when JSON) and stderr.
struct Run {
    line: String,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("`{}` printed no JSON ({e}):\n{self}", self.line))
    }

    fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, code, "exit code of `{}`:\n{self}", self.line);
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- exit {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn danekit<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let out = run(danekit_bin(), args, None);
    Run {
        line: describe(danekit_bin(), args),
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_string()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The DNS servers

/// The Knot binaries the DNS test needs.
struct KnotTools {
    knotd: PathBuf,
    knotc: PathBuf,
    keymgr: PathBuf,
    kdig: PathBuf,
}

impl KnotTools {
    fn find() -> Option<KnotTools> {
        Some(KnotTools {
            knotd: require_tool("knotd", "knot")?,
            knotc: require_tool("knotc", "knot")?,
            keymgr: require_tool("keymgr", "knot")?,
            kdig: require_tool("kdig", "knot-dnsutils")?,
        })
    }
}

/// A running knotd, its directory and slot.
struct Knot {
    // The process stops before its directory is removed.
    _process: ProcessGroup,
    dir: TempDir,
    slot: LoopbackSlot,
    role: &'static str,
}

impl Knot {
    fn socket(&self) -> String {
        self.slot.socket(0)
    }

    fn control(&self) -> PathBuf {
        self.dir.path().join("knot.sock")
    }

    fn log(&self) -> String {
        format!(
            "--- {} knotd log:\n{}",
            self.role,
            read_text(&self.dir.path().join("knotd.log"))
        )
    }

    /// `knotc -s SOCKET ARGS`, which must succeed.
    fn knotc(&self, tools: &KnotTools, args: &[&str]) {
        let control = self.control();
        let mut all = vec!["-s", path_str(&control)];
        all.extend(args);
        let out = run(&tools.knotc, &all, None);
        assert!(
            out.status.success(),
            "`{}` failed: {}{}\n{}",
            describe(&tools.knotc, &all),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    fn serial(&self, tools: &KnotTools) -> Option<u32> {
        soa_serial(tools, &self.slot)
    }

    fn tlsa(&self, tools: &KnotTools) -> Vec<String> {
        served_tlsa(tools, &self.slot)
    }
}

/// A secondary of example.test. that transfers only when told.
trait Secondary {
    fn slot(&self) -> &LoopbackSlot;
    /// Tells the server to check the primary's serial and transfer now.
    fn refresh(&self, tools: &KnotTools);
    fn log(&self) -> String;
}

impl Secondary for Knot {
    fn slot(&self) -> &LoopbackSlot {
        &self.slot
    }

    fn refresh(&self, tools: &KnotTools) {
        self.knotc(tools, &["zone-refresh", ZONE]);
    }

    fn log(&self) -> String {
        Knot::log(self)
    }
}

/// The SOA serial of example.test. the server on `slot` serves, by `kdig`.
fn soa_serial(tools: &KnotTools, slot: &LoopbackSlot) -> Option<u32> {
    let port = slot.ports[0].to_string();
    let at = format!("@{}", slot.addr);
    let out = run(
        &tools.kdig,
        &[
            "+short",
            "+norec",
            "+timeout=2",
            "+retry=0",
            "-p",
            &port,
            &at,
            ZONE,
            "SOA",
        ],
        None,
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(2)
        .and_then(|s| s.parse().ok())
}

/// The TLSA records at [`OWNER`] the server on `slot` serves, as `3 1 1 hex`, sorted.
fn served_tlsa(tools: &KnotTools, slot: &LoopbackSlot) -> Vec<String> {
    let port = slot.ports[0].to_string();
    let at = format!("@{}", slot.addr);
    let out = run(
        &tools.kdig,
        &[
            "+short",
            "+norec",
            "+timeout=2",
            "+retry=0",
            "-p",
            &port,
            &at,
            OWNER,
            "TLSA",
        ],
        None,
    );
    let mut records: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4).then(|| {
                format!(
                    "{} {} {} {}",
                    f[0],
                    f[1],
                    f[2],
                    f[3..].concat().to_lowercase()
                )
            })
        })
        .collect();
    records.sort();
    records
}

/// Spawns `knotd -c CONF` in `root`, logging to `knotd.log`, and waits until each `(name,
/// token)` TXT answers with its token.
fn spawn_knotd(
    tools: &KnotTools,
    root: &Path,
    slot: &LoopbackSlot,
    ready: &[(&str, &str)],
) -> Result<ProcessGroup, String> {
    let conf = root.join("knot.conf");
    let log = root.join("knotd.log");
    let out = std::fs::File::create(&log).expect("knotd.log");
    let mut cmd = Command::new(&tools.knotd);
    cmd.arg("-c")
        .arg(&conf)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out);
    let mut process = ProcessGroup::spawn(cmd).map_err(|e| format!("cannot start knotd: {e}"))?;
    for (name, token) in ready {
        if let Err(e) =
            wait_for_dns_token(slot.addr, slot.ports[0], name, token, START_LIMIT, || {
                process.try_wait().map(|s| s.to_string())
            })
        {
            drop(process);
            return Err(format!(
                "{e}\n--- {}:\n{}\n--- log:\n{}",
                conf.display(),
                read_text(&conf),
                read_text(&log)
            ));
        }
    }
    Ok(process)
}

/// A DS line of `keymgr ZONE ds` with digest type 2 (SHA-256), as a zone-file record.
fn ds_of(tools: &KnotTools, conf: &Path, zone: &str) -> String {
    let out = run_ok(&tools.keymgr, &["-c", path_str(conf), zone, "ds"], None);
    let text = String::from_utf8(out).unwrap();
    let line = text
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("2"))
        .unwrap_or_else(|| panic!("keymgr {zone} ds gave no SHA-256 DS:\n{text}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    format!("{} 3600 IN DS {}", f[0], f[2..].join(" "))
}

/// The primary: `.`, `test.` and `example.test.`, signed by knotd with keys made here; the TLSA
/// RRset at [`OWNER`] holds `tlsa`. Returns the server and the root's DS (the trust anchor).
fn start_primary(tools: &KnotTools, tlsa: &str) -> (Knot, String) {
    start_server("knotd primary", 1, |slot| {
        let dir = TempDir::new("rollover-primary");
        let root = dir.path();
        let conf = root.join("knot.conf");
        let mut text = knot_conf_head(root, slot, "info", "keys");
        let r = root.display();
        let _ = write!(
            text,
            "control:\n\
             \x20   listen: \"{r}/knot.sock\"\n\
             acl:\n\
             \x20 - id: transfer\n\
             \x20   address: 127.0.0.0/8\n\
             \x20   action: transfer\n\
             policy:\n\
             \x20 - id: p256\n\
             \x20   algorithm: ecdsap256sha256\n\
             \x20   manual: on\n\
             \x20   nsec3: off\n\
             \x20   rrsig-lifetime: 14d\n\
             \x20   rrsig-refresh: 7d\n\
             template:\n\
             \x20 - id: default\n\
             \x20   storage: \"{r}\"\n\
             \x20   dnssec-signing: on\n\
             \x20   dnssec-policy: p256\n\
             \x20   acl: transfer\n\
             \x20   zonefile-sync: -1\n\
             \x20   zonefile-load: difference-no-serial\n\
             \x20   journal-content: all\n\
             zone:\n\
             \x20 - domain: .\n\
             \x20   file: \"{r}/root.zone\"\n\
             \x20 - domain: test.\n\
             \x20   file: \"{r}/test.zone\"\n\
             \x20 - domain: {ZONE}\n\
             \x20   file: \"{r}/example.test.zone\"\n"
        );
        write_file(&conf, &text, 0o644);
        for zone in [".", "test.", ZONE] {
            for (ksk, zsk) in [("yes", "no"), ("no", "yes")] {
                let ksk = format!("ksk={ksk}");
                let zsk = format!("zsk={zsk}");
                run_ok(
                    &tools.keymgr,
                    &[
                        "-c",
                        path_str(&conf),
                        zone,
                        "generate",
                        "algorithm=ecdsap256sha256",
                        &ksk,
                        &zsk,
                    ],
                    None,
                );
            }
        }
        let token = &slot.token;
        let addr = slot.addr;
        let apex = |zone: &str, contact: &str| {
            format!(
                "{zone} 3600 IN SOA {contact} hostmaster.{contact} 1 3600 900 604800 {NEGATIVE_TTL}\n"
            )
        };
        let invalid = "ns.nameservers.invalid.";
        write_file(
            &root.join("root.zone"),
            format!(
                "{}. 3600 IN NS {invalid}\nready. 3600 IN TXT \"{token}\"\n\
                 test. 3600 IN NS {invalid}\n{}\n",
                apex(".", "nameservers.invalid."),
                ds_of(tools, &conf, "test.")
            ),
            0o644,
        );
        write_file(
            &root.join("test.zone"),
            format!(
                "{}test. 3600 IN NS {invalid}\nready.test. 3600 IN TXT \"{token}\"\n\
                 {ZONE} 3600 IN NS ns1.{ZONE}\n{}\nns1.{ZONE} 3600 IN A {addr}\n",
                apex("test.", "nameservers.invalid."),
                ds_of(tools, &conf, ZONE)
            ),
            0o644,
        );
        write_file(
            &root.join("example.test.zone"),
            format!(
                "{}{ZONE} 3600 IN NS ns1.{ZONE}\nns1.{ZONE} 3600 IN A {addr}\n\
                 ready.{ZONE} 3600 IN TXT \"{token}\"\n{OWNER} {TTL} IN TLSA {tlsa}\n",
                apex(ZONE, "example.test.")
            ),
            0o644,
        );
        let anchor = ds_of(tools, &conf, ".");
        let ready_names = [
            ("ready.", token.as_str()),
            ("ready.test.", token.as_str()),
            ("ready.example.test.", token.as_str()),
        ];
        let process = spawn_knotd(tools, root, slot, &ready_names)?;
        Ok((
            Knot {
                _process: process,
                dir,
                slot: slot.clone(),
                role: "primary",
            },
            anchor,
        ))
    })
}

/// The secondary of example.test.: transfers from `primary` when it starts and when told
/// (`knotc zone-refresh`); never on its own within the test (SOA refresh 3600 s, no NOTIFY).
fn start_secondary(tools: &KnotTools, primary: &Knot) -> Knot {
    start_server("knotd secondary", 1, |slot| {
        let dir = TempDir::new("rollover-secondary");
        let root = dir.path();
        let mut text = knot_conf_head(root, slot, "info", "keys");
        let r = root.display();
        let _ = write!(
            text,
            "control:\n\
             \x20   listen: \"{r}/knot.sock\"\n\
             remote:\n\
             \x20 - id: primary\n\
             \x20   address: {}@{}\n\
             zone:\n\
             \x20 - domain: {ZONE}\n\
             \x20   storage: \"{r}\"\n\
             \x20   file: \"{r}/example.test.zone\"\n\
             \x20   master: primary\n",
            primary.slot.addr, primary.slot.ports[0],
        );
        write_file(&root.join("knot.conf"), &text, 0o644);
        let process = spawn_knotd(
            tools,
            root,
            slot,
            &[("ready.example.test.", primary.slot.token.as_str())],
        )?;
        Ok(Knot {
            _process: process,
            dir,
            slot: slot.clone(),
            role: "secondary",
        })
    })
}

/// BIND's `named` as the secondary of example.test.: transfers from the knotd primary when it
/// starts and when told (`rndc refresh`). named listens only on addresses its interface scan
/// finds, so its slot's address is put on `lo` for the test's length ([`LoopbackAlias`]).
struct Named {
    // Fields drop in this order: named stops before its address leaves lo and before its
    // directory is removed.
    _process: ProcessGroup,
    _alias: LoopbackAlias,
    dir: TempDir,
    slot: LoopbackSlot,
    rndc: PathBuf,
}

impl Named {
    fn start(named: &Path, rndc: &Path, ip: &Path, primary: &Knot) -> Named {
        start_server("named secondary", 2, |slot| {
            let dir = TempDir::new("rollover-named");
            let root = dir.path();
            let mut secret = [0u8; 32];
            std::io::Read::read_exact(
                &mut std::fs::File::open("/dev/urandom").unwrap(),
                &mut secret,
            )
            .unwrap();
            let key = format!(
                "key \"rndc-key\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{}\";\n}};\n",
                data_encoding::BASE64.encode(&secret)
            );
            write_file(&root.join("rndc.key"), &key, 0o600);
            write_file(&root.join("bind.keys"), "", 0o644);
            let r = root.display();
            let conf = format!(
                "options {{\n\
                 \tdirectory \"{r}\";\n\
                 \tpid-file \"{r}/named.pid\";\n\
                 \tsession-keyfile none;\n\
                 \tmanaged-keys-directory \"{r}\";\n\
                 \tbindkeys-file \"{r}/bind.keys\";\n\
                 \tgeoip-directory none;\n\
                 \tlisten-on port {port} {{ {addr}; }};\n\
                 \tlisten-on-v6 {{ none; }};\n\
                 \trecursion no;\n\
                 \tdnssec-validation no;\n\
                 \tnotify no;\n\
                 }};\n\
                 {key}\
                 controls {{ inet {addr} port {control} allow {{ 127.0.0.0/8; }} keys {{ \"rndc-key\"; }}; }};\n\
                 zone \"example.test\" {{\n\
                 \ttype secondary;\n\
                 \tprimaries {{ {paddr} port {pport}; }};\n\
                 \tfile \"{r}/example.test.db\";\n\
                 }};\n",
                addr = slot.addr,
                port = slot.ports[0],
                control = slot.ports[1],
                paddr = primary.slot.addr,
                pport = primary.slot.ports[0],
            );
            let config = root.join("named.conf");
            write_file(&config, &conf, 0o644);
            let alias = LoopbackAlias::add(ip, slot.addr)?;
            let log = root.join("named.log");
            let out = std::fs::File::create(&log).expect("named.log");
            let mut cmd = Command::new(named);
            cmd.arg("-g")
                .arg("-c")
                .arg(&config)
                .current_dir(root)
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("dup"))
                .stderr(out);
            let mut process =
                ProcessGroup::spawn(cmd).map_err(|e| format!("cannot start named: {e}"))?;
            if let Err(e) = wait_for_dns_token(
                slot.addr,
                slot.ports[0],
                "ready.example.test.",
                &primary.slot.token,
                START_LIMIT,
                || process.try_wait().map(|s| s.to_string()),
            ) {
                drop(process);
                return Err(format!("{e}\n--- {conf}\n--- log:\n{}", read_text(&log)));
            }
            Ok(Named {
                _process: process,
                _alias: alias,
                dir,
                slot: slot.clone(),
                rndc: rndc.to_path_buf(),
            })
        })
    }
}

impl Secondary for Named {
    fn slot(&self) -> &LoopbackSlot {
        &self.slot
    }

    fn refresh(&self, _tools: &KnotTools) {
        let key = self.dir.path().join("rndc.key");
        let port = self.slot.ports[1].to_string();
        let addr = self.slot.addr.to_string();
        let args = [
            "-s",
            addr.as_str(),
            "-p",
            &port,
            "-k",
            path_str(&key),
            "refresh",
            "example.test",
        ];
        let out = run(&self.rndc, &args, None);
        assert!(
            out.status.success(),
            "`{}`: {}{}\n{}",
            describe(&self.rndc, &args),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
    }

    fn log(&self) -> String {
        format!(
            "--- named log:\n{}",
            read_text(&self.dir.path().join("named.log"))
        )
    }
}

// ---------------------------------------------------------------------------------------------
// The rollover against the primary and its secondary

/// Where the rollover runs: the servers, the services files, the state file.
struct Lab<'a> {
    tools: &'a KnotTools,
    primary: &'a Knot,
    secondary: &'a dyn Secondary,
    dir: &'a Path,
    anchor: PathBuf,
}

impl Lab<'_> {
    /// `danekit ARGS --resolver PRIMARY --trust-anchor ROOT.DS --timeout 5s`.
    fn danekit(&self, args: &[&str]) -> Run {
        let resolver = self.primary.socket();
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--resolver",
            &resolver,
            "--trust-anchor",
            path_str(&self.anchor),
            "--timeout",
            "5s",
        ]);
        danekit(&all)
    }

    /// `rollover SUB SERVICES --nameserver PRIMARY --nameserver SECONDARY --now AT [EXTRA]`.
    fn rollover(&self, sub: &str, services: &Path, at: i64, extra: &[&str]) -> Run {
        let p = self.primary.socket();
        let s = self.secondary.slot().socket(0);
        let now = at.to_string();
        let mut args = vec![
            "rollover",
            sub,
            path_str(services),
            "--nameserver",
            &p,
            "--nameserver",
            &s,
            "--now",
            &now,
        ];
        args.extend(extra);
        self.danekit(&args)
    }

    /// `rollover check … -o json` with the state file `state` (none when `None`).
    fn check(&self, services: &Path, at: i64, state: Option<&Path>) -> Run {
        let mut extra = vec!["-o", "json"];
        if let Some(s) = state {
            extra.extend(["--state", path_str(s)]);
        }
        self.rollover("check", services, at, &extra)
    }

    /// `zone SERVICES --diff-live -o json`.
    fn diff_live(&self, services: &Path) -> Run {
        self.danekit(&["zone", path_str(services), "--diff-live", "-o", "json"])
    }

    /// Runs a `knotc` fragment with `sh`, a `knotc` first on `PATH` that adds the primary's
    /// control socket.
    fn run_knotc_fragment(&self, name: &str, fragment: &str) {
        let bin = self.dir.join("bin");
        if !bin.exists() {
            std::fs::create_dir(&bin).unwrap();
            write_file(
                &bin.join("knotc"),
                format!(
                    "#!/bin/sh\nexec '{}' -s '{}' \"$@\"\n",
                    self.tools.knotc.display(),
                    self.primary.control().display()
                ),
                0o755,
            );
        }
        let script = self.dir.join(name);
        write_file(&script, fragment, 0o644);
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path =
            std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path))).unwrap();
        let out = run_with_env(
            "sh",
            &[script.as_os_str()],
            None,
            &[("PATH", path.as_os_str())],
        );
        assert!(
            out.status.success(),
            "sh {}: {}\n{}\n{fragment}\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.primary.log()
        );
    }

    /// Tells the secondary to transfer, and waits until it serves `serial`.
    fn transfer(&self, serial: u32) {
        self.secondary.refresh(self.tools);
        let deadline = Instant::now() + Duration::from_secs(20);
        while soa_serial(self.tools, self.secondary.slot()) != Some(serial) {
            assert!(
                Instant::now() < deadline,
                "the secondary does not serve serial {serial} within 20 s\n{}",
                self.secondary.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The serial the primary serves once it is above `above`.
    fn primary_serial_above(&self, above: u32) -> u32 {
        let mut serial = None;
        wait_until("the primary's new serial", Duration::from_secs(10), || {
            serial = self.primary.serial(self.tools).filter(|&v| v > above);
            serial.is_some()
        });
        serial.unwrap()
    }
}

/// The contrib hooks of certbot, run with this danekit against the lab: the pre-hook with the
/// services file and state file, the deploy hook with a lineage whose full chain is the next
/// certificate (the test PKI's P-384 leaf).
struct Hooks {
    services: PathBuf,
    state: PathBuf,
    lineage: PathBuf,
    reloaded: PathBuf,
    /// `--resolver … --trust-anchor … --timeout 5s`.
    base: String,
    /// `--nameserver PRIMARY --nameserver SECONDARY`.
    nameservers: String,
}

impl Hooks {
    fn new(lab: &Lab<'_>, services: &Path, state: &Path, dir: &Path) -> Hooks {
        let lineage = dir.join("live/mail.example.test");
        std::fs::create_dir_all(&lineage).unwrap();
        std::fs::copy(
            pki("leaf-p384.fullchain.pem"),
            lineage.join("fullchain.pem"),
        )
        .unwrap();
        Hooks {
            services: services.to_path_buf(),
            state: state.to_path_buf(),
            lineage,
            reloaded: dir.join("reloaded"),
            base: format!(
                "--resolver {} --trust-anchor {} --timeout 5s",
                lab.primary.socket(),
                lab.anchor.display()
            ),
            nameservers: format!(
                "--nameserver {} --nameserver {}",
                lab.primary.socket(),
                lab.secondary.slot().socket(0)
            ),
        }
    }

    /// Runs `script` with `env` and `DANEKIT` set to this danekit: its exit code, and
    /// whether it reloaded.
    fn run(&self, script: &str, env: &[(&str, &OsStr)]) -> (i32, bool) {
        let _ = std::fs::remove_file(&self.reloaded);
        let mut all: Vec<(&str, &OsStr)> = vec![("DANEKIT", OsStr::new(danekit_bin()))];
        all.extend(env);
        let out = run_with_env(contrib(script), &[] as &[&str], None, &all);
        (out.status.code().unwrap_or(-1), self.reloaded.exists())
    }

    /// The pre-hook at `now`: its exit code.
    fn pre(&self, now: i64) -> i32 {
        let args = format!("{} {} --now {now}", self.base, self.nameservers);
        self.run(
            "certbot/danekit-pre-hook",
            &[
                ("DANEKIT_SERVICES", self.services.as_os_str()),
                ("DANEKIT_STATE", self.state.as_os_str()),
                ("DANEKIT_ARGS", OsStr::new(&args)),
            ],
        )
        .0
    }

    /// The deploy hook: its exit code, and whether it reloaded.
    fn deploy(&self) -> (i32, bool) {
        let reload = format!("touch '{}'", self.reloaded.display());
        self.run(
            "certbot/danekit-deploy-hook",
            &[
                ("RENEWED_LINEAGE", self.lineage.as_os_str()),
                ("RENEWED_DOMAINS", OsStr::new("mail.example.test")),
                ("DANEKIT_RELOAD", OsStr::new(&reload)),
                ("DANEKIT_ARGS", OsStr::new(&self.base)),
            ],
        )
    }
}

/// The first (only) service of a check or plan document.
fn service(doc: &Value) -> &Value {
    let services = doc["services"].as_array().expect("services");
    assert_eq!(services.len(), 1, "{doc:#}");
    &services[0]
}

/// The `records` of a service as `(record, current, next, ready_at)`.
fn roles(service: &Value) -> Vec<(String, bool, bool, Option<String>)> {
    service["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["record"].as_str().unwrap().to_string(),
                r["current"].as_bool().unwrap(),
                r["next"].as_bool().unwrap(),
                r["ready_at"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn finding_codes(doc: &Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn knot_primary_and_secondary_publish_transfer_wait_then_safe() {
    let Some(tools) = KnotTools::find() else {
        return;
    };
    let started = Instant::now();
    let work = TempDir::new("rollover-interop");
    let dir = work.path();
    let current_chain = pki("leaf-p256.fullchain.pem");
    let next_key = pki("leaf-p384.pub.pem");
    let current = record_of(&current_chain);
    let next = record_of(&next_key);
    let services = dir.join("services.yaml");
    write_file(
        &services,
        format!(
            "zone: {ZONE}\nttl: {TTL}\nservices:\n  - host: mail\n    ports: [25]\n    \
             cert: {}\n    next: {}\n",
            current_chain.display(),
            next_key.display()
        ),
        0o644,
    );

    let (primary, anchor) = start_primary(&tools, &current);
    let secondary = start_secondary(&tools, &primary);
    let anchor_file = dir.join("root.ds");
    write_file(&anchor_file, format!("{anchor}\n"), 0o644);
    let lab = Lab {
        tools: &tools,
        primary: &primary,
        secondary: &secondary,
        dir,
        anchor: anchor_file,
    };
    let p_name = primary.socket();
    let s_name = secondary.socket();
    let serial0 = primary.serial(&tools).expect("the primary's serial");
    assert_eq!(
        secondary.serial(&tools),
        Some(serial0),
        "{}",
        secondary.log()
    );
    assert_eq!(secondary.tlsa(&tools), vec![current.clone()]);

    let state = dir.join("state.json");
    let t0 = unix_now();

    // 1. The current record alone: unsafe, and `publish` names the next record.
    let run1 = lab.check(&services, t0, Some(&state));
    run1.expect_code(1);
    let doc = run1.json();
    assert_eq!(doc["schema_version"], 1, "{run1}");
    assert_eq!(doc["verdict"], "unsafe", "{run1}");
    assert_eq!(doc["safe_after"], Value::Null, "{run1}");
    let s = service(&doc);
    assert_eq!(s["host"], "mail.example.test.");
    assert_eq!(s["port"], 25);
    assert_eq!(s["owner"], OWNER);
    assert_eq!(s["verdict"], "unsafe");
    assert_eq!(s["safe_after"], Value::Null);
    assert_eq!(strings(&s["publish"]), vec![next.clone()], "{run1}");
    assert_eq!(
        strings(&s["reasons"]),
        vec![
            "the next key would not be authenticated by the published records (a SHA2-256 client)",
            "the next key would not be authenticated by the published records (a SHA2-256+SHA2-512 client)",
        ],
        "{run1}"
    );
    assert_eq!(roles(s), vec![(current.clone(), true, false, None)]);
    assert_eq!(finding_codes(s), vec!["parameter-set-not-rolled"], "{run1}");
    assert_eq!(
        s["findings"][0]["message"],
        "3 1 1: no record of this set matches the next chain, and no other record carries the swap (RFC 7671 §8)"
    );
    let views = s["nameservers"].as_array().unwrap();
    assert_eq!(views.len(), 2, "{run1}");
    for (view, name) in views.iter().zip([&p_name, &s_name]) {
        assert_eq!(view["name"], name.as_str());
        assert_eq!(view["address"], name.as_str());
        assert_eq!(view["verdict"], "secure", "{run1}");
        assert_eq!(strings(&view["records"]), vec![current.clone()]);
        assert_eq!(view["serial"], serial0);
    }
    // `zone --diff-live` agrees: the zone lacks the next record.
    let diff = lab.diff_live(&services);
    diff.expect_code(1);
    let d = diff.json();
    assert_eq!(d["verdict"], "differs", "{diff}");
    let adds: Vec<String> = d["diff"]["add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {}",
                r["usage"],
                r["selector"],
                r["matching_type"],
                r["data"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(adds, vec![next.clone()], "{diff}");
    assert!(d["diff"]["remove"].as_array().unwrap().is_empty(), "{diff}");

    // The contrib hooks, with this danekit: the pre-hook says not yet; the next certificate
    // is not authenticated by what is published, so the deploy hook does not reload.
    let hooks = Hooks::new(&lab, &services, &state, dir);
    assert_eq!(hooks.pre(t0), 1);
    assert_eq!(hooks.deploy(), (1, false));
    // 2. The plan: publish now, deploy 2 × TTL later (the name has an RRset already, so no
    // cache holds a denial of it), then remove.
    let plan = lab.rollover(
        "plan",
        &services,
        t0,
        &["--fragment", "knotc", "-o", "json"],
    );
    plan.expect_code(0);
    let p = plan.json();
    let steps = p["steps"].as_array().unwrap();
    let actions: Vec<&str> = steps
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["publish", "deploy", "remove"], "{plan}");
    assert_eq!(steps[0]["earliest"], rfc3339(t0), "{plan}");
    assert_eq!(
        strings(&steps[0]["records"]),
        vec![current.clone(), next.clone()]
    );
    assert_eq!(steps[1]["earliest"], rfc3339(t0 + 2 * TTL), "{plan}");
    assert_eq!(steps[2]["earliest"], rfc3339(t0 + 2 * TTL), "{plan}");
    assert_eq!(strings(&steps[2]["records"]), vec![next.clone()]);
    let publish_fragment = steps[0]["fragment"].as_str().unwrap().to_string();
    let remove_fragment = steps[2]["fragment"].as_str().unwrap().to_string();
    assert!(
        publish_fragment.contains(&format!("knotc zone-set {ZONE} {OWNER} {TTL} TLSA {next}")),
        "{publish_fragment}"
    );
    // The text form names the same steps.
    let text = lab.rollover("plan", &services, t0, &["--fragment", "knotc"]);
    text.expect_code(0);
    assert!(
        text.stdout.starts_with(&format!(
            "1. publish mail.example.test. port 25, from {}: publish {next} beside the current records",
            rfc3339(t0)
        )),
        "{text}"
    );
    assert!(text.stdout.ends_with("now: unsafe\n"), "{text}");

    // 3. The publish step, run against the primary only: the secondary lags and is named.
    lab.run_knotc_fragment("publish.sh", &publish_fragment);
    let serial1 = lab.primary_serial_above(serial0);
    let mut both = vec![current.clone(), next.clone()];
    both.sort();
    assert_eq!(primary.tlsa(&tools), both);
    assert_eq!(secondary.tlsa(&tools), vec![current.clone()]);
    assert_eq!(secondary.serial(&tools), Some(serial0));
    let t2 = t0 + 10;
    let run2 = lab.check(&services, t2, Some(&state));
    run2.expect_code(1);
    let doc = run2.json();
    assert_eq!(doc["verdict"], "unsafe", "{run2}");
    assert_eq!(doc["safe_after"], Value::Null, "{run2}");
    let s = service(&doc);
    assert_eq!(
        strings(&s["reasons"]),
        vec![format!(
            "{s_name} ({s_name}) lags (SOA serial {serial0}): it does not serve {next}"
        )],
        "{run2}"
    );
    assert!(s["publish"].as_array().unwrap().is_empty(), "{run2}");
    assert_eq!(s["safe_after"], Value::Null);
    let views = s["nameservers"].as_array().unwrap();
    assert_eq!(strings(&views[0]["records"]), both, "{run2}");
    assert_eq!(views[0]["serial"], serial1);
    assert_eq!(
        strings(&views[1]["records"]),
        vec![current.clone()],
        "{run2}"
    );
    assert_eq!(views[1]["serial"], serial0);
    assert!(
        finding_codes(s).contains(&"soa-serials-differ".to_string()),
        "{run2}"
    );
    // The text form names the secondary too.
    let text2 = lab.rollover("check", &services, t2, &[]);
    text2.expect_code(1);
    assert!(
        text2.stdout.contains(&format!(
            "  - {s_name} ({s_name}) lags (SOA serial {serial0})"
        )),
        "{text2}"
    );
    // The primary, asked as the resolver, already serves the whole target RRset.
    lab.diff_live(&services).expect_code(0);

    // 4. The transfer: every server serves the next record from t3; the clock starts.
    lab.transfer(serial1);
    assert_eq!(secondary.tlsa(&tools), both);
    let t3 = t0 + 20;
    let ready = t3 + 2 * TTL;
    let run3 = lab.check(&services, t3, Some(&state));
    run3.expect_code(1);
    let doc = run3.json();
    assert_eq!(doc["verdict"], "unsafe", "{run3}");
    assert_eq!(doc["safe_after"], rfc3339(ready), "{run3}");
    let s = service(&doc);
    assert_eq!(s["safe_after"], rfc3339(ready));
    assert_eq!(
        strings(&s["reasons"]),
        vec![format!(
            "resolvers may still cache the TLSA RRset without the next record until {} (2 × TTL after every authoritative server served it)",
            rfc3339(ready)
        )],
        "{run3}"
    );
    let mut expected_roles = vec![
        (current.clone(), true, false, None),
        (next.clone(), false, true, Some(rfc3339(ready))),
    ];
    expected_roles.sort();
    let mut got = roles(s);
    got.sort();
    assert_eq!(got, expected_roles, "{run3}");
    for view in s["nameservers"].as_array().unwrap() {
        assert_eq!(strings(&view["records"]), both, "{run3}");
        assert_eq!(view["serial"], serial1);
    }
    // The state file: the owner since t0, the current record since t0, the next since t3.
    let st: Value = serde_json::from_str(&read_text(&state)).unwrap();
    assert_eq!(st["schema_version"], 1);
    let o = &st["owners"][OWNER];
    assert_eq!(o["since"], rfc3339(t0), "{st:#}");
    assert_eq!(o["records"][&current], rfc3339(t0), "{st:#}");
    assert_eq!(o["records"][&next], rfc3339(t3), "{st:#}");
    assert_eq!(o["ttl"], TTL);
    assert_eq!(o["checked"], rfc3339(t3));

    // A state file that starts only now cannot tell that the name had an RRset before: it
    // waits 2 × the negative TTL.
    let fresh = dir.join("fresh-state.json");
    let late = lab.check(&services, t3, Some(&fresh));
    late.expect_code(1);
    assert_eq!(
        late.json()["safe_after"],
        rfc3339(t3 + 2 * NEGATIVE_TTL),
        "{late}"
    );
    // Without a state file every run starts the clock again.
    let stateless = lab.check(&services, t3 + 1000, None);
    stateless.expect_code(1);
    assert_eq!(
        stateless.json()["safe_after"],
        rfc3339(t3 + 1000 + 2 * NEGATIVE_TTL),
        "{stateless}"
    );

    // 5. One second early: still unsafe, same time. Then safe.
    let run4 = lab.check(&services, ready - 1, Some(&state));
    run4.expect_code(1);
    assert_eq!(run4.json()["safe_after"], rfc3339(ready), "{run4}");
    // The same for a monitoring system (OpenMetrics, as node_exporter's textfile collector
    // reads it).
    let metrics = lab.rollover(
        "check",
        &services,
        ready - 1,
        &["--state", path_str(&state), "-o", "openmetrics"],
    );
    metrics.expect_code(1);
    for line in [
        "danekit_rollover_verdict{host=\"mail.example.test.\",port=\"25\",verdict=\"unsafe\"} 1"
            .to_string(),
        "danekit_rollover_verdict{host=\"mail.example.test.\",port=\"25\",verdict=\"safe\"} 0"
            .to_string(),
        format!(
            "danekit_rollover_safe_after_timestamp_seconds{{host=\"mail.example.test.\",port=\"25\"}} {ready}"
        ),
    ] {
        assert!(
            metrics.stdout.lines().any(|l| l == line),
            "{line}\n{metrics}"
        );
    }
    let run5 = lab.check(&services, ready, Some(&state));
    run5.expect_code(0);
    let doc = run5.json();
    assert_eq!(doc["verdict"], "safe", "{run5}");
    assert_eq!(doc["safe_after"], Value::Null, "{run5}");
    let s = service(&doc);
    assert_eq!(s["verdict"], "safe");
    assert!(s["reasons"].as_array().unwrap().is_empty(), "{run5}");
    assert!(s["publish"].as_array().unwrap().is_empty(), "{run5}");
    let text5 = lab.rollover("check", &services, ready, &["--state", path_str(&state)]);
    text5.expect_code(0);
    assert!(text5.stdout.ends_with("verdict: safe\n"), "{text5}");
    // The hooks agree: safe, and the next certificate is authenticated, so it is reloaded.
    assert_eq!(hooks.pre(ready), 0);
    assert_eq!(hooks.deploy(), (0, true));
    // Without --nameserver: the zone's own NS RRset names ns1.example.test. on port 53, where
    // nothing of this test answers. Everything else is safe now, so there is no verdict
    // (exit 3); safe it cannot be.
    let resolver = primary.socket();
    let discovered = danekit(&[
        "rollover",
        "check",
        path_str(&services),
        "--resolver",
        &resolver,
        "--trust-anchor",
        path_str(&lab.anchor),
        "--now",
        &ready.to_string(),
        "--timeout",
        "2s",
        "-o",
        "json",
    ]);
    discovered.expect_code(3);
    let d = discovered.json();
    assert_eq!(d["verdict"], "indeterminate", "{discovered}");
    let why = strings(&service(&d)["reasons"]);
    assert_eq!(why.len(), 1, "{discovered}");
    assert!(
        why[0].starts_with(&format!(
            "ns1.example.test. ({}:53) gave no answer",
            primary.slot.addr
        )),
        "{discovered}"
    );

    // The plan now: deploy at once, then remove.
    let plan5 = lab.rollover(
        "plan",
        &services,
        ready,
        &[
            "--state",
            path_str(&state),
            "--fragment",
            "knotc",
            "-o",
            "json",
        ],
    );
    plan5.expect_code(0);
    let p5 = plan5.json();
    let steps5 = p5["steps"].as_array().unwrap();
    let actions: Vec<&str> = steps5
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["deploy", "remove"], "{plan5}");
    assert_eq!(steps5[0]["earliest"], rfc3339(ready), "{plan5}");
    assert_eq!(steps5[1]["fragment"], remove_fragment.as_str(), "{plan5}");

    // 6. The swap: the next certificate is deployed, the plan's remove step runs on the
    // primary, the secondary follows; the services file now names the new chain.
    lab.run_knotc_fragment("remove.sh", &remove_fragment);
    let serial2 = lab.primary_serial_above(serial1);
    lab.transfer(serial2);
    assert_eq!(secondary.tlsa(&tools), vec![next.clone()]);
    let deployed = dir.join("deployed.yaml");
    write_file(
        &deployed,
        format!(
            "zone: {ZONE}\nttl: {TTL}\nservices:\n  - host: mail\n    ports: [25]\n    \
             cert: {}\n",
            pki("leaf-p384.fullchain.pem").display()
        ),
        0o644,
    );
    let after = lab.check(&deployed, ready + 60, Some(&state));
    after.expect_code(0);
    let doc = after.json();
    assert_eq!(doc["verdict"], "safe", "{after}");
    let s = service(&doc);
    assert_eq!(roles(s), vec![(next.clone(), true, true, None)], "{after}");
    assert_eq!(finding_codes(s), vec!["no-next"], "{after}");
    lab.diff_live(&deployed).expect_code(0);
    // The old chain is no longer covered: were it still served, the check would say so.
    let stale = lab.check(&services, ready + 60, Some(&dir.join("other-state.json")));
    stale.expect_code(1);
    assert!(
        strings(&service(&stale.json())["reasons"])
            .contains(&"the chain served now is not authenticated by the published records (a SHA2-256 client)".to_string()),
        "{stale}"
    );

    drop(secondary);
    drop(primary);
    let mut err = std::io::stderr().lock();
    let _ = std::io::Write::write_fmt(
        &mut err,
        format_args!(
            "interop_rollover: knotd primary + secondary scenario in {:.1?}\n",
            started.elapsed()
        ),
    );
}

#[test]
fn named_secondary_of_a_knot_primary_lags_until_refreshed() {
    let Some(tools) = KnotTools::find() else {
        return;
    };
    let (Some(named), Some(rndc), Some(ip)) = (
        require_tool("named", "bind9"),
        require_tool("rndc", "bind9"),
        require_tool("ip", "iproute2"),
    ) else {
        return;
    };
    if !require_root("adding named's address to lo") {
        return;
    }
    let started = Instant::now();
    let work = TempDir::new("rollover-named-interop");
    let dir = work.path();
    let current_chain = pki("leaf-p256.fullchain.pem");
    let next_key = pki("leaf-ed25519.pub.pem");
    let current = record_of(&current_chain);
    let next = record_of(&next_key);
    let services = dir.join("services.yaml");
    write_file(
        &services,
        format!(
            "zone: {ZONE}\nttl: {TTL}\nservices:\n  - host: mail\n    ports: [25]\n    \
             cert: {}\n    next: {}\n",
            current_chain.display(),
            next_key.display()
        ),
        0o644,
    );
    let (primary, anchor) = start_primary(&tools, &current);
    let secondary = Named::start(&named, &rndc, &ip, &primary);
    let anchor_file = dir.join("root.ds");
    write_file(&anchor_file, format!("{anchor}\n"), 0o644);
    let lab = Lab {
        tools: &tools,
        primary: &primary,
        secondary: &secondary,
        dir,
        anchor: anchor_file,
    };
    let s_name = secondary.slot.socket(0);
    let serial0 = primary.serial(&tools).expect("the primary's serial");
    assert_eq!(
        soa_serial(&tools, &secondary.slot),
        Some(serial0),
        "{}",
        secondary.log()
    );
    let state = dir.join("state.json");
    let t0 = unix_now();

    // named serves the signed zone it transferred: both views secure, the next key uncovered.
    let run1 = lab.check(&services, t0, Some(&state));
    run1.expect_code(1);
    let doc = run1.json();
    let s = service(&doc);
    assert_eq!(strings(&s["publish"]), vec![next.clone()], "{run1}");
    for view in s["nameservers"].as_array().unwrap() {
        assert_eq!(view["verdict"], "secure", "{run1}");
        assert_eq!(strings(&view["records"]), vec![current.clone()], "{run1}");
        assert_eq!(view["serial"], serial0, "{run1}");
    }

    // `danekit zone -o knotc`, run against the primary: named lags and is named.
    let script = danekit(&["zone", path_str(&services), "-o", "knotc"]);
    script.expect_code(0);
    lab.run_knotc_fragment("zone-knotc.sh", &script.stdout);
    let serial1 = lab.primary_serial_above(serial0);
    let mut both = vec![current.clone(), next.clone()];
    both.sort();
    assert_eq!(primary.tlsa(&tools), both);
    assert_eq!(served_tlsa(&tools, &secondary.slot), vec![current.clone()]);
    let run2 = lab.check(&services, t0 + 10, Some(&state));
    run2.expect_code(1);
    let doc = run2.json();
    assert_eq!(doc["safe_after"], Value::Null, "{run2}");
    assert_eq!(
        strings(&service(&doc)["reasons"]),
        vec![format!(
            "{s_name} ({s_name}) lags (SOA serial {serial0}): it does not serve {next}"
        )],
        "{run2}"
    );

    // `rndc refresh`: named transfers (IXFR from knotd) and the clock starts.
    lab.transfer(serial1);
    assert_eq!(served_tlsa(&tools, &secondary.slot), both);
    let t3 = t0 + 20;
    let ready = t3 + 2 * TTL;
    let run3 = lab.check(&services, t3, Some(&state));
    run3.expect_code(1);
    assert_eq!(run3.json()["safe_after"], rfc3339(ready), "{run3}");
    lab.check(&services, ready - 1, Some(&state)).expect_code(1);
    let run5 = lab.check(&services, ready, Some(&state));
    run5.expect_code(0);
    let doc = run5.json();
    assert_eq!(doc["verdict"], "safe", "{run5}");
    for view in service(&doc)["nameservers"].as_array().unwrap() {
        assert_eq!(view["verdict"], "secure", "{run5}");
        assert_eq!(strings(&view["records"]), both, "{run5}");
        assert_eq!(view["serial"], serial1, "{run5}");
    }
    drop(secondary);
    drop(primary);
    let mut err = std::io::stderr().lock();
    let _ = std::io::Write::write_fmt(
        &mut err,
        format_args!(
            "interop_rollover: knotd primary + named secondary scenario in {:.1?}\n",
            started.elapsed()
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// next-key, OpenSSL and certbot

/// A services file for mail.example.test (port 25, TTL 60) whose current chain is the test
/// PKI's P-256 leaf (names `p256.mail.example.test` and `mail.example.test`).
fn mail_services(dir: &Path) -> PathBuf {
    let services = dir.join("services.yaml");
    write_file(
        &services,
        format!(
            "zone: {ZONE}\nttl: {TTL}\nservices:\n  - host: mail\n    ports: [25]\n    cert: {}\n",
            pki("leaf-p256.fullchain.pem").display()
        ),
        0o644,
    );
    services
}

/// The SHA-256 of the SPKI of a private key, by `openssl pkey -pubout -outform DER | openssl
/// dgst -sha256`, as a `3 1 1` record.
fn openssl_311_of_key(openssl: &Path, key: &Path) -> String {
    let spki = run_ok(
        openssl,
        &["pkey", "-in", path_str(key), "-pubout", "-outform", "DER"],
        None,
    );
    let digest = run_ok(openssl, &["dgst", "-sha256", "-binary"], Some(&spki));
    format!("3 1 1 {}", support::interop::hex(&digest))
}

/// What `openssl req -text` says of a CSR: its subject line and its DNS names.
fn openssl_csr_names(openssl: &Path, csr: &Path) -> (String, String) {
    let out = run_ok(
        openssl,
        &["req", "-in", path_str(csr), "-noout", "-text"],
        None,
    );
    let text = String::from_utf8(out).unwrap();
    let subject = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Subject: "))
        .unwrap_or_default()
        .to_string();
    let sans = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("DNS:"))
        .unwrap_or_default()
        .to_string();
    (subject, sans)
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The record line `next-key` prints for mail.example.test port 25.
fn printed_record(stdout: &str) -> String {
    let prefix = format!("{OWNER} {TTL} IN TLSA ");
    let lines: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    lines[0].to_string()
}

#[test]
fn next_key_csr_passes_openssl_and_certbot_reads_it() {
    let Some(openssl) = require_tool("openssl", "openssl") else {
        return;
    };
    let work = TempDir::new("rollover-next-key");
    let services = mail_services(work.path());
    for key_type in ["p256", "p384", "ed25519"] {
        let out = work.path().join(key_type);
        std::fs::create_dir(&out).unwrap();
        let args = [
            "rollover",
            "next-key",
            path_str(&services),
            "--host",
            "mail",
            "--key-type",
            key_type,
            "--out",
            path_str(&out),
        ];
        let made = danekit(&args);
        made.expect_code(0);
        let key = out.join("mail.example.test.next.key");
        let csr = out.join("mail.example.test.next.csr");
        assert_eq!(mode_of(&key), 0o600, "{key_type}: key file mode");
        assert_eq!(mode_of(&csr), 0o644, "{key_type}: CSR file mode");
        // OpenSSL checks the CSR's signature with its own key.
        let verify = run(
            &openssl,
            &["req", "-verify", "-in", path_str(&csr), "-noout"],
            None,
        );
        assert!(
            verify.status.success(),
            "{key_type}: openssl req -verify: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
        assert!(
            String::from_utf8_lossy(&verify.stderr).contains("verify OK"),
            "{key_type}: {}",
            String::from_utf8_lossy(&verify.stderr)
        );
        let (subject, sans) = openssl_csr_names(&openssl, &csr);
        assert_eq!(subject, "CN = mail.example.test", "{key_type}");
        assert_eq!(
            sans, "DNS:mail.example.test, DNS:p256.mail.example.test",
            "{key_type}"
        );
        // The printed record is the key's, by OpenSSL, and the CSR's, by danekit tlsa.
        let record = printed_record(&made.stdout);
        assert_eq!(record, openssl_311_of_key(&openssl, &key), "{key_type}");
        assert_eq!(record, record_of(&csr), "{key_type}");
        assert!(
            made.stdout
                .contains(&format!("set `next: {}`", key.display())),
            "{made}"
        );
        // Never replaced: a second run fails and leaves both files as they were.
        let key_bytes = std::fs::read(&key).unwrap();
        let csr_bytes = std::fs::read(&csr).unwrap();
        let again = danekit(&args);
        again.expect_code(2);
        assert!(
            again
                .stderr
                .contains(&format!("{}: exists; not overwritten", key.display())),
            "{again}"
        );
        assert_eq!(std::fs::read(&key).unwrap(), key_bytes);
        assert_eq!(std::fs::read(&csr).unwrap(), csr_bytes);
    }

    // An existing key (RSA, PKCS#8): only the CSR is written, for that key.
    let out = work.path().join("rsa");
    std::fs::create_dir(&out).unwrap();
    let rsa_key = pki("leaf-rsa2048.key.pem");
    let made = danekit(&[
        "rollover",
        "next-key",
        path_str(&services),
        "--host",
        "mail.example.test.",
        "--key",
        path_str(&rsa_key),
        "--out",
        path_str(&out),
    ]);
    made.expect_code(0);
    assert!(!out.join("mail.example.test.next.key").exists());
    let csr = out.join("mail.example.test.next.csr");
    assert!(
        run(
            &openssl,
            &["req", "-verify", "-in", path_str(&csr), "-noout"],
            None
        )
        .status
        .success()
    );
    assert_eq!(
        printed_record(&made.stdout),
        openssl_311_of_key(&openssl, &rsa_key)
    );
    // The Ed25519 key made above, given back with --key (a new CSR for the same key): the
    // same record.
    let again = work.path().join("ed25519-again");
    std::fs::create_dir(&again).unwrap();
    let ed_key = work.path().join("ed25519/mail.example.test.next.key");
    let made = danekit(&[
        "rollover",
        "next-key",
        path_str(&services),
        "--host",
        "mail",
        "--key",
        path_str(&ed_key),
        "--out",
        path_str(&again),
    ]);
    made.expect_code(0);
    assert_eq!(
        printed_record(&made.stdout),
        openssl_311_of_key(&openssl, &ed_key)
    );
    // A host the services file does not name, or outside its zone: exit 2.
    for host in ["imap", "mail.example.org."] {
        danekit(&[
            "rollover",
            "next-key",
            path_str(&services),
            "--host",
            host,
            "--out",
            path_str(&out),
        ])
        .expect_code(2);
    }

    // certbot's own CSR reader (the one `certbot certonly --csr` uses) takes it, with its names.
    let Some(python) = require_tool("/usr/bin/python3", "python3") else {
        return;
    };
    if require_tool("certbot", "certbot").is_none() {
        return;
    }
    let csr = work.path().join("p256/mail.example.test.next.csr");
    let script = "import sys\nfrom certbot import crypto_util\n\
                  path = sys.argv[1]\n\
                  kind, _, names = crypto_util.import_csr_file(path, open(path, 'rb').read())\n\
                  print(kind, ' '.join(names))\n";
    let out = run_ok(&python, &["-c", script, path_str(&csr)], None);
    // 1 is OpenSSL's FILETYPE_PEM.
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "1 mail.example.test p256.mail.example.test\n"
    );
}

/// A running Pebble (Let's Encrypt's ACME test server) on its own slot, with a TLS certificate
/// from a CA made here, challenges always valid and no nonce rejected.
struct Pebble {
    _process: ProcessGroup,
    dir: TempDir,
    slot: LoopbackSlot,
}

impl Pebble {
    fn start(pebble: &Path, openssl: &Path) -> Pebble {
        start_server("pebble", 4, |slot| {
            let dir = TempDir::new("pebble");
            let root = dir.path();
            let p = |name: &str| root.join(name).display().to_string();
            run_ok(
                openssl,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    &p("ca.key"),
                    "-out",
                    &p("ca.pem"),
                    "-days",
                    "2",
                    "-subj",
                    "/CN=danekit pebble test CA",
                ],
                None,
            );
            run_ok(
                openssl,
                &[
                    "req",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    &p("tls.key"),
                    "-out",
                    &p("tls.csr"),
                    "-subj",
                    &format!("/CN={}", slot.addr),
                ],
                None,
            );
            write_file(
                &root.join("tls.ext"),
                format!(
                    "subjectAltName=IP:{}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
                    slot.addr
                ),
                0o644,
            );
            run_ok(
                openssl,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &p("tls.csr"),
                    "-CA",
                    &p("ca.pem"),
                    "-CAkey",
                    &p("ca.key"),
                    "-CAcreateserial",
                    "-out",
                    &p("tls.pem"),
                    "-days",
                    "2",
                    "-extfile",
                    &p("tls.ext"),
                ],
                None,
            );
            let config = serde_json::json!({"pebble": {
                "listenAddress": slot.socket(0),
                "managementListenAddress": slot.socket(1),
                "certificate": p("tls.pem"),
                "privateKey": p("tls.key"),
                "httpPort": slot.ports[2],
                "tlsPort": slot.ports[3],
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
            }});
            write_file(&root.join("pebble.json"), config.to_string(), 0o644);
            let log = root.join("pebble.log");
            let out = std::fs::File::create(&log).expect("pebble.log");
            let mut cmd = Command::new(pebble);
            cmd.args(["-config", &p("pebble.json"), "-strict=false"])
                .env("PEBBLE_VA_ALWAYS_VALID", "1")
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .current_dir(root)
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("dup"))
                .stderr(out);
            let mut process =
                ProcessGroup::spawn(cmd).map_err(|e| format!("cannot start pebble: {e}"))?;
            let listening = format!("Listening on: {}", slot.socket(0));
            let deadline = Instant::now() + START_LIMIT;
            loop {
                if let Some(status) = process.try_wait() {
                    return Err(format!("pebble exited ({status}):\n{}", read_text(&log)));
                }
                if read_text(&log).contains(&listening)
                    && support::interop::wait_for_listener(
                        slot.addr,
                        slot.ports[0],
                        Duration::from_secs(1),
                    )
                {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(format!("pebble did not listen:\n{}", read_text(&log)));
                }
                thread::sleep(Duration::from_millis(100));
            }
            Ok(Pebble {
                _process: process,
                dir,
                slot: slot.clone(),
            })
        })
    }

    fn directory(&self) -> String {
        format!("https://{}/dir", self.slot.socket(0))
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// `certbot ARGS` against `pebble`, with its configuration, work and log directories under
/// `dir` and `env` added; returns its output.
fn certbot(
    certbot: &Path,
    pebble: &Pebble,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &OsStr)],
) -> std::process::Output {
    let server = pebble.directory();
    let config = dir.join("etc");
    let work = dir.join("work");
    let logs = dir.join("logs");
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--server",
        &server,
        "--manual",
        "--manual-auth-hook",
        "/bin/true",
        "--preferred-challenges",
        "http",
        "--agree-tos",
        "--register-unsafely-without-email",
        "--non-interactive",
        "--config-dir",
        path_str(&config),
        "--work-dir",
        path_str(&work),
        "--logs-dir",
        path_str(&logs),
    ]);
    let ca = pebble.ca();
    let mut vars: Vec<(&str, &OsStr)> = vec![("REQUESTS_CA_BUNDLE", ca.as_os_str())];
    vars.extend(env);
    let mut timed: Vec<&OsStr> = vec![OsStr::new("120"), certbot.as_os_str()];
    timed.extend(all.iter().map(OsStr::new));
    run_with_env("timeout", &timed, None, &vars)
}

/// A stand-in `danekit` in `dir/bin`: appends its arguments to `dir/calls.log` and exits with
/// `$FAKE_DANEKIT_EXIT` (0 when unset).
fn fake_danekit(dir: &Path) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("calls.log");
    let fake = bin.join("danekit");
    write_file(
        &fake,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nexit \"${{FAKE_DANEKIT_EXIT:-0}}\"\n",
            log.display()
        ),
        0o755,
    );
    (fake, log)
}

fn contrib(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(path)
}

#[test]
fn certbot_with_pebble_issues_for_the_next_key_and_runs_the_hooks() {
    let (Some(openssl), Some(pebble_bin), Some(certbot_bin)) = (
        require_tool("openssl", "openssl"),
        require_tool("pebble", "pebble"),
        require_tool("certbot", "certbot"),
    ) else {
        return;
    };
    let started = Instant::now();
    let pebble = Pebble::start(&pebble_bin, &openssl);
    let work = TempDir::new("rollover-certbot");
    let dir = work.path();
    let services = mail_services(dir);
    let made = danekit(&[
        "rollover",
        "next-key",
        path_str(&services),
        "--host",
        "mail",
        "--out",
        path_str(dir),
    ]);
    made.expect_code(0);
    let record = printed_record(&made.stdout);
    let csr = dir.join("mail.example.test.next.csr");

    // certbot certonly --csr: the certificate carries the next key and the CSR's names.
    let out_dir = dir.join("issued");
    std::fs::create_dir(&out_dir).unwrap();
    let cert = out_dir.join("cert.pem");
    let fullchain = out_dir.join("fullchain.pem");
    let chain = out_dir.join("chain.pem");
    let issued = certbot(
        &certbot_bin,
        &pebble,
        dir,
        &[
            "certonly",
            "--csr",
            path_str(&csr),
            "--cert-path",
            path_str(&cert),
            "--chain-path",
            path_str(&chain),
            "--fullchain-path",
            path_str(&fullchain),
        ],
        &[],
    );
    assert!(
        issued.status.success(),
        "certbot certonly --csr: {}\n{}\n--- pebble log:\n{}",
        String::from_utf8_lossy(&issued.stdout),
        String::from_utf8_lossy(&issued.stderr),
        read_text(&pebble.dir.path().join("pebble.log"))
    );
    assert_eq!(record_of(&cert), record);
    assert_eq!(record_of(&fullchain), record);
    let text = String::from_utf8(run_ok(
        &openssl,
        &[
            "x509",
            "-in",
            path_str(&cert),
            "-noout",
            "-ext",
            "subjectAltName",
        ],
        None,
    ))
    .unwrap();
    assert!(
        text.contains("DNS:mail.example.test, DNS:p256.mail.example.test"),
        "{text}"
    );

    // A lineage with the contrib hooks and a stand-in danekit. certbot runs the pre-hook, and
    // renews even when it fails; the deploy hook sees the lineage and reloads only on success.
    let (fake, calls) = fake_danekit(dir);
    let reloaded = dir.join("reloaded");
    let reload = format!("touch '{}'", reloaded.display());
    let pre = contrib("certbot/danekit-pre-hook");
    let deploy = contrib("certbot/danekit-deploy-hook");
    let state = dir.join("state.json");
    let lineage_run = |exit: &str, force: bool| {
        let _ = std::fs::remove_file(&calls);
        let _ = std::fs::remove_file(&reloaded);
        let mut args = vec![
            "certonly",
            "-d",
            "mail.example.test",
            "--key-type",
            "ecdsa",
            "--reuse-key",
            "--pre-hook",
            path_str(&pre),
            "--deploy-hook",
            path_str(&deploy),
        ];
        if force {
            args.push("--force-renewal");
        }
        certbot(
            &certbot_bin,
            &pebble,
            dir,
            &args,
            &[
                ("DANEKIT", fake.as_os_str()),
                ("DANEKIT_SERVICES", services.as_os_str()),
                ("DANEKIT_STATE", state.as_os_str()),
                ("DANEKIT_RELOAD", OsStr::new(&reload)),
                ("FAKE_DANEKIT_EXIT", OsStr::new(exit)),
            ],
        )
    };
    let live = dir.join("etc/live/mail.example.test/fullchain.pem");
    let expected_calls = format!(
        "rollover check {} --state {}\nverify --host mail.example.test --ports 25 --cert {}\n",
        services.display(),
        state.display(),
        live.display()
    );
    // Safe: issued, verified, reloaded, and the clock brought up to date.
    let first = lineage_run("0", false);
    let first_err = String::from_utf8_lossy(&first.stderr).into_owned();
    assert!(first.status.success(), "{first_err}");
    assert_eq!(
        read_text(&calls),
        format!(
            "{expected_calls}rollover check {} --state {}\n",
            services.display(),
            state.display()
        )
    );
    assert!(reloaded.exists(), "{first_err}");
    // Unsafe: certbot reports the pre-hook's failure and renews all the same; the deploy hook
    // fails and does not reload.
    let second = lineage_run("1", true);
    let second_err = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(second.status.success(), "{second_err}");
    assert!(
        second_err.contains("Hook 'pre-hook' reported error code 1"),
        "{second_err}"
    );
    assert!(
        second_err.contains("danekit-pre-hook: the rollover is not safe yet"),
        "{second_err}"
    );
    assert!(
        second_err.contains("Hook 'deploy-hook' reported error code 1"),
        "{second_err}"
    );
    assert_eq!(read_text(&calls), expected_calls);
    assert!(!reloaded.exists());
    assert_eq!(
        std::fs::read_dir(dir.join("etc/archive/mail.example.test"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("cert")))
            .count(),
        2,
        "the renewal happened although the pre-hook failed"
    );
    let mut err = std::io::stderr().lock();
    let _ = std::io::Write::write_fmt(
        &mut err,
        format_args!(
            "interop_rollover: pebble + certbot in {:.1?}\n",
            started.elapsed()
        ),
    );
}

#[test]
fn contrib_hooks_and_units() {
    let Some(sh) = require_tool("sh", "dash") else {
        return;
    };
    let scripts = [
        "certbot/danekit-pre-hook",
        "certbot/danekit-deploy-hook",
        "acme.sh/danekit-acme-hook",
    ];
    for script in scripts {
        let path = contrib(script);
        assert_eq!(mode_of(&path) & 0o111, 0o111, "{script} is executable");
        let out = run(&sh, &[OsStr::new("-n"), path.as_os_str()], None);
        assert!(
            out.status.success(),
            "sh -n {script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if let Some(shellcheck) = require_tool("shellcheck", "shellcheck") {
        for script in scripts {
            let path = contrib(script);
            let out = run(&shellcheck, &[path.as_os_str()], None);
            assert!(
                out.status.success(),
                "shellcheck {script}:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }

    let work = TempDir::new("rollover-contrib");
    let dir = work.path();
    let (fake, calls) = fake_danekit(dir);
    let reloaded = dir.join("reloaded");
    let reload = format!("touch '{}'", reloaded.display());
    let hook = |script: &str, args: &[&str], exit: &str, env: &[(&str, &str)]| {
        let _ = std::fs::remove_file(&calls);
        let _ = std::fs::remove_file(&reloaded);
        let mut vars: Vec<(&str, &OsStr)> = vec![
            ("DANEKIT", fake.as_os_str()),
            ("FAKE_DANEKIT_EXIT", OsStr::new(exit)),
            ("DANEKIT_RELOAD", OsStr::new(&reload)),
        ];
        vars.extend(env.iter().map(|(k, v)| (*k, OsStr::new(*v))));
        let path = contrib(script);
        let out = run_with_env(&path, args, None, &vars);
        (
            out.status.code().unwrap_or(-1),
            std::fs::read_to_string(&calls).unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            reloaded.exists(),
        )
    };
    let no_args: &[&str] = &[];

    // The pre-hook passes danekit's exit code on, with a sentence for each.
    for (exit, says) in [
        ("0", ""),
        ("1", "the rollover is not safe yet"),
        ("3", "cannot tell whether the rollover is safe"),
        ("2", "danekit rollover check failed with exit code 2"),
    ] {
        let (code, log, err, _) = hook(
            "certbot/danekit-pre-hook",
            no_args,
            exit,
            &[
                ("DANEKIT_SERVICES", "/srv/dane/services.yaml"),
                ("DANEKIT_STATE", "/srv/dane/state.json"),
                ("DANEKIT_ARGS", "--resolver 127.0.0.1:53 --timeout 5s"),
            ],
        );
        assert_eq!(code.to_string(), exit, "{err}");
        assert_eq!(
            log,
            "rollover check /srv/dane/services.yaml --state /srv/dane/state.json --resolver 127.0.0.1:53 --timeout 5s\n"
        );
        assert_eq!(err.is_empty(), says.is_empty(), "{err}");
        assert!(err.contains(says), "{err}");
    }
    // Without DANEKIT, the danekit first on PATH.
    let path = std::env::join_paths(
        std::iter::once(dir.join("bin")).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .unwrap();
    for exit in [0, 1] {
        let _ = std::fs::remove_file(&calls);
        let out = Command::new(contrib("certbot/danekit-pre-hook"))
            .env_remove("DANEKIT")
            .env("PATH", &path)
            .env("FAKE_DANEKIT_EXIT", exit.to_string())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(exit));
        assert_eq!(
            std::fs::read_to_string(&calls).unwrap_or_default(),
            "rollover check /etc/danekit/services.yaml --state /var/lib/danekit/rollover.json\n"
        );
    }
    // Defaults.
    let (code, log, _, _) = hook("certbot/danekit-pre-hook", no_args, "0", &[]);
    assert_eq!(code, 0);
    assert_eq!(
        log,
        "rollover check /etc/danekit/services.yaml --state /var/lib/danekit/rollover.json\n"
    );

    // The deploy hook: every renewed name verified against the lineage's full chain; reload
    // only when all pass.
    let live = dir.join("live/mail");
    let live = live.to_str().unwrap();
    let lineage = [
        ("RENEWED_LINEAGE", live),
        ("RENEWED_DOMAINS", "mail.example.test smtp.example.test"),
    ];
    let verify_calls = format!(
        "verify --host mail.example.test --ports 25 --cert {live}/fullchain.pem\n\
         verify --host smtp.example.test --ports 25 --cert {live}/fullchain.pem\n"
    );
    let verify_calls = verify_calls.as_str();
    let (code, log, err, reloaded_now) =
        hook("certbot/danekit-deploy-hook", no_args, "0", &lineage);
    assert_eq!(
        (code, log.as_str(), reloaded_now),
        (0, verify_calls, true),
        "{err}"
    );
    let (code, log, err, reloaded_now) =
        hook("certbot/danekit-deploy-hook", no_args, "1", &lineage);
    assert_eq!(
        (code, log.as_str(), reloaded_now),
        (1, verify_calls, false),
        "{err}"
    );
    assert!(
        err.contains(
            "is not authenticated by the TLSA records of: mail.example.test smtp.example.test"
        ),
        "{err}"
    );
    let mut more = lineage.to_vec();
    more.extend([
        ("DANEKIT_HOSTS", "mx1.example.test"),
        ("DANEKIT_PORTS", "25,465,587"),
        ("DANEKIT_SERVICES", "/srv/dane/services.yaml"),
        ("DANEKIT_STATE", "/srv/dane/state.json"),
    ]);
    let (code, log, err, reloaded_now) = hook("certbot/danekit-deploy-hook", no_args, "0", &more);
    assert_eq!(code, 0, "{err}");
    assert!(reloaded_now);
    assert_eq!(
        log,
        format!(
            "verify --host mx1.example.test --ports 25,465,587 --cert {live}/fullchain.pem\n\
             rollover check /srv/dane/services.yaml --state /srv/dane/state.json\n"
        )
    );
    let (code, log, err, _) = hook("certbot/danekit-deploy-hook", no_args, "0", &[]);
    assert_eq!((code, log.as_str()), (2, ""), "{err}");
    assert!(err.contains("RENEWED_LINEAGE is not set"), "{err}");

    // The acme.sh hook: `pre` fails while unsafe (acme.sh then stops the issue), `reload`
    // verifies $CERT_FULLCHAIN_PATH for $Le_Domain.
    for exit in ["0", "1", "3"] {
        let (code, log, err, _) = hook("acme.sh/danekit-acme-hook", &["pre"], exit, &[]);
        assert_eq!(code.to_string(), exit, "{err}");
        assert_eq!(
            log,
            "rollover check /etc/danekit/services.yaml --state /var/lib/danekit/rollover.json\n"
        );
    }
    let acme = [
        (
            "CERT_FULLCHAIN_PATH",
            "/root/.acme.sh/mail.example.test_ecc/fullchain.cer",
        ),
        ("Le_Domain", "mail.example.test"),
    ];
    let acme_call = "verify --host mail.example.test --ports 25 --cert /root/.acme.sh/mail.example.test_ecc/fullchain.cer\n";
    let (code, log, err, reloaded_now) = hook("acme.sh/danekit-acme-hook", &["reload"], "0", &acme);
    assert_eq!(
        (code, log.as_str(), reloaded_now),
        (0, acme_call, true),
        "{err}"
    );
    let (code, log, err, reloaded_now) = hook("acme.sh/danekit-acme-hook", &["reload"], "1", &acme);
    assert_eq!(
        (code, log.as_str(), reloaded_now),
        (1, acme_call, false),
        "{err}"
    );
    let (code, _, err, _) = hook("acme.sh/danekit-acme-hook", no_args, "0", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("usage: danekit-acme-hook pre|reload"), "{err}");

    // The systemd units load, with the paths of this checkout (systemd-analyze verify also
    // checks that ExecStart and ExecCondition name executables).
    let Some(analyze) = require_tool("systemd-analyze", "systemd") else {
        return;
    };
    let units = dir.join("units");
    std::fs::create_dir_all(units.join("certbot.service.d")).unwrap();
    let service = read_text(&contrib("systemd/danekit-rollover.service"))
        .replace("/usr/local/bin/danekit", danekit_bin());
    write_file(&units.join("danekit-rollover.service"), service, 0o644);
    std::fs::copy(
        contrib("systemd/danekit-rollover.timer"),
        units.join("danekit-rollover.timer"),
    )
    .unwrap();
    // The drop-in, over the certbot.service Debian's certbot ships.
    write_file(
        &units.join("certbot.service"),
        "[Unit]\nDescription=Certbot\n[Service]\nType=oneshot\n\
         ExecStart=/bin/true -q renew --no-random-sleep-on-renew\nPrivateTmp=true\n",
        0o644,
    );
    let dropin = read_text(&contrib("systemd/certbot.service.d/danekit.conf")).replace(
        "/usr/local/lib/danekit/danekit-pre-hook",
        path_str(&contrib("certbot/danekit-pre-hook")),
    );
    write_file(&units.join("certbot.service.d/danekit.conf"), dropin, 0o644);
    for unit in [
        "danekit-rollover.service",
        "danekit-rollover.timer",
        "certbot.service",
    ] {
        let path = units.join(unit);
        let out = run(
            &analyze,
            &[
                OsStr::new("verify"),
                OsStr::new("--man=no"),
                path.as_os_str(),
            ],
            None,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.trim().is_empty(),
            "systemd-analyze verify {unit}: {}\n{err}",
            out.status
        );
    }
}
