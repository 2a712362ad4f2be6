//! Strict DER (X.690 §10): read one element, walk a SEQUENCE, check a whole structure, write an
//! element.
//!
//! Only the distinguished encoding is accepted: definite lengths in the fewest octets, tags in
//! the fewest octets, minimal INTEGERs, BOOLEANs of 0x00 or 0xFF, and no constructed strings.
//! A BER encoding of the same value hashes differently from the DER a certificate carries, so
//! a record computed from it would be wrong: such input is refused, with the byte offset.

use thiserror::Error;

pub const BOOLEAN: u8 = 0x01;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// How deep [`check_tree`] descends; real certificates nest about ten levels.
const MAX_DEPTH: usize = 48;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DerError {
    #[error("truncated: an element declares {declared} bytes but only {available} follow")]
    Truncated { declared: usize, available: usize },
    #[error("not DER at byte {at}: {what}")]
    NotDer { at: usize, what: &'static str },
    #[error("expected {expected}, found tag 0x{found:02x}")]
    UnexpectedTag { expected: &'static str, found: u8 },
    #[error("{0}")]
    Structure(&'static str),
}

/// One DER element: its first tag octet, its content, and the whole encoding.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

impl Tlv<'_> {
    pub fn is_constructed(&self) -> bool {
        self.tag & 0x20 != 0
    }
}

fn not_der(at: usize, what: &'static str) -> DerError {
    DerError::NotDer { at, what }
}

/// Reads the element at the start of `input` and returns it with the bytes after it.
pub fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    read_tlv_at(input, 0)
}

/// As [`read_tlv`]; `offset` is where `input` starts in the whole object, for messages.
fn read_tlv_at(input: &[u8], offset: usize) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let truncated = |declared: usize, available: usize| DerError::Truncated {
        declared,
        available,
    };
    let (&tag, mut rest) = input.split_first().ok_or(truncated(1, 0))?;
    if tag & 0x1f == 0x1f {
        // X.690 §8.1.2.4: high tag numbers in base 128, no leading 0x80 octet, and only for
        // numbers of 31 or more.
        let mut number: u32 = 0;
        let mut first = true;
        loop {
            let (&b, after) = rest.split_first().ok_or(truncated(1, 0))?;
            rest = after;
            if first && b == 0x80 {
                return Err(not_der(
                    offset + 1,
                    "a tag number with a leading zero octet",
                ));
            }
            first = false;
            number = number
                .checked_mul(128)
                .and_then(|n| n.checked_add(u32::from(b & 0x7f)))
                .ok_or(not_der(offset, "a tag number that does not fit in 32 bits"))?;
            if b & 0x80 == 0 {
                break;
            }
        }
        if number < 31 {
            return Err(not_der(offset, "a tag number below 31 in the long form"));
        }
    }
    let len_at = offset + (input.len() - rest.len());
    let (&first, after_first) = rest.split_first().ok_or(truncated(1, 0))?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), after_first),
        0x80 => return Err(not_der(len_at, "an indefinite length")),
        0xff => return Err(not_der(len_at, "the reserved length octet 0xff")),
        _ => {
            let n = usize::from(first & 0x7f);
            if n > 4 {
                return Err(not_der(len_at, "a length of more than four octets"));
            }
            let len_bytes = after_first
                .get(..n)
                .ok_or(truncated(n, after_first.len()))?;
            if len_bytes.first() == Some(&0) {
                return Err(not_der(len_at, "a length with a leading zero octet"));
            }
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return Err(not_der(len_at, "a long-form length that fits in one octet"));
            }
            (len, &after_first[n..])
        }
    };
    if rest.len() < len {
        return Err(truncated(len, rest.len()));
    }
    let header = input.len() - rest.len();
    let (value, after) = rest.split_at(len);
    Ok((
        Tlv {
            tag,
            value,
            raw: &input[..header + len],
        },
        after,
    ))
}

/// Reads one element of the given tag.
pub fn expect<'a>(
    input: &'a [u8],
    tag: u8,
    expected: &'static str,
) -> Result<(Tlv<'a>, &'a [u8]), DerError> {
    let (tlv, rest) = read_tlv(input)?;
    if tlv.tag != tag {
        return Err(DerError::UnexpectedTag {
            expected,
            found: tlv.tag,
        });
    }
    Ok((tlv, rest))
}

