//! Generates the committed test PKI used by danekit's tests.
//!
//! Run as `cargo run --example gen_pki -- tests/fixtures/pki`. The output is deterministic:
//! running it again over the committed files rewrites them byte for byte. Keys are read from
//! the directory when present and otherwise made from fixed seeds (EC and Ed25519) or, for
//! RSA keys, the RSA-1024 CSR and the encrypted keys that ring cannot make, once with the
//! `openssl` binary. Certificates and CSRs are made with rcgen; ECDSA signatures use RFC 6979
//! deterministic nonces (the RustCrypto `p256`/`p384` crates), and RSA PKCS#1 v1.5 and Ed25519
//! signatures are deterministic by design. Malformed inputs are written to the sibling
//! directory `bad/` (or to the second argument, when given). See
//! `tests/fixtures/pki/README.md` for the full inventory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertificateSigningRequest, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256, PKCS_RSA_SHA384,
    PKCS_RSA_SHA512, PublicKeyData, SignatureAlgorithm, SigningKey, SubjectPublicKeyInfo,
    date_time_ymd,
};

const ORGANIZATION: &str = "danekit test";
const SHARED_NAME: &str = "mail.example.test";
const PASSPHRASE: &str = "danekit";
const JUNK_SEED: u64 = 0x6461_6e65_6b69_7430;

const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_CONTEXT_0: u8 = 0xa0;
const TAG_CONTEXT_1: u8 = 0xa1;

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        bail!("usage: gen_pki OUT_DIR [BAD_DIR]   (e.g. tests/fixtures/pki)");
    };
    let bad = match args.next() {
        Some(dir) => PathBuf::from(dir),
        None => out
            .parent()
            .map_or_else(|| PathBuf::from("bad"), |parent| parent.join("bad")),
    };
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    fs::create_dir_all(&bad).with_context(|| format!("creating {}", bad.display()))?;

    let mut fx = Generator { out, written: 0 };
    fx.ensure_openssl_inputs()?;

    let root_key = fx.load_pkcs8("root-ca.key.pem", &PKCS_RSA_SHA256)?;
    let mut root_params = base_params("danekit Test Root CA", &[])?;
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root_cert = root_params.self_signed(&root_key)?;
    fx.write("root-ca.pem", root_cert.pem())?;
    let root = Issuer::new(root_params, root_key);

    let int_key = fx.ec_key("int-ca.key.pem", Curve::P256)?;
    let mut int_params = base_params("danekit Test Intermediate CA", &[])?;
    int_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    int_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    int_params.use_authority_key_identifier_extension = true;
    let int_cert = int_params.signed_by(&int_key, &root)?;
    fx.write("int-ca.pem", int_cert.pem())?;
    fx.write("int-ca.key.pem", int_key.pair.serialize_pem())?;
    let intermediate = Issuer::new(int_params, int_key);

    let chain_tail = int_cert.pem();
    let fullchain_tail = format!("{}{}", int_cert.pem(), root_cert.pem());

    for kind in ["rsa2048", "p256", "p384", "ed25519"] {
        let name = format!("leaf-{kind}.key.pem");
        let key = match kind {
            "rsa2048" => FixtureKey::plain(fx.load_pkcs8(&name, &PKCS_RSA_SHA256)?),
            "p256" => fx.ec_key(&name, Curve::P256)?,
            "p384" => fx.ec_key(&name, Curve::P384)?,
            _ => FixtureKey::plain(fx.ed25519_key(&name)?),
        };
        let host = format!("{kind}.{SHARED_NAME}");
        let leaf = issue_leaf(&host, &key, Validity::Current, &intermediate)?;
        let stem = format!("leaf-{kind}");

        fx.write(&format!("{stem}.pem"), leaf.cert.pem())?;
        fx.write(&format!("{stem}.der"), leaf.cert.der().as_ref())?;
        fx.write(
            &format!("{stem}.chain.pem"),
            format!("{}{chain_tail}", leaf.cert.pem()),
        )?;
        fx.write(
            &format!("{stem}.fullchain.pem"),
            format!("{}{fullchain_tail}", leaf.cert.pem()),
        )?;
        let pair = &key.pair;
        if kind != "rsa2048" {
            fx.write(&format!("{stem}.key.pem"), pair.serialize_pem())?;
        }
        fx.write(&format!("{stem}.key.der"), pair.serialized_der())?;
        if let Some((label, der)) = traditional_key(pair.serialized_der(), pair.der_bytes())? {
            fx.write(&format!("{stem}.key.trad.pem"), pem_encode(label, &der))?;
        }
        fx.write(&format!("{stem}.pub.pem"), pair.public_key_pem())?;
        fx.write(&format!("{stem}.pub.der"), pair.subject_public_key_info())?;
        fx.write(&format!("{stem}.csr.pem"), leaf.csr.pem()?)?;
        fx.write(&format!("{stem}.csr.der"), leaf.csr.der().as_ref())?;
    }

    let self_key = fx.ec_key("selfsigned.key.pem", Curve::P256)?;
    let host = format!("self.{SHARED_NAME}");
    let request = leaf_params(&host, &self_key, Validity::Current)?;
    let self_csr = request.serialize_request(&self_key)?;
    let self_cert = request.self_signed(&self_key)?;
    fx.write("selfsigned.pem", self_cert.pem())?;
    fx.write("selfsigned.key.pem", self_key.pair.serialize_pem())?;
    fx.write("selfsigned.csr.pem", self_csr.pem()?)?;

    let expired_key = fx.ec_key("expired.key.pem", Curve::P256)?;
    let host = format!("expired.{SHARED_NAME}");
    let expired = issue_leaf(&host, &expired_key, Validity::Expired, &intermediate)?;
    fx.write("expired.pem", expired.cert.pem())?;
    fx.write(
        "expired.chain.pem",
        format!("{}{chain_tail}", expired.cert.pem()),
    )?;
    fx.write("expired.key.pem", expired_key.pair.serialize_pem())?;
    fx.write("expired.csr.pem", expired.csr.pem()?)?;

    let weak_spki = fx.weak_public_key()?;
    let weak_key = SubjectPublicKeyInfo::from_der(&weak_spki)?;
    let mut weak_params =
        leaf_params(&format!("weak.{SHARED_NAME}"), &weak_key, Validity::Current)?;
    weak_params.use_authority_key_identifier_extension = true;
    let weak_cert = weak_params.signed_by(&weak_key, &intermediate)?;
    fx.write("weak-rsa1024.pem", weak_cert.pem())?;
    fx.write(
        "weak-rsa1024.chain.pem",
        format!("{}{chain_tail}", weak_cert.pem()),
    )?;

    let p256_der = fs::read(fx.out.join("leaf-p256.der"))?;
    let written = write_bad_inputs(&bad, &p256_der)?;

    println!(
        "wrote {} files to {} and {written} files to {}",
        fx.written,
        fx.out.display(),
        bad.display()
    );
    Ok(())
}

