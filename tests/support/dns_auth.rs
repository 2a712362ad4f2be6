//! A signed DNS world for the DNSSEC validator's tests: zone hierarchies signed with fixed keys,
//! faults injected after signing, and a DNS server on 127.0.0.1 that answers for the whole
//! hierarchy the way a recursive resolver answers a query with CD=1 and DO=1.
//!
//! [`Hierarchy::new`] takes one [`ZoneSpec`] per zone and finds parents and children by name. It
//! adds each child's delegation (NS and glue) to the parent, and for a signed child one DS per
//! key that signs the child's DNSKEY RRset (SHA-256). Then it signs every signed zone: the DNSKEY
//! RRset with the key-signing keys, every other authoritative RRset with the zone-signing keys,
//! and an NSEC or NSEC3 chain, with opt-out when asked (RFC 4034 §4, RFC 5155 §7.1). A test breaks
//! the result through [`Hierarchy::zone_mut`] and the editing methods of [`SignedZone`]; nothing is
//! signed again unless the test asks for it. [`AuthServer`] serves the hierarchy: DS questions
//! from the parent side of the cut, CNAME chains followed, wildcard answers synthesized with the
//! wildcard's RRSIGs, NODATA and NXDOMAIN with the NSEC/NSEC3 records that prove them, TC=1 over
//! UDP past 1232 bytes, and scripted misbehaviour ([`Behaviour`]).
//!
//! Signatures are made here over hickory-proto's `TBS` (the RFC 4034 §3.1.8.1 signed data), with
//! ring for RSA and Ed25519 and RustCrypto p256/p384 for ECDSA (RFC 6979 nonces), so a signed zone
//! is the same bytes on every run. ECDSA and Ed25519 keys are derived from a SHA-512 of a label
//! naming the algorithm, the zone and the key's index; RSA keys come from the committed pool in
//! `tests/fixtures/dnssec/` (ring cannot make RSA keys). `DNSKEY::from_key` and `DS::from_key` are
//! not used: both assume flags 257.
//!
//! This module reads only those fixture files and talks only to 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use data_encoding::BASE32_DNSSEC;
use hickory_proto::dnssec::rdata::{
    DNSKEY, DNSSECRData, DS, NSEC, NSEC3, NSEC3PARAM, RRSIG, SigInput,
};
use hickory_proto::dnssec::{
    Algorithm, DigestType, Nsec3HashAlgorithm, PublicKey as _, PublicKeyBuf, TBS,
};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NULL, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use hickory_proto::serialize::txt::Parser;

/// Default RRSIG inception: 2025-01-01T00:00:00Z.
pub const INCEPTION: u32 = 1_735_689_600;
/// Default RRSIG expiration: 2090-01-01T00:00:00Z, less than 2^31 s after [`INCEPTION`] so that
/// RFC 1982 serial arithmetic still orders the two (RFC 4034 §3.1.5).
pub const EXPIRATION: u32 = 3_786_912_000;
/// One day in seconds, for windows relative to [`now`].
pub const DAY: u32 = 86_400;
/// The largest UDP answer sent before TC=1 (the DNS flag day 2020 value).
pub const UDP_LIMIT: usize = 1232;

/// DNSKEY flag bits (RFC 4034 §2.1.1, RFC 5011 §3).
pub const FLAG_ZONE: u16 = 0x0100;
pub const FLAG_REVOKE: u16 = 0x0080;
pub const FLAG_SEP: u16 = 0x0001;

/// TTL of the records this module adds (SOA, NS, glue, DS, DNSKEY).
const TTL: u32 = 3600;
/// How many keys the RSA pool has besides the colliding pair.
const RSA_POOL: usize = 12;

/// The current time in seconds since the epoch, for RRSIG windows relative to now (delv uses the
/// real clock).
pub fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// A fully qualified name from text; a missing final dot is added (`"www.example.test"` is
/// absolute).
pub fn name(text: &str) -> Name {
    if text == "." || text.is_empty() {
        return Name::root();
    }
    let mut n = Name::from_ascii(text).unwrap_or_else(|e| panic!("bad domain name {text:?}: {e}"));
    n.set_fqdn(true);
    n
}

fn label_count(n: &Name) -> usize {
    n.iter().count()
}

/// A DNSSEC signing algorithm (RFC 8624 numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlg {
    /// 8, RSASHA256.
    RsaSha256,
    /// 10, RSASHA512.
    RsaSha512,
    /// 13, ECDSAP256SHA256.
    EcdsaP256,
    /// 14, ECDSAP384SHA384.
    EcdsaP384,
    /// 15, ED25519.
    Ed25519,
    /// Any other algorithm number, e.g. 16 (ED448) or 253 (PRIVATEDNS), which this module cannot
    /// sign with: the DNSKEY holds fixed bytes and every RRSIG holds junk of a plausible length.
    /// A zone whose DS RRset has only such algorithms is insecure to a validator that does not
    /// know them (RFC 4035 §5.2, RFC 6840 §5.2).
    Unsupported(u8),
}

impl KeyAlg {
    /// The five algorithms this module signs with.
    pub const ALL: [KeyAlg; 5] = [
        KeyAlg::RsaSha256,
        KeyAlg::RsaSha512,
        KeyAlg::EcdsaP256,
        KeyAlg::EcdsaP384,
        KeyAlg::Ed25519,
    ];

    pub fn number(self) -> u8 {
        match self {
            KeyAlg::RsaSha256 => 8,
            KeyAlg::RsaSha512 => 10,
            KeyAlg::EcdsaP256 => 13,
            KeyAlg::EcdsaP384 => 14,
            KeyAlg::Ed25519 => 15,
            KeyAlg::Unsupported(n) => n,
        }
    }

    pub fn algorithm(self) -> Algorithm {
        Algorithm::from_u8(self.number())
    }

    fn is_rsa(self) -> bool {
        matches!(self, KeyAlg::RsaSha256 | KeyAlg::RsaSha512)
    }
}

/// One key of a zone: its algorithm, DNSKEY flags and what it signs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub alg: KeyAlg,
    /// 256 (zone key) or 257 (zone key + SEP), plus [`FLAG_REVOKE`] when asked.
    pub flags: u16,
    /// Signs the DNSKEY RRset, and gets a DS in the parent.
    pub signs_keys: bool,
    /// Signs every other authoritative RRset.
    pub signs_zone: bool,
    /// In the DNSKEY RRset.
    pub published: bool,
    /// Key material from this seed instead of from (zone, index): the same seed gives the same
    /// key in every zone. For RSA it is the index into the committed pool (0–11; 12 and 13 are the
    /// pair whose key tags collide).
    pub seed: Option<u64>,
}

impl KeySpec {
    /// A key-signing key: flags 257, signs the DNSKEY RRset only.
    pub fn ksk(alg: KeyAlg) -> KeySpec {
        KeySpec {
            alg,
            flags: FLAG_ZONE | FLAG_SEP,
            signs_keys: true,
            signs_zone: false,
            published: true,
            seed: None,
        }
    }

    /// A zone-signing key: flags 256, signs everything but the DNSKEY RRset.
    pub fn zsk(alg: KeyAlg) -> KeySpec {
        KeySpec {
            flags: FLAG_ZONE,
            signs_keys: false,
            signs_zone: true,
            ..KeySpec::ksk(alg)
        }
    }

    /// A combined signing key: flags 257, signs everything.
    pub fn csk(alg: KeyAlg) -> KeySpec {
        KeySpec {
            signs_zone: true,
            ..KeySpec::ksk(alg)
        }
    }

    /// The same key with the REVOKE bit set (RFC 5011 §3): the DNSKEY, its key tag, the RRSIGs
    /// and the parent's DS are all made with the revoked flags.
    pub fn revoked(mut self) -> KeySpec {
        self.flags |= FLAG_REVOKE;
        self
    }

    /// Signs as before but is left out of the DNSKEY RRset.
    pub fn unpublished(mut self) -> KeySpec {
        self.published = false;
        self
    }

    /// Published but signs nothing (a standby key).
    pub fn passive(mut self) -> KeySpec {
        self.signs_keys = false;
        self.signs_zone = false;
        self
    }

    pub fn seeded(mut self, seed: u64) -> KeySpec {
        self.seed = Some(seed);
        self
    }

