//! Asking recursive resolvers for raw DNSSEC data: DO and CD set, so that a resolver hands
//! over the RRSIGs and the denial records and leaves validation to us, with the answers kept
//! for the run (a domain with many MX hosts asks for each DNSKEY and DS once).
//!
//! Resolvers are tried in order; a resolver that does not answer, or answers SERVFAIL or
//! REFUSED, gives way to the next. When none gives an answer the question has no answer: that
//! is an indeterminate result, never a bogus one.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

use super::{DnsError, EDNS_PAYLOAD, exchange, new_id, rcode_name};
use crate::addr::name_text;
use crate::env::Net;

/// Why a question got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoAnswer {
    pub reason: String,
}

/// Where the validator's answers come from: a resolver over the network, or canned answers in
/// tests and fuzzing.
pub trait Source {
    /// The answer to `name`/`rtype` with its DNSSEC records (DO=1, CD=1).
    fn fetch(&self, name: &Name, rtype: RecordType) -> Result<Rc<Message>, NoAnswer>;

    /// How many questions went out so far (for benchmarks; 0 when not counted).
    fn queries_sent(&self) -> usize {
        0
    }
}

/// The largest message accepted as an answer, in records over all sections.
pub const MAX_RECORDS: usize = 1024;

/// An answer, or why there is none.
type Fetched = Result<Rc<Message>, NoAnswer>;

/// A caching client of one or more recursive resolvers.
pub struct Client<'a> {
    net: &'a dyn Net,
    servers: Vec<SocketAddr>,
    timeout: Duration,
    cache: RefCell<HashMap<(Name, RecordType), Fetched>>,
    sent: Cell<usize>,
}

impl<'a> Client<'a> {
    pub fn new(net: &'a dyn Net, servers: Vec<SocketAddr>, timeout: Duration) -> Client<'a> {
        Client {
            net,
            servers,
            timeout,
            cache: RefCell::new(HashMap::new()),
            sent: Cell::new(0),
        }
    }

    fn ask(&self, server: SocketAddr, name: &Name, rtype: RecordType) -> Result<Message, String> {
        let id = new_id();
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.metadata.checking_disabled = true;
        message.add_query(Query::query(name.clone(), rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        edns.set_dnssec_ok(true);
        message.set_edns(edns);
        let request = message.to_vec().map_err(|e| e.to_string())?;
        self.sent.set(self.sent.get() + 1);
        let bytes = exchange(self.net, server, &request, id, self.timeout)
            .map_err(|e: DnsError| e.to_string())?;
        let answer =
            Message::from_vec(&bytes).map_err(|e| format!("{server}: malformed answer: {e}"))?;
        let same_question = answer
            .queries
            .first()
            .is_some_and(|q| q.name() == name && q.query_type() == rtype);
        if !same_question {
            return Err(format!("{server}: the answer is for another question"));
        }
        let records = answer.answers.len() + answer.authorities.len() + answer.additionals.len();
        if records > MAX_RECORDS {
            return Err(format!(
                "{server}: {records} records in one answer, more than the limit of {MAX_RECORDS}"
            ));
        }
        match answer.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => Ok(answer),
            other => Err(format!(
                "{server}: {} {rtype}: {}",
                name_text(name),
                rcode_name(other)
            )),
        }
    }
}

impl Source for Client<'_> {
    fn fetch(&self, name: &Name, rtype: RecordType) -> Result<Rc<Message>, NoAnswer> {
        let key = (name.to_lowercase(), rtype);
        if let Some(hit) = self.cache.borrow().get(&key) {
            return hit.clone();
        }
        let mut reasons = Vec::new();
        let mut result = None;
        for &server in &self.servers {
            match self.ask(server, name, rtype) {
                Ok(answer) => {
                    result = Some(Ok(Rc::new(answer)));
                    break;
                }
                Err(e) => reasons.push(e),
            }
        }
        let result = result.unwrap_or_else(|| {
            Err(NoAnswer {
                reason: if reasons.is_empty() {
                    "no resolver to ask".into()
                } else {
                    reasons.join("; ")
                },
            })
        });
        self.cache.borrow_mut().insert(key, result.clone());
        result
    }

    fn queries_sent(&self) -> usize {
        self.sent.get()
    }
}
