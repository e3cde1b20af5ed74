use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;

use crate::body::MeshBody;

pin_project! {
    /// The response of a server layer that may answer a request itself
    /// ([`super::rate_limit::RateLimit`], [`super::authorize::Authorize`]).
    // pin-project-lite takes no attributes on fields; each variant's doc
    // says what its field holds.
    #[allow(missing_docs)]
    #[project = Proj]
    pub enum ResponseFuture<F, B> {
        /// Refused: the local reply, taken once.
        Rejected { reply: Option<Response<MeshBody<B>>> },
        /// Admitted: the inner service's response.
        Inner { #[pin] future: F },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn rejected(reply: Response<MeshBody<B>>) -> Self {
        ResponseFuture::Rejected { reply: Some(reply) }
    }

    pub(crate) fn inner(future: F) -> Self {
        ResponseFuture::Inner { future }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<MeshBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Rejected { reply } => match reply.take() {
                Some(r) => Poll::Ready(Ok(r)),
                None => panic!("ResponseFuture polled after completion"),
            },
            Proj::Inner { future } => {
                let res = ready!(future.poll(cx))?;
                Poll::Ready(Ok(res.map(MeshBody::upstream)))
            }
        }
    }
}
