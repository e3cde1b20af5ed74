use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::telemetry::metrics::recorder::Recorder;
use crate::telemetry::metrics::{MetricsBody, Status};

pin_project! {
    /// The response of [`super::ServerMetrics`]: hands the request's sample
    /// to the body, or records it on error or when dropped unfinished.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        recorder: Option<Recorder>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(recorder) = this.project().recorder.take() {
                recorder.on_drop();
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, recorder: Recorder) -> Self {
        Self {
            inner,
            recorder: Some(recorder),
        }
    }
}

impl<F, R, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<MetricsBody<R>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        // The recorder is there unless polled after completion; then the
        // request was recorded already.
        let recorder = this.recorder.take();
        match out {
            Ok(res) => Poll::Ready(Ok(Recorder::wrap(recorder, res))),
            Err(e) => {
                if let Some(r) = recorder {
                    r.finish(Status::Name("error"));
                }
                Poll::Ready(Err(e))
            }
        }
    }
}
