use std::sync::Arc;

use tower_layer::Layer;

use super::RateLimit;
use crate::mesh::Mesh;
use crate::protocol::Protocol;

/// Wraps a server in [`RateLimit`] for the service named `host`.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    mesh: Mesh,
    host: Arc<str>,
    protocol: Protocol,
}

impl RateLimitLayer {
    /// Limits requests to `host` by the mesh's current policy.
    pub fn new(mesh: Mesh, host: &str, protocol: Protocol) -> Self {
        Self {
            mesh,
            host: host.into(),
            protocol,
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            mesh: self.mesh.clone(),
            host: self.host.clone(),
            protocol: self.protocol,
        }
    }
}