    /// Two published keys of `alg` with flags 257 and the same key tag: a CSK that signs
    /// everything (and gets the DS), then a passive key that signs nothing. A validator must try
    /// every DNSKEY whose tag matches (RFC 4035 §5.3.1). The passive key's DNSKEY sorts first in
    /// canonical RDATA order (RFC 4034 §6.3), where a validator that tries only the first match
    /// looks. delv 9.18.49 (Debian 12) stops there, after one failed verification (its KeyTrap
    /// limits, CVE-2023-50387), and fails with "RRSIG failed to verify".
    /// [`KeySpec::colliding_pair_signer_first`] gives the other order.
    ///
    /// How: a key tag is a 16-bit checksum, so among a few hundred keys two share a tag (the
    /// birthday bound). For ECDSA and Ed25519 this searches seeded keys 0, 1, 2, … until two
    /// collide (a few hundred derivations; the results are kept in a table); for RSA it returns
    /// pool keys 12 and 13, which `tests/fixtures/dnssec/make.sh` found the same way among freshly
    /// generated keys.
    /// Two keys whose tags collide with one flags value and algorithm number collide with any
    /// other pair of values shared by both, since both checksums change by the same amount.
    pub fn colliding_pair(alg: KeyAlg) -> [KeySpec; 2] {
        let (first, second) = colliding_seeds(alg);
        [
            KeySpec::csk(alg).seeded(second),
            KeySpec::csk(alg).passive().seeded(first),
        ]
    }

    /// As [`KeySpec::colliding_pair`], but the signing key's DNSKEY sorts first.
    pub fn colliding_pair_signer_first(alg: KeyAlg) -> [KeySpec; 2] {
        let (first, second) = colliding_seeds(alg);
        [
            KeySpec::csk(alg).seeded(first),
            KeySpec::csk(alg).passive().seeded(second),
        ]
    }
}

/// Two seeds whose keys of `alg` with flags 257 share a key tag, the one whose DNSKEY sorts first
/// in canonical order (RFC 4034 §6.3) first. The pairs are [`find_colliding_seeds`]'s results,
/// kept here because the search takes seconds with ECDSA in a debug build; the ignored selftest
/// `colliding_seeds_are_found_again` searches again.
fn colliding_seeds(alg: KeyAlg) -> (u64, u64) {
    match alg {
        KeyAlg::RsaSha256 | KeyAlg::RsaSha512 => (RSA_POOL as u64, RSA_POOL as u64 + 1),
        KeyAlg::EcdsaP256 => (361, 190),
        KeyAlg::EcdsaP384 => (246, 613),
        KeyAlg::Ed25519 => (363, 409),
        KeyAlg::Unsupported(_) => find_colliding_seeds(alg),
    }
}

/// Searches seeds 0, 1, 2, … until the keys of two (flags 257) share a key tag; returns them with
/// the one whose public key, and so DNSKEY RDATA, sorts first first. RSA keys come from the pool,
/// where entries 12 and 13 are the colliding pair.
pub fn find_colliding_seeds(alg: KeyAlg) -> (u64, u64) {
    let public = |seed: u64| {
        let rsa_index = usize::try_from(seed).unwrap();
        Material::derive(alg, &format!("seed/{seed}"), rsa_index).public_key()
    };
    let (a, b) = if alg.is_rsa() {
        (RSA_POOL as u64, RSA_POOL as u64 + 1)
    } else {
        let mut seen: HashMap<u16, u64> = HashMap::new();
        let mut pair = None;
        for seed in 0u64.. {
            let tag = dnskey_of(FLAG_ZONE | FLAG_SEP, alg, &public(seed))
                .calculate_key_tag()
                .unwrap();
            if let Some(&first) = seen.get(&tag) {
                pair = Some((first, seed));
                break;
            }
            seen.insert(tag, seed);
        }
        pair.unwrap()
    };
    if public(a) < public(b) {
        (a, b)
    } else {
        (b, a)
    }
}

/// How a signed zone denies existence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    Nsec,
    /// NSEC3 with SHA-1 (RFC 5155). With `opt_out`, unsigned delegations get no NSEC3 of their
    /// own and every NSEC3 has the Opt-Out flag.
    Nsec3 {
        iterations: u16,
        salt: Vec<u8>,
        opt_out: bool,
    },
}

/// One zone to build.
#[derive(Clone, Debug)]
pub struct ZoneSpec {
    pub apex: Name,
    pub keys: Vec<KeySpec>,
    pub denial: Denial,
    /// Unsigned data. A SOA (`ns1.<apex> hostmaster.<apex> 1 7200 3600 1209600 300`), an apex NS
    /// `ns1.<apex>` with glue 127.0.0.1, the delegation of each child zone (NS + glue) and the DS
    /// of each signed child are added when missing.
    pub records: Vec<Record>,
    pub signed: bool,
    pub inception: u32,
    pub expiration: u32,
}

impl ZoneSpec {
    /// A signed zone with one ECDSA P-256 CSK, NSEC, and the default window.
    pub fn new(apex: &str) -> ZoneSpec {
        ZoneSpec {
            apex: name(apex),
            keys: vec![KeySpec::csk(KeyAlg::EcdsaP256)],
            denial: Denial::Nsec,
            records: Vec::new(),
            signed: true,
            inception: INCEPTION,
            expiration: EXPIRATION,
        }
    }

    /// A zone with no keys and no signatures.
    pub fn unsigned(apex: &str) -> ZoneSpec {
        ZoneSpec {
            keys: Vec::new(),
            signed: false,
            ..ZoneSpec::new(apex)
        }
    }

    /// One CSK of `alg`.
    pub fn alg(mut self, alg: KeyAlg) -> ZoneSpec {
        self.keys = vec![KeySpec::csk(alg)];
        self
    }

    /// A KSK (index 0) and a ZSK (index 1) of `alg`.
    pub fn split(mut self, alg: KeyAlg) -> ZoneSpec {
        self.keys = vec![KeySpec::ksk(alg), KeySpec::zsk(alg)];
        self
    }

    pub fn keys(mut self, keys: impl IntoIterator<Item = KeySpec>) -> ZoneSpec {
        self.keys = keys.into_iter().collect();
        self
    }

    pub fn nsec3(mut self, iterations: u16, salt: &[u8], opt_out: bool) -> ZoneSpec {
        self.denial = Denial::Nsec3 {
            iterations,
            salt: salt.to_vec(),
            opt_out,
        };
        self
    }

    pub fn window(mut self, inception: u32, expiration: u32) -> ZoneSpec {
        self.inception = inception;
        self.expiration = expiration;
        self
    }

    /// Adds records in zone-file syntax; relative names are relative to the apex and the default
    /// TTL is 3600: `.record("www 300 IN A 192.0.2.1")`. Several lines are fine.
    pub fn record(mut self, text: &str) -> ZoneSpec {
        self.records.extend(parse_records(&self.apex, text));
        self
    }
}

/// Parses zone-file text with `origin` as `$ORIGIN` and a default TTL of 3600.
pub fn parse_records(origin: &Name, text: &str) -> Vec<Record> {
    let input = format!("$TTL {TTL}\n{text}\n");
    let (_, sets) = Parser::new(input, None, Some(origin.clone()))
        .parse()
        .unwrap_or_else(|e| panic!("zone text for {origin}: {e}\n{text}"));
    sets.values()
        .flat_map(|set| set.records_without_rrsigs().cloned())
        .collect()
}

/// Private key material of one DNSKEY.
enum Material {
    Rsa(Box<ring::signature::RsaKeyPair>, KeyAlg),
    Ed25519(ring::signature::Ed25519KeyPair),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    /// An algorithm without a signer: fixed public key bytes, junk signatures.
    Opaque {
        public: Vec<u8>,
        alg: u8,
    },
}

