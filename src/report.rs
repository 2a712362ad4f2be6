//! Findings and verdicts shared by every command's report.
//!
//! A failed check is a [`Finding`] in a report, never an `Err`: an `Err` means the tool could not
//! do its job. This module only holds values; printing them belongs to `cli`.

use serde::Serialize;

/// How much a finding matters. A warning alone never changes the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One observation about the input or the world: a lint, a failed check, a risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable kebab-case identifier that scripts can match, e.g. `dane-ee-full-cert`.
    pub code: &'static str,
    pub severity: Severity,
    /// What the finding is about: a file, an owner name, a `host:port`.
    pub subject: String,
    /// One sentence for an operator.
    pub message: String,
}

impl Finding {
    pub fn warning(
        code: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            code,
            severity: Severity::Warning,
            subject: subject.into(),
            message: message.into(),
        }
    }

    pub fn error(
        code: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            code,
            severity: Severity::Error,
            subject: subject.into(),
            message: message.into(),
        }
    }
}

/// The JSON schema version every document carries.
pub const SCHEMA_VERSION: u32 = 1;

/// Formats Unix seconds as RFC 3339 in UTC (`2026-12-01T19:17:25Z`).
pub fn format_time(unix: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("@{unix}"))
}

/// Parses RFC 3339 (`2026-12-01T19:17:25Z`, with any offset) or Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(n);
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_time("2026-12-01T19:17:25Z"), Some(1_796_152_645));
        assert_eq!(format_time(1_796_152_645), "2026-12-01T19:17:25Z");
        assert_eq!(parse_time("2026-12-01T20:17:25+01:00"), Some(1_796_152_645));
        assert_eq!(parse_time("1796152645"), Some(1_796_152_645));
        assert_eq!(parse_time("yesterday"), None);
    }
}