/// Exactly one element of the given tag and nothing after it.
pub fn whole<'a>(input: &'a [u8], tag: u8, expected: &'static str) -> Result<Tlv<'a>, DerError> {
    let (tlv, rest) = expect(input, tag, expected)?;
    if !rest.is_empty() {
        return Err(DerError::Structure("extra bytes after the structure"));
    }
    Ok(tlv)
}

/// The elements of a constructed value, in order.
pub fn children(value: &[u8]) -> Result<Vec<Tlv<'_>>, DerError> {
    let mut out = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let (tlv, after) = read_tlv(rest)?;
        out.push(tlv);
        rest = after;
    }
    Ok(out)
}

/// Checks that `input` is exactly one element in DER, all the way down: every constructed
/// element's content is itself DER, and the universal primitive types whose DER form is
/// restricted (BOOLEAN, INTEGER, NULL, BIT STRING) have it.
pub fn check_tree(input: &[u8]) -> Result<(), DerError> {
    let (tlv, rest) = read_tlv(input)?;
    if !rest.is_empty() {
        return Err(DerError::Structure("extra bytes after the structure"));
    }
    check_element(&tlv, 0, 0)
}

fn check_element(tlv: &Tlv<'_>, offset: usize, depth: usize) -> Result<(), DerError> {
    if depth > MAX_DEPTH {
        return Err(not_der(offset, "nesting deeper than any certificate"));
    }
    let content_at = offset + (tlv.raw.len() - tlv.value.len());
    // Universal class, single-octet tags: the types with a restricted DER form.
    if tlv.tag & 0xc0 == 0 && tlv.tag & 0x1f != 0x1f {
        let number = tlv.tag & 0x1f;
        if tlv.is_constructed() && number != 0x10 && number != 0x11 {
            return Err(not_der(offset, "a constructed string (BER only)"));
        }
        match tlv.tag {
            BOOLEAN if tlv.value != [0x00] && tlv.value != [0xff] => {
                return Err(not_der(content_at, "a BOOLEAN that is not 0x00 or 0xff"));
            }
            INTEGER => check_integer(tlv.value, content_at)?,
            NULL if !tlv.value.is_empty() => {
                return Err(not_der(content_at, "a NULL with content"));
            }
            BIT_STRING => match tlv.value {
                [] => return Err(not_der(content_at, "an empty BIT STRING")),
                [unused, ..] if *unused > 7 => {
                    return Err(not_der(
                        content_at,
                        "a BIT STRING with more than 7 unused bits",
                    ));
                }
                [unused] if *unused != 0 => {
                    return Err(not_der(content_at, "an empty BIT STRING with unused bits"));
                }
                _ => {}
            },
            _ => {}
        }
    }
    if tlv.is_constructed() {
        let mut rest = tlv.value;
        while !rest.is_empty() {
            let at = content_at + (tlv.value.len() - rest.len());
            let (child, after) = read_tlv_at(rest, at)?;
            check_element(&child, at, depth + 1)?;
            rest = after;
        }
    }
    Ok(())
}

fn check_integer(value: &[u8], at: usize) -> Result<(), DerError> {
    match value {
        [] => Err(not_der(at, "an empty INTEGER")),
        [0x00, next, ..] if *next < 0x80 => Err(not_der(at, "an INTEGER with a leading zero")),
        [0xff, next, ..] if *next >= 0x80 => Err(not_der(at, "an INTEGER with a leading 0xff")),
        _ => Ok(()),
    }
}

/// The magnitude of a DER INTEGER that must be positive, without its sign octet.
pub fn positive_integer<'a>(tlv: &Tlv<'a>) -> Result<&'a [u8], DerError> {
    if tlv.tag != INTEGER {
        return Err(DerError::UnexpectedTag {
            expected: "INTEGER",
            found: tlv.tag,
        });
    }
    check_integer(tlv.value, 0)?;
    match tlv.value {
        [] | [0x00] => Err(DerError::Structure("a zero INTEGER")),
        [first, ..] if *first >= 0x80 => Err(DerError::Structure("a negative INTEGER")),
        [0x00, rest @ ..] => Ok(rest),
        v => Ok(v),
    }
}

