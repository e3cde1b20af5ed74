//! What `MeshClient` does to requests: path-only requests reach the
//! backend with the target as `Host` (HTTP/1.1) or `:authority` (h2c),
//! clones share the client, and a bad target is a typed error.

#[path = "support/hyper.rs"]
mod support;

use mesh_core::Mesh;
use mesh_core::policy::{Endpoint, Policy, Service};
use mesh_hyper::{HttpVersion, MeshClient};
use support::{backend, get, send};

fn one_endpoint(addr: std::net::SocketAddr) -> anyhow::Result<Mesh> {
    let policy = Policy::builder()
        .service(Service::new("attendees").endpoint(Endpoint::new(addr)))
        .build()?;
    Ok(Mesh::new(policy))
}

#[tokio::test]
async fn path_only_requests_carry_the_target_as_authority() -> anyhow::Result<()> {
    let server = backend("v1").await?;
    let mesh = one_endpoint(server.addr)?;
    for client in [
        MeshClient::new(&mesh, "attendees:8080")?,
        MeshClient::http2(&mesh, "attendees:8080")?,
    ] {
        let reply = send(&client, get("/users?page=2")).await?;
        assert_eq!(reply.status, 200, "{:?}: {reply:?}", client.version());
        assert_eq!(
            reply.headers["x-seen-authority"],
            "attendees:8080",
            "{:?}",
            client.version()
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_explicit_host_header_is_kept() -> anyhow::Result<()> {
    let server = backend("v1").await?;
    let mesh = one_endpoint(server.addr)?;
    let client = MeshClient::new(&mesh, "attendees:8080")?;
    let mut req = get("/users");
    req.headers_mut()
        .insert(http::header::HOST, "attendees.example".parse()?);
    let reply = send(&client, req).await?;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.headers["x-seen-authority"], "attendees.example");
    Ok(())
}

#[tokio::test]
async fn clones_work_concurrently_over_both_versions() -> anyhow::Result<()> {
    let server = backend("v1").await?;
    let mesh = one_endpoint(server.addr)?;
    for client in [
        MeshClient::new(&mesh, "attendees")?,
        MeshClient::http2(&mesh, "attendees")?,
    ] {
        let before = server.hits();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let client = client.clone();
            tasks.spawn(async move {
                let mut ok = 0;
                for _ in 0..10 {
                    let reply = send(&client, get("/users")).await?;
                    anyhow::ensure!(reply.status == 200, "{reply:?}");
                    ok += 1;
                }
                anyhow::Ok(ok)
            });
        }
        let mut total = 0;
        while let Some(done) = tasks.join_next().await {
            total += done??;
        }
        assert_eq!(total, 80);
        assert_eq!(server.hits() - before, 80);
    }
    Ok(())
}

#[test]
fn invalid_targets_are_typed_errors_naming_the_target() {
    let mesh = Mesh::new(Policy::empty());
    let err = MeshClient::<http_body_util::Full<bytes::Bytes>>::with_settings(
        &mesh,
        "attendees:http",
        HttpVersion::Http2,
        mesh_hyper::ConnectSettings::default(),
    )
    .unwrap_err();
    assert_eq!(err.target(), "attendees:http");
    let msg = err.to_string();
    assert!(
        msg.contains("invalid mesh target \"attendees:http\""),
        "{msg}"
    );
    assert!(msg.contains("expected host[:port]"), "{msg}");
}

#[tokio::test]
async fn serve_returns_once_shutdown_completes_and_connections_close() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
            bytes::Bytes::from_static(b"up"),
        )))
    });
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(mesh_hyper::serve(listener, app, async {
        let _ = stop.await;
    }));

    // Leave an idle HTTP/1.1 connection and an h2c connection open.
    let mesh = one_endpoint(addr)?;
    for client in [
        MeshClient::new(&mesh, "attendees")?,
        MeshClient::http2(&mesh, "attendees")?,
    ] {
        let reply = send(&client, get("/")).await?;
        assert_eq!(reply.body, "up");
    }
    let _ = shutdown.send(());
    // Returns only once both connections have closed.
    server.await?;
    Ok(())
}
