//! DNS on the wire: one exchange (UDP, then TCP when the answer is truncated), plain TLSA
//! queries, and RFC 2136 updates signed with TSIG (RFC 8945).
//!
//! Messages are built and read with hickory-proto; the network is reached only through
//! [`Net`], and every exchange is bounded by its timeout. The DNSSEC validator that `dnssec`
//! and `verify` need will sit on this transport.

pub mod client;
pub mod update;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use thiserror::Error;

use crate::addr::name_text;
use crate::env::Net;
use crate::tlsa::{Matching, ParamSet, Rdata, Selector, Usage};

/// The UDP payload size advertised in EDNS (the DNS Flag Day 2020 value).
pub const EDNS_PAYLOAD: u16 = 1232;

/// Why an exchange with a server gave no usable answer.
#[derive(Debug, Error)]
pub enum DnsError {
    #[error("{server}: no answer within {} ms", limit.as_millis())]
    Timeout { server: SocketAddr, limit: Duration },
    #[error("{server}: {error}")]
    Io {
        server: SocketAddr,
        error: io::Error,
    },
    #[error("{server}: malformed answer: {reason}")]
    Malformed { server: SocketAddr, reason: String },
    #[error("{server}: the answer is not for our question (ID or question differ)")]
    Mismatch { server: SocketAddr },
    #[error("{server}: {name} {rtype}: the server answered {rcode}")]
    Rcode {
        server: SocketAddr,
        name: String,
        rtype: RecordType,
        rcode: String,
    },
    #[error("cannot encode the DNS message: {0}")]
    Encode(String),
}

impl DnsError {
    fn from_io(server: SocketAddr, limit: Duration, error: io::Error) -> Self {
        match error.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                DnsError::Timeout { server, limit }
            }
            _ => DnsError::Io { server, error },
        }
    }
}

/// A response code in words, as operators read them in `dig` output.
pub fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::YXDomain => "YXDOMAIN".into(),
        ResponseCode::YXRRSet => "YXRRSET".into(),
        ResponseCode::NXRRSet => "NXRRSET".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        ResponseCode::NotZone => "NOTZONE".into(),
        ResponseCode::BADSIG => "BADSIG".into(),
        ResponseCode::BADKEY => "BADKEY".into(),
        ResponseCode::BADTIME => "BADTIME".into(),
        other => format!("RCODE {}", u16::from(other)),
    }
}

/// Sends `request` (whose ID is `id`) to `server` and returns the answer: over UDP, and again
/// over TCP (RFC 1035 §4.2.2 framing) when the UDP answer is truncated. Each leg is bounded by
/// `timeout`.
pub fn exchange(
    net: &dyn Net,
    server: SocketAddr,
    request: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Vec<u8>, DnsError> {
    let answer = net
        .udp_exchange(server, request, timeout)
        .map_err(|e| DnsError::from_io(server, timeout, e))?;
    check_header(server, &answer, id)?;
    // The TC bit: byte 2, 0x02.
    if answer[2] & 0x02 == 0 {
        return Ok(answer);
    }
    exchange_tcp(net, server, request, id, timeout)
}

/// The same exchange over TCP only.
pub fn exchange_tcp(
    net: &dyn Net,
    server: SocketAddr,
    request: &[u8],
    id: u16,
    timeout: Duration,
) -> Result<Vec<u8>, DnsError> {
    let io_err = |e| DnsError::from_io(server, timeout, e);
    let deadline = Instant::now().checked_add(timeout);
    let mut connection = net.connect(server, timeout).map_err(io_err)?;
    let len =
        u16::try_from(request.len()).map_err(|_| DnsError::Encode("message too long".into()))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(request);
    let stream = &mut connection.stream;
    stream.write_all(&framed).map_err(io_err)?;
    stream.flush().map_err(io_err)?;
    let mut read_exact = |buf: &mut [u8]| -> Result<(), DnsError> {
        let left = deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(timeout)
            .max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left)).map_err(io_err)?;
        stream.read_exact(buf).map_err(io_err)
    };
    let mut len = [0u8; 2];
    read_exact(&mut len)?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    read_exact(&mut answer)?;
    check_header(server, &answer, id)?;
    Ok(answer)
}

