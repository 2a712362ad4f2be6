//! The TLSA records of a master file (RFC 1035 §5), as BIND and Knot read it.
//!
//! Only what a drift check needs: every TLSA record (type `TLSA` or the generic `TYPE52` with
//! RFC 3597 `\# LENGTH HEX` data), with its owner made absolute and its TTL resolved. The
//! rest of the file is read for what it changes (owners, `$ORIGIN`, `$TTL`, `$INCLUDE`, the
//! previous record's TTL) and otherwise skipped, so signed zones and record types no library
//! parses do not stop it. Errors name the file and the line.

use std::path::{Path, PathBuf};

use hickory_proto::rr::Name;
use thiserror::Error;

use crate::addr::name_text;
use crate::env;
use crate::text;
use crate::tlsa::{ParamSet, Rdata};
use crate::zone::ZoneRecord;

/// The largest zone file read (zones are bigger than certificates).
pub const MAX_ZONE_BYTES: usize = 256 * 1024 * 1024;
/// How deep `$INCLUDE` may nest.
const MAX_INCLUDE_DEPTH: usize = 8;

#[derive(Debug, Error)]
pub enum MasterError {
    #[error("{file}: cannot read: {error}")]
    Read { file: String, error: env::ReadError },
    #[error("{file}:{line}: {reason}")]
    Syntax {
        file: String,
        line: usize,
        reason: String,
    },
}

/// Reads the TLSA records of the master file at `path`; `origin` is the origin it starts with
/// (the zone's name), when known.
pub fn read_tlsa(path: &Path, origin: Option<&Name>) -> Result<Vec<ZoneRecord>, MasterError> {
    let mut state = State {
        origin: origin.cloned(),
        default_ttl: None,
        last_ttl: None,
        last_owner: None,
        out: Vec::new(),
    };
    read_file(path, &mut state, 0)?;
    Ok(state.out)
}

/// Reads the TLSA records of master-file `text`, named `file` in messages; `$INCLUDE` paths are
/// relative to `base`.
pub fn parse_tlsa(
    file: &str,
    text: &str,
    origin: Option<&Name>,
    base: &Path,
) -> Result<Vec<ZoneRecord>, MasterError> {
    let mut state = State {
        origin: origin.cloned(),
        default_ttl: None,
        last_ttl: None,
        last_owner: None,
        out: Vec::new(),
    };
    parse(file, text, base, &mut state, 0)?;
    Ok(state.out)
}

struct State {
    origin: Option<Name>,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    last_owner: Option<Name>,
    out: Vec<ZoneRecord>,
}

fn read_file(path: &Path, state: &mut State, depth: usize) -> Result<(), MasterError> {
    let file = text::escape_bytes(path.as_os_str().as_encoded_bytes());
    let bytes = env::read_file(path, MAX_ZONE_BYTES).map_err(|error| MasterError::Read {
        file: file.clone(),
        error,
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&file, &String::from_utf8_lossy(&bytes), &base, state, depth)
}

/// One logical entry: its tokens, its first line, and whether it began with white space
/// (an owner left blank means the previous owner).
pub(crate) struct Entry {
    pub(crate) line: usize,
    pub(crate) blank_owner: bool,
    pub(crate) tokens: Vec<String>,
}

/// Splits master-file text into entries: comments removed, parentheses joining lines, quoted
/// strings kept whole.
pub(crate) fn entries(file: &str, text: &str) -> Result<Vec<Entry>, MasterError> {
    let mut out = Vec::new();
    let mut current: Option<Entry> = None;
    let mut depth = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        if current.is_none() {
            if raw.trim().is_empty() || raw.trim_start().starts_with(';') {
                continue;
            }
            current = Some(Entry {
                line: line_no,
                blank_owner: raw.starts_with([' ', '\t']),
                tokens: Vec::new(),
            });
        }
        let Some(entry) = current.as_mut() else {
            continue;
        };
        let mut chars = raw.chars().peekable();
        let mut token = String::new();
        let flush = |token: &mut String, entry: &mut Entry| {
            if !token.is_empty() {
                entry.tokens.push(std::mem::take(token));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                ';' => break,
                '"' => {
                    flush(&mut token, entry);
                    let mut quoted = String::from("\"");
                    for q in chars.by_ref() {
                        quoted.push(q);
                        if q == '"' {
                            break;
                        }
                    }
                    entry.tokens.push(quoted);
                }
                '(' => {
                    flush(&mut token, entry);
                    depth += 1;
                }
                ')' => {
                    flush(&mut token, entry);
                    depth = depth.checked_sub(1).ok_or_else(|| MasterError::Syntax {
                        file: file.into(),
                        line: line_no,
                        reason: "\")\" without \"(\"".into(),
                    })?;
                }
                '\\' => {
                    token.push(c);
                    if let Some(next) = chars.next() {
                        token.push(next);
                    }
                }
                c if c.is_whitespace() => flush(&mut token, entry),
                c => token.push(c),
            }
        }
        flush(&mut token, entry);
        if depth == 0
            && let Some(done) = current.take()
            && !done.tokens.is_empty()
        {
            out.push(done);
        }
    }
    if let Some(open) = current {
        return Err(MasterError::Syntax {
            file: file.into(),
            line: open.line,
            reason: "\"(\" is never closed".into(),
        });
    }
    Ok(out)
}

