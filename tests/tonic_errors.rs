//! Every failure the mesh itself answers, as a gRPC status whose message
//! says what decided.

mod support;

use std::time::Duration;

use mesh::Mesh;
use mesh::conference::{Faults, serve_attendees};
use mesh::policy::{Destination, Endpoint, Policy, Route, Service};
use support::{all_to, attendees_policy, client, list};
use tonic::Code;

#[tokio::test]
async fn an_unknown_target_is_unimplemented_naming_it() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let status = list(&mut client(&mesh)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().contains("no route"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("attendees:50051"),
        "{}",
        status.message()
    );
    assert_eq!(
        status
            .metadata()
            .get("x-mesh-error")
            .map(|v| v.to_str().ok()),
        Some(Some("no_route"))
    );
    Ok(())
}

#[tokio::test]
async fn an_unmatched_path_is_unimplemented_naming_the_route_table() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
    let only_purge = all_to("v1").when(mesh::policy::RequestMatch {
        path: Some(mesh::policy::StringMatch::Exact(
            "/conference.Attendees/Purge".into(),
        )),
        ..Default::default()
    });
    mesh.update(attendees_policy(v1.addr, v1.addr, vec![only_purge]))?;
    let status = list(&mut client(&mesh)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().contains("/conference.Attendees/List"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("no route of attendees matches"),
        "{}",
        status.message()
    );
    Ok(())
}

#[tokio::test]
async fn an_empty_subset_is_unavailable_naming_service_and_subset() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
    let svc = Service::new("attendees")
        .endpoint(Endpoint::new(v1.addr).label("version", "v1"))
        .subset("v3", [("version", "v3")]);
    mesh.update(Policy::builder().service(svc).routes(
        "attendees",
        [Route::to("r", Destination::new("attendees").subset("v3"))],
    ))?;
    let status = list(&mut client(&mesh)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        status.message(),
        "no healthy endpoint for attendees subset v3: the policy lists no endpoints for it"
    );
    Ok(())
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_naming_the_endpoint() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    // A port nobody listens on: bind one, note it, let it go.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    mesh.update(
        Policy::builder().service(Service::new("attendees").endpoint(Endpoint::new(dead))),
    )?;
    let mut c = client(&mesh);
    let status = list(&mut c).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status
            .message()
            .contains(&format!("connect to {dead} failed")),
        "{}",
        status.message()
    );
    // The endpoint now backs off: the next call on the same channel fails
    // fast, without a connection attempt.
    let status = list(&mut c).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        status.message(),
        "no healthy endpoint for attendees: its one endpoint is failing to connect (retrying with backoff)"
    );
    Ok(())
}

#[tokio::test]
async fn a_hung_destination_is_deadline_exceeded_naming_the_route() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let faults = Faults::none();
    faults.hang();
    let v1 = serve_attendees(&mesh, "v1", faults).await?;
    let route = all_to("v1").timeout(Duration::from_millis(200));
    mesh.update(attendees_policy(v1.addr, v1.addr, vec![route]))?;
    let status = list(&mut client(&mesh)).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(
        status.message().contains("route all-v1"),
        "{}",
        status.message()
    );
    Ok(())
}

#[tokio::test]
async fn the_callers_own_deadline_clamps_the_route_timeout() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let faults = Faults::none();
    faults.hang();
    let v1 = serve_attendees(&mesh, "v1", faults).await?;
    mesh.update(attendees_policy(
        v1.addr,
        v1.addr,
        vec![all_to("v1").timeout(Duration::from_secs(60))],
    ))?;
    let mut req = tonic::Request::new(mesh::conference::pb::ListRequest::default());
    req.set_timeout(Duration::from_millis(100));
    let status = client(&mesh).list(req).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(status.message().contains("clamped"), "{}", status.message());
    Ok(())
}

#[test]
fn an_invalid_target_is_an_error_naming_it() {
    let mesh = Mesh::new(Policy::empty());
    let err = mesh::tonic::MeshChannel::new(&mesh, "not a host")
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"not a host\""), "{err}");
    assert!(err.contains("host[:port]"), "{err}");
}
