//! The last known good resources, persisted, let a process that starts
//! while no server answers route all the same.

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
const BOUND: Duration = Duration::from_secs(20);

#[tokio::test]
async fn persisted_resources_are_used_when_no_server_answers() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("xds-resources.bin");

    // A first run, with a server, leaves the file behind.
    {
        let server = TestAds::start(attendees("10.0.0.1:50051", "10.0.0.2:50051")).await;
        let bootstrap = Bootstrap::builder().server(server.uri()).build().unwrap();
        let client = XdsClient::builder(bootstrap)
            .persist_to(&file)
            .start(Mesh::new(Policy::empty()));
        tokio::time::timeout(BOUND, client.ready(TARGET))
            .await
            .unwrap()
            .unwrap();
        assert!(file.exists());
    }

    // A second run finds no server.
    let bootstrap = Bootstrap::builder()
        .server(dead_address().await.to_string())
        .build()
        .unwrap();
    let mesh = Mesh::new(Policy::empty());
    let client = XdsClient::builder(bootstrap)
        .watch(TARGET)
        .persist_to(&file)
        .start(mesh.clone());
    tokio::time::timeout(BOUND, client.ready(TARGET))
        .await
        .unwrap()
        .unwrap();
    let snapshot = mesh.snapshot();
    let v2 = snapshot
        .policy()
        .endpoints(&Destination::new("attendees").subset("v2"))
        .unwrap();
    assert_eq!(v2.endpoints[0].address, "10.0.0.2:50051".parse().unwrap());
    assert_eq!(
        snapshot.policy().route_table(TARGET).unwrap().routes[0].name,
        "split"
    );
}
