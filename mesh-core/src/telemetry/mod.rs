//! Telemetry: W3C trace context propagation and request metrics.

pub mod metrics;

pub use metrics::Metrics;
