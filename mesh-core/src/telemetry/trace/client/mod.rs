//! Outbound trace context: a client span per request, injected as
//! `traceparent`, `tracestate` and `baggage`.

mod future;
mod layer;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::BaggagePropagator;
use tower_service::Service;

pub use future::ResponseFuture;
pub use layer::ClientTraceLayer;

use super::{
    HeaderInjector, TRACEPARENT, TRACESTATE, child_of, remote_parent, traceparent,
    valid_span_context,
};
use crate::protocol::find_header;

/// Starts a client span for each request to one target and propagates it.
///
/// The parent is, in order: the span of the current
/// [`opentelemetry::Context`] (inside a handler wrapped by
/// [`ServerTraceLayer`](crate::telemetry::ServerTraceLayer), the server's
/// span); else a valid `traceparent` the application put on the request;
/// else none, and a new sampled trace starts. The new span keeps the
/// parent's trace id, flags and `tracestate`.
///
/// `traceparent` and `tracestate` on the request are replaced. `baggage` is
/// replaced by the current context's baggage when it has any; otherwise a
/// `baggage` header the application set is left as it is.
///
/// The inner service's future runs inside a `mesh.client` `tracing` span
/// (fields `target`, `method`, `path`, `trace_id`, `span_id`,
/// `parent_span_id`, and `status` once the response comes). Responses and
/// errors pass through untouched.
#[derive(Clone, Debug)]
pub struct ClientTrace<S> {
    inner: S,
    target: Arc<str>,
}

impl<S, B, R> Service<Request<B>> for ClientTrace<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let current = opentelemetry::Context::current();
        let parent = valid_span_context(&current).or_else(|| remote_parent(req.headers()));
        let span = child_of(parent.as_ref());
        let record = tracing::info_span!(
            "mesh.client",
            target = %self.target,
            method = %req.method(),
            path = req.uri().path(),
            trace_id = %span.trace_id(),
            span_id = %span.span_id(),
            parent_span_id = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        if let Some(p) = &parent {
            record.record("parent_span_id", tracing::field::display(p.span_id()));
        }
        // What the propagators would write (`traceparent`, a non-empty
        // `tracestate`, the context's baggage if any), without building a
        // context and the propagators' `String`s on every request.
        let headers = req.headers_mut();
        // Looked for first: removing hashes the name even when, as on
        // nearly every request, there is nothing to remove.
        if find_header(headers, &TRACESTATE).is_some() {
            headers.remove(TRACESTATE);
        }
        match traceparent(&span) {
            Some(value) => headers.insert(TRACEPARENT, value),
            None => headers.remove(TRACEPARENT),
        };
        let state = span.trace_state().header();
        if !state.is_empty()
            && let Ok(value) = HeaderValue::try_from(state)
        {
            headers.insert(TRACESTATE, value);
        }
        if !current.baggage().is_empty() {
            BaggagePropagator::new().inject_context(&current, &mut HeaderInjector(headers));
        }
        let future = {
            let _entered = record.enter();
            self.inner.call(req)
        };
        ResponseFuture::new(future, record)
    }
}
