//! Outbound request metrics, per route and destination.

mod future;
mod layer;

use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwapOption;
use http::{Request, Response};
use tower_service::Service;

pub use future::ResponseFuture;
pub use layer::ClientMetricsLayer;

use super::ClientLabels;
use super::recorder::{Recorder, Sink};
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

/// The label sets of one route table, by route and destination, for one
/// snapshot: built once per snapshot, so a request clones a few `Arc`s
/// instead of allocating its label strings.
#[derive(Debug)]
pub(super) struct LabelCache {
    version: u64,
    table: usize,
    labels: Vec<Vec<ClientLabels>>,
}

impl<S> ClientMetrics<S> {
    /// The labels for `req`, from the cache when it holds the request's
    /// snapshot and table (always, but for the first request after an
    /// update).
    fn labels<B>(&self, req: &Request<B>) -> ClientLabels {
        match req.extensions().get::<RouteDecision>() {
            Some(decision) => {
                let (t, r, d) = decision.indices();
                let version = decision.snapshot().version();
                if let Some(cache) = &*self.cache.load()
                    && cache.version == version
                    && cache.table == t
                    && let Some(labels) = cache.labels.get(r).and_then(|ds| ds.get(d))
                {
                    return labels.clone();
                }
                let table = decision.table();
                let labels: Vec<Vec<ClientLabels>> = table
                    .routes
                    .iter()
                    .map(|route| {
                        let name: Arc<str> = route.name.as_str().into();
                        route
                            .destinations
                            .iter()
                            .map(|w| ClientLabels {
                                target: self.target.clone(),
                                route: name.clone(),
                                dest_service: w.destination.host.as_str().into(),
                                dest_subset: w.destination.subset.as_deref().map(Arc::from),
                            })
                            .collect()
                    })
                    .collect();
                let found = labels[r][d].clone();
                self.cache.store(Some(Arc::new(LabelCache {
                    version,
                    table: t,
                    labels,
                })));
                found
            }
            None => ClientLabels {
                target: self.target.clone(),
                route: self.unknown.clone(),
                dest_service: self.unknown.clone(),
                dest_subset: Some(self.unknown.clone()),
            },
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
        let sink = Sink::Client(self.labels(&req));
        let recorder = Recorder::start(self.mesh.clone(), sink, self.protocol);
        ResponseFuture::new(self.inner.call(req), recorder, self.protocol)
    }
}