struct Generator {
    out: PathBuf,
    written: usize,
}

/// The curves of the fixture's EC keys.
#[derive(Clone, Copy)]
enum Curve {
    P256,
    P384,
}

/// A fixture key whose signatures are deterministic: ECDSA with RFC 6979 nonces, or a key
/// (RSA PKCS#1 v1.5, Ed25519) whose signatures are deterministic anyway.
struct FixtureKey {
    pair: KeyPair,
    ecdsa: Option<EcdsaSigner>,
}

enum EcdsaSigner {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl FixtureKey {
    fn plain(pair: KeyPair) -> Self {
        FixtureKey { pair, ecdsa: None }
    }
}

impl PublicKeyData for FixtureKey {
    fn der_bytes(&self) -> &[u8] {
        self.pair.der_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.pair.algorithm()
    }
}

impl SigningKey for FixtureKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        use p256::ecdsa::signature::Signer;
        let fixed = match &self.ecdsa {
            None => return self.pair.sign(msg),
            Some(EcdsaSigner::P256(k)) => {
                let sig: p256::ecdsa::Signature = k.sign(msg);
                sig.to_bytes().to_vec()
            }
            Some(EcdsaSigner::P384(k)) => {
                let sig: p384::ecdsa::Signature = k.sign(msg);
                sig.to_bytes().to_vec()
            }
        };
        // X9.62 Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }
        let (r, s) = fixed.split_at(fixed.len() / 2);
        let body = [der_unsigned(r), der_unsigned(s)].concat();
        Ok(encode_tlv(TAG_SEQUENCE, &body))
    }
}

