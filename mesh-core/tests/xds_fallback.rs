//! gRFC A71: a second server is used when the primary is unreachable and
//! something watched is not cached, and the client goes back to the
//! primary once it is up.

#[path = "support/ads.rs"]
mod ads;
#[path = "support/xds_fixtures.rs"]
mod fixtures;

use std::time::Duration;

use mesh_core::Mesh;
use mesh_core::policy::{Destination, Policy};
use mesh_core::xds::{Bootstrap, XdsClient};

use ads::{TestAds, dead_address};
use fixtures::*;

const TARGET: &str = "attendees:50051";
const BOUND: Duration = Duration::from_secs(30);

fn v1_endpoints(mesh: &Mesh) -> Vec<String> {
    let snapshot = mesh.snapshot();
    snapshot
        .policy()
        .endpoints(&Destination::new("attendees").subset("v1"))
        .map(|set| {
            set.endpoints
                .iter()
                .map(|e| e.address.to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_fallback_serves_at_start_up_and_the_primary_takes_over_when_back() {
    let primary = dead_address().await;
    let fallback = TestAds::start(attendees("10.0.0.2:1", "10.0.0.2:2")).await;
    let bootstrap = Bootstrap::builder()
        .server(primary.to_string())
        .server(fallback.uri())
        .build()
        .unwrap();
    let mesh = Mesh::new(Policy::empty());
    let client = XdsClient::builder(bootstrap)
        .watch(TARGET)
        .start(mesh.clone());
    tokio::time::timeout(BOUND, client.ready(TARGET))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v1_endpoints(&mesh), ["10.0.0.2:1"]);
    assert!(!fallback.requests().is_empty());

    // The primary comes up with other endpoints: the client moves back.
    let primary = TestAds::start_on(primary, attendees("10.0.0.1:1", "10.0.0.1:2")).await;
    let mut versions = mesh.versions();
    tokio::time::timeout(
        BOUND,
        versions.wait_for(|_| v1_endpoints(&mesh) == ["10.0.0.1:1"]),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(primary.requests()[0].node.is_some());
}
