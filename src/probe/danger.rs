//! The part of the probe that deliberately does not verify the server's certificate.
//!
//! [`UnverifiedChainCapture`] plugs into rustls where a certificate verifier goes, records the
//! chain the server sent, and accepts it *without any check*: no path to a root, no name, no
//! validity dates, no key usage. It exists because DANE decides trust from TLSA records
//! (RFC 6698 §2, RFC 7671 §5), which must see the chain exactly as presented, including chains
//! a WebPKI verifier would reject (self-signed DANE-EE leaves, private CAs for DANE-TA).
//!
//! It must never be used where its acceptance is taken as a verdict. A connection made with it
//! is authenticated only once the DANE matching has run on the captured chain.
//!
//! What it keeps is the handshake signature check (TLS 1.2 ServerKeyExchange, TLS 1.3
//! CertificateVerify, RFC 8446 §4.4.3): the server proves it holds the private key of the leaf
//! it presented, so a matching `3 1 1` record later means something.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Records the presented chain and accepts it unverified. Not a certificate verifier: see the
/// module documentation.
#[derive(Debug)]
pub struct UnverifiedChainCapture {
    provider: Arc<CryptoProvider>,
    /// The signature schemes offered to the server, which choose the certificate it sends.
    schemes: Vec<SignatureScheme>,
    chain: Mutex<Vec<Vec<u8>>>,
}

impl UnverifiedChainCapture {
    /// A capture whose handshake signature checks use `provider`'s algorithms, offering the
    /// server only those of `schemes` that the provider can verify.
    pub fn new(provider: Arc<CryptoProvider>, schemes: &[SignatureScheme]) -> Self {
        let supported = provider
            .signature_verification_algorithms
            .supported_schemes();
        UnverifiedChainCapture {
            schemes: schemes
                .iter()
                .copied()
                .filter(|s| supported.contains(s))
                .collect(),
            provider,
            chain: Mutex::new(Vec::new()),
        }
    }

    /// The DER certificates of the last handshake, leaf first, as sent; empty before one.
    pub fn captured(&self) -> Vec<Vec<u8>> {
        self.chain
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ServerCertVerifier for UnverifiedChainCapture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = self.chain.lock().unwrap_or_else(PoisonError::into_inner);
        chain.clear();
        chain.push(end_entity.as_ref().to_vec());
        chain.extend(intermediates.iter().map(|c| c.as_ref().to_vec()));
        // Deliberately no verification: trust is decided by DANE matching on `captured()`.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}
