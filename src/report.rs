//! The report model every command shares: verdicts, findings with their evidence, and the
//! error document printed when a run cannot reach a verdict.
//!
//! A failed check is a [`Finding`] in a report, never an `Err`: an `Err` means the tool could
//! not do its job. Every type here is `Serialize` and `Deserialize`, so a command's JSON can be
//! read back (by tests, and by `survey --resume`). This module only holds values; printing
//! them belongs to `cli`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::time::Timestamp;

/// The JSON schema version every document carries.
pub const SCHEMA_VERSION: u32 = 1;

/// The top-level outcome of a run, as the command-line contract names it. Each command uses
/// its own subset: `tlsa` says `ok`; `zone` `ok` or `differs`; `dnssec` `secure`, `insecure`,
/// `bogus` or `indeterminate`; `verify` `pass`, `fail` or `indeterminate`; `rollover` `safe`,
/// `unsafe` or `indeterminate`; any command `error` when it could not do its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Differs,
    Secure,
    Insecure,
    Bogus,
    Pass,
    Fail,
    Safe,
    Unsafe,
    Indeterminate,
    Error,
}

/// How much a finding matters. A warning alone never changes the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable kebab-case identifier that scripts can match, e.g. `dane-ee-full-cert`.
    pub code: String,
    pub severity: Severity,
    /// What the finding is about: a file, an owner name, a `host:port`.
    pub subject: String,
    /// One sentence for an operator. Text from files and peers in it is escaped.
    pub message: String,
    /// The facts behind the finding, by name (`not_after`, `key_tag`, `sni`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub evidence: BTreeMap<String, String>,
}

impl Finding {
    pub fn warning(code: &str, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, subject, message)
    }

    pub fn error(code: &str, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, subject, message)
    }

    fn new(
        severity: Severity,
        code: &str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            code: code.to_owned(),
            severity,
            subject: subject.into(),
            message: message.into(),
            evidence: BTreeMap::new(),
        }
    }

    /// The finding with one more fact.
    pub fn with(mut self, name: &str, value: impl ToString) -> Self {
        self.evidence.insert(name.to_owned(), value.to_string());
        self
    }
}

/// Why a run ended without a verdict: the exit code 2 (`input`) or 3 (`network`) class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Input,
    Network,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub kind: ErrorKind,
    pub message: String,
}

/// The document printed with `-o json` when a run ends in exit 2 or 3, so that a pipeline
/// that parses standard output never meets an empty string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDocument {
    pub schema_version: u32,
    pub verdict: Verdict,
    pub error: ErrorDetail,
}

impl ErrorDocument {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorDocument {
            schema_version: SCHEMA_VERSION,
            verdict: Verdict::Error,
            error: ErrorDetail {
                kind,
                message: message.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_round_trip_through_json() {
        let f =
            Finding::warning("leaf-expired", "cert.pem", "expired").with("not_after", Timestamp(0));
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(
            text,
            r#"{"code":"leaf-expired","severity":"warning","subject":"cert.pem","message":"expired","evidence":{"not_after":"1970-01-01T00:00:00Z"}}"#
        );
        assert_eq!(serde_json::from_str::<Finding>(&text).unwrap(), f);
        let bare = Finding::error("x", "s", "m");
        assert!(!serde_json::to_string(&bare).unwrap().contains("evidence"));
    }

    #[test]
    fn error_document_shape() {
        let doc = ErrorDocument::new(ErrorKind::Network, "timed out");
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"schema_version":1,"verdict":"error","error":{"kind":"network","message":"timed out"}}"#
        );
    }
}
