use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::pool::PooledEndpoint;
use crate::error::MeshError;

/// The endpoint that answered: a response extension the balancer adds to
/// the responses of requests that carry [`ReportServedBy`], so that callers
/// (probes, tests, access logs) can tell which endpoint served a request:
/// `res.extensions().get::<ServedBy>()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServedBy(pub SocketAddr);

/// A request extension asking for [`ServedBy`] on the response, as gRPC's
/// `grpc.Peer` call option asks for the peer.
///
/// Opt-in because a response's extensions are usually empty, and the
/// first one costs three heap allocations (the map, its table and the
/// value) on every request.
///
/// ```
/// use mesh_core::client::balance::ReportServedBy;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(ReportServedBy);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReportServedBy;

/// Keeps the endpoint's in-flight count right even when the request is
/// dropped before it finishes.
struct InFlight<E>(Arc<PooledEndpoint<E>>);

impl<E> Drop for InFlight<E> {
    fn drop(&mut self) {
        self.0.load.finish();
    }
}

pin_project! {
    /// The response of [`super::Balance`]: the endpoint's, with its latency
    /// and failures recorded and, if asked for, [`ServedBy`] in its
    /// extensions.
    pub struct ResponseFuture<F, E> {
        #[pin]
        inner: F,
        in_flight: InFlight<E>,
        started: Instant,
        report_served_by: bool,
    }
}

impl<F, E> ResponseFuture<F, E> {
    pub(super) fn new(inner: F, endpoint: Arc<PooledEndpoint<E>>, report_served_by: bool) -> Self {
        endpoint.load.start();
        Self {
            inner,
            in_flight: InFlight(endpoint),
            started: Instant::now(),
            report_served_by,
        }
    }
}

impl<F, E, B> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<Response<B>, MeshError>>,
{
    type Output = Result<Response<B>, MeshError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut out = ready!(this.inner.poll(cx));
        let endpoint = &this.in_flight.0;
        let now = Instant::now();
        match &mut out {
            Ok(res) => {
                if *this.report_served_by {
                    res.extensions_mut().insert(ServedBy(endpoint.addr));
                }
                endpoint.load.connected();
                endpoint.load.observe(now - *this.started, now);
            }
            Err(MeshError::Connect { .. }) => {
                tracing::debug!(addr = %endpoint.addr, "connect failed; endpoint backs off");
                endpoint.load.connect_failed(now);
            }
            Err(_) => {}
        }
        Poll::Ready(out)
    }
}
