//! Load balancing: picks an endpoint of the routed destination and sends
//! the request on its connection.
//!
//! Power of two choices over peak-EWMA cost (the default) or round robin.
//! Endpoints whose connections fail are left out for a jittered, growing
//! while, as gRPC does with subchannels in transient failure.

mod future;
mod load;
mod pool;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use http::{Request, Response};
use tokio::time::Instant;
use tower_service::Service;

pub use future::{ReportServedBy, ResponseFuture, ServedBy};

use crate::client::route::RouteDecision;
use crate::error::{MeshError, Unhealthy};
use crate::future::FailOr;
use crate::mesh::Mesh;
use crate::policy::{Endpoint, EndpointSet, LoadBalancer};
use crate::security::upstream::UpstreamSecurity;
use crate::transport::Connector;
use pool::{Pool, PooledEndpoint};

/// Sends each request to one endpoint of its destination.
pub struct Balance<C, B>
where
    C: Connector<B>,
{
    connector: C,
    /// For this workload's identity, when an endpoint needs mutual TLS.
    mesh: Mesh,
    pool: Arc<Pool<C::Endpoint>>,
    /// One cursor for all of this client's round-robin destinations:
    /// each still sees its endpoints in turn, if not strictly alternating.
    cursor: Arc<AtomicUsize>,
}

impl<C: Connector<B>, B> Clone for Balance<C, B> {
    fn clone(&self) -> Self {
        Self {
            connector: self.connector.clone(),
            mesh: self.mesh.clone(),
            pool: self.pool.clone(),
            cursor: self.cursor.clone(),
        }
    }
}

impl<C: Connector<B>, B> std::fmt::Debug for Balance<C, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balance").finish_non_exhaustive()
    }
}

impl<C: Connector<B>, B> Balance<C, B> {
    /// A balancer with no connections yet.
    pub fn new(connector: C, mesh: &Mesh) -> Self {
        Self {
            connector,
            mesh: mesh.clone(),
            pool: Arc::new(Pool::new()),
            cursor: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn pooled(
        &self,
        e: &Endpoint,
        set: &EndpointSet,
        decision: &RouteDecision,
    ) -> Arc<PooledEndpoint<C::Endpoint>> {
        let has_identity = self.mesh.has_identity();
        self.pool.get(
            e,
            &set.tls,
            has_identity,
            decision.snapshot().policy(),
            |addr| {
                let security = UpstreamSecurity::decide(
                    &set.tls,
                    self.mesh.identity(),
                    &decision.destination().host,
                );
                self.connector.endpoint(addr, security)
            },
        )
    }

    /// Chooses an endpoint that is not in connect backoff, or `None`.
    fn choose(
        &self,
        set: &EndpointSet,
        decision: &RouteDecision,
    ) -> Option<Arc<PooledEndpoint<C::Endpoint>>> {
        let endpoints = &set.endpoints;
        let lb = set.load_balancer;
        let now = Instant::now();
        let n = endpoints.len();
        if n == 0 {
            return None;
        }
        let up = |i: usize| {
            let p = self.pooled(&endpoints[i], set, decision);
            p.load.is_up(now).then_some(p)
        };
        match lb {
            LoadBalancer::RoundRobin => {
                let start = self.cursor.fetch_add(1, Ordering::Relaxed);
                (0..n).find_map(|k| up((start + k) % n))
            }
            LoadBalancer::PeakEwma => {
                if n == 1 {
                    return up(0);
                }
                let a = fastrand::usize(0..n);
                let b = (a + 1 + fastrand::usize(0..n - 1)) % n;
                match (up(a), up(b)) {
                    (Some(x), Some(y)) => Some(if y.load.cost() < x.load.cost() { y } else { x }),
                    (Some(x), None) | (None, Some(x)) => Some(x),
                    // Both sampled endpoints are down: look for any other.
                    (None, None) => (0..n).find_map(up),
                }
            }
        }
    }
}

impl<C, B> Service<Request<B>> for Balance<C, B>
where
    C: Connector<B>,
{
    type Response = Response<C::Body>;
    type Error = MeshError;
    type Future = FailOr<ResponseFuture<<C::Endpoint as Service<Request<B>>>::Future, C::Endpoint>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), MeshError>> {
        // Readiness is per endpoint and decided per request; endpoints are
        // always ready (they connect in `call`).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let Some(decision) = req.extensions().get::<RouteDecision>().cloned() else {
            return FailOr::fail(MeshError::NoRoute {
                target: String::new(),
                path: req.uri().path().to_owned(),
                detail:
                    " (the request was not routed; the balancer needs the route layer above it)"
                        .to_owned(),
            });
        };
        let dest = decision.destination();
        let set = decision.snapshot().policy().endpoints(dest);
        let count = set.map_or(0, |set| set.endpoints.len());
        let chosen = set.and_then(|set| self.choose(set, &decision));
        let Some(chosen) = chosen else {
            return FailOr::fail(MeshError::NoHealthyEndpoint {
                service: dest.host.clone(),
                subset: dest.subset.clone(),
                endpoints: match count {
                    0 => Unhealthy::NoEndpoints,
                    count => Unhealthy::AllFailing { count },
                },
            });
        };
        let mut service = chosen.service.clone();
        let report = decision.reports_served_by();
        FailOr::inner(ResponseFuture::new(service.call(req), chosen, report))
    }
}
