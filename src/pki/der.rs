//! The few DER (X.690) operations the key readers need: read one TLV, walk a SEQUENCE, and
//! write a TLV. Only what PKCS#1, PKCS#8, SEC1 and SubjectPublicKeyInfo use; no BER.

use thiserror::Error;

pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DerError {
    #[error("truncated DER: an object declares {declared} bytes but only {available} follow")]
    Truncated { declared: usize, available: usize },
    #[error("malformed DER: {0}")]
    Malformed(&'static str),
    #[error("expected {expected}, found tag 0x{found:02x}")]
    UnexpectedTag { expected: &'static str, found: u8 },
}

/// One DER element: its tag, its content, and the whole encoding.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads the element at the start of `input` and returns it with the bytes after it.
pub fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, rest) = input
        .split_first()
        .ok_or(DerError::Malformed("empty input"))?;
    if tag & 0x1f == 0x1f {
        return Err(DerError::Malformed("multi-byte tags are not used here"));
    }
    let (&first, rest) = rest.split_first().ok_or(DerError::Truncated {
        declared: 1,
        available: 0,
    })?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else if first == 0x80 {
        return Err(DerError::Malformed("indefinite length is not DER"));
    } else {
        let n = usize::from(first & 0x7f);
        if n > 4 {
            return Err(DerError::Malformed("length of more than 4 bytes"));
        }
        if rest.len() < n {
            return Err(DerError::Truncated {
                declared: n,
                available: rest.len(),
            });
        }
        let (len_bytes, rest) = rest.split_at(n);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return Err(DerError::Truncated {
            declared: len,
            available: rest.len(),
        });
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
        }
    }

    #[test]
    fn truncation_and_junk_are_errors() {
        assert_eq!(
            read_tlv(&[0x30, 0x82, 0x01, 0x00, 1, 2]).unwrap_err(),
            DerError::Truncated {
                declared: 256,
                available: 2
            }
        );
        assert!(read_tlv(&[0x30]).is_err());
        assert!(read_tlv(&[0x30, 0x80]).is_err());
        assert!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_err());
        assert!(read_tlv(&[]).is_err());
        assert!(expect(&[0x02, 0x01, 0x00], SEQUENCE, "SEQUENCE").is_err());
    }
}
