use std::net::SocketAddr;

use mesh_core::Mesh;
use mesh_core::protocol::Protocol;
use mesh_core::registration::{Registration, RegistrationBuilder};
use mesh_core::security::{Accepted, WorkloadPolicy};
use mesh_core::server::{ServerLayer, ServerStack};
use tokio::net::TcpListener;
use tokio_stream::wrappers::ReceiverStream;
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

    /// A registration of this server with the control plane at
    /// `control_plane` (`http://host:port`), as an endpoint of this
    /// layer's service at `addr` (the address other workloads reach it
    /// at). Add labels, then [`RegistrationBuilder::start`] it; see
    /// [`mesh_core::registration`].
    ///
    /// ```no_run
    /// use mesh_core::{Mesh, policy::Policy};
    /// use mesh_tonic::MeshServerLayer;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mesh = Mesh::new(Policy::empty());
    /// let layer = MeshServerLayer::new(&mesh, "attendees");
    /// let listener = tokio::net::TcpListener::bind("10.0.0.7:50051").await?;
    /// let registration = layer
    ///     .registration("http://127.0.0.1:15010", listener.local_addr()?)
    ///     .label("version", "v2")
    ///     .start()?;
    /// let server = tonic::transport::Server::builder().layer(layer);
    /// // ... add services, serve on `listener` until told to stop, then:
    /// registration.shutdown().await?; // leaves the service at once
    /// # let _ = server;
    /// # Ok(())
    /// # }
    /// ```
    pub fn registration(&self, control_plane: &str, addr: SocketAddr) -> RegistrationBuilder {
        Registration::builder(control_plane, self.inner.service(), addr)
    }

    /// Sets the namespace and labels that `PeerAuthentication` and
    /// `AuthorizationPolicy` selectors match this workload by (default:
    /// `app: <service>` in the namespace of the mesh's identity).
    pub fn workload(mut self, workload: WorkloadPolicy) -> Self {
        self.inner = self.inner.workload(workload);
        self
    }

    /// The connections `listener` accepts, with TLS terminated as this
    /// workload's `PeerAuthentication` asks (mutual TLS with the mesh's
    /// identity for STRICT and PERMISSIVE callers that start TLS), for
    /// `Server::serve_with_incoming`. Each request then carries a
    /// [`ConnectionInfo`] extension with the caller's verified SPIFFE
    /// identity, which authorization reads and so may the handler.
    ///
    /// ```no_run
    /// use mesh_core::{Mesh, policy::Policy};
    /// use mesh_tonic::MeshServerLayer;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mesh = Mesh::new(Policy::empty());
    /// let layer = MeshServerLayer::new(&mesh, "attendees");
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
    /// let incoming = layer.incoming(listener);
    /// tonic::transport::Server::builder()
    ///     .layer(layer)
    ///     // .add_service(...)
    /// #   .add_service(tonic_health::server::health_reporter().1)
    ///     .serve_with_incoming(incoming)
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn incoming(&self, listener: TcpListener) -> ReceiverStream<std::io::Result<Accepted>> {
        self.inner.acceptor(&[b"h2"]).incoming(listener)
    }
}

impl<S> Layer<S> for MeshServerLayer {
    type Service = ServerStack<S>;

    fn layer(&self, inner: S) -> ServerStack<S> {
        self.inner.layer(inner)
    }
}
