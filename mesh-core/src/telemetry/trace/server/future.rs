use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use super::TraceBody;

pin_project! {
    /// The response of [`super::ServerTrace`]: the handler's future, polled
    /// under the request's [`opentelemetry::Context`] and inside the
    /// `mesh.server` span; the body then carries both.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        cx: opentelemetry::Context,
        span: tracing::Span,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, cx: opentelemetry::Context, span: tracing::Span) -> Self {
        Self { inner, cx, span }
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
            let _attached = this.cx.clone().attach();
            let _entered = this.span.enter();
            ready!(this.inner.poll(cx))?
        };
        // Done: hand the context and span on to the body.
        let otel = std::mem::take(this.cx);
        let span = std::mem::replace(this.span, tracing::Span::none());
        Poll::Ready(Ok(res.map(|body| TraceBody::new(body, otel, span))))
    }
}
