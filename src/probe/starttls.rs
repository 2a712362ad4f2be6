//! The plaintext dialogues that switch a connection to TLS: SMTP `STARTTLS` (RFC 3207 over
//! RFC 5321), IMAP `STARTTLS` (RFC 3501 §6.2.1, RFC 9051 §6.2.1) and POP3 `STLS` (RFC 2595 §4).
//!
//! This module owns the client side of those dialogues and nothing after them: [`negotiate`]
//! returns when the server has agreed to start TLS and the stream is positioned at the first
//! byte of the handshake. It does no TLS and opens no connections.
//!
//! Everything read comes from a hostile peer, so the reader is bounded: a line is at most
//! [`MAX_LINE`] bytes, a reply at most [`MAX_LINES`] lines, and each reply must be complete
//! within the timeout. Lines end in CRLF; a bare LF is accepted. Bytes the server sends after
//! its STARTTLS reply are never read as part of the TLS session: their presence stops the
//! probe (RFC 3207 §5, RFC 2595 §4, CVE-2011-0411).

use std::fmt;
use std::io;
use std::time::Instant;

use super::{Budget, Peer, ProbeError, Starttls, Step, remaining};
use crate::env::Stream;

/// The longest reply line accepted, without its line end. RFC 5321 §4.5.3.1.5 allows 512
/// octets for SMTP; IMAP capability lines run longer, so the bound is generous.
pub const MAX_LINE: usize = 4096;

/// The most lines accepted in one reply (an SMTP multi-line reply, an IMAP response up to its
/// tagged line, a POP3 CAPA list).
pub const MAX_LINES: usize = 200;

/// How many bytes of unexpected data an [`ProbeError::Injection`] shows.
const PREVIEW_BYTES: usize = 64;

/// How many lines of a reply an error message shows.
const SHOWN_LINES: usize = 8;

/// Who sent a line of the dialogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Client,
    Server,
}

/// One line of the dialogue, without its line end, escaped as in [`Reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    pub direction: Direction,
    pub text: String,
}

/// The plaintext dialogue in the order it happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    pub lines: Vec<TranscriptLine>,
}

impl Transcript {
    fn push(&mut self, direction: Direction, text: &str) {
        self.lines.push(TranscriptLine {
            direction,
            text: text.to_owned(),
        });
    }
}

impl fmt::Display for Transcript {
    /// One line per exchanged line: `C: EHLO danekit.invalid`, `S: 250 ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            let who = match line.direction {
                Direction::Client => "C",
                Direction::Server => "S",
            };
            writeln!(f, "{who}: {}", line.text)?;
        }
        Ok(())
    }
}

/// A server reply, line by line without line ends. Bytes outside printable ASCII are shown as
/// `\xNN` (and a backslash as `\\`), so a reply can be printed safely.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    pub lines: Vec<String>,
}

impl fmt::Display for Reply {
    /// The lines joined by `, `; after the first few, a count of the rest.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, line) in self.lines.iter().take(SHOWN_LINES).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(line)?;
        }
        if self.lines.len() > SHOWN_LINES {
            write!(f, ", ... ({} more lines)", self.lines.len() - SHOWN_LINES)?;
        }
        Ok(())
    }
}

/// What was wrong with a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("a line longer than {limit} bytes")]
    LineTooLong { limit: usize },
    #[error("more than {limit} lines in one reply")]
    TooManyLines { limit: usize },
    /// A line that is not what the protocol allows at this point.
    #[error("unexpected line \"{line}\"")]
    Unexpected { line: String },
}

/// Runs the dialogue of `protocol` on `stream` until the server has agreed to start TLS.
///
/// `client_name` is sent in SMTP `EHLO`; it must be a domain or an address literal
/// (RFC 5321 §4.1.1.1). `peer` is named in errors. The greeting must arrive within the
/// budget's greeting limit and each other reply within its step limit, all before the
/// budget's end. With [`Starttls::None`] nothing is exchanged.
pub fn negotiate<S: Stream + ?Sized>(
    stream: &mut S,
    protocol: Starttls,
    peer: &Peer,
    client_name: &str,
    budget: &Budget,
) -> Result<Transcript, ProbeError> {
    let mut session = Session {
        stream,
        buf: Vec::new(),
        peer,
        budget: *budget,
        transcript: Transcript::default(),
    };
    match protocol {
        Starttls::Smtp => smtp(&mut session, client_name)?,
        Starttls::Imap => imap(&mut session)?,
        Starttls::Pop3 => pop3(&mut session)?,
        Starttls::None => {}
    }
    Ok(session.transcript)
}

