//! The roots the CA trusts, and verification of client certificate chains
//! against them (webpki through rustls, ring provider).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::CaError;
use crate::pem::cert_pem;

/// The one crypto provider, ring, passed explicitly everywhere.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// A set of trusted roots with a verifier for client certificates issued
/// under them. A peer without a certificate is let through the handshake
/// (it may still authenticate with a bootstrap token).
pub(crate) struct Roots {
    certs: Vec<CertificateDer<'static>>,
    pem: Vec<String>,
    verifier: Arc<dyn ClientCertVerifier>,
}

impl Roots {
    /// Builds the verifier; fails, naming `source`, if webpki cannot use
    /// one of the roots.
    pub(crate) fn new(certs: Vec<CertificateDer<'static>>, source: &Path) -> Result<Self, CaError> {
        let mut store = RootCertStore::empty();
        for cert in &certs {
            store
                .add(cert.clone())
                .map_err(|e| CaError::BadCertificate {
                    path: source.into(),
                    reason: format!("unusable root certificate: {e}"),
                })?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider())
            .allow_unauthenticated()
            .build()
            .map_err(|e| CaError::Tls(e.to_string()))?;
        let pem = certs.iter().map(cert_pem).collect();
        Ok(Self {
            certs,
            pem,
            verifier,
        })
    }

    /// The roots, DER.
    pub(crate) fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    /// The roots, PEM.
    pub(crate) fn pem(&self) -> &[String] {
        &self.pem
    }

    /// The verifier for the TLS listener.
    pub(crate) fn verifier(&self) -> Arc<dyn ClientCertVerifier> {
        self.verifier.clone()
    }

    /// Checks that `chain` (leaf first) is a currently valid client
    /// certificate under these roots.
    pub(crate) fn verify_client(&self, chain: &[CertificateDer<'_>]) -> Result<(), CaError> {
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or_else(|| CaError::PeerCertificate("empty certificate chain".into()))?;
        self.verifier
            .verify_client_cert(leaf, intermediates, UnixTime::now())
            .map(|_| ())
            .map_err(|e| CaError::PeerCertificate(e.to_string()))
    }
}