/// A TTL: seconds, or BIND's units (`1h30m`, `2d`, `1w`).
pub fn parse_ttl(token: &str) -> Option<u32> {
    if let Ok(n) = token.parse::<u32>() {
        return Some(n);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in token.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604_800,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    if !number.is_empty() {
        return None;
    }
    u32::try_from(total).ok()
}

pub(crate) fn is_class(token: &str) -> bool {
    matches!(
        token.to_ascii_uppercase().as_str(),
        "IN" | "CH" | "HS" | "CS" | "NONE" | "ANY"
    )
}

pub(crate) fn name(
    file: &str,
    line: usize,
    token: &str,
    origin: Option<&Name>,
) -> Result<Name, MasterError> {
    let bad = |reason: String| MasterError::Syntax {
        file: file.into(),
        line,
        reason,
    };
    if token == "@" {
        return origin
            .cloned()
            .ok_or_else(|| bad("\"@\" with no origin".into()));
    }
    let text = if token.ends_with('.') {
        token.to_owned()
    } else {
        let origin = origin.ok_or_else(|| {
            bad(format!(
                "the relative name {} needs an $ORIGIN",
                text::clip(token)
            ))
        })?;
        let origin = name_text(origin);
        if origin == "." {
            format!("{token}.")
        } else {
            format!("{token}.{origin}")
        }
    };
    Name::from_ascii(&text)
        .map(|n| n.to_lowercase())
        .map_err(|e| bad(format!("{}: {e}", text::clip(token))))
}

fn parse(
    file: &str,
    text: &str,
    base: &Path,
    state: &mut State,
    depth: usize,
) -> Result<(), MasterError> {
    for entry in entries(file, text)? {
        let bad = |reason: String| MasterError::Syntax {
            file: file.into(),
            line: entry.line,
            reason,
        };
        let tokens = &entry.tokens;
        let first = tokens[0].as_str();
        if let Some(directive) = first.strip_prefix('$') {
            match directive.to_ascii_uppercase().as_str() {
                "ORIGIN" => {
                    let arg = tokens
                        .get(1)
                        .ok_or_else(|| bad("$ORIGIN without a name".into()))?;
                    state.origin = Some(name(file, entry.line, arg, state.origin.as_ref())?);
                }
                "TTL" => {
                    let arg = tokens
                        .get(1)
                        .ok_or_else(|| bad("$TTL without a value".into()))?;
                    state.default_ttl = Some(
                        parse_ttl(arg)
                            .ok_or_else(|| bad(format!("bad $TTL {}", text::clip(arg))))?,
                    );
                }
                "INCLUDE" => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(bad("$INCLUDE nests more than 8 deep".into()));
                    }
                    let arg = tokens
                        .get(1)
                        .ok_or_else(|| bad("$INCLUDE without a file".into()))?;
                    let path = PathBuf::from(arg.trim_matches('"'));
                    let path = if path.is_absolute() {
                        path
                    } else {
                        base.join(path)
                    };
                    // RFC 1035 §5.1: the included file may have its own origin; the including
                    // file's origin and owner come back after it.
                    let saved_origin = state.origin.clone();
                    let saved_owner = state.last_owner.clone();
                    if let Some(o) = tokens.get(2) {
                        state.origin = Some(name(file, entry.line, o, state.origin.as_ref())?);
                    }
                    read_file(&path, state, depth + 1)?;
                    state.origin = saved_origin;
                    state.last_owner = saved_owner;
                }
                // BIND's $GENERATE and other extensions make no TLSA records a drift check
                // can compare; they are skipped.
                _ => {}
            }
            continue;
        }
        let (owner, mut rest) = if entry.blank_owner {
            let owner = state
                .last_owner
                .clone()
                .ok_or_else(|| bad("a record without an owner, and none before it".into()))?;
            (owner, &tokens[..])
        } else {
            (
                name(file, entry.line, first, state.origin.as_ref())?,
                &tokens[1..],
            )
        };
        state.last_owner = Some(owner.clone());
        let mut ttl = None;
        let mut class_in = true;
        // [TTL] [CLASS] or [CLASS] [TTL], then the type.
        for _ in 0..2 {
            match rest.first() {
                Some(t) if is_class(t) => {
                    class_in = t.eq_ignore_ascii_case("IN");
                    rest = &rest[1..];
                }
                Some(t) if ttl.is_none() && parse_ttl(t).is_some() => {
                    ttl = parse_ttl(t);
                    rest = &rest[1..];
                }
                _ => break,
            }
        }
        let Some(rtype) = rest.first() else {
            return Err(bad("a record without a type".into()));
        };
        if let Some(t) = ttl {
            state.last_ttl = Some(t);
        }
        let is_tlsa = rtype.eq_ignore_ascii_case("TLSA") || rtype.eq_ignore_ascii_case("TYPE52");
        if !is_tlsa || !class_in {
            continue;
        }
        let ttl = ttl
            .or(state.default_ttl)
            .or(state.last_ttl)
            .ok_or_else(|| bad("a TLSA record with no TTL, and no $TTL before it".into()))?;
        let data = &rest[1..];
        let rdata = if data.first().map(String::as_str) == Some("\\#") {
            generic_tlsa(data).map_err(bad)?
        } else {
            data.join(" ")
                .parse::<Rdata>()
                .map_err(|e| bad(format!("TLSA: {e}")))?
        };
        state.out.push(ZoneRecord { owner, ttl, rdata });
    }
    Ok(())
}