/// RFC 3207 §4 over RFC 5321: 220 greeting, EHLO, the STARTTLS keyword in the 250 reply,
/// STARTTLS, 220.
fn smtp<S: Stream + ?Sized>(s: &mut Session<'_, S>, client_name: &str) -> Result<(), ProbeError> {
    let greeting = s.read_smtp_reply(Step::Greeting)?;
    match greeting.code {
        220 => {}
        // RFC 5321 §3.1: 554 (or a 4xx) instead of 220 means no service; a client must
        // wait for QUIT's reply, but there is nothing left to learn.
        400..=599 => return Err(s.greeting_error(greeting.lines)),
        _ => return Err(s.unexpected(Step::Greeting, &greeting.lines)),
    }

    s.send("EHLO", &format!("EHLO {client_name}"))?;
    let ehlo = s.read_smtp_reply(Step::Reply("EHLO"))?;
    // RFC 5321 §4.1.1.1: an error reply to EHLO (a HELO restriction, an unknown command) is
    // not a missing STARTTLS: say what the server refused.
    if ehlo.code >= 400 {
        return Err(ProbeError::EhloRejected {
            peer: s.peer.boxed(),
            name: client_name.to_owned(),
            reply: Reply { lines: ehlo.lines },
        });
    }
    // The first line names the server; each further line starts with an extension keyword.
    let offered = ehlo.code == 250
        && ehlo.lines.iter().skip(1).any(|line| {
            line.get(4..)
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|keyword| keyword.eq_ignore_ascii_case("STARTTLS"))
        });
    if !offered {
        return Err(s.no_starttls("STARTTLS", "EHLO reply", ehlo.lines));
    }

    s.send("STARTTLS", "STARTTLS")?;
    let reply = s.read_smtp_reply(Step::Reply("STARTTLS"))?;
    if reply.code != 220 {
        return Err(s.refused("STARTTLS", reply.lines));
    }
    s.ensure_drained("STARTTLS")
}

/// RFC 3501 §6.2.1 / RFC 9051 §6.2.1: `* OK` greeting, capabilities (from the greeting's
/// response code or `CAPABILITY`), `STARTTLS`, tagged `OK`.
fn imap<S: Stream + ?Sized>(s: &mut Session<'_, S>) -> Result<(), ProbeError> {
    let greeting = s.read_line(Step::Greeting, s.greeting_deadline())?;
    let (status, rest) = imap_untagged_status(&greeting);
    let greeting_caps = match status.as_deref() {
        Some("OK") => imap_response_code_capabilities(rest),
        Some("BYE") => return Err(s.greeting_error(vec![greeting])),
        // RFC 3501 §6.2.1: STARTTLS is only valid in the not-authenticated state, which a
        // PREAUTH greeting skips.
        Some("PREAUTH") => return Err(s.no_starttls("STARTTLS", "greeting", vec![greeting])),
        _ => return Err(s.unexpected(Step::Greeting, &[greeting])),
    };

    match greeting_caps {
        Some(caps) => {
            if !has_atom(&caps, "STARTTLS") {
                return Err(s.no_starttls("STARTTLS", "greeting", vec![greeting]));
            }
        }
        None => {
            s.send("CAPABILITY", "a1 CAPABILITY")?;
            let response = s.read_imap_response("a1", Step::Reply("CAPABILITY"))?;
            let mut caps = Vec::new();
            for line in &response.lines {
                let (status, rest) = imap_untagged_status(line);
                if status.as_deref() == Some("CAPABILITY") {
                    caps.extend(rest.split_whitespace().map(str::to_owned));
                }
            }
            if let Some(code) = imap_response_code_capabilities(&response.tagged_rest) {
                caps.extend(code);
            }
            if response.status != "OK" || !has_atom(&caps, "STARTTLS") {
                return Err(s.no_starttls("STARTTLS", "CAPABILITY reply", response.lines));
            }
        }
    }

    s.send("STARTTLS", "a2 STARTTLS")?;
    let response = s.read_imap_response("a2", Step::Reply("STARTTLS"))?;
    if response.status != "OK" {
        return Err(s.refused("STARTTLS", response.lines));
    }
    s.ensure_drained("STARTTLS")
}

