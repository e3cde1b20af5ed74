//! A future shared by layers that can fail before calling their inner
//! service.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::error::MeshError;

pin_project! {
    /// Either the mesh's own error, decided before the inner service was
    /// called, or the inner service's response.
    // pin-project-lite takes no attributes on fields; each variant's doc
    // says what its field holds.
    #[allow(missing_docs)]
    #[project = Proj]
    #[derive(Debug)]
    pub enum FailOr<F> {
        /// Failed before calling the inner service; the error is taken once.
        Failed { error: Option<MeshError> },
        /// Waiting on the inner service.
        Inner { #[pin] future: F },
    }
}

impl<F> FailOr<F> {
    /// A future that fails with `error`.
    pub fn fail(error: MeshError) -> Self {
        FailOr::Failed { error: Some(error) }
    }

    /// A future that waits on `future`.
    pub fn inner(future: F) -> Self {
        FailOr::Inner { future }
    }
}

impl<F, T> Future for FailOr<F>
where
    F: Future<Output = Result<T, MeshError>>,
{
    type Output = Result<T, MeshError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Failed { error } => match error.take() {
                Some(e) => Poll::Ready(Err(e)),
                None => panic!("FailOr polled after completion"),
            },
            Proj::Inner { future } => future.poll(cx),
        }
    }
}
