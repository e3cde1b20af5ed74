//! Outbound request metrics, per route and destination.

mod future;
mod layer;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

pub use future::ResponseFuture;
pub use layer::ClientMetricsLayer;

use super::ClientLabels;
use super::recorder::{Recorder, Sink};
use crate::client::route::RouteDecision;
use crate::error::MeshError;
use crate::mesh::Mesh;
use crate::protocol::Protocol;

/// Counts and times the requests of a client for one target.
///
/// Sits inside the route layer and reads its [`RouteDecision`] for the
/// `route`, `dest_service` and `dest_subset` labels (`unknown` when a
/// request carries none). The `status` label is:
///
/// - for a [`MeshError`], what the mesh answers with
///   ([`Protocol::error_codes`]): the HTTP status, or the gRPC code name;
/// - for a response, [`Protocol::classify`]; a gRPC status that comes in the
///   trailers is read from them (`UNKNOWN` if the body ends without one);
/// - `CANCELLED` (gRPC) when the body or the response future is dropped
///   before the status is known; for HTTP the response's status, or
///   `cancelled` when no response came.
///
/// Each request is recorded once, when its body ends (so the latency
/// includes the body), when the call fails, or when it is dropped.
#[derive(Clone, Debug)]
pub struct ClientMetrics<S> {
    inner: S,
    mesh: Mesh,
    target: Arc<str>,
    protocol: Protocol,
    /// The `unknown` label value, allocated once per layer.
    unknown: Arc<str>,
}

impl<S> ClientMetrics<S> {
    /// The labels for `req`: allocated once per request, then moved.
    fn labels<B>(&self, req: &Request<B>) -> ClientLabels {
        match req.extensions().get::<RouteDecision>() {
            Some(decision) => {
                let dest = decision.destination();
                ClientLabels {
                    target: self.target.clone(),
                    route: decision.route().name.as_str().into(),
                    dest_service: dest.host.as_str().into(),
                    dest_subset: dest.subset.as_deref().map(Arc::from),
                }
            }
            None => ClientLabels {
                target: self.target.clone(),
                route: self.unknown.clone(),
                dest_service: self.unknown.clone(),
                dest_subset: Some(self.unknown.clone()),
            },
        }
    }
}

impl<S, B, R> Service<Request<B>> for ClientMetrics<S>
where
    S: Service<Request<B>, Response = Response<R>, Error = MeshError>,
{
    type Response = Response<super::MetricsBody<R>>;
    type Error = MeshError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), MeshError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let sink = Sink::Client(self.labels(&req));
        let recorder = Recorder::start(self.mesh.clone(), sink, self.protocol);
        ResponseFuture::new(self.inner.call(req), recorder, self.protocol)
    }
}
