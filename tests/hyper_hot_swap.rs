//! Swapping the policy while requests flow: requests that start after the
//! update go to the new subset, requests that finish before it went to the
//! old one, and not one request fails.

#[path = "support/hyper.rs"]
mod support;

use std::net::SocketAddr;

use mesh_core::Mesh;
use mesh_core::policy::{Destination, Endpoint, Policy, PolicyBuilder, Route, Service};
use mesh_hyper::MeshClient;
use support::{backend, get, send};
use tokio::sync::watch;

/// Everything to `subset`.
fn policy(v1: SocketAddr, v2: SocketAddr, subset: &str) -> PolicyBuilder {
    Policy::builder()
        .service(
            Service::new("attendees")
                .endpoint(Endpoint::new(v1).label("version", "v1"))
                .endpoint(Endpoint::new(v2).label("version", "v2"))
                .subset("v1", [("version", "v1")])
                .subset("v2", [("version", "v2")]),
        )
        .routes(
            "attendees",
            [Route::to(
                "all",
                Destination::new("attendees").subset(subset),
            )],
        )
}

/// One request as a worker saw it.
#[derive(Debug)]
struct Seen {
    /// The policy version before the request was sent.
    before: u64,
    /// The policy version after the response was read.
    after: u64,
    status: http::StatusCode,
    body: String,
}

#[tokio::test]
async fn update_while_requests_flow() -> anyhow::Result<()> {
    let v1 = backend("v1").await?;
    let v2 = backend("v2").await?;
    let mesh = Mesh::new(policy(v1.addr, v2.addr, "v1").build()?);

    // Workers count the requests they finish (total, and those started on
    // the new policy) so the test can wait for progress without sleeping.
    let (progress, mut progressed) = watch::channel((0usize, 0usize));
    let (stop, stopped) = watch::channel(false);
    let mut workers = tokio::task::JoinSet::new();
    let h1 = MeshClient::new(&mesh, "attendees:8080")?;
    let h2 = MeshClient::http2(&mesh, "attendees:8080")?;
    for client in [h1.clone(), h1, h2.clone(), h2] {
        let mesh = mesh.clone();
        let progress = progress.clone();
        let stopped = stopped.clone();
        workers.spawn(async move {
            let mut seen = Vec::new();
            while !*stopped.borrow() {
                let before = mesh.snapshot().version();
                let reply = send(&client, get("/users")).await?;
                let after = mesh.snapshot().version();
                progress.send_modify(|(all, new)| {
                    *all += 1;
                    *new += usize::from(before >= 2);
                });
                seen.push(Seen {
                    before,
                    after,
                    status: reply.status,
                    body: reply.body,
                });
            }
            anyhow::Ok(seen)
        });
    }

    // If every worker fails, waiting ends with an error instead of hanging.
    drop(progress);
    progressed.wait_for(|(all, _)| *all >= 100).await?;
    assert_eq!(mesh.update(policy(v1.addr, v2.addr, "v2"))?, 2);
    progressed.wait_for(|(_, new)| *new >= 100).await?;
    stop.send(true)?;

    let mut seen = Vec::new();
    while let Some(done) = workers.join_next().await {
        seen.extend(done??);
    }
    let failed: Vec<_> = seen.iter().filter(|s| s.status != 200).collect();
    assert!(failed.is_empty(), "failed during the swap: {failed:?}");
    let mut old = 0;
    let mut new = 0;
    for s in &seen {
        if s.after == 1 {
            assert_eq!(s.body, "v1", "finished before the swap: {s:?}");
            old += 1;
        }
        if s.before == 2 {
            assert_eq!(s.body, "v2", "started after the swap: {s:?}");
            new += 1;
        }
    }
    assert!(old >= 100, "{old} requests before the swap");
    assert!(new >= 100, "{new} requests after the swap");
    Ok(())
}
