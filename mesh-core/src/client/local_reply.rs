//! Turns the mesh's own errors into protocol responses.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::MeshBody;
use crate::error::MeshError;
use crate::protocol::Protocol;

/// Answers a [`MeshError`] the way the protocol expects: a trailers-only
/// gRPC status or an HTTP error status, so generated clients see a proper
/// `Status` and HTTP clients a proper response, never a transport error.
#[derive(Clone, Debug)]
pub struct LocalReply<S> {
    inner: S,
    protocol: Protocol,
}

/// Wraps a client in [`LocalReply`].
#[derive(Clone, Copy, Debug)]
pub struct LocalReplyLayer {
    protocol: Protocol,
}

impl LocalReplyLayer {
    /// Replies in `protocol`'s terms.
    pub fn new(protocol: Protocol) -> Self {
        Self { protocol }
    }
}

impl<S> Layer<S> for LocalReplyLayer {
    type Service = LocalReply<S>;

    fn layer(&self, inner: S) -> LocalReply<S> {
        LocalReply {
            inner,
            protocol: self.protocol,
        }
    }
}

impl<S, B, R> Service<Request<B>> for LocalReply<S>
where
    S: Service<Request<B>, Response = Response<R>, Error = MeshError>,
{
    type Response = Response<MeshBody<R>>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The layers below are always ready or report a `MeshError` for a
        // request; a readiness error has no request to answer, so it is
        // deferred to `call`, which will see it again.
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(req),
            protocol: self.protocol,
        }
    }
}

pin_project! {
    /// The response of [`LocalReply`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        protocol: Protocol,
    }
}

impl<F, R> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<R>, MeshError>>,
{
    type Output = Result<Response<MeshBody<R>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        Poll::Ready(Ok(match ready!(this.inner.poll(cx)) {
            Ok(res) => res.map(MeshBody::upstream),
            Err(err) => {
                tracing::debug!(error = %err, "answered by the mesh");
                this.protocol.local_reply(&err)
            }
        }))
    }
}
