use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::{RequestScope, TraceBody};

pin_project! {
    /// The response of [`super::ServerTrace`]: the handler's future, polled
    /// under the request's [`opentelemetry::Context`] and deadline and
    /// inside the `mesh.server` span; the body then carries all three.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        scope: RequestScope,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, scope: RequestScope) -> Self {
        Self { inner, scope }
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<TraceBody<R>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = {
            let _entered = this.scope.enter();
            ready!(this.inner.poll(cx))?
        };
        // Done: hand the scope on to the body.
        let scope = this.scope.take();
        Poll::Ready(Ok(res.map(|body| TraceBody::new(body, scope))))
    }
}
