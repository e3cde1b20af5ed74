//! The mesh's request metrics, in a Prometheus registry.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `mesh_client_requests_total` | counter | `target, route, dest_service, dest_subset, status` |
//! | `mesh_client_request_duration_seconds` | histogram | `target, route, dest_service, dest_subset` |
//! | `mesh_client_retries_total` | counter | `target, route` |
//! | `mesh_server_requests_total` | counter | `service, status` |
//! | `mesh_server_request_duration_seconds` | histogram | `service` |
//! | `mesh_server_rate_limited_total` | counter | `service, policy` |
//! | `mesh_server_refused_total` | counter | `service, reason, policy` |
//!
//! `status` is the HTTP status (`200`) for HTTP, the gRPC code name (`OK`,
//! `UNAVAILABLE`) for gRPC; see [`ClientMetrics`] and [`ServerMetrics`] for
//! the rest. Durations run from the call to the end of the response body.
//!
//! To expose them, serve [`Metrics::encode`] (OpenMetrics text) on a
//! scrape endpoint, or add them to the application's own registry with
//! [`Metrics::register`] (they stay shared with the mesh), or read
//! [`Metrics::registry`] with any `prometheus_client` encoder:
//!
//! ```
//! use mesh_core::{Mesh, policy::Policy};
//! use prometheus_client::registry::Registry;
//!
//! let mesh = Mesh::new(Policy::empty());
//! mesh.metrics().record_retry("attendees", "split");
//!
//! // Served as is...
//! assert!(mesh.metrics().encode().contains("mesh_client_retries_total"));
//! // ...or alongside the application's own metrics.
//! let mut registry = Registry::default();
//! mesh.metrics().register(&mut registry);
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains(r#"mesh_client_retries_total{target="attendees",route="split"} 1"#));
//! ```

mod body;
pub mod client;
mod recorder;
pub mod server;
#[cfg(test)]
mod tests;

use std::hash::Hash;
use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

pub use body::MetricsBody;

use crate::protocol::{Protocol, grpc_code_name};
pub use client::{ClientMetrics, ClientMetricsLayer};
pub use server::{ServerMetrics, ServerMetricsLayer};

/// Where a client request went.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClientLabels {
    pub(crate) target: Arc<str>,
    pub(crate) route: Arc<str>,
    pub(crate) dest_service: Arc<str>,
    /// Empty when the destination is the whole service.
    pub(crate) dest_subset: Option<Arc<str>>,
}

/// Where a client request went and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClientStatusLabels {
    #[prometheus(flatten)]
    pub(crate) dest: ClientLabels,
    pub(crate) status: Status,
}

/// A retried client request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RetryLabels {
    pub(crate) target: Arc<str>,
    pub(crate) route: Arc<str>,
}

/// The service a server request was for.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ServerLabels {
    pub(crate) service: Arc<str>,
}

/// The service a server request was for and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ServerStatusLabels {
    #[prometheus(flatten)]
    pub(crate) service: ServerLabels,
    pub(crate) status: Status,
}

/// A request a rate limit refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RateLimitedLabels {
    pub(crate) service: Arc<str>,
    pub(crate) policy: Arc<str>,
}

/// A request peer authentication or authorization refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RefusedLabels {
    pub(crate) service: Arc<str>,
    /// `unauthenticated`, `permission_denied`, `invalid_path`, `identity`.
    pub(crate) reason: &'static str,
    /// The policy that decided (`ns/name`), or empty.
    pub(crate) policy: Arc<str>,
}

/// The `status` label, kept without allocating.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Status {
    /// An HTTP status code.
    Http(u16),
    /// A gRPC code name, or one of the mesh's own words (`error`,
    /// `cancelled`).
    Name(&'static str),
}

impl EncodeLabelValue for Status {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        match self {
            Status::Http(code) => EncodeLabelValue::encode(code, encoder),
            Status::Name(name) => EncodeLabelValue::encode(name, encoder),
        }
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// One label set's latency histogram and its count of successes, looked up
/// in their families once and then kept (per snapshot on the client, per
/// layer on the server). `Family::get_or_create` hashes every label string
/// and takes the family's lock, shared by all of a process's threads, on
/// each call: twice per request per side, before this.
#[derive(Debug)]
pub(crate) struct Series<L> {
    pub(crate) labels: L,
    duration: Histogram,
    ok: Counter,
    ok_status: Status,
}

impl<L: Clone + Hash + Eq> Series<L> {
    /// The series of `labels`: its histogram in `durations` and its
    /// success counter in `counts`, whose label sets `with_status` makes.
    fn new<S: Clone + Hash + Eq>(
        labels: L,
        protocol: Protocol,
        durations: &HistogramFamily<L>,
        counts: &Family<S, Counter>,
        with_status: fn(L, Status) -> S,
    ) -> Arc<Self> {
        let ok_status = success(protocol);
        Arc::new(Self {
            duration: durations.get_or_create(&labels).clone(),
            ok: counts
                .get_or_create(&with_status(labels.clone(), ok_status))
                .clone(),
            labels,
            ok_status,
        })
    }

