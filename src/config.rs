//! The services file: which TLSA records a set of services should have, and where to publish
//! them (YAML, read strictly).
//!
//! Every field is checked while it is read, so that an error names the file, the line and the
//! column where the value stands: an unknown key, a port out of range, a record set that is not
//! assigned (`4 1 1`), a host outside the zone, a certificate file that is missing or holds no
//! certificate. Relative paths are relative to the YAML file; host names without a final dot
//! are relative to `zone` (unless they already end in it). Certificate and key files are read
//! here, with the same cap and reader as `danekit tlsa`; the TSIG secret file is not (only
//! `--apply` reads it).

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use hickory_proto::rr::Name;
use serde::{Deserialize, Deserializer, de};
use thiserror::Error;

use crate::addr::{self, HostPort, name_text};
use crate::dns::update::TsigAlg;
use crate::env::{self, MAX_INPUT_BYTES};
use crate::pki::{self, Input};
use crate::text;
use crate::tlsa::report::MAX_TTL;
use crate::tlsa::{ParamSet, Proto};

/// The largest services file read.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// A services file, read and checked.
#[derive(Debug, Clone)]
pub struct ServiceFile {
    /// The file's name as given, for messages.
    pub name: String,
    pub zone: Option<Name>,
    /// The default TTL (3600 when the file gives none).
    pub ttl: u32,
    /// The default parameter sets (`3 1 1` when the file gives none).
    pub records: Vec<ParamSet>,
    pub update: Option<UpdateConfig>,
    pub services: Vec<Service>,
}

/// Where `--apply` sends the update.
#[derive(Debug, Clone)]
pub struct UpdateConfig {
    /// The primary server; port 53 when none is given.
    pub server: HostPort,
    pub tsig: Option<TsigConfig>,
}

#[derive(Debug, Clone)]
pub struct TsigConfig {
    pub name: Name,
    pub algorithm: TsigAlg,
    /// Resolved against the file's directory.
    pub secret_file: PathBuf,
}

/// One service: a host, its ports, and the chain it serves now and the key it will use next.
#[derive(Debug, Clone)]
pub struct Service {
    pub host: Name,
    pub ports: Vec<u16>,
    pub proto: Proto,
    pub cert: Input,
    pub next: Option<Input>,
    /// This service's parameter sets, when it overrides the file's.
    pub records: Option<Vec<ParamSet>>,
    pub ttl: Option<u32>,
}

