//! One log line, taken apart: the syslog frame (date, host, program, process id) and the few
//! Postfix messages that `logstats` counts.
//!
//! Everything works on bytes, so that a line with invalid UTF-8, a NUL or other binary junk is
//! simply not recognised; nothing here allocates, panics or reads anything but the line it is
//! given. Frames read: traditional syslog (`Dec  2 05:00:00 host postfix/smtp[123]: …`, also
//! with fractional seconds and a zero-padded day as `journalctl -o short-precise` writes),
//! RFC 3339 timestamps (`2026-12-02T05:00:00.123456+00:00 host …`, as rsyslog and Postfix's
//! `maillog_file` write, and `+0000` offsets as `journalctl -o short-iso` writes), RFC 5424
//! (`<22>1 2026-12-02T05:00:00Z host postfix/smtp 123 - - …`) and RFC 3164 lines that kept
//! their `<PRI>`. The JSON lines of `journalctl -o json` are read by the caller with
//! [`parse_journal_json`].

use serde::Deserialize;

/// A calendar day as written in the line. Traditional syslog lines carry no year: `year` is
/// then `None`, and the caller chooses one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineDate {
    pub year: Option<i32>,
    pub month: u8,
    pub day: u8,
}

/// The syslog frame of a line and its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub date: LineDate,
    pub host: &'a [u8],
    /// The syslog tag without the process id: `postfix/smtp`, `postfix-out/smtp`,
    /// `postfix/submission/smtpd`.
    pub program: &'a [u8],
    pub pid: u32,
    pub message: &'a [u8],
}

/// The Postfix process a line comes from, by the last component of its tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    /// `smtp` or `lmtp`: the delivery clients (outbound).
    Client,
    /// `smtpd`: the SMTP server (inbound).
    Server,
    /// Any other Postfix process (`qmgr`, `cleanup`, `postscreen`, …).
    Other,
}

/// The TLS class Postfix names at the start of its TLS summary line (`tls_log_summary`):
/// whether the peer presented a certificate, and whether it was verified as the policy
/// demands (`Verified`), chains to a trusted CA (`Trusted`), or neither (`Untrusted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TlsClass {
    Verified,
    Trusted,
    Untrusted,
    Anonymous,
}

/// A message that `logstats` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// `Trusted TLS connection established to mx.example[192.0.2.1]:25: TLSv1.3 with cipher
    /// TLS_AES_256_GCM_SHA384 (256/256 bits)` (smtp, lmtp: `to`; smtpd: `from`). `reused`
    /// for a connection taken over from an earlier delivery (`TLS connection reused`).
    Tls {
        class: TlsClass,
        /// `host[addr]:port` (client side) or `host[addr]` (server side).
        peer: &'a [u8],
        protocol: &'a [u8],
        cipher: &'a [u8],
    },
    /// `QUEUEID: to=<rcpt>, relay=host[addr]:port, …, status=sent (…)` of smtp or lmtp.
    Delivery {
        recipient: &'a [u8],
        relay: &'a [u8],
        status: Status,
        /// The text in parentheses after the status, without them.
        reason: &'a [u8],
    },
    /// smtpd's `connect from host[addr]` or `disconnect from …`: a session begins or ends.
    SessionEdge,
    /// smtpd's `QUEUEID: client=host[addr]…`: a message received in the current session.
    Received,
    /// smtp's `SSL_connect error to …` or `Cannot start TLS`: the TLS attempt failed, and
    /// what follows on this process goes over a new connection.
    TlsFailed,
}

/// The delivery status of a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Sent,
    Deferred,
    Bounced,
    Other,
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 9 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0u32, |n, b| n * 10 + u32::from(b - b'0')))
}

/// Splits at the first space: the word and what follows it.
fn word(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = memchr::memchr(b' ', bytes)?;
    Some((&bytes[..i], &bytes[i + 1..]))
}

