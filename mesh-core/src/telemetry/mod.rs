//! Telemetry: W3C trace context propagation and request metrics.
//!
//! - [`context`]: what a server hands its handler through
//!   [`opentelemetry::Context`] (the trace) and beside it (the inbound
//!   deadline), so that outbound calls the handler makes continue the
//!   trace and keep the deadline with no forwarding by hand.
//! - [`trace`]: [`ClientTraceLayer`] and [`ServerTraceLayer`], which carry
//!   `traceparent`, `tracestate` and `baggage` across calls and record a
//!   `tracing` span per request.
//! - [`metrics`]: the mesh's Prometheus metrics ([`Metrics`]) and the layers
//!   that count requests, [`ClientMetricsLayer`] and [`ServerMetricsLayer`].

pub mod context;
pub mod metrics;
pub mod trace;

pub use context::{InboundDeadline, current_context, inbound_deadline};
pub use metrics::{
    ClientMetrics, ClientMetricsLayer, Metrics, MetricsBody, ServerMetrics, ServerMetricsLayer,
};
pub use trace::{ClientTrace, ClientTraceLayer, ServerTrace, ServerTraceLayer, TraceBody};
