//! Instants: Unix seconds with RFC 3339 text, and the 32-bit serial times of DNSSEC.
//!
//! [`Timestamp`] is what the rest of the toolkit passes around ("now", a certificate's
//! notAfter). [`SerialTime`] is an RRSIG inception or expiration field (RFC 4034 §3.1.5): a
//! 32-bit count of seconds compared with RFC 1982 serial-number arithmetic, so it must be read
//! relative to a known instant. Nothing here reads a clock: the caller hands the time in.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Seconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses RFC 3339 (`2026-12-01T19:17:25Z`, any offset) or Unix seconds.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let text = text.trim();
        if let Ok(n) = text.parse::<i64>() {
            return Some(Timestamp(n));
        }
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| Timestamp(t.unix_timestamp()))
    }

    /// The instant `seconds` later, saturating at the ends of `i64`.
    pub fn plus(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds))
    }

    /// From a calendar date and time in UTC, if it exists.
    pub fn from_utc(
        year: i32,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Option<Self> {
        let month = time::Month::try_from(month).ok()?;
        let date = time::Date::from_calendar_date(year, month, day).ok()?;
        let clock = time::Time::from_hms(hour, minute, second).ok()?;
        Some(Timestamp(
            time::PrimitiveDateTime::new(date, clock)
                .assume_utc()
                .unix_timestamp(),
        ))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC (`2026-12-01T19:17:25Z`); `@SECONDS` outside the years 0000–9999.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let format =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        match time::OffsetDateTime::from_unix_timestamp(self.0)
            .ok()
            .filter(|t| (0..=9999).contains(&t.year()))
            .and_then(|t| t.format(&format).ok())
        {
            Some(text) => f.write_str(&text),
            None => write!(f, "@{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}")))
    }
}

/// A 32-bit DNSSEC time (RRSIG inception and expiration, RFC 4034 §3.1.5), compared with
/// RFC 1982 serial-number arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SerialTime(pub u32);

impl SerialTime {
    /// RFC 1982 §3.2: `self` is before `other` when the forward distance from `self` to
    /// `other` is less than 2^31. Two values exactly 2^31 apart are unordered (`None`).
    pub fn serial_cmp(self, other: SerialTime) -> Option<Ordering> {
        let forward = other.0.wrapping_sub(self.0);
        match forward {
            0 => Some(Ordering::Equal),
            d if d < 1 << 31 => Some(Ordering::Less),
            d if d > 1 << 31 => Some(Ordering::Greater),
            _ => None,
        }
    }

    /// The instant this value names, taken as the one closest to `near` (RFC 4034 §3.1.5:
    /// the field is a serial number relative to the current time).
    pub fn resolve(self, near: Timestamp) -> Timestamp {
        let near_low = near.0 as u32;
        let delta = self.0.wrapping_sub(near_low) as i32;
        near.plus(i64::from(delta))
    }

    /// The serial value of an instant (its low 32 bits).
    pub fn from_timestamp(t: Timestamp) -> SerialTime {
        SerialTime(t.0 as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        let t = Timestamp::parse("2026-12-01T19:17:25Z").unwrap();
        assert_eq!(t, Timestamp(1_796_152_645));
        assert_eq!(t.to_string(), "2026-12-01T19:17:25Z");
        assert_eq!(Timestamp::parse("2026-12-01T20:17:25+01:00"), Some(t));
        assert_eq!(Timestamp::parse("1796152645"), Some(t));
        assert_eq!(Timestamp::parse("yesterday"), None);
        assert_eq!(Timestamp(i64::MAX).to_string(), format!("@{}", i64::MAX));
        assert_eq!(Timestamp(i64::MAX).plus(5), Timestamp(i64::MAX));
        assert_eq!(
            Timestamp::from_utc(2026, 12, 1, 19, 17, 25),
            Some(Timestamp(1_796_152_645))
        );
        assert_eq!(Timestamp::from_utc(2026, 13, 1, 0, 0, 0), None);
        assert_eq!(Timestamp::from_utc(2026, 2, 30, 0, 0, 0), None);
    }

    #[test]
    fn serial_arithmetic_rfc_1982_section_3_2() {
        let a = SerialTime(0xffff_fff0);
        let b = SerialTime(0x0000_0010);
        assert_eq!(a.serial_cmp(b), Some(Ordering::Less));
        assert_eq!(b.serial_cmp(a), Some(Ordering::Greater));
        assert_eq!(a.serial_cmp(a), Some(Ordering::Equal));
        assert_eq!(SerialTime(0).serial_cmp(SerialTime(1 << 31)), None);
        assert_eq!(
            SerialTime(1).serial_cmp(SerialTime((1 << 31) + 2)),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn serial_times_resolve_near_now_rfc_4034_section_3_1_5() {
        // 2106-02-07T06:28:16Z is 2^32: a signature made just before it and one expiring
        // just after it are read on both sides of the wrap.
        let now = Timestamp(1 << 32);
        assert_eq!(
            SerialTime(0xffff_ff00).resolve(now),
            Timestamp((1 << 32) - 256)
        );
        assert_eq!(SerialTime(0x100).resolve(now), Timestamp((1 << 32) + 256));
        let now = Timestamp(1_796_152_645);
        let t = SerialTime::from_timestamp(now.plus(86_400));
        assert_eq!(t.resolve(now), now.plus(86_400));
        assert_eq!(
            SerialTime::from_timestamp(now.plus(-86_400)).resolve(now),
            now.plus(-86_400)
        );
    }
}