/// `hh:mm:ss` optionally followed by a fraction.
fn is_clock(bytes: &[u8]) -> bool {
    bytes.len() >= 8
        && bytes[2] == b':'
        && bytes[5] == b':'
        && [0, 1, 3, 4, 6, 7]
            .iter()
            .all(|&i| bytes[i].is_ascii_digit())
        && (bytes.len() == 8 || (bytes[8] == b'.' && bytes[9..].iter().all(u8::is_ascii_digit)))
}

/// `Dec  2 05:00:00 rest` (also `Dec 02 05:00:00.123456 rest`).
fn parse_traditional(line: &[u8]) -> Option<(LineDate, &[u8])> {
    if line.len() < 16 || line[3] != b' ' {
        return None;
    }
    let month = MONTHS.iter().position(|m| &line[..3] == *m)?;
    let rest = &line[4..];
    // The day is space-padded (` 2`) or zero-padded (`02`), or a bare `2` after one space.
    let rest = rest.strip_prefix(b" ").unwrap_or(rest);
    let (day, rest) = word(rest)?;
    let day = digits(day).filter(|d| (1..=31).contains(d))?;
    let (clock, rest) = word(rest)?;
    if !is_clock(clock) {
        return None;
    }
    let date = LineDate {
        year: None,
        month: u8::try_from(month + 1).ok()?,
        day: u8::try_from(day).ok()?,
    };
    Some((date, rest))
}

/// `2026-12-02T05:00:00[.frac](Z|±hh:mm|±hhmm) rest`.
fn parse_rfc3339(line: &[u8]) -> Option<(LineDate, &[u8])> {
    let (stamp, rest) = word(line)?;
    if stamp.len() < 20 || stamp[4] != b'-' || stamp[7] != b'-' || stamp[10] != b'T' {
        return None;
    }
    let year = digits(&stamp[..4])?;
    let month = digits(&stamp[5..7]).filter(|m| (1..=12).contains(m))?;
    let day = digits(&stamp[8..10]).filter(|d| (1..=31).contains(d))?;
    let time = &stamp[11..];
    let zone_at = time.iter().position(|&b| matches!(b, b'Z' | b'+' | b'-'))?;
    if !is_clock(&time[..zone_at]) {
        return None;
    }
    let zone = &time[zone_at..];
    let zone_ok = zone == b"Z"
        || (zone.len() == 6
            && zone[3] == b':'
            && digits(&zone[1..3]).is_some()
            && digits(&zone[4..]).is_some())
        || (zone.len() == 5 && digits(&zone[1..]).is_some());
    if !zone_ok {
        return None;
    }
    let date = LineDate {
        year: Some(i32::try_from(year).ok()?),
        month: u8::try_from(month).ok()?,
        day: u8::try_from(day).ok()?,
    };
    Some((date, rest))
}

/// Takes a syslog line apart: date, host, `program[pid]: ` and the message. `None` when the
/// line is not in one of the frames this module reads.
pub fn parse_frame(line: &[u8]) -> Option<Frame<'_>> {
    let (date, rest) = match line.first()? {
        b'0'..=b'9' => parse_rfc3339(line)?,
        b'<' => {
            // A priority first: RFC 5424 (`<22>1 …`) or RFC 3164 as sent on the wire.
            let close = memchr::memchr(b'>', &line[..line.len().min(5)])?;
            digits(&line[1..close])?;
            let rest = &line[close + 1..];
            return match rest.strip_prefix(b"1 ") {
                Some(rest) => parse_rfc5424(rest),
                None if rest.first() == Some(&b'<') => None,
                None => parse_frame(rest),
            };
        }
        _ => parse_traditional(line)?,
    };
    let (host, rest) = word(rest)?;
    if host.is_empty() {
        return None;
    }
    // `program[pid]: message`; the tag holds no space.
    let colon = memchr::memmem::find(rest, b"]: ")?;
    let tag = &rest[..colon];
    let open = memchr::memrchr(b'[', tag)?;
    let program = &tag[..open];
    if program.is_empty() || memchr::memchr(b' ', program).is_some() {
        return None;
    }
    let pid = digits(&tag[open + 1..])?;
    Some(Frame {
        date,
        host,
        program,
        pid,
        message: &rest[colon + 3..],
    })
}

