//! The inbound side: [`MeshServerLayer`] and a small [`serve`] loop.

use std::future::Future;
use std::net::SocketAddr;

use futures_util::{Stream, StreamExt};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mesh_core::protocol::Protocol;
use mesh_core::registration::{Registration, RegistrationBuilder};
use mesh_core::security::{
    Accepted, ConnectionInfo, MeshAcceptor, WithConnectionInfo, WorkloadPolicy,
};
use mesh_core::server::{ServerLayer, ServerStack};
use mesh_core::transport::BoxedExecutor;
use mesh_core::{BoxError, Mesh};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_layer::Layer;
use tower_service::Service;

/// The mesh's inbound stack for a hyper service speaking plain HTTP.
///
/// It applies the policy's rate limits for the service (refusals are 429
/// with `retry-after` and a body naming the policy), extracts the caller's
/// trace context so that requests the handler makes through a
/// [`crate::MeshClient`] continue the trace, and counts requests.
///
/// Wrap a `tower::Service<http::Request<hyper::body::Incoming>>` in it and
/// serve it with hyper-util's `auto::Builder` (HTTP/1.1 and h2c on one
/// port), or with [`serve`]:
///
/// ```no_run
/// use std::convert::Infallible;
///
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hyper_util::rt::{TokioExecutor, TokioIo};
/// use hyper_util::server::conn::auto::Builder;
/// use hyper_util::service::TowerToHyperService;
/// use mesh_core::{Mesh, policy::Policy};
/// use mesh_hyper::MeshServerLayer;
/// use tower::Layer;
///
/// async fn hello(
///     _req: http::Request<hyper::body::Incoming>,
/// ) -> Result<http::Response<Full<Bytes>>, Infallible> {
///     Ok(http::Response::new(Full::new(Bytes::from_static(b"hello"))))
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// let mesh = Mesh::new(Policy::empty());
/// let service = MeshServerLayer::new(&mesh, "attendees").layer(tower::service_fn(hello));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// loop {
///     let (stream, _) = listener.accept().await?;
///     let service = TowerToHyperService::new(service.clone());
///     tokio::spawn(async move {
///         let conn = Builder::new(TokioExecutor::new());
///         if let Err(e) = conn.serve_connection(TokioIo::new(stream), service).await {
///             eprintln!("connection failed: {e}");
///         }
///     });
/// }
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MeshServerLayer {
    inner: ServerLayer,
}

impl MeshServerLayer {
    /// The inbound stack for the service named `service` in the policy.
    pub fn new(mesh: &Mesh, service: &str) -> Self {
        Self {
            inner: ServerLayer::new(mesh, service, Protocol::Http),
        }
    }

    /// A registration of this server with the control plane at
    /// `control_plane` (`http://host:port`), as an endpoint of this
    /// layer's service at `addr` (the address other workloads reach it
    /// at). Add labels, then [`RegistrationBuilder::start`] it; see
    /// [`mesh_core::registration`].
    ///
    /// ```no_run
    /// # use std::convert::Infallible;
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// use mesh_core::{Mesh, policy::Policy};
    /// use mesh_hyper::{MeshServerLayer, serve};
    /// use tower::Layer;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let mesh = Mesh::new(Policy::empty());
    /// let layer = MeshServerLayer::new(&mesh, "attendees");
    /// let listener = tokio::net::TcpListener::bind("10.0.0.7:8080").await?;
    /// let registration = layer
    ///     .registration("http://127.0.0.1:15010", listener.local_addr()?)
    ///     .label("version", "v2")
    ///     .start()?;
    /// let service = layer.layer(tower::service_fn(
    ///     |_req: http::Request<hyper::body::Incoming>| async {
    ///         Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"hello"))))
    ///     },
    /// ));
    /// serve(listener, service, async {
    ///     let _ = tokio::signal::ctrl_c().await;
    /// })
    /// .await;
    /// registration.shutdown().await?; // leaves the service at once
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

    /// Serves `app` inside this layer on every connection `listener`
    /// accepts, until `shutdown` completes, terminating TLS as the
    /// workload's `PeerAuthentication` asks (mutual TLS with the mesh's
    /// identity; HTTP/1.1 or HTTP/2 by ALPN, or h2c and HTTP/1.1 in
    /// plaintext). Each request carries a [`ConnectionInfo`] extension
    /// with the caller's verified SPIFFE identity. Shutdown works as in
    /// [`serve`].
    pub async fn serve<S, B>(
        &self,
        listener: TcpListener,
        app: S,
        shutdown: impl Future<Output = ()>,
    ) where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let incoming = self
            .inner
            .acceptor(&[b"h2", b"http/1.1"])
            .incoming(listener);
        serve_accepted(incoming, self.layer(app), shutdown).await;
    }
}

impl<S> Layer<S> for MeshServerLayer {
    type Service = ServerStack<S>;

    fn layer(&self, inner: S) -> ServerStack<S> {
        self.inner.layer(inner)
    }
}

/// Serves `service` on every connection `listener` accepts, over HTTP/1.1
/// or h2c (whichever the client speaks), until `shutdown` completes.
///
/// When `shutdown` completes it stops accepting, asks every open
/// connection to finish its in-flight requests and close, and returns once
/// they have. Dropping the future instead (for instance by aborting the
/// task it runs in) closes every connection at once.
///
/// ```no_run
/// # use std::convert::Infallible;
/// # use bytes::Bytes;
/// # use http_body_util::Full;
/// use mesh_core::{Mesh, policy::Policy};
/// use mesh_hyper::{MeshServerLayer, serve};
/// use tower::Layer;
///
/// # async fn run() -> std::io::Result<()> {
/// let mesh = Mesh::new(Policy::empty());
/// let service = MeshServerLayer::new(&mesh, "attendees").layer(tower::service_fn(
///     |_req: http::Request<hyper::body::Incoming>| async {
///         Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"hello"))))
///     },
/// ));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// serve(listener, service, async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await;
/// # Ok(())
/// # }
/// ```
pub async fn serve<S, B>(listener: TcpListener, service: S, shutdown: impl Future<Output = ()>)
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    serve_accepted(
        MeshAcceptor::plaintext().incoming(listener),
        service,
        shutdown,
    )
    .await;
}

/// Serves `service` on every accepted connection until `shutdown`
/// completes, then drains the open connections.
async fn serve_accepted<S, B>(
    incoming: impl Stream<Item = std::io::Result<Accepted>>,
    service: S,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (stop, stopping) = watch::channel(false);
    // Owns the connections: dropping `serve` aborts them all.
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut incoming = std::pin::pin!(incoming);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = incoming.next() => accepted,
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let conn = match accepted {
            Some(Ok(conn)) => conn,
            // The acceptor logs and skips failed connections itself.
            Some(Err(e)) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
            None => break,
        };
        let info: ConnectionInfo = conn.info().clone();
        let service = TowerToHyperService::new(WithConnectionInfo::new(service.clone(), info));
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            // Boxed: hyper's HTTP/2 server spawns a task per request
            // holding the service's future (see `BoxedExecutor`).
            let builder = auto::Builder::new(BoxedExecutor);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(conn), service);
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                // The guard `wait_for` returns must not live across an await.
                () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}