/// A minimal DER INTEGER for an unsigned big-endian number.
fn der_unsigned(bytes: &[u8]) -> Vec<u8> {
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    let mut value = bytes[skip..].to_vec();
    if value.first().is_none_or(|&b| b >= 0x80) {
        value.insert(0, 0);
    }
    encode_tlv(TAG_INTEGER, &value)
}

/// 32 bytes from a fixed seed and a label: SHA-256 in counter mode, for keys that must come
/// out the same on every run.
fn seeded_bytes(label: &str, counter: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut block = 0u32;
    while out.len() < len {
        let input = format!("danekit fixture seed/{label}/{counter}/{block}");
        out.extend_from_slice(
            ring::digest::digest(&ring::digest::SHA256, input.as_bytes()).as_ref(),
        );
        block += 1;
    }
    out.truncate(len);
    out
}

impl Generator {
    /// The EC key in `name`, or, when the file is missing, one made from a fixed seed.
    fn ec_key(&self, name: &str, curve: Curve) -> Result<FixtureKey> {
        let alg = match curve {
            Curve::P256 => &PKCS_ECDSA_P256_SHA256,
            Curve::P384 => &PKCS_ECDSA_P384_SHA384,
        };
        let pair = if self.path(name).exists() {
            self.load_pkcs8(name, alg)?
        } else {
            let der = seeded_ec_pkcs8(name, curve)?;
            KeyPair::from_pkcs8_der_and_sign_algo(&der.as_slice().into(), alg)?
        };
        let secret = ec_secret(pair.serialized_der())?;
        let ecdsa = match curve {
            Curve::P256 => EcdsaSigner::P256(
                p256::ecdsa::SigningKey::from_slice(&secret)
                    .map_err(|_| anyhow::anyhow!("{name}: not a P-256 scalar"))?,
            ),
            Curve::P384 => EcdsaSigner::P384(
                p384::ecdsa::SigningKey::from_slice(&secret)
                    .map_err(|_| anyhow::anyhow!("{name}: not a P-384 scalar"))?,
            ),
        };
        Ok(FixtureKey {
            pair,
            ecdsa: Some(ecdsa),
        })
    }

    /// The Ed25519 key in `name`, or, when the file is missing, one made from a fixed seed,
    /// as a version 1 PKCS#8 `PrivateKeyInfo` without the public key (RFC 8410 §7), the form
    /// `openssl genpkey` writes; OpenSSL 3.0 refuses ring's version 2.
    fn ed25519_key(&self, name: &str) -> Result<KeyPair> {
        if self.path(name).exists() {
            return self.load_pkcs8(name, &PKCS_ED25519);
        }
        let seed = seeded_bytes(name, 0, 32);
        let body = [
            &encode_tlv(TAG_INTEGER, &[0])[..],
            &encode_tlv(TAG_SEQUENCE, &encode_tlv(TAG_OID, OID_ED25519)),
            &encode_tlv(TAG_OCTET_STRING, &encode_tlv(TAG_OCTET_STRING, &seed)),
        ]
        .concat();
        let der = encode_tlv(TAG_SEQUENCE, &body);
        Ok(KeyPair::from_pkcs8_der_and_sign_algo(
            &der.as_slice().into(),
            &PKCS_ED25519,
        )?)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }

    fn write(&mut self, name: &str, contents: impl AsRef<[u8]>) -> Result<()> {
        let path = self.path(name);
        fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        self.written += 1;
        Ok(())
    }

    fn load_pkcs8(&self, name: &str, alg: &'static SignatureAlgorithm) -> Result<KeyPair> {
        let path = self.path(name);
        let pem =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        KeyPair::from_pkcs8_pem_and_sign_algo(&pem, alg)
            .with_context(|| format!("loading {}", path.display()))
    }

