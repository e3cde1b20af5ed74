//! Deadlines: the route's timeout, clamped by any deadline the request
//! already carries (a `grpc-timeout` the caller set, or the deadline of the
//! inbound request a handler is serving), enforced over all attempts.

mod future;
mod layer;

use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use tokio::time::Instant;
use tower_service::Service;

pub use future::ResponseFuture;
pub use layer::DeadlineLayer;

use crate::client::route::RouteDecision;
use crate::error::MeshError;
use crate::protocol::{GRPC_TIMEOUT, Protocol, decode_grpc_timeout, find_header};
use crate::telemetry::context::inbound_deadline;

/// When a request must be finished, for the retry layer (which never
/// starts an attempt past it and tells the destination how long is left).
///
/// The deadline layer writes it into the request's [`RouteDecision`]; a
/// request that reached the deadline layer without one (the layer used
/// without routing) carries it as an extension of its own.
/// [`RequestDeadline::of`] reads either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestDeadline {
    /// The instant the request fails.
    pub at: Instant,
    /// How long the request had when it started.
    pub budget: Duration,
    /// Whether a caller's or inbound deadline was shorter than the route's
    /// timeout.
    pub clamped: bool,
}

impl RequestDeadline {
    /// The deadline of a request, from its extensions.
    pub fn of(extensions: &http::Extensions) -> Option<Self> {
        match extensions.get::<RouteDecision>() {
            Some(decision) => decision.deadline().copied(),
            None => extensions.get::<Self>().copied(),
        }
    }
}

/// Enforces the route timeout and any inherited deadline.
#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    protocol: Protocol,
}

/// The earliest of the route's timeout, the caller's `grpc-timeout` and
/// the inbound request's deadline.
fn deadline_for<B>(req: &Request<B>, protocol: Protocol, now: Instant) -> Option<RequestDeadline> {
    let route = req
        .extensions()
        .get::<RouteDecision>()
        .and_then(|d| d.route().timeout)
        .map(|t| now + t);
    let caller = match protocol {
        Protocol::Grpc => find_header(req.headers(), &GRPC_TIMEOUT)
            .and_then(decode_grpc_timeout)
            .map(|t| now + t),
        Protocol::Http => None,
    };
    let inherited = [caller, inbound_deadline()].into_iter().flatten().min();
    let at = [route, inherited].into_iter().flatten().min()?;
    Some(RequestDeadline {
        at,
        budget: at.saturating_duration_since(now),
        clamped: inherited.is_some_and(|i| route.is_none_or(|r| i < r)),
    })
}

impl<S, B> Service<Request<B>> for Deadline<S>
where
    S: Service<Request<B>, Error = MeshError>,
{
    type Response = S::Response;
    type Error = MeshError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), MeshError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let Some(deadline) = deadline_for(&req, self.protocol, Instant::now()) else {
            return ResponseFuture::unbounded(self.inner.call(req));
        };
        // The decision (an `Arc`) names the route if the deadline passes;
        // copying the name now would allocate on every request.
        let route = match req.extensions_mut().get_mut::<RouteDecision>() {
            Some(decision) => {
                decision.set_deadline(deadline);
                Some(decision.clone())
            }
            None => {
                req.extensions_mut().insert(deadline);
                None
            }
        };
        ResponseFuture::bounded(self.inner.call(req), deadline, route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::route::RouteLayer;
    use crate::mesh::Mesh;
    use crate::policy::{Destination, Endpoint, Policy, Route};
    use tower::{ServiceExt, service_fn};
    use tower_layer::Layer;

    fn mesh(timeout: Option<Duration>) -> Mesh {
        let mut route = Route::to("r", Destination::new("svc"));
        route.timeout = timeout;
        Mesh::new(
            Policy::builder()
                .service(
                    crate::policy::Service::new("svc")
                        .endpoint(Endpoint::new("127.0.0.1:1".parse().unwrap())),
                )
                .routes("svc", [route])
                .build()
                .unwrap(),
        )
    }

    /// A destination that answers after `delay`, reporting the deadline it
    /// was given.
    fn slow(
        delay: Duration,
    ) -> impl Service<
        Request<()>,
        Response = Option<RequestDeadline>,
        Error = MeshError,
        Future = impl Send,
    > + Clone {
        service_fn(move |req: Request<()>| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, MeshError>(RequestDeadline::of(req.extensions()))
        })
    }

    fn stack<S: Clone>(
        mesh: &Mesh,
        inner: S,
        protocol: Protocol,
    ) -> crate::client::route::Route<Deadline<S>> {
        RouteLayer::new(mesh.clone(), "svc").layer(DeadlineLayer::new(protocol).layer(inner))
    }

    #[tokio::test(start_paused = true)]
    async fn route_timeout_fails_a_slow_request() {
        let mesh = mesh(Some(Duration::from_millis(100)));
        let req = Request::builder().uri("/x").body(()).unwrap();
        let err = stack(&mesh, slow(Duration::from_secs(1)), Protocol::Http)
            .oneshot(req)
            .await
            .unwrap_err();
        assert!(
            matches!(err, MeshError::DeadlineExceeded { clamped: false, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("route r"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fast_request_sees_its_deadline() {
        let mesh = mesh(Some(Duration::from_millis(100)));
        let req = Request::builder().uri("/x").body(()).unwrap();
        let seen = stack(&mesh, slow(Duration::from_millis(10)), Protocol::Http)
            .oneshot(req)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen.budget, Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn caller_grpc_timeout_clamps_the_route_timeout() {
        let mesh = mesh(Some(Duration::from_secs(10)));
        let req = Request::builder()
            .uri("/x")
            .header("grpc-timeout", "50m")
            .body(())
            .unwrap();
        let err = stack(&mesh, slow(Duration::from_secs(1)), Protocol::Grpc)
            .oneshot(req)
            .await
            .unwrap_err();
        assert!(
            matches!(err, MeshError::DeadlineExceeded { clamped: true, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("clamped"), "{err}");
    }

    /// Without the route layer there is no decision to hold the deadline:
    /// it travels as an extension of its own, and `RequestDeadline::of`
    /// finds it there.
    #[tokio::test(start_paused = true)]
    async fn unrouted_requests_carry_the_deadline_as_an_extension() {
        let req = Request::builder()
            .uri("/x")
            .header("grpc-timeout", "50m")
            .body(())
            .unwrap();
        let seen = DeadlineLayer::new(Protocol::Grpc)
            .layer(slow(Duration::from_millis(10)))
            .oneshot(req)
            .await
            .unwrap()
            .expect("a deadline");
        assert_eq!(seen.budget, Duration::from_millis(50));
        assert!(seen.clamped);
    }

    #[tokio::test(start_paused = true)]
    async fn no_timeout_means_no_deadline() {
        let mesh = mesh(None);
        let req = Request::builder().uri("/x").body(()).unwrap();
        let seen = stack(&mesh, slow(Duration::from_secs(100)), Protocol::Http)
            .oneshot(req)
            .await
            .unwrap();
        assert_eq!(seen, None);
    }
}