/// RFC 2595 §4 with RFC 2449 CAPA: `+OK` greeting, `CAPA` looking for `STLS` (a server without
/// CAPA may still know STLS), `STLS`, `+OK`.
fn pop3<S: Stream + ?Sized>(s: &mut Session<'_, S>) -> Result<(), ProbeError> {
    let greeting = s.read_line(Step::Greeting, s.greeting_deadline())?;
    match pop3_status(&greeting) {
        Some(true) => {}
        Some(false) => return Err(s.greeting_error(vec![greeting])),
        None => return Err(s.unexpected(Step::Greeting, &[greeting])),
    }

    s.send("CAPA", "CAPA")?;
    let step = Step::Reply("CAPA");
    let deadline = s.deadline();
    let first = s.read_line(step, deadline)?;
    let capa_lines = match pop3_status(&first) {
        Some(true) => {
            let mut lines = vec![first];
            // RFC 2449 §5: a multi-line list ending in ".", dot-stuffed (RFC 1939 §3).
            loop {
                if lines.len() >= MAX_LINES {
                    return Err(s.malformed(step, Malformed::TooManyLines { limit: MAX_LINES }));
                }
                let line = s.read_line(step, deadline)?;
                let done = line == ".";
                lines.push(line);
                if done {
                    break;
                }
            }
            let offered = lines.iter().skip(1).any(|line| {
                let unstuffed = line.strip_prefix('.').unwrap_or(line);
                unstuffed
                    .split_whitespace()
                    .next()
                    .is_some_and(|keyword| keyword.eq_ignore_ascii_case("STLS"))
            });
            if !offered {
                return Err(s.no_starttls("STLS", "CAPA reply", lines));
            }
            None
        }
        // RFC 2449 is optional: a server that does not know CAPA may still accept STLS.
        Some(false) => Some(first),
        None => return Err(s.unexpected(step, &[first])),
    };

    // A server that answered -ERR (to CAPA, or unprompted, as Cyrus does in maintenance)
    // and hung up is reported with its own words.
    let closed_after = |s: &Session<'_, S>, e: ProbeError| match (&e, &capa_lines) {
        (ProbeError::Closed { .. }, Some(err_reply)) => ProbeError::ClosedAfterError {
            peer: s.peer.boxed(),
            reply: err_reply.clone(),
        },
        _ => e,
    };
    if let Err(e) = s.send("STLS", "STLS") {
        return Err(closed_after(s, e));
    }
    let step = Step::Reply("STLS");
    let deadline = s.deadline();
    let reply = match s.read_line(step, deadline) {
        Ok(line) => line,
        Err(e) => return Err(closed_after(s, e)),
    };
    match (pop3_status(&reply), capa_lines) {
        (Some(true), _) => s.ensure_drained("STLS"),
        (Some(false), Some(capa_error)) => {
            Err(s.no_starttls("STLS", "CAPA and STLS replies", vec![capa_error, reply]))
        }
        (Some(false), None) => Err(s.refused("STLS", vec![reply])),
        (None, _) => Err(s.unexpected(step, &[reply])),
    }
}

/// `Some(true)` for `+OK`, `Some(false)` for `-ERR`, `None` for anything else (RFC 1939 §3).
fn pop3_status(line: &str) -> Option<bool> {
    let word = line.split_whitespace().next()?;
    if word.eq_ignore_ascii_case("+OK") {
        Some(true)
    } else if word.eq_ignore_ascii_case("-ERR") {
        Some(false)
    } else {
        None
    }
}

/// For `* WORD rest`, the upper-cased `WORD` and `rest`.
fn imap_untagged_status(line: &str) -> (Option<String>, &str) {
    let Some(after_star) = line.strip_prefix("* ") else {
        return (None, "");
    };
    let after_star = after_star.trim_start();
    let (word, rest) = after_star.split_once(' ').unwrap_or((after_star, ""));
    (Some(word.to_ascii_uppercase()), rest)
}

