//! The inbound stack in one place: which layers, in which order, and why.

use std::sync::Arc;

use tower_layer::Layer;

use crate::mesh::Mesh;
use crate::protocol::Protocol;
use crate::server::rate_limit::{RateLimit, RateLimitLayer};
use crate::telemetry::metrics::{ServerMetrics, ServerMetricsLayer};
use crate::telemetry::trace::{ServerTrace, ServerTraceLayer};

/// The inbound stack around an application service `S`.
pub type ServerStack<S> = RateLimit<ServerTrace<ServerMetrics<S>>>;

/// Wraps an application service in the mesh's inbound stack, for the
/// service named `service` in the policy.
///
/// The order, outermost first, and why:
/// 1. rate limit: refuses excess load before any work is spent on it;
/// 2. trace extraction: the handler, and every call it makes through the
///    mesh, runs inside the caller's trace and deadline;
/// 3. metrics: what the application itself answered, and how fast.
#[derive(Clone, Debug)]
pub struct ServerLayer {
    mesh: Mesh,
    service: Arc<str>,
    protocol: Protocol,
}

impl ServerLayer {
    /// The inbound stack of `service` speaking `protocol`.
    pub fn new(mesh: &Mesh, service: &str, protocol: Protocol) -> Self {
        Self {
            mesh: mesh.clone(),
            service: service.into(),
            protocol,
        }
    }

    /// The service this stack serves, as named in the policy.
    pub fn service(&self) -> &str {
        &self.service
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerStack<S>;

    fn layer(&self, inner: S) -> ServerStack<S> {
        let metrics =
            ServerMetricsLayer::new(self.mesh.clone(), &self.service, self.protocol).layer(inner);
        let trace = ServerTraceLayer::new(&self.service).layer(metrics);
        RateLimitLayer::new(self.mesh.clone(), &self.service, self.protocol).layer(trace)
    }
}
