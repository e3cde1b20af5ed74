//! The CA's errors. Messages are lowercase and, where an operator or a
//! workload can fix something, say what to do.

use std::path::PathBuf;

use mesh_identity::{InvalidSpiffeId, SpiffeId};

/// Everything the CA can refuse or fail at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    // --- configuration and key material ---
    /// A file could not be read or written.
    #[error("{action} {path}: {source}; check that the path exists and the ca may access it")]
    Io {
        /// `reading`, `writing`, ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Only some of the CA's files exist in its directory.
    #[error(
        "{present} exists but {missing} does not; restore {missing}, or move {present} away to generate a new root"
    )]
    IncompleteDir {
        /// The file that was found.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// A PEM file holds no usable certificate.
    #[error("{path}: {reason}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A private key file could not be used.
    #[error("{path}: {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The private key does not belong to the signing certificate.
    #[error(
        "{key} does not match the certificate in {cert}; install the key that was issued with that certificate"
    )]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// The signing certificate cannot sign certificates.
    #[error("{path}: the signing certificate {reason}; use a root or intermediate ca certificate")]
    NotACa {
        /// The certificate file.
        path: PathBuf,
        /// What it lacks.
        reason: &'static str,
    },
    /// The signing certificate is expired or not yet valid.
    #[error("{path}: the signing certificate {reason}; install a current ca certificate")]
    SignerNotValid {
        /// The certificate file.
        path: PathBuf,
        /// `expired at ...` or `is not valid before ...`.
        reason: String,
    },
    /// The chain from the signing certificate to a trusted root is broken.
    #[error("{path}: {reason}")]
    BrokenChain {
        /// The file to fix.
        path: PathBuf,
        /// Which link is broken.
        reason: String,
    },
    /// The token key file is unusable.
    #[error(
        "{path}: {reason}; delete it to generate a new one (outstanding bootstrap tokens stop working)"
    )]
    BadTokenKey {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The trust domain is not a valid SPIFFE trust domain.
    #[error(
        "invalid trust domain {trust_domain:?}: use lowercase letters, digits, '-', '.' or '_'"
    )]
    InvalidTrustDomain {
        /// The rejected trust domain.
        trust_domain: String,
    },
    /// The lifetimes in [`CaConfig`](crate::CaConfig) do not fit together.
    #[error("invalid ca config: {0}")]
    InvalidConfig(String),
    /// Certificate or key generation failed inside the crypto library.
    #[error("could not {what}: {source}")]
    Crypto {
        /// What the CA was doing.
        what: &'static str,
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },
    /// The signing certificate has expired while the CA was running.
    #[error(
        "the ca's signing certificate has expired; install a new one (or rotate the root) and restart"
    )]
    SignerExpired,
    /// The system's random number generator failed.
    #[error("the system random number generator failed; check the host's entropy source")]
    Random,
    /// Root rotation was asked of a CA that signs with operator-provided files.
    #[error(
        "this ca signs with operator-provided certificates; to rotate, add the new root to root-cert.pem, install the new ca-cert.pem, ca-key.pem and cert-chain.pem, restart, and remove the old root once workloads have rotated"
    )]
    RotationUnsupported,
    /// `rotate_root` was called with no root added to switch to.
    #[error(
        "no new root to sign with: add one with add_root first, and wait until every workload has renewed (and so trusts it) before rotating"
    )]
    NoNewRoot,
    /// The TLS listener could not be configured.
    #[error("could not configure the ca's tls listener: {0}")]
    Tls(String),
    /// The gRPC server failed.
    #[error("the ca's grpc server failed: {0}")]
    Serve(#[from] tonic::transport::Error),

    // --- signing requests ---
    /// The CSR is not a parseable PKCS#10 request.
    #[error("malformed csr: {0}; send a pem \"CERTIFICATE REQUEST\" (pkcs#10)")]
    MalformedCsr(String),
    /// The CSR's self-signature does not verify.
    #[error("the csr's signature does not verify; sign the csr with the key it carries")]
    CsrSignature,
    /// The CSR's public key is of a kind the CA does not sign.
    #[error("unsupported public key in the csr; use ecdsa p-256 or p-384, ed25519 or rsa")]
    UnsupportedKey,
    /// A lifetime below zero was requested.
    #[error("negative certificate lifetime requested ({seconds} s); send 0 for the default")]
    NegativeLifetime {
        /// The requested seconds.
        seconds: i64,
    },
    /// The CSR or certificate carries no URI SAN.
    #[error("no spiffe id: the certificate or csr must carry exactly one uri san")]
    NoIdentity,
    /// The CSR or certificate carries more than one URI SAN.
    #[error("{} uri sans ({}); the certificate or csr must carry exactly one", uris.len(), uris.join(", "))]
    MultipleIdentities {
        /// All URI SANs found.
        uris: Vec<String>,
    },
    /// The URI SAN is not a mesh SPIFFE ID.
    #[error("{0}")]
    InvalidIdentity(#[from] InvalidSpiffeId),
    /// The SPIFFE ID belongs to another trust domain.
    #[error(
        "{id} is not in trust domain {trust_domain:?}; this ca only signs for its own trust domain"
    )]
    WrongTrustDomain {
        /// The SPIFFE ID asked for.
        id: SpiffeId,
        /// The CA's trust domain.
        trust_domain: String,
    },
    /// The CSR asks for an identity other than the caller's.
    #[error("csr asks for {asked} but the caller is {caller}")]
    IdentityMismatch {
        /// The SPIFFE ID in the CSR.
        asked: Box<SpiffeId>,
        /// The authenticated caller.
        caller: Box<SpiffeId>,
    },
    /// The peer's client certificate does not verify against the CA's roots.
    #[error("client certificate rejected: {0}; renew with a bootstrap token")]
    PeerCertificate(String),

    // --- bootstrap tokens ---
    /// The token is not of the form `mesh1.<payload>.<mac>`.
    #[error("malformed bootstrap token: {0}; ask the operator for a new token")]
    MalformedToken(&'static str),
    /// The token's MAC does not verify (tampered, or minted by another CA).
    #[error(
        "bootstrap token signature does not verify (altered, or minted by another ca); ask the operator for a new token"
    )]
    TokenSignature,
    /// The token has expired.
    #[error("bootstrap token for {id} expired {ago_secs} s ago; ask the operator for a new token")]
    TokenExpired {
        /// Whom the token was for.
        id: SpiffeId,
        /// How long ago it expired.
        ago_secs: u64,
    },
}

impl CaError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn crypto(what: &'static str) -> impl FnOnce(rcgen::Error) -> Self {
        move |source| Self::Crypto { what, source }
    }
}
