//! The inbound stack in one place: which layers, in which order, and why.

use std::sync::Arc;

use tower_layer::Layer;

use crate::mesh::Mesh;
use crate::policy::Labels;
use crate::protocol::Protocol;
use crate::security::workload::SecurityCache;
use crate::security::{MeshAcceptor, WorkloadPolicy};
use crate::server::authorize::{Authorize, AuthorizeLayer};
use crate::server::rate_limit::{RateLimit, RateLimitLayer};
use crate::telemetry::metrics::{ServerMetrics, ServerMetricsLayer};
use crate::telemetry::trace::{ServerTrace, ServerTraceLayer};

/// The inbound stack around an application service `S`.
pub type ServerStack<S> = Authorize<RateLimit<ServerTrace<ServerMetrics<S>>>>;

/// Wraps an application service in the mesh's inbound stack, for the
/// service named `service` in the policy.
///
/// The order, outermost first, and why:
/// 1. peer authentication and authorization: a caller that may not call
///    costs nothing further, not even a rate-limit token, and the path is
///    normalized before anything (or anyone) looks at it;
/// 2. rate limit: refuses excess load before any work is spent on it;
/// 3. trace extraction: the handler, and every call it makes through the
///    mesh, runs inside the caller's trace and deadline;
/// 4. metrics: what the application itself answered, and how fast.
///
/// TLS is terminated before all of these, by the [`MeshAcceptor`] the
/// layer hands out ([`ServerLayer::acceptor`]).
#[derive(Clone, Debug)]
pub struct ServerLayer {
    mesh: Mesh,
    service: Arc<str>,
    protocol: Protocol,
    security: Arc<SecurityCache>,
}

impl ServerLayer {
    /// The inbound stack of `service` speaking `protocol`. Policies select
    /// the workload by the label `app: <service>` in the namespace of the
    /// mesh's identity (or `default`); see [`ServerLayer::workload`].
    pub fn new(mesh: &Mesh, service: &str, protocol: Protocol) -> Self {
        let app = service.split('.').next().unwrap_or(service);
        let workload = WorkloadPolicy {
            namespace: None,
            labels: Labels::from([("app".to_owned(), app.to_owned())]),
        };
        Self {
            mesh: mesh.clone(),
            service: service.into(),
            protocol,
            security: Arc::new(SecurityCache::new(workload)),
        }
    }

    /// Sets the namespace and labels `PeerAuthentication` and
    /// `AuthorizationPolicy` selectors match this workload by.
    pub fn workload(mut self, workload: WorkloadPolicy) -> Self {
        self.security = Arc::new(SecurityCache::new(workload));
        self
    }

    /// The service this stack serves, as named in the policy.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The acceptor that terminates TLS for this workload, offering `alpn`
    /// (`h2` for gRPC; `h2` and `http/1.1` for HTTP).
    pub fn acceptor(&self, alpn: &[&'static [u8]]) -> MeshAcceptor {
        MeshAcceptor::new(self.mesh.clone(), self.security.clone(), alpn)
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerStack<S>;

    fn layer(&self, inner: S) -> ServerStack<S> {
        let metrics =
            ServerMetricsLayer::new(self.mesh.clone(), &self.service, self.protocol).layer(inner);
        let trace = ServerTraceLayer::new(&self.service).layer(metrics);
        let limited =
            RateLimitLayer::new(self.mesh.clone(), &self.service, self.protocol).layer(trace);
        AuthorizeLayer::new(
            self.mesh.clone(),
            self.service.clone(),
            self.security.clone(),
            self.protocol,
        )
        .layer(limited)
    }
}
