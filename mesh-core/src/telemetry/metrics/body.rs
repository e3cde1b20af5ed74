use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::recorder::Recorder;

pin_project! {
    /// The response body of [`ClientMetrics`](super::ClientMetrics) and
    /// [`ServerMetrics`](super::ServerMetrics): the inner body, unchanged
    /// (same data and errors), that records its request when it sees the
    /// trailers or the end of the stream, or when it is dropped before.
    #[derive(Debug)]
    pub struct MetricsBody<B> {
        #[pin]
        inner: B,
        recorder: Option<Recorder>,
    }

    impl<B> PinnedDrop for MetricsBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(recorder) = this.project().recorder.take() {
                recorder.on_drop();
            }
        }
    }
}

impl<B> MetricsBody<B> {
    /// `recorder` is `None` only if the response future was polled after it
    /// completed; such a body records nothing.
    pub(super) fn new(inner: B, recorder: Option<Recorder>) -> Self {
        Self { inner, recorder }
    }
}

impl<B: Body> Body for MetricsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let Some(trailers) = f.trailers_ref() {
                    if let Some(r) = this.recorder.take() {
                        r.on_trailers(trailers);
                    }
                } else if this.inner.is_end_stream()
                    && let Some(r) = this.recorder.take()
                {
                    r.on_end();
                }
            }
            Some(Err(_)) => {
                if let Some(r) = this.recorder.take() {
                    r.on_body_error();
                }
            }
            None => {
                if let Some(r) = this.recorder.take() {
                    r.on_end();
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
