//! The input is a series of DNS messages, each preceded by its length (two bytes, big-endian).
//! Each message that parses is the canned answer to its own first question; the validator then
//! checks the MX RRset of the first question's name and the TLSA RRset of `_25._tcp.` under it.
//! The first root DNSKEY found in the messages is the trust anchor, so that fuzzed chains can
//! reach secure verdicts; without one the IANA root anchor is used.
#![no_main]

use std::collections::HashMap;
use std::rc::Rc;

use danekit::dns::client::{NoAnswer, Source};
use danekit::dnssec::{Limits, StatusWord, TrustAnchors, Validator};
use danekit::report::Timestamp;
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;

/// At most this many messages are read from one input.
const MAX_MESSAGES: usize = 32;

struct Canned(HashMap<(Name, RecordType), Rc<Message>>);

impl Source for Canned {
    fn fetch(&self, name: &Name, rtype: RecordType) -> Result<Rc<Message>, NoAnswer> {
        self.0
            .get(&(name.to_lowercase(), rtype))
            .cloned()
            .ok_or_else(|| NoAnswer {
                reason: "no canned answer".into(),
            })
    }
}

fn split(mut data: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    while out.len() < MAX_MESSAGES && data.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let end = (2 + len).min(data.len());
        if let Ok(m) = Message::from_vec(&data[2..end]) {
            out.push(m);
        }
        data = &data[end..];
    }
    out
}

fn anchors(messages: &[Message]) -> TrustAnchors {
    let root_key = messages
        .iter()
        .flat_map(|m| m.answers.iter().chain(m.authorities.iter()))
        .find(|r| r.record_type() == RecordType::DNSKEY && r.name.is_root());
    root_key
        .and_then(|r| TrustAnchors::parse("fuzz", &r.to_string()).ok())
        .unwrap_or_else(TrustAnchors::iana_root)
}

fn run(data: &[u8]) {
    let messages = split(data);
    let Some(first) = messages.first().and_then(|m| m.queries.first()) else {
        return;
    };
    let domain = first.name().to_lowercase();
    let anchors = anchors(&messages);
    let mut map = HashMap::new();
    for m in messages {
        if let Some(q) = m.queries.first() {
            map.entry((q.name().to_lowercase(), q.query_type()))
                .or_insert_with(|| Rc::new(m.clone()));
        }
    }
    let source = Canned(map);
    let limits = Limits::default();
    let validator = Validator::new(&source, &anchors, Timestamp(1_767_225_600), limits);
    let mut questions = vec![(domain.clone(), RecordType::MX)];
    if let Ok(tlsa) = Name::from_ascii("_25._tcp").and_then(|p| p.append_domain(&domain)) {
        questions.push((tlsa, RecordType::TLSA));
    }
    for (name, rtype) in questions {
        let reports = validator.validate(&name, rtype);
        assert!(!reports.is_empty());
        for r in &reports {
            assert!(r.verdict == StatusWord::Secure || r.reason.is_some());
        }
    }
    assert!(validator.checks() <= limits.verifications);
}

fuzz_target!(|data: &[u8]| run(data));
