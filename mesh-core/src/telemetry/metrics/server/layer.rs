use std::sync::{Arc, OnceLock};

use tower_layer::Layer;

use super::ServerMetrics;
use crate::mesh::Mesh;
use crate::protocol::Protocol;
use crate::telemetry::metrics::{Series, ServerLabels};

/// Wraps a server in [`ServerMetrics`] for one service.
#[derive(Clone, Debug)]
pub struct ServerMetricsLayer {
    mesh: Mesh,
    labels: ServerLabels,
    protocol: Protocol,
    series: Arc<OnceLock<Arc<Series<ServerLabels>>>>,
}

impl ServerMetricsLayer {
    /// Records the requests to `service`, spoken in `protocol`, in the
    /// mesh's [`Metrics`](crate::telemetry::Metrics).
    pub fn new(mesh: Mesh, service: &str, protocol: Protocol) -> Self {
        Self {
            mesh,
            labels: ServerLabels {
                service: service.into(),
            },
            protocol,
            series: Arc::default(),
        }
    }
}

impl<S> Layer<S> for ServerMetricsLayer {
    type Service = ServerMetrics<S>;

    fn layer(&self, inner: S) -> ServerMetrics<S> {
        ServerMetrics {
            inner,
            mesh: self.mesh.clone(),
            labels: self.labels.clone(),
            protocol: self.protocol,
            series: self.series.clone(),
        }
    }
}
