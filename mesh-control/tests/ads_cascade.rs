//! A client follows LDS -> RDS -> CDS -> EDS and gets the right resources.

mod support;

use anyhow::Result;
use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::route::v3::{
    RouteConfiguration, route::Action, route_action::ClusterSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use envoy_types::pb::envoy::service::discovery::v3::DeltaDiscoveryRequest;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use support::*;

#[tokio::test]
async fn lds_rds_cds_eds_cascade() -> Result<()> {
    let plane = Plane::start(&[
        ("services.yaml", SERVICES),
        ("routes.yaml", &routes_to("v2")),
    ])
    .await?;
    let mut ads = Ads::connect(&plane.xds_url(), "cascade").await?;

    ads.subscribe(LISTENER_TYPE, &["attendees:50051", "nothing:80"])
        .await?;
    let lds = ads.recv_type(LISTENER_TYPE).await?;
    let listeners: Vec<Listener> = decode_all(&lds)?;
    assert_eq!(listeners.len(), 1, "a name that names nothing is absent");
    assert_eq!(listeners[0].name, "attendees:50051");
    let hcm: HttpConnectionManager = decode(
        listeners[0]
            .api_listener
            .as_ref()
            .and_then(|a| a.api_listener.as_ref())
            .unwrap(),
    )?;
    let Some(RouteSpecifier::Rds(rds)) = hcm.route_specifier else {
        panic!("listener without RDS")
    };
    assert_eq!(rds.route_config_name, "outbound|50051||attendees");
    ads.ack(&lds, &["attendees:50051", "nothing:80"]).await?;

    ads.subscribe(ROUTE_TYPE, &[&rds.route_config_name]).await?;
    let rds_res = ads.recv_type(ROUTE_TYPE).await?;
    let routes: Vec<RouteConfiguration> = decode_all(&rds_res)?;
    let vh = &routes[0].virtual_hosts[0];
    assert!(
        vh.domains.contains(&"attendees:50051".to_owned()),
        "{:?}",
        vh.domains
    );
    let Some(Action::Route(action)) = &vh.routes[0].action else {
        panic!("not a route action")
    };
    let Some(ClusterSpecifier::Cluster(cluster)) = &action.cluster_specifier else {
        panic!("not one cluster")
    };
    assert_eq!(cluster, "outbound|50051|v2|attendees");
    ads.ack(&rds_res, &[&rds.route_config_name]).await?;

    ads.subscribe(CLUSTER_TYPE, &[]).await?;
    let cds = ads.recv_type(CLUSTER_TYPE).await?;
    let clusters: Vec<Cluster> = decode_all(&cds)?;
    let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(&cluster.as_str()), "{names:?}");
    assert_eq!(names.len(), 4, "wildcard: every cluster ({names:?})");
    ads.ack(&cds, &[]).await?;

    ads.subscribe(ENDPOINT_TYPE, &[cluster]).await?;
    let eds = ads.recv_type(ENDPOINT_TYPE).await?;
    let cla: Vec<ClusterLoadAssignment> = decode_all(&eds)?;
    assert_eq!(cla.len(), 1);
    assert_eq!(cla[0].cluster_name, *cluster);
    assert_eq!(cla[0].endpoints[0].lb_endpoints.len(), 1, "only v2");

    plane.running.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn delta_ads_is_unimplemented_with_a_clear_message() -> Result<()> {
    let plane = Plane::start(&[("services.yaml", SERVICES)]).await?;
    let mut client = AggregatedDiscoveryServiceClient::connect(plane.xds_url()).await?;
    let err = client
        .delta_aggregated_resources(tokio_stream::iter(Vec::<DeltaDiscoveryRequest>::new()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    assert!(
        err.message().contains("state-of-the-world"),
        "{}",
        err.message()
    );
    plane.running.shutdown().await?;
    Ok(())
}
