//! X.509 certificates (RFC 5280 §4.1) read for what DANE needs: the exact DER (selector 0),
//! the SubjectPublicKeyInfo as the certificate carries it (selector 1), the names that link a
//! chain, and the facts the lints use (CA flag, dates, DNS names, key type).
//!
//! The structure is read with the strict DER reader, so a record is computed from exactly the
//! bytes a DANE client hashes, and a certificate that is not DER is refused. The facts are read
//! field by field: a date or an extension that cannot be read costs only its lint, never the
//! record (the record depends on the bytes alone).

use super::der::{
    self, BIT_STRING, BOOLEAN, GENERALIZED_TIME, INTEGER, OCTET_STRING, OID, SEQUENCE, Tlv,
    UTC_TIME,
};
use super::key::{self, KeyInfo};
use crate::text;
use crate::time::Timestamp;

const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];

/// One X.509 certificate and the facts about it that DANE needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The whole certificate, DER (what selector 0 hashes).
    pub der: Vec<u8>,
    /// The SubjectPublicKeyInfo, DER, as in the certificate (what selector 1 hashes).
    pub spki: Vec<u8>,
    /// The subject name for messages, escaped (`CN=mail.example.org, O=Example`).
    pub subject: String,
    /// The issuer name for messages, escaped.
    pub issuer: String,
    pub(crate) subject_raw: Vec<u8>,
    pub(crate) issuer_raw: Vec<u8>,
    /// basicConstraints cA is true.
    pub is_ca: bool,
    /// Subject and issuer are the same name.
    pub self_issued: bool,
    /// Validity, when the dates could be read.
    pub not_before: Option<Timestamp>,
    pub not_after: Option<Timestamp>,
    /// DNS names of the subjectAltName extension, as written (not yet checked as host names).
    pub dns_names: Vec<String>,
    pub key: KeyInfo,
    /// What could not be read, for a warning: `"the notAfter date"`, ...
    pub unreadable: Vec<&'static str>,
}

impl Certificate {
    /// Reads one DER certificate. `trailing_ok` allows bytes after it (OpenSSL's
    /// `TRUSTED CERTIFICATE` appends its trust settings).
    pub fn parse(bytes: &[u8], trailing_ok: bool) -> Result<Self, String> {
        let (outer, rest) = der::read_tlv(bytes).map_err(|e| e.to_string())?;
        if !rest.is_empty() && !trailing_ok {
            return Err(format!(
                "{} bytes of junk after the certificate",
                rest.len()
            ));
        }
        der::check_tree(outer.raw).map_err(|e| e.to_string())?;
        if outer.tag != SEQUENCE {
            return Err("not a SEQUENCE".into());
        }
        let parts = der::children(outer.value).map_err(|e| e.to_string())?;
        let [tbs, sig_alg, sig] = parts.as_slice() else {
            return Err(
                "a certificate has three fields (tbsCertificate, algorithm, signature)".into(),
            );
        };
        if tbs.tag != SEQUENCE || sig_alg.tag != SEQUENCE || sig.tag != BIT_STRING {
            return Err("a certificate is SEQUENCE { SEQUENCE, SEQUENCE, BIT STRING }".into());
        }
        let fields = der::children(tbs.value).map_err(|e| e.to_string())?;
        // Version [0] EXPLICIT is optional (v1 certificates leave it out).
        let fields: &[Tlv<'_>] = match fields.first() {
            Some(v) if v.tag == 0xa0 => &fields[1..],
            _ => &fields,
        };
        let [
            serial,
            _signature,
            issuer,
            validity,
            subject,
            spki,
            extra @ ..,
        ] = fields
        else {
            return Err("the tbsCertificate has too few fields".into());
        };
        if serial.tag != INTEGER
            || issuer.tag != SEQUENCE
            || validity.tag != SEQUENCE
            || subject.tag != SEQUENCE
            || spki.tag != SEQUENCE
        {
            return Err("the tbsCertificate fields are not in RFC 5280 order".into());
        }
        let mut unreadable = Vec::new();
        let key = key::spki_info(spki.raw)
            .and_then(|info| key::check_certificate_spki(spki.raw).map(|()| info))
            .map_err(|e| format!("its public key: {e}"))?;
        let (not_before, not_after) = read_validity(validity, &mut unreadable);
        let extensions = extra.iter().find(|t| t.tag == 0xa3);
        let (is_ca, dns_names) = match extensions {
            Some(ext) => read_extensions(ext, &mut unreadable),
            None => (false, Vec::new()),
        };
        Ok(Certificate {
            der: outer.raw.to_vec(),
            spki: spki.raw.to_vec(),
            subject: name_text(subject.raw),
            issuer: name_text(issuer.raw),
            self_issued: subject.raw == issuer.raw,
            subject_raw: subject.raw.to_vec(),
            issuer_raw: issuer.raw.to_vec(),
            is_ca,
            not_before,
            not_after,
            dns_names,
            key,
            unreadable,
        })
    }

    /// Parses one DER certificate with nothing after it.
    pub fn from_der(bytes: &[u8]) -> Result<Self, String> {
        Self::parse(bytes, false)
    }

    /// True when `issuer`'s subject is this certificate's issuer name.
    pub fn is_named_issuer(&self, issuer: &Certificate) -> bool {
        self.issuer_raw == issuer.subject_raw
    }

