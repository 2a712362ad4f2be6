//! Trust anchors: the DS or DNSKEY records a validation starts from (RFC 4033 §3.1, RFC 7958).
//!
//! Built in: the IANA root KSKs 20326 (KSK-2017) and 38696 (KSK-2024), as DS records. A file
//! may give others, in zone-file syntax (`. IN DS 20326 8 2 E06D…`, `example. IN DNSKEY 257 3
//! 13 …`) or as a BIND `trust-anchors`, `managed-keys` or `trusted-keys` block. Several names
//! may be anchored (islands of trust); each anchors its own name. DNSKEY anchors are taken
//! with or without the SEP bit.

use std::collections::BTreeMap;
use std::path::Path;

use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKeyBuf};
use hickory_proto::rr::Name;
use thiserror::Error;

use crate::addr::name_text;
use crate::env;
use crate::text;
use crate::zone::master;

/// One anchor of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    Ds(DS),
    Key(DNSKEY),
}

/// The anchors of each name.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    by_name: BTreeMap<Name, Vec<Anchor>>,
}

#[derive(Debug, Error)]
pub enum AnchorError {
    #[error("{file}: cannot read: {error}")]
    Read { file: String, error: env::ReadError },
    #[error("{file}:{line}: {reason}")]
    Syntax {
        file: String,
        line: usize,
        reason: String,
    },
    #[error("{file}: holds no DS or DNSKEY trust anchor")]
    Empty { file: String },
}

/// The IANA root anchors (data.iana.org/root-anchors/root-anchors.xml).
const IANA_ROOT_DS: [(u16, &str); 2] = [
    (
        20326,
        "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
    ),
    (
        38696,
        "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
    ),
];

impl TrustAnchors {
    /// The IANA root KSKs 20326 and 38696.
    pub fn iana_root() -> TrustAnchors {
        let mut anchors = TrustAnchors::default();
        for (tag, hex) in IANA_ROOT_DS {
            let digest = data_encoding::HEXUPPER
                .decode(hex.as_bytes())
                .unwrap_or_default();
            anchors.add(
                Name::root(),
                Anchor::Ds(DS::new(
                    tag,
                    Algorithm::RSASHA256,
                    DigestType::SHA256,
                    digest,
                )),
            );
        }
        anchors
    }

    fn add(&mut self, name: Name, anchor: Anchor) {
        self.by_name
            .entry(name.to_lowercase())
            .or_default()
            .push(anchor);
    }

    /// The anchors of exactly `name`.
    pub fn of(&self, name: &Name) -> Option<&[Anchor]> {
        self.by_name.get(&name.to_lowercase()).map(Vec::as_slice)
    }

    /// The closest anchored name at or above `name`.
    pub fn closest(&self, name: &Name) -> Option<Name> {
        let mut n = name.to_lowercase();
        loop {
            if self.by_name.contains_key(&n) {
                return Some(n);
            }
            if n.is_root() {
                return None;
            }
            n = n.base_name();
        }
    }

    /// The anchored names.
    pub fn names(&self) -> impl Iterator<Item = &Name> {
        self.by_name.keys()
    }

    /// Reads a trust-anchor file.
    pub fn load(path: &Path) -> Result<TrustAnchors, AnchorError> {
        let file = text::escape_bytes(path.as_os_str().as_encoded_bytes());
        let bytes = env::read_file(path, 1024 * 1024).map_err(|error| AnchorError::Read {
            file: file.clone(),
            error,
        })?;
        Self::parse(&file, &String::from_utf8_lossy(&bytes))
    }

    /// Reads trust-anchor text: zone-file DS/DNSKEY lines or a BIND block.
    pub fn parse(file: &str, text: &str) -> Result<TrustAnchors, AnchorError> {
        let mut anchors = TrustAnchors::default();
        let is_bind = ["trust-anchors", "managed-keys", "trusted-keys"]
            .iter()
            .any(|k| text.contains(k));
        if is_bind {
            parse_bind(file, text, &mut anchors)?;
        } else {
            parse_zone_lines(file, text, &mut anchors)?;
        }
        if anchors.by_name.is_empty() {
            return Err(AnchorError::Empty { file: file.into() });
        }
        Ok(anchors)
    }
}

fn syntax(file: &str, line: usize, reason: impl Into<String>) -> AnchorError {
    AnchorError::Syntax {
        file: file.into(),
        line,
        reason: reason.into(),
    }
}

