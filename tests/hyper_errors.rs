//! The mesh's own replies to plain HTTP clients: each failure is a status
//! with a plain-text body that says what decided, and `x-mesh-error`.

#[path = "support/hyper.rs"]
mod support;

use std::time::Duration;

use mesh_core::Mesh;
use mesh_core::policy::{Destination, Endpoint, Policy, RequestMatch, Route, Service, StringMatch};
use mesh_hyper::MeshClient;
use support::{backend, get, refused_addr, send, spawn_fn};

#[tokio::test]
async fn no_route_is_404_naming_target_and_path() -> anyhow::Result<()> {
    let server = backend("v1").await?;
    let policy = Policy::builder()
        .service(Service::new("attendees").endpoint(Endpoint::new(server.addr)))
        .routes(
            "attendees",
            [
                Route::to("api", Destination::new("attendees")).when(RequestMatch {
                    path: Some(StringMatch::Prefix("/api/".into())),
                    ..Default::default()
                }),
            ],
        )
        .build()?;
    let mesh = Mesh::new(policy);

    let client = MeshClient::new(&mesh, "attendees:8080")?;
    let reply = send(&client, get("/other")).await?;
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(reply.headers["x-mesh-error"], "no_route");
    assert!(
        reply.body.contains("no route for /other on attendees:8080"),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("no route of attendees matches"),
        "{}",
        reply.body
    );

    // A host the policy does not know at all.
    let client = MeshClient::http2(&mesh, "payments:8080")?;
    let reply = send(&client, get("/pay")).await?;
    assert_eq!(reply.status, 404, "{reply:?}");
    assert!(
        reply.body.contains("no route for /pay on payments:8080"),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("no service or routes"),
        "{}",
        reply.body
    );
    assert_eq!(server.hits(), 0);
    Ok(())
}

#[tokio::test]
async fn empty_subset_is_503_naming_service_and_subset() -> anyhow::Result<()> {
    let server = backend("v1").await?;
    let policy = Policy::builder()
        .service(
            Service::new("attendees")
                .endpoint(Endpoint::new(server.addr).label("version", "v1"))
                .subset("v3", [("version", "v3")]),
        )
        .routes(
            "attendees",
            [Route::to("v3", Destination::new("attendees").subset("v3"))],
        )
        .build()?;
    let mesh = Mesh::new(policy);
    let client = MeshClient::new(&mesh, "attendees:8080")?;
    let reply = send(&client, get("/users")).await?;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.headers["x-mesh-error"], "no_healthy_endpoint");
    assert!(
        reply
            .body
            .contains("no healthy endpoint for attendees subset v3"),
        "{}",
        reply.body
    );
    assert_eq!(server.hits(), 0);
    Ok(())
}

#[tokio::test]
async fn refused_connection_is_503_naming_the_address() -> anyhow::Result<()> {
    let addr = refused_addr().await?;
    let policy = Policy::builder()
        .service(Service::new("attendees").endpoint(Endpoint::new(addr)))
        .build()?;
    let mesh = Mesh::new(policy);
    for client in [
        MeshClient::new(&mesh, "attendees:8080")?,
        MeshClient::http2(&mesh, "attendees:8080")?,
    ] {
        let reply = send(&client, get("/users")).await?;
        assert_eq!(reply.status, 503, "{:?}: {reply:?}", client.version());
        assert_eq!(reply.headers["x-mesh-error"], "connect");
        assert!(
            reply.body.contains(&format!("connect to {addr} failed")),
            "{:?}: {}",
            client.version(),
            reply.body
        );
        // The cause, not just hyper-util's "client error (Connect)".
        assert!(
            reply.body.contains("refused"),
            "{:?}: {}",
            client.version(),
            reply.body
        );
    }
    Ok(())
}

#[tokio::test]
async fn route_timeout_is_504_naming_the_route() -> anyhow::Result<()> {
    // Never answers: the handler waits on a future that never completes.
    let slow = spawn_fn(|_, _req| async {
        std::future::pending::<()>().await;
        http::Response::new(http_body_util::Full::default())
    })
    .await?;
    let policy = Policy::builder()
        .service(Service::new("attendees").endpoint(Endpoint::new(slow.addr)))
        .routes(
            "attendees",
            [Route::to("slow-route", Destination::new("attendees"))
                .timeout(Duration::from_millis(200))],
        )
        .build()?;
    let mesh = Mesh::new(policy);
    for client in [
        MeshClient::new(&mesh, "attendees:8080")?,
        MeshClient::http2(&mesh, "attendees:8080")?,
    ] {
        let reply = send(&client, get("/users")).await?;
        assert_eq!(reply.status, 504, "{:?}: {reply:?}", client.version());
        assert_eq!(reply.headers["x-mesh-error"], "deadline_exceeded");
        assert!(reply.body.contains("deadline exceeded"), "{}", reply.body);
        assert!(reply.body.contains("on route slow-route"), "{}", reply.body);
    }
    Ok(())
}