    /// Creates the files that only openssl can make, each one only when it is missing.
    fn ensure_openssl_inputs(&self) -> Result<()> {
        for (name, bits) in [
            ("root-ca.key.pem", "2048"),
            ("leaf-rsa2048.key.pem", "2048"),
            ("weak-rsa1024.key.pem", "1024"),
        ] {
            let keygen_bits = format!("rsa_keygen_bits:{bits}");
            self.ensure_with_openssl(
                name,
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    &keygen_bits,
                    "-out",
                    name,
                ],
            )?;
        }

        let weak_host = format!("weak.{SHARED_NAME}");
        let subject = format!("/CN={weak_host}/O={ORGANIZATION}");
        let san = format!("subjectAltName=DNS:{weak_host},DNS:{SHARED_NAME}");
        self.ensure_with_openssl(
            "weak-rsa1024.csr.pem",
            &[
                "req",
                "-new",
                "-sha256",
                "-key",
                "weak-rsa1024.key.pem",
                "-subj",
                &subject,
                "-addext",
                "keyUsage=critical,digitalSignature,keyEncipherment",
                "-addext",
                &san,
                "-addext",
                "extendedKeyUsage=serverAuth",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-out",
                "weak-rsa1024.csr.pem",
            ],
        )?;

        let pass = format!("pass:{PASSPHRASE}");
        self.ensure_with_openssl(
            "encrypted.key.pem",
            &[
                "pkcs8",
                "-topk8",
                "-v2",
                "aes-256-cbc",
                "-in",
                "leaf-rsa2048.key.pem",
                "-passout",
                &pass,
                "-out",
                "encrypted.key.pem",
            ],
        )?;
        self.ensure_with_openssl(
            "encrypted.key.trad.pem",
            &[
                "rsa",
                "-aes256",
                "-traditional",
                "-in",
                "leaf-rsa2048.key.pem",
                "-passout",
                &pass,
                "-out",
                "encrypted.key.trad.pem",
            ],
        )
    }

    /// Runs `openssl ARGS` in the output directory unless `name` already exists there.
    fn ensure_with_openssl(&self, name: &str, args: &[&str]) -> Result<()> {
        if self.path(name).exists() {
            return Ok(());
        }
        let openssl = std::env::var_os("OPENSSL").unwrap_or_else(|| "openssl".into());
        let output = Command::new(&openssl)
            .args(args)
            .current_dir(&self.out)
            .output()
            .with_context(|| format!("running openssl to create {name}"))?;
        ensure!(
            output.status.success(),
            "openssl {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        println!("created {name} with: openssl {}", args.join(" "));
        Ok(())
    }

    /// The SPKI of the RSA-1024 key, taken from the private key and checked against the CSR.
    ///
    /// ring refuses RSA keys shorter than 2048 bits, so neither the key nor the CSR can be
    /// loaded by rcgen; the SPKI is rebuilt from the PKCS#1 modulus and exponent instead.
    fn weak_public_key(&self) -> Result<Vec<u8>> {
        let key_pem = fs::read(self.path("weak-rsa1024.key.pem"))?;
        let pkcs8 = pem_decode(&key_pem, "PRIVATE KEY")?;
        let spki = rsa_spki_from_pkcs8(&pkcs8)?;

        let csr_pem = fs::read(self.path("weak-rsa1024.csr.pem"))?;
        let csr_der = pem_decode(&csr_pem, "CERTIFICATE REQUEST")?;
        let csr_spki = csr_spki(&csr_der)?;
        ensure!(
            spki == csr_spki,
            "weak-rsa1024.csr.pem is not for weak-rsa1024.key.pem; delete the CSR to remake it"
        );
        Ok(spki)
    }
}

#[derive(Clone, Copy)]
enum Validity {
    Current,
    Expired,
}

struct Leaf {
    cert: Certificate,
    csr: CertificateSigningRequest,
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn
}

fn base_params(common_name: &str, dns_names: &[&str]) -> Result<CertificateParams> {
    let names: Vec<String> = dns_names.iter().map(|name| name.to_string()).collect();
    let mut params = CertificateParams::new(names)?;
    params.distinguished_name = distinguished_name(common_name);
    params.not_before = date_time_ymd(2025, 1, 1);
    params.not_after = date_time_ymd(2099, 12, 31);
    Ok(params)
}

