//! `danekit rollover next-key`: the next key of a host (made here, or an existing one), a CSR
//! for the names its certificate carries now, and the `3 1 1` records to pre-publish (RFC 7671
//! §8.1). The key file is created with mode 0600 and never replaces an existing file.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use hickory_proto::rr::Name;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use super::output::write_stdout;
use super::{Context, Exit, Failure};
use crate::addr::name_text;
use crate::config;
use crate::env::{self, Env};
use crate::pki::{self, Loaded};
use crate::tlsa::report::{self as records, Request};
use crate::tlsa::{CaChoice, Matching, ParamSet, Selector, Usage, owner_name};

/// The type of a new key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewKey {
    P256,
    P384,
    Ed25519,
}

impl NewKey {
    fn generate(self) -> Result<KeyPair, rcgen::Error> {
        KeyPair::generate_for(match self {
            NewKey::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            NewKey::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            NewKey::Ed25519 => &rcgen::PKCS_ED25519,
        })
    }
}

pub fn run(
    services: &Path,
    host: &str,
    key: Option<&Path>,
    key_type: NewKey,
    out: Option<&Path>,
    ctx: &Context,
    env: &mut dyn Env,
) -> Result<Exit, Failure> {
    let file = config::load(services).map_err(Failure::input)?;
    // As in the services file: without a final dot, relative to the zone.
    let host: Name = config::resolve_host(host, file.zone.as_ref())
        .map_err(|e| Failure::input(anyhow::anyhow!("{}: --host: {e}", file.name)))?;
    let host_text = name_text(&host);
    let mine: Vec<&config::Service> = file
        .services
        .iter()
        .filter(|s| name_text(&s.host).eq_ignore_ascii_case(&host_text))
        .collect();
    if mine.is_empty() {
        return Err(Failure::input(anyhow::anyhow!(
            "{}: no service has host {host_text}",
            file.name
        )));
    }
    // The CSR names what the certificate names now: the host first, then its other DNS names.
    let bare = host_text.trim_end_matches('.').to_owned();
    let mut names = vec![bare.clone()];
    for service in &mine {
        if let Loaded::Chain(chain) = &service.cert.loaded
            && let Some(leaf) = chain.first()
        {
            for n in &leaf.dns_names {
                let n = n.trim_end_matches('.').to_ascii_lowercase();
                if !names.contains(&n) && crate::addr::parse_host_name(&n).is_ok() {
                    names.push(n);
                }
            }
        }
    }
    let (pair, made) = match key {
        Some(path) => {
            let bytes = env::read_file(path, 1024 * 1024)
                .map_err(|e| Failure::input(anyhow::anyhow!("{}: {e}", path.display())))?;
            let text = String::from_utf8(bytes).map_err(|_| {
                Failure::input(anyhow::anyhow!("{}: not a PEM file", path.display()))
            })?;
            let pair = KeyPair::from_pem(&text).map_err(|e| {
                Failure::input(anyhow::anyhow!(
                    "{}: cannot use this key ({e}); give a PKCS#8 PEM key (openssl pkcs8 -topk8 -nocrypt)",
                    path.display()
                ))
            })?;
            (pair, false)
        }
        None => (
            key_type
                .generate()
                .map_err(|e| Failure::input(anyhow::anyhow!("cannot make a key: {e}")))?,
            true,
        ),
    };
    let mut params = CertificateParams::new(names.clone())
        .map_err(|e| Failure::input(anyhow::anyhow!("cannot make a CSR for {bare}: {e}")))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, bare.clone());
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&pair)
        .and_then(|c| c.pem())
        .map_err(|e| Failure::input(anyhow::anyhow!("cannot make a CSR for {bare}: {e}")))?;

    let dir: PathBuf = match out {
        Some(d) => d.to_path_buf(),
        None => services
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let key_path = dir.join(format!("{bare}.next.key"));
    let csr_path = dir.join(format!("{bare}.next.csr"));
    for p in [made.then_some(&key_path), Some(&csr_path)]
        .into_iter()
        .flatten()
    {
        if p.exists() {
            return Err(Failure::input(anyhow::anyhow!(
                "{}: exists; not overwritten (move it away, or use it as `next:`)",
                p.display()
            )));
        }
    }
    if made {
        write_new(&key_path, key_pem(&pair).as_bytes(), 0o600)?;
    }
    write_new(&csr_path, csr.as_bytes(), 0o644)?;

    // The records, computed from the CSR as `danekit tlsa` would.
    let input = pki::parse_input(&csr_path.display().to_string(), csr.as_bytes())
        .map_err(Failure::input)?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "; next key for {bare}: {}",
        if made {
            key_path.display().to_string()
        } else {
            key.map(|k| k.display().to_string()).unwrap_or_default()
        }
    );
    let _ = writeln!(
        text,
        "; CSR for {}: {}",
        names.join(", "),
        csr_path.display()
    );
    let _ = writeln!(
        text,
        "; set `next: {}` for the service, publish these, then run `danekit rollover check`",
        if made {
            key_path.display().to_string()
        } else {
            csr_path.display().to_string()
        }
    );
    for service in &mine {
        let ttl = service.ttl.unwrap_or(file.ttl);
        for &port in &service.ports {
            let owner = owner_name(port, service.proto, &service.host)
                .map_err(|e| Failure::input(anyhow::anyhow!("{e}")))?;
            let request = Request {
                params: vec![ParamSet::new(
                    Usage::DaneEe,
                    Selector::Spki,
                    Matching::Sha256,
                )],
                ca: CaChoice::Issuer,
                owner: Some(owner),
                port,
                ttl,
                force: false,
                now: ctx.now,
            };
            let built = records::build(std::slice::from_ref(&input), &request)
                .map_err(|e| Failure::input(anyhow::anyhow!("{e}")))?;
            for r in built.records {
                if let Some(owner) = &r.owner {
                    let _ = writeln!(text, "{} {} IN TLSA {}", name_text(owner), r.ttl, r.rdata);
                }
            }
        }
    }
    write_stdout(env, &text)?;
    Ok(Exit::Ok)
}

/// The start of an Ed25519 private key in PKCS#8 version 2 (RFC 5958, with the public key), as
/// ring writes it, up to the 32-byte seed.
const ED25519_V2_PREFIX: [u8; 16] = [
    0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// The same in PKCS#8 version 1 (RFC 8410 §7), without the public key.
const ED25519_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The PEM of a new private key, in a form every TLS server reads: an Ed25519 key as PKCS#8
/// version 1, since OpenSSL 3.0 (Debian 12's, under Postfix, Exim and Dovecot) refuses the
/// version 2 that ring writes ("unsupported"); other keys as made.
fn key_pem(pair: &KeyPair) -> String {
    let der = pair.serialize_der();
    if der.len() == 83 && der[..16] == ED25519_V2_PREFIX {
        let mut v1 = ED25519_V1_PREFIX.to_vec();
        v1.extend_from_slice(&der[16..48]);
        let b64 = data_encoding::BASE64.encode(&v1);
        return format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
    }
    pair.serialize_pem()
}

/// Writes a new file with `mode`: the bytes go to a temporary file in the same directory,
/// which is then linked to `path` (linking fails if `path` exists, so nothing is replaced).
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| Failure::input(anyhow::anyhow!("{}: {e}", path.display()));
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("danekit"),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    result.map_err(fail)
}
