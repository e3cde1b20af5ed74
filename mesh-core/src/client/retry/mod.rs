//! Retries: sends a failed attempt again by the route's retry policy,
//! within the route's retry budget, with jittered exponential backoff, and
//! never past the request's deadline.
//!
//! Only bodies that are complete when the request is made (and at most
//! [`body::MAX_REPLAY_BYTES`]) can be sent twice; others go out once.
//!
//! The first attempt is the caller's request itself, extensions and all;
//! the layer keeps a copy of its method, URI, version and headers (one
//! allocation) to build any retry from. A retried attempt carries the
//! request's [`RouteDecision`], but not the caller's other extensions:
//! `http::Extensions` can only be copied whole, one allocation per value
//! plus two for the map, on every request whether it is retried or not.
//! The layers below the retry layer (the balancer and the transport) need
//! none of them. linkerd2-proxy's retries make the same choice.

mod body;
mod budget;
mod classify;
mod future;
mod layer;

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use tokio::time::Instant;
use tower_service::Service;

pub use body::{Buffered, Buffering, MAX_REPLAY_BYTES, RetryBody, buffer};
pub use budget::Budget;
pub use future::ResponseFuture;
pub use layer::RetryLayer;

use crate::client::deadline::RequestDeadline;
use crate::client::route::RouteDecision;
use crate::error::{BoxError, MeshError};
use crate::mesh::Mesh;
use crate::protocol::{GRPC_TIMEOUT, Protocol, grpc_timeout_parts, shared_header_value};

/// Retries requests by their route's policy.
#[derive(Clone, Debug)]
pub struct Retry<S> {
    inner: S,
    mesh: Mesh,
    target: Arc<str>,
    protocol: Protocol,
}

/// Tells a gRPC destination how long it has: the time left to the
/// deadline, or to the end of this attempt if that comes first.
fn set_grpc_timeout(
    headers: &mut http::HeaderMap,
    protocol: Protocol,
    deadline: Option<&RequestDeadline>,
    attempt_ends: Option<Instant>,
) {
    if protocol != Protocol::Grpc {
        return;
    }
    let Some(end) = [deadline.map(|d| d.at), attempt_ends]
        .into_iter()
        .flatten()
        .min()
    else {
        return;
    };
    let left = end.saturating_duration_since(Instant::now());
    if let Some(v) = grpc_timeout_value(left) {
        headers.insert(GRPC_TIMEOUT, v);
    }
}

/// [`crate::protocol::encode_grpc_timeout`] as a header value.
///
/// Rounded to three figures, consecutive requests on a route nearly always
/// send the same value, so each thread keeps the last one and hands out
/// clones (a reference count, no allocation); a new value is formatted on
/// the stack into one allocation. The value is left indexable: it repeats,
/// so HPACK sends it as a one-byte table reference.
fn grpc_timeout_value(left: std::time::Duration) -> Option<HeaderValue> {
    use std::cell::RefCell;
    use std::io::Write as _;
    type Last = Option<(u128, &'static str, HeaderValue)>;
    thread_local! {
        static LAST: RefCell<Last> = const { RefCell::new(None) };
    }
    let (value, unit) = grpc_timeout_parts(left);
    LAST.with_borrow_mut(|last| {
        if let Some((v, u, header)) = last.as_ref()
            && (*v, *u) == (value, unit)
        {
            return Some(header.clone());
        }
        let mut buf = [0u8; 16];
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        write!(cursor, "{value}{unit}").ok()?;
        let n = usize::try_from(cursor.position()).ok()?;
        let header = shared_header_value(buf.get(..n)?)?;
        *last = Some((value, unit, header.clone()));
        Some(header)
    })
}

impl<S, B, R> Service<Request<B>> for Retry<S>
where
    S: Service<Request<RetryBody<B>>, Response = Response<R>, Error = MeshError> + Clone,
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Response = Response<R>;
    type Error = MeshError;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), MeshError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The service that was polled ready takes this request; the clone
        // waits for the next one (tower's readiness contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let deadline = RequestDeadline::of(req.extensions());
        let decision = req.extensions().get::<RouteDecision>();
        let Some(decision) = decision.filter(|d| d.route().retry.is_some()).cloned() else {
            let (mut head, body) = req.into_parts();
            set_grpc_timeout(&mut head.headers, self.protocol, deadline.as_ref(), None);
            return ResponseFuture::once(
                inner.call(Request::from_parts(head, RetryBody::streaming(body))),
            );
        };
        if let Some(budget) = decision.retry_budget() {
            budget.deposit();
        }
        let (head, body) = req.into_parts();
        match buffer(body) {
            Buffering::Streaming(body) => {
                let mut head = head;
                set_grpc_timeout(&mut head.headers, self.protocol, deadline.as_ref(), None);
                ResponseFuture::once(inner.call(Request::from_parts(head, body)))
            }
            Buffering::Complete(body) => ResponseFuture::retrying(future::Retrying::start(
                inner,
                head,
                body,
                decision,
                self.protocol,
                self.mesh.clone(),
                self.target.clone(),
            )),
        }
    }
}

#[cfg(test)]
mod tests;
