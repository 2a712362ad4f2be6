//! `danekit::verify::plan` against signed hierarchies served on 127.0.0.1 by the in-test
//! server (`support::dns_auth`): one scenario per rule of RFC 7672 §2.2 (rules 4 and 16–18 of
//! the design notes), each asserting the exact plan.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::net::IpAddr;
use std::time::Duration;

use danekit::dns::client::Client;
use danekit::dnssec::{Limits, TrustAnchors, Validator};
use danekit::env::Env as _;
use danekit::time::Timestamp;
use danekit::tlsa::Rdata;
use danekit::verify::{MxState, Plan, PortPlan, TlsaState, plan};
use hickory_proto::rr::RecordType;
use support::dns_auth::{AuthServer, Behaviour, Hierarchy, ZoneSpec, name, now};
use support::mail_servers::LoopbackEnv;

const EE: &str = "3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const TA: &str = "2 1 1 fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const PKIX: &str = "0 0 1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// Plans `domain` for `ports` against `server`, with the hierarchy's root anchor. Asserts
/// that nothing was resolved outside the validated questions.
fn run(server: &AuthServer, domain: &str, ports: &[u16]) -> Plan {
    let env = LoopbackEnv::new();
    let anchors =
        TrustAnchors::parse("anchor", &server.hierarchy().trust_anchor_ds().join("\n")).unwrap();
    let client = Client::new(env.net(), vec![server.addr], Duration::from_secs(2));
    let validator = Validator::new(
        &client,
        &anchors,
        Timestamp(i64::from(now())),
        Limits::default(),
    );
    let p = plan(&validator, &name(domain), ports);
    assert!(env.resolves().is_empty(), "{:?}", env.resolves());
    assert!(env.connects().is_empty() || env.connects().iter().all(|a| *a == server.addr));
    p
}

fn serve(specs: Vec<ZoneSpec>) -> AuthServer {
    AuthServer::start(Hierarchy::rooted(specs), vec![])
}

fn rdata(text: &str) -> Rdata {
    text.parse().unwrap()
}

fn hosts(p: &Plan) -> Vec<(String, Option<u16>)> {
    p.hosts
        .iter()
        .map(|h| (h.name.to_string(), h.preference))
        .collect()
}

fn port(p: &Plan, host: usize, index: usize) -> &PortPlan {
    &p.hosts[host].ports[index]
}