/// After `<PRI>1 `: `TIMESTAMP HOST APP-NAME PROCID MSGID STRUCTURED-DATA MSG` (RFC 5424
/// §6), as rsyslog's `RSYSLOG_SyslogProtocol23Format` and syslog-ng write it.
fn parse_rfc5424(line: &[u8]) -> Option<Frame<'_>> {
    let (date, rest) = parse_rfc3339(line)?;
    let (host, rest) = word(rest)?;
    let (program, rest) = word(rest)?;
    let (procid, rest) = word(rest)?;
    let (_msgid, mut rest) = word(rest)?;
    // STRUCTURED-DATA: `-`, or SD-ELEMENTs `[id k="v" …]` in which `\]` is escaped.
    if let Some(after) = rest.strip_prefix(b"- ") {
        rest = after;
    } else {
        while rest.first() == Some(&b'[') {
            let mut end = 1;
            loop {
                end += memchr::memchr(b']', rest.get(end..)?)?;
                if rest[end - 1] != b'\\' {
                    break;
                }
                end += 1;
            }
            rest = &rest[end + 1..];
        }
        rest = rest.strip_prefix(b" ")?;
    }
    let message = rest.strip_prefix(b"\xef\xbb\xbf").unwrap_or(rest);
    if program.is_empty() || program == b"-" {
        return None;
    }
    Some(Frame {
        date,
        host,
        program,
        pid: digits(procid)?,
        message,
    })
}

/// The Postfix process behind a tag: the last `/` component of `syslog_name/process`
/// (`postfix/smtp`, `postfix-out/lmtp`, `postfix/submission/smtpd`). A tag without a `/` is
/// not Postfix's.
pub fn process_of(program: &[u8]) -> Process {
    let Some(slash) = memchr::memrchr(b'/', program) else {
        return Process::Other;
    };
    match &program[slash + 1..] {
        b"smtp" | b"lmtp" => Process::Client,
        b"smtpd" => Process::Server,
        _ => Process::Other,
    }
}

fn strip<'a>(bytes: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    bytes.strip_prefix(prefix)
}

/// `Verified TLS connection established to PEER: PROTO with cipher CIPHER (…)`.
fn parse_tls<'a>(message: &'a [u8], direction: &[u8]) -> Option<Event<'a>> {
    let (class, rest) = word(message)?;
    let class = match class {
        b"Verified" => TlsClass::Verified,
        b"Trusted" => TlsClass::Trusted,
        b"Untrusted" => TlsClass::Untrusted,
        b"Anonymous" => TlsClass::Anonymous,
        _ => return None,
    };
    let rest = strip(rest, b"TLS connection ")?;
    let rest = strip(rest, b"established ").or_else(|| strip(rest, b"reused "))?;
    let rest = strip(rest, direction)?;
    let colon = memchr::memmem::find(rest, b": ")?;
    // smtpd adds ` to SNI-NAME` after the client when SNI was sent.
    let peer = &rest[..colon];
    let peer = match memchr::memchr(b' ', peer) {
        Some(i) => &peer[..i],
        None => peer,
    };
    let rest = &rest[colon + 2..];
    let at = memchr::memmem::find(rest, b" with cipher ")?;
    let protocol = &rest[..at];
    let rest = &rest[at + b" with cipher ".len()..];
    let cipher = word(rest).map_or(rest, |(c, _)| c);
    if peer.is_empty() || protocol.is_empty() || cipher.is_empty() {
        return None;
    }
    Some(Event::Tls {
        class,
        peer,
        protocol,
        cipher,
    })
}

/// A queue id followed by `: `: the short hex form or the long form (`enable_long_queue_ids`).
fn after_queue_id(message: &[u8]) -> Option<&[u8]> {
    let colon = memchr::memmem::find(message, b": ")?;
    let id = &message[..colon];
    ((5..=20).contains(&id.len()) && id.iter().all(u8::is_ascii_alphanumeric))
        .then(|| &message[colon + 2..])
}