fn sha512(label: &str) -> [u8; 64] {
    let digest = ring::digest::digest(&ring::digest::SHA512, label.as_bytes());
    let mut out = [0u8; 64];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The wire form of `danekit.test.`, which starts PRIVATEDNS keys and signatures (RFC 4034
/// appendix A.1.1).
const PRIVATEDNS_NAME: &[u8] = b"\x07danekit\x04test\x00";

fn rsa_pool_file(index: usize) -> PathBuf {
    let file = match index {
        i if i < RSA_POOL => format!("rsa-2048-{i:02}.p8.der"),
        i if i == RSA_POOL => "rsa-2048-collide-a.p8.der".to_string(),
        i if i == RSA_POOL + 1 => "rsa-2048-collide-b.p8.der".to_string(),
        i => panic!("RSA pool index {i} is past the pool (0..{})", RSA_POOL + 2),
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dnssec")
        .join(file)
}

impl Material {
    /// Key material for `alg` from `label`; RSA keys come from pool entry `rsa_index`.
    fn derive(alg: KeyAlg, label: &str, rsa_index: usize) -> Material {
        let label = format!("danekit dns_auth key/{}/{label}", alg.number());
        match alg {
            KeyAlg::RsaSha256 | KeyAlg::RsaSha512 => {
                let path = rsa_pool_file(rsa_index);
                let der = std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                let pair = ring::signature::RsaKeyPair::from_pkcs8(&der)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                Material::Rsa(Box::new(pair), alg)
            }
            KeyAlg::Ed25519 => {
                let seed = sha512(&label);
                Material::Ed25519(
                    ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed[..32]).unwrap(),
                )
            }
            // A scalar of 0 or ≥ the group order is refused; the next counter value is tried.
            KeyAlg::EcdsaP256 => (0u32..)
                .find_map(|n| {
                    p256::ecdsa::SigningKey::from_slice(&sha512(&format!("{label}/{n}"))[..32]).ok()
                })
                .map(Material::P256)
                .unwrap(),
            KeyAlg::EcdsaP384 => (0u32..)
                .find_map(|n| {
                    p384::ecdsa::SigningKey::from_slice(&sha512(&format!("{label}/{n}"))[..48]).ok()
                })
                .map(Material::P384)
                .unwrap(),
            KeyAlg::Unsupported(n) => {
                let mut public = Vec::new();
                if n == 253 {
                    public.extend_from_slice(PRIVATEDNS_NAME);
                }
                // 57 bytes: the size of an Ed448 public key.
                public.extend_from_slice(&sha512(&label)[..57]);
                Material::Opaque { public, alg: n }
            }
        }
    }

    /// The DNSKEY public key field (RFC 3110 §2, RFC 6605 §4, RFC 8080 §3).
    fn public_key(&self) -> Vec<u8> {
        match self {
            Material::Rsa(pair, _) => {
                use ring::signature::KeyPair as _;
                let parts = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                let mut out = Vec::new();
                let e_len = parts.e.len();
                if let Ok(short) = u8::try_from(e_len) {
                    out.push(short);
                } else {
                    out.push(0);
                    out.extend_from_slice(&u16::try_from(e_len).unwrap().to_be_bytes());
                }
                out.extend_from_slice(&parts.e);
                out.extend_from_slice(&parts.n);
                out
            }
            Material::Ed25519(pair) => {
                use ring::signature::KeyPair as _;
                pair.public_key().as_ref().to_vec()
            }
            // The uncompressed SEC1 point without its 0x04 prefix: x | y.
            Material::P256(key) => {
                key.verifying_key().to_encoded_point(false).as_bytes()[1..].to_vec()
            }
            Material::P384(key) => {
                key.verifying_key().to_encoded_point(false).as_bytes()[1..].to_vec()
            }
            Material::Opaque { public, .. } => public.clone(),
        }
    }

    fn sign(&self, data: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer as _;
        match self {
            Material::Rsa(pair, alg) => {
                let encoding = if *alg == KeyAlg::RsaSha512 {
                    &ring::signature::RSA_PKCS1_SHA512
                } else {
                    &ring::signature::RSA_PKCS1_SHA256
                };
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(encoding, &ring::rand::SystemRandom::new(), data, &mut sig)
                    .unwrap();
                sig
            }
            Material::Ed25519(pair) => pair.sign(data).as_ref().to_vec(),
            Material::P256(key) => {
                let sig: p256::ecdsa::Signature = key.sign(data);
                sig.to_bytes().to_vec()
            }
            Material::P384(key) => {
                let sig: p384::ecdsa::Signature = key.sign(data);
                sig.to_bytes().to_vec()
            }
            Material::Opaque { alg, .. } => {
                let mut sig = Vec::new();
                if *alg == 253 {
                    sig.extend_from_slice(PRIVATEDNS_NAME);
                }
                // 114 bytes: the size of an Ed448 signature.
                let digest = ring::digest::digest(&ring::digest::SHA512, data);
                sig.extend_from_slice(digest.as_ref());
                sig.extend_from_slice(&digest.as_ref()[..50]);
                sig
            }
        }
    }
}

fn dnskey_of(flags: u16, alg: KeyAlg, public: &[u8]) -> DNSKEY {
    DNSKEY::with_flags(flags, PublicKeyBuf::new(public.to_vec(), alg.algorithm()))
}

/// The SHA-256 DS of `key` at `owner` (RFC 4509), from the DNSKEY RDATA as published, so flags
/// other than 257 give the right tag and digest.
pub fn ds_of(owner: &Name, key: &DNSKEY) -> DS {
    let digest = key.to_digest(owner, DigestType::SHA256).unwrap();
    DS::new(
        key.calculate_key_tag().unwrap(),
        key.public_key().algorithm(),
        DigestType::SHA256,
        digest.as_ref().to_vec(),
    )
}

/// One key of a built zone.
pub struct ZoneKey {
    pub spec: KeySpec,
    pub dnskey: DNSKEY,
    pub tag: u16,
    material: Material,
}

/// A zone's RRsets and their RRSIGs, open for editing.
pub struct SignedZone {
    apex: Name,
    signed: bool,
    keys: Vec<ZoneKey>,
    denial: Denial,
    inception: u32,
    expiration: u32,
    rrsets: BTreeMap<(Name, RecordType), Vec<Record>>,
    /// RRSIG records by the owner and type they cover.
    rrsigs: BTreeMap<(Name, RecordType), Vec<Record>>,
}

/// What one zone says about one question.
enum Outcome {
    Data {
        answers: Vec<Record>,
        authorities: Vec<Record>,
    },
    Cname {
        answers: Vec<Record>,
        authorities: Vec<Record>,
        target: Name,
    },
    NoData(Vec<Record>),
    NxDomain(Vec<Record>),
    /// The name is at or below a delegation to a zone the hierarchy does not have.
    Unreachable,
}

fn push_unique(out: &mut Vec<Record>, records: Vec<Record>) {
    for r in records {
        if !out.contains(&r) {
            out.push(r);
        }
    }
}

impl SignedZone {
    /// Builds the zone, unsigned; `rsa_used` holds the RSA pool entries that other zones of the
    /// hierarchy took, so that no two keys of a hierarchy share RSA material.
    fn build(spec: ZoneSpec, rsa_used: &mut BTreeSet<usize>) -> SignedZone {
        let apex = spec.apex.clone();
        let mut zone = SignedZone {
            apex: apex.clone(),
            signed: spec.signed,
            keys: Vec::new(),
            denial: spec.denial.clone(),
            inception: spec.inception,
            expiration: spec.expiration,
            rrsets: BTreeMap::new(),
            rrsigs: BTreeMap::new(),
        };
        for r in spec.records {
            zone.insert_record(r);
        }
        if zone.rrset_at(&apex, RecordType::SOA).is_none() {
            zone.add_records("@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300");
        }
        if zone.rrset_at(&apex, RecordType::NS).is_none() {
            zone.add_records("@ IN NS ns1");
            if zone
                .rrset_at(&name_in(&apex, "ns1"), RecordType::A)
                .is_none()
            {
                zone.add_records("ns1 IN A 127.0.0.1");
            }
        }
        if spec.signed {
            for (index, key) in spec.keys.into_iter().enumerate() {
                let label = match key.seed {
                    Some(seed) => format!("seed/{seed}"),
                    None => format!("zone/{}/{index}", apex.to_lowercase()),
                };
                let rsa_index = match key.seed {
                    Some(seed) => usize::try_from(seed).unwrap(),
                    None if key.alg.is_rsa() => {
                        // The entry chosen by (zone, index), or the next free one.
                        assert!(
                            rsa_used.len() < RSA_POOL,
                            "{apex}: the hierarchy has more RSA keys than the pool's {RSA_POOL}"
                        );
                        let mut i = usize::from(sha512(&label)[0]) % RSA_POOL;
                        while rsa_used.contains(&i) {
                            i = (i + 1) % RSA_POOL;
                        }
                        i
                    }
                    None => 0,
                };
                if key.alg.is_rsa() && key.seed.is_none() {
                    rsa_used.insert(rsa_index);
                }
                let material = Material::derive(key.alg, &label, rsa_index);
                let dnskey = dnskey_of(key.flags, key.alg, &material.public_key());
                let tag = dnskey.calculate_key_tag().unwrap();
                zone.keys.push(ZoneKey {
                    spec: key,
                    dnskey,
                    tag,
                    material,
                });
            }
        }
        zone
    }

    pub fn apex(&self) -> &Name {
        &self.apex
    }

    pub fn is_signed(&self) -> bool {
        self.signed
    }

    pub fn keys(&self) -> &[ZoneKey] {
        &self.keys
    }

    /// The key tag of key `index`.
    pub fn key_tag(&self, index: usize) -> u16 {
        self.key(index).tag
    }

    /// The SHA-256 DS of key `index`.
    pub fn ds(&self, index: usize) -> DS {
        ds_of(&self.apex, &self.key(index).dnskey)
    }

    fn key(&self, index: usize) -> &ZoneKey {
        self.keys
            .get(index)
            .unwrap_or_else(|| panic!("{} has {} keys, no key {index}", self.apex, self.keys.len()))
    }

    fn insert_record(&mut self, record: Record) {
        self.rrsets
            .entry((record.name.clone(), record.record_type()))
            .or_default()
            .push(record);
    }

    /// Adds one record built in code (for types the zone-file parser cannot read, such as
    /// DNAME), unsigned: call [`SignedZone::sign_rrset`] to sign it.
    pub fn add_record(&mut self, record: Record) {
        self.insert_record(record);
    }

    /// Adds records in zone-file syntax (relative to the apex), unsigned: call
    /// [`SignedZone::sign_rrset`] to sign them.
    pub fn add_records(&mut self, text: &str) {
        for r in parse_records(&self.apex, text) {
            self.insert_record(r);
        }
    }

    fn rrset_at(&self, owner: &Name, rtype: RecordType) -> Option<&Vec<Record>> {
        self.rrsets
            .get(&(owner.clone(), rtype))
            .filter(|v| !v.is_empty())
    }

    pub fn rrset(&self, owner: &str, rtype: RecordType) -> Option<&Vec<Record>> {
        self.rrset_at(&name(owner), rtype)
    }

    /// The (owner, type) of every RRset, in canonical order.
    pub fn rrset_names(&self) -> Vec<(Name, RecordType)> {
        self.rrsets
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn rrset_mut(&mut self, owner: &str, rtype: RecordType) -> Option<&mut Vec<Record>> {
        self.rrsets.get_mut(&(name(owner), rtype))
    }

    /// The RRSIG records over the RRset (`owner`, `covered`); an empty list is created when there
    /// is none, so RRSIGs can be added to any RRset.
    pub fn rrsigs_mut(&mut self, owner: &str, covered: RecordType) -> &mut Vec<Record> {
        self.rrsigs.entry((name(owner), covered)).or_default()
    }

    pub fn rrsigs(&self, owner: &str, covered: RecordType) -> &[Record] {
        self.rrsigs
            .get(&(name(owner), covered))
            .map_or(&[], |v| v.as_slice())
    }

    /// Removes an RRset and its RRSIGs. The NSEC/NSEC3 chain is not changed.
    pub fn remove_rrset(&mut self, owner: &str, rtype: RecordType) {
        let key = (name(owner), rtype);
        self.rrsets.remove(&key);
        self.rrsigs.remove(&key);
    }

    /// Removes the RRSIGs over an RRset, leaving it unsigned.
    pub fn remove_rrsigs(&mut self, owner: &str, covered: RecordType) {
        self.rrsigs.remove(&(name(owner), covered));
    }

    /// Signs one RRset again with key `key_index` alone and the window given, replacing its
    /// RRSIGs: the wrong key, an expired or not-yet-valid window.
    pub fn resign(
        &mut self,
        owner: &str,
        rtype: RecordType,
        key_index: usize,
        inception: u32,
        expiration: u32,
    ) {
        let owner = name(owner);
        let sig = self.make_rrsig(&owner, rtype, key_index, inception, expiration, |_| {});
        self.rrsigs.insert((owner, rtype), vec![sig]);
    }

    /// Signs one RRset again with key `key_index` alone and the zone's window, replacing its
    /// RRSIGs: e.g. the DNSKEY RRset signed by the ZSK only.
    pub fn resign_by(&mut self, owner: &str, rtype: RecordType, key_index: usize) {
        self.resign_with(owner, rtype, key_index, |_| {});
    }

    /// Like [`SignedZone::resign`] with the zone's window, after `edit` changed the RRSIG fields
    /// that are signed (signer name, labels, original TTL, key tag, algorithm, times): the
    /// signature is made over the edited fields, so only the edit is wrong.
    pub fn resign_with(
        &mut self,
        owner: &str,
        rtype: RecordType,
        key_index: usize,
        edit: impl FnOnce(&mut SigInput),
    ) {
        let owner = name(owner);
        let sig = self.make_rrsig(
            &owner,
            rtype,
            key_index,
            self.inception,
            self.expiration,
            edit,
        );
        self.rrsigs.insert((owner, rtype), vec![sig]);
    }

    /// Adds one more RRSIG by key `key_index` over the RRset, keeping the others.
    pub fn add_rrsig(
        &mut self,
        owner: &str,
        rtype: RecordType,
        key_index: usize,
        inception: u32,
        expiration: u32,
    ) {
        let owner = name(owner);
        let sig = self.make_rrsig(&owner, rtype, key_index, inception, expiration, |_| {});
        self.rrsigs.entry((owner, rtype)).or_default().push(sig);
    }

    /// Signs one RRset again as the zone signer would (its keys by role, the zone's window),
    /// after its data were edited.
    pub fn sign_rrset(&mut self, owner: &str, rtype: RecordType) {
        self.sign_default(&name(owner), rtype, self.inception, self.expiration);
    }

    /// Signs one RRset again with the keys the zone signer would use and another window.
    pub fn set_window(&mut self, owner: &str, rtype: RecordType, inception: u32, expiration: u32) {
        self.sign_default(&name(owner), rtype, inception, expiration);
    }

    /// Changes the first record's data after signing, keeping the RRSIGs: a forged answer whose
    /// signature no longer verifies. A/AAAA get the next address, TXT gets "-forged" appended,
    /// TLSA and DS get their last byte of data flipped; any other type has the last byte of its
    /// RDATA flipped and is served as that type's raw RDATA.
    pub fn tamper(&mut self, owner: &str, rtype: RecordType) {
        let records = self
            .rrset_mut(owner, rtype)
            .unwrap_or_else(|| panic!("no {rtype} RRset at {owner}"));
        let first = &mut records[0];
        first.data = match &first.data {
            RData::A(A(ip)) => RData::A(A(Ipv4Addr::from(u32::from(*ip).wrapping_add(1)))),
            RData::AAAA(AAAA(ip)) => RData::AAAA(AAAA(std::net::Ipv6Addr::from(
                u128::from(*ip).wrapping_add(1),
            ))),
            RData::TXT(txt) => {
                let mut strings: Vec<Vec<u8>> = txt.txt_data.iter().map(|s| s.to_vec()).collect();
                strings[0].extend_from_slice(b"-forged");
                RData::TXT(TXT::from_bytes(strings.iter().map(Vec::as_slice).collect()))
            }
            RData::TLSA(tlsa) => {
                let mut tlsa = tlsa.clone();
                if let Some(last) = tlsa.cert_data.last_mut() {
                    *last ^= 0x01;
                }
                RData::TLSA(tlsa)
            }
            RData::DNSSEC(DNSSECRData::DS(ds)) => {
                let mut digest = ds.digest().to_vec();
                if let Some(last) = digest.last_mut() {
                    *last ^= 0x01;
                }
                RData::DNSSEC(DNSSECRData::DS(DS::new(
                    ds.key_tag(),
                    ds.algorithm(),
                    ds.digest_type(),
                    digest,
                )))
            }
            other => {
                let mut bytes = Vec::new();
                other.emit(&mut BinEncoder::new(&mut bytes)).unwrap();
                if let Some(last) = bytes.last_mut() {
                    *last ^= 0x01;
                }
                RData::Unknown {
                    code: rtype,
                    rdata: NULL::with(bytes),
                }
            }
        };
    }

    /// [`SignedZone::tamper`] and then [`SignedZone::sign_rrset`]: wrong data with a good
    /// signature, e.g. a DS that matches no DNSKEY of the child.
    pub fn tamper_signed(&mut self, owner: &str, rtype: RecordType) {
        self.tamper(owner, rtype);
        self.sign_rrset(owner, rtype);
    }

    /// Flips one bit in the signature of every RRSIG over the RRset.
    pub fn tamper_rrsigs(&mut self, owner: &str, covered: RecordType) {
        for sig in self.rrsigs_mut(owner, covered) {
            if let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &sig.data {
                let mut bytes = rrsig.sig().to_vec();
                bytes[0] ^= 0x01;
                sig.data = RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(
                    rrsig.input().clone(),
                    bytes,
                )));
            }
        }
    }

    /// The owner name of the NSEC3 record for `owner` (hash in base32hex, then the apex).
    pub fn nsec3_owner(&self, owner: &str) -> Name {
        self.nsec3_owner_of(&name(owner))
    }

    /// Removes the NSEC or NSEC3 records (and their RRSIGs) that a negative answer to
    /// (`qname`, `qtype`) would carry, so that answer can no longer prove anything.
    pub fn remove_denial(&mut self, qname: &str, qtype: RecordType) {
        let proof = match self.lookup(&name(qname), qtype) {
            Outcome::NoData(records) | Outcome::NxDomain(records) => records,
            Outcome::Data { authorities, .. } | Outcome::Cname { authorities, .. } => authorities,
            Outcome::Unreachable => Vec::new(),
        };
        for r in proof {
            if matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3) {
                let key = (r.name.clone(), r.record_type());
                self.rrsets.remove(&key);
                self.rrsigs.remove(&key);
            }
        }
    }

    /// The zone as zone-file text, for failure messages. RRSIGs are in hickory's presentation
    /// form (algorithm mnemonic, times in seconds), which BIND does not read.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (key, records) in &self.rrsets {
            for r in records {
                let _ = writeln!(out, "{r}");
            }
            for r in self.rrsigs.get(key).into_iter().flatten() {
                let _ = writeln!(out, "{r}");
            }
        }
        out
    }

    fn make_rrsig(
        &self,
        owner: &Name,
        rtype: RecordType,
        key_index: usize,
        inception: u32,
        expiration: u32,
        edit: impl FnOnce(&mut SigInput),
    ) -> Record {
        let records = self
            .rrset_at(owner, rtype)
            .unwrap_or_else(|| panic!("{}: no {rtype} RRset at {owner} to sign", self.apex));
        let key = self.key(key_index);
        let ttl = records[0].ttl;
        let mut input = SigInput {
            type_covered: rtype,
            algorithm: key.spec.alg.algorithm(),
            // RFC 4034 §3.1.3: a wildcard owner's "*" label is not counted.
            num_labels: owner.num_labels(),
            original_ttl: ttl,
            sig_expiration: SerialNumber::new(expiration),
            sig_inception: SerialNumber::new(inception),
            key_tag: key.tag,
            signer_name: self.apex.clone(),
        };
        edit(&mut input);
        let tbs = TBS::from_input(owner, DNSClass::IN, &input, records.iter()).unwrap();
        let sig = key.material.sign(tbs.as_ref());
        Record::from_rdata(
            owner.clone(),
            ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
        )
    }

    fn sign_default(&mut self, owner: &Name, rtype: RecordType, inception: u32, expiration: u32) {
        let signers: Vec<usize> = (0..self.keys.len())
            .filter(|&i| {
                let spec = &self.keys[i].spec;
                if rtype == RecordType::DNSKEY {
                    spec.signs_keys
                } else {
                    spec.signs_zone
                }
            })
            .collect();
        let sigs = signers
            .into_iter()
            .map(|i| self.make_rrsig(owner, rtype, i, inception, expiration, |_| {}))
            .collect();
        self.rrsigs.insert((owner.clone(), rtype), sigs);
    }

    /// Delegation points: names below the apex with an NS RRset.
    fn cuts(&self) -> BTreeSet<Name> {
        self.rrsets
            .iter()
            .filter(|((n, t), v)| *t == RecordType::NS && *n != self.apex && !v.is_empty())
            .map(|((n, _), _)| n.clone())
            .collect()
    }

    /// Whether the zone is authoritative for (`owner`, `rtype`): not glue or occluded data, and
    /// at a cut only the DS and NSEC RRsets (RFC 4035 §2.2).
    fn is_authoritative(&self, cuts: &BTreeSet<Name>, owner: &Name, rtype: RecordType) -> bool {
        match cuts.iter().find(|c| c.zone_of(owner)) {
            Some(cut) if cut == owner => matches!(rtype, RecordType::DS | RecordType::NSEC),
            Some(_) => false,
            None => true,
        }
    }

    /// The types that a denial record lists at `owner`, without NSEC/NSEC3/RRSIG: at a cut only
    /// NS and DS.
    fn types_at(&self, cuts: &BTreeSet<Name>, owner: &Name) -> Vec<RecordType> {
        self.at_and_below(owner)
            .take_while(|((n, _), _)| n == owner)
            .filter(|((_, t), v)| {
                !v.is_empty()
                    && !matches!(t, RecordType::NSEC | RecordType::NSEC3)
                    && (!cuts.contains(owner) || matches!(t, RecordType::NS | RecordType::DS))
            })
            .map(|((_, t), _)| *t)
            .collect()
    }

    /// Names with data that the denial chain lists: everything but NSEC3 owners and names below
    /// a cut.
    fn chain_names(&self, cuts: &BTreeSet<Name>) -> BTreeSet<Name> {
        self.rrsets
            .iter()
            .filter(|((n, t), v)| {
                !v.is_empty()
                    && !matches!(t, RecordType::NSEC | RecordType::NSEC3)
                    && !cuts.iter().any(|c| c != n && c.zone_of(n))
            })
            .map(|((n, _), _)| n.clone())
            .collect()
    }

    /// The negative TTL: the smaller of the SOA TTL and its MINIMUM (RFC 9077 §3).
    fn negative_ttl(&self) -> u32 {
        self.rrset_at(&self.apex, RecordType::SOA)
            .and_then(|v| v.first())
            .map_or(300, |r| match &r.data {
                RData::SOA(soa) => r.ttl.min(soa.minimum),
                _ => r.ttl,
            })
    }

    fn sign_zone(&mut self) {
        if !self.signed {
            return;
        }
        self.rrsets.retain(|(_, t), _| {
            !matches!(
                t,
                RecordType::DNSKEY | RecordType::NSEC | RecordType::NSEC3 | RecordType::NSEC3PARAM
            )
        });
        self.rrsigs.clear();
        let apex = self.apex.clone();
        for key in self.keys.iter().filter(|k| k.spec.published) {
            let record = Record::from_rdata(
                apex.clone(),
                TTL,
                RData::DNSSEC(DNSSECRData::DNSKEY(key.dnskey.clone())),
            );
            self.rrsets
                .entry((apex.clone(), RecordType::DNSKEY))
                .or_default()
                .push(record);
        }
        match self.denial.clone() {
            Denial::Nsec => self.build_nsec(),
            Denial::Nsec3 {
                iterations, salt, ..
            } => {
                let param = NSEC3PARAM::new(Nsec3HashAlgorithm::SHA1, false, iterations, salt);
                self.insert_record(Record::from_rdata(
                    apex.clone(),
                    0,
                    RData::DNSSEC(DNSSECRData::NSEC3PARAM(param)),
                ));
                self.build_nsec3();
            }
        }
        let cuts = self.cuts();
        let to_sign: Vec<(Name, RecordType)> = self
            .rrsets
            .keys()
            .filter(|(n, t)| self.is_authoritative(&cuts, n, *t))
            .cloned()
            .collect();
        for (owner, rtype) in to_sign {
            self.sign_default(&owner, rtype, self.inception, self.expiration);
        }
    }

    /// The NSEC chain in canonical order (RFC 4034 §4.1, §6.1), the last pointing at the apex.
    fn build_nsec(&mut self) {
        let cuts = self.cuts();
        let names: Vec<Name> = self.chain_names(&cuts).into_iter().collect();
        let ttl = self.negative_ttl();
        for (i, owner) in names.iter().enumerate() {
            let next = names[(i + 1) % names.len()].clone();
            let mut types = self.types_at(&cuts, owner);
            types.extend([RecordType::NSEC, RecordType::RRSIG]);
            self.insert_record(Record::from_rdata(
                owner.clone(),
                ttl,
                RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(next, types))),
            ));
        }
    }

    /// The NSEC3 chain (RFC 5155 §7.1): every name with data, every empty non-terminal, and, unless
    /// opt-out is on, every unsigned delegation; sorted by hash.
    fn build_nsec3(&mut self) {
        let Denial::Nsec3 { opt_out, .. } = self.denial else {
            return;
        };
        let cuts = self.cuts();
        let mut names = self.chain_names(&cuts);
        if opt_out {
            names.retain(|n| !cuts.contains(n) || self.rrset_at(n, RecordType::DS).is_some());
        }
        for n in names.clone() {
            let mut parent = n.base_name();
            while label_count(&parent) > label_count(&self.apex) {
                names.insert(parent.clone());
                parent = parent.base_name();
            }
        }
        let mut hashed: Vec<(Vec<u8>, Name)> = names
            .into_iter()
            .map(|n| (self.nsec3_hash(&n), n))
            .collect();
        hashed.sort();
        let ttl = self.negative_ttl();
        let (iterations, salt) = self.nsec3_params();
        for (i, (hash, owner)) in hashed.iter().enumerate() {
            let next = hashed[(i + 1) % hashed.len()].0.clone();
            let mut types = self.types_at(&cuts, owner);
            if types
                .iter()
                .any(|t| self.is_authoritative(&cuts, owner, *t))
            {
                types.push(RecordType::RRSIG);
            }
            let nsec3 = NSEC3::new(
                Nsec3HashAlgorithm::SHA1,
                opt_out,
                iterations,
                salt.clone(),
                next,
                types,
            );
            let hashed_owner = self.apex.prepend_label(BASE32_DNSSEC.encode(hash)).unwrap();
            self.insert_record(Record::from_rdata(
                hashed_owner,
                ttl,
                RData::DNSSEC(DNSSECRData::NSEC3(nsec3)),
            ));
        }
    }

    fn nsec3_params(&self) -> (u16, Vec<u8>) {
        match &self.denial {
            Denial::Nsec3 {
                iterations, salt, ..
            } => (*iterations, salt.clone()),
            Denial::Nsec => (0, Vec::new()),
        }
    }

    fn nsec3_hash(&self, owner: &Name) -> Vec<u8> {
        let (iterations, salt) = self.nsec3_params();
        Nsec3HashAlgorithm::SHA1
            .hash(&salt, owner, iterations)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    fn nsec3_owner_of(&self, owner: &Name) -> Name {
        self.apex
            .prepend_label(BASE32_DNSSEC.encode(&self.nsec3_hash(owner)))
            .unwrap()
    }

    // ------------------------------------------------------------------ answering

    fn with_sigs(&self, owner: &Name, rtype: RecordType) -> Vec<Record> {
        let mut out: Vec<Record> = self.rrset_at(owner, rtype).cloned().unwrap_or_default();
        out.extend(
            self.rrsigs
                .get(&(owner.clone(), rtype))
                .into_iter()
                .flatten()
                .cloned(),
        );
        out
    }

    /// The RRsets at `owner` and below it: in canonical order (RFC 4034 §6.1) a name's
    /// descendants follow it, so they are the entries from `owner` on, up to the first name
    /// outside it. Lookups stay logarithmic in the size of the zone.
    fn at_and_below<'a>(
        &'a self,
        owner: &'a Name,
    ) -> impl Iterator<Item = (&'a (Name, RecordType), &'a Vec<Record>)> + 'a {
        self.rrsets
            .range((owner.clone(), RecordType::from(0u16))..)
            .take_while(move |((n, _), _)| owner.zone_of(n))
    }

    /// Whether `owner` has any RRset (NSEC3 owners do not count).
    fn has_data(&self, owner: &Name) -> bool {
        self.at_and_below(owner)
            .take_while(|((n, _), _)| n == owner)
            .any(|((_, t), v)| *t != RecordType::NSEC3 && !v.is_empty())
    }

    /// Whether `owner` exists: it has data or is an empty non-terminal.
    fn exists(&self, owner: &Name) -> bool {
        self.at_and_below(owner)
            .any(|((_, t), v)| *t != RecordType::NSEC3 && !v.is_empty())
    }

    fn closest_encloser(&self, qname: &Name) -> Name {
        let mut ce = qname.base_name();
        while label_count(&ce) > label_count(&self.apex) && !self.exists(&ce) {
            ce = ce.base_name();
        }
        ce
    }

    fn soa(&self) -> Vec<Record> {
        self.with_sigs(&self.apex, RecordType::SOA)
    }

    /// The NSEC whose span covers `qname` (owner < qname < next, or the last NSEC).
    fn nsec_covering(&self, qname: &Name) -> Vec<Record> {
        for ((owner, t), records) in &self.rrsets {
            if *t != RecordType::NSEC {
                continue;
            }
            for r in records {
                let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &r.data else {
                    continue;
                };
                let next = nsec.next_domain_name();
                let covers = if owner < next {
                    owner < qname && qname < next
                } else {
                    owner < qname || qname < next
                };
                if covers {
                    return self.with_sigs(owner, RecordType::NSEC);
                }
            }
        }
        Vec::new()
    }

    fn nsec3_match(&self, qname: &Name) -> Vec<Record> {
        self.with_sigs(&self.nsec3_owner_of(qname), RecordType::NSEC3)
    }

    /// The NSEC3 whose hash span covers the hash of `qname`.
    fn nsec3_cover(&self, qname: &Name) -> Vec<Record> {
        let hash = self.nsec3_hash(qname);
        for ((owner, t), records) in &self.rrsets {
            if *t != RecordType::NSEC3 {
                continue;
            }
            let Some(label) = owner.iter().next() else {
                continue;
            };
            let Ok(owner_hash) = BASE32_DNSSEC.decode(&label.to_ascii_lowercase()) else {
                continue;
            };
            for r in records {
                let RData::DNSSEC(DNSSECRData::NSEC3(nsec3)) = &r.data else {
                    continue;
                };
                let next = nsec3.next_hashed_owner_name();
                let covers = if owner_hash.as_slice() < next {
                    owner_hash < hash && hash.as_slice() < next
                } else {
                    owner_hash < hash || hash.as_slice() < next
                };
                if covers {
                    return self.with_sigs(owner, RecordType::NSEC3);
                }
            }
        }
        Vec::new()
    }

    fn is_nsec3(&self) -> bool {
        matches!(self.denial, Denial::Nsec3 { .. })
    }

    /// The proof for NODATA at an existing name or empty non-terminal (RFC 4035 §3.1.3.1,
    /// RFC 5155 §7.2.3, §7.2.4).
    fn nodata_proof(&self, qname: &Name, qtype: RecordType) -> Vec<Record> {
        if !self.is_nsec3() {
            return if self.has_data(qname) {
                self.with_sigs(qname, RecordType::NSEC)
            } else {
                self.nsec_covering(qname)
            };
        }
        let matching = self.nsec3_match(qname);
        if !matching.is_empty() || qtype != RecordType::DS {
            return matching;
        }
        // DS at an opt-out delegation: the closest provable encloser and the opt-out NSEC3
        // covering the next closer name (RFC 5155 §7.2.4).
        let mut encloser = qname.base_name();
        loop {
            let matching = self.nsec3_match(&encloser);
            if !matching.is_empty() || label_count(&encloser) <= label_count(&self.apex) {
                let next_closer = qname.trim_to(label_count(&encloser) + 1);
                let mut out = matching;
                push_unique(&mut out, self.nsec3_cover(&next_closer));
                return out;
            }
            encloser = encloser.base_name();
        }
    }

    fn synthesize(&self, wildcard: &Name, rtype: RecordType, qname: &Name) -> Vec<Record> {
        self.with_sigs(wildcard, rtype)
            .into_iter()
            .map(|mut r| {
                r.name = qname.clone();
                r
            })
            .collect()
    }

    fn cname_target(&self, owner: &Name) -> Option<Name> {
        self.rrset_at(owner, RecordType::CNAME)
            .and_then(|v| v.first())
            .and_then(|r| match &r.data {
                RData::CNAME(target) => Some(target.0.clone()),
                _ => None,
            })
    }

    /// The delegation point at or above `qname` that [`SignedZone::cuts`] lists first (the
    /// highest), found by looking at the names between the apex and `qname` rather than at
    /// every RRset, so that a question costs the same in a zone of any size.
    fn cut_at_or_above(&self, qname: &Name) -> Option<Name> {
        if !self.apex.zone_of(qname) {
            return self.cuts().into_iter().find(|c| c.zone_of(qname));
        }
        (label_count(&self.apex) + 1..=label_count(qname))
            .map(|n| qname.trim_to(n))
            .find(|n| self.rrset_at(n, RecordType::NS).is_some())
    }

    /// What this zone answers to (`qname`, `qtype`), with every RRSIG and denial record; DO=0
    /// stripping happens later.
    fn lookup(&self, qname: &Name, qtype: RecordType) -> Outcome {
        if let Some(cut) = self.cut_at_or_above(qname)
            && !(cut == *qname && qtype == RecordType::DS)
        {
            return Outcome::Unreachable;
        }
        if qtype == RecordType::RRSIG {
            let sigs: Vec<Record> = self
                .rrsigs
                .iter()
                .filter(|((n, _), _)| n == qname)
                .flat_map(|(_, v)| v.iter().cloned())
                .collect();
            if !sigs.is_empty() {
                return Outcome::Data {
                    answers: sigs,
                    authorities: Vec::new(),
                };
            }
        }
        if self.rrset_at(qname, qtype).is_some() {
            return Outcome::Data {
                answers: self.with_sigs(qname, qtype),
                authorities: Vec::new(),
            };
        }
        if qtype != RecordType::CNAME
            && let Some(target) = self.cname_target(qname)
        {
            return Outcome::Cname {
                answers: self.with_sigs(qname, RecordType::CNAME),
                authorities: Vec::new(),
                target,
            };
        }
        if self.exists(qname) {
            let mut out = self.soa();
            push_unique(&mut out, self.nodata_proof(qname, qtype));
            return Outcome::NoData(out);
        }
        let encloser = self.closest_encloser(qname);
        let wildcard = encloser.prepend_label("*").unwrap();
        let next_closer = qname.trim_to(label_count(&encloser) + 1);
        if self.has_data(&wildcard) {
            // RFC 4035 §3.1.3.3, RFC 5155 §7.2.6: prove that no closer name exists.
            let no_closer = if self.is_nsec3() {
                self.nsec3_cover(&next_closer)
            } else {
                self.nsec_covering(qname)
            };
            if self.rrset_at(&wildcard, qtype).is_some() {
                return Outcome::Data {
                    answers: self.synthesize(&wildcard, qtype, qname),
                    authorities: no_closer,
                };
            }
            if qtype != RecordType::CNAME
                && let Some(target) = self.cname_target(&wildcard)
            {
                return Outcome::Cname {
                    answers: self.synthesize(&wildcard, RecordType::CNAME, qname),
                    authorities: no_closer,
                    target,
                };
            }
            // Wildcard NODATA (RFC 4035 §3.1.3.4, RFC 5155 §7.2.5).
            let mut out = self.soa();
            if self.is_nsec3() {
                push_unique(&mut out, self.nsec3_match(&encloser));
                push_unique(&mut out, no_closer);
                push_unique(&mut out, self.nsec3_match(&wildcard));
            } else {
                push_unique(&mut out, no_closer);
                push_unique(&mut out, self.with_sigs(&wildcard, RecordType::NSEC));
            }
            return Outcome::NoData(out);
        }
        // NXDOMAIN (RFC 4035 §3.1.3.2, RFC 5155 §7.2.2).
        let mut out = self.soa();
        if self.is_nsec3() {
            push_unique(&mut out, self.nsec3_match(&encloser));
            push_unique(&mut out, self.nsec3_cover(&next_closer));
            push_unique(&mut out, self.nsec3_cover(&wildcard));
        } else {
            push_unique(&mut out, self.nsec_covering(qname));
            push_unique(&mut out, self.nsec_covering(&wildcard));
        }
        Outcome::NxDomain(out)
    }
}

