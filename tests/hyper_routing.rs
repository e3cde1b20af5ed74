//! Routing plain HTTP through `MeshClient`: by path (prefix and exact), by
//! header, by weight, and to subsets chosen by endpoint labels, over
//! HTTP/1.1 and h2c.

#[path = "support/hyper.rs"]
mod support;

use http::HeaderName;
use mesh_core::Mesh;
use mesh_core::policy::{
    Destination, Endpoint, HeaderMatch, HeaderRule, LoadBalancer, Policy, RequestMatch, Route,
    Service, StringMatch,
};
use mesh_hyper::MeshClient;
use support::{backend, get, send, tally};

fn path(m: StringMatch) -> RequestMatch {
    RequestMatch {
        path: Some(m),
        ..Default::default()
    }
}

fn header(name: &'static str, value: &str) -> RequestMatch {
    RequestMatch {
        headers: vec![HeaderMatch {
            name: HeaderName::from_static(name),
            rule: HeaderRule::Value(StringMatch::Exact(value.into())),
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn routes_by_exact_path_prefix_and_header() -> anyhow::Result<()> {
    let v1 = backend("v1").await?;
    let v2 = backend("v2").await?;
    let to = |subset: &str| Destination::new("attendees").subset(subset);
    let policy = Policy::builder()
        .service(
            Service::new("attendees")
                .endpoint(Endpoint::new(v1.addr).label("version", "v1"))
                .endpoint(Endpoint::new(v2.addr).label("version", "v2"))
                .subset("v1", [("version", "v1")])
                .subset("v2", [("version", "v2")]),
        )
        .routes(
            "attendees",
            [
                Route::to("exact", to("v2")).when(path(StringMatch::Exact("/v2-only".into()))),
                Route::to("admin", to("v2")).when(path(StringMatch::Prefix("/admin/".into()))),
                Route::to("beta", to("v2")).when(header("x-user-group", "beta")),
                Route::to("default", to("v1")),
            ],
        )
        .build()?;
    let mesh = Mesh::new(policy);

    for client in [
        MeshClient::new(&mesh, "attendees:8080")?,
        MeshClient::http2(&mesh, "attendees:8080")?,
    ] {
        let version = client.version();
        let mut cases: Vec<(http::Request<_>, &str)> = vec![
            (get("/v2-only"), "v2"),
            (get("/v2-only/more"), "v1"), // exact, not prefix
            (get("/admin/users"), "v2"),
            (get("/admin"), "v1"), // the prefix is "/admin/"
            (get("/users"), "v1"),
        ];
        let mut beta = get("/users");
        beta.headers_mut().insert("x-user-group", "beta".parse()?);
        cases.push((beta, "v2"));
        let mut alpha = get("/users");
        alpha.headers_mut().insert("x-user-group", "alpha".parse()?);
        cases.push((alpha, "v1"));

        for (req, want) in cases {
            let what = format!("{version:?} {} {:?}", req.uri(), req.headers());
            let reply = send(&client, req).await?;
            assert_eq!(reply.status, 200, "{what}: {reply:?}");
            assert_eq!(reply.body, want, "{what}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn weighted_split_sends_about_80_20() -> anyhow::Result<()> {
    let v1 = backend("v1").await?;
    let v2 = backend("v2").await?;
    let policy = Policy::builder()
        .service(
            Service::new("attendees")
                .endpoint(Endpoint::new(v1.addr).label("version", "v1"))
                .endpoint(Endpoint::new(v2.addr).label("version", "v2"))
                .subset("v1", [("version", "v1")])
                .subset("v2", [("version", "v2")]),
        )
        .routes(
            "attendees",
            [Route::to("split", Destination::new("attendees")).split([
                (Destination::new("attendees").subset("v1"), 80),
                (Destination::new("attendees").subset("v2"), 20),
            ])],
        )
        .build()?;
    let mesh = Mesh::new(policy);
    let client = MeshClient::new(&mesh, "attendees:8080")?;

    let counts = tally(&client, 1000, || get("/users")).await?;
    let v1_count = counts.get("v1").copied().unwrap_or(0);
    let v2_count = counts.get("v2").copied().unwrap_or(0);
    assert_eq!(v1_count + v2_count, 1000, "{counts:?}");
    // 80 % of 1000 within ±5 percentage points: 750..=850. One standard
    // deviation is sqrt(1000 * 0.8 * 0.2) ≈ 12.6 requests, so the band is
    // about four of them either side.
    assert!((750..=850).contains(&v1_count), "v1 got {v1_count} of 1000");
    assert_eq!(v1.hits() + v2.hits(), 1000);
    Ok(())
}

#[tokio::test]
async fn subsets_select_endpoints_by_every_label() -> anyhow::Result<()> {
    let v1a = backend("v1-a").await?;
    let v1b = backend("v1-b").await?;
    let v2 = backend("v2").await?;
    let policy = Policy::builder()
        .service(
            Service::new("attendees")
                .endpoint(
                    Endpoint::new(v1a.addr)
                        .label("version", "v1")
                        .label("zone", "a"),
                )
                .endpoint(
                    Endpoint::new(v1b.addr)
                        .label("version", "v1")
                        .label("zone", "b"),
                )
                .endpoint(
                    Endpoint::new(v2.addr)
                        .label("version", "v2")
                        .label("zone", "b"),
                )
                .subset("v1", [("version", "v1")])
                .subset("v1-zone-b", [("version", "v1"), ("zone", "b")])
                .load_balancer(LoadBalancer::RoundRobin),
        )
        .routes(
            "attendees",
            [
                Route::to("zone-b", Destination::new("attendees").subset("v1-zone-b"))
                    .when(path(StringMatch::Prefix("/zone-b".into()))),
                Route::to("v1", Destination::new("attendees").subset("v1")),
            ],
        )
        .build()?;
    let mesh = Mesh::new(policy);
    let client = MeshClient::new(&mesh, "attendees")?;

    // Subset "v1" is both v1 endpoints and never v2; round robin gives each
    // of the two half.
    let counts = tally(&client, 100, || get("/users")).await?;
    assert_eq!(counts.get("v1-a"), Some(&50), "{counts:?}");
    assert_eq!(counts.get("v1-b"), Some(&50), "{counts:?}");
    assert_eq!(v2.hits(), 0);

    // Two labels: only the endpoint carrying both.
    let counts = tally(&client, 20, || get("/zone-b/users")).await?;
    assert_eq!(counts.get("v1-b"), Some(&20), "{counts:?}");
    assert_eq!(counts.len(), 1, "{counts:?}");
    Ok(())
}

/// A request that carries `ReportServedBy` learns which endpoint answered;
/// others do not pay for the response extension.
#[tokio::test]
async fn served_by_is_reported_when_asked_for() -> anyhow::Result<()> {
    use mesh_core::client::balance::{ReportServedBy, ServedBy};

    let v1 = backend("v1").await?;
    let policy = Policy::builder()
        .service(Service::new("attendees").endpoint(Endpoint::new(v1.addr)))
        .routes(
            "attendees",
            [Route::to("all", Destination::new("attendees"))],
        )
        .build()?;
    let mesh = Mesh::new(policy);
    let client = MeshClient::new(&mesh, "attendees")?;

    let res = client.request(get("/users")).await;
    assert_eq!(res.status(), http::StatusCode::OK);
    assert_eq!(res.extensions().get::<ServedBy>(), None);

    let mut asking = get("/users");
    asking.extensions_mut().insert(ReportServedBy);
    let res = client.request(asking).await;
    assert_eq!(res.status(), http::StatusCode::OK);
    assert_eq!(res.extensions().get::<ServedBy>(), Some(&ServedBy(v1.addr)));
    Ok(())
}
