use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

pin_project! {
    /// The response of [`super::ClientTrace`]: the inner future, polled
    /// inside the `mesh.client` span.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, span: tracing::Span) -> Self {
        Self { inner, span }
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let out = ready!(this.inner.poll(cx));
        if let Ok(res) = &out {
            this.span.record("status", res.status().as_u16());
        }
        Poll::Ready(out)
    }
}
