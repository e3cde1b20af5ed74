//! Why a registration could not start, was refused, or is not reaching
//! the control plane.

use std::net::SocketAddr;

use crate::protocol::grpc_code_name;

/// A registration that cannot start, or that the control plane did not
/// grant. Each message says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The control plane's URI cannot be dialled.
    #[error(
        "invalid control plane URI {uri:?}: {reason} (expected http://host:port, such as the bootstrap's server_uri)"
    )]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The address cannot be reached by other workloads.
    #[error(
        "cannot register {addr}: {reason} (register the address other workloads reach this server at, such as the listener's local_addr() when it binds a specific IP)"
    )]
    UnusableAddress {
        /// The address given.
        addr: SocketAddr,
        /// Why it is unusable.
        reason: &'static str,
    },
    /// The control plane refused the registration: the service is not
    /// declared, the address is invalid, and so on. The message is the
    /// control plane's, and says what to fix. The registration keeps
    /// retrying (with backoff) in case the configuration changes.
    #[error("the control plane refused to register {service:?}: {message} ({})", grpc_code_name(*code as i32))]
    Refused {
        /// The service asked for.
        service: String,
        /// The gRPC status code (`NOT_FOUND` for an undeclared service).
        code: tonic::Code,
        /// The control plane's message.
        message: String,
    },
    /// The control plane could not be reached, or is not ready. The
    /// registration keeps retrying with backoff; serving goes on.
    #[error(
        "cannot reach the control plane at {uri}: {message} ({}; retrying with backoff)",
        grpc_code_name(*code as i32)
    )]
    Unavailable {
        /// The control plane's URI.
        uri: String,
        /// The gRPC status code (`UNAVAILABLE` when it does not answer).
        code: tonic::Code,
        /// What failed.
        message: String,
    },
    /// The registration has stopped.
    #[error("the registration has stopped")]
    Stopped,
    /// The registration's task ended abnormally.
    #[error("the registration task ended abnormally (this is a bug; please report it)")]
    Panicked,
}

impl RegistrationError {
    /// The gRPC status code behind a refusal or an unreachable control
    /// plane.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            Self::Refused { code, .. } | Self::Unavailable { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the control plane answered with a refusal (as opposed to
    /// not answering).
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}