/// The atoms of a `[CAPABILITY ...]` response code at the start of `text` (RFC 3501 §7.1).
fn imap_response_code_capabilities(text: &str) -> Option<Vec<String>> {
    let code = text.trim_start().strip_prefix('[')?;
    let (code, _) = code.split_once(']')?;
    let (name, atoms) = code.split_once(' ').unwrap_or((code, ""));
    name.eq_ignore_ascii_case("CAPABILITY")
        .then(|| atoms.split_whitespace().map(str::to_owned).collect())
}

fn has_atom(atoms: &[String], wanted: &str) -> bool {
    atoms.iter().any(|atom| atom.eq_ignore_ascii_case(wanted))
}

struct SmtpReply {
    code: u16,
    lines: Vec<String>,
}

struct ImapResponse {
    /// Every line, untagged ones and the tagged one.
    lines: Vec<String>,
    /// The tagged status, upper-cased: `OK`, `NO` or `BAD`.
    status: String,
    /// What follows the status on the tagged line.
    tagged_rest: String,
}

/// The stream, the bytes read but not yet consumed, and what the errors need.
struct Session<'a, S: ?Sized> {
    stream: &'a mut S,
    buf: Vec<u8>,
    peer: &'a Peer,
    budget: Budget,
    transcript: Transcript,
}