/// The (name, type) of every TLSA report of a port, in the order asked.
fn asked(pp: &PortPlan) -> Vec<(String, String)> {
    pp.reports
        .iter()
        .map(|r| (r.name.clone(), r.rtype.clone()))
        .collect()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

#[test]
fn secure_mx_hosts_in_preference_order_ties_by_name_rfc7672_section_2_2_1() {
    let server = serve(vec![ZoneSpec::new("example.test").record(&format!(
        "@ MX 20 alpha\n@ MX 10 mx-b\n@ MX 10 mx-a\n\
         alpha A 127.0.0.4\nmx-a A 127.0.0.2\nmx-b A 127.0.0.3\n\
         _25._tcp.mx-a TLSA {EE}\n_25._tcp.mx-b TLSA {EE}\n_25._tcp.alpha TLSA {EE}"
    ))]);
    let p = run(&server, "example.test", &[25]);
    assert_eq!(p.mx, MxState::Secure);
    assert_eq!(
        hosts(&p),
        vec![
            ("mx-a.example.test.".to_owned(), Some(10)),
            ("mx-b.example.test.".to_owned(), Some(10)),
            ("alpha.example.test.".to_owned(), Some(20)),
        ]
    );
    assert_eq!(p.mx_reports.len(), 1);
    assert_eq!(p.mx_reports[0].rtype, "MX");
    for (h, ip) in p.hosts.iter().zip(["127.0.0.2", "127.0.0.3", "127.0.0.4"]) {
        assert!(h.address_secure);
        assert_eq!(h.addresses, ips(&[ip]));
        assert_eq!(h.ports[0].state, TlsaState::Usable(vec![rdata(EE)]));
        assert_eq!(h.ports[0].base.as_ref(), Some(&h.name));
    }
    assert_eq!(
        port(&p, 0, 0).reference_names,
        vec!["mx-a.example.test.", "example.test."]
    );
}

#[test]
fn no_mx_means_the_domain_itself_rfc5321_section_5_1() {
    let server = serve(vec![
        ZoneSpec::new("example.test").record(&format!("@ A 127.0.0.5\n_25._tcp TLSA {EE}")),
    ]);
    let p = run(&server, "example.test", &[25]);
    assert_eq!(p.mx, MxState::Implicit);
    assert_eq!(hosts(&p), vec![("example.test.".to_owned(), None)]);
    assert_eq!(p.hosts[0].addresses, ips(&["127.0.0.5"]));
    assert_eq!(port(&p, 0, 0).state, TlsaState::Usable(vec![rdata(EE)]));
}

#[test]
fn null_mx_has_no_hosts_rfc7505() {
    let server = serve(vec![
        ZoneSpec::new("example.test").record("@ MX 0 .\n@ A 127.0.0.5"),
    ]);
    let p = run(&server, "example.test", &[25]);
    assert_eq!(p.mx, MxState::Null);
    assert!(p.hosts.is_empty());
}

#[test]
fn insecure_delegation_is_no_dane_rfc7672_section_2_2_1() {
    let server = serve(vec![ZoneSpec::unsigned("example.test").record(&format!(
        "@ MX 10 mail\nmail A 127.0.0.1\n_25._tcp.mail TLSA {EE}"
    ))]);
    let p = run(&server, "example.test", &[25]);
    let why = "example.test. is an unsigned delegation: its parent proves it has no DS";
    assert_eq!(p.mx, MxState::Insecure(why.to_owned()));
    assert_eq!(hosts(&p), vec![("mail.example.test.".to_owned(), Some(10))]);
    assert!(!p.hosts[0].address_secure);
    assert_eq!(p.hosts[0].addresses, ips(&["127.0.0.1"]));
    let pp = port(&p, 0, 0);
    assert_eq!(
        pp.state,
        TlsaState::NoDane(format!("the MX lookup is insecure: {why}"))
    );
    assert!(pp.reports.is_empty(), "no TLSA lookup without a secure MX");
}

#[test]
fn secure_denial_of_tlsa_is_no_dane_rfc7672_section_2_2() {
    let server = serve(vec![
        ZoneSpec::new("example.test").record("@ MX 10 mail\nmail A 127.0.0.1"),
    ]);
    let p = run(&server, "example.test", &[25]);
    let pp = port(&p, 0, 0);
    assert_eq!(
        pp.state,
        TlsaState::NoDane(
            "no TLSA RRset at _25._tcp.mail.example.test. (secure NXDOMAIN)".to_owned()
        )
    );
    assert_eq!(pp.base, None);
    assert_eq!(
        asked(pp),
        vec![("_25._tcp.mail.example.test.".to_owned(), "TLSA".to_owned())]
    );
}

#[test]
fn usable_dane_ee_record_rfc7672_section_3_1_1() {
    let server = serve(vec![ZoneSpec::new("example.test").record(&format!(
        "@ MX 10 mail\nmail A 127.0.0.1\n_25._tcp.mail TLSA {EE}\n_25._tcp.mail TLSA {PKIX}"
    ))]);
    let p = run(&server, "example.test", &[25]);
    let pp = port(&p, 0, 0);
    let TlsaState::Usable(records) = &pp.state else {
        panic!("{:?}", pp.state)
    };
    let mut records = records.clone();
    records.sort();
    assert_eq!(records, vec![rdata(PKIX), rdata(EE)]);
    assert!(pp.unparsed.is_empty());
    assert_eq!(pp.base, Some(name("mail.example.test")));
    assert_eq!(pp.reports[0].verdict, danekit::dnssec::StatusWord::Secure);
}

#[test]
fn only_unusable_records_make_tls_mandatory_unauthenticated_rfc7672_section_2_2() {
    let server = serve(vec![ZoneSpec::new("example.test").record(&format!(
        "@ MX 10 mail\nmail A 127.0.0.1\n_25._tcp.mail TLSA {PKIX}\n_25._tcp.mail TLSA 3 1 1 00aa"
    ))]);
    let p = run(&server, "example.test", &[25]);
    let TlsaState::UnusableOnly(records) = &port(&p, 0, 0).state else {
        panic!("{:?}", port(&p, 0, 0).state)
    };
    let mut records = records.clone();
    records.sort();
    assert_eq!(records, vec![rdata(PKIX), rdata("3 1 1 00aa")]);
}

#[test]
fn tampered_tlsa_is_a_failure_rfc7672_section_2_2_2() {
    let mut h = Hierarchy::rooted(vec![ZoneSpec::new("example.test").record(&format!(
        "@ MX 10 mail\nmail A 127.0.0.1\n_25._tcp.mail TLSA {EE}"
    ))]);
    h.zone_mut("example.test")
        .tamper("_25._tcp.mail.example.test", RecordType::TLSA);
    let server = AuthServer::start(h, vec![]);
    let p = run(&server, "example.test", &[25]);
    let pp = port(&p, 0, 0);
    let TlsaState::Failure(why) = &pp.state else {
        panic!("{:?}", pp.state)
    };
    let reason = pp.reports[0].reason.clone().unwrap();
    assert_eq!(
        why,
        &format!("the TLSA RRset at _25._tcp.mail.example.test. is bogus: {reason}")
    );
    assert_eq!(pp.base, Some(name("mail.example.test")));
}

#[test]
fn servfail_on_tlsa_is_a_failure_rfc7672_section_2_2_2() {
    let server = AuthServer::start(
        Hierarchy::rooted(vec![ZoneSpec::new("example.test").record(&format!(
            "@ MX 10 mail\nmail A 127.0.0.1\n_25._tcp.mail TLSA {EE}"
        ))]),
        vec![Behaviour::ServFail(name("_25._tcp.mail.example.test"))],
    );
    let p = run(&server, "example.test", &[25]);
    assert!(p.hosts[0].address_secure);
    let pp = port(&p, 0, 0);
    let TlsaState::Failure(why) = &pp.state else {
        panic!("{:?}", pp.state)
    };
    let reason = pp.reports[0].reason.clone().unwrap();
    assert!(reason.contains("SERVFAIL"), "{reason}");
    assert_eq!(
        why,
        &format!("the TLSA RRset at _25._tcp.mail.example.test. is indeterminate: {reason}")
    );
}

#[test]
fn cname_host_tlsa_at_the_expanded_name_first_rfc7672_section_2_2_2() {
    let server = serve(vec![
        ZoneSpec::new("example.test").record(&format!(
            "@ MX 10 mail\n@ MX 20 relay\nmail CNAME mx.provider.test.\n\
             relay CNAME out.provider.test.\n_25._tcp.relay TLSA {TA}"
        )),
        ZoneSpec::new("provider.test").record(&format!(
            "mx A 127.0.0.6\nout A 127.0.0.7\n_25._tcp.mx TLSA {EE}"
        )),
    ]);
    let p = run(&server, "example.test", &[25]);
    let mail = &p.hosts[0];
    assert_eq!(mail.expanded, Some(name("mx.provider.test")));
    assert_eq!(mail.addresses, ips(&["127.0.0.6"]));
    let pp = &mail.ports[0];
    assert_eq!(pp.state, TlsaState::Usable(vec![rdata(EE)]));
    assert_eq!(pp.base, Some(name("mx.provider.test")));
    assert_eq!(
        asked(pp),
        vec![("_25._tcp.mx.provider.test.".to_owned(), "TLSA".to_owned())]
    );
    assert_eq!(
        pp.reference_names,
        vec!["mx.provider.test.", "mail.example.test.", "example.test."]
    );
    // No TLSA at the expanded name: the original name is tried next.
    let relay = &p.hosts[1];
    assert_eq!(relay.expanded, Some(name("out.provider.test")));
    let pp = &relay.ports[0];
    assert_eq!(pp.state, TlsaState::Usable(vec![rdata(TA)]));
    assert_eq!(pp.base, Some(name("relay.example.test")));
    assert_eq!(
        asked(pp),
        vec![
            ("_25._tcp.out.provider.test.".to_owned(), "TLSA".to_owned()),
            ("_25._tcp.relay.example.test.".to_owned(), "TLSA".to_owned()),
        ]
    );
}

#[test]
fn ports_each_get_a_state_rfc7672_section_2_2() {
    let server = serve(vec![ZoneSpec::new("example.test").record(&format!(
        "@ MX 10 mail\nmail A 127.0.0.1\n_25._tcp.mail TLSA {EE}\n_465._tcp.mail TLSA {PKIX}"
    ))]);
    let p = run(&server, "example.test", &[25, 465, 587]);
    let states: Vec<(u16, TlsaState)> = p.hosts[0]
        .ports
        .iter()
        .map(|pp| (pp.port, pp.state.clone()))
        .collect();
    assert_eq!(
        states,
        vec![
            (25, TlsaState::Usable(vec![rdata(EE)])),
            (465, TlsaState::UnusableOnly(vec![rdata(PKIX)])),
            (
                587,
                TlsaState::NoDane(
                    "no TLSA RRset at _587._tcp.mail.example.test. (secure NXDOMAIN)".to_owned()
                )
            ),
        ]
    );
}

#[test]
fn addresses_are_exactly_the_validated_answers() {
    let server = serve(vec![ZoneSpec::new("example.test").record(&format!(
        "@ MX 10 mail\nmail A 127.0.0.8\nmail A 127.0.0.9\nmail AAAA ::1\n_25._tcp.mail TLSA {EE}"
    ))]);
    let p = run(&server, "example.test", &[25]);
    let h = &p.hosts[0];
    assert_eq!(h.addresses, ips(&["127.0.0.8", "127.0.0.9", "::1"]));
    let kinds: Vec<(String, String)> = h
        .address_reports
        .iter()
        .map(|r| (r.name.clone(), r.rtype.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("mail.example.test.".to_owned(), "A".to_owned()),
            ("mail.example.test.".to_owned(), "AAAA".to_owned()),
        ]
    );
}

#[test]
fn insecure_address_lookup_skips_tlsa_rfc7672_section_2_2_2() {
    let server = serve(vec![
        ZoneSpec::new("example.test").record("@ MX 10 mx.hosted.test."),
        ZoneSpec::unsigned("hosted.test").record(&format!("mx A 127.0.0.1\n_25._tcp.mx TLSA {EE}")),
    ]);
    let p = run(&server, "example.test", &[25]);
    assert_eq!(p.mx, MxState::Secure);
    let h = &p.hosts[0];
    assert!(!h.address_secure);
    assert_eq!(h.addresses, ips(&["127.0.0.1"]));
    let pp = &h.ports[0];
    assert_eq!(
        pp.state,
        TlsaState::NoDane(
            "the address lookup of mx.hosted.test. is insecure: \
             hosted.test. is an unsigned delegation: its parent proves it has no DS"
                .to_owned()
        )
    );
    assert!(
        pp.reports.is_empty(),
        "no TLSA lookup after an insecure address"
    );
}
