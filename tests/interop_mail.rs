//! Interoperability of `danekit tlsa --server` with real mail servers, each started by the test
//! from a temporary directory, with only its own configuration, on an address of 127.0.0.0/8
//! of its own ([`LoopbackSlot`]):
//!
//! - Postfix `smtpd` with STARTTLS (RFC 3207): one service per leaf, compared with the chain
//!   file it serves and with Postfix's own `posttls-finger`; and one service holding an ECDSA
//!   and an RSA chain (`smtpd_tls_chain_files`).
//! - Exim: SMTP with STARTTLS and SMTP with implicit TLS (`tls_on_connect_ports`, RFC 8314).
//! - Dovecot: IMAP STARTTLS (RFC 3501), IMAPS, POP3 STLS (RFC 2595), POP3S.
//!
//! Exim and Dovecot each hold an ECDSA P-256 chain and an RSA-2048 chain for every name, and
//! an ECDSA chain for `sni.example.test` only, chosen by the SNI the client sends (RFC 6066
//! §3). For every service, `openssl s_client` offering one key type's signature schemes at a
//! time says which chain the server presents for that type (or that the handshake fails), and
//! that must be the chain the test configured. danekit must then print, for the default
//! `--key-type all`, the records of every such chain in the order ECDSA, RSA, Ed25519, each
//! with its `key_type`; for `--key-type ecdsa|rsa`, those of that type only; with `--host
//! sni.example.test`, those of the chains presented for that SNI; and `--sni` overrides the
//! name. Each value is computed from openssl's PEM output by openssl pipelines.
//!
//! With `CI=true` a missing server fails the test; without it the test prints
//! `skipped: <test>: …` on stderr. Every comparison is collected, so one failure lists every
//! disagreement, followed by the server's logs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use support::interop::{
    JsonRecord, KeyType, KeyedRecord, LoopbackSlot, ProcessGroup, TempDir, TlsTarget, danekit_bin,
    describe, hex, keyed_records, normalise_hex, openssl_association, openssl_cert_der,
    openssl_cert_spki, openssl_presented_chain, pem_blocks, pem_certificates, pki, records_arg,
    records_list, require_root, require_tool, require_user, run_ok, run_with_env, start_server,
    try_danekit_tlsa_json, wait_for_greeting,
};

/// The name every server is configured for; its leaves name it in their SAN.
const HOST: &str = "mail.example.test";
/// The name of the one name-based certificate.
const SNI_HOST: &str = "sni.example.test";
/// The records asked of danekit for every service: the leaf's SPKI and certificate, and the
/// issuer's SPKI.
const RECORDS: [(u8, u8, u8); 3] = [(3, 1, 1), (3, 0, 1), (2, 1, 1)];
/// How long a server may take to start and greet.
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

/// A chain and its key, as files in a server's directory.
struct ChainFiles {
    key: PathBuf,
    chain: PathBuf,
    /// The certificates of `chain`, leaf first, each PEM block with its armour.
    certs: Vec<String>,
}

/// The three chains Exim and Dovecot hold: the test PKI's P-256 and RSA-2048 leaves with their
/// full chains, and a P-256 leaf for [`SNI_HOST`] made now by rcgen and signed by the test
/// PKI's intermediate.
struct ServerChains {
    ecdsa: ChainFiles,
    rsa: ChainFiles,
    sni: ChainFiles,
}

impl ServerChains {
    /// Writes the keys (mode 0640, group `key_group` when given, so that a server that reads
    /// them after dropping root can) and the chains into `dir`.
    fn write(dir: &Path, key_group: Option<&str>) -> ServerChains {
        let fixture = |name: &str, leaf: &str| {
            let key = dir.join(format!("{name}.key"));
            let chain = dir.join(format!("{name}.pem"));
            let key_pem = std::fs::read(pki(&format!("leaf-{leaf}.key.pem"))).expect("key");
            let chain_path = pki(&format!("leaf-{leaf}.fullchain.pem"));
            write_file(&key, key_pem, 0o640);
            write_file(&chain, std::fs::read(&chain_path).expect("chain"), 0o644);
            ChainFiles {
                key,
                chain,
                certs: pem_certificates(&chain_path),
            }
        };
        let ecdsa = fixture("ecdsa", "p256");
        let rsa = fixture("rsa", "rsa2048");
        let (sni_cert, sni_key) = make_sni_leaf();
        let mut certs = vec![sni_cert];
        certs.extend(pem_certificates(&pki("int-ca.pem")));
        certs.extend(pem_certificates(&pki("root-ca.pem")));
        let sni = ChainFiles {
            key: dir.join("sni.key"),
            chain: dir.join("sni.pem"),
            certs,
        };
        write_file(&sni.key, sni_key, 0o640);
        write_file(&sni.chain, sni.certs.concat(), 0o644);
        if let Some(group) = key_group {
            let keys = [&ecdsa.key, &rsa.key, &sni.key];
            let mut args: Vec<&OsStr> = vec![OsStr::new(group)];
            args.extend(keys.iter().map(|k| k.as_os_str()));
            run_ok("chgrp", &args, None);
        }
        ServerChains { ecdsa, rsa, sni }
    }
}

/// A P-256 leaf for [`SNI_HOST`] only (SAN and CN), EKU serverAuth, signed by the test PKI's
/// intermediate; `(certificate PEM, PKCS#8 key PEM)`.
fn make_sni_leaf() -> (String, String) {
    let ca_key_pem = std::fs::read_to_string(pki("int-ca.key.pem")).expect("int-ca.key.pem");
    let ca_pem = std::fs::read_to_string(pki("int-ca.pem")).expect("int-ca.pem");
    let ca_key = KeyPair::from_pem(&ca_key_pem).expect("int-ca key");
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).expect("int-ca certificate");
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("P-256 key");
    let mut params = CertificateParams::new(vec![SNI_HOST.to_string()]).expect("params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, SNI_HOST);
    dn.push(DnType::OrganizationName, "danekit test");
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params
        .signed_by(&key, &issuer)
        .expect("signing the SNI leaf");
    let pem = pem_blocks(&cert.pem()).concat();
    (pem, key.serialize_pem())
}