/// `KEYTAG ALG DIGESTTYPE HEX...`
fn parse_ds(fields: &[&str]) -> Result<DS, String> {
    let [tag, alg, digest_type, hex @ ..] = fields else {
        return Err("a DS is KEYTAG ALGORITHM DIGESTTYPE DIGEST".into());
    };
    let tag: u16 = tag.parse().map_err(|_| format!("bad key tag {tag:?}"))?;
    let alg: u8 = alg.parse().map_err(|_| format!("bad algorithm {alg:?}"))?;
    let digest_type: u8 = digest_type
        .parse()
        .map_err(|_| format!("bad digest type {digest_type:?}"))?;
    let hex: String = hex.concat();
    let digest = data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.as_bytes())
        .map_err(|_| "the DS digest is not hex".to_owned())?;
    if digest.is_empty() {
        return Err("the DS has no digest".into());
    }
    Ok(DS::new(
        tag,
        Algorithm::from_u8(alg),
        DigestType::from(digest_type),
        digest,
    ))
}

/// `FLAGS PROTOCOL ALG BASE64...`
fn parse_dnskey(fields: &[&str]) -> Result<DNSKEY, String> {
    let [flags, protocol, alg, b64 @ ..] = fields else {
        return Err("a DNSKEY is FLAGS PROTOCOL ALGORITHM KEY".into());
    };
    let flags: u16 = flags.parse().map_err(|_| format!("bad flags {flags:?}"))?;
    if *protocol != "3" {
        return Err(format!("protocol {protocol} is not 3 (RFC 4034 §2.1.2)"));
    }
    let alg: u8 = alg.parse().map_err(|_| format!("bad algorithm {alg:?}"))?;
    let key = data_encoding::BASE64
        .decode(b64.concat().as_bytes())
        .map_err(|_| "the DNSKEY key is not base64".to_owned())?;
    Ok(DNSKEY::with_flags(
        flags,
        PublicKeyBuf::new(key, Algorithm::from_u8(alg)),
    ))
}

fn parse_zone_lines(file: &str, text: &str, anchors: &mut TrustAnchors) -> Result<(), AnchorError> {
    let entries = master::entries(file, text).map_err(|e| syntax(file, 0, e.to_string()))?;
    let mut last_owner: Option<Name> = None;
    for entry in entries {
        let tokens: Vec<&str> = entry.tokens.iter().map(String::as_str).collect();
        if tokens[0].starts_with('$') {
            continue;
        }
        let (owner, mut rest) = if entry.blank_owner {
            let owner = last_owner
                .clone()
                .ok_or_else(|| syntax(file, entry.line, "a record without an owner"))?;
            (owner, &tokens[..])
        } else {
            let owner = master::name(file, entry.line, tokens[0], Some(&Name::root()))
                .map_err(|e| syntax(file, entry.line, e.to_string()))?;
            (owner, &tokens[1..])
        };
        last_owner = Some(owner.clone());
        while let Some(t) = rest.first() {
            if master::is_class(t) || master::parse_ttl(t).is_some() {
                rest = &rest[1..];
            } else {
                break;
            }
        }
        let Some((rtype, fields)) = rest.split_first() else {
            return Err(syntax(file, entry.line, "a record without a type"));
        };
        let anchor = match rtype.to_ascii_uppercase().as_str() {
            "DS" => Anchor::Ds(parse_ds(fields).map_err(|e| syntax(file, entry.line, e))?),
            "DNSKEY" => Anchor::Key(parse_dnskey(fields).map_err(|e| syntax(file, entry.line, e))?),
            other => {
                return Err(syntax(
                    file,
                    entry.line,
                    format!(
                        "{} is not a trust anchor type (DS or DNSKEY)",
                        text::clip(other)
                    ),
                ));
            }
        };
        anchors.add(owner, anchor);
    }
    Ok(())
}

