//! Errors of this workload's own identity: loading certificates and keys,
//! talking to the CA, and using a certificate outside its validity.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::peer::PeerError;
use crate::spiffe::SpiffeId;

/// Why this workload's identity could not be loaded, renewed or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A file could not be read.
    #[error("cannot read {}: {source}; check that the file exists and is readable", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// A file was read but its contents are unusable.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with its contents.
        #[source]
        source: Box<IdentityError>,
    },

    /// PEM input could not be parsed, or held nothing of the expected kind.
    #[error("invalid {what}: {reason}; expected PEM `-----BEGIN {label}-----` blocks")]
    Pem {
        /// What was being read, e.g. "certificate chain".
        what: &'static str,
        /// The PEM label expected, e.g. `CERTIFICATE`.
        label: &'static str,
        /// What went wrong.
        reason: String,
    },

    /// The workload certificate itself is unusable (no or several URI SANs,
    /// not a SPIFFE ID, unparsable).
    #[error("the workload certificate is unusable: {0}")]
    Certificate(#[source] PeerError),

    /// The private key cannot be loaded or does not match the certificate.
    #[error(
        "the private key is unusable: {reason}; expected the PKCS#8, SEC1 or PKCS#1 key of the leaf certificate"
    )]
    PrivateKey {
        /// What went wrong.
        reason: String,
    },

    /// A trust domain name is malformed.
    #[error(
        "invalid trust domain {trust_domain:?}: use lowercase letters, digits, '-', '.' or '_' (e.g. \"cluster.local\")"
    )]
    InvalidTrustDomain {
        /// The name given.
        trust_domain: String,
    },

    /// A certificate or bundle belongs to another trust domain than the one
    /// configured.
    #[error(
        "the {what} is for trust domain {actual:?} but this workload is configured for {expected:?}; fix the trust domain or the {what}"
    )]
    TrustDomainMismatch {
        /// What was checked, e.g. "workload certificate".
        what: &'static str,
        /// The configured trust domain.
        expected: String,
        /// The trust domain found.
        actual: String,
    },

    /// The CA could not be reached (connection or TLS handshake failed).
    #[error(
        "cannot reach the certificate authority at {address}: {reason}; check the address, that the CA is running, and the CA roots"
    )]
    CaUnreachable {
        /// The CA's address.
        address: SocketAddr,
        /// What failed, with its causes.
        reason: String,
    },

    /// The CA answered with a gRPC error.
    #[error("the certificate authority at {address} refused: {code:?}: {message}")]
    CaRefused {
        /// The CA's address.
        address: SocketAddr,
        /// The gRPC status code.
        code: tonic::Code,
        /// The gRPC status message.
        message: String,
    },

    /// The CA answered, but with something unusable.
    #[error("the certificate authority at {address} sent an unusable response: {reason}")]
    CaResponse {
        /// The CA's address.
        address: SocketAddr,
        /// What is wrong with it.
        reason: String,
    },

    /// Generating the key or the certificate signing request failed.
    #[error("cannot generate a key and certificate signing request for {id}: {reason}")]
    Csr {
        /// The identity asked for.
        id: SpiffeId,
        /// What went wrong.
        reason: String,
    },

    /// The bootstrap token cannot be sent as gRPC metadata.
    #[error(
        "the bootstrap token must be visible ASCII without line breaks; it is sent as gRPC metadata"
    )]
    InvalidToken,

    /// Background refresh needs a tokio runtime.
    #[error("{what} must be started inside a tokio runtime (it refreshes on a background task)")]
    NoRuntime {
        /// What was being started.
        what: &'static str,
    },

    /// There is no certificate yet.
    #[error("no workload certificate for {id} yet; refusing mutual TLS until one arrives")]
    NoCertificate {
        /// The identity waiting for a certificate.
        id: SpiffeId,
    },

    /// The current certificate has expired.
    #[error(
        "workload certificate for {id} expired at {}; refusing mutual TLS (fail closed) until a new one arrives",
        humantime::format_rfc3339_seconds(*expired_at)
    )]
    Expired {
        /// The identity of the certificate.
        id: SpiffeId,
        /// Its `notAfter`.
        expired_at: SystemTime,
    },

    /// The current certificate is not valid yet.
    #[error(
        "workload certificate for {id} is not valid before {}; refusing mutual TLS until then (check the clock)",
        humantime::format_rfc3339_seconds(*not_before)
    )]
    NotYetValid {
        /// The identity of the certificate.
        id: SpiffeId,
        /// Its `notBefore`.
        not_before: SystemTime,
    },
}

impl IdentityError {
    /// Attributes this error to the file it came from.
    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        Self::File {
            path: path.to_owned(),
            source: Box::new(self),
        }
    }
}

/// Renders an error and all its sources as `outer: inner: innermost`.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}
