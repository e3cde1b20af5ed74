use std::sync::Arc;

use tower_layer::Layer;

use super::ClientMetrics;
use crate::mesh::Mesh;
use crate::protocol::Protocol;

/// Wraps a client in [`ClientMetrics`] for one target service.
#[derive(Clone, Debug)]
pub struct ClientMetricsLayer {
    mesh: Mesh,
    target: Arc<str>,
    protocol: Protocol,
}

impl ClientMetricsLayer {
    /// Records the requests to `target`, spoken in `protocol`, in the
    /// mesh's [`Metrics`](crate::telemetry::Metrics).
    pub fn new(mesh: Mesh, target: &str, protocol: Protocol) -> Self {
        Self {
            mesh,
            target: target.into(),
            protocol,
        }
    }
}

impl<S> Layer<S> for ClientMetricsLayer {
    type Service = ClientMetrics<S>;

    fn layer(&self, inner: S) -> ClientMetrics<S> {
        ClientMetrics {
            inner,
            mesh: self.mesh.clone(),
            target: self.target.clone(),
            protocol: self.protocol,
            unknown: Arc::from("unknown"),
            cache: Arc::default(),
        }
    }
}
