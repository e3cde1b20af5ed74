//! Shared pieces of the tonic integration tests.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

pub mod identity;

use mesh::Mesh;
use mesh::conference::pb::attendees_client::AttendeesClient;
use mesh::conference::pb::{ListReply, ListRequest};
use mesh::policy::{Destination, Endpoint, PolicyBuilder, Route, Service};
use mesh::tonic::MeshChannel;

/// Polls `check` until it returns true, for up to ten seconds of real time:
/// for convergence that happens in the background. Not a timing assertion:
/// the bound only turns a hang into a failure.
pub async fn assert_eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("never happened: {what}");
}

/// `attendees` with endpoints v1 and v2 and subsets by version label.
pub fn attendees(v1: SocketAddr, v2: SocketAddr) -> Service {
    Service::new("attendees")
        .port(50051, Some("grpc"))
        .endpoint(Endpoint::new(v1).label("version", "v1"))
        .endpoint(Endpoint::new(v2).label("version", "v2"))
        .subset("v1", [("version", "v1")])
        .subset("v2", [("version", "v2")])
}

/// A policy builder with `attendees` routed by `routes`.
pub fn attendees_policy(v1: SocketAddr, v2: SocketAddr, routes: Vec<Route>) -> PolicyBuilder {
    mesh::policy::Policy::builder()
        .service(attendees(v1, v2))
        .routes("attendees", routes)
}

/// Everything to one subset.
pub fn all_to(subset: &str) -> Route {
    Route::to(
        format!("all-{subset}"),
        Destination::new("attendees").subset(subset),
    )
}

/// A generated client over the mesh.
pub fn client(mesh: &Mesh) -> AttendeesClient<MeshChannel> {
    AttendeesClient::new(MeshChannel::new(mesh, "attendees:50051").expect("valid target"))
}

/// One `List` call.
pub async fn list(client: &mut AttendeesClient<MeshChannel>) -> Result<ListReply, tonic::Status> {
    client
        .list(ListRequest {
            conference: "rustconf".into(),
        })
        .await
        .map(tonic::Response::into_inner)
}