/// End-entity parameters as they go into a CSR: no issuer-dependent extensions.
fn leaf_params(
    host: &str,
    key: &impl PublicKeyData,
    validity: Validity,
) -> Result<CertificateParams> {
    let mut params = base_params(host, &[host, SHARED_NAME])?;
    if let Validity::Expired = validity {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2021, 1, 1);
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if is_rsa(key) {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

fn is_rsa(key: &impl PublicKeyData) -> bool {
    let rsa = [&PKCS_RSA_SHA256, &PKCS_RSA_SHA384, &PKCS_RSA_SHA512];
    rsa.contains(&key.algorithm())
}

fn issue_leaf(
    host: &str,
    key: &FixtureKey,
    validity: Validity,
    issuer: &Issuer<'_, FixtureKey>,
) -> Result<Leaf> {
    let mut params = leaf_params(host, key, validity)?;
    let csr = params.serialize_request(key)?;
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(key, issuer)?;
    Ok(Leaf { cert, csr })
}

/// The traditional (pre-PKCS#8) form of a PKCS#8 key, as `openssl pkey -traditional` writes
/// it: PKCS#1 `RSAPrivateKey` for RSA (RFC 8017 A.1.2), SEC1 `ECPrivateKey` with the curve
/// as `[0] parameters` and the point as `[1] publicKey` for EC (RFC 5915 section 3). Ed25519
/// has no traditional form, so `None`.
fn traditional_key(pkcs8: &[u8], public_key: &[u8]) -> Result<Option<(&'static str, Vec<u8>)>> {
    let info = parse_pkcs8(pkcs8)?;
    if info.algorithm == OID_RSA_ENCRYPTION {
        return Ok(Some(("RSA PRIVATE KEY", info.private_key.to_vec())));
    }
    if info.algorithm == OID_ED25519 {
        return Ok(None);
    }
    ensure!(
        info.algorithm == OID_EC_PUBLIC_KEY,
        "unsupported PKCS#8 algorithm"
    );
    let Some(curve) = info.parameters.filter(|p| p.tag == TAG_OID) else {
        bail!("EC PKCS#8 key without a namedCurve OID");
    };

    let (ec, rest) = read_tlv(info.private_key)?;
    ensure!(
        ec.tag == TAG_SEQUENCE && rest.is_empty(),
        "bad ECPrivateKey"
    );
    let mut fields = ec.value;
    let (version, tail) = read_tlv(fields)?;
    let (secret, tail) = read_tlv(tail)?;
    ensure!(
        version.tag == TAG_INTEGER && secret.tag == TAG_OCTET_STRING,
        "bad ECPrivateKey"
    );
    fields = tail;
    let mut parameters = None;
    let mut point = None;
    while !fields.is_empty() {
        let (field, tail) = read_tlv(fields)?;
        match field.tag {
            TAG_CONTEXT_0 => parameters = Some(field.raw.to_vec()),
            TAG_CONTEXT_1 => point = Some(field.raw.to_vec()),
            _ => bail!("unexpected field in ECPrivateKey"),
        }
        fields = tail;
    }
    let parameters = parameters.unwrap_or_else(|| encode_tlv(TAG_CONTEXT_0, curve.raw));
    let point = point.unwrap_or_else(|| {
        let mut bits = vec![0];
        bits.extend_from_slice(public_key);
        encode_tlv(TAG_CONTEXT_1, &encode_tlv(TAG_BIT_STRING, &bits))
    });
    let body = [version.raw, secret.raw, &parameters, &point].concat();
    Ok(Some(("EC PRIVATE KEY", encode_tlv(TAG_SEQUENCE, &body))))
}

/// A PKCS#8 EC key in ring's layout (RFC 5915 `ECPrivateKey` with the public point and no
/// parameters, inside RFC 5958 `PrivateKeyInfo`), its scalar made from a fixed seed.
fn seeded_ec_pkcs8(label: &str, curve: Curve) -> Result<Vec<u8>> {
    for counter in 0..16 {
        let (scalar, point, curve_oid) = match curve {
            Curve::P256 => {
                let bytes = seeded_bytes(label, counter, 32);
                let Ok(key) = p256::SecretKey::from_slice(&bytes) else {
                    continue;
                };
                let point = key.public_key().to_encoded_point(false).as_bytes().to_vec();
                (
                    bytes,
                    point,
                    &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07][..],
                )
            }
            Curve::P384 => {
                let bytes = seeded_bytes(label, counter, 48);
                let Ok(key) = p384::SecretKey::from_slice(&bytes) else {
                    continue;
                };
                let point = key.public_key().to_encoded_point(false).as_bytes().to_vec();
                (bytes, point, &[0x2b, 0x81, 0x04, 0x00, 0x22][..])
            }
        };
        let mut bits = vec![0];
        bits.extend_from_slice(&point);
        let ec = [
            encode_tlv(TAG_INTEGER, &[1]),
            encode_tlv(TAG_OCTET_STRING, &scalar),
            encode_tlv(TAG_CONTEXT_1, &encode_tlv(TAG_BIT_STRING, &bits)),
        ]
        .concat();
        let algorithm = [
            encode_tlv(TAG_OID, OID_EC_PUBLIC_KEY),
            encode_tlv(TAG_OID, curve_oid),
        ]
        .concat();
        let body = [
            encode_tlv(TAG_INTEGER, &[0]),
            encode_tlv(TAG_SEQUENCE, &algorithm),
            encode_tlv(TAG_OCTET_STRING, &encode_tlv(TAG_SEQUENCE, &ec)),
        ]
        .concat();
        return Ok(encode_tlv(TAG_SEQUENCE, &body));
    }
    bail!("no valid scalar from the seed for {label}")
}

/// The private scalar of a PKCS#8 EC key.
fn ec_secret(pkcs8: &[u8]) -> Result<Vec<u8>> {
    let info = parse_pkcs8(pkcs8)?;
    let (ec, _) = read_tlv(info.private_key)?;
    let (_version, tail) = read_tlv(ec.value)?;
    let (secret, _) = read_tlv(tail)?;
    ensure!(secret.tag == TAG_OCTET_STRING, "bad ECPrivateKey");
    Ok(secret.value.to_vec())
}

struct Pkcs8<'a> {
    algorithm: &'a [u8],
    parameters: Option<Tlv<'a>>,
    private_key: &'a [u8],
}

