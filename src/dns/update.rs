//! RFC 2136 dynamic updates, signed with TSIG (RFC 8945): replace exactly a set of TLSA
//! RRsets in a zone, and nothing else.
//!
//! One UPDATE message: the zone section names the zone, a prerequisite requires its SOA to
//! exist (RFC 2136 §2.4.1, so a typo in the zone name cannot create anything), and for each
//! managed owner the update section deletes the TLSA RRset (§2.5.2) and adds the new records
//! (§2.5.1). The server applies it all or nothing (§3.4). The TSIG secret is held in
//! [`TsigKey`], whose `Debug` never shows it, and is never written into a message, error or
//! report.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::TLSA;
use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigner};
use thiserror::Error;

use super::{DnsError, exchange, new_id, rcode_name};
use crate::addr::name_text;
use crate::env::Net;
use crate::zone::ZoneRecord;

/// The TSIG algorithms danekit signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsigAlg {
    HmacSha256,
    HmacSha512,
}

impl TsigAlg {
    /// `hmac-sha256`, `hmac-sha512` (the names BIND and Knot use).
    pub fn as_str(self) -> &'static str {
        match self {
            TsigAlg::HmacSha256 => "hmac-sha256",
            TsigAlg::HmacSha512 => "hmac-sha512",
        }
    }

    pub fn parse(text: &str) -> Option<TsigAlg> {
        match text
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase()
            .as_str()
        {
            "hmac-sha256" => Some(TsigAlg::HmacSha256),
            "hmac-sha512" => Some(TsigAlg::HmacSha512),
            _ => None,
        }
    }

    fn hickory(self) -> TsigAlgorithm {
        match self {
            TsigAlg::HmacSha256 => TsigAlgorithm::HmacSha256,
            TsigAlg::HmacSha512 => TsigAlgorithm::HmacSha512,
        }
    }
}

/// A TSIG key: its name, algorithm and secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    pub name: Name,
    pub algorithm: TsigAlg,
    secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &name_text(&self.name))
            .field("algorithm", &self.algorithm)
            .field("secret", &"(not shown)")
            .finish()
    }
}

/// Why a TSIG secret file could not be used. No variant carries the secret.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyFileError {
    #[error("no secret found (expected a BIND `key` clause, a Knot `key:` entry or base64 alone)")]
    NoSecret,
    #[error("the secret is not valid base64")]
    Base64,
    #[error("the secret is empty")]
    Empty,
    #[error("the file is for key {found}, but the service file names key {expected}")]
    OtherKey { found: String, expected: String },
    #[error("the file gives algorithm {found}, but the service file names {expected}")]
    OtherAlgorithm {
        found: String,
        expected: &'static str,
    },
}

impl TsigKey {
    /// Reads a secret file: what `tsig-keygen` writes (`key "NAME" { algorithm ALG; secret
    /// "BASE64"; };`), what Knot's `keymgr -t` writes (`secret: BASE64` under `key:`), or the
    /// base64 secret alone. When the file names a key or an algorithm, they must be `name` and
    /// `algorithm`.
    pub fn from_file_text(
        name: &Name,
        algorithm: TsigAlg,
        text: &str,
    ) -> Result<TsigKey, KeyFileError> {
        // Comments (`#`, `//`) go; then words, with braces and semicolons as separators.
        let without_comments: String = text
            .lines()
            .map(|l| {
                let l = l.split('#').next().unwrap_or_default();
                l.split("//").next().unwrap_or_default().to_owned() + "\n"
            })
            .collect();
        let words: Vec<&str> = without_comments
            .split(|c: char| c.is_whitespace() || c == '{' || c == '}' || c == ';')
            .filter(|w| !w.is_empty())
            .collect();
        let after = |keys: &[&str]| -> Option<String> {
            words
                .iter()
                .position(|w| keys.contains(w))
                .and_then(|i| words.get(i + 1))
                .map(|v| v.trim_matches('"').to_owned())
        };
        let secret_b64 = match after(&["secret", "secret:"]) {
            Some(s) => s,
            // The base64 secret alone, perhaps over several lines.
            None if !words.is_empty() && !without_comments.contains(['{', '"', ':']) => {
                words.concat()
            }
            None => return Err(KeyFileError::NoSecret),
        };
        let secret = data_encoding::BASE64
            .decode(secret_b64.as_bytes())
            .map_err(|_| KeyFileError::Base64)?;
        if secret.is_empty() {
            return Err(KeyFileError::Empty);
        }
        if let Some(found) = after(&["key", "id:"]) {
            let expected = name_text(name);
            if found.trim_end_matches('.').to_ascii_lowercase() != expected.trim_end_matches('.') {
                return Err(KeyFileError::OtherKey { found, expected });
            }
        }
        if let Some(found) = after(&["algorithm", "algorithm:"])
            && TsigAlg::parse(&found) != Some(algorithm)
        {
            return Err(KeyFileError::OtherAlgorithm {
                found,
                expected: algorithm.as_str(),
            });
        }
        Ok(TsigKey {
            name: name.clone(),
            algorithm,
            secret,
        })
    }
}

