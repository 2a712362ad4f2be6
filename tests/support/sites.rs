//! Mail sites for the `verify` and `survey` tests: certificate chains made with rcgen (roots,
//! intermediates, leaves of given names and years, ECDSA or RSA), and mail servers of
//! [`super::mail_servers`] on addresses of a 127.B.C.0/24 of their own, all on one port (the
//! TLSA port of the zone that names them).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::mail_servers::{Behaviour, MailServer, ServedCert, TlsVersions};

pub const RSA_KEY: &str = include_str!("../fixtures/pki/leaf-rsa2048.key.pem");

// ---------------------------------------------------------------------------------------------
// Certificates

/// A CA that can issue.
pub struct Ca {
    pub der: Vec<u8>,
    pub issuer: Issuer<'static, KeyPair>,
}

pub fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

pub fn ca_params(cn: &str, years: (i32, i32)) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.distinguished_name = dn(cn);
    p.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    p.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    p
}

pub fn root(cn: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let params = ca_params(cn, (2020, 2100));
    let der = params.self_signed(&key).unwrap().der().to_vec();
    Ca {
        der,
        issuer: Issuer::new(params, key),
    }
}

/// An intermediate CA under `parent`, valid over the given years.
pub fn intermediate(parent: &Ca, cn: &str, years: (i32, i32)) -> Ca {
    let key = KeyPair::generate().unwrap();
    let params = ca_params(cn, years);
    let der = params
        .signed_by(&key, &parent.issuer)
        .unwrap()
        .der()
        .to_vec();
    Ca {
        der,
        issuer: Issuer::new(params, key),
    }
}

/// A leaf for `names` valid over the given years, with a new P-256 key or the fixture RSA key.
pub fn leaf(parent: &Ca, names: &[&str], years: (i32, i32), rsa: bool) -> (Vec<u8>, Vec<u8>) {
    let key = if rsa {
        KeyPair::from_pem(RSA_KEY).unwrap()
    } else {
        KeyPair::generate().unwrap()
    };
    let mut p =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name = dn(names[0]);
    p.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    p.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    let der = p.signed_by(&key, &parent.issuer).unwrap().der().to_vec();
    (der, key.serialize_der())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn spki_sha256(cert: &[u8]) -> String {
    let spki = danekit::pki::Certificate::from_der(cert).unwrap().spki;
    hex(ring::digest::digest(&ring::digest::SHA256, &spki).as_ref())
}

/// `3 1 1` of a certificate's key.
pub fn ee(cert: &[u8]) -> String {
    format!("3 1 1 {}", spki_sha256(cert))
}

/// `2 1 1` of a CA's key.
pub fn ta(cert: &[u8]) -> String {
    format!("2 1 1 {}", spki_sha256(cert))
}

pub const WRONG: &str = "3 1 1 abababababababababababababababababababababababababababababababab";

/// A served certificate: the chain as sent (leaf first) and the leaf's key.
pub fn served(chain: Vec<Vec<u8>>, key: Vec<u8>) -> ServedCert {
    ServedCert {
        sni: None,
        chain,
        key_der: key,
    }
}

// ---------------------------------------------------------------------------------------------
// Sites: mail servers on addresses of their own, one port, and the DNS that names them

/// One mail server to start: the last octet of its address (or `::1` for `None`), how it
/// behaves, and what it serves.
pub struct Spec {
    pub octet: Option<u8>,
    pub behaviour: Behaviour,
    pub certs: Vec<ServedCert>,
}

pub fn spec(octet: u8, behaviour: Behaviour, certs: Vec<ServedCert>) -> Spec {
    Spec {
        octet: Some(octet),
        behaviour,
        certs,
    }
}

/// Servers listening on 127.B.C.octet:PORT (and [::1]:PORT), one port for all.
pub struct Servers {
    pub servers: Vec<MailServer>,
    pub port: u16,
    pub net: [u8; 2],
}

impl Servers {
    pub fn ip(&self, octet: u8) -> String {
        Ipv4Addr::new(127, self.net[0], self.net[1], octet).to_string()
    }

    pub fn accepted(&self) -> usize {
        self.servers.iter().map(MailServer::accepted).sum()
    }
}

pub static NEXT_NET: AtomicU32 = AtomicU32::new(0);

/// Starts the servers of `specs` on one port of a 127.B.C.0/24 of the test's own.
pub fn start(specs: Vec<Spec>) -> Servers {
    for _ in 0..50 {
        let n = NEXT_NET.fetch_add(1, Ordering::SeqCst) + std::process::id() % 997 * 61;
        let net = [10 + (n / 250 % 240) as u8, 1 + (n % 250) as u8];
        let addr = |octet: Option<u8>, port: u16| match octet {
            Some(o) => SocketAddr::from((Ipv4Addr::new(127, net[0], net[1], o), port)),
            None => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)),
        };
        let mut servers = Vec::new();
        let mut port = 0;
        let mut ok = true;
        for s in &specs {
            match MailServer::start_at(
                addr(s.octet, port),
                s.behaviour,
                TlsVersions::Tls12AndTls13,
                s.certs.clone(),
            ) {
                Ok(server) => {
                    port = server.port();
                    servers.push(server);
                }
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            return Servers { servers, port, net };
        }
    }
    panic!("no free loopback address and port for the test servers");
}
