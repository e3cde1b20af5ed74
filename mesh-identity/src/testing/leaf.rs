//! How a test leaf is shaped ([`LeafOptions`], [`TlsUsage`]) and what
//! comes out ([`TestLeaf`]).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rcgen::ExtendedKeyUsagePurpose;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{BACKDATE, HOUR};
use crate::bundle::TrustBundle;
use crate::cert::WorkloadCert;
use crate::error::IdentityError;
use crate::spiffe::SpiffeId;
use crate::tls::provider;
use crate::verifier::PeerVerifier;

/// Which TLS roles a leaf's extendedKeyUsage allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsUsage {
    /// serverAuth and clientAuth, as mesh certificates carry.
    Both,
    /// serverAuth only: rejected when used as a client certificate.
    ServerOnly,
    /// clientAuth only: rejected when used as a server certificate.
    ClientOnly,
    /// An extendedKeyUsage with neither (emailProtection only): rejected
    /// both ways.
    Neither,
    /// No extendedKeyUsage extension at all (accepted: RFC 5280 allows any
    /// use then).
    Unspecified,
}

impl TlsUsage {
    pub(super) fn purposes(self) -> Vec<ExtendedKeyUsagePurpose> {
        use ExtendedKeyUsagePurpose::{ClientAuth, EmailProtection, ServerAuth};
        match self {
            Self::Both => vec![ServerAuth, ClientAuth],
            Self::ServerOnly => vec![ServerAuth],
            Self::ClientOnly => vec![ClientAuth],
            Self::Neither => vec![EmailProtection],
            Self::Unspecified => Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Start {
    Ago(Duration),
    In(Duration),
}

/// How [`TestCa::leaf`] shapes a certificate. [`LeafOptions::new`] is a
/// good mesh certificate; each method breaks or changes one thing.
#[derive(Clone, Debug)]
pub struct LeafOptions {
    pub(super) uri_sans: Vec<String>,
    pub(super) start: Start,
    pub(super) lifetime: Duration,
    pub(super) ca: bool,
    pub(super) tls_usage: TlsUsage,
    pub(super) digital_signature: bool,
}

impl LeafOptions {
    /// A good certificate for `id`: its only URI SAN, valid from a minute
    /// ago for a day, CA:FALSE, digitalSignature, serverAuth and clientAuth.
    pub fn new(id: &SpiffeId) -> Self {
        Self {
            uri_sans: vec![id.to_string()],
            start: Start::Ago(BACKDATE),
            lifetime: 24 * HOUR,
            ca: false,
            tls_usage: TlsUsage::Both,
            digital_signature: true,
        }
    }

    /// Valid for `lifetime` from its start.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Starts (`notBefore`) `ago` before now.
    pub fn started_ago(mut self, ago: Duration) -> Self {
        self.start = Start::Ago(ago);
        self
    }

    /// Starts (`notBefore`) `after` from now: not valid yet.
    pub fn starts_in(mut self, after: Duration) -> Self {
        self.start = Start::In(after);
        self
    }

    /// Started two hours ago, lived one hour: expired an hour ago.
    pub fn expired(self) -> Self {
        self.started_ago(2 * HOUR).lifetime(HOUR)
    }

    /// Starts in an hour.
    pub fn not_yet_valid(self) -> Self {
        self.starts_in(HOUR)
    }

    /// Adds another URI SAN (any string).
    pub fn extra_uri_san(mut self, uri: &str) -> Self {
        self.uri_sans.push(uri.to_owned());
        self
    }

    /// Replaces the URI SANs with just `uri` (any string, e.g. not SPIFFE).
    pub fn uri_san(mut self, uri: &str) -> Self {
        self.uri_sans = vec![uri.to_owned()];
        self
    }

    /// No URI SAN at all.
    pub fn no_uri_san(mut self) -> Self {
        self.uri_sans.clear();
        self
    }

    /// basicConstraints CA:TRUE (a CA certificate used as a leaf).
    pub fn ca(mut self) -> Self {
        self.ca = true;
        self
    }

    /// Which TLS roles the extendedKeyUsage allows.
    pub fn tls_usage(mut self, usage: TlsUsage) -> Self {
        self.tls_usage = usage;
        self
    }

    /// A keyUsage without digitalSignature (keyAgreement only).
    pub fn without_digital_signature(mut self) -> Self {
        self.digital_signature = false;
        self
    }
}

/// A leaf issued by [`TestCa::leaf`], with its key, in DER and PEM.
pub struct TestLeaf {
    /// The chain, leaf first (intermediates follow; no root).
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key (PKCS#8).
    pub key: PrivateKeyDer<'static>,
    /// The chain as PEM.
    pub chain_pem: String,
    /// The key as PEM.
    pub key_pem: String,
}

impl TestLeaf {
    /// As a workload certificate (fails for leaves without exactly one
    /// SPIFFE URI SAN).
    pub fn workload_cert(&self) -> Result<WorkloadCert, IdentityError> {
        WorkloadCert::new(self.chain.clone(), self.key.clone_key())
    }

    /// The chain and key for rustls, whatever the leaf looks like.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::new(
            CertifiedKey::from_der(self.chain.clone(), self.key.clone_key(), &provider())
                .expect("the test key matches its leaf"),
        )
    }

    /// A plain rustls server config presenting this leaf and asking for no
    /// client certificate: a peer that mesh clients should reject.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS 1.3 and 1.2")
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .expect("the test key matches its leaf");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// A rustls client config presenting this leaf as its client
    /// certificate and verifying the server against `bundle` like a mesh
    /// client: a client that mesh servers should reject.
    pub fn client_config(&self, bundle: &TrustBundle, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let verifier =
            PeerVerifier::new(Arc::new(ArcSwap::from_pointee(bundle.clone())), None, true);
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS 1.3 and 1.2")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .expect("the test key matches its leaf");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}