/// What to change: the zone, the owners whose TLSA RRsets are replaced, and the new records.
#[derive(Debug, Clone)]
pub struct Update {
    pub zone: Name,
    pub owners: Vec<Name>,
    pub records: Vec<ZoneRecord>,
}

/// The server's verdict on an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// NOERROR: the RRsets are replaced.
    Applied,
    /// The server refused: its response code and, for TSIG failures, the TSIG error
    /// (`BADSIG`, `BADKEY`, `BADTIME`).
    Refused {
        rcode: String,
        tsig_error: Option<String>,
    },
}

#[derive(Debug, Error)]
pub enum UpdateError {
    #[error(transparent)]
    Dns(#[from] DnsError),
    #[error("{server}: the answer to the update is not signed with the key (TSIG: {reason})")]
    Unsigned { server: SocketAddr, reason: String },
    #[error("cannot build the update: {0}")]
    Build(String),
}

/// Builds the UPDATE message (unsigned).
pub fn build(update: &Update, id: u16) -> Message {
    let mut message = Message::new(id, MessageType::Query, OpCode::Update);
    // RFC 2136 §2.3: the zone section holds one SOA "question" for the zone.
    let mut zone = Query::query(update.zone.clone(), RecordType::SOA);
    zone.set_query_class(DNSClass::IN);
    message.add_query(zone);
    // §2.4.1: "RRset exists (value independent)": CLASS ANY, TYPE SOA, TTL 0, no RDATA.
    let mut soa_exists = Record::update0(update.zone.clone(), 0, RecordType::SOA);
    soa_exists.dns_class = DNSClass::ANY;
    message.add_answer(soa_exists);
    for owner in &update.owners {
        // §2.5.2: "Delete an RRset": CLASS ANY, TYPE TLSA, TTL 0, no RDATA.
        let mut delete = Record::update0(owner.clone(), 0, RecordType::TLSA);
        delete.dns_class = DNSClass::ANY;
        message.add_authority(delete);
        for r in update.records.iter().filter(|r| &r.owner == owner) {
            let p = r.rdata.params;
            let tlsa = TLSA::new(
                CertUsage::from(u8::from(p.usage)),
                Selector::from(u8::from(p.selector)),
                Matching::from(u8::from(p.matching)),
                r.rdata.data.clone(),
            );
            message.add_authority(Record::from_rdata(owner.clone(), r.ttl, RData::TLSA(tlsa)));
        }
    }
    message
}

/// The fudge of the TSIG time check (RFC 8945 §5.2.3 recommends 300 s).
const FUDGE: u16 = 300;

/// Sends `update` to `server`, signed with `key` when one is given, and reads the verdict.
/// A signed update must get a signed answer: an answer that does not verify is an error, not
/// a success.
pub fn send(
    net: &dyn Net,
    server: SocketAddr,
    update: &Update,
    key: Option<&TsigKey>,
    now: u64,
    timeout: Duration,
) -> Result<Outcome, UpdateError> {
    let id = new_id();
    let mut message = build(update, id);
    let mut verifier = None;
    if let Some(key) = key {
        let signer = TSigner::new(
            key.secret.clone(),
            key.algorithm.hickory(),
            key.name.clone(),
            FUDGE,
        )
        .map_err(|e| UpdateError::Build(e.to_string()))?;
        verifier = message
            .finalize(&signer, now)
            .map_err(|e| UpdateError::Build(e.to_string()))?;
    }
    let request = message
        .to_vec()
        .map_err(|e| UpdateError::Build(e.to_string()))?;
    let bytes = exchange(net, server, &request, id, timeout)?;
    let answer = Message::from_vec(&bytes).map_err(|e| DnsError::Malformed {
        server,
        reason: e.to_string(),
    })?;
    let rcode = answer.metadata.response_code;
    let tsig_error = answer
        .signature()
        .and_then(|s| s.data.error)
        .map(|e| match e {
            hickory_proto::rr::rdata::tsig::TsigError::BadSig => "BADSIG".to_owned(),
            hickory_proto::rr::rdata::tsig::TsigError::BadKey => "BADKEY".to_owned(),
            hickory_proto::rr::rdata::tsig::TsigError::BadTime => "BADTIME".to_owned(),
            hickory_proto::rr::rdata::tsig::TsigError::BadTrunc => "BADTRUNC".to_owned(),
            hickory_proto::rr::rdata::tsig::TsigError::Unknown(n) => format!("TSIG error {n}"),
        });
    if rcode != ResponseCode::NoError {
        return Ok(Outcome::Refused {
            rcode: rcode_name(rcode),
            tsig_error,
        });
    }
    if let Some(mut v) = verifier {
        v.verify(&bytes).map_err(|e| UpdateError::Unsigned {
            server,
            reason: e.to_string(),
        })?;
    }
    Ok(Outcome::Applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    const SECRET: &str = "S4HjmfAsmAbOQ5cMVGtcd5qCzi/HV3yjZm4PFx2qMDI=";

    #[test]
    fn key_files_in_bind_knot_and_bare_form() {
        let n = name("danekit-key.");
        let bind = format!(
            "key \"danekit-key\" {{\n\talgorithm hmac-sha256;\n\tsecret \"{SECRET}\";\n}};\n"
        );
        let knot = format!(
            "key:\n  - id: danekit-key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n"
        );
        let one_line =
            format!("key \"danekit-key.\" {{ algorithm hmac-sha256; secret \"{SECRET}\"; }};");
        for text in [
            bind.as_str(),
            knot.as_str(),
            one_line.as_str(),
            SECRET,
            &format!("# made by hand\n{SECRET}\n"),
        ] {
            let k = TsigKey::from_file_text(&n, TsigAlg::HmacSha256, text).unwrap();
            assert_eq!(k.secret.len(), 32, "{text}");
        }
        assert_eq!(
            TsigKey::from_file_text(&name("other."), TsigAlg::HmacSha256, &bind).unwrap_err(),
            KeyFileError::OtherKey {
                found: "danekit-key".into(),
                expected: "other.".into()
            }
        );
        assert_eq!(
            TsigKey::from_file_text(&n, TsigAlg::HmacSha512, &bind).unwrap_err(),
            KeyFileError::OtherAlgorithm {
                found: "hmac-sha256".into(),
                expected: "hmac-sha512"
            }
        );
        assert_eq!(
            TsigKey::from_file_text(&n, TsigAlg::HmacSha256, "not base64!").unwrap_err(),
            KeyFileError::Base64
        );
        assert_eq!(
            TsigKey::from_file_text(&n, TsigAlg::HmacSha256, "key x { };").unwrap_err(),
            KeyFileError::NoSecret
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let k = TsigKey::from_file_text(&name("k."), TsigAlg::HmacSha256, SECRET).unwrap();
        let shown = format!("{k:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("S4Hj"),
            "{shown}"
        );
        assert!(shown.contains("(not shown)"));
    }

    #[test]
    fn update_message_rfc_2136() {
        let owner = name("_25._tcp.mail.example.test.");
        let update = Update {
            zone: name("example.test."),
            owners: vec![owner.clone()],
            records: vec![ZoneRecord {
                owner: owner.clone(),
                ttl: 3600,
                rdata: "3 1 1 00ff".parse().unwrap(),
            }],
        };
        let m = build(&update, 7);
        assert_eq!(m.metadata.op_code, OpCode::Update);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].query_type(), RecordType::SOA);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].dns_class, DNSClass::ANY);
        assert_eq!(m.authorities.len(), 2);
        assert_eq!(m.authorities[0].dns_class, DNSClass::ANY);
        assert_eq!(m.authorities[0].ttl, 0);
        assert_eq!(m.authorities[1].dns_class, DNSClass::IN);
        assert_eq!(
            m.authorities[1].to_string(),
            "_25._tcp.mail.example.test. 3600 IN TLSA 3 1 1 00ff"
        );
        // It encodes, and decodes to the same sections.
        let bytes = m.to_vec().unwrap();
        let back = Message::from_vec(&bytes).unwrap();
        assert_eq!(back.authorities.len(), 2);
    }
}
