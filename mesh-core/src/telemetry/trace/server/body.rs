use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::RequestScope;

pin_project! {
    /// The response body of [`super::ServerTrace`]: the handler's body,
    /// polled under the request's [`opentelemetry::Context`] and deadline
    /// and inside the `mesh.server` span, so a streaming handler's
    /// outbound calls continue the trace and keep the deadline too. Data
    /// and errors are the inner body's.
    #[derive(Debug)]
    pub struct TraceBody<B> {
        #[pin]
        inner: B,
        scope: RequestScope,
    }
}

impl<B> TraceBody<B> {
    pub(super) fn new(inner: B, scope: RequestScope) -> Self {
        Self { inner, scope }
    }

    /// The wrapped body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for TraceBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let _entered = this.scope.enter();
        this.inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