/// Why a services file cannot be used. Every message names the file, and the line and column
/// when the problem is at a place in it.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {error}")]
    Read { file: String, error: env::ReadError },
    #[error("{file}:{line}:{column}: {message}")]
    At {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

/// What the deserializers need to know: where relative paths start, the zone for relative
/// host names, and the file name for messages.
struct Context {
    base: PathBuf,
    zone: Option<Name>,
}

thread_local! {
    static CONTEXT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Sets the context for one deserialization and clears it when dropped.
struct ContextGuard;

impl ContextGuard {
    fn set(context: Context) -> ContextGuard {
        CONTEXT.with(|c| *c.borrow_mut() = Some(context));
        ContextGuard
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        CONTEXT.with(|c| *c.borrow_mut() = None);
    }
}

fn with_context<T>(f: impl FnOnce(&Context) -> T) -> Option<T> {
    CONTEXT.with(|c| c.borrow().as_ref().map(f))
}

/// Reads and checks the services file at `path`.
pub fn load(path: &Path) -> Result<ServiceFile, ConfigError> {
    let name = text::escape_bytes(path.as_os_str().as_encoded_bytes());
    let bytes = env::read_file(path, MAX_FILE_BYTES).map_err(|error| ConfigError::Read {
        file: name.clone(),
        error,
    })?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    parse(&name, &String::from_utf8_lossy(&bytes), &base)
}

/// Reads and checks services-file text; `name` names it in messages and `base` is where
/// relative paths start.
pub fn parse(name: &str, text: &str, base: &Path) -> Result<ServiceFile, ConfigError> {
    let at = |e: serde_yaml::Error| to_config_error(name, text, e);
    // First the zone alone, so that host names can be checked against it wherever `zone`
    // stands in the file.
    let zone = {
        let _guard = ContextGuard::set(Context {
            base: base.to_path_buf(),
            zone: None,
        });
        serde_yaml::from_str::<ZoneOnly>(text)
            .map_err(at)?
            .zone
            .map(|z| z.0)
    };
    let _guard = ContextGuard::set(Context {
        base: base.to_path_buf(),
        zone: zone.clone(),
    });
    let raw: RawFile = serde_yaml::from_str(text).map_err(at)?;
    if raw.services.is_empty() {
        return Err(ConfigError::File {
            file: name.into(),
            message: "no services".into(),
        });
    }
    Ok(ServiceFile {
        name: name.into(),
        zone,
        ttl: raw.ttl.map(|t| t.0).unwrap_or(3600),
        records: raw
            .records
            .map(|r| r.into_iter().map(|p| p.0).collect())
            .unwrap_or_else(|| vec![ParamSet::DANE_EE_SPKI_SHA256]),
        update: raw.update.map(|u| UpdateConfig {
            server: u.server.0,
            tsig: u.tsig.map(|t| TsigConfig {
                name: t.name.0,
                algorithm: t.algorithm.0,
                secret_file: t.secret_file.0,
            }),
        }),
        services: raw
            .services
            .into_iter()
            .map(|s| Service {
                host: s.host.0,
                ports: s.ports.into_iter().map(|p| p.0).collect(),
                proto: s.proto.map(|p| p.0).unwrap_or_default(),
                cert: s.cert.0,
                next: s.next.map(|n| n.0),
                records: s.records.map(|r| r.into_iter().map(|p| p.0).collect()),
                ttl: s.ttl.map(|t| t.0),
            })
            .collect(),
    })
}

/// The scalar fields whose checks fail with `FIELD: message`, so that the error can point at
/// the field's value (serde_yaml places an error raised after a scalar at its parent mapping).
const SCALAR_FIELDS: &[&str] = &[
    "zone",
    "host",
    "cert",
    "next",
    "proto",
    "server",
    "name",
    "algorithm",
    "secret_file",
];

/// `FILE:LINE:COLUMN: PATH: MESSAGE`, from serde_yaml's error (which puts the place at the
/// end of its message).
fn to_config_error(file: &str, text: &str, e: serde_yaml::Error) -> ConfigError {
    let full = e.to_string();
    let mut message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full,
    };
    let Some(l) = e.location() else {
        return ConfigError::File {
            file: file.into(),
            message,
        };
    };
    let (mut line, mut column) = (l.line(), l.column());
    // `services[0]: cert: msg` → `services[0].cert: msg`, placed at the value of `cert`.
    let (path, rest) = match message.split_once(": ") {
        Some((p, r)) if !p.contains(' ') => (Some(p.to_owned()), r.to_owned()),
        _ => (None, message.clone()),
    };
    if let Some((field, detail)) = rest.split_once(": ")
        && SCALAR_FIELDS.contains(&field)
    {
        if let Some((l2, c2)) = find_value(text, l.index(), field) {
            (line, column) = (l2, c2);
        }
        message = match path {
            Some(p) => format!("{p}.{field}: {detail}"),
            None => format!("{field}: {detail}"),
        };
    }
    ConfigError::At {
        file: file.into(),
        line,
        column,
        message,
    }
}

/// The line and column (1-based) of the value of `field:` at or after byte `from`, within the
/// mapping that starts there.
fn find_value(text: &str, from: usize, field: &str) -> Option<(usize, usize)> {
    let start = text.get(from..)?;
    let start_column = text[..from].rsplit('\n').next().map_or(0, str::len);
    let mut offset = from;
    for (i, line) in start.split_inclusive('\n').enumerate() {
        let indent = line.len() - line.trim_start().len();
        // A later line at the mapping's own indentation that starts a new item ends it.
        if i > 0 && indent + 2 <= start_column && line.trim_start().starts_with('-') {
            return None;
        }
        let mut search = 0;
        while let Some(at) = line[search..].find(field) {
            let at = search + at;
            let before = line[..at].chars().next_back();
            let after = line[at + field.len()..].trim_start_matches(' ');
            if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') && after.starts_with(':') {
                let value = after[1..].trim_start_matches(' ');
                let pos = offset + line.len() - value.len();
                let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
                let line_no = text[..pos].matches('\n').count() + 1;
                return Some((line_no, pos - line_start + 1));
            }
            search = at + field.len();
        }
        offset += line.len();
    }
    None
}

#[derive(Deserialize)]
struct ZoneOnly {
    zone: Option<ZoneName>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(rename = "zone")]
    _zone: Option<ZoneName>,
    ttl: Option<Ttl>,
    records: Option<Vec<RecordSet>>,
    update: Option<RawUpdate>,
    services: Vec<RawService>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpdate {
    server: Server,
    tsig: Option<RawTsig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTsig {
    name: KeyName,
    algorithm: Algorithm,
    secret_file: PathField,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    host: HostField,
    ports: Vec<Port>,
    proto: Option<ProtoField>,
    cert: CertField,
    next: Option<NextField>,
    records: Option<Vec<RecordSet>>,
    ttl: Option<Ttl>,
}

/// A string field checked by `check`; the error becomes serde_yaml's, with the place.
fn checked<'de, D, T>(d: D, check: impl FnOnce(&str) -> Result<T, String>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(d)?;
    check(&text).map_err(de::Error::custom)
}