impl<S: Stream + ?Sized> Session<'_, S> {
    /// The time by which a reply starting now must be complete.
    fn deadline(&self) -> Instant {
        self.budget.deadline(self.budget.timeout)
    }

    /// The time by which the greeting must be complete (RFC 5321 §4.5.3.2.1 allows a server
    /// five minutes; greeting delays are an anti-spam measure).
    fn greeting_deadline(&self) -> Instant {
        self.budget.deadline(self.budget.greeting_timeout)
    }

    /// The limit a timeout at `step` exceeded, for the message.
    fn limit(&self, step: Step) -> std::time::Duration {
        match step {
            Step::Greeting => self.budget.greeting_timeout,
            _ => self.budget.timeout,
        }
    }

    fn send(&mut self, command: &'static str, line: &str) -> Result<(), ProbeError> {
        self.transcript.push(Direction::Client, line);
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        let step = Step::Send(command);
        self.stream
            .write_all(&bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|e| ProbeError::from_io(self.peer, step, self.budget.timeout, e))
    }

    /// The next line, without its CRLF (or bare LF), escaped.
    fn read_line(&mut self, step: Step, deadline: Instant) -> Result<String, ProbeError> {
        let mut chunk = [0u8; 1024];
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > MAX_LINE {
                    return Err(self.malformed(step, Malformed::LineTooLong { limit: MAX_LINE }));
                }
                let text = escape(&line, false);
                self.transcript.push(Direction::Server, &text);
                return Ok(text);
            }
            // MAX_LINE plus a CR may still be waiting for its LF; more cannot be a valid line.
            if self.buf.len() > MAX_LINE + 1 {
                return Err(self.malformed(step, Malformed::LineTooLong { limit: MAX_LINE }));
            }
            // Each read waits at most until the deadline, so a server that trickles bytes
            // cannot stretch a reply past it.
            if Instant::now() >= deadline {
                return Err(ProbeError::Timeout {
                    peer: self.peer.boxed(),
                    step,
                    limit: self.limit(step),
                });
            }
            let limit = self.limit(step);
            self.stream
                .set_read_timeout(Some(remaining(deadline)))
                .map_err(|e| ProbeError::from_io(self.peer, step, limit, e))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(ProbeError::Closed {
                        peer: self.peer.boxed(),
                        step,
                    });
                }
                Ok(n) => self.buf.extend_from_slice(chunk.get(..n).unwrap_or(&chunk)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ProbeError::from_io(self.peer, step, limit, e)),
            }
        }
    }

    /// An RFC 5321 §4.2 reply: `NNN-text` lines, then `NNN text` (or a bare `NNN`), all with
    /// the same code.
    fn read_smtp_reply(&mut self, step: Step) -> Result<SmtpReply, ProbeError> {
        let deadline = match step {
            Step::Greeting => self.greeting_deadline(),
            _ => self.deadline(),
        };
        let mut lines: Vec<String> = Vec::new();
        let mut code = None;
        loop {
            if lines.len() >= MAX_LINES {
                return Err(self.malformed(step, Malformed::TooManyLines { limit: MAX_LINES }));
            }
            let line = self.read_line(step, deadline)?;
            let parsed = parse_smtp_line(&line);
            let Some((line_code, last)) = parsed.filter(|(c, _)| code.is_none_or(|k| k == *c))
            else {
                return Err(self.unexpected(step, &[line]));
            };
            code = Some(line_code);
            lines.push(line);
            if last {
                return Ok(SmtpReply {
                    code: line_code,
                    lines,
                });
            }
        }
    }

    /// Lines up to and including the one tagged `tag` (RFC 3501 §2.2.2).
    fn read_imap_response(&mut self, tag: &str, step: Step) -> Result<ImapResponse, ProbeError> {
        let deadline = self.deadline();
        let mut lines = Vec::new();
        loop {
            if lines.len() >= MAX_LINES {
                return Err(self.malformed(step, Malformed::TooManyLines { limit: MAX_LINES }));
            }
            let line = self.read_line(step, deadline)?;
            let tagged = line
                .strip_prefix(tag)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(|rest| {
                    let rest = rest.trim_start();
                    let (status, after) = rest.split_once(' ').unwrap_or((rest, ""));
                    (status.to_ascii_uppercase(), after.to_owned())
                });
            if let Some((status, tagged_rest)) = tagged {
                lines.push(line);
                return Ok(ImapResponse {
                    lines,
                    status,
                    tagged_rest,
                });
            }
            if !line.starts_with('*') {
                return Err(self.unexpected(step, &[line]));
            }
            lines.push(line);
        }
    }

    /// After the reply that starts TLS, nothing may be buffered: the server spoke out of turn,
    /// and those bytes would otherwise be taken as the first of the TLS session or, worse, as
    /// replies to commands sent over it (CVE-2011-0411).
    fn ensure_drained(&self, command: &'static str) -> Result<(), ProbeError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let shown = self.buf.get(..PREVIEW_BYTES).unwrap_or(&self.buf);
        let mut preview = escape(shown, true);
        if self.buf.len() > PREVIEW_BYTES {
            preview.push_str("...");
        }
        Err(ProbeError::Injection {
            peer: self.peer.boxed(),
            command,
            bytes: self.buf.len(),
            preview,
        })
    }

    fn malformed(&self, step: Step, problem: Malformed) -> ProbeError {
        ProbeError::Protocol {
            peer: self.peer.boxed(),
            step,
            problem,
        }
    }

    fn unexpected(&self, step: Step, lines: &[String]) -> ProbeError {
        let line = lines.first().map(|l| shorten(l)).unwrap_or_default();
        self.malformed(step, Malformed::Unexpected { line })
    }

    fn greeting_error(&self, lines: Vec<String>) -> ProbeError {
        ProbeError::Greeting {
            peer: self.peer.boxed(),
            reply: Reply { lines },
        }
    }

    fn no_starttls(
        &self,
        keyword: &'static str,
        seen_in: &'static str,
        lines: Vec<String>,
    ) -> ProbeError {
        ProbeError::NoStarttls {
            peer: self.peer.boxed(),
            keyword,
            seen_in,
            reply: Reply { lines },
        }
    }

    fn refused(&self, command: &'static str, lines: Vec<String>) -> ProbeError {
        ProbeError::StarttlsRefused {
            peer: self.peer.boxed(),
            command,
            reply: Reply { lines },
        }
    }
}

/// The code of an SMTP reply line and whether it is the last line of its reply.
fn parse_smtp_line(line: &str) -> Option<(u16, bool)> {
    let bytes = line.as_bytes();
    let &[a, b, c, ..] = bytes else {
        return None;
    };
    // RFC 5321 §4.2: the first digit is 2 to 5, the second 0 to 5.
    let valid = matches!(a, b'2'..=b'5') && matches!(b, b'0'..=b'5') && c.is_ascii_digit();
    if !valid {
        return None;
    }
    let code = [a, b, c]
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    match bytes.get(3) {
        None | Some(b' ') => Some((code, true)),
        Some(b'-') => Some((code, false)),
        Some(_) => None,
    }
}