    /// A certificate with the given encodings and nothing else, for unit tests of code that
    /// only hashes.
    #[cfg(test)]
    pub(crate) fn synthetic(der: Vec<u8>, spki: Vec<u8>, is_ca: bool) -> Self {
        Certificate {
            der,
            spki,
            subject: String::new(),
            issuer: String::new(),
            subject_raw: Vec::new(),
            issuer_raw: vec![1],
            is_ca,
            self_issued: false,
            not_before: None,
            not_after: None,
            dns_names: Vec::new(),
            key: KeyInfo::Ed25519,
            unreadable: Vec::new(),
        }
    }
}

/// A Name for messages, as x509-parser renders it, escaped and cut; `(unreadable name)` when
/// it cannot be rendered.
fn name_text(raw: &[u8]) -> String {
    use x509_parser::prelude::{FromDer, X509Name};
    match X509Name::from_der(raw) {
        Ok((_, name)) => text::clip(&name.to_string()),
        Err(_) => "(unreadable name)".into(),
    }
}

fn read_validity(
    validity: &Tlv<'_>,
    unreadable: &mut Vec<&'static str>,
) -> (Option<Timestamp>, Option<Timestamp>) {
    let times = der::children(validity.value).unwrap_or_default();
    let not_before = times.first().and_then(parse_time);
    let not_after = times.get(1).and_then(parse_time);
    if not_before.is_none() {
        unreadable.push("the notBefore date");
    }
    if not_after.is_none() {
        unreadable.push("the notAfter date");
    }
    (not_before, not_after)
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950–2049) or GeneralizedTime `YYYYMMDDHHMMSSZ`, the only
/// forms RFC 5280 §4.1.2.5 allows.
fn parse_time(t: &Tlv<'_>) -> Option<Timestamp> {
    let digits = |s: &[u8]| -> Option<u32> {
        s.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (year, rest) = match (t.tag, t.value.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&t.value[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &t.value[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&t.value[..4])?, &t.value[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let field = |i: usize| digits(&rest[i..i + 2]).and_then(|v| u8::try_from(v).ok());
    Timestamp::from_utc(
        i32::try_from(year).ok()?,
        field(0)?,
        field(2)?,
        field(4)?,
        field(6)?,
        field(8)?,
    )
}

/// basicConstraints cA and the subjectAltName DNS names.
fn read_extensions(ext: &Tlv<'_>, unreadable: &mut Vec<&'static str>) -> (bool, Vec<String>) {
    let mut is_ca = false;
    let mut dns_names = Vec::new();
    let list = der::read_tlv(ext.value)
        .ok()
        .filter(|(t, rest)| t.tag == SEQUENCE && rest.is_empty())
        .and_then(|(t, _)| der::children(t.value).ok());
    let Some(list) = list else {
        unreadable.push("the extensions");
        return (false, Vec::new());
    };
    for extension in list {
        // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }
        let parts = der::children(extension.value).unwrap_or_default();
        let (Some(id), Some(value)) = (parts.first(), parts.last()) else {
            continue;
        };
        if id.tag != OID || value.tag != OCTET_STRING {
            continue;
        }
        match id.value {
            OID_BASIC_CONSTRAINTS => match read_basic_constraints(value.value) {
                Some(ca) => is_ca = ca,
                None => unreadable.push("basicConstraints"),
            },
            OID_SUBJECT_ALT_NAME => match read_dns_names(value.value) {
                Some(names) => dns_names = names,
                None => unreadable.push("subjectAltName"),
            },
            _ => {}
        }
    }
    (is_ca, dns_names)
}

/// BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLen INTEGER OPTIONAL }.
fn read_basic_constraints(value: &[u8]) -> Option<bool> {
    let seq = der::whole(value, SEQUENCE, "BasicConstraints").ok()?;
    let fields = der::children(seq.value).ok()?;
    Some(
        fields
            .first()
            .is_some_and(|f| f.tag == BOOLEAN && f.value == [0xff]),
    )
}

/// GeneralNames ::= SEQUENCE OF GeneralName; dNSName is `[2] IMPLICIT IA5String`.
fn read_dns_names(value: &[u8]) -> Option<Vec<String>> {
    let seq = der::whole(value, SEQUENCE, "GeneralNames").ok()?;
    let names = der::children(seq.value).ok()?;
    Some(
        names
            .iter()
            .filter(|n| n.tag == 0x82)
            .map(|n| String::from_utf8_lossy(n.value).into_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(tag: u8, text: &str) -> Option<Timestamp> {
        let enc = der::write_tlv(tag, text.as_bytes());
        let (t, _) = der::read_tlv(&enc).unwrap();
        parse_time(&t)
    }

    #[test]
    fn rfc_5280_times() {
        assert_eq!(
            time(UTC_TIME, "261201191725Z"),
            Timestamp::parse("2026-12-01T19:17:25Z")
        );
        assert_eq!(
            time(UTC_TIME, "500101000000Z"),
            Timestamp::parse("1950-01-01T00:00:00Z")
        );
        assert_eq!(
            time(GENERALIZED_TIME, "20991231000000Z"),
            Timestamp::parse("2099-12-31T00:00:00Z")
        );
        for bad in [
            "261301000000Z",
            "2612011917Z",
            "261201191725+0100",
            "26120119172aZ",
        ] {
            assert_eq!(time(UTC_TIME, bad), None, "{bad}");
        }
        assert_eq!(time(GENERALIZED_TIME, "20991231000000.5Z"), None);
    }
}
