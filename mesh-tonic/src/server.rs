use mesh_core::Mesh;
use mesh_core::protocol::Protocol;
use mesh_core::server::{ServerLayer, ServerStack};
use tower_layer::Layer;

/// The mesh's inbound stack for a tonic server:
/// `Server::builder().layer(MeshServerLayer::new(&mesh, "attendees"))`.
///
/// It applies the policy's rate limits for the service (refusals are
/// `RESOURCE_EXHAUSTED` naming the policy), extracts the caller's trace
/// context and `grpc-timeout` so that calls the handler makes through a
/// [`crate::MeshChannel`] continue the trace and inherit the deadline, and
/// counts requests.
#[derive(Clone, Debug)]
pub struct MeshServerLayer {
    inner: ServerLayer,
}

impl MeshServerLayer {
    /// The inbound stack for the service named `service` in the policy.
    pub fn new(mesh: &Mesh, service: &str) -> Self {
        Self {
            inner: ServerLayer::new(mesh, service, Protocol::Grpc),
        }
    }
}

impl<S> Layer<S> for MeshServerLayer {
    type Service = ServerStack<S>;

    fn layer(&self, inner: S) -> ServerStack<S> {
        self.inner.layer(inner)
    }
}
