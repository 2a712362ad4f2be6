//! TLS classes from Postfix logs: how much mail went out and came in over Verified, Trusted,
//! Untrusted and Anonymous TLS, and how much went out in clear text, per day and per
//! destination domain; which TLS protocols and ciphers; where clear text goes most; which
//! deliveries DANE or another TLS policy deferred.
//!
//! [`Stats`] reads a log as a stream of lines from any [`BufRead`] ([`Stats::read`]), each line
//! at most [`MAX_LINE_BYTES`] long, keeping only counters and the state of the Postfix
//! processes that are in the middle of a session, so memory stays flat however long the log.
//! [`Stats::finish`] turns the counters into a [`Summary`]. Nothing here opens a file or reads
//! a clock: the caller hands over the readers and the time that fixes the year of traditional
//! syslog lines.
//!
//! What is counted (Postfix 3.x):
//! - **TLS sessions**, by class and direction, from the summary line Postfix writes after each
//!   handshake: `Verified TLS connection established to HOST[ADDR]:PORT: PROTO with cipher
//!   CIPHER (…)` from `smtp`/`lmtp` (outbound), `… established from HOST[ADDR]: …` from
//!   `smtpd` (inbound).
//! - **Deliveries without TLS** (`none`): outbound, an `smtp`/`lmtp` `status=sent` delivery
//!   whose process had no TLS session with that relay (the TLS line comes from the same
//!   process, before the delivery, and names the same `HOST[ADDR]:PORT`); inbound, a message
//!   smtpd received (`QUEUEID: client=…`) in a session without TLS.
//! - **Deliveries by class**, per recipient domain: each outbound `status=sent` recipient
//!   gets the class of the session it went over.
//! - **Policy failures**: deferred or bounced deliveries whose reason is a DANE or TLS policy
//!   failure (`TLSA lookup error`, `Server certificate not verified`, …), by kind, with a few
//!   examples.

pub mod line;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use line::{Event, Frame, LineDate, Process, Status, TlsClass};

/// The longest line read, in bytes. Postfix's own lines stay well under 4 KiB (`line_length_limit`
/// is 2048, and syslog daemons cut at 8 KiB); a longer line is counted as skipped.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The longest stretch of input without a line break before the input is refused as not a
/// log (`/dev/zero`, an image file).
pub const MAX_BYTES_WITHOUT_NEWLINE: u64 = 1 << 30;

/// The most destination domains kept apart; deliveries to further domains are counted under
/// [`OTHER_DOMAINS`], so that memory stays bounded.
pub const MAX_DOMAINS: usize = 100_000;

/// The key of deliveries to domains past [`MAX_DOMAINS`].
pub const OTHER_DOMAINS: &str = "(other domains)";

/// The key of recipients without a domain (`to=<postmaster>`).
pub const NO_DOMAIN: &str = "(no domain)";

/// The most distinct protocol and cipher names kept, and the longest; others are counted as
/// `(other)`.
const MAX_NAMES: usize = 1024;
const MAX_NAME_BYTES: usize = 64;
const OTHER_NAME: u16 = u16::MAX;

/// The most days kept apart in `by_day` (more than 270 years of logs).
pub const MAX_DAYS: usize = 100_000;

/// Examples kept per kind of policy failure.
pub const EXAMPLES_PER_KIND: usize = 3;

/// Process states kept before old ones are dropped (a process whose last line is more than a
/// million lines back has long finished its session).
const MAX_PROCESSES: usize = 65_536;
const PROCESS_HORIZON: u64 = 1 << 20;

/// The class of a session or delivery: a [`TlsClass`], or `none` for clear text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Verified,
    Trusted,
    Untrusted,
    Anonymous,
    None,
}

impl From<TlsClass> for Class {
    fn from(c: TlsClass) -> Self {
        match c {
            TlsClass::Verified => Class::Verified,
            TlsClass::Trusted => Class::Trusted,
            TlsClass::Untrusted => Class::Untrusted,
            TlsClass::Anonymous => Class::Anonymous,
        }
    }
}

impl Class {
    pub const ALL: [Class; 5] = [
        Class::Verified,
        Class::Trusted,
        Class::Untrusted,
        Class::Anonymous,
        Class::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Verified => "verified",
            Class::Trusted => "trusted",
            Class::Untrusted => "untrusted",
            Class::Anonymous => "anonymous",
            Class::None => "none",
        }
    }
}

/// A count per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCounts {
    pub verified: u64,
    pub trusted: u64,
    pub untrusted: u64,
    pub anonymous: u64,
    pub none: u64,
}

impl ClassCounts {
    pub fn add(&mut self, class: Class) {
        *self.get_mut(class) += 1;
    }

    fn get_mut(&mut self, class: Class) -> &mut u64 {
        match class {
            Class::Verified => &mut self.verified,
            Class::Trusted => &mut self.trusted,
            Class::Untrusted => &mut self.untrusted,
            Class::Anonymous => &mut self.anonymous,
            Class::None => &mut self.none,
        }
    }

    pub fn get(&self, class: Class) -> u64 {
        match class {
            Class::Verified => self.verified,
            Class::Trusted => self.trusted,
            Class::Untrusted => self.untrusted,
            Class::Anonymous => self.anonymous,
            Class::None => self.none,
        }
    }

