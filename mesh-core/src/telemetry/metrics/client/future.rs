use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::error::MeshError;
use crate::protocol::{Protocol, grpc_code_name};
use crate::telemetry::metrics::recorder::Recorder;
use crate::telemetry::metrics::{MetricsBody, Status};

pin_project! {
    /// The response of [`super::ClientMetrics`]: hands the request's sample
    /// to the body, or records it on error or when dropped unfinished.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        recorder: Option<Recorder>,
        protocol: Protocol,
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
    pub(super) fn new(inner: F, recorder: Recorder, protocol: Protocol) -> Self {
        Self {
            inner,
            recorder: Some(recorder),
            protocol,
        }
    }
}

impl<F, R> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<R>, MeshError>>,
{
    type Output = Result<Response<MetricsBody<R>>, MeshError>;

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
                    let (http, grpc) = Protocol::error_codes(&e);
                    r.finish(match this.protocol {
                        Protocol::Http => Status::Http(http.as_u16()),
                        Protocol::Grpc => Status::Name(grpc_code_name(grpc)),
                    });
                }
                Poll::Ready(Err(e))
            }
        }
    }
}
