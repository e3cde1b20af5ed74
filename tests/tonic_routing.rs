//! Routing through a real tonic client and real tonic servers: the seed's
//! routing, header matches, weighted splits and path matches.

mod support;

use mesh::Mesh;
use mesh::conference::pb::ListRequest;
use mesh::conference::{Faults, serve_attendees};
use mesh::policy::{Destination, HeaderMatch, HeaderRule, RequestMatch, Route, StringMatch};
use support::{all_to, attendees_policy, client, list};

#[tokio::test]
async fn the_seed_routing_sends_everything_to_v1() -> anyhow::Result<()> {
    let mesh = Mesh::new(mesh::policy::Policy::empty());
    let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
    let v2 = serve_attendees(&mesh, "v2", Faults::none()).await?;
    mesh.update(attendees_policy(v1.addr, v2.addr, vec![all_to("v1")]))?;
    let mut c = client(&mesh);
    for _ in 0..50 {
        assert_eq!(list(&mut c).await?.version, "v1");
    }
    assert_eq!(v2.served.load(std::sync::atomic::Ordering::SeqCst), 0);
    Ok(())
}

#[tokio::test]
async fn a_header_match_sends_beta_users_to_v2() -> anyhow::Result<()> {
    let mesh = Mesh::new(mesh::policy::Policy::empty());
    let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
    let v2 = serve_attendees(&mesh, "v2", Faults::none()).await?;
    let beta = RequestMatch {
        headers: vec![HeaderMatch {
            name: http::HeaderName::from_static("x-user-group"),
            rule: HeaderRule::Value(StringMatch::Exact("beta".into())),
        }],
        ..Default::default()
    };
    mesh.update(attendees_policy(
        v1.addr,
        v2.addr,
        vec![
            Route::to("beta", Destination::new("attendees").subset("v2")).when(beta),
            all_to("v1"),
        ],
    ))?;
    let mut c = client(&mesh);
    let mut req = tonic::Request::new(ListRequest::default());
    req.metadata_mut().insert("x-user-group", "beta".parse()?);
    assert_eq!(c.list(req).await?.into_inner().version, "v2");
    let mut req = tonic::Request::new(ListRequest::default());
    req.metadata_mut().insert("x-user-group", "gamma".parse()?);
    assert_eq!(c.list(req).await?.into_inner().version, "v1");
    assert_eq!(list(&mut c).await?.version, "v1");
    Ok(())
}

#[tokio::test]
async fn a_weighted_split_lands_within_tolerance() -> anyhow::Result<()> {
    let mesh = Mesh::new(mesh::policy::Policy::empty());
    let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
    let v2 = serve_attendees(&mesh, "v2", Faults::none()).await?;
    mesh.update(attendees_policy(
        v1.addr,
        v2.addr,
        vec![Route::to("canary", Destination::new("attendees")).split([
            (Destination::new("attendees").subset("v1"), 80),
            (Destination::new("attendees").subset("v2"), 20),
        ])],
    ))?;
    let mut c = client(&mesh);
    let n = 1000;
    let mut to_v2 = 0;
    for _ in 0..n {
        to_v2 += usize::from(list(&mut c).await?.version == "v2");
    }
    // 20 % of 1000 is 200; the standard deviation is about 12.6, so ±50
    // (±5 percentage points, about 4 sigma) fails by chance about once in
    // 15 000 runs.
    assert!((150..=250).contains(&to_v2), "v2 served {to_v2} of {n}");
    Ok(())
}

#[tokio::test]
async fn a_path_match_routes_one_method_elsewhere() -> anyhow::Result<()> {
    let mesh = Mesh::new(mesh::policy::Policy::empty());
    let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
    let v2 = serve_attendees(&mesh, "v2", Faults::none()).await?;
    let purge = RequestMatch {
        path: Some(StringMatch::Exact("/conference.Attendees/Purge".into())),
        ..Default::default()
    };
    mesh.update(attendees_policy(
        v1.addr,
        v2.addr,
        vec![
            Route::to("purge", Destination::new("attendees").subset("v2")).when(purge),
            all_to("v1"),
        ],
    ))?;
    let mut c = client(&mesh);
    assert_eq!(
        c.purge(ListRequest::default()).await?.into_inner().version,
        "v2"
    );
    assert_eq!(list(&mut c).await?.version, "v1");
    Ok(())
}

#[tokio::test]
async fn round_robin_alternates_between_endpoints() -> anyhow::Result<()> {
    let mesh = Mesh::new(mesh::policy::Policy::empty());
    let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
    let v2 = serve_attendees(&mesh, "v2", Faults::none()).await?;
    let svc =
        support::attendees(v1.addr, v2.addr).load_balancer(mesh::policy::LoadBalancer::RoundRobin);
    mesh.update(mesh::policy::Policy::builder().service(svc))?;
    let mut c = client(&mesh);
    let mut versions = Vec::new();
    for _ in 0..10 {
        versions.push(list(&mut c).await?.version);
    }
    for pair in versions.windows(2) {
        assert_ne!(pair[0], pair[1], "round robin alternates: {versions:?}");
    }
    Ok(())
}