/// For each key type in [`KeyType::ALL`] order, the chain a server must present to a client
/// that offers only that type's signature schemes, or `None` when the handshake must fail.
type Presents = [Option<Vec<String>>; 3];

/// The chain openssl received for a key type, or `None` when the handshake failed.
type Received = (KeyType, Option<Vec<String>>);

/// One service to check: how to reach it and what it must present for [`HOST`] and, when it
/// has name-based certificates, for [`SNI_HOST`].
struct Service {
    label: String,
    target: TlsTarget,
    for_host: Presents,
    for_sni: Option<Presents>,
}

/// Values computed by openssl pipelines, kept per certificate, because every service presents
/// the same few certificates.
struct Hashes {
    openssl: PathBuf,
    cache: HashMap<(String, u8, u8), String>,
}

impl Hashes {
    fn new(openssl: &Path) -> Hashes {
        Hashes {
            openssl: openssl.to_path_buf(),
            cache: HashMap::new(),
        }
    }

    /// The association data of selector `s`, matching type `m`, for one PEM certificate.
    fn association(&mut self, pem: &str, s: u8, m: u8) -> String {
        let openssl = &self.openssl;
        self.cache
            .entry((pem.to_string(), s, m))
            .or_insert_with(|| {
                let selected = match s {
                    0 => openssl_cert_der(openssl, pem.as_bytes()),
                    _ => openssl_cert_spki(openssl, pem.as_bytes()),
                };
                openssl_association(openssl, &selected, m)
            })
            .clone()
    }

    /// The records danekit must print for `chains` (key type, chain presented for it): chains
    /// in key-type order, a chain equal to an earlier one folded into it, and for each chain
    /// [`RECORDS`] in order. Usage 3 hashes the leaf; usage 2 the certificate after it
    /// (`--ca 1`, RFC 7671 §5.2).
    fn expected(&mut self, owner: &str, chains: &[(KeyType, &Vec<String>)]) -> Vec<KeyedRecord> {
        let mut seen: Vec<&Vec<String>> = Vec::new();
        let mut records = Vec::new();
        for &(key_type, chain) in chains {
            if seen.contains(&chain) {
                continue;
            }
            seen.push(chain);
            for (u, s, m) in RECORDS {
                let depth = if u == 2 { 1 } else { 0 };
                let data = match chain.get(depth) {
                    Some(pem) => self.association(pem, s, m),
                    None => format!("(no certificate at depth {depth})"),
                };
                records.push((
                    Some(owner.to_string()),
                    Some(key_type.name().to_string()),
                    u,
                    s,
                    m,
                    depth,
                    data,
                ));
            }
        }
        records
    }
}

/// A certificate's subject as openssl prints it, for messages.
fn subject(openssl: &Path, pem: &str) -> String {
    let out = run_ok(
        openssl,
        &["x509", "-noout", "-subject", "-nameopt", "oneline"],
        Some(pem.as_bytes()),
    );
    String::from_utf8_lossy(&out).trim().to_string()
}

fn describe_chain(openssl: &Path, chain: Option<&Vec<String>>) -> String {
    match chain {
        None => "no chain (handshake fails)".to_string(),
        Some(c) => {
            let names: Vec<String> = c.iter().map(|pem| subject(openssl, pem)).collect();
            format!("[{}]", names.join(", "))
        }
    }
}