    /// Every class, clear text included.
    pub fn total(&self) -> u64 {
        Class::ALL.iter().map(|&c| self.get(c)).sum()
    }
}

/// The kinds of policy failure, from the reason Postfix gives for a deferral or bounce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// `TLSA lookup error for HOST:PORT` (dane, dane-only): the TLSA RRset could not be had.
    TlsaLookupError,
    /// `TLSA records unusable` (dane-only).
    TlsaUnusable,
    /// `no TLSA records found` (dane-only).
    NoTlsaRecords,
    /// `non DNSSEC destination` (dane-only): the MX RRset is not signed.
    NonDnssecDestination,
    /// `Server certificate not verified`: no TLSA record matched (dane), or the chain did not
    /// verify (verify, secure); the log line does not say which policy applied.
    CertificateNotVerified,
    /// `TLS is required, but was not offered by host …`: a downgrade, or a server without
    /// STARTTLS where the policy demands TLS.
    StarttlsNotOffered,
    /// `Cannot start TLS: handshake failure` and other `TLS is required` reasons.
    TlsFailed,
    /// Any other reason that names TLSA or DANE.
    OtherDane,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::TlsaLookupError => "tlsa-lookup-error",
            FailureKind::TlsaUnusable => "tlsa-unusable",
            FailureKind::NoTlsaRecords => "no-tlsa-records",
            FailureKind::NonDnssecDestination => "non-dnssec-destination",
            FailureKind::CertificateNotVerified => "certificate-not-verified",
            FailureKind::StarttlsNotOffered => "starttls-not-offered",
            FailureKind::TlsFailed => "tls-failed",
            FailureKind::OtherDane => "other-dane",
        }
    }

    /// The kind of a deferral or bounce reason, if it is a policy failure.
    pub fn of_reason(reason: &[u8]) -> Option<FailureKind> {
        let has = |needle: &str| memchr::memmem::find(reason, needle.as_bytes()).is_some();
        let kind = if has("TLSA lookup error") {
            FailureKind::TlsaLookupError
        } else if has("TLSA records unusable") {
            FailureKind::TlsaUnusable
        } else if has("no TLSA records found") {
            FailureKind::NoTlsaRecords
        } else if has("non DNSSEC destination") {
            FailureKind::NonDnssecDestination
        } else if has("Server certificate not verified") {
            FailureKind::CertificateNotVerified
        } else if has("TLS is required, but was not offered") {
            FailureKind::StarttlsNotOffered
        } else if has("Cannot start TLS") || has("TLS is required") {
            FailureKind::TlsFailed
        } else if has("TLSA") || has("DANE") || has("dane") {
            FailureKind::OtherDane
        } else {
            return None;
        };
        Some(kind)
    }
}

/// One deferral or bounce kept as an example of its kind. Text from the log is escaped and
/// clipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureExample {
    pub kind: FailureKind,
    /// `YYYY-MM-DD`.
    pub day: String,
    pub domain: String,
    pub relay: String,
    pub status: String,
    pub reason: String,
}

/// Policy failures: how many deferrals and bounces, by kind, with examples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureSummary {
    pub total: u64,
    pub by_kind: BTreeMap<FailureKind, u64>,
    pub examples: Vec<FailureExample>,
}

/// Counts by direction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectionCounts {
    pub outbound: ClassCounts,
    pub inbound: ClassCounts,
}

/// Counts of a name (protocol, cipher) by direction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCounts {
    pub outbound: BTreeMap<String, u64>,
    pub inbound: BTreeMap<String, u64>,
}

/// The outbound deliveries to one destination domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainCounts {
    /// `status=sent` recipients by the class of the session they went over.
    #[serde(flatten)]
    pub deliveries: ClassCounts,
    /// TLS protocols of those deliveries.
    pub protocols: BTreeMap<String, u64>,
    /// Deferrals and bounces that were policy failures.
    pub policy_failures: u64,
}

/// A destination that received mail in clear text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cleartext {
    pub domain: String,
    pub deliveries: u64,
}

/// What a log said, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Lines read.
    pub lines: u64,
    /// Lines that counted for something.
    pub used: u64,
    /// Lines that could not be used: other programs and messages, and the malformed ones.
    pub skipped: u64,
    /// Of the skipped lines, those that are no syslog line at all (binary junk, a date or tag
    /// that cannot be read), including the overlong ones.
    pub malformed: u64,
    /// Of the malformed lines, those longer than [`MAX_LINE_BYTES`].
    pub too_long: u64,
    /// TLS sessions by class; `none`: deliveries (outbound) or received messages (inbound)
    /// without TLS.
    pub outbound: ClassCounts,
    pub inbound: ClassCounts,
    /// Outbound `status=sent` recipients by the class of the session they went over.
    pub deliveries: ClassCounts,
    /// TLS protocol versions of the sessions.
    pub protocols: NamedCounts,
    /// TLS ciphers of the sessions.
    pub ciphers: NamedCounts,
    /// `YYYY-MM-DD` → the counts of `outbound` and `inbound` for that day.
    pub by_day: BTreeMap<String, DirectionCounts>,
    /// Recipient domain → its outbound deliveries.
    pub by_domain: BTreeMap<String, DomainCounts>,
    /// The domains that received the most deliveries in clear text, most first.
    pub top_cleartext: Vec<Cleartext>,
    /// Deferrals and bounces for DANE or another TLS policy.
    pub policy_failures: FailureSummary,
    /// Deliveries counted under [`OTHER_DOMAINS`] because [`MAX_DOMAINS`] was reached.
    pub domains_folded: u64,
    /// Lines counted in the totals but not in `by_day`, because [`MAX_DAYS`] was reached.
    #[serde(default)]
    pub days_folded: u64,
}

