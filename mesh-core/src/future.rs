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
            Proj::Failed { error } => {
                // The error is ready at once, so a caller that retries in a
                // loop would never yield and could starve its runtime:
                // spend tokio's cooperative budget like any I/O would.
                let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
                coop.made_progress();
                match error.take() {
                    Some(e) => Poll::Ready(Err(e)),
                    None => panic!("FailOr polled after completion"),
                }
            }
            Proj::Inner { future } => future.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// On a one-thread runtime, a task that loops on immediate failures
    /// must still let another task run.
    #[tokio::test(flavor = "current_thread")]
    async fn immediate_failures_yield_to_other_tasks() {
        let other_ran = Arc::new(AtomicBool::new(false));
        let flag = other_ran.clone();
        let looping = tokio::spawn(async move {
            let mut calls = 0u32;
            while !flag.load(Ordering::SeqCst) && calls < 1_000_000 {
                let failed = FailOr::<std::future::Ready<Result<(), MeshError>>>::fail(
                    MeshError::Body("refused".into()),
                );
                assert!(failed.await.is_err());
                calls += 1;
            }
            calls
        });
        let flag = other_ran.clone();
        tokio::spawn(async move { flag.store(true, Ordering::SeqCst) });
        let calls = looping.await.expect("the loop ends");
        assert!(calls < 1_000_000, "the other task never ran");
        assert!(other_ran.load(Ordering::SeqCst));
    }
}
