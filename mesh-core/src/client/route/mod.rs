//! Routing: matches a request against the target's route table in the
//! current snapshot and picks a weighted destination.

mod decision;
mod layer;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tower_service::Service;

pub use decision::RouteDecision;
pub use layer::RouteLayer;

use crate::client::balance::ReportServedBy;
use crate::error::MeshError;
use crate::future::FailOr;
use crate::mesh::Mesh;
use crate::policy::{RequestParts, WeightedDestination};

/// Routes requests for one target service.
#[derive(Clone, Debug)]
pub struct Route<S> {
    inner: S,
    mesh: Mesh,
    target: Arc<str>,
}

/// Picks a destination in proportion to its weight.
fn pick(destinations: &[WeightedDestination]) -> usize {
    if destinations.len() == 1 {
        return 0;
    }
    let total: u64 = destinations.iter().map(|d| u64::from(d.weight)).sum();
    let mut ticket = fastrand::u64(0..total.max(1));
    for (i, d) in destinations.iter().enumerate() {
        let w = u64::from(d.weight);
        if ticket < w {
            return i;
        }
        ticket -= w;
    }
    // Unreachable for a validated policy (total > 0); the last is as good
    // an answer as any.
    destinations.len() - 1
}

impl<S, B> Service<Request<B>> for Route<S>
where
    S: Service<Request<B>, Error = MeshError>,
{
    type Response = S::Response;
    type Error = MeshError;
    type Future = FailOr<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), MeshError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let snapshot = self.mesh.snapshot();
        let policy = snapshot.policy();
        let Some(t) = policy.route_table_index(&self.target) else {
            return FailOr::fail(MeshError::NoRoute {
                target: self.target.to_string(),
                path: req.uri().path().to_owned(),
                detail: " (the policy has no service or routes for this host)".to_owned(),
            });
        };
        let parts = RequestParts::from(&req);
        let table = &policy.route_tables()[t];
        let Some(r) = table.routes.iter().position(|r| r.matches(&parts)) else {
            return FailOr::fail(MeshError::NoRoute {
                target: self.target.to_string(),
                path: req.uri().path().to_owned(),
                detail: format!(" (no route of {} matches)", table.name),
            });
        };
        let d = pick(&table.routes[r].destinations);
        tracing::trace!(target = %self.target, table = %table.name, route = %table.routes[r].name, "routed");
        let report = req.extensions().get::<ReportServedBy>().is_some();
        req.extensions_mut()
            .insert(RouteDecision::new(snapshot.clone(), t, r, d, report));
        FailOr::inner(self.inner.call(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{
        Destination, Endpoint, Policy, RequestMatch, Route as RouteSpec, Service as Svc,
        StringMatch,
    };
    use tower::ServiceExt;

    fn mesh() -> Mesh {
        let svc = Svc::new("attendees")
            .endpoint(Endpoint::new("127.0.0.1:1".parse().unwrap()).label("version", "v1"))
            .endpoint(Endpoint::new("127.0.0.1:2".parse().unwrap()).label("version", "v2"))
            .subset("v1", [("version", "v1")])
            .subset("v2", [("version", "v2")]);
        let beta = RequestMatch {
            headers: vec![crate::policy::HeaderMatch {
                name: http::HeaderName::from_static("x-user-group"),
                rule: crate::policy::HeaderRule::Value(StringMatch::Exact("beta".into())),
            }],
            ..Default::default()
        };
        let policy = Policy::builder()
            .service(svc)
            .routes(
                "attendees",
                [
                    RouteSpec::to("beta", Destination::new("attendees").subset("v2")).when(beta),
                    RouteSpec::to("split", Destination::new("attendees")).split([
                        (Destination::new("attendees").subset("v1"), 80),
                        (Destination::new("attendees").subset("v2"), 20),
                    ]),
                ],
            )
            .build()
            .unwrap();
        Mesh::new(policy)
    }

    type Seen = (String, Option<String>);

    /// Routes for `target` over a stand-in for the inner layers that
    /// reports the route and subset it was given.
    fn route(
        mesh: &Mesh,
        target: &str,
    ) -> impl Service<Request<()>, Response = Seen, Error = MeshError> {
        RouteLayer::new(mesh.clone(), target).layer_service(tower::service_fn(|req: Request<()>| {
            let d = req.extensions().get::<RouteDecision>().cloned();
            async move {
                let d = d.expect("the route layer adds its decision");
                Ok::<Seen, MeshError>((d.route().name.clone(), d.destination().subset.clone()))
            }
        }))
    }

    #[tokio::test]
    async fn header_match_wins_over_the_split() {
        let mesh = mesh();
        let req = Request::builder()
            .uri("http://attendees/conference.Attendees/List")
            .header("x-user-group", "beta")
            .body(())
            .unwrap();
        let (name, subset) = route(&mesh, "attendees").oneshot(req).await.unwrap();
        assert_eq!((name.as_str(), subset.as_deref()), ("beta", Some("v2")));
    }

    #[tokio::test]
    async fn weights_split_traffic() {
        let mesh = mesh();
        fastrand::seed(7);
        let mut v2 = 0;
        for _ in 0..10_000 {
            let req = Request::builder().uri("/x").body(()).unwrap();
            let (_, subset) = route(&mesh, "attendees").oneshot(req).await.unwrap();
            v2 += usize::from(subset.as_deref() == Some("v2"));
        }
        // 20 % of 10 000, within ±2 percentage points (about 5 sigma).
        assert!((1800..=2200).contains(&v2), "v2 got {v2}");
    }

    #[tokio::test]
    async fn unknown_target_is_no_route() {
        let mesh = mesh();
        let req = Request::builder().uri("/x").body(()).unwrap();
        let err = route(&mesh, "payments").oneshot(req).await.unwrap_err();
        assert!(matches!(err, MeshError::NoRoute { .. }));
        assert!(err.to_string().contains("payments"), "{err}");
    }
}
