//! Outbound request metrics, per route and destination.

mod future;
mod layer;

use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use arc_swap::ArcSwapOption;
use http::{Request, Response};
use tower_service::Service;

pub use future::ResponseFuture;
pub use layer::ClientMetricsLayer;

use super::recorder::{Recorder, Sink};
use super::{ClientLabels, Series};
use crate::client::route::RouteDecision;
use crate::error::MeshError;
use crate::mesh::Mesh;
use crate::protocol::Protocol;

/// Counts and times the requests of a client for one target.
///
/// Sits inside the route layer and reads its [`RouteDecision`] for the
/// `route`, `dest_service` and `dest_subset` labels (`unknown` when a
/// request carries none). The `status` label is:
///
/// - for a [`MeshError`], what the mesh answers with
///   ([`Protocol::error_codes`]): the HTTP status, or the gRPC code name;
/// - for a response, [`Protocol::classify`]; a gRPC status that comes in the
///   trailers is read from them (`UNKNOWN` if the body ends without one);
/// - `CANCELLED` (gRPC) when the body or the response future is dropped
///   before the status is known; for HTTP the response's status, or
///   `cancelled` when no response came.
///
/// Each request is recorded once, when its body ends (so the latency
/// includes the body), when the call fails, or when it is dropped.
#[derive(Clone, Debug)]
pub struct ClientMetrics<S> {
    inner: S,
    mesh: Mesh,
    target: Arc<str>,
    protocol: Protocol,
    /// The `unknown` label value, allocated once per layer.
    unknown: Arc<str>,
    /// Label sets for the current snapshot, shared by clones.
    cache: Arc<ArcSwapOption<LabelCache>>,
}

/// The series of one route table, by route and destination, for one
/// snapshot: the label sets are built once per snapshot, and each one's
/// series looked up on its first request, so a request clones one `Arc`
/// instead of allocating label strings and searching the families.
#[derive(Debug)]
pub(super) struct LabelCache {
    version: u64,
    table: usize,
    series: Vec<Vec<LazySeries>>,
}

/// A destination's label set, and its series once a request needed it.
type LazySeries = (ClientLabels, OnceLock<Arc<Series<ClientLabels>>>);

impl<S> ClientMetrics<S> {
    /// The series for `req`, from the cache when it holds the request's
    /// snapshot and table (always, but for the first request after an
    /// update).
    fn series<B>(&self, req: &Request<B>) -> Arc<Series<ClientLabels>> {
        let metrics = self.mesh.metrics();
        let Some(decision) = req.extensions().get::<RouteDecision>() else {
            let unknown = ClientLabels {
                target: self.target.clone(),
                route: self.unknown.clone(),
                dest_service: self.unknown.clone(),
                dest_subset: Some(self.unknown.clone()),
            };
            return metrics.client_series(unknown, self.protocol);
        };
        let (t, r, d) = decision.indices();
        let version = decision.snapshot().version();
        let lookup = |cache: &LabelCache| match cache.series.get(r).and_then(|ds| ds.get(d)) {
            Some((labels, series)) => series
                .get_or_init(|| metrics.client_series(labels.clone(), self.protocol))
                .clone(),
            // Cannot happen (the cache is built from this decision's
            // table); if it did, label what the decision says rather than
            // hide it as `unknown`.
            None => metrics.client_series(
                ClientLabels {
                    target: self.target.clone(),
                    route: decision.route().name.as_str().into(),
                    dest_service: decision.destination().host.as_str().into(),
                    dest_subset: decision.destination().subset.as_deref().map(Arc::from),
                },
                self.protocol,
            ),
        };
        // Read through the guard: cloning the cache's `Arc` would be an
        // atomic write, on every request, to a count all threads share.
        if let Some(cache) = &*self.cache.load()
            && cache.version == version
            && cache.table == t
        {
            return lookup(cache);
        }
        let cache = Arc::new(self.label_cache(decision, version, t));
        self.cache.store(Some(cache.clone()));
        lookup(&cache)
    }

    /// The label sets of the decision's route table.
    fn label_cache(&self, decision: &RouteDecision, version: u64, table: usize) -> LabelCache {
        let series = decision
            .table()
            .routes
            .iter()
            .map(|route| {
                let name: Arc<str> = route.name.as_str().into();
                route
                    .destinations
                    .iter()
                    .map(|w| {
                        let labels = ClientLabels {
                            target: self.target.clone(),
                            route: name.clone(),
                            dest_service: w.destination.host.as_str().into(),
                            dest_subset: w.destination.subset.as_deref().map(Arc::from),
                        };
                        (labels, OnceLock::new())
                    })
                    .collect()
            })
            .collect();
        LabelCache {
            version,
            table,
            series,
        }
    }
}

impl<S, B, R> Service<Request<B>> for ClientMetrics<S>
where
    S: Service<Request<B>, Response = Response<R>, Error = MeshError>,
{
    type Response = Response<super::MetricsBody<R>>;
    type Error = MeshError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), MeshError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let sink = Sink::Client(self.series(&req));
        let recorder = Recorder::start(self.mesh.clone(), sink, self.protocol);
        ResponseFuture::new(self.inner.call(req), recorder, self.protocol)
    }
}
