//! Errors on the request path, and what each one becomes on the wire.

use std::net::SocketAddr;
use std::time::Duration;

/// A boxed error, as tower and hyper pass them around.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a destination has no endpoint to take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unhealthy {
    /// The policy gives the destination no endpoints at all.
    NoEndpoints,
    /// All of its endpoints recently failed to connect and are backing off.
    AllFailing {
        /// How many endpoints there are.
        count: usize,
    },
}

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unhealthy::NoEndpoints => f.write_str("the policy lists no endpoints for it"),
            Unhealthy::AllFailing { count: 1 } => {
                f.write_str("its one endpoint is failing to connect (retrying with backoff)")
            }
            Unhealthy::AllFailing { count } => write!(
                f,
                "all {count} endpoints are failing to connect (retrying with backoff)"
            ),
        }
    }
}

/// Why the mesh answered a request itself instead of the destination.
///
/// Each variant becomes a proper protocol error (see
/// [`crate::protocol::Protocol::local_reply`]); the message says what decided.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// No route of the target's route table matched the request.
    #[error("no route for {path} on {target}{detail}")]
    NoRoute {
        /// The target service the client was built for.
        target: String,
        /// The request path.
        path: String,
        /// Why, when it is not just an unmatched path.
        detail: String,
    },
    /// The chosen destination has no endpoint that can take the request.
    #[error("no healthy endpoint for {service}{}: {endpoints}", subset.as_ref().map(|s| format!(" subset {s}")).unwrap_or_default())]
    NoHealthyEndpoint {
        /// The destination service.
        service: String,
        /// The destination subset, if any.
        subset: Option<String>,
        /// Why none is healthy.
        endpoints: Unhealthy,
    },
    /// The request's deadline passed before a response came.
    #[error("deadline exceeded after {elapsed:?} on route {route}{}", if *.clamped { " (clamped by the caller's deadline)" } else { "" })]
    DeadlineExceeded {
        /// The route whose timeout applied.
        route: String,
        /// How long the request had.
        elapsed: Duration,
        /// Whether an inbound or caller deadline was shorter than the route's.
        clamped: bool,
    },
    /// One attempt ran past its per-try timeout.
    #[error("attempt to {destination} timed out after {timeout:?} (per-try timeout)")]
    PerTryTimeout {
        /// The destination that was slow.
        destination: String,
        /// The per-try timeout.
        timeout: Duration,
    },
    /// A local rate limit refused the request.
    #[error("rate limited by {policy}")]
    RateLimited {
        /// The rate limit policy that refused.
        policy: String,
        /// When a token will be available.
        retry_after: Duration,
    },
    /// The connection to an endpoint could not be made.
    #[error("connect to {endpoint} failed: {source}")]
    Connect {
        /// The endpoint.
        endpoint: SocketAddr,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The request failed on an established connection.
    #[error("request to {endpoint} failed: {source}")]
    Transport {
        /// The endpoint.
        endpoint: SocketAddr,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The request body could not be read.
    #[error("request body failed: {0}")]
    Body(#[source] BoxError),
    /// The server requires mutual TLS and the caller did not use it.
    #[error("unauthenticated: {reason}")]
    Unauthenticated {
        /// What was required, and by which policy.
        reason: String,
    },
    /// This workload's own certificate is unusable (expired, say), so it
    /// refuses mutual TLS traffic rather than use it (fail closed).
    #[error("{reason}")]
    Identity {
        /// Why, from the identity.
        reason: String,
    },
    /// An authorization policy refused the request.
    #[error("permission denied: {decision}")]
    PermissionDenied {
        /// The decision, naming the policy.
        decision: String,
    },
    /// The request path could not be normalized safely for authorization.
    #[error("invalid request path: {reason}")]
    InvalidPath {
        /// What is wrong with it.
        reason: String,
    },
}

impl MeshError {
    /// Whether the request certainly never reached the application, so a
    /// retry cannot repeat a side effect.
    pub fn is_connect_failure(&self) -> bool {
        matches!(self, MeshError::Connect { .. })
    }

    /// A short, stable name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            MeshError::NoRoute { .. } => "no_route",
            MeshError::NoHealthyEndpoint { .. } => "no_healthy_endpoint",
            MeshError::DeadlineExceeded { .. } => "deadline_exceeded",
            MeshError::PerTryTimeout { .. } => "per_try_timeout",
            MeshError::RateLimited { .. } => "rate_limited",
            MeshError::Connect { .. } => "connect",
            MeshError::Transport { .. } => "transport",
            MeshError::Body(_) => "body",
            MeshError::Unauthenticated { .. } => "unauthenticated",
            MeshError::Identity { .. } => "identity",
            MeshError::PermissionDenied { .. } => "permission_denied",
            MeshError::InvalidPath { .. } => "invalid_path",
        }
    }
}
