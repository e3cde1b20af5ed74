use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::pool::PooledEndpoint;
use crate::error::MeshError;

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
    /// and failures recorded.
    pub struct ResponseFuture<F, E> {
        #[pin]
        inner: F,
        in_flight: InFlight<E>,
        started: Instant,
    }
}

impl<F, E> ResponseFuture<F, E> {
    pub(super) fn new(inner: F, endpoint: Arc<PooledEndpoint<E>>) -> Self {
        endpoint.load.start();
        Self {
            inner,
            in_flight: InFlight(endpoint),
            started: Instant::now(),
        }
    }
}

impl<F, E, T> Future for ResponseFuture<F, E>
where
    F: Future<Output = Result<T, MeshError>>,
{
    type Output = Result<T, MeshError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        let endpoint = &this.in_flight.0;
        let now = Instant::now();
        match &out {
            Ok(_) => {
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