struct ZoneName(Name);

impl<'de> Deserialize<'de> for ZoneName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |t| {
            addr::parse_host_name(t)
                .map(ZoneName)
                .map_err(|e| format!("zone: {e}"))
        })
    }
}

struct KeyName(Name);

impl<'de> Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |t| {
            addr::parse_host_name(t)
                .map(KeyName)
                .map_err(|e| format!("name: {e}"))
        })
    }
}

/// A host name, made absolute against the zone and required to be inside it.
struct HostField(Name);

impl<'de> Deserialize<'de> for HostField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let zone = with_context(|c| c.zone.clone()).flatten();
        checked(d, |t| {
            resolve_host(t, zone.as_ref())
                .map(HostField)
                .map_err(|e| format!("host: {e}"))
        })
    }
}

/// `host` relative to `zone`: with a final dot it is absolute; without one it is taken as is
/// when it already ends in the zone, and otherwise the zone is appended. The result must lie
/// in the zone.
pub fn resolve_host(text: &str, zone: Option<&Name>) -> Result<Name, String> {
    let parsed = addr::parse_host_name(text).map_err(|e| e.to_string())?;
    let name = match zone {
        Some(z) if !text.ends_with('.') && !z.zone_of(&parsed) => {
            let joined = format!("{}.{}", text, name_text(z));
            addr::parse_host_name(&joined).map_err(|e| e.to_string())?
        }
        _ => parsed,
    };
    if let Some(z) = zone
        && !z.zone_of(&name)
    {
        return Err(format!(
            "host {} is outside the zone {}",
            name_text(&name),
            name_text(z)
        ));
    }
    Ok(name)
}

struct Port(u16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        u16::try_from(n)
            .ok()
            .filter(|&p| p != 0)
            .map(Port)
            .ok_or_else(|| de::Error::custom(format!("port {n} is not a port from 1 to 65535")))
    }
}

struct Ttl(u32);

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        u32::try_from(n)
            .ok()
            .filter(|&t| t <= MAX_TTL)
            .map(Ttl)
            .ok_or_else(|| {
                de::Error::custom(format!("TTL {n} is not from 0 to 2147483647 (RFC 2181 §8)"))
            })
    }
}

struct RecordSet(ParamSet);

impl<'de> Deserialize<'de> for RecordSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |t| {
            t.parse::<ParamSet>()
                .and_then(ParamSet::check_assigned)
                .map(RecordSet)
                .map_err(|e| format!("record set {t:?}: {e}"))
        })
    }
}

struct ProtoField(Proto);

impl<'de> Deserialize<'de> for ProtoField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |t| {
            t.parse()
                .map(ProtoField)
                .map_err(|e: crate::tlsa::OwnerError| format!("proto: {e}"))
        })
    }
}

struct Algorithm(TsigAlg);

impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |t| {
            TsigAlg::parse(t)
                .map(Algorithm)
                .ok_or_else(|| format!("algorithm: {t:?} is not hmac-sha256 or hmac-sha512"))
        })
    }
}

struct Server(HostPort);

impl<'de> Deserialize<'de> for Server {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |t| {
            t.parse()
                .map(Server)
                .map_err(|e: addr::HostPortError| format!("server: {e}"))
        })
    }
}

/// A path, resolved against the services file's directory.
struct PathField(PathBuf);

fn resolve_path(text: &str) -> PathBuf {
    let path = PathBuf::from(text);
    if path.is_absolute() {
        return path;
    }
    with_context(|c| c.base.join(&path)).unwrap_or(path)
}

impl<'de> Deserialize<'de> for PathField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |t| Ok(PathField(resolve_path(t))))
    }
}

/// Reads a certificate, chain, key or CSR file named in the services file.
fn read_input(text: &str) -> Result<Input, String> {
    let path = resolve_path(text);
    let shown = text::escape_bytes(path.as_os_str().as_encoded_bytes());
    let bytes = env::read_file(&path, MAX_INPUT_BYTES).map_err(|e| match e {
        env::ReadError::Io(io) => format!("{shown}: cannot read: {io}"),
        other => format!("{shown}: {other}"),
    })?;
    pki::parse_input(&shown, &bytes).map_err(|e| e.to_string())
}

/// `cert`: the chain served now; it must hold a certificate.
struct CertField(Input);