/// Encodes one element.
pub fn write_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// Encodes an unsigned big-endian number as a minimal DER INTEGER.
pub fn write_unsigned(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|&&b| b == 0).count();
    let trimmed = &magnitude[skip..];
    let mut value = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|&b| b >= 0x80) {
        value.push(0);
    }
    value.extend_from_slice(trimmed);
    write_tlv(INTEGER, &value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_short_and_long_lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 70000] {
            let value = vec![7u8; len];
            let enc = write_tlv(OCTET_STRING, &value);
            let (tlv, rest) = read_tlv(&enc).unwrap();
            assert_eq!(tlv.tag, OCTET_STRING);
            assert_eq!(tlv.value, value.as_slice());
            assert_eq!(tlv.raw, enc.as_slice());
            assert!(rest.is_empty());
            check_tree(&enc).unwrap();
        }
    }

    #[test]
    fn truncation_is_an_error() {
        assert_eq!(
            read_tlv(&[0x30, 0x82, 0x01, 0x00, 1, 2]).unwrap_err(),
            DerError::Truncated {
                declared: 256,
                available: 2
            }
        );
        assert!(read_tlv(&[0x30]).is_err());
        assert!(read_tlv(&[]).is_err());
        assert!(expect(&[0x02, 0x01, 0x00], SEQUENCE, "SEQUENCE").is_err());
    }

    #[test]
    fn ber_forms_are_refused_x690_section_10_1() {
        for (bytes, what) in [
            (
                &[0x30, 0x80, 0x00, 0x00][..],
                "not DER at byte 1: an indefinite length",
            ),
            (
                &[0x04, 0x81, 0x01, 0xaa],
                "not DER at byte 1: a long-form length that fits in one octet",
            ),
            (
                &[0x04, 0x82, 0x00, 0x01, 0xaa],
                "not DER at byte 1: a length with a leading zero octet",
            ),
            (
                &[0x04, 0x85, 1, 1, 1, 1, 1],
                "not DER at byte 1: a length of more than four octets",
            ),
            (
                &[0x9f, 0x05, 0x00],
                "not DER at byte 0: a tag number below 31 in the long form",
            ),
        ] {
            assert_eq!(read_tlv(bytes).unwrap_err().to_string(), what);
        }
        // Inside a structure, the offset is the element's own.
        let nested = [0x30, 0x05, 0x02, 0x01, 0x00, 0x04, 0x00];
        check_tree(&nested).unwrap();
        let nested = [0x30, 0x07, 0x02, 0x01, 0x00, 0x04, 0x81, 0x01, 0xaa];
        assert_eq!(
            check_tree(&nested).unwrap_err().to_string(),
            "not DER at byte 6: a long-form length that fits in one octet"
        );
        for (bytes, what) in [
            (
                &[0x02, 0x02, 0x00, 0x01][..],
                "an INTEGER with a leading zero",
            ),
            (&[0x02, 0x02, 0xff, 0x80], "an INTEGER with a leading 0xff"),
            (&[0x01, 0x01, 0x01], "a BOOLEAN that is not 0x00 or 0xff"),
            (&[0x05, 0x01, 0x00], "a NULL with content"),
            (
                &[0x24, 0x03, 0x04, 0x01, 0xaa],
                "a constructed string (BER only)",
            ),
            (&[0x03, 0x01, 0x01], "an empty BIT STRING with unused bits"),
        ] {
            let e = check_tree(bytes).unwrap_err().to_string();
            assert!(e.ends_with(what), "{e}");
        }
        check_tree(&[0x02, 0x02, 0x00, 0x80]).unwrap();
        check_tree(&[0x9f, 0x1f, 0x00]).unwrap();
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut bytes = vec![0x05, 0x00];
        for _ in 0..200 {
            bytes = write_tlv(SEQUENCE, &bytes);
        }
        assert!(check_tree(&bytes).is_err());
    }

    #[test]
    fn integers() {
        assert_eq!(
            write_unsigned(&[0x00, 0x00, 0x80]),
            vec![0x02, 0x02, 0x00, 0x80]
        );
        assert_eq!(write_unsigned(&[0x01, 0x00]), vec![0x02, 0x02, 0x01, 0x00]);
        assert_eq!(write_unsigned(&[]), vec![0x02, 0x01, 0x00]);
        let (t, _) = read_tlv(&[0x02, 0x02, 0x00, 0x80]).unwrap();
        assert_eq!(positive_integer(&t).unwrap(), &[0x80]);
        let (t, _) = read_tlv(&[0x02, 0x01, 0x80]).unwrap();
        assert!(positive_integer(&t).is_err());
    }
}