/// Reads `PrivateKeyInfo` / `OneAsymmetricKey` (RFC 5958 section 2).
fn parse_pkcs8(der: &[u8]) -> Result<Pkcs8<'_>> {
    let (outer, rest) = read_tlv(der)?;
    ensure!(outer.tag == TAG_SEQUENCE && rest.is_empty(), "bad PKCS#8");
    let (version, tail) = read_tlv(outer.value)?;
    let (algorithm, tail) = read_tlv(tail)?;
    let (private_key, _) = read_tlv(tail)?;
    ensure!(
        version.tag == TAG_INTEGER
            && algorithm.tag == TAG_SEQUENCE
            && private_key.tag == TAG_OCTET_STRING,
        "bad PKCS#8"
    );
    let (oid, tail) = read_tlv(algorithm.value)?;
    ensure!(oid.tag == TAG_OID, "bad PKCS#8 AlgorithmIdentifier");
    let parameters = if tail.is_empty() {
        None
    } else {
        Some(read_tlv(tail)?.0)
    };
    Ok(Pkcs8 {
        algorithm: oid.value,
        parameters,
        private_key: private_key.value,
    })
}

/// Builds an RSA `SubjectPublicKeyInfo` (RFC 3279 section 2.3.1) from a PKCS#8 RSA key.
fn rsa_spki_from_pkcs8(pkcs8: &[u8]) -> Result<Vec<u8>> {
    let info = parse_pkcs8(pkcs8)?;
    ensure!(info.algorithm == OID_RSA_ENCRYPTION, "not an RSA key");
    let (rsa, _) = read_tlv(info.private_key)?;
    ensure!(rsa.tag == TAG_SEQUENCE, "bad RSAPrivateKey");
    let (_version, tail) = read_tlv(rsa.value)?;
    let (modulus, tail) = read_tlv(tail)?;
    let (exponent, _) = read_tlv(tail)?;
    ensure!(
        modulus.tag == TAG_INTEGER && exponent.tag == TAG_INTEGER,
        "bad RSAPrivateKey"
    );
    let public_key = encode_tlv(TAG_SEQUENCE, &[modulus.raw, exponent.raw].concat());
    let mut bits = vec![0];
    bits.extend_from_slice(&public_key);
    let algorithm = encode_tlv(
        TAG_SEQUENCE,
        &[
            encode_tlv(TAG_OID, OID_RSA_ENCRYPTION),
            encode_tlv(TAG_NULL, &[]),
        ]
        .concat(),
    );
    Ok(encode_tlv(
        TAG_SEQUENCE,
        &[algorithm, encode_tlv(TAG_BIT_STRING, &bits)].concat(),
    ))
}