impl<'de> Deserialize<'de> for CertField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |t| {
            let input = read_input(t).map_err(|e| format!("cert: {e}"))?;
            if input.leaf().is_none() {
                return Err(format!(
                    "cert: {}: holds no certificate; `cert` is the chain the service presents \
                     (a key or CSR goes in `next`)",
                    input.name
                ));
            }
            Ok(CertField(input))
        })
    }
}

/// `next`: the next key, as a key, a CSR or a certificate.
struct NextField(Input);

impl<'de> Deserialize<'de> for NextField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |t| {
            read_input(t)
                .map(NextField)
                .map_err(|e| format!("next: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki")
    }

    fn err(text: &str) -> String {
        parse("svc.yaml", text, &fixtures())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_full_file() {
        let text = "zone: example.test.\nttl: 300\nrecords: [\"3 1 1\", \"2 1 1\"]\n\
                    update:\n  server: 127.0.0.1:5353\n  tsig: { name: k., algorithm: hmac-sha512, secret_file: k.key }\n\
                    services:\n  - host: mail\n    ports: [25, 465]\n    cert: leaf-p256.fullchain.pem\n    next: leaf-p384.pub.pem\n\
                    \x20 - host: imap.example.test.\n    ports: [993]\n    proto: tcp\n    cert: leaf-rsa2048.chain.pem\n    records: [\"3 1 1\"]\n    ttl: 60\n";
        let f = parse("svc.yaml", text, &fixtures()).unwrap();
        assert_eq!(
            f.zone.as_ref().map(name_text).as_deref(),
            Some("example.test.")
        );
        assert_eq!(f.ttl, 300);
        assert_eq!(f.records.len(), 2);
        assert_eq!(name_text(&f.services[0].host), "mail.example.test.");
        assert_eq!(f.services[0].ports, [25, 465]);
        assert!(f.services[0].next.is_some());
        assert_eq!(f.services[1].ttl, Some(60));
        let tsig = f.update.unwrap().tsig.unwrap();
        assert_eq!(tsig.algorithm, TsigAlg::HmacSha512);
        assert_eq!(tsig.secret_file, fixtures().join("k.key"));
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let head = "zone: example.test.\nservices:\n  - host: mail\n";
        for (tail, expected) in [
            (
                "    ports: [25]\n    cert: leaf-p256.pem\n    colour: blue\n",
                "svc.yaml:6:5: services[0]: unknown field `colour`, expected one of",
            ),
            (
                "    ports: [25, 0]\n    cert: leaf-p256.pem\n",
                "svc.yaml:4:12: services[0].ports: port 0 is not a port from 1 to 65535",
            ),
            (
                "    ports: [25]\n    cert: leaf-p256.pem\n    records: [\"4 1 1\"]\n",
                "svc.yaml:6:14: services[0].records: record set \"4 1 1\": usage 4 is not assigned",
            ),
            (
                "    ports: [25]\n    cert: missing.pem\n",
                "svc.yaml:5:11: services[0].cert: ",
            ),
            (
                "    ports: [25]\n    cert: leaf-p256.key.pem\n",
                "svc.yaml:5:11: services[0].cert: ",
            ),
            (
                "    ports: [25]\n    cert: leaf-p256.pem\n    proto: quic\n",
                "svc.yaml:6:12: services[0].proto: protocol \"quic\" is not tcp, udp or sctp",
            ),
        ] {
            let e = err(&format!("{head}{tail}"));
            assert!(e.starts_with(expected), "{e}");
        }
        let e = err(
            "zone: example.test.\nservices:\n  - host: mail.example.org.\n    ports: [25]\n    cert: leaf-p256.pem\n",
        );
        assert_eq!(
            e,
            "svc.yaml:3:11: services[0].host: host mail.example.org. is outside the zone example.test."
        );
        assert!(err("zone: example.test.\nservices: []\n").ends_with("no services"));
        assert!(err("services:\n  - host: [\n").starts_with("svc.yaml:"));
    }

    #[test]
    fn host_names_relative_to_the_zone() {
        let z = addr::parse_host_name("example.test").unwrap();
        let r = |t: &str| resolve_host(t, Some(&z)).map(|n| name_text(&n));
        assert_eq!(r("mail"), Ok("mail.example.test.".into()));
        assert_eq!(r("mail.example.test"), Ok("mail.example.test.".into()));
        assert_eq!(r("mail.example.test."), Ok("mail.example.test.".into()));
        assert_eq!(r("mx.sub"), Ok("mx.sub.example.test.".into()));
        assert!(r("mail.example.org.").is_err());
        assert_eq!(
            resolve_host("mail.example.org", None).map(|n| name_text(&n)),
            Ok("mail.example.org.".into())
        );
    }
}
