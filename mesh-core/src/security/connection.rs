//! What the server knows about the connection a request came on.

use std::net::SocketAddr;
use std::sync::Arc;

use mesh_identity::SpiffeId;

/// The connection a request arrived on: addresses, whether it is TLS, and
/// the caller's verified SPIFFE identity if it presented a certificate.
///
/// The mesh's accept loops (`mesh_tonic::MeshServerLayer::incoming`,
/// `mesh_hyper::MeshServerLayer::serve`) put it in every request's
/// extensions; authorization reads it, and so may the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The server's own address (its port is the port policies match).
    pub local_addr: SocketAddr,
    /// The caller's address.
    pub remote_addr: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The caller's identity, verified against the trust bundle, when it
    /// presented a certificate (mutual TLS). Shared, as every request on
    /// the connection carries a copy of this.
    pub peer: Option<Arc<SpiffeId>>,
}

/// Puts a connection's [`ConnectionInfo`] into each request's extensions,
/// for servers (like hyper's) that do not do it themselves.
#[derive(Clone, Debug)]
pub struct WithConnectionInfo<S> {
    inner: S,
    info: ConnectionInfo,
}

impl<S> WithConnectionInfo<S> {
    /// Wraps `inner` for the connection described by `info`.
    pub fn new(inner: S, info: ConnectionInfo) -> Self {
        Self { inner, info }
    }
}

impl<S, B> tower_service::Service<http::Request<B>> for WithConnectionInfo<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> S::Future {
        req.extensions_mut().insert(self.info.clone());
        self.inner.call(req)
    }
}