fn csr_spki(der: &[u8]) -> Result<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(der)
        .map_err(|e| anyhow::anyhow!("parsing CSR: {e}"))?;
    Ok(csr.certification_request_info.subject_pki.raw.to_vec())
}

#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    value: &'a [u8],
    raw: &'a [u8],
}

/// Reads one DER TLV with a single-byte tag (X.690 section 8.1).
fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8])> {
    let [tag, first, rest @ ..] = input else {
        bail!("DER truncated in header");
    };
    ensure!(tag & 0x1f != 0x1f, "multi-byte DER tags are not supported");
    let (len, header) = if first & 0x80 == 0 {
        (usize::from(*first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        ensure!(
            (1..=4).contains(&count) && rest.len() >= count,
            "bad DER length"
        );
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, 2 + count)
    };
    ensure!(input.len() >= header + len, "DER truncated in value");
    let tlv = Tlv {
        tag: *tag,
        value: &input[header..header + len],
        raw: &input[..header + len],
    };
    Ok((tlv, &input[header + len..]))
}

fn encode_tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(value);
    out
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(
                    BASE64_ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize],
                ));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 body of a PEM block: 64 columns, LF line ends (RFC 7468 section 2).
fn base64_lines(data: &[u8]) -> String {
    let encoded = base64_encode(data);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 64 + 1);
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    format!(
        "-----BEGIN {label}-----\n{}-----END {label}-----\n",
        base64_lines(der)
    )
}

fn pem_decode(pem: &[u8], label: &str) -> Result<Vec<u8>> {
    for block in x509_parser::pem::Pem::iter_from_buffer(pem) {
        let block = block.map_err(|e| anyhow::anyhow!("bad PEM: {e}"))?;
        if block.label == label {
            return Ok(block.contents);
        }
    }
    bail!("no {label} PEM block")
}

/// SplitMix64, so that `junk.bin` is the same on every run.
fn junk_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_be_bytes());
    }
    out.truncate(len);
    if out[0] == TAG_SEQUENCE {
        out[0] ^= 0xff;
    }
    out
}

fn write_bad_inputs(dir: &Path, leaf_der: &[u8]) -> Result<usize> {
    let truncated = &leaf_der[..200.min(leaf_der.len())];
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("empty.pem", Vec::new()),
        ("junk.bin", junk_bytes(JUNK_SEED, 256)),
        (
            "wrong-armour.pem",
            format!(
                "-----BEGIN CERTIFICATE-----\n{}-----END PRIVATE KEY-----\n",
                base64_lines(leaf_der)
            )
            .into_bytes(),
        ),
        (
            "bad-base64.pem",
            b"-----BEGIN CERTIFICATE-----\n\
              MIIC%%this*is!not@base64$$\n\
              ~~~~####^^^^&&&&(((())))\n\
              -----END CERTIFICATE-----\n"
                .to_vec(),
        ),
        (
            "no-end.pem",
            format!("-----BEGIN CERTIFICATE-----\n{}", base64_lines(leaf_der)).into_bytes(),
        ),
        (
            "unknown-label.pem",
            pem_encode("FOO BAR", leaf_der).into_bytes(),
        ),
        ("truncated.der", truncated.to_vec()),
        (
            "truncated.pem",
            pem_encode("CERTIFICATE", truncated).into_bytes(),
        ),
        (
            "text.txt",
            b"This is plain text, not a certificate, key or CSR.\n".to_vec(),
        ),
    ];
    for (name, contents) in &files {
        let path = dir.join(name);
        fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(files.len())
}
