use std::sync::Arc;

use tower_layer::Layer;

use super::Authorize;
use crate::mesh::Mesh;
use crate::protocol::Protocol;
use crate::security::workload::SecurityCache;

/// Wraps a server in [`Authorize`] for one workload.
#[derive(Clone, Debug)]
pub struct AuthorizeLayer {
    mesh: Mesh,
    service: Arc<str>,
    cache: Arc<SecurityCache>,
    protocol: Protocol,
}

impl AuthorizeLayer {
    pub(crate) fn new(
        mesh: Mesh,
        service: Arc<str>,
        cache: Arc<SecurityCache>,
        protocol: Protocol,
    ) -> Self {
        Self {
            mesh,
            service,
            cache,
            protocol,
        }
    }
}

impl<S> Layer<S> for AuthorizeLayer {
    type Service = Authorize<S>;

    fn layer(&self, inner: S) -> Authorize<S> {
        Authorize {
            inner,
            mesh: self.mesh.clone(),
            service: self.service.clone(),
            cache: self.cache.clone(),
            protocol: self.protocol,
        }
    }
}
