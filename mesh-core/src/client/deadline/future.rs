use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::time::{Sleep, sleep_until};

use super::RequestDeadline;
use crate::client::route::RouteDecision;
use crate::error::MeshError;

pin_project! {
    /// The response of [`super::Deadline`].
    // pin-project-lite takes no attributes on fields; each variant's doc
    // says what its fields hold.
    #[allow(missing_docs)]
    #[project = Proj]
    pub enum ResponseFuture<F> {
        /// No deadline applies: the inner future as it is.
        Unbounded { #[pin] inner: F },
        /// The inner future, raced against the deadline; `route` (the
        /// routing decision) names the route in the error.
        Bounded {
            #[pin] inner: F,
            #[pin] sleep: Sleep,
            deadline: RequestDeadline,
            route: Option<RouteDecision>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn unbounded(inner: F) -> Self {
        ResponseFuture::Unbounded { inner }
    }

    pub(super) fn bounded(
        inner: F,
        deadline: RequestDeadline,
        route: Option<RouteDecision>,
    ) -> Self {
        crate::timer_anchor::hold_for(deadline.budget);
        ResponseFuture::Bounded {
            inner,
            sleep: sleep_until(deadline.at),
            deadline,
            route,
        }
    }
}

impl<F, T> Future for ResponseFuture<F>
where
    F: Future<Output = Result<T, MeshError>>,
{
    type Output = Result<T, MeshError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Unbounded { inner } => inner.poll(cx),
            Proj::Bounded {
                inner,
                sleep,
                deadline,
                route,
            } => {
                // The response wins a tie: it is already here.
                if let Poll::Ready(out) = inner.poll(cx) {
                    return Poll::Ready(out);
                }
                match sleep.poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(MeshError::DeadlineExceeded {
                        route: route
                            .as_ref()
                            .map(|d| d.route().name.clone())
                            .unwrap_or_default(),
                        elapsed: deadline.budget,
                        clamped: deadline.clamped,
                    })),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}