/// The value of `, NAME=` up to the next `, ` (or the end).
fn field<'a>(text: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let at = memchr::memmem::find(text, name)?;
    let value = &text[at + name.len()..];
    let end = memchr::memmem::find(value, b", ").unwrap_or(value.len());
    Some(&value[..end])
}

/// `to=<rcpt>, [orig_to=<…>, ]relay=…, …, status=sent (…)`.
fn parse_delivery(rest: &[u8]) -> Option<Event<'_>> {
    let rest = strip(rest, b"to=<")?;
    let close = memchr::memmem::find(rest, b">, ")?;
    let recipient = &rest[..close];
    let rest = &rest[close + 3..];
    let relay = field(rest, b"relay=")?;
    let status_at = memchr::memmem::find(rest, b", status=")?;
    let status_text = &rest[status_at + b", status=".len()..];
    let (status, reason) = match word(status_text) {
        Some((s, r)) => (s, r),
        None => (status_text, &b""[..]),
    };
    let status = match status {
        b"sent" => Status::Sent,
        b"deferred" => Status::Deferred,
        b"bounced" => Status::Bounced,
        _ => Status::Other,
    };
    let reason = reason
        .strip_prefix(b"(")
        .map_or(reason, |r| r.strip_suffix(b")").unwrap_or(r));
    Some(Event::Delivery {
        recipient,
        relay,
        status,
        reason,
    })
}

/// The event of a message from a delivery client (smtp, lmtp) or the SMTP server (smtpd).
pub fn parse_event(process: Process, message: &[u8]) -> Option<Event<'_>> {
    match process {
        Process::Client => {
            if let Some(event) = parse_tls(message, b"to ") {
                return Some(event);
            }
            if let Some(event) = after_queue_id(message).and_then(parse_delivery) {
                return Some(event);
            }
            let failed = message.starts_with(b"SSL_connect error to ")
                || memchr::memmem::find(message, b"Cannot start TLS").is_some();
            failed.then_some(Event::TlsFailed)
        }
        Process::Server => {
            if message.starts_with(b"connect from ") || message.starts_with(b"disconnect from ") {
                return Some(Event::SessionEdge);
            }
            if let Some(event) = parse_tls(message, b"from ") {
                return Some(event);
            }
            let rest = after_queue_id(message)?;
            rest.starts_with(b"client=").then_some(Event::Received)
        }
        Process::Other => None,
    }
}

/// The fields of one `journalctl -o json` line that `logstats` reads.
#[derive(Debug, Deserialize)]
struct JournalEntry<'a> {
    #[serde(rename = "MESSAGE", borrow, default)]
    message: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "SYSLOG_IDENTIFIER", borrow, default)]
    identifier: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "SYSLOG_PID", borrow, default)]
    syslog_pid: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "_PID", borrow, default)]
    pid: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "_HOSTNAME", borrow, default)]
    hostname: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "__REALTIME_TIMESTAMP", borrow, default)]
    realtime: Option<std::borrow::Cow<'a, str>>,
}

