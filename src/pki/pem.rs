//! PEM armour (RFC 7468), read strictly enough to name the line that is wrong.
//!
//! Text outside the armour is ignored (as `openssl x509 -text` output has it). RFC 1421
//! headers are skipped, and `Proc-Type: 4,ENCRYPTED` marks the block as encrypted.

use crate::text;

/// One `-----BEGIN LABEL-----` … `-----END LABEL-----` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub label: String,
    /// 1-based line of the BEGIN line.
    pub line: usize,
    pub der: Vec<u8>,
    /// The block carries `Proc-Type: 4,ENCRYPTED` (OpenSSL's traditional encrypted keys).
    pub encrypted: bool,
}

/// A line number and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemError {
    pub line: usize,
    pub reason: String,
}

/// True when the input looks like PEM (has a BEGIN line somewhere).
pub fn looks_like_pem(input: &[u8]) -> bool {
    input.windows(11).any(|w| w == b"-----BEGIN ")
}

fn armour<'a>(line: &'a str, kind: &str) -> Option<&'a str> {
    line.strip_prefix("-----")?
        .strip_prefix(kind)?
        .strip_prefix(' ')?
        .strip_suffix("-----")
}

/// Reads every block of a PEM file, in order.
pub fn parse(input: &[u8]) -> Result<Vec<Block>, PemError> {
    struct Open {
        label: String,
        line: usize,
        body: String,
        encrypted: bool,
        in_headers: bool,
    }
    let mut blocks = Vec::new();
    let mut open: Option<Open> = None;
    for (index, raw) in input.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let text = String::from_utf8_lossy(raw);
        let line = text.trim();
        match open.as_mut() {
            None => {
                if let Some(label) = armour(line, "BEGIN") {
                    open = Some(Open {
                        label: label.to_string(),
                        line: line_no,
                        body: String::new(),
                        encrypted: false,
                        in_headers: true,
                    });
                } else if line.starts_with("-----END") {
                    return Err(PemError {
                        line: line_no,
                        reason: "END line without a BEGIN line".into(),
                    });
                }
            }
            Some(block) => {
                if let Some(label) = armour(line, "END") {
                    if label != block.label {
                        return Err(PemError {
                            line: line_no,
                            reason: format!(
                                "\"BEGIN {}\" (line {}) is closed by \"END {}\"",
                                text::clip(&block.label),
                                block.line,
                                text::clip(label)
                            ),
                        });
                    }
                    let der = data_encoding::BASE64
                        .decode(block.body.as_bytes())
                        .map_err(|e| PemError {
                            line: block.line,
                            reason: format!(
                                "the {} block is not valid base64: {e}",
                                text::clip(&block.label)
                            ),
                        })?;
                    if der.is_empty() {
                        return Err(PemError {
                            line: block.line,
                            reason: format!("the {} block is empty", text::clip(&block.label)),
                        });
                    }
                    blocks.push(Block {
                        label: std::mem::take(&mut block.label),
                        line: block.line,
                        der,
                        encrypted: block.encrypted,
                    });
                    open = None;
                } else if line.starts_with("-----") {
                    return Err(PemError {
                        line: line_no,
                        reason: format!(
                            "\"BEGIN {}\" (line {}) has no END line before this one",
                            text::clip(&block.label),
                            block.line
                        ),
                    });
                } else if block.in_headers && line.contains(':') {
                    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
                    if compact.eq_ignore_ascii_case("Proc-Type:4,ENCRYPTED") {
                        block.encrypted = true;
                    }
                } else {
                    block.in_headers = false;
                    block
                        .body
                        .extend(line.chars().filter(|c| !c.is_whitespace()));
                }
            }
        }
    }
    match open {
        Some(block) => Err(PemError {
            line: block.line,
            reason: format!("\"BEGIN {}\" has no END line", text::clip(&block.label)),
        }),
        None => Ok(blocks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_blocks_with_surrounding_text_and_crlf() {
        let text = b"subject=CN=x\r\n-----BEGIN CERTIFICATE-----\r\nAAEC\r\nAw==\r\n-----END CERTIFICATE-----\r\n\
                     -----BEGIN PRIVATE KEY-----\nBAU=\n-----END PRIVATE KEY-----\n";
        let blocks = parse(text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(blocks[0].line, 2);
        assert_eq!(blocks[0].der, vec![0, 1, 2, 3]);
        assert_eq!(blocks[1].label, "PRIVATE KEY");
        assert_eq!(blocks[1].line, 6);
        assert!(!blocks[1].encrypted);
    }

    #[test]
    fn errors_name_the_line() {
        let wrong = b"-----BEGIN CERTIFICATE-----\nAAEC\n-----END PRIVATE KEY-----\n";
        let e = parse(wrong).unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(
            e.reason,
            "\"BEGIN CERTIFICATE\" (line 1) is closed by \"END PRIVATE KEY\""
        );
        let open = b"x\n-----BEGIN CERTIFICATE-----\nAAEC\n";
        assert_eq!(parse(open).unwrap_err().line, 2);
        let bad = b"-----BEGIN CERTIFICATE-----\nA!!C\n-----END CERTIFICATE-----\n";
        assert!(parse(bad).unwrap_err().reason.contains("not valid base64"));
        let stray = b"-----END CERTIFICATE-----\n";
        assert_eq!(parse(stray).unwrap_err().line, 1);
    }

    #[test]
    fn traditional_encryption_header_is_seen() {
        let text = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAEC\n-----END RSA PRIVATE KEY-----\n";
        let blocks = parse(text).unwrap();
        assert!(blocks[0].encrypted);
        assert_eq!(blocks[0].der, vec![0, 1, 2]);
    }
}