/// Checks one service; returns the number of comparisons made.
///
/// First the server: for [`HOST`] (and [`SNI_HOST`] when it has name-based certificates) and
/// each key type, the chain `openssl s_client -servername NAME -sigalgs TYPE'S SCHEMES`
/// receives must be exactly the configured one, or the handshake must fail when none is
/// configured. Then danekit, whose records must equal those computed from openssl's chains:
///
/// - `--host mail.example.test` (SNI defaults to `--host`; `--key-type all` by default);
/// - `--key-type ecdsa` and `--key-type rsa`;
/// - `--host sni.example.test`;
/// - `--host mail.example.test --sni sni.example.test --key-type ecdsa` and the reverse:
///   `--sni` overrides the name from `--host`, and the owner name stays `--host`'s.
fn check_service(hashes: &mut Hashes, service: &Service, mismatches: &mut Vec<String>) -> usize {
    let openssl = hashes.openssl.clone();
    let label = &service.label;
    let target = &service.target;
    let mut checked = 0;
    // The chains openssl received, per name and key type (None: the handshake failed).
    let mut received: HashMap<&str, Vec<Received>> = HashMap::new();
    let mut names = vec![(HOST, &service.for_host)];
    if let Some(sni) = &service.for_sni {
        names.push((SNI_HOST, sni));
    }
    for &(name, presents) in &names {
        for (key_type, want) in KeyType::ALL.into_iter().zip(presents) {
            checked += 1;
            let got = openssl_presented_chain(&openssl, target, Some(name), key_type);
            let ok = match (&got, want) {
                (Ok(chain), Some(want)) => chain == want,
                (Err(_), None) => true,
                _ => false,
            };
            if !ok {
                let got_text = match &got {
                    Ok(chain) => describe_chain(&openssl, Some(chain)),
                    Err(e) => format!("no chain: {e}"),
                };
                mismatches.push(format!(
                    "{label}: with SNI {name} and only {} signature schemes, openssl s_client \
                     receives {got_text}\n  expected {}",
                    key_type.name(),
                    describe_chain(&openssl, want.as_ref())
                ));
            }
            received.entry(name).or_default().push((key_type, got.ok()));
        }
    }
    let chains_for = |name: &str, only: Option<KeyType>| -> Vec<(KeyType, &Vec<String>)> {
        received[name]
            .iter()
            .filter(|(k, _)| only.is_none_or(|o| o == *k))
            .filter_map(|(k, c)| c.as_ref().map(|c| (*k, c)))
            .collect()
    };

    let server = target.socket();
    let records = records_arg(&RECORDS);
    let port = target.port;
    // (--host, --sni, --key-type)
    let mut cases: Vec<(&str, Option<&str>, Option<KeyType>)> = vec![
        (HOST, None, None),
        (HOST, None, Some(KeyType::Ecdsa)),
        (HOST, None, Some(KeyType::Rsa)),
    ];
    if service.for_sni.is_some() {
        cases.extend([
            (SNI_HOST, None, None),
            (HOST, Some(SNI_HOST), Some(KeyType::Ecdsa)),
            (SNI_HOST, Some(HOST), Some(KeyType::Ecdsa)),
        ]);
    }
    for (host, sni, key_type) in cases {
        checked += 1;
        let mut args = vec!["--server", &server, "--starttls", target.starttls];
        args.extend(["--host", host, "--records", &records, "--timeout", "10s"]);
        if let Some(sni) = sni {
            args.extend(["--sni", sni]);
        }
        if let Some(k) = key_type {
            args.extend(["--key-type", k.name()]);
        }
        let owner = format!("_{port}._tcp.{host}.");
        let expected = hashes.expected(&owner, &chains_for(sni.unwrap_or(host), key_type));
        let mut shown = vec!["tlsa"];
        shown.extend(&args);
        shown.extend(["-o", "json"]);
        let line = describe(danekit_bin(), &shown);
        match try_danekit_tlsa_json(&args) {
            Err(e) => mismatches.push(format!("{label}: {e}")),
            Ok(report) => {
                let got = keyed_records(&report.records);
                if got != expected {
                    mismatches.push(format!(
                        "{label}: `{line}`\n  danekit (owner, key_type, usage, selector, \
                         matching, depth, data):\n{}\n  expected from openssl s_client:\n{}",
                        show_records(&got),
                        show_records(&expected)
                    ));
                }
            }
        }
    }
    checked
}

/// Checks every service; returns how many comparisons were made and every disagreement.
fn check_services(openssl: &Path, services: &[Service]) -> (usize, Vec<String>) {
    let mut hashes = Hashes::new(openssl);
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for service in services {
        checked += check_service(&mut hashes, service, &mut mismatches);
    }
    (checked, mismatches)
}