/// BIND's blocks: `trust-anchors { NAME (static-key|initial-key) FLAGS PROTO ALG "KEY";
/// NAME (static-ds|initial-ds) TAG ALG DIGESTTYPE "HEX"; };`, and the older `managed-keys {
/// NAME initial-key …; };` and `trusted-keys { NAME FLAGS PROTO ALG "KEY"; };`.
fn parse_bind(file: &str, text: &str, anchors: &mut TrustAnchors) -> Result<(), AnchorError> {
    // Statements end with `;`; comments are `#`, `//` and `/* */`.
    let mut cleaned = String::new();
    let mut in_block_comment = false;
    for line in text.lines() {
        let mut rest = line;
        let mut out = String::new();
        loop {
            if in_block_comment {
                match rest.find("*/") {
                    Some(i) => {
                        rest = &rest[i + 2..];
                        in_block_comment = false;
                    }
                    None => break,
                }
            }
            let cut = [rest.find('#'), rest.find("//"), rest.find("/*")]
                .into_iter()
                .flatten()
                .min();
            match cut {
                Some(i) if rest[i..].starts_with("/*") => {
                    out.push_str(&rest[..i]);
                    rest = &rest[i + 2..];
                    in_block_comment = true;
                }
                Some(i) => {
                    out.push_str(&rest[..i]);
                    break;
                }
                None => {
                    out.push_str(rest);
                    break;
                }
            }
        }
        cleaned.push_str(&out);
        cleaned.push('\n');
    }
    let mut line_of_offset = Vec::new();
    for (i, l) in cleaned.lines().enumerate() {
        line_of_offset.extend(std::iter::repeat_n(i + 1, l.len() + 1));
    }
    let mut offset = 0;
    for statement in cleaned.split(';') {
        let line = line_of_offset.get(offset).copied().unwrap_or(1);
        offset += statement.len() + 1;
        let words: Vec<&str> = statement
            .split(|c: char| c.is_whitespace() || c == '{' || c == '}')
            .filter(|w| !w.is_empty())
            .map(|w| w.trim_matches('"'))
            .collect();
        let words: &[&str] = match words.first() {
            Some(&("trust-anchors" | "managed-keys" | "trusted-keys")) => &words[1..],
            _ => &words,
        };
        let Some((name_word, rest)) = words.split_first() else {
            continue;
        };
        let owner = master::name(file, line, name_word, Some(&Name::root()))
            .map_err(|e| syntax(file, line, e.to_string()))?;
        let anchor = match rest.first().copied() {
            Some("static-key" | "initial-key") => {
                Anchor::Key(parse_dnskey(&rest[1..]).map_err(|e| syntax(file, line, e))?)
            }
            Some("static-ds" | "initial-ds") => {
                Anchor::Ds(parse_ds(&rest[1..]).map_err(|e| syntax(file, line, e))?)
            }
            // trusted-keys: NAME FLAGS PROTO ALG "KEY"
            Some(first) if first.parse::<u16>().is_ok() => {
                Anchor::Key(parse_dnskey(rest).map_err(|e| syntax(file, line, e))?)
            }
            _ => {
                return Err(syntax(
                    file,
                    line,
                    format!(
                        "expected static-key, initial-key, static-ds or initial-ds after {}",
                        name_text(&owner)
                    ),
                ));
            }
        };
        anchors.add(owner, anchor);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=";

    #[test]
    fn the_iana_root_anchors_are_built_in() {
        let a = TrustAnchors::iana_root();
        let root = a.of(&Name::root()).unwrap();
        let tags: Vec<u16> = root
            .iter()
            .map(|x| match x {
                Anchor::Ds(ds) => ds.key_tag(),
                Anchor::Key(_) => 0,
            })
            .collect();
        assert_eq!(tags, [20326, 38696]);
        assert_eq!(
            a.closest(&Name::from_ascii("mail.example.org.").unwrap()),
            Some(Name::root())
        );
    }

    #[test]
    fn zone_file_lines() {
        let text = format!(
            "; test anchors\n. 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n\
             example.test. IN DNSKEY 256 3 8 ( {KEY} )\n"
        );
        let a = TrustAnchors::parse("ta", &text).unwrap();
        assert_eq!(a.names().count(), 2);
        let island = Name::from_ascii("example.test.").unwrap();
        assert!(matches!(a.of(&island).unwrap()[0], Anchor::Key(ref k) if k.flags() == 256));
        assert_eq!(
            a.closest(&Name::from_ascii("_25._tcp.mx.example.test.").unwrap()),
            Some(island)
        );
        assert_eq!(
            a.closest(&Name::from_ascii("other.org.").unwrap()),
            Some(Name::root())
        );
    }

    #[test]
    fn bind_blocks() {
        let text = format!(
            "# BIND 9.18\ntrust-anchors {{\n  . initial-ds 20326 8 2 \"E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\";\n  \
             example.test. static-key 257 3 8 \"{KEY}\"; // comment\n}};\n/* old style */ trusted-keys {{ other.test. 257 3 8 \"{KEY}\"; }};\n"
        );
        let a = TrustAnchors::parse("named.conf", &text).unwrap();
        assert_eq!(a.names().count(), 3);
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = TrustAnchors::parse("ta", ". IN DS 20326 8 2 zz\n").unwrap_err();
        assert_eq!(e.to_string(), "ta:1: the DS digest is not hex");
        let e = TrustAnchors::parse("ta", ". IN A 192.0.2.1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ta:1: A is not a trust anchor type (DS or DNSKEY)"
        );
        let e = TrustAnchors::parse("ta", "; nothing\n").unwrap_err();
        assert_eq!(e.to_string(), "ta: holds no DS or DNSKEY trust anchor");
        let e = TrustAnchors::parse(
            "named.conf",
            "trust-anchors { . initial-key 257 4 8 \"AA==\"; };",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("named.conf:1: protocol 4 is not 3"),
            "{e}"
        );
    }
}