/// RFC 3597 §5: `\# LENGTH HEX...` for a TLSA record.
fn generic_tlsa(tokens: &[String]) -> Result<Rdata, String> {
    let len: usize = tokens
        .get(1)
        .and_then(|t| t.parse().ok())
        .ok_or("\\# needs a length")?;
    let hex: String = tokens[2..].concat();
    let bytes = data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.as_bytes())
        .map_err(|_| "\\# data is not hex".to_owned())?;
    if bytes.len() != len {
        return Err(format!("\\# says {len} bytes but has {}", bytes.len()));
    }
    let [u, s, m, data @ ..] = bytes.as_slice() else {
        return Err("a TLSA record has at least 3 bytes".into());
    };
    Ok(Rdata::new(
        ParamSet::new((*u).into(), (*s).into(), (*m).into()),
        data.to_vec(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Name {
        Name::from_ascii("example.test.").unwrap()
    }

    fn parse_str(text: &str) -> Result<Vec<String>, MasterError> {
        parse_tlsa("z.db", text, Some(&origin()), Path::new(".")).map(|rs| {
            rs.iter()
                .map(|r| format!("{} {} {}", name_text(&r.owner), r.ttl, r.rdata))
                .collect()
        })
    }

    #[test]
    fn records_in_every_usual_form() {
        let text = "$TTL 1h\n\
            @ IN SOA ns1 hostmaster ( 1 3600 900\n 604800 300 ) ; comment\n\
            @ NS ns1\n\
            _25._tcp.mail IN TLSA 3 1 1 ( 0011\n 2233 )\n\
            \t300 IN TLSA 2 1 1 AABB\n\
            _25._TCP.MX2.example.test. 60 IN TYPE52 \\# 5 0301 01 00ff\n\
            txt IN TXT \"a ; not a comment ( nor a paren\"\n\
            $ORIGIN sub.example.test.\n\
            _443._tcp.www IN 120 TLSA 3 1 2 cc\n\
            _443._tcp.old CH TLSA 3 1 1 dd\n";
        assert_eq!(
            parse_str(text).unwrap(),
            vec![
                "_25._tcp.mail.example.test. 3600 3 1 1 00112233",
                "_25._tcp.mail.example.test. 300 2 1 1 aabb",
                "_25._tcp.mx2.example.test. 60 3 1 1 00ff",
                "_443._tcp.www.sub.example.test. 120 3 1 2 cc",
            ]
        );
    }

    #[test]
    fn ttls_follow_rfc_2308() {
        assert_eq!(parse_ttl("3600"), Some(3600));
        assert_eq!(parse_ttl("1h30m"), Some(5400));
        assert_eq!(parse_ttl("1W"), Some(604_800));
        assert_eq!(parse_ttl("h"), None);
        assert_eq!(parse_ttl("10x"), None);
        // No $TTL: the previous record's TTL.
        assert_eq!(
            parse_str("a 60 IN A 192.0.2.1\n_25._tcp.a IN TLSA 3 1 1 00\n").unwrap(),
            vec!["_25._tcp.a.example.test. 60 3 1 1 00"]
        );
        assert!(parse_str("_25._tcp.a IN TLSA 3 1 1 00\n").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_str("$TTL 60\n\n_25._tcp.a IN TLSA 3 1 1 zz\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "z.db:3: TLSA: certificate association data is not hexadecimal: invalid symbol at 0"
        );
        let e = parse_str("$TTL 60\na IN TLSA ( 3 1 1\n").unwrap_err();
        assert_eq!(e.to_string(), "z.db:2: \"(\" is never closed");
        let e = parse_str("$TTL 60\nx IN TYPE52 \\# 4 030101\n").unwrap_err();
        assert_eq!(e.to_string(), "z.db:2: \\# says 4 bytes but has 3");
    }

    #[test]
    fn include_with_its_own_origin() {
        let dir = std::env::temp_dir().join(format!("danekit-master-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("inc.db"), "_25._tcp.mx IN TLSA 3 1 1 01\n").unwrap();
        let text = "$TTL 60\n$INCLUDE inc.db other.test.\n_25._tcp.mx IN TLSA 3 1 1 02\n";
        let got = parse_tlsa("z.db", text, Some(&origin()), &dir).unwrap();
        let owners: Vec<String> = got.iter().map(|r| name_text(&r.owner)).collect();
        assert_eq!(
            owners,
            ["_25._tcp.mx.other.test.", "_25._tcp.mx.example.test."]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