fn show_records(records: &[KeyedRecord]) -> String {
    if records.is_empty() {
        return "    (none)".to_string();
    }
    records
        .iter()
        .map(|r| format!("    {r:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Panics with every disagreement and the server's logs.
fn assert_agree(what: &str, checked: usize, mismatches: &[String], logs: &str) {
    assert!(
        mismatches.is_empty(),
        "{what}: {} of {checked} comparisons disagree:\n\n{}\n\n{logs}",
        mismatches.len(),
        mismatches.join("\n\n")
    );
    assert!(checked > 0, "{what}: nothing was compared");
}

/// What `ServerChains` presents to each key type: ECDSA and RSA chains, no Ed25519.
fn dual(chains: &ServerChains) -> Presents {
    [
        Some(chains.ecdsa.certs.clone()),
        Some(chains.rsa.certs.clone()),
        None,
    ]
}

// ---------------------------------------------------------------------------------------------
// Exim

/// The Exim binary: `$DANEKIT_EXIM` when set, else the copy `.ci/run` extracts to
/// `/opt/danekit-exim`, else `exim4` from `PATH` or the sbin directories.
fn find_exim() -> Option<PathBuf> {
    const EXTRACTED: &str = "/opt/danekit-exim/usr/sbin/exim4";
    const HOW: &str = "exim4-daemon-light; .ci/run extracts it to /opt/danekit-exim, or set \
                       DANEKIT_EXIM=/path/to/exim4";
    if let Some(path) = std::env::var_os("DANEKIT_EXIM") {
        return require_tool(path.to_str().expect("DANEKIT_EXIM is UTF-8"), HOW);
    }
    if Path::new(EXTRACTED).exists() {
        return require_tool(EXTRACTED, HOW);
    }
    require_tool("exim4", HOW)
}

/// An Exim daemon (`exim4 -C FILE -bdf`) in its own process group, serving SMTP with STARTTLS
/// on the slot's first port and SMTP with implicit TLS on its second.
struct Exim {
    server: ProcessGroup,
    dir: TempDir,
    slot: LoopbackSlot,
    chains: ServerChains,
}

impl Exim {
    fn logs(&self) -> String {
        format!(
            "--- Exim (process group {}) ---\n{}",
            self.server.id(),
            exim_logs(self.dir.path())
        )
    }
}

fn exim_logs(dir: &Path) -> String {
    format!(
        "--- Exim mainlog ---\n{}\n--- Exim paniclog ---\n{}\n--- Exim stdout/stderr ---\n{}",
        read_text(&dir.join("log/mainlog")),
        read_text(&dir.join("log/paniclog")),
        read_text(&dir.join("exim.out"))
    )
}

/// The user Debian's exim4 is built for (`EXIM_USER=ref:Debian-exim`).
const EXIM_USER: &str = "Debian-exim";

/// Starts Exim from a temporary directory, with only the configuration written here.
///
/// The recipe, for Debian's `exim4-daemon-light` extracted from its package rather than
/// installed (it conflicts with Postfix):
///
/// - The binary looks up its compiled-in run-time user `Debian-exim` before it reads any
///   configuration and exits when that user is missing, so the user must exist (`.ci/run`
///   creates it, as the package's own scripts would). `exim_user`/`exim_group` name it again.
/// - `-C FILE` replaces the compiled-in `/etc/exim4/...` list; Exim run by root keeps its
///   privilege for an explicit `-C` (TRUSTED_CONFIG_LIST only matters for other callers), and
///   the file must be owned by root and not writable by others.
/// - `-bdf` runs the daemon in the foreground, so the process group stays ours.
///   `daemon_startup_retries = 0` makes a failed bind end the daemon at once instead of
///   retrying for minutes.
/// - `-oX PORTS` (the same ports as `daemon_smtp_ports`) means no pid file: a daemon with a
///   pid file answers SIGTERM by exec'ing its compiled-in path, `/usr/sbin/exim4 -oPX`, to
///   remove it, which would run another binary (or none) than the one under test.
/// - spool and logs live in the directory; the spool and log directories belong to
///   `Debian-exim`, because Exim writes them after dropping root, and so it also reads the
///   keys: they are group `Debian-exim`, mode 0640. `keep_environment =` keeps Exim from
///   warning that it purges the environment.
/// - TLS: `tls_certificate`/`tls_privatekey` are lists (Exim ≥ 4.92), and GnuTLS chooses the
///   certificate for the client's signature schemes. The name-based certificate is an
///   expansion on `$tls_in_sni`, evaluated once the ClientHello's SNI is known.
fn start_exim(exim: &Path) -> Exim {
    start_server("Exim", 2, |slot| {
        let dir = TempDir::new("exim");
        let root = dir.path();
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for d in ["spool", "log"] {
            std::fs::create_dir(root.join(d)).expect("directory");
        }
        let owner = format!("{EXIM_USER}:{EXIM_USER}");
        let (spool, log) = (root.join("spool"), root.join("log"));
        run_ok(
            "chown",
            &[OsStr::new(&owner), spool.as_os_str(), log.as_os_str()],
            None,
        );
        let chains = ServerChains::write(root, Some(EXIM_USER));
        let (smtp, smtps) = (slot.ports[0], slot.ports[1]);
        let c = &chains;
        let conf = format!(
            "exim_user = {EXIM_USER}\n\
             exim_group = {EXIM_USER}\n\
             keep_environment =\n\
             primary_hostname = {HOST}\n\
             smtp_banner = $primary_hostname ESMTP {token}\n\
             spool_directory = {spool}\n\
             log_file_path = {log}/%slog\n\
             local_interfaces = {addr}\n\
             daemon_smtp_ports = {smtp} : {smtps}\n\
             tls_on_connect_ports = {smtps}\n\
             daemon_startup_retries = 0\n\
             tls_advertise_hosts = *\n\
             tls_certificate = ${{if eq{{$tls_in_sni}}{{{SNI_HOST}}}{{{sni_chain}}}\
             {{{ecdsa_chain} : {rsa_chain}}}}}\n\
             tls_privatekey = ${{if eq{{$tls_in_sni}}{{{SNI_HOST}}}{{{sni_key}}}\
             {{{ecdsa_key} : {rsa_key}}}}}\n",
            token = slot.token,
            spool = spool.display(),
            log = log.display(),
            addr = slot.addr,
            sni_chain = c.sni.chain.display(),
            sni_key = c.sni.key.display(),
            ecdsa_chain = c.ecdsa.chain.display(),
            ecdsa_key = c.ecdsa.key.display(),
            rsa_chain = c.rsa.chain.display(),
            rsa_key = c.rsa.key.display(),
        );
        let conf_path = root.join("exim.conf");
        write_file(&conf_path, conf, 0o644);
        let out = std::fs::File::create(root.join("exim.out")).expect("exim.out");
        let mut cmd = Command::new(exim);
        cmd.arg("-C")
            .arg(&conf_path)
            .arg("-bdf")
            .arg("-oX")
            .arg(format!("{smtp}:{smtps}"))
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out);
        let mut server = ProcessGroup::spawn(cmd)
            .map_err(|e| format!("cannot start {}: {e}", exim.display()))?;
        let ready = wait_for_greeting(slot.addr, smtp, &slot.token, START_LIMIT, || {
            server.try_wait().map(|s| s.to_string())
        });
        // The daemon binds every port before it accepts on any, so a greeting on the first
        // proves the second is ours too, as long as the daemon is still running.
        let ready = ready.and_then(|()| match server.try_wait() {
            Some(status) => Err(format!("the daemon exited after greeting ({status})")),
            None => Ok(()),
        });
        match ready {
            Ok(()) => Ok(Exim {
                server,
                dir,
                slot: slot.clone(),
                chains,
            }),
            Err(e) => {
                drop(server);
                Err(format!("{e}\n{}", exim_logs(root)))
            }
        }
    })
}

/// A real Exim with an ECDSA and an RSA chain and a name-based certificate: SMTP with STARTTLS
/// and SMTP with implicit TLS. See the module documentation for what is compared.
#[test]
fn exim_smtp_chains_match() {
    let Some(exim) = find_exim() else {
        return;
    };
    let Some(openssl) = require_tool("openssl", "openssl") else {
        return;
    };
    if !require_root("running the Exim daemon") {
        return;
    }
    if !require_user(EXIM_USER, "Debian's exim4 runs as it; .ci/run creates it") {
        return;
    }
    let exim = start_exim(&exim);
    let chains = &exim.chains;
    let sni = [Some(chains.sni.certs.clone()), None, None];
    let services = [
        ("Exim SMTP STARTTLS", 0, "smtp"),
        ("Exim SMTP implicit TLS", 1, "none"),
    ]
    .map(|(label, i, starttls)| Service {
        label: label.to_string(),
        target: TlsTarget {
            addr: exim.slot.addr,
            port: exim.slot.ports[i],
            starttls,
        },
        for_host: dual(chains),
        for_sni: Some(sni.clone()),
    });
    let (checked, mismatches) = check_services(&openssl, &services);
    let logs = exim.logs();
    drop(exim);
    assert_agree("Exim", checked, &mismatches, &logs);
}

// ---------------------------------------------------------------------------------------------
// Dovecot

/// A Dovecot master (`dovecot -F -c FILE`) in its own process group, with IMAP, IMAPS, POP3
/// and POP3S on the slot's four ports.
struct Dovecot {
    server: ProcessGroup,
    dir: TempDir,
    slot: LoopbackSlot,
    chains: ServerChains,
}

impl Dovecot {
    fn logs(&self) -> String {
        format!(
            "--- Dovecot (process group {}) ---\n{}",
            self.server.id(),
            dovecot_logs(self.dir.path())
        )
    }
}

fn dovecot_logs(dir: &Path) -> String {
    format!(
        "--- Dovecot log ---\n{}\n--- Dovecot stdout/stderr ---\n{}",
        read_text(&dir.join("dovecot.log")),
        read_text(&dir.join("dovecot.out"))
    )
}

/// Starts Dovecot from a temporary directory with only the configuration written here:
/// `-c FILE` (Dovecot's `doveconf` then reads that file and nothing of `/etc/dovecot`), `-F` to
/// stay in the foreground, and `base_dir`/`state_dir`/`log_path` in the directory so that
/// nothing of a system Dovecot is shared. Dovecot reads the `<file` certificates and keys as
/// root in its config process. `ssl_cert`/`ssl_key` hold the ECDSA chain and
/// `ssl_alt_cert`/`ssl_alt_key` the RSA one; the `local_name` block replaces `ssl_cert` for
/// [`SNI_HOST`] (and inherits `ssl_alt_cert`). No mail is served: the static passdb and
/// userdb are there because Dovecot refuses to start without them.
fn start_dovecot(dovecot: &Path) -> Dovecot {
    start_server("Dovecot", 4, |slot| {
        let dir = TempDir::new("dovecot");
        let root = dir.path();
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let chains = ServerChains::write(root, None);
        let c = &chains;
        let p = &slot.ports;
        let conf = format!(
            "base_dir = {root}/run\n\
             state_dir = {root}/state\n\
             log_path = {root}/dovecot.log\n\
             instance_name = {token}\n\
             protocols = imap pop3\n\
             listen = {addr}\n\
             login_greeting = {token}\n\
             ssl = yes\n\
             ssl_cert = <{ecdsa_chain}\n\
             ssl_key = <{ecdsa_key}\n\
             ssl_alt_cert = <{rsa_chain}\n\
             ssl_alt_key = <{rsa_key}\n\
             local_name {SNI_HOST} {{\n  ssl_cert = <{sni_chain}\n  ssl_key = <{sni_key}\n}}\n\
             passdb {{\n  driver = static\n  args = password=unused-{token}\n}}\n\
             userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home=/nonexistent\n}}\n\
             service imap-login {{\n\
             \x20 inet_listener imap {{\n    port = {imap}\n  }}\n\
             \x20 inet_listener imaps {{\n    port = {imaps}\n    ssl = yes\n  }}\n\
             }}\n\
             service pop3-login {{\n\
             \x20 inet_listener pop3 {{\n    port = {pop3}\n  }}\n\
             \x20 inet_listener pop3s {{\n    port = {pop3s}\n    ssl = yes\n  }}\n\
             }}\n",
            root = root.display(),
            token = slot.token,
            addr = slot.addr,
            ecdsa_chain = c.ecdsa.chain.display(),
            ecdsa_key = c.ecdsa.key.display(),
            rsa_chain = c.rsa.chain.display(),
            rsa_key = c.rsa.key.display(),
            sni_chain = c.sni.chain.display(),
            sni_key = c.sni.key.display(),
            imap = p[0],
            imaps = p[1],
            pop3 = p[2],
            pop3s = p[3],
        );
        let conf_path = root.join("dovecot.conf");
        write_file(&conf_path, conf, 0o644);
        let out = std::fs::File::create(root.join("dovecot.out")).expect("dovecot.out");
        let mut cmd = Command::new(dovecot);
        cmd.arg("-F")
            .arg("-c")
            .arg(&conf_path)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out);
        let mut server = ProcessGroup::spawn(cmd)
            .map_err(|e| format!("cannot start {}: {e}", dovecot.display()))?;
        // The master binds every listener before it starts a login process, so greetings on
        // IMAP and POP3 prove that IMAPS and POP3S are ours too, while it still runs.
        let mut ready = Ok(());
        for port in [p[0], p[2]] {
            ready = ready.and_then(|()| {
                wait_for_greeting(slot.addr, port, &slot.token, START_LIMIT, || {
                    server.try_wait().map(|s| s.to_string())
                })
            });
        }
        let ready = ready.and_then(|()| match server.try_wait() {
            Some(status) => Err(format!("the master exited after greeting ({status})")),
            None => Ok(()),
        });
        match ready {
            Ok(()) => Ok(Dovecot {
                server,
                dir,
                slot: slot.clone(),
                chains,
            }),
            Err(e) => {
                drop(server);
                Err(format!("{e}\n{}", dovecot_logs(root)))
            }
        }
    })
}

/// A real Dovecot with an ECDSA and an RSA chain and a name-based certificate: IMAP STARTTLS,
/// IMAPS, POP3 STLS and POP3S. See the module documentation for what is compared.
#[test]
fn dovecot_imap_pop3_chains_match() {
    let Some(dovecot) = require_tool("dovecot", "dovecot-core") else {
        return;
    };
    if require_tool("/usr/lib/dovecot/imap-login", "dovecot-imapd").is_none()
        || require_tool("/usr/lib/dovecot/pop3-login", "dovecot-pop3d").is_none()
    {
        return;
    }
    let Some(openssl) = require_tool("openssl", "openssl") else {
        return;
    };
    if !require_root("running the Dovecot master") {
        return;
    }
    let dovecot = start_dovecot(&dovecot);
    let chains = &dovecot.chains;
    // The local_name block replaces ssl_cert only, so a client that sends the SNI name and
    // offers only RSA schemes still gets the RSA chain of ssl_alt_cert.
    let sni = [
        Some(chains.sni.certs.clone()),
        Some(chains.rsa.certs.clone()),
        None,
    ];
    let services = [
        ("Dovecot IMAP STARTTLS", 0, "imap"),
        ("Dovecot IMAPS", 1, "none"),
        ("Dovecot POP3 STLS", 2, "pop3"),
        ("Dovecot POP3S", 3, "none"),
    ]
    .map(|(label, i, starttls)| Service {
        label: label.to_string(),
        target: TlsTarget {
            addr: dovecot.slot.addr,
            port: dovecot.slot.ports[i],
            starttls,
        },
        for_host: dual(chains),
        for_sni: Some(sni.clone()),
    });
    let (checked, mismatches) = check_services(&openssl, &services);
    let logs = dovecot.logs();
    drop(dovecot);
    assert_agree("Dovecot", checked, &mismatches, &logs);
}

// ---------------------------------------------------------------------------------------------
// Postfix

/// The key types of the Postfix services with one chain each.
const POSTFIX_LEAVES: [&str; 2] = ["p256", "rsa2048"];

/// A Postfix instance run from a temporary directory by `master -c DIR -d` in its own process
/// group. Dropping it stops the whole group (`master` passes SIGTERM on to its children) before
/// the directory is removed.
struct Postfix {
    server: ProcessGroup,
    dir: TempDir,
    slot: LoopbackSlot,
}

impl Postfix {
    fn logs(&self) -> String {
        format!(
            "--- Postfix (process group {}) ---\n{}",
            self.server.id(),
            postfix_logs(self.dir.path())
        )
    }

    /// The configuration directory, for `MAIL_CONFIG`.
    fn config_dir(&self) -> &Path {
        self.dir.path()
    }
}

fn postfix_logs(dir: &Path) -> String {
    format!(
        "--- maillog ---\n{}\n--- master stdout/stderr ---\n{}",
        read_text(&dir.join("maillog")),
        read_text(&dir.join("master.out"))
    )
}

/// Writes the file `smtpd_tls_chain_files` wants for one leaf of the test PKI: its private key
/// followed by its full chain, leaf first.
fn postfix_chain_file(root: &Path, leaf: &str) -> PathBuf {
    let mut pem = std::fs::read(pki(&format!("leaf-{leaf}.key.pem"))).expect("key file");
    pem.extend(std::fs::read(pki(&format!("leaf-{leaf}.fullchain.pem"))).expect("chain file"));
    let file = root.join(format!("{leaf}.key-chain.pem"));
    write_file(&file, pem, 0o600);
    file
}

/// Starts `master -c DIR -d` with three STARTTLS smtpd services on the slot's ports: one per
/// leaf of [`POSTFIX_LEAVES`], and a third with both chains (ECDSA first).
///
/// Only the configuration written here is used: `master -c DIR` for the daemons (master passes
/// `MAIL_CONFIG` on to them) and `MAIL_CONFIG=DIR` for every other Postfix command the test
/// runs, so the test also works where `/etc/postfix/main.cf` does not exist (Debian's "No
/// configuration"). `meta_directory` points into DIR as well, so not even the
/// `dynamicmaps.cf` of the host is read.
fn start_postfix(master: &Path) -> Postfix {
    start_server("Postfix", 3, |slot| {
        let dir = TempDir::new("postfix");
        let root = dir.path();
        // Postfix's daemons run as the `postfix` user and must reach the queue and data
        // directories, whatever the umask made of the temporary directory.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let queue = root.join("queue");
        let data = root.join("data");
        for d in ["pid", "private", "public"] {
            std::fs::create_dir_all(queue.join(d)).expect("queue directory");
        }
        std::fs::create_dir(&data).expect("data directory");
        run_ok(
            "chown",
            &[
                OsStr::new("postfix:postfix"),
                queue.join("private").as_os_str(),
                queue.join("public").as_os_str(),
                data.as_os_str(),
            ],
            None,
        );
        let files: Vec<PathBuf> = POSTFIX_LEAVES
            .iter()
            .map(|leaf| postfix_chain_file(root, leaf))
            .collect();
        let dual = files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut master_cf = String::new();
        let chain_files = files.iter().map(|f| f.display().to_string()).chain([dual]);
        for (port, chain_files) in slot.ports.iter().zip(chain_files) {
            // smtpd_tls_chain_files: each file holds a private key followed by its chain.
            let _ = writeln!(
                master_cf,
                "{addr}:{port} inet n - n - - smtpd\n  -o smtpd_tls_chain_files={chain_files}",
                addr = slot.addr
            );
        }
        master_cf.push_str(
            "tlsmgr unix - - n 1000? 1 tlsmgr\n\
             anvil unix - - n - 1 anvil\n\
             postlog unix-dgram n - n - 1 postlogd\n",
        );
        // maillog_file needs its directory in maillog_file_prefixes, or Postfix will not log
        // and master exits silently. inet_interfaces must name addresses that an interface
        // has, and lo has only 127.0.0.1: the slot's address is named in master.cf alone,
        // and master binds it as given.
        let main_cf = format!(
            "compatibility_level = 3.6\n\
             meta_directory = {root}\n\
             queue_directory = {queue}\n\
             data_directory = {data}\n\
             maillog_file = {root}/maillog\n\
             maillog_file_prefixes = {root}\n\
             myhostname = {HOST}\n\
             mydomain = example.test\n\
             smtpd_banner = $myhostname ESMTP {token}\n\
             mydestination =\n\
             inet_interfaces = loopback-only\n\
             inet_protocols = ipv4\n\
             smtpd_peername_lookup = no\n\
             smtpd_tls_security_level = may\n\
             smtpd_relay_restrictions = reject\n\
             alias_maps =\n\
             alias_database =\n\
             local_recipient_maps =\n",
            queue = queue.display(),
            data = data.display(),
            root = root.display(),
            token = slot.token,
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
        let ready = ready.and_then(|()| match server.try_wait() {
            Some(status) => Err(format!("master exited after greeting ({status})")),
            None => Ok(()),
        });
        match ready {
            Ok(()) => Ok(Postfix {
                server,
                dir,
                slot: slot.clone(),
            }),
            Err(e) => {
                drop(server);
                Err(format!("{e}\n{}", postfix_logs(root)))
            }
        }
    })
}

/// One certificate of the chain Postfix presents, as `posttls-finger -C` prints it.
struct FingerCert {
    /// `cert digest=`: the digest of the DER certificate (selector 0).
    cert_digest: String,
    /// `pkey digest=`: the digest of the SubjectPublicKeyInfo (selector 1).
    pkey_digest: String,
    pem: String,
}

/// Postfix's view of the chain it presents at `target`, leaf first, with digests by `alg`.
/// `posttls-finger` reads `main.cf` from `MAIL_CONFIG`, here the test's own directory.
fn posttls_finger_chain(
    finger: &Path,
    config_dir: &Path,
    target: &TlsTarget,
    alg: &str,
) -> Result<Vec<FingerCert>, String> {
    let dest = format!("[{}]:{}", target.addr, target.port);
    let args = [
        "-t", "5", "-T", "5", "-c", "-C", "-l", "may", "-d", alg, &dest,
    ];
    let line = format!(
        "MAIL_CONFIG={} {}",
        config_dir.display(),
        describe(finger, &args)
    );
    let out = run_with_env(
        finger,
        &args,
        None,
        &[("MAIL_CONFIG", config_dir.as_os_str())],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "`{line}` failed with {}:\n{text}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut chain = Vec::new();
    let mut cert_digest = None;
    let mut pkey_digest = None;
    let mut pem = String::new();
    for l in text.lines().map(str::trim) {
        if let Some(d) = l.strip_prefix("cert digest=") {
            cert_digest = Some(normalise_hex(d));
        } else if let Some(d) = l.strip_prefix("pkey digest=") {
            pkey_digest = Some(normalise_hex(d));
        } else if l == "-----BEGIN CERTIFICATE-----" || !pem.is_empty() {
            pem.push_str(l);
            pem.push('\n');
            if l == "-----END CERTIFICATE-----" {
                let (Some(cert_digest), Some(pkey_digest)) =
                    (cert_digest.take(), pkey_digest.take())
                else {
                    return Err(format!(
                        "`{line}` printed a certificate without digests:\n{text}"
                    ));
                };
                let pem = std::mem::take(&mut pem);
                chain.push(FingerCert {
                    cert_digest,
                    pkey_digest,
                    pem,
                });
            }
        }
    }
    if chain.is_empty() {
        return Err(format!("`{line}` printed no chain:\n{text}"));
    }
    Ok(chain)
}

/// The fields of a record that do not name its input or the handshake's key type.
type RecordValues = (Option<String>, u32, u8, u8, u8, String, usize);

fn record_values(records: &[JsonRecord]) -> Vec<RecordValues> {
    records
        .iter()
        .map(|r| {
            let data = normalise_hex(&r.data);
            let (u, s, m) = (r.usage, r.selector, r.matching_type);
            (r.owner.clone(), r.ttl, u, s, m, data, r.depth)
        })
        .collect()
}

/// Compares one single-chain Postfix service with danekit and posttls-finger; returns the
/// number of comparisons made. danekit's `key_type` must be the leaf's.
fn compare_with_postfix(
    postfix: &Postfix,
    leaf: &str,
    target: &TlsTarget,
    finger: &Path,
    openssl: &Path,
    mismatches: &mut Vec<String>,
) -> usize {
    let chain_file = pki(&format!("leaf-{leaf}.fullchain.pem"));
    let server = target.socket();
    let port_text = target.port.to_string();
    let config = postfix.config_dir();
    let (sha256, sha512) = match (
        posttls_finger_chain(finger, config, target, "sha256"),
        posttls_finger_chain(finger, config, target, "sha512"),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            mismatches.push(format!("{leaf}: {e}"));
            return 1;
        }
    };
    let mut checked = 1;
    let presented: Vec<&str> = sha256.iter().map(|c| c.pem.as_str()).collect();
    if presented != pem_certificates(&chain_file) {
        mismatches.push(format!(
            "{leaf}: the {} certificates Postfix presents differ from {}:\n{}",
            presented.len(),
            chain_file.display(),
            presented.concat()
        ));
    }
    let list = records_list(&[3, 2], &[0, 1], &[0, 1, 2]);
    let records = records_arg(&list);
    for ca in ["1", "root"] {
        let common = ["--host", HOST, "--records", &records, "--ca", ca];
        let mut live_args = vec!["--server", &server, "--starttls", "smtp", "--timeout", "5s"];
        live_args.extend(common);
        let mut file_args = vec![path_str(&chain_file), "--port", &port_text];
        file_args.extend(common);
        checked += 1;
        let (live, file) = match (
            try_danekit_tlsa_json(&live_args),
            try_danekit_tlsa_json(&file_args),
        ) {
            (Ok(live), Ok(file)) => (live.records, file.records),
            (Err(e), _) | (_, Err(e)) => {
                mismatches.push(format!("{leaf} --ca {ca}: {e}"));
                continue;
            }
        };
        // One handshake per key type, and only the ECDSA one (P-256 leaf) or the RSA one can
        // succeed on a service with one chain.
        let want_type = if leaf == "rsa2048" { "rsa" } else { "ecdsa" };
        if let Some(r) = live
            .iter()
            .find(|r| r.key_type.as_deref() != Some(want_type))
        {
            mismatches.push(format!(
                "{leaf} --ca {ca}: danekit from {server} (Postfix) gives key_type {:?}, \
                 expected {want_type:?}: {r:?}",
                r.key_type
            ));
        }
        if record_values(&live) != record_values(&file) {
            mismatches.push(format!(
                "{leaf} --ca {ca}: danekit from {server} (Postfix):\n{live:#?}\n\
                 danekit from {}:\n{file:#?}",
                chain_file.display()
            ));
            continue;
        }
        for r in &live {
            checked += 1;
            let (Some(at256), Some(at512)) = (sha256.get(r.depth), sha512.get(r.depth)) else {
                mismatches.push(format!(
                    "{leaf}: Postfix presents no certificate at depth {}",
                    r.depth
                ));
                continue;
            };
            let expected = match (r.matching_type, r.selector) {
                (1, 0) => at256.cert_digest.clone(),
                (1, _) => at256.pkey_digest.clone(),
                (2, 0) => at512.cert_digest.clone(),
                (2, _) => at512.pkey_digest.clone(),
                (_, 0) => hex(&openssl_cert_der(openssl, at256.pem.as_bytes())),
                (_, _) => hex(&openssl_cert_spki(openssl, at256.pem.as_bytes())),
            };
            if normalise_hex(&r.data) != expected {
                mismatches.push(format!(
                    "{leaf} --ca {ca}: {} {} {} at depth {}\n  danekit from {server}: {}\n  \
                     posttls-finger:          {expected}",
                    r.usage, r.selector, r.matching_type, r.depth, r.data
                ));
            }
        }
    }
    checked
}

/// A real Postfix smtpd with STARTTLS (RFC 3207) on loopback.
///
/// One service per leaf, each serving that leaf's full chain: danekit's records from the
/// server (`--server … --starttls smtp`, usages 3 and 2 with `--ca 1` and `--ca root`, every
/// selector and matching type) equal danekit's records from the chain file; the certificates
/// Postfix presents are those of the file; and each SHA2-256 and SHA2-512 value equals the
/// `cert digest` (selector 0) or `pkey digest` (selector 1) that Postfix's `posttls-finger`
/// prints for the same depth, and each Full value the certificate posttls-finger prints.
///
/// A third service holds both chains (`smtpd_tls_chain_files = ECDSA, RSA`): danekit must
/// report both, compared with `openssl s_client` as for Exim and Dovecot (Postfix has no
/// name-based certificate here).
#[test]
fn postfix_smtpd_starttls_chain_matches() {
    let Some(master) = require_tool("/usr/lib/postfix/sbin/master", "postfix") else {
        return;
    };
    let Some(finger) = require_tool("posttls-finger", "postfix") else {
        return;
    };
    let Some(openssl) = require_tool("openssl", "openssl") else {
        return;
    };
    if !require_root("running Postfix's master(8) daemon") {
        return;
    }
    let postfix = start_postfix(&master);
    let target = |i: usize| TlsTarget {
        addr: postfix.slot.addr,
        port: postfix.slot.ports[i],
        starttls: "smtp",
    };
    let mut mismatches = Vec::new();
    let mut checked = 0;
    for (i, leaf) in POSTFIX_LEAVES.iter().enumerate() {
        checked += compare_with_postfix(
            &postfix,
            leaf,
            &target(i),
            &finger,
            &openssl,
            &mut mismatches,
        );
    }
    let chain = |leaf: &str| {
        Some(pem_certificates(&pki(&format!(
            "leaf-{leaf}.fullchain.pem"
        ))))
    };
    let both = Service {
        label: "Postfix smtpd with ECDSA and RSA chains".to_string(),
        target: target(2),
        for_host: [chain("p256"), chain("rsa2048"), None],
        for_sni: None,
    };
    let mut hashes = Hashes::new(&openssl);
    checked += check_service(&mut hashes, &both, &mut mismatches);
    let logs = postfix.logs();
    drop(postfix);
    assert_agree("Postfix", checked, &mismatches, &logs);
}

/// The slots that keep external servers apart: each has an address of its own in 127.0.0.0/8
/// (never 127.0.0.x), ports below the ephemeral range, and a unique greeting token; and
/// `start_server` moves to another slot when a start fails.
#[test]
fn loopback_slots_are_distinct_and_retried() {
    let slots: Vec<LoopbackSlot> = (0..20).map(|i| LoopbackSlot::new(4, i % 4)).collect();
    for (i, a) in slots.iter().enumerate() {
        let [o0, o1, _, o3] = a.addr.octets();
        assert!(o0 == 127 && o1 != 0 && (2..255).contains(&o3), "{a:?}");
        assert!(
            a.ports.iter().all(|p| (20_000..32_000).contains(p)),
            "{a:?}"
        );
        assert_eq!(a.ports.len(), 4, "{a:?}");
        for b in &slots[i + 1..] {
            assert_ne!(a.addr, b.addr, "two slots share an address");
            assert_ne!(a.token, b.token, "two slots share a token");
        }
    }
    let mut tried: Vec<LoopbackSlot> = Vec::new();
    let started = start_server("a server that fails twice", 2, |slot| {
        tried.push(slot.clone());
        if tried.len() < 3 {
            Err("bind: Address already in use".to_string())
        } else {
            Ok(slot.clone())
        }
    });
    assert_eq!(tried.len(), 3);
    assert_ne!(tried[0].addr, tried[1].addr);
    assert_ne!(tried[0].ports, tried[1].ports);
    assert_eq!(started.token, tried[2].token);
}