/// Printable ASCII as is; a backslash as `\\`; CR, LF and TAB as `\r`, `\n`, `\t`; every
/// other byte as `\xNN`. With `quote`, `"` becomes `\"` too.
fn escape(bytes: &[u8], quote: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' if quote => out.push_str("\\\""),
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// A line cut to a length that fits in a one-line message.
fn shorten(line: &str) -> String {
    const KEEP: usize = 120;
    // Escaped text is ASCII, so any index is a char boundary.
    match line.get(..KEEP) {
        Some(head) if line.len() > KEEP => format!("{head}..."),
        _ => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A stream that serves `input` in chunks of `chunk` bytes and records what is written.
    struct Scripted {
        input: Vec<u8>,
        pos: usize,
        chunk: usize,
        written: Vec<u8>,
    }

    impl Scripted {
        fn new(input: &[u8]) -> Self {
            Scripted {
                input: input.to_vec(),
                pos: 0,
                chunk: usize::MAX,
                written: Vec::new(),
            }
        }

        fn written(&self) -> String {
            String::from_utf8_lossy(&self.written).into_owned()
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let rest = &self.input[self.pos..];
            let n = rest.len().min(buf.len()).min(self.chunk);
            buf[..n].copy_from_slice(&rest[..n]);
            self.pos += n;
            Ok(n)
        }
    }

    impl crate::env::Stream for Scripted {
        fn set_read_timeout(&self, _: Option<std::time::Duration>) -> io::Result<()> {
            Ok(())
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn budget() -> Budget {
        let timeout = std::time::Duration::from_secs(5);
        Budget {
            timeout,
            greeting_timeout: timeout,
            end: Instant::now() + timeout * 4,
        }
    }

    fn run(protocol: Starttls, stream: &mut Scripted) -> Result<Transcript, ProbeError> {
        let peer = Peer::new("127.0.0.1", 25);
        negotiate(stream, protocol, &peer, "danekit.invalid", &budget())
    }

    const SMTP_OK: &[u8] = b"220-mx.example.test ESMTP\r\n220 second greeting line\r\n\
        250-mx.example.test\r\n250-PIPELINING\r\n250-starttls\r\n250 8BITMIME\r\n\
        220 2.0.0 Ready to start TLS\r\n";

    #[test]
    fn smtp_dialogue_rfc_3207_section_4() {
        let mut stream = Scripted::new(SMTP_OK);
        let transcript = run(Starttls::Smtp, &mut stream).unwrap();
        assert_eq!(stream.written(), "EHLO danekit.invalid\r\nSTARTTLS\r\n");
        assert_eq!(transcript.lines.len(), 9);
        assert_eq!(
            transcript.to_string().lines().nth(2),
            Some("C: EHLO danekit.invalid")
        );
    }

    #[test]
    fn smtp_dialogue_byte_by_byte() {
        let mut stream = Scripted::new(SMTP_OK);
        stream.chunk = 1;
        run(Starttls::Smtp, &mut stream).unwrap();
    }

    #[test]
    fn smtp_bare_lf_is_tolerated() {
        let input = String::from_utf8(SMTP_OK.to_vec())
            .unwrap()
            .replace("\r\n", "\n");
        run(Starttls::Smtp, &mut Scripted::new(input.as_bytes())).unwrap();
    }

    #[test]
    fn smtp_starttls_keyword_only_counts_as_a_keyword() {
        // "STARTTLS" in the server's own name line or inside another keyword's parameters
        // does not advertise the extension.
        let input = b"220 x\r\n250-STARTTLS.example.test\r\n250 AUTH STARTTLS\r\n";
        let err = run(Starttls::Smtp, &mut Scripted::new(input)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "127.0.0.1:25: server does not offer STARTTLS \
             (EHLO reply: 250-STARTTLS.example.test, 250 AUTH STARTTLS)"
        );
    }

    #[test]
    fn smtp_injection_is_detected_rfc_3207_section_5() {
        let input = [SMTP_OK, b"250 \"pwned\"\r\n\x16"].concat();
        let err = run(Starttls::Smtp, &mut Scripted::new(&input)).unwrap_err();
        match &err {
            ProbeError::Injection {
                command,
                bytes,
                preview,
                ..
            } => {
                assert_eq!(*command, "STARTTLS");
                assert_eq!(*bytes, 14);
                assert_eq!(preview, "250 \\\"pwned\\\"\\r\\n\\x16");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn injection_preview_is_short() {
        let input = [SMTP_OK, &[b'A'; 100][..]].concat();
        let err = run(Starttls::Smtp, &mut Scripted::new(&input)).unwrap_err();
        let ProbeError::Injection { bytes, preview, .. } = err else {
            panic!("{err}");
        };
        assert_eq!(bytes, 100);
        assert_eq!(preview, format!("{}...", "A".repeat(64)));
    }

    #[test]
    fn smtp_greeting_refusal_rfc_5321_section_3_1() {
        for input in [
            &b"554 5.3.2 no service\r\n"[..],
            b"421-busy\r\n421 try later\r\n",
        ] {
            let err = run(Starttls::Smtp, &mut Scripted::new(input)).unwrap_err();
            assert!(matches!(err, ProbeError::Greeting { .. }), "{err}");
        }
    }

    #[test]
    fn smtp_malformed_replies() {
        for (input, problem) in [
            (&b"hello\r\n"[..], "unexpected line \"hello\""),
            (b"220-a\r\n250 b\r\n", "unexpected line \"250 b\""),
            (b"220x\r\n", "unexpected line \"220x\""),
            (b"620 x\r\n", "unexpected line \"620 x\""),
            (b"22\r\n", "unexpected line \"22\""),
        ] {
            let err = run(Starttls::Smtp, &mut Scripted::new(input)).unwrap_err();
            match &err {
                ProbeError::Protocol { problem: p, .. } => {
                    assert_eq!(p.to_string(), problem, "{err}")
                }
                other => panic!("{other}"),
            }
        }
    }

    #[test]
    fn escaped_lines_are_printable() {
        let peer = Peer::new("h", 1);
        let mut stream = Scripted::new(b"220 \xff\x00\\ok\"\r\n");
        let mut s = Session {
            stream: &mut stream,
            buf: Vec::new(),
            peer: &peer,
            budget: budget(),
            transcript: Transcript::default(),
        };
        let line = s.read_line(Step::Greeting, s.deadline()).unwrap();
        assert_eq!(line, "220 \\xff\\x00\\\\ok\"");
    }

    #[test]
    fn line_length_is_bounded() {
        let mut input = b"220 ".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE * 3));
        let err = run(Starttls::Smtp, &mut Scripted::new(&input)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "127.0.0.1:25: malformed reply while waiting for the greeting: \
             a line longer than 4096 bytes"
        );

        // Exactly MAX_LINE bytes before CRLF is accepted.
        let mut input = b"220 ".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE - 4));
        input.extend_from_slice(b"\r\n");
        let err = run(Starttls::Smtp, &mut Scripted::new(&input)).unwrap_err();
        assert!(matches!(err, ProbeError::Closed { .. }), "{err}");
    }

    #[test]
    fn reply_length_is_bounded() {
        let input = b"220-x\r\n".repeat(MAX_LINES + 5);
        let err = run(Starttls::Smtp, &mut Scripted::new(&input)).unwrap_err();
        assert!(
            matches!(
                err,
                ProbeError::Protocol {
                    problem: Malformed::TooManyLines { limit: MAX_LINES },
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn reply_display_is_cut() {
        let reply = Reply {
            lines: (0..10).map(|i| format!("250-L{i}")).collect(),
        };
        assert_eq!(
            reply.to_string(),
            "250-L0, 250-L1, 250-L2, 250-L3, 250-L4, 250-L5, 250-L6, 250-L7, ... (2 more lines)"
        );
    }

    #[test]
    fn imap_dialogue_rfc_3501_section_6_2_1() {
        let input = b"* OK IMAP4rev1 ready\r\n\
            * CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\na1 OK done\r\n\
            a2 OK Begin TLS\r\n";
        let mut stream = Scripted::new(input);
        run(Starttls::Imap, &mut stream).unwrap();
        assert_eq!(stream.written(), "a1 CAPABILITY\r\na2 STARTTLS\r\n");
    }

    #[test]
    fn imap_greeting_capabilities_skip_the_capability_command() {
        let input = b"* OK [CAPABILITY IMAP4rev1 starttls] ready\r\na2 OK go\r\n";
        let mut stream = Scripted::new(input);
        run(Starttls::Imap, &mut stream).unwrap();
        assert_eq!(stream.written(), "a2 STARTTLS\r\n");
    }

    #[test]
    fn imap_capabilities_in_tagged_response_code() {
        let input = b"* OK ready\r\na1 OK [CAPABILITY IMAP4rev1 STARTTLS] done\r\na2 OK go\r\n";
        run(Starttls::Imap, &mut Scripted::new(input)).unwrap();
    }

    #[test]
    fn imap_failures() {
        let cases: [(&[u8], &str); 5] = [
            (
                b"* BYE go away\r\n",
                "127.0.0.1:25: server refused the session in its greeting (* BYE go away)",
            ),
            (
                b"* PREAUTH welcome\r\n",
                "127.0.0.1:25: server does not offer STARTTLS (greeting: * PREAUTH welcome)",
            ),
            (
                b"* OK [CAPABILITY IMAP4rev1] hi\r\n",
                "127.0.0.1:25: server does not offer STARTTLS \
                 (greeting: * OK [CAPABILITY IMAP4rev1] hi)",
            ),
            (
                b"* OK hi\r\n* CAPABILITY IMAP4rev1\r\na1 OK done\r\n",
                "127.0.0.1:25: server does not offer STARTTLS \
                 (CAPABILITY reply: * CAPABILITY IMAP4rev1, a1 OK done)",
            ),
            (
                b"* OK hi\r\n* CAPABILITY STARTTLS\r\na1 OK done\r\na2 NO not now\r\n",
                "127.0.0.1:25: server refused STARTTLS (a2 NO not now)",
            ),
        ];
        for (input, message) in cases {
            let err = run(Starttls::Imap, &mut Scripted::new(input)).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn pop3_dialogue_rfc_2595_section_4() {
        let input = b"+OK POP3 ready\r\n+OK list\r\nUSER\r\nSTLS\r\n..dot\r\n.\r\n+OK go\r\n";
        let mut stream = Scripted::new(input);
        run(Starttls::Pop3, &mut stream).unwrap();
        assert_eq!(stream.written(), "CAPA\r\nSTLS\r\n");
    }

    #[test]
    fn pop3_without_capa_tries_stls() {
        let input = b"+OK POP3 ready\r\n-ERR unknown command\r\n+OK go\r\n";
        let mut stream = Scripted::new(input);
        run(Starttls::Pop3, &mut stream).unwrap();
        assert_eq!(stream.written(), "CAPA\r\nSTLS\r\n");

        let input = b"+OK POP3 ready\r\n-ERR unknown command\r\n-ERR what\r\n";
        let err = run(Starttls::Pop3, &mut Scripted::new(input)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "127.0.0.1:25: server does not offer STLS \
             (CAPA and STLS replies: -ERR unknown command, -ERR what)"
        );
    }

    #[test]
    fn pop3_failures() {
        let cases: [(&[u8], &str); 3] = [
            (
                b"-ERR busy\r\n",
                "127.0.0.1:25: server refused the session in its greeting (-ERR busy)",
            ),
            (
                b"+OK hi\r\n+OK\r\nUSER\r\n.\r\n",
                "127.0.0.1:25: server does not offer STLS (CAPA reply: +OK, USER, .)",
            ),
            (
                b"+OK hi\r\n+OK\r\nSTLS\r\n.\r\n-ERR no\r\n",
                "127.0.0.1:25: server refused STLS (-ERR no)",
            ),
        ];
        for (input, message) in cases {
            let err = run(Starttls::Pop3, &mut Scripted::new(input)).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn none_exchanges_nothing() {
        let mut stream = Scripted::new(b"ignored");
        let transcript = run(Starttls::None, &mut stream).unwrap();
        assert!(transcript.lines.is_empty());
        assert!(stream.written.is_empty());
        assert_eq!(stream.pos, 0);
    }
}