    /// Records one finished request: its latency, and a count under its
    /// status (the kept counter for success, else looked up in `counts`).
    fn record<S: Clone + Hash + Eq>(
        &self,
        status: Status,
        seconds: f64,
        counts: &Family<S, Counter>,
        with_status: fn(L, Status) -> S,
    ) {
        self.duration.observe(seconds);
        if status == self.ok_status {
            self.ok.inc();
        } else {
            counts
                .get_or_create(&with_status(self.labels.clone(), status))
                .inc();
        }
    }
}

/// The client request counter's label set for `status`.
fn client_status(dest: ClientLabels, status: Status) -> ClientStatusLabels {
    ClientStatusLabels { dest, status }
}

/// The server request counter's label set for `status`.
fn server_status(service: ServerLabels, status: Status) -> ServerStatusLabels {
    ServerStatusLabels { service, status }
}

/// The `status` of a successful request: `OK` for gRPC, `200` for HTTP.
fn success(protocol: Protocol) -> Status {
    match protocol {
        Protocol::Grpc => Status::Name(grpc_code_name(0)),
        Protocol::Http => Status::Http(200),
    }
}

/// Latency buckets: 100 µs doubling to 13.1 s (18 buckets).
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 18))
}

/// The mesh's request metrics: a [`Registry`] holding the families listed in
/// the [module docs](self). One per [`Mesh`](crate::Mesh), reached with
/// [`Mesh::metrics`](crate::Mesh::metrics).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    client_requests: Family<ClientStatusLabels, Counter>,
    client_duration: HistogramFamily<ClientLabels>,
    client_retries: Family<RetryLabels, Counter>,
    server_requests: Family<ServerStatusLabels, Counter>,
    server_duration: HistogramFamily<ServerLabels>,
    server_rate_limited: Family<RateLimitedLabels, Counter>,
    server_refused: Family<RefusedLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Metrics with every family registered and no samples yet.
    pub fn new() -> Self {
        let mut metrics = Self {
            registry: Registry::default(),
            client_requests: Family::default(),
            client_duration: Family::new_with_constructor(duration_histogram),
            client_retries: Family::default(),
            server_requests: Family::default(),
            server_duration: Family::new_with_constructor(duration_histogram),
            server_rate_limited: Family::default(),
            server_refused: Family::default(),
        };
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        metrics.registry = registry;
        metrics
    }

    /// Registers the mesh's families in `registry` (for instance the
    /// application's own, or a prefixed sub-registry of it). They stay shared
    /// with the mesh: what the mesh records shows in both.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "mesh_client_requests",
            "Outbound requests, by route, destination and final status.",
            self.client_requests.clone(),
        );
        registry.register_with_unit(
            "mesh_client_request_duration",
            "Outbound request latency, from the call to the end of the response body.",
            Unit::Seconds,
            self.client_duration.clone(),
        );
        registry.register(
            "mesh_client_retries",
            "Outbound retry attempts, by route.",
            self.client_retries.clone(),
        );
        registry.register(
            "mesh_server_requests",
            "Inbound requests, by final status.",
            self.server_requests.clone(),
        );
        registry.register_with_unit(
            "mesh_server_request_duration",
            "Inbound request latency, from the call to the end of the response body.",
            Unit::Seconds,
            self.server_duration.clone(),
        );
        registry.register(
            "mesh_server_rate_limited",
            "Inbound requests refused by a local rate limit, by policy.",
            self.server_rate_limited.clone(),
        );
        registry.register(
            "mesh_server_refused",
            "Inbound requests refused by peer authentication or authorization, by reason and policy.",
            self.server_refused.clone(),
        );
    }

    /// The registry holding the mesh's families, for any `prometheus_client`
    /// encoder.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The metrics in the OpenMetrics text format, ending with `# EOF`: the
    /// body of a scrape response (content type
    /// `application/openmetrics-text; version=1.0.0; charset=utf-8`).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail, and neither can our label sets.
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            tracing::warn!("encoding the mesh metrics failed");
        }
        text
    }

    /// Counts a retry on `route` of the client for `target` (called by the
    /// retry layer once per retry attempt, not for the first attempt).
    pub fn record_retry(&self, target: &str, route: &str) {
        let labels = RetryLabels {
            target: target.into(),
            route: route.into(),
        };
        self.client_retries.get_or_create(&labels).inc();
    }

    /// Counts a request to `service` refused by the rate limit `policy`.
    pub fn record_rate_limited(&self, service: &str, policy: &str) {
        let labels = RateLimitedLabels {
            service: service.into(),
            policy: policy.into(),
        };
        self.server_rate_limited.get_or_create(&labels).inc();
    }

    /// Counts a request to `service` refused for `reason` (the error's
    /// kind: `unauthenticated`, `permission_denied`, `invalid_path`,
    /// `identity`) by `policy` (`ns/name`, or empty).
    pub fn record_refused(&self, service: &str, reason: &'static str, policy: &str) {
        let labels = RefusedLabels {
            service: service.into(),
            reason,
            policy: policy.into(),
        };
        self.server_refused.get_or_create(&labels).inc();
    }

    /// The series of client requests with `dest`'s labels.
    pub(crate) fn client_series(
        &self,
        dest: ClientLabels,
        protocol: Protocol,
    ) -> Arc<Series<ClientLabels>> {
        Series::new(
            dest,
            protocol,
            &self.client_duration,
            &self.client_requests,
            client_status,
        )
    }

    /// The series of server requests to `service`.
    pub(crate) fn server_series(
        &self,
        service: ServerLabels,
        protocol: Protocol,
    ) -> Arc<Series<ServerLabels>> {
        Series::new(
            service,
            protocol,
            &self.server_duration,
            &self.server_requests,
            server_status,
        )
    }

    /// Records one finished client request.
    pub(crate) fn record_client(
        &self,
        series: &Series<ClientLabels>,
        status: Status,
        seconds: f64,
    ) {
        series.record(status, seconds, &self.client_requests, client_status);
    }

    /// Records one finished server request.
    pub(crate) fn record_server(
        &self,
        series: &Series<ServerLabels>,
        status: Status,
        seconds: f64,
    ) {
        series.record(status, seconds, &self.server_requests, server_status);
    }
}
