//! Peer verification by SPIFFE identity: webpki validates the chain against
//! the live trust bundle (no server name check: workload certificates carry
//! no DNS names), x509-parser checks the identity. One verifier type serves
//! both rustls roles.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use rustls::DistinguishedName;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::bundle::TrustBundle;
use crate::leaf::Leaf;
use crate::peer::PeerError;
use crate::spiffe::SpiffeId;
use crate::tls::provider;

/// Which side of the handshake the peer is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The peer is a server: require `serverAuth` if an EKU is present.
    Server,
    /// The peer is a client: require `clientAuth` if an EKU is present.
    Client,
}

impl Role {
    fn key_usage(self) -> webpki::KeyUsage {
        match self {
            Self::Server => webpki::KeyUsage::server_auth(),
            Self::Client => webpki::KeyUsage::client_auth(),
        }
    }

    fn eku_name(self) -> &'static str {
        match self {
            Self::Server => "serverAuth",
            Self::Client => "clientAuth",
        }
    }
}

/// Verifies peers against a trust bundle that may be swapped at any time.
#[derive(Debug)]
pub(crate) struct PeerVerifier {
    bundle: Arc<ArcSwap<TrustBundle>>,
    /// When set, the peer must be exactly this identity.
    expected: Option<SpiffeId>,
    /// Server side: whether a client certificate is required.
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    pub(crate) fn new(
        bundle: Arc<ArcSwap<TrustBundle>>,
        expected: Option<SpiffeId>,
        mandatory: bool,
    ) -> Self {
        Self {
            bundle,
            expected,
            mandatory,
            algorithms: provider().signature_verification_algorithms,
        }
    }

    /// Verifies a presented chain and returns the peer's identity.
    pub(crate) fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        role: Role,
    ) -> Result<SpiffeId, PeerError> {
        let bundle = self.bundle.load();
        let id = verify_peer(&bundle, end_entity, intermediates, now, role)?;
        match &self.expected {
            Some(expected) if *expected != id => Err(PeerError::UnexpectedPeer {
                id: Box::new(id),
                expected: Box::new(expected.clone()),
            }),
            _ => Ok(id),
        }
    }
}

/// The checks, cheapest and most specific first: the leaf's shape, its
/// identity and trust domain, then the chain (validity, issuer, extended
/// key usage), then its keyUsage.
pub(crate) fn verify_peer(
    bundle: &TrustBundle,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    role: Role,
) -> Result<SpiffeId, PeerError> {
    let leaf = Leaf::parse(end_entity)?;
    if leaf.is_ca {
        return Err(PeerError::CaAsLeaf);
    }
    let id = leaf.spiffe_id()?;
    if id.trust_domain() != bundle.trust_domain() {
        return Err(PeerError::WrongTrustDomain {
            id,
            expected: bundle.trust_domain().to_owned(),
        });
    }
    let cert = webpki::EndEntityCert::try_from(end_entity).map_err(PeerError::BadChain)?;
    cert.verify_for_usage(
        provider().signature_verification_algorithms.all,
        bundle.anchors(),
        intermediates,
        now,
        role.key_usage(),
        None,
        None,
    )
    .map_err(|e| chain_error(e, bundle, role))?;
    if leaf.digital_signature == Some(false) {
        return Err(PeerError::MissingKeyUsage);
    }
    Ok(id)
}

fn chain_error(err: webpki::Error, bundle: &TrustBundle, role: Role) -> PeerError {
    match err {
        webpki::Error::CertExpired { time, not_after } => PeerError::Expired {
            expired_at: system_time(not_after),
            now: system_time(time),
        },
        webpki::Error::CertNotValidYet { time, not_before } => PeerError::NotYetValid {
            not_before: system_time(not_before),
            now: system_time(time),
        },
        webpki::Error::UnknownIssuer => PeerError::UnknownIssuer {
            trust_domain: bundle.trust_domain().to_owned(),
        },
        webpki::Error::CaUsedAsEndEntity => PeerError::CaAsLeaf,
        #[allow(deprecated)]
        webpki::Error::RequiredEkuNotFound | webpki::Error::RequiredEkuNotFoundContext(_) => {
            PeerError::WrongExtendedKeyUsage {
                required: role.eku_name(),
            }
        }
        other => PeerError::BadChain(other),
    }
}

fn system_time(t: UnixTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(t.as_secs())
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates, now, Role::Server)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    // No hints: the bundle can change under a built config, and our clients
    // present their one certificate whatever the hints say.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.verify(end_entity, intermediates, now, Role::Client)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