fn check_header(server: SocketAddr, answer: &[u8], id: u16) -> Result<(), DnsError> {
    if answer.len() < 12 {
        return Err(DnsError::Malformed {
            server,
            reason: format!("{} bytes, shorter than a header", answer.len()),
        });
    }
    // QR must be set and the ID must be ours.
    if u16::from_be_bytes([answer[0], answer[1]]) != id || answer[2] & 0x80 == 0 {
        return Err(DnsError::Mismatch { server });
    }
    Ok(())
}

/// A fresh message ID (RFC 5452 wants it unpredictable).
pub fn new_id() -> u16 {
    let mut bytes = [0u8; 2];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        // No randomness: fall back to the clock; the answer is still matched by ID and question.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        return nanos as u16;
    }
    u16::from_be_bytes(bytes)
}

/// What a server says about a name's TLSA RRset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsaAnswer {
    /// The TLSA records of the answer section (after any CNAME the resolver followed).
    pub records: Vec<(u32, Rdata)>,
    /// `NOERROR`, `NXDOMAIN`.
    pub rcode: String,
    /// The AD bit of the answer (meaningful only from a validating resolver on loopback).
    pub authenticated: bool,
}

/// Asks `server` (a recursive resolver, or an authoritative server for the zone) for the TLSA
/// RRset at `name`, with recursion desired and EDNS. NOERROR and NXDOMAIN are answers; any
/// other response code is an error.
pub fn query_tlsa(
    net: &dyn Net,
    server: SocketAddr,
    name: &Name,
    timeout: Duration,
) -> Result<TlsaAnswer, DnsError> {
    let id = new_id();
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name.clone(), RecordType::TLSA));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    message.set_edns(edns);
    let request = message
        .to_vec()
        .map_err(|e| DnsError::Encode(e.to_string()))?;
    let bytes = exchange(net, server, &request, id, timeout)?;
    let answer = Message::from_vec(&bytes).map_err(|e| DnsError::Malformed {
        server,
        reason: e.to_string(),
    })?;
    let asked = answer.queries.first().map(|q| q.name().to_lowercase());
    if asked.as_ref() != Some(&name.to_lowercase()) {
        return Err(DnsError::Mismatch { server });
    }
    let rcode = answer.metadata.response_code;
    if !matches!(rcode, ResponseCode::NoError | ResponseCode::NXDomain) {
        return Err(DnsError::Rcode {
            server,
            name: name_text(name),
            rtype: RecordType::TLSA,
            rcode: rcode_name(rcode),
        });
    }
    let records = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TLSA(t) => Some((
                r.ttl,
                Rdata::new(
                    ParamSet::new(
                        Usage::from(u8::from(t.cert_usage)),
                        Selector::from(u8::from(t.selector)),
                        Matching::from(u8::from(t.matching)),
                    ),
                    t.cert_data.clone(),
                ),
            )),
            _ => None,
        })
        .collect();
    Ok(TlsaAnswer {
        records,
        rcode: rcode_name(rcode),
        authenticated: answer.metadata.authentic_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rcodes_in_words() {
        assert_eq!(rcode_name(ResponseCode::Refused), "REFUSED");
        assert_eq!(rcode_name(ResponseCode::NotAuth), "NOTAUTH");
        assert_eq!(rcode_name(ResponseCode::BADKEY), "BADKEY");
    }

    #[test]
    fn headers_must_answer_our_question() {
        let server: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let mut h = [0u8; 12];
        h[0] = 0x12;
        h[1] = 0x34;
        h[2] = 0x80;
        check_header(server, &h, 0x1234).unwrap();
        assert!(matches!(
            check_header(server, &h, 0x1235),
            Err(DnsError::Mismatch { .. })
        ));
        h[2] = 0;
        assert!(check_header(server, &h, 0x1234).is_err());
        assert!(check_header(server, &h[..5], 0x1234).is_err());
    }
}
