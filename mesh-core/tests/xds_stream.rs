//! The xDS client against a test ADS server: ACK and NACK contents, the
//! policy installed into the mesh, and a dropped stream with the cache
//! still in force.

#[path = "support/ads.rs"]
mod ads;
#[path = "support/xds_fixtures.rs"]
mod fixtures;

use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::cluster::LbPolicy;
use mesh_core::Mesh;
use mesh_core::policy::{Destination, Policy};
use mesh_core::xds::{Bootstrap, Kind, XdsClient, XdsError};

use ads::TestAds;
use fixtures::*;

const TARGET: &str = "attendees:50051";
/// A bound on every wait, so a broken client fails the test instead of
/// hanging it; nothing asserts on time.
const BOUND: Duration = Duration::from_secs(20);

fn bootstrap(servers: &[String]) -> Bootstrap {
    let mut b = Bootstrap::builder()
        .node_id("attendees-client-1")
        .node_metadata("NAMESPACE", "default");
    for s in servers {
        b = b.server(s.clone());
    }
    b.build().expect("a valid bootstrap")
}

async fn ready(client: &XdsClient) -> Result<(), XdsError> {
    tokio::time::timeout(BOUND, client.ready(TARGET))
        .await
        .expect("the target settles")
}

fn endpoints(mesh: &Mesh, dest: Destination) -> Vec<String> {
    let snapshot = mesh.snapshot();
    snapshot
        .policy()
        .endpoints(&dest)
        .map(|set| {
            set.endpoints
                .iter()
                .map(|e| e.address.to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn acks_carry_the_version_and_the_policy_lands_in_the_mesh() {
    let server = TestAds::start(attendees("10.0.0.1:50051", "10.0.0.2:50051")).await;
    let mesh = Mesh::new(Policy::empty());
    let client = XdsClient::start(mesh.clone(), bootstrap(&[server.uri()]));
    ready(&client).await.unwrap();

    let requests = server.requests();
    let first = &requests[0];
    assert_eq!(first.type_url, Kind::Listener.type_url());
    assert_eq!(first.resource_names, [TARGET]);
    assert_eq!(first.node.as_ref().unwrap().id, "attendees-client-1");
    assert!(requests[1..].iter().all(|r| r.node.is_none()));
    // The listener's ACK echoes version and nonce.
    let ack = server
        .wait_for_request(|r| {
            r.type_url == Kind::Listener.type_url() && !r.response_nonce.is_empty()
        })
        .await;
    assert_eq!(ack.version_info, "1");
    assert!(ack.error_detail.is_none());
    // The cascade: RDS for the listener's route config, CDS for its
    // clusters, EDS for theirs.
    let rds = requests
        .iter()
        .find(|r| r.type_url == Kind::RouteConfig.type_url())
        .unwrap();
    assert_eq!(rds.resource_names, ["outbound|50051||attendees"]);

    let snapshot = mesh.snapshot();
    let table = snapshot.policy().route_table(TARGET).unwrap();
    let weights: Vec<u32> = table.routes[0]
        .destinations
        .iter()
        .map(|d| d.weight)
        .collect();
    assert_eq!(weights, [90, 10]);
    assert_eq!(
        endpoints(&mesh, Destination::new("attendees").subset("v2")),
        ["10.0.0.2:50051"]
    );
}

#[tokio::test]
async fn a_bad_cluster_is_nacked_and_the_good_ones_apply() {
    let mut resources = attendees("10.0.0.1:50051", "10.0.0.2:50051");
    let mut bad = cluster("outbound|50051|v2|attendees", false);
    bad.lb_policy = LbPolicy::Maglev as i32;
    let i = resources
        .iter()
        .position(|a| a == &any(cluster("outbound|50051|v2|attendees", false)))
        .unwrap();
    resources[i] = any(bad);
    let server = TestAds::start(resources).await;
    let mesh = Mesh::new(Policy::empty());
    let client = XdsClient::start(mesh.clone(), bootstrap(&[server.uri()]));

    match ready(&client).await {
        Err(XdsError::Rejected(e)) => {
            assert_eq!(e.name, "outbound|50051|v2|attendees");
            assert_eq!(e.kind, Kind::Cluster);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let nack = server
        .wait_for_request(|r| r.type_url == Kind::Cluster.type_url() && r.error_detail.is_some())
        .await;
    assert_eq!(nack.version_info, "", "nothing was accepted before");
    assert!(!nack.response_nonce.is_empty());
    let status = nack.error_detail.unwrap();
    assert_eq!(status.code, 3);
    assert_eq!(
        status.message,
        "cluster \"outbound|50051|v2|attendees\": lb_policy: MAGLEV (only ROUND_ROBIN and LEAST_REQUEST) is not supported yet"
    );
    // The v1 cluster and its endpoints were applied all the same.
    let mut versions = mesh.versions();
    tokio::time::timeout(
        BOUND,
        versions.wait_for(|_| {
            endpoints(&mesh, Destination::new("attendees").subset("v1")) == ["10.0.0.1:50051"]
        }),
    )
    .await
    .unwrap()
    .unwrap();

    // A fixed cluster is acked with the new version.
    let fixed: Vec<_> = [
        "outbound|50051||attendees",
        "outbound|50051|v1|attendees",
        "outbound|50051|v2|attendees",
    ]
    .iter()
    .map(|n| any(cluster(n, false)))
    .collect();
    server.push(Kind::Cluster.type_url(), "2", fixed);
    let ack = server
        .wait_for_request(|r| r.type_url == Kind::Cluster.type_url() && r.version_info == "2")
        .await;
    assert!(ack.error_detail.is_none());
    ready(&client).await.unwrap();
}

#[tokio::test]
async fn a_dropped_stream_reconnects_and_the_cache_stays_in_force() {
    let server = TestAds::start(attendees("10.0.0.1:50051", "10.0.0.2:50051")).await;
    let mesh = Mesh::new(Policy::empty());
    let client = XdsClient::start(mesh.clone(), bootstrap(&[server.uri()]));
    ready(&client).await.unwrap();
    let version = mesh.snapshot().version();

    server.drop_streams();
    // The second stream opens with the node and the versions accepted so far.
    let reopened = tokio::time::timeout(
        BOUND,
        server.wait_for_request(|r| r.node.is_some() && r.version_info == "1"),
    )
    .await
    .unwrap();
    assert_eq!(reopened.type_url, Kind::Listener.type_url());
    // The mesh kept routing on what it had: same snapshot, same endpoints.
    assert_eq!(mesh.snapshot().version(), version);
    assert_eq!(
        endpoints(&mesh, Destination::new("attendees").subset("v1")),
        ["10.0.0.1:50051"]
    );

    // Updates flow on the new stream.
    server.push(
        Kind::Endpoints.type_url(),
        "2",
        vec![
            any(cla(
                "outbound|50051||attendees",
                &[("10.0.0.9:50051", &[("version", "v1")])],
            )),
            any(cla(
                "outbound|50051|v1|attendees",
                &[("10.0.0.9:50051", &[("version", "v1")])],
            )),
            any(cla("outbound|50051|v2|attendees", &[])),
        ],
    );
    let mut versions = mesh.versions();
    tokio::time::timeout(
        BOUND,
        versions.wait_for(|_| {
            endpoints(&mesh, Destination::new("attendees").subset("v1")) == ["10.0.0.9:50051"]
        }),
    )
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test]
async fn a_missing_listener_does_not_exist() {
    let server = TestAds::start(attendees("10.0.0.1:50051", "10.0.0.2:50051")).await;
    let client = XdsClient::start(Mesh::new(Policy::empty()), bootstrap(&[server.uri()]));
    let err = tokio::time::timeout(BOUND, client.ready("nobody:80"))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        err,
        XdsError::DoesNotExist {
            kind: Kind::Listener,
            name: "nobody:80".into()
        }
    );
    assert!(
        err.to_string()
            .starts_with("listener \"nobody:80\" does not exist")
    );
}