fn name_in(apex: &Name, label: &str) -> Name {
    apex.prepend_label(label).unwrap()
}

/// A resolver's answer: RCODE and the answer and authority sections.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
}

/// Signed zones linked by name.
pub struct Hierarchy {
    zones: BTreeMap<Name, SignedZone>,
}

impl Hierarchy {
    /// Builds and signs the zones (see the module documentation).
    pub fn new(mut specs: Vec<ZoneSpec>) -> Hierarchy {
        // In canonical order of the apexes, so that the RSA pool entries do not depend on the
        // order of `specs`.
        specs.sort_by(|a, b| a.apex.cmp(&b.apex));
        let mut zones: BTreeMap<Name, SignedZone> = BTreeMap::new();
        let mut rsa_used = BTreeSet::new();
        for spec in specs {
            let apex = spec.apex.clone();
            let zone = SignedZone::build(spec, &mut rsa_used);
            assert!(
                zones.insert(apex.clone(), zone).is_none(),
                "zone {apex} given twice"
            );
        }
        let mut hierarchy = Hierarchy { zones };
        let apexes: Vec<Name> = hierarchy.zones.keys().cloned().collect();
        for child in &apexes {
            let Some(parent) = hierarchy.parent_of(child) else {
                continue;
            };
            let child_zone = &hierarchy.zones[child];
            let ds: Vec<Record> = if child_zone.signed {
                child_zone
                    .keys
                    .iter()
                    .filter(|k| k.spec.signs_keys)
                    .map(|k| {
                        Record::from_rdata(
                            child.clone(),
                            TTL,
                            RData::DNSSEC(DNSSECRData::DS(ds_of(child, &k.dnskey))),
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let ns = name_in(child, "ns1");
            let parent_zone = hierarchy.zones.get_mut(&parent).unwrap();
            if parent_zone.rrset_at(child, RecordType::NS).is_none() {
                parent_zone.add_records(&format!("{child} IN NS {ns}\n{ns} IN A 127.0.0.1"));
            }
            if parent_zone.rrset_at(child, RecordType::DS).is_none() {
                for r in ds {
                    parent_zone.insert_record(r);
                }
            }
        }
        for zone in hierarchy.zones.values_mut() {
            zone.sign_zone();
        }
        hierarchy
    }

    /// Like [`Hierarchy::new`], with a default signed zone (`ZoneSpec::new`) added for every
    /// ancestor of the given zones up to the root that is not among them.
    pub fn rooted(mut specs: Vec<ZoneSpec>) -> Hierarchy {
        let mut have: BTreeSet<Name> = specs.iter().map(|s| s.apex.clone()).collect();
        for apex in have.clone() {
            let mut n = apex;
            while !n.is_root() {
                n = n.base_name();
                if have.insert(n.clone()) {
                    specs.push(ZoneSpec::new(&n.to_ascii()));
                }
            }
        }
        Hierarchy::new(specs)
    }

    /// The deepest other zone whose apex is an ancestor of `apex`.
    fn parent_of(&self, apex: &Name) -> Option<Name> {
        self.zones
            .keys()
            .filter(|p| *p != apex && p.zone_of(apex))
            .max_by_key(|p| label_count(p))
            .cloned()
    }

    pub fn zone(&self, apex: &str) -> &SignedZone {
        self.zones
            .get(&name(apex))
            .unwrap_or_else(|| panic!("no zone {apex} in the hierarchy"))
    }

    pub fn zone_mut(&mut self, apex: &str) -> &mut SignedZone {
        self.zones
            .get_mut(&name(apex))
            .unwrap_or_else(|| panic!("no zone {apex} in the hierarchy"))
    }

    pub fn apexes(&self) -> Vec<Name> {
        self.zones.keys().cloned().collect()
    }

    /// The top zone: the one with the fewest labels (the root when there is one).
    pub fn top(&self) -> &SignedZone {
        self.zones
            .values()
            .min_by_key(|z| label_count(&z.apex))
            .expect("an empty hierarchy")
    }

    fn anchor_keys(&self) -> Vec<&ZoneKey> {
        let top = self.top();
        top.keys
            .iter()
            .filter(|k| k.spec.signs_keys && k.spec.published)
            .collect()
    }

    /// The DS of the top zone's key-signing keys in zone-file syntax:
    /// `. 3600 IN DS 12345 13 2 ABCD…`.
    pub fn trust_anchor_ds(&self) -> Vec<String> {
        let apex = &self.top().apex;
        self.anchor_keys()
            .into_iter()
            .map(|k| {
                Record::from_rdata(
                    apex.clone(),
                    TTL,
                    RData::DNSSEC(DNSSECRData::DS(ds_of(apex, &k.dnskey))),
                )
                .to_string()
            })
            .collect()
    }

    /// The same keys as DNSKEY lines: `. 3600 IN DNSKEY 257 3 13 base64…`.
    pub fn trust_anchor_dnskey(&self) -> Vec<String> {
        let apex = &self.top().apex;
        self.anchor_keys()
            .into_iter()
            .map(|k| {
                Record::from_rdata(
                    apex.clone(),
                    TTL,
                    RData::DNSSEC(DNSSECRData::DNSKEY(k.dnskey.clone())),
                )
                .to_string()
            })
            .collect()
    }

    /// A BIND `trust-anchors` clause with the top zone's DS (`static-ds`), as `delv -a` reads.
    pub fn trust_anchors_bind(&self) -> String {
        let apex = &self.top().apex;
        let mut out = String::from("trust-anchors {\n");
        for k in self.anchor_keys() {
            let ds = ds_of(apex, &k.dnskey);
            let _ = writeln!(
                out,
                "    {apex} static-ds {} {} {} \"{}\";",
                ds.key_tag(),
                u8::from(ds.algorithm()),
                u8::from(ds.digest_type()),
                data_encoding::HEXUPPER.encode(ds.digest())
            );
        }
        out.push_str("};\n");
        out
    }

    /// The zone that answers (`qname`, `qtype`): the deepest containing the name, except that a
    /// DS question for a zone apex goes to the parent (RFC 4035 §3.1.4.1).
    fn zone_for(&self, qname: &Name, qtype: RecordType) -> Option<&SignedZone> {
        let mut candidates: Vec<&SignedZone> = self
            .zones
            .values()
            .filter(|z| z.apex.zone_of(qname))
            .collect();
        candidates.sort_by_key(|z| label_count(&z.apex));
        let deepest = candidates.pop()?;
        if qtype == RecordType::DS
            && deepest.apex == *qname
            && let Some(parent) = candidates.pop()
        {
            return Some(parent);
        }
        Some(deepest)
    }

    /// What a recursive resolver asked with CD=1 and DO=1 answers: CNAMEs followed within the
    /// hierarchy (at most 8), every RRSIG and denial record included. A name outside the
    /// hierarchy is REFUSED; a name under a delegation to a zone the hierarchy lacks is SERVFAIL.
    pub fn answer(&self, qname: &Name, qtype: RecordType) -> Answer {
        let mut answer = Answer {
            rcode: ResponseCode::NoError,
            answers: Vec::new(),
            authorities: Vec::new(),
        };
        let mut current = qname.clone();
        for _ in 0..8 {
            let Some(zone) = self.zone_for(&current, qtype) else {
                if answer.answers.is_empty() {
                    answer.rcode = ResponseCode::Refused;
                }
                return answer;
            };
            match zone.lookup(&current, qtype) {
                Outcome::Data {
                    answers,
                    authorities,
                } => {
                    push_unique(&mut answer.answers, answers);
                    push_unique(&mut answer.authorities, authorities);
                    return answer;
                }
                Outcome::Cname {
                    answers,
                    authorities,
                    target,
                } => {
                    push_unique(&mut answer.answers, answers);
                    push_unique(&mut answer.authorities, authorities);
                    current = target;
                }
                Outcome::NoData(authorities) => {
                    push_unique(&mut answer.authorities, authorities);
                    return answer;
                }
                Outcome::NxDomain(authorities) => {
                    answer.rcode = ResponseCode::NXDomain;
                    push_unique(&mut answer.authorities, authorities);
                    return answer;
                }
                Outcome::Unreachable => {
                    return Answer {
                        rcode: ResponseCode::ServFail,
                        answers: Vec::new(),
                        authorities: Vec::new(),
                    };
                }
            }
        }
        answer
    }
}

// ---------------------------------------------------------------------- the server

/// How the server misbehaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Normal,
    /// SERVFAIL for questions at or below this name.
    ServFail(Name),
    /// No answer at all for questions at or below this name (a timeout), over UDP and TCP.
    Drop(Name),
    /// Every UDP answer is empty with TC=1; TCP answers in full.
    TruncateUdp,
    /// Each answer for questions at or below this name comes this late (a slow resolver).
    Delay(Name, Duration),
}

struct Shared {
    hierarchy: Hierarchy,
    behaviours: Vec<Behaviour>,
    queries: Mutex<Vec<(Name, RecordType, bool)>>,
    /// When each question was answered.
    answered: Mutex<Vec<(Name, RecordType, Instant)>>,
    stop: AtomicBool,
}

/// A DNS server on 127.0.0.1, UDP and TCP on one port, bound for its whole life; it stops and
/// joins its threads when dropped.
pub struct AuthServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl AuthServer {
    pub fn start(hierarchy: Hierarchy, behaviours: Vec<Behaviour>) -> AuthServer {
        // TCP on port 0, then UDP on the same port; another pair when that UDP port is taken.
        let (tcp, udp) = loop {
            let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let port = tcp.local_addr().unwrap().port();
            if let Ok(udp) = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)) {
                break (tcp, udp);
            }
        };
        let addr = udp.local_addr().unwrap();
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        tcp.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared {
            hierarchy,
            behaviours,
            queries: Mutex::new(Vec::new()),
            answered: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::new(Mutex::new(Vec::new()));
        let udp_thread = {
            let shared = shared.clone();
            thread::spawn(move || serve_udp(&udp, &shared))
        };
        let tcp_thread = {
            let (shared, connections) = (shared.clone(), connections.clone());
            thread::spawn(move || {
                while !shared.stop.load(Ordering::SeqCst) {
                    match tcp.accept() {
                        Ok((conn, _)) => {
                            let shared = shared.clone();
                            let handle = thread::spawn(move || serve_tcp(conn, &shared));
                            connections.lock().unwrap().push(handle);
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        AuthServer {
            addr,
            shared,
            threads: vec![udp_thread, tcp_thread],
            connections,
        }
    }

    /// Every question received so far: name, type, and whether it came over TCP.
    pub fn queries(&self) -> Vec<(Name, RecordType, bool)> {
        self.shared.queries.lock().unwrap().clone()
    }

    /// When each question was answered (after any delay), in order.
    pub fn answered(&self) -> Vec<(Name, RecordType, Instant)> {
        self.shared.answered.lock().unwrap().clone()
    }

    pub fn clear_queries(&self) {
        self.shared.queries.lock().unwrap().clear();
    }

    pub fn hierarchy(&self) -> &Hierarchy {
        &self.shared.hierarchy
    }
}

impl Drop for AuthServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let connections: Vec<JoinHandle<()>> = self.connections.lock().unwrap().drain(..).collect();
        for t in connections {
            let _ = t.join();
        }
    }
}

fn serve_udp(udp: &UdpSocket, shared: &Shared) {
    let mut buf = [0u8; 65535];
    while !shared.stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = udp.recv_from(&mut buf) else {
            continue;
        };
        if let Some(reply) = respond(shared, &buf[..n], false) {
            let _ = udp.send_to(&reply, from);
        }
    }
}

/// Reads exactly `buf.len()` bytes, waiting out read timeouts until the server stops or the
/// connection has been idle for 10 s. False on end of stream, error, stop or idleness.
fn read_full(conn: &mut TcpStream, buf: &mut [u8], shared: &Shared) -> bool {
    let mut filled = 0;
    let idle_limit = Instant::now() + Duration::from_secs(10);
    while filled < buf.len() {
        if shared.stop.load(Ordering::SeqCst) || Instant::now() > idle_limit {
            return false;
        }
        match conn.read(&mut buf[filled..]) {
            Ok(0) => return false,
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// One TCP connection: any number of length-prefixed messages (RFC 1035 §4.2.2, RFC 7766).
fn serve_tcp(mut conn: TcpStream, shared: &Shared) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
    loop {
        let mut len = [0u8; 2];
        if !read_full(&mut conn, &mut len, shared) {
            return;
        }
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !read_full(&mut conn, &mut body, shared) {
            return;
        }
        if let Some(reply) = respond(shared, &body, true) {
            let Ok(len) = u16::try_from(reply.len()) else {
                return;
            };
            let mut framed = len.to_be_bytes().to_vec();
            framed.extend(reply);
            if conn.write_all(&framed).is_err() {
                return;
            }
        }
    }
}

/// The wire answer to one query, or `None` when it is dropped (undecodable, or a `Drop`
/// behaviour applies).
fn respond(shared: &Shared, wire: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let query = Message::from_vec(wire).ok()?;
    let question = query.queries.first()?.clone();
    let qname = question.name().clone();
    let qtype = question.query_type();
    shared
        .queries
        .lock()
        .unwrap()
        .push((qname.clone(), qtype, tcp));
    let dnssec_ok = query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
    let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    reply.add_query(question);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.checking_disabled = query.metadata.checking_disabled;
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(UDP_LIMIT as u16);
        edns.set_dnssec_ok(dnssec_ok);
        reply.set_edns(edns);
    }
    let mut truncate = false;
    for b in &shared.behaviours {
        match b {
            Behaviour::Drop(n) if n.zone_of(&qname) => return None,
            Behaviour::ServFail(n) if n.zone_of(&qname) => {
                reply.metadata.response_code = ResponseCode::ServFail;
                return reply.to_vec().ok();
            }
            Behaviour::TruncateUdp if !tcp => truncate = true,
            Behaviour::Delay(n, d) if n.zone_of(&qname) => thread::sleep(*d),
            _ => {}
        }
    }
    shared
        .answered
        .lock()
        .unwrap()
        .push((qname.clone(), qtype, Instant::now()));
    let answer = shared.hierarchy.answer(&qname, qtype);
    let keep = |r: &Record| {
        dnssec_ok
            || r.record_type() == qtype
            || !matches!(
                r.record_type(),
                RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3
            )
    };
    reply.metadata.response_code = answer.rcode;
    let full = {
        let mut full = reply.clone();
        full.add_answers(answer.answers.into_iter().filter(|r| keep(r)));
        full.add_authorities(answer.authorities.into_iter().filter(|r| keep(r)));
        full
    };
    let bytes = full.to_vec().ok()?;
    let limit = match &query.edns {
        Some(edns) => usize::from(edns.max_payload()).clamp(512, UDP_LIMIT),
        None => 512,
    };
    if !tcp && (truncate || bytes.len() > limit) {
        reply.metadata.truncation = true;
        return reply.to_vec().ok();
    }
    Some(bytes)
}

// ---------------------------------------------------------------------- a small client

/// A query for (`qname`, `qtype`) with RD=1 and CD=1, and EDNS (payload 1232, DO as given).
pub fn make_query(qname: &Name, qtype: RecordType, dnssec_ok: bool) -> Message {
    let mut msg = Message::new(0x2b1d, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(qname.clone(), qtype));
    msg.metadata.recursion_desired = true;
    msg.metadata.checking_disabled = true;
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_LIMIT as u16);
    edns.set_dnssec_ok(dnssec_ok);
    msg.set_edns(edns);
    msg
}

/// Sends `query` to `server` over UDP or TCP and returns the decoded answer; times out after
/// `limit`.
pub fn exchange(
    server: SocketAddr,
    query: &Message,
    tcp: bool,
    limit: Duration,
) -> std::io::Result<Message> {
    let wire = query
        .to_vec()
        .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e))?;
    let reply = if tcp {
        let mut conn = TcpStream::connect_timeout(&server, limit)?;
        conn.set_read_timeout(Some(limit))?;
        let mut framed = u16::try_from(wire.len())
            .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e))?
            .to_be_bytes()
            .to_vec();
        framed.extend(&wire);
        conn.write_all(&framed)?;
        let mut len = [0u8; 2];
        conn.read_exact(&mut len)?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut body)?;
        body
    } else {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        udp.set_read_timeout(Some(limit))?;
        udp.connect(server)?;
        udp.send(&wire)?;
        let mut buf = vec![0u8; 65535];
        let n = udp.recv(&mut buf)?;
        buf.truncate(n);
        buf
    };
    Message::from_vec(&reply).map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))
}

/// One question with DO=1 and CD=1 over UDP, again over TCP when the answer has TC=1, as the
/// validator's resolver transport does.
pub fn ask(server: SocketAddr, qname: &str, qtype: RecordType) -> Message {
    let query = make_query(&name(qname), qtype, true);
    let limit = Duration::from_secs(5);
    let reply = exchange(server, &query, false, limit)
        .unwrap_or_else(|e| panic!("{qname} {qtype} over UDP to {server}: {e}"));
    if !reply.metadata.truncation {
        return reply;
    }
    exchange(server, &query, true, limit)
        .unwrap_or_else(|e| panic!("{qname} {qtype} over TCP to {server}: {e}"))
}
