//! Inbound request metrics, per service.

mod future;
mod layer;

use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

pub use future::ResponseFuture;
pub use layer::ServerMetricsLayer;

use super::recorder::{Recorder, Sink};
use super::{Series, ServerLabels};
use crate::mesh::Mesh;
use crate::protocol::Protocol;

/// Counts and times the requests a server answers for one service.
///
/// The `status` label is [`Protocol::classify`] of the response (a gRPC
/// status that comes in the trailers is read from them, `UNKNOWN` if the
/// body ends without one); `error` when the inner service fails (the error
/// passes through); `CANCELLED` (gRPC) when the body or the response future
/// is dropped before the status is known, and for HTTP the response's
/// status, or `cancelled` when no response was made.
///
/// Each request is recorded once, when its body ends (so the latency
/// includes the body), when the call fails, or when it is dropped.
#[derive(Clone, Debug)]
pub struct ServerMetrics<S> {
    inner: S,
    mesh: Mesh,
    labels: ServerLabels,
    protocol: Protocol,
    /// The service's series, looked up on the first request; shared by
    /// clones (one per connection).
    series: Arc<OnceLock<Arc<Series<ServerLabels>>>>,
}

impl<S, B, R> Service<Request<B>> for ServerMetrics<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<super::MetricsBody<R>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // One `Arc` clone: nothing allocated or looked up per request.
        let series = self.series.get_or_init(|| {
            self.mesh
                .metrics()
                .server_series(self.labels.clone(), self.protocol)
        });
        let sink = Sink::Server(series.clone());
        let recorder = Recorder::start(self.mesh.clone(), sink, self.protocol);
        ResponseFuture::new(self.inner.call(req), recorder)
    }
}