/// Why a log could not be read to its end.
#[derive(Debug, Error)]
pub enum LogError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("no line break in the first {} MiB after line {line}: not a log", MAX_BYTES_WITHOUT_NEWLINE >> 20)]
    NoLineBreak { line: u64 },
}

/// What a process was doing at its last line.
#[derive(Debug, Clone, Copy)]
struct ProcessState {
    /// The TLS session now open: its class, a hash of its peer, and its protocol.
    tls: Option<(Class, u64, u16)>,
    /// The line number of the process's last line.
    seen: u64,
}

#[derive(Debug, Default)]
struct DomainAcc {
    deliveries: ClassCounts,
    protocols: Vec<(u16, u64)>,
    policy_failures: u64,
}

/// The counters of a run, fed line by line or reader by reader.
#[derive(Debug)]
pub struct Stats {
    /// Today, for the year of traditional syslog dates.
    today: time::Date,
    /// The last traditional (month, day) seen and the day key it was given.
    last_md: Option<((u8, u8), u32)>,
    lines: u64,
    used: u64,
    malformed: u64,
    too_long: u64,
    outbound: ClassCounts,
    inbound: ClassCounts,
    deliveries: ClassCounts,
    names: Vec<Vec<u8>>,
    name_index: HashMap<Vec<u8>, u16>,
    protocols: [HashMap<u16, u64>; 2],
    ciphers: [HashMap<u16, u64>; 2],
    by_day: HashMap<u32, [ClassCounts; 2]>,
    by_domain: HashMap<Vec<u8>, DomainAcc>,
    domains_folded: u64,
    days_folded: u64,
    processes: HashMap<(u64, u32), ProcessState>,
    failures: FailureSummary,
    scratch: Vec<u8>,
}

const OUT: usize = 0;
const IN: usize = 1;

/// FNV-1a: a cheap hash of a host or peer name, for keys that are compared, never trusted.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn day_key(year: i32, month: u8, day: u8) -> u32 {
    u32::try_from(year.clamp(0, 9999)).unwrap_or(0) * 10_000
        + u32::from(month) * 100
        + u32::from(day)
}

fn day_text(key: u32) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        key / 10_000,
        key / 100 % 100,
        key % 100
    )
}

/// The recipient domain of an smtp or lmtp delivery line (whatever its status), lower case;
/// `None` for any other line, and for a recipient without a domain or with an address literal.
pub fn delivery_domain(text: &[u8]) -> Option<String> {
    let frame = line::parse_frame(text)?;
    if line::process_of(frame.program) != Process::Client {
        return None;
    }
    let Event::Delivery { recipient, .. } = line::parse_event(Process::Client, frame.message)?
    else {
        return None;
    };
    let mut domain = Vec::new();
    recipient_domain(recipient, &mut domain);
    (domain != NO_DOMAIN.as_bytes() && !domain.starts_with(b"["))
        .then(|| String::from_utf8_lossy(&domain).into_owned())
}

