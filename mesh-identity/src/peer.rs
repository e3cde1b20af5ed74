//! The identity of the other end of a mutual-TLS connection: why a peer
//! certificate was rejected ([`PeerError`]), and who a verified peer is
//! ([`PeerIdentity`], [`peer_identity`]).

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::{CertificateError, OtherError};
use rustls_pki_types::CertificateDer;

use crate::leaf::Leaf;
use crate::spiffe::{InvalidSpiffeId, SpiffeId};

/// Why a peer's certificate (or this workload's own) was rejected.
///
/// Verifiers return it to rustls as
/// `Error::InvalidCertificate(CertificateError::Other(..))`, so the text of a
/// failed handshake contains these messages.
#[derive(Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The peer sent no certificate.
    #[error("no certificate presented; mutual TLS requires a workload certificate")]
    NoCertificate,
    /// The leaf has no URI SAN.
    #[error(
        "certificate has no URI SAN; a workload certificate must carry its SPIFFE ID as its only URI SAN"
    )]
    NoUriSan,
    /// The leaf has more than one URI SAN.
    #[error(
        "certificate has {count} URI SANs; a workload certificate must carry exactly one, its SPIFFE ID"
    )]
    MultipleUriSans {
        /// How many there are.
        count: usize,
    },
    /// The URI SAN is not a mesh SPIFFE ID.
    #[error("certificate URI SAN is not a mesh SPIFFE ID: {0}")]
    NotSpiffe(#[source] InvalidSpiffeId),
    /// The SPIFFE ID belongs to another trust domain.
    #[error(
        "certificate identity {id} is in trust domain {:?} but only {expected:?} is trusted; federation is not supported",
        id.trust_domain()
    )]
    WrongTrustDomain {
        /// The peer's identity.
        id: SpiffeId,
        /// The trust domain of our bundle.
        expected: String,
    },
    /// The peer is not the one this connection expected.
    #[error("certificate identity is {id} but {expected} was expected")]
    UnexpectedPeer {
        /// The peer's identity.
        id: Box<SpiffeId>,
        /// The identity required.
        expected: Box<SpiffeId>,
    },
    /// The certificate has expired.
    #[error(
        "certificate expired at {} (now {}); the peer must renew it",
        humantime::format_rfc3339_seconds(*expired_at),
        humantime::format_rfc3339_seconds(*now)
    )]
    Expired {
        /// Its `notAfter`.
        expired_at: SystemTime,
        /// The time of the check.
        now: SystemTime,
    },
    /// The certificate is not valid yet.
    #[error(
        "certificate is not valid before {} (now {}); check the clocks of both workloads",
        humantime::format_rfc3339_seconds(*not_before),
        humantime::format_rfc3339_seconds(*now)
    )]
    NotYetValid {
        /// Its `notBefore`.
        not_before: SystemTime,
        /// The time of the check.
        now: SystemTime,
    },
    /// The chain does not lead to a root of the trust bundle.
    #[error(
        "certificate was not issued by a root in the trust bundle of {trust_domain:?} (unknown issuer); check that both workloads use the same mesh CA"
    )]
    UnknownIssuer {
        /// The trust domain of our bundle.
        trust_domain: String,
    },
    /// A CA certificate was presented as a leaf.
    #[error(
        "a CA certificate was presented as the leaf (basicConstraints CA:TRUE); a workload certificate must not be a CA"
    )]
    CaAsLeaf,
    /// The keyUsage extension lacks digitalSignature.
    #[error(
        "certificate keyUsage lacks digitalSignature, so it cannot authenticate a TLS handshake"
    )]
    MissingKeyUsage,
    /// The extendedKeyUsage extension does not allow this TLS role.
    #[error(
        "certificate extendedKeyUsage does not include {required}; a workload certificate needs serverAuth and clientAuth"
    )]
    WrongExtendedKeyUsage {
        /// The usage required: `serverAuth` or `clientAuth`.
        required: &'static str,
    },
    /// Chain validation failed for another reason.
    #[error("certificate chain is invalid: {0}")]
    BadChain(webpki::Error),
    /// The certificate could not be parsed.
    #[error("certificate cannot be parsed: {reason}")]
    Malformed {
        /// What the parser said.
        reason: String,
    },
}

// rustls prints `CertificateError::Other` with `{:?}`; printing the message
// here is what puts it into the handshake error's text.
impl fmt::Debug for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl PeerError {
    /// Wraps this error the way rustls expects from a certificate verifier.
    pub fn into_rustls(self) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(self))))
    }
}

impl From<PeerError> for rustls::Error {
    fn from(e: PeerError) -> Self {
        e.into_rustls()
    }
}

/// The SPIFFE ID of an already verified peer, from the chain rustls kept
/// (`conn.peer_certificates()`): the leaf's only URI SAN.
///
/// This does not verify anything; call it only after a handshake whose
/// verifier came from this crate.
pub fn peer_identity(certs: &[CertificateDer<'_>]) -> Result<SpiffeId, PeerError> {
    let leaf = certs.first().ok_or(PeerError::NoCertificate)?;
    Leaf::parse(leaf)?.spiffe_id()
}

/// The authenticated identity of the caller, put into request extensions by
/// mesh servers after a mutual-TLS handshake. Its absence means the request
/// came without mutual TLS (plaintext, or a permissive peer with no
/// certificate).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerIdentity(pub SpiffeId);

impl PeerIdentity {
    /// The identity of the peer of a finished handshake, or `None` when the
    /// peer presented no certificate.
    pub fn from_connection(conn: &rustls::CommonState) -> Result<Option<Self>, PeerError> {
        match conn.peer_certificates() {
            None | Some([]) => Ok(None),
            Some(certs) => peer_identity(certs).map(|id| Some(Self(id))),
        }
    }

    /// The SPIFFE ID.
    pub fn id(&self) -> &SpiffeId {
        &self.0
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
