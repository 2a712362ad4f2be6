//! Text that came from a file or a peer, made safe to print.
//!
//! Subjects, PEM labels, file names and server replies are attacker-controlled: a control
//! character can move a terminal's cursor, and a bidirectional override can make a line read
//! as something else. [`escape`] shows such characters as `\u{…}` escapes and [`clip`] keeps
//! a field short enough that no message line grows without bound. Nothing here knows where the
//! text goes.

/// The longest field [`clip`] keeps, in characters, before it cuts.
pub const FIELD_CHARS: usize = 200;

/// True for characters that change how a terminal shows what follows them: C0 and C1
/// controls, DEL, and the Unicode bidirectional formatting characters.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with every control or bidirectional formatting character written as `\u{XX}`, and
/// a backslash written as `\\` so that an escape cannot be forged.
pub fn escape(text: &str) -> String {
    if !text.chars().any(|c| is_unsafe(c) || c == '\\') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Bytes that should be text (a file name on Unix, a PEM label) as escaped text; bytes that
/// are not UTF-8 are shown as `\x{NN}`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(&escape(chunk.valid()));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{{{b:02x}}}"));
        }
    }
    out
}

/// [`escape`]d and cut to [`FIELD_CHARS`] characters, with `…` where it was cut.
pub fn clip(text: &str) -> String {
    clip_to(text, FIELD_CHARS)
}

/// [`escape`]d and cut to `max` characters, with `…` where it was cut.
pub fn clip_to(text: &str, max: usize) -> String {
    shorten(&escape(text), max)
}

/// Text that is already safe, cut to `max` characters, with `…` where it was cut.
pub fn shorten(safe: &str, max: usize) -> String {
    match safe.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &safe[..cut]),
        None => safe.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_escaped() {
        assert_eq!(escape("CN=mail.example"), "CN=mail.example");
        assert_eq!(escape("CN=Müller"), "CN=Müller");
        assert_eq!(escape("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("x\u{202e}gpj.exe"), "x\\u{202e}gpj.exe");
        assert_eq!(escape("a\\u{1b}"), "a\\\\u{1b}");
        assert_eq!(escape("tab\there\n"), "tab\\u{9}here\\u{a}");
        assert_eq!(escape("\u{9b}"), "\\u{9b}");
    }

    #[test]
    fn bytes_that_are_not_utf8() {
        assert_eq!(escape_bytes(b"ok.pem"), "ok.pem");
        assert_eq!(escape_bytes(b"caf\xe9.pem"), "caf\\x{e9}.pem");
        assert_eq!(escape_bytes(b"\x1b.pem"), "\\u{1b}.pem");
    }

    #[test]
    fn clipping_counts_characters() {
        assert_eq!(clip_to("abcdef", 3), "abc…");
        assert_eq!(clip_to("abc", 3), "abc");
        assert_eq!(clip_to("ééééé", 2), "éé…");
        assert_eq!(clip(&"x".repeat(5000)).chars().count(), FIELD_CHARS + 1);
    }
}