/// The domain of a recipient, lower-cased, without a final dot; [`NO_DOMAIN`] when there is
/// none.
fn recipient_domain(recipient: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let domain = memchr::memrchr(b'@', recipient).map(|at| &recipient[at + 1..]);
    let domain = domain.map(|d| d.strip_suffix(b".").unwrap_or(d));
    match domain {
        Some(d) if !d.is_empty() && d.len() <= 253 => {
            out.extend(d.iter().map(u8::to_ascii_lowercase));
        }
        _ => out.extend_from_slice(NO_DOMAIN.as_bytes()),
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Stats {
    /// Counters for a run at `now` (Unix seconds), which fixes the year of traditional syslog
    /// dates: the year of `now`, or the year before for a date more than a day after `now`'s.
    pub fn new(now: i64) -> Stats {
        let today =
            time::OffsetDateTime::from_unix_timestamp(now).map_or(time::Date::MIN, |t| t.date());
        Stats {
            today,
            last_md: None,
            lines: 0,
            used: 0,
            malformed: 0,
            too_long: 0,
            outbound: ClassCounts::default(),
            inbound: ClassCounts::default(),
            deliveries: ClassCounts::default(),
            names: Vec::new(),
            name_index: HashMap::new(),
            protocols: [HashMap::new(), HashMap::new()],
            ciphers: [HashMap::new(), HashMap::new()],
            by_day: HashMap::new(),
            by_domain: HashMap::new(),
            domains_folded: 0,
            days_folded: 0,
            processes: HashMap::new(),
            failures: FailureSummary::default(),
            scratch: Vec::new(),
        }
    }

    /// Lines read so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Reads `reader` to its end, line by line, and returns the bytes read. Lines longer than
    /// [`MAX_LINE_BYTES`] are counted and passed over without being held in memory; a final
    /// line without a line break is read too. On an error, what was read so far stays counted.
    pub fn read<R: BufRead>(&mut self, mut reader: R) -> Result<u64, LogError> {
        let mut partial: Vec<u8> = Vec::new();
        let mut overlong = false;
        let mut since_newline: u64 = 0;
        let mut total: u64 = 0;
        loop {
            let buf = match reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if buf.is_empty() {
                break;
            }
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', buf) {
                let piece = &buf[start..end];
                if overlong {
                    overlong = false;
                    self.overlong();
                } else if partial.is_empty() {
                    self.feed_capped(piece);
                } else if partial.len() + piece.len() > MAX_LINE_BYTES {
                    partial.clear();
                    self.overlong();
                } else {
                    partial.extend_from_slice(piece);
                    self.feed_capped(&partial);
                    partial.clear();
                }
                start = end + 1;
            }
            let rest = &buf[start..];
            since_newline = if start > 0 {
                rest.len() as u64
            } else {
                since_newline + rest.len() as u64
            };
            if !overlong {
                if partial.len() + rest.len() > MAX_LINE_BYTES {
                    partial.clear();
                    overlong = true;
                } else {
                    partial.extend_from_slice(rest);
                }
            }
            let n = buf.len();
            total += n as u64;
            reader.consume(n);
            if since_newline > MAX_BYTES_WITHOUT_NEWLINE {
                return Err(LogError::NoLineBreak { line: self.lines });
            }
        }
        if overlong {
            self.overlong();
        } else if !partial.is_empty() {
            self.feed_capped(&partial);
        }
        Ok(total)
    }

    fn overlong(&mut self) {
        self.lines += 1;
        self.malformed += 1;
        self.too_long += 1;
    }

    fn feed_capped(&mut self, line: &[u8]) {
        if line.len() > MAX_LINE_BYTES {
            self.overlong();
        } else {
            self.feed(line);
        }
    }

    /// Counts one line (without its line break).
    pub fn feed(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        self.lines += 1;
        if line.first() == Some(&b'{') {
            match line::parse_journal_json(line) {
                Some((date, host, tag, pid, message)) => {
                    let frame = Frame {
                        date,
                        host: host.as_bytes(),
                        program: tag.as_bytes(),
                        pid,
                        message: message.as_bytes(),
                    };
                    if self.count(&frame) {
                        self.used += 1;
                    }
                }
                None => self.malformed += 1,
            }
            return;
        }
        match line::parse_frame(line) {
            Some(frame) => {
                if self.count(&frame) {
                    self.used += 1;
                }
            }
            None => self.malformed += 1,
        }
    }

    /// The day key of a line's date, or `None` when the date does not exist.
    fn day_of(&mut self, date: LineDate) -> Option<u32> {
        if let Some(year) = date.year {
            return time::Month::try_from(date.month)
                .ok()
                .and_then(|m| time::Date::from_calendar_date(year, m, date.day).ok())
                .map(|_| day_key(year, date.month, date.day));
        }
        let md = (date.month, date.day);
        if let Some((last, key)) = self.last_md
            && last == md
        {
            return Some(key);
        }
        let month = time::Month::try_from(date.month).ok()?;
        let this_year = self.today.year();
        let tomorrow = self.today.next_day().unwrap_or(self.today);
        let year = match time::Date::from_calendar_date(this_year, month, date.day) {
            Ok(d) if d <= tomorrow => this_year,
            _ => this_year - 1,
        };
        time::Date::from_calendar_date(year, month, date.day).ok()?;
        let key = day_key(year, date.month, date.day);
        self.last_md = Some((md, key));
        Some(key)
    }

    fn name(&mut self, bytes: &[u8]) -> u16 {
        if let Some(&i) = self.name_index.get(bytes) {
            return i;
        }
        // Protocol and cipher names are few and short; a hostile log's flood of long or
        // distinct ones shares one slot, `(other)`.
        if bytes.len() > MAX_NAME_BYTES || self.names.len() >= MAX_NAMES {
            return OTHER_NAME;
        }
        let i = u16::try_from(self.names.len()).unwrap_or(OTHER_NAME);
        self.names.push(bytes.to_vec());
        self.name_index.insert(bytes.to_vec(), i);
        i
    }

    /// The counters of a day; `None` past [`MAX_DAYS`] days (a hostile log's dates), which
    /// are then counted in the totals only.
    fn day(&mut self, day: u32) -> Option<&mut [ClassCounts; 2]> {
        if self.by_day.len() >= MAX_DAYS && !self.by_day.contains_key(&day) {
            self.days_folded += 1;
            return None;
        }
        Some(self.by_day.entry(day).or_default())
    }

    fn process(&mut self, host: &[u8], pid: u32) -> &mut ProcessState {
        if self.processes.len() >= MAX_PROCESSES {
            let horizon = self.lines.saturating_sub(PROCESS_HORIZON);
            self.processes.retain(|_, p| p.seen >= horizon);
            if self.processes.len() >= MAX_PROCESSES {
                self.processes.clear();
            }
        }
        let seen = self.lines;
        let state = self
            .processes
            .entry((fnv(host), pid))
            .or_insert(ProcessState { tls: None, seen });
        state.seen = seen;
        state
    }

    /// Counts one framed line; true when it counted for something.
    fn count(&mut self, frame: &Frame<'_>) -> bool {
        let process = line::process_of(frame.program);
        if process == Process::Other {
            return false;
        }
        let Some(event) = line::parse_event(process, frame.message) else {
            return false;
        };
        let Some(day) = self.day_of(frame.date) else {
            self.malformed += 1;
            return false;
        };
        let dir = if process == Process::Client { OUT } else { IN };
        match event {
            Event::Tls {
                class,
                peer,
                protocol,
                cipher,
            } => {
                let class = Class::from(class);
                let proto = self.name(protocol);
                let cipher = self.name(cipher);
                *self.protocols[dir].entry(proto).or_default() += 1;
                *self.ciphers[dir].entry(cipher).or_default() += 1;
                self.direction(dir).add(class);
                if let Some(d) = self.day(day) {
                    d[dir].add(class);
                }
                let peer = fnv(peer);
                self.process(frame.host, frame.pid).tls = Some((class, peer, proto));
            }
            Event::SessionEdge => {
                self.process(frame.host, frame.pid).tls = None;
            }
            Event::TlsFailed => {
                self.process(frame.host, frame.pid).tls = None;
            }
            Event::Received => {
                if self.process(frame.host, frame.pid).tls.is_none() {
                    self.inbound.add(Class::None);
                    if let Some(d) = self.day(day) {
                        d[IN].add(Class::None);
                    }
                }
            }
            Event::Delivery {
                recipient,
                relay,
                status,
                reason,
            } => return self.delivery(frame, day, recipient, relay, status, reason),
        }
        true
    }

    fn direction(&mut self, dir: usize) -> &mut ClassCounts {
        if dir == OUT {
            &mut self.outbound
        } else {
            &mut self.inbound
        }
    }

    fn delivery(
        &mut self,
        frame: &Frame<'_>,
        day: u32,
        recipient: &[u8],
        relay: &[u8],
        status: Status,
        reason: &[u8],
    ) -> bool {
        let mut domain = std::mem::take(&mut self.scratch);
        recipient_domain(recipient, &mut domain);
        let counted = match status {
            Status::Sent => {
                // Delivery over a unix-domain socket (`relay=host[private/dovecot-lmtp]`)
                // never crosses a network: not counted.
                let local = memchr::memchr(b'[', relay)
                    .is_some_and(|open| memchr::memchr(b'/', &relay[open..]).is_some());
                if local || relay == b"none" {
                    false
                } else {
                    let relay_hash = fnv(relay);
                    let session = self.process(frame.host, frame.pid).tls;
                    let (class, proto) = match session {
                        Some((class, peer, proto)) if peer == relay_hash => (class, Some(proto)),
                        _ => (Class::None, None),
                    };
                    self.deliveries.add(class);
                    if class == Class::None {
                        self.outbound.add(Class::None);
                        if let Some(d) = self.day(day) {
                            d[OUT].add(Class::None);
                        }
                    }
                    if let Some(acc) = self.domain(&domain) {
                        acc.deliveries.add(class);
                        if let Some(proto) = proto {
                            match acc.protocols.iter_mut().find(|(p, _)| *p == proto) {
                                Some((_, n)) => *n += 1,
                                None => acc.protocols.push((proto, 1)),
                            }
                        }
                    }
                    true
                }
            }
            Status::Deferred | Status::Bounced => match FailureKind::of_reason(reason) {
                Some(kind) => {
                    self.failures.total += 1;
                    let seen = self.failures.by_kind.entry(kind).or_default();
                    *seen += 1;
                    if *seen <= EXAMPLES_PER_KIND as u64 {
                        let clip = |b: &[u8]| crate::text::clip(&String::from_utf8_lossy(b));
                        self.failures.examples.push(FailureExample {
                            kind,
                            day: day_text(day),
                            domain: clip(&domain),
                            relay: clip(relay),
                            status: if status == Status::Deferred {
                                "deferred".into()
                            } else {
                                "bounced".into()
                            },
                            reason: clip(reason),
                        });
                    }
                    if let Some(acc) = self.domain(&domain) {
                        acc.policy_failures += 1;
                    }
                    true
                }
                None => false,
            },
            Status::Other => false,
        };
        self.scratch = domain;
        counted
    }

    /// The counters of a domain; past [`MAX_DOMAINS`] those of [`OTHER_DOMAINS`].
    fn domain(&mut self, domain: &[u8]) -> Option<&mut DomainAcc> {
        if !self.by_domain.contains_key(domain) {
            if self.by_domain.len() >= MAX_DOMAINS {
                self.domains_folded += 1;
                return Some(
                    self.by_domain
                        .entry(OTHER_DOMAINS.as_bytes().to_vec())
                        .or_default(),
                );
            }
            self.by_domain.insert(domain.to_vec(), DomainAcc::default());
        }
        self.by_domain.get_mut(domain)
    }

    /// The summary, with the `top` domains that received the most mail in clear text.
    pub fn finish(&self, top: usize) -> Summary {
        let name = |i: &u16| {
            self.names
                .get(usize::from(*i))
                .map_or_else(|| "(other)".to_owned(), |n| lossy(n))
        };
        let named = |maps: &[HashMap<u16, u64>; 2]| {
            let collect = |m: &HashMap<u16, u64>| {
                let mut out = BTreeMap::new();
                for (k, v) in m {
                    *out.entry(name(k)).or_insert(0) += v;
                }
                out
            };
            NamedCounts {
                outbound: collect(&maps[OUT]),
                inbound: collect(&maps[IN]),
            }
        };
        let by_day = self
            .by_day
            .iter()
            .map(|(k, [out, inb])| {
                (
                    day_text(*k),
                    DirectionCounts {
                        outbound: *out,
                        inbound: *inb,
                    },
                )
            })
            .collect();
        let by_domain: BTreeMap<String, DomainCounts> = self
            .by_domain
            .iter()
            .map(|(d, acc)| {
                let mut protocols = BTreeMap::new();
                for (p, n) in &acc.protocols {
                    *protocols.entry(name(p)).or_insert(0) += n;
                }
                (
                    lossy(d),
                    DomainCounts {
                        deliveries: acc.deliveries,
                        protocols,
                        policy_failures: acc.policy_failures,
                    },
                )
            })
            .collect();
        let mut top_cleartext: Vec<Cleartext> = by_domain
            .iter()
            .filter(|(_, c)| c.deliveries.none > 0)
            .map(|(d, c)| Cleartext {
                domain: d.clone(),
                deliveries: c.deliveries.none,
            })
            .collect();
        top_cleartext.sort_by(|a, b| {
            b.deliveries
                .cmp(&a.deliveries)
                .then_with(|| a.domain.cmp(&b.domain))
        });
        top_cleartext.truncate(top);
        Summary {
            lines: self.lines,
            used: self.used,
            skipped: self.lines - self.used,
            malformed: self.malformed,
            too_long: self.too_long,
            outbound: self.outbound,
            inbound: self.inbound,
            deliveries: self.deliveries,
            protocols: named(&self.protocols),
            ciphers: named(&self.ciphers),
            by_day,
            by_domain,
            top_cleartext,
            policy_failures: self.failures.clone(),
            domains_folded: self.domains_folded,
            days_folded: self.days_folded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_lines_give_recipient_domains() {
        let line = b"Dec  2 05:00:01 mx postfix/smtp[4242]: 4XyZ1: to=<Alice@Example.ORG>, relay=mx.example.org[192.0.2.1]:25, delay=1, dsn=2.0.0, status=sent (250 ok)";
        assert_eq!(delivery_domain(line), Some("example.org".into()));
        let multi = b"2026-12-02T05:00:01+00:00 mx postfix-out/smtp[1]: 4XyZ2: to=<b@sub.example.net>, relay=none, delay=0, status=deferred (connect timed out)";
        assert_eq!(delivery_domain(multi), Some("sub.example.net".into()));
        let local =
            b"Dec  2 05:00:01 mx postfix/local[9]: 4XyZ3: to=<root@mx.example.org>, status=sent";
        assert_eq!(delivery_domain(local), None);
        let literal = b"Dec  2 05:00:01 mx postfix/smtp[4242]: 4XyZ4: to=<a@[192.0.2.7]>, relay=[192.0.2.7]:25, status=sent (250 ok)";
        assert_eq!(delivery_domain(literal), None);
        assert_eq!(delivery_domain(b"garbage"), None);
    }

    /// 2026-12-02T05:00:00Z.
    const NOW: i64 = 1_796_187_600;

    fn run(log: &str) -> Summary {
        let mut stats = Stats::new(NOW);
        stats.read(log.as_bytes()).unwrap();
        stats.finish(10)
    }

    const TLS_OUT: &str = "Dec  2 05:00:01 mx postfix/smtp[200]: Verified TLS connection established to mx.a.example[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n\
        Dec  2 05:00:01 mx postfix/smtp[200]: 4AAAAA: to=<x@A.example>, relay=mx.a.example[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n\
        Dec  2 05:00:02 mx postfix/smtp[200]: 4AAAAB: to=<y@a.example>, relay=mx.a.example[192.0.2.1]:25, conn_use=2, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n\
        Dec  2 05:00:03 mx postfix/smtp[200]: 4AAAAC: to=<z@b.example>, relay=mx.b.example[192.0.2.2]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n\
        Dec  2 05:00:04 mx postfix/smtp[201]: 4AAAAD: to=<z@c.example>, relay=mx.c.example[192.0.2.3]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n\
        Dec  2 05:00:05 mx postfix/lmtp[202]: 4AAAAE: to=<u@local.example>, relay=mx[private/dovecot-lmtp], delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)\n\
        Dec  2 05:00:06 mx postfix/local[203]: 4AAAAF: to=<root@mx>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)\n";

    #[test]
    fn outbound_sessions_and_deliveries() {
        let s = run(TLS_OUT);
        assert_eq!(s.lines, 7);
        assert_eq!(
            s.outbound,
            ClassCounts {
                verified: 1,
                none: 2,
                ..Default::default()
            }
        );
        assert_eq!(
            s.deliveries,
            ClassCounts {
                verified: 2,
                none: 2,
                ..Default::default()
            }
        );
        assert_eq!(s.by_domain["a.example"].deliveries.verified, 2);
        assert_eq!(s.by_domain["a.example"].protocols["TLSv1.3"], 2);
        // The delivery after the TLS session went to another relay: clear text.
        assert_eq!(s.by_domain["b.example"].deliveries.none, 1);
        assert_eq!(s.by_domain["c.example"].deliveries.none, 1);
        assert!(!s.by_domain.contains_key("local.example"));
        assert_eq!(s.by_day["2026-12-02"].outbound.verified, 1);
        assert_eq!(s.by_day["2026-12-02"].outbound.none, 2);
        assert_eq!(s.protocols.outbound["TLSv1.3"], 1);
        assert_eq!(s.ciphers.outbound["TLS_AES_256_GCM_SHA384"], 1);
        assert_eq!(s.used, 5);
        assert_eq!(s.skipped, 2);
        assert_eq!(s.malformed, 0);
        assert_eq!(
            s.top_cleartext,
            vec![
                Cleartext {
                    domain: "b.example".into(),
                    deliveries: 1
                },
                Cleartext {
                    domain: "c.example".into(),
                    deliveries: 1
                },
            ]
        );
    }

    #[test]
    fn inbound_sessions_and_clear_text_messages() {
        let log = "2026-12-01T10:00:00+01:00 mx postfix/smtpd[300]: connect from a[192.0.2.9]\n\
            2026-12-01T10:00:00+01:00 mx postfix/smtpd[300]: Anonymous TLS connection established from a[192.0.2.9]: TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256 (128/128 bits)\n\
            2026-12-01T10:00:01+01:00 mx postfix/smtpd[300]: 4BBBBA: client=a[192.0.2.9]\n\
            2026-12-01T10:00:01+01:00 mx postfix/smtpd[300]: disconnect from a[192.0.2.9] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7\n\
            2026-12-01T10:00:02+01:00 mx postfix/smtpd[300]: connect from b[192.0.2.10]\n\
            2026-12-01T10:00:02+01:00 mx postfix/smtpd[300]: 4BBBBB: client=b[192.0.2.10]\n\
            2026-12-01T10:00:02+01:00 mx postfix/smtpd[300]: 4BBBBC: client=b[192.0.2.10]\n\
            2026-12-01T10:00:03+01:00 mx postfix/smtpd[300]: disconnect from b[192.0.2.10] ehlo=1 mail=2 rcpt=2 data=2 quit=1 commands=8\n";
        let s = run(log);
        assert_eq!(
            s.inbound,
            ClassCounts {
                anonymous: 1,
                none: 2,
                ..Default::default()
            }
        );
        assert_eq!(s.by_day["2026-12-01"].inbound, s.inbound);
        assert_eq!(s.protocols.inbound["TLSv1.2"], 1);
        assert_eq!(s.outbound, ClassCounts::default());
        assert_eq!(s.skipped, 0);
    }

    #[test]
    fn traditional_dates_take_the_year_of_now_or_the_one_before() {
        let mut stats = Stats::new(NOW);
        let line = |md: &str| {
            format!(
                "{md} 05:00:00 mx postfix/smtp[1]: Anonymous TLS connection established to a[192.0.2.1]:25: TLSv1.3 with cipher X (1/1 bits)"
            )
        };
        for md in ["Jan  5", "Dec  2", "Dec  3", "Dec  4", "Dec 31", "Feb 29"] {
            stats.feed(line(md).as_bytes());
        }
        let s = stats.finish(10);
        let days: Vec<&str> = s.by_day.keys().map(String::as_str).collect();
        // Dec 3 is tomorrow (clock skew, time zones): still this year. Dec 4 and 31 are
        // last year's; Feb 29 2026 does not exist and no year is guessed for it.
        assert_eq!(
            days,
            [
                "2025-12-04",
                "2025-12-31",
                "2026-01-05",
                "2026-12-02",
                "2026-12-03"
            ]
        );
        assert_eq!(s.malformed, 1);
    }

    #[test]
    fn policy_failures_by_kind() {
        let log = "Dec  2 05:00:00 mx postfix/smtp[1]: 4CCCCA: to=<a@d.example>, relay=none, delay=1, delays=0/0/1/0, dsn=4.7.5, status=deferred (TLSA lookup error for mx.d.example:25)\n\
            Dec  2 05:00:00 mx postfix/smtp[1]: 4CCCCA: to=<a@e.example>, relay=mx.e.example[192.0.2.5]:25, delay=1, delays=0/0/1/0, dsn=4.7.5, status=deferred (Server certificate not verified)\n\
            Dec  2 05:00:00 mx postfix/smtp[1]: 4CCCCA: to=<a@f.example>, relay=mx.f.example[192.0.2.6]:25, delay=1, delays=0/0/1/0, dsn=4.7.4, status=deferred (TLS is required, but was not offered by host mx.f.example[192.0.2.6])\n\
            Dec  2 05:00:00 mx postfix/smtp[1]: 4CCCCA: to=<a@g.example>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.g.example[192.0.2.7]:25: Connection refused)\n";
        let s = run(log);
        assert_eq!(s.policy_failures.total, 3);
        assert_eq!(s.policy_failures.by_kind[&FailureKind::TlsaLookupError], 1);
        assert_eq!(
            s.policy_failures.by_kind[&FailureKind::CertificateNotVerified],
            1
        );
        assert_eq!(
            s.policy_failures.by_kind[&FailureKind::StarttlsNotOffered],
            1
        );
        assert_eq!(s.policy_failures.examples[0].domain, "d.example");
        assert_eq!(s.by_domain["e.example"].policy_failures, 1);
        assert_eq!(s.deliveries.total(), 0);
        assert_eq!(s.used, 3);
    }

    #[test]
    fn reasons_to_kinds() {
        for (reason, kind) in [
            (
                "TLSA lookup error for mx.example:25",
                Some(FailureKind::TlsaLookupError),
            ),
            ("TLSA records unusable", Some(FailureKind::TlsaUnusable)),
            ("no TLSA records found", Some(FailureKind::NoTlsaRecords)),
            (
                "non DNSSEC destination",
                Some(FailureKind::NonDnssecDestination),
            ),
            (
                "delivery temporarily suspended: Server certificate not verified",
                Some(FailureKind::CertificateNotVerified),
            ),
            (
                "Cannot start TLS: handshake failure",
                Some(FailureKind::TlsFailed),
            ),
            (
                "TLS is required, but our TLS engine is unavailable",
                Some(FailureKind::TlsFailed),
            ),
            (
                "mx.example: dane configured with dnssec lookups disabled",
                Some(FailureKind::OtherDane),
            ),
            ("host said: 550 no such user", None),
        ] {
            assert_eq!(FailureKind::of_reason(reason.as_bytes()), kind, "{reason}");
        }
    }

    #[test]
    fn junk_and_long_lines_are_counted_not_fatal() {
        let mut log = Vec::new();
        log.extend_from_slice(b"\xff\xfe\x00binary junk\n");
        log.extend(std::iter::repeat_n(b'a', MAX_LINE_BYTES + 10));
        log.push(b'\n');
        log.extend_from_slice(
            b"Dec  2 05:00:00 mx postfix/smtpd[9]: connect from a[192.0.2.1]\r\n",
        );
        log.extend_from_slice(b"Dec  2 05:00:00 mx postfix/smtpd[9]: 4DDDDA: client=a[192.0.2.1]");
        let mut stats = Stats::new(NOW);
        // A small buffer, so that lines cross buffer boundaries.
        let reader = io::BufReader::with_capacity(7, &log[..]);
        assert_eq!(stats.read(reader).unwrap(), log.len() as u64);
        let s = stats.finish(10);
        assert_eq!((s.lines, s.used, s.malformed, s.too_long), (4, 2, 2, 1));
        assert_eq!(s.inbound.none, 1);
        // A long line that ends the input without a line break.
        let mut stats = Stats::new(NOW);
        let long = vec![b'x'; MAX_LINE_BYTES + 1];
        stats
            .read(io::BufReader::with_capacity(1000, &long[..]))
            .unwrap();
        assert_eq!(stats.finish(1).too_long, 1);
    }

    #[test]
    fn hostile_names_and_dates_stay_bounded() {
        let mut stats = Stats::new(NOW);
        for i in 0..(MAX_NAMES + 10) {
            let line = format!(
                "2026-12-02T05:00:00Z mx postfix/smtp[1]: Anonymous TLS connection established to a[192.0.2.1]:25: P{i} with cipher C{i} (1/1 bits)"
            );
            stats.feed(line.as_bytes());
        }
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        let line = format!(
            "2026-12-02T05:00:00Z mx postfix/smtp[1]: Anonymous TLS connection established to a[192.0.2.1]:25: {long} with cipher C0 (1/1 bits)"
        );
        stats.feed(line.as_bytes());
        let s = stats.finish(1);
        // Protocols and ciphers share the table: 512 of each, then `(other)`.
        assert_eq!(s.protocols.outbound.len(), MAX_NAMES / 2 + 1);
        assert_eq!(
            s.protocols.outbound["(other)"],
            (MAX_NAMES / 2 + 10 + 1) as u64
        );
        assert_eq!(s.ciphers.outbound["C0"], 2);
        assert_eq!(s.outbound.anonymous, MAX_NAMES as u64 + 11);
        let mut stats = Stats::new(NOW);
        let mut n = 0;
        'days: for year in 1000..9999 {
            for month in 1..=12 {
                for day in 1..=28 {
                    let line = format!(
                        "{year:04}-{month:02}-{day:02}T05:00:00Z mx postfix/smtpd[1]: Anonymous TLS connection established from a[192.0.2.1]: TLSv1.3 with cipher X (1/1 bits)"
                    );
                    stats.feed(line.as_bytes());
                    n += 1;
                    if n == MAX_DAYS + 5 {
                        break 'days;
                    }
                }
            }
        }
        let s = stats.finish(1);
        assert_eq!(s.by_day.len(), MAX_DAYS);
        assert_eq!(s.days_folded, 5);
        assert_eq!(s.inbound.anonymous, MAX_DAYS as u64 + 5);
    }

    #[test]
    fn journal_json_lines_count() {
        let log = r#"{"__REALTIME_TIMESTAMP":"1796187600000000","_HOSTNAME":"mx","SYSLOG_IDENTIFIER":"postfix/smtp","SYSLOG_PID":"5","MESSAGE":"Trusted TLS connection established to a[192.0.2.1]:25: TLSv1.3 with cipher X (1/1 bits)"}
{"__REALTIME_TIMESTAMP":"1796187600000000","_HOSTNAME":"mx","SYSLOG_IDENTIFIER":"postfix/smtp","SYSLOG_PID":"5","MESSAGE":"4EEEEA: to=<a@h.example>, relay=a[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)"}
{"broken"
"#;
        let s = run(log);
        assert_eq!(s.outbound.trusted, 1);
        assert_eq!(s.by_domain["h.example"].deliveries.trusted, 1);
        assert_eq!(s.malformed, 1);
    }

    #[test]
    fn summary_round_trips_through_json() {
        let s = run(TLS_OUT);
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            text.contains(r#""a.example":{"verified":2,"trusted":0"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Summary>(&text).unwrap(), s);
    }
}
