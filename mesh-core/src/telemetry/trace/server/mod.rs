//! Inbound trace context: extracts the caller's trace, starts the server's
//! span and runs the handler under a context holding it.

mod body;
mod future;
mod layer;
mod scope;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use opentelemetry::trace::TraceContextExt;
use tokio::time::Instant;
use tower_service::Service;

pub use body::TraceBody;
pub use future::ResponseFuture;
pub use layer::ServerTraceLayer;

use scope::RequestScope;

use super::{child_of, remote_parent, with_baggage};
use crate::protocol::{GRPC_TIMEOUT, decode_grpc_timeout, find_header};

/// Continues the caller's trace for each request to one service.
///
/// Reads `traceparent`, `tracestate` and `baggage`; a malformed
/// `traceparent` is ignored (with its `tracestate`) and a new sampled trace
/// starts, as W3C Trace Context says. Mints the server's span (the caller's
/// trace id, a new span id) and calls the inner service, and polls its
/// future and the response body, under an [`opentelemetry::Context`]
/// holding that span as the current one and the baggage, and with the
/// request's deadline in force when it has a valid `grpc-timeout` (a
/// malformed one is ignored). See [`crate::telemetry::context`].
///
/// Records a `mesh.server` `tracing` span (fields `service`, `method`,
/// `path`, `trace_id`, `span_id`, `parent_span_id`), entered while the
/// handler and the body are polled. Errors pass through untouched.
#[derive(Clone, Debug)]
pub struct ServerTrace<S> {
    inner: S,
    service: Arc<str>,
}

impl<S, B, R> Service<Request<B>> for ServerTrace<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<TraceBody<R>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let parent = remote_parent(req.headers());
        let span = child_of(parent.as_ref());
        let record = tracing::info_span!(
            "mesh.server",
            service = %self.service,
            method = %req.method(),
            path = req.uri().path(),
            trace_id = %span.trace_id(),
            span_id = %span.span_id(),
            parent_span_id = tracing::field::Empty,
        );
        if let Some(p) = &parent {
            record.record("parent_span_id", tracing::field::display(p.span_id()));
        }
        // The server's span, with the caller's baggage.
        let cx = with_baggage(opentelemetry::Context::new(), req.headers())
            .with_remote_span_context(span);
        let deadline = find_header(req.headers(), &GRPC_TIMEOUT).and_then(inbound_deadline);
        let scope = RequestScope::new(cx, deadline, record);
        let future = {
            let _entered = scope.enter();
            self.inner.call(req)
        };
        ResponseFuture::new(future, scope)
    }
}

/// The deadline a `grpc-timeout` value sets, from now; `None` (logged) if
/// it is malformed or so far off that it overflows the clock.
fn inbound_deadline(value: &http::HeaderValue) -> Option<Instant> {
    let Some(timeout) = decode_grpc_timeout(value) else {
        tracing::debug!(?value, "malformed grpc-timeout ignored");
        return None;
    };
    let Some(at) = Instant::now().checked_add(timeout) else {
        tracing::debug!(?value, "grpc-timeout beyond the clock ignored");
        return None;
    };
    // Whoever serves the request (tonic, for one) enforces the deadline
    // with a timer.
    crate::timer_anchor::hold_for(timeout);
    Some(at)
}
