use std::sync::Arc;

use tower_layer::Layer;

use super::Route;
use crate::mesh::Mesh;

/// Wraps a client in [`Route`] for one target service.
#[derive(Clone, Debug)]
pub struct RouteLayer {
    mesh: Mesh,
    target: Arc<str>,
}

impl RouteLayer {
    /// Routes requests for `target` (a host, optionally with a port) by the
    /// mesh's current policy.
    pub fn new(mesh: Mesh, target: &str) -> Self {
        Self {
            mesh,
            target: target.into(),
        }
    }

    /// Wraps `inner` (a shorthand for [`Layer::layer`] in tests).
    pub fn layer_service<S>(&self, inner: S) -> Route<S> {
        self.layer(inner)
    }
}

impl<S> Layer<S> for RouteLayer {
    type Service = Route<S>;

    fn layer(&self, inner: S) -> Route<S> {
        Route {
            inner,
            mesh: self.mesh.clone(),
            target: self.target.clone(),
        }
    }
}