/// A `journalctl -o json` line, as the syslog line it stands for: `(UTC date, host, tag,
/// pid, message)`. The journal records time in UTC microseconds, so its days are UTC days.
pub fn parse_journal_json(line: &[u8]) -> Option<(LineDate, String, String, u32, String)> {
    let entry: JournalEntry<'_> = serde_json::from_slice(line).ok()?;
    let micros: i64 = entry.realtime?.parse().ok()?;
    let when = time::OffsetDateTime::from_unix_timestamp(micros.div_euclid(1_000_000)).ok()?;
    let pid: u32 = entry.syslog_pid.or(entry.pid)?.parse().ok()?;
    let date = LineDate {
        year: Some(when.year()),
        month: u8::from(when.month()),
        day: when.day(),
    };
    Some((
        date,
        entry.hostname.map(|h| h.into_owned()).unwrap_or_default(),
        entry.identifier?.into_owned(),
        pid,
        entry.message?.into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(line: &str) -> Frame<'_> {
        parse_frame(line.as_bytes()).unwrap_or_else(|| panic!("no frame in {line:?}"))
    }

    #[test]
    fn frames_of_each_syslog_format() {
        // (line, year, month, day, host, program, pid, message)
        type Row = (
            &'static str,
            Option<i32>,
            u8,
            u8,
            &'static str,
            &'static str,
            u32,
            &'static str,
        );
        let table: &[Row] = &[
            (
                "Dec  2 05:00:00 mx postfix/smtp[123]: hello",
                None,
                12,
                2,
                "mx",
                "postfix/smtp",
                123,
                "hello",
            ),
            (
                "Dec 12 05:00:00 mx postfix-out/smtp[9]: x",
                None,
                12,
                12,
                "mx",
                "postfix-out/smtp",
                9,
                "x",
            ),
            (
                "Dec 02 05:00:00.123456 mx.example postfix/smtpd[77]: connect from a[192.0.2.1]",
                None,
                12,
                2,
                "mx.example",
                "postfix/smtpd",
                77,
                "connect from a[192.0.2.1]",
            ),
            (
                "2026-12-02T05:00:00.123456+00:00 mx postfix/smtp[123]: m",
                Some(2026),
                12,
                2,
                "mx",
                "postfix/smtp",
                123,
                "m",
            ),
            (
                "2026-01-31T23:59:59Z mx postfix/submission/smtpd[5]: m: n",
                Some(2026),
                1,
                31,
                "mx",
                "postfix/submission/smtpd",
                5,
                "m: n",
            ),
            (
                "2026-12-02T05:00:00+0100 mx postfix/lmtp[5]: m",
                Some(2026),
                12,
                2,
                "mx",
                "postfix/lmtp",
                5,
                "m",
            ),
            (
                "<22>1 2026-12-02T05:00:00.123Z mx postfix/smtp 123 - - m: n",
                Some(2026),
                12,
                2,
                "mx",
                "postfix/smtp",
                123,
                "m: n",
            ),
            (
                "<22>1 2026-12-02T05:00:00Z mx postfix/smtpd 9 - [meta a=\"x\\]y\"][b c=\"d\"] \u{feff}m",
                Some(2026),
                12,
                2,
                "mx",
                "postfix/smtpd",
                9,
                "m",
            ),
            (
                "<22>Dec  2 05:00:00 mx postfix/smtp[4]: m",
                None,
                12,
                2,
                "mx",
                "postfix/smtp",
                4,
                "m",
            ),
        ];
        for &(line, year, month, day, host, program, pid, message) in table {
            let f = frame(line);
            assert_eq!(f.date, LineDate { year, month, day }, "{line}");
            assert_eq!(f.host, host.as_bytes(), "{line}");
            assert_eq!(f.program, program.as_bytes(), "{line}");
            assert_eq!(f.pid, pid, "{line}");
            assert_eq!(f.message, message.as_bytes(), "{line}");
        }
    }

    #[test]
    fn lines_that_are_not_frames() {
        for line in [
            "",
            "garbage",
            "Foo  2 05:00:00 mx postfix/smtp[1]: m",
            "Dec 32 05:00:00 mx postfix/smtp[1]: m",
            "Dec  2 5:00:00 mx postfix/smtp[1]: m",
            "Dec  2 05:00:00 mx postfix/smtp: no pid",
            "Dec  2 05:00:00 mx postfix/smtp[x]: bad pid",
            "2026-13-02T05:00:00Z mx postfix/smtp[1]: m",
            "2026-12-02 05:00:00 mx postfix/smtp[1]: m",
            "2026-12-02T05:00:00+1 mx postfix/smtp[1]: m",
            "\0\0\0\u{1}binary",
            "<22>1 2026-12-02T05:00:00Z mx postfix/smtp - - - no pid",
            "<22>1 2026-12-02T05:00:00Z mx postfix/smtp 1 - [unclosed m",
            "<22><22>Dec  2 05:00:00 mx postfix/smtp[4]: m",
            "<999999>1 2026-12-02T05:00:00Z mx postfix/smtp 1 - - m",
        ] {
            assert_eq!(parse_frame(line.as_bytes()), None, "{line:?}");
        }
        assert_eq!(
            parse_frame(b"Dec  2 05:00:00 mx postfix/smtp[1]: \xff\xfe"),
            {
                let line: &[u8] = b"Dec  2 05:00:00 mx postfix/smtp[1]: \xff\xfe";
                Some(Frame {
                    date: LineDate {
                        year: None,
                        month: 12,
                        day: 2,
                    },
                    host: b"mx",
                    program: b"postfix/smtp",
                    pid: 1,
                    message: &line[line.len() - 2..],
                })
            }
        );
    }

    #[test]
    fn processes_by_tag() {
        for (tag, process) in [
            ("postfix/smtp", Process::Client),
            ("postfix/lmtp", Process::Client),
            ("postfix-out/smtp", Process::Client),
            ("postfix/smtpd", Process::Server),
            ("postfix/submission/smtpd", Process::Server),
            ("postfix/qmgr", Process::Other),
            ("postfix/tlsproxy", Process::Other),
            ("smtp", Process::Other),
            ("sendmail", Process::Other),
        ] {
            assert_eq!(process_of(tag.as_bytes()), process, "{tag}");
        }
    }

    fn tls(
        class: TlsClass,
        peer: &'static str,
        protocol: &'static str,
        cipher: &'static str,
    ) -> Event<'static> {
        Event::Tls {
            class,
            peer: peer.as_bytes(),
            protocol: protocol.as_bytes(),
            cipher: cipher.as_bytes(),
        }
    }

    #[test]
    fn postfix_3_7_messages() {
        use Process::{Client, Server};
        let table: &[(Process, &str, Option<Event<'static>>)] = &[
            (
                Client,
                "Verified TLS connection established to mx.example.org[192.0.2.25]:25: TLSv1.3 \
                 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 \
                 server-signature ECDSA (P-256) server-digest SHA256",
                Some(tls(
                    TlsClass::Verified,
                    "mx.example.org[192.0.2.25]:25",
                    "TLSv1.3",
                    "TLS_AES_256_GCM_SHA384",
                )),
            ),
            (
                Client,
                "Trusted TLS connection established to mx[2001:db8::25]:25: TLSv1.2 with cipher \
                 ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)",
                Some(tls(
                    TlsClass::Trusted,
                    "mx[2001:db8::25]:25",
                    "TLSv1.2",
                    "ECDHE-RSA-AES256-GCM-SHA384",
                )),
            ),
            (
                Client,
                "Untrusted TLS connection reused to mx[192.0.2.1]:25: TLSv1.3 with cipher \
                 TLS_AES_128_GCM_SHA256 (128/128 bits)",
                Some(tls(
                    TlsClass::Untrusted,
                    "mx[192.0.2.1]:25",
                    "TLSv1.3",
                    "TLS_AES_128_GCM_SHA256",
                )),
            ),
            (
                Server,
                "Anonymous TLS connection established from client.example[192.0.2.9]: TLSv1.3 \
                 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 \
                 server-signature RSA-PSS (2048 bits) server-digest SHA256",
                Some(tls(
                    TlsClass::Anonymous,
                    "client.example[192.0.2.9]",
                    "TLSv1.3",
                    "TLS_AES_256_GCM_SHA384",
                )),
            ),
            (
                Server,
                "Anonymous TLS connection established from unknown[192.0.2.9] to mx.example.org: \
                 TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                Some(tls(
                    TlsClass::Anonymous,
                    "unknown[192.0.2.9]",
                    "TLSv1.3",
                    "TLS_AES_256_GCM_SHA384",
                )),
            ),
            (
                Client,
                "4XYZ12AB3C: to=<user@Example.ORG>, relay=mx.example.org[192.0.2.25]:25, \
                 delay=0.52, delays=0.01/0.01/0.3/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: \
                 queued as 4ABC)",
                Some(Event::Delivery {
                    recipient: b"user@Example.ORG",
                    relay: b"mx.example.org[192.0.2.25]:25",
                    status: Status::Sent,
                    reason: b"250 2.0.0 Ok: queued as 4ABC",
                }),
            ),
            (
                Client,
                "4Lkz1f6z8Fz9sPn: to=<a@b.example>, orig_to=<alias@c.example>, \
                 relay=b.example[192.0.2.2]:25, conn_use=2, delay=1, delays=0/0/0/1, \
                 dsn=4.7.5, status=deferred (Server certificate not verified)",
                Some(Event::Delivery {
                    recipient: b"a@b.example",
                    relay: b"b.example[192.0.2.2]:25",
                    status: Status::Deferred,
                    reason: b"Server certificate not verified",
                }),
            ),
            (
                Client,
                "4XYZ12AB3C: to=<u@d.example>, relay=none, delay=0.1, delays=0/0/0.1/0, \
                 dsn=4.7.5, status=deferred (TLSA lookup error for mx.d.example:25)",
                Some(Event::Delivery {
                    recipient: b"u@d.example",
                    relay: b"none",
                    status: Status::Deferred,
                    reason: b"TLSA lookup error for mx.d.example:25",
                }),
            ),
            (
                Client,
                "SSL_connect error to mx.example[192.0.2.1]:25: -1",
                Some(Event::TlsFailed),
            ),
            (
                Server,
                "connect from client.example[192.0.2.9]",
                Some(Event::SessionEdge),
            ),
            (
                Server,
                "disconnect from client.example[192.0.2.9] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7",
                Some(Event::SessionEdge),
            ),
            (
                Server,
                "4XYZ12AB3C: client=client.example[192.0.2.9]",
                Some(Event::Received),
            ),
            (
                Client,
                "connect to mx[192.0.2.1]:25: Connection refused",
                None,
            ),
            (
                Client,
                "Verified TLS connection established to mx: no cipher",
                None,
            ),
            (
                Client,
                "Grey TLS connection established to mx[192.0.2.1]:25: TLSv1.3 with cipher X (1/1 bits)",
                None,
            ),
            (
                Server,
                "lost connection after EHLO from unknown[192.0.2.9]",
                None,
            ),
            (
                Server,
                "4XYZ12AB3C: reject: RCPT from unknown[192.0.2.9]: 554 5.7.1",
                None,
            ),
            (Process::Other, "4XYZ12AB3C: removed", None),
        ];
        for (process, message, expected) in table {
            assert_eq!(
                parse_event(*process, message.as_bytes()),
                *expected,
                "{message}"
            );
        }
    }

    #[test]
    fn journal_json_lines() {
        let line = br#"{"__REALTIME_TIMESTAMP":"1796187600123456","_HOSTNAME":"mx","SYSLOG_IDENTIFIER":"postfix/smtp","SYSLOG_PID":"321","_PID":"321","MESSAGE":"Anonymous TLS connection established to a[192.0.2.1]:25: TLSv1.3 with cipher X (1/1 bits)"}"#;
        let (date, host, tag, pid, message) = parse_journal_json(line).unwrap();
        assert_eq!(
            date,
            LineDate {
                year: Some(2026),
                month: 12,
                day: 2
            }
        );
        assert_eq!(
            (host.as_str(), tag.as_str(), pid),
            ("mx", "postfix/smtp", 321)
        );
        assert!(message.starts_with("Anonymous TLS"));
        // A binary MESSAGE (an array of bytes) or a missing field: not a line.
        assert!(parse_journal_json(br#"{"MESSAGE":[1,2],"SYSLOG_IDENTIFIER":"x"}"#).is_none());
        assert!(parse_journal_json(b"{not json").is_none());
    }
}
