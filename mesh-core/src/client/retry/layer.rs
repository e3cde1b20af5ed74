use std::sync::Arc;

use tower_layer::Layer;

use super::Retry;
use crate::mesh::Mesh;
use crate::protocol::Protocol;

/// Wraps a client in [`Retry`].
#[derive(Clone, Debug)]
pub struct RetryLayer {
    mesh: Mesh,
    target: Arc<str>,
    protocol: Protocol,
}

impl RetryLayer {
    /// Retries requests to `target` by their route's policy; retries are
    /// counted in the mesh's metrics.
    pub fn new(mesh: Mesh, target: &str, protocol: Protocol) -> Self {
        Self {
            mesh,
            target: target.into(),
            protocol,
        }
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Retry<S> {
        Retry {
            inner,
            mesh: self.mesh.clone(),
            target: self.target.clone(),
            protocol: self.protocol,
        }
    }
}
