//! Self-registration: registered endpoints reach EDS, leave it when their
//! lease lapses, and unknown services are refused with a suggestion.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;
use envoy_types::pb::envoy::config::core::v3::{address, socket_address::PortSpecifier};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, lb_endpoint::HostIdentifier,
};
use mesh_control::registry::pb::registry_client::RegistryClient;
use mesh_control::registry::pb::{DeregisterRequest, KeepAliveRequest, RegisterRequest};
use support::*;

const V3: &str = "outbound|50051|v3|attendees";

fn addresses(
    res: &envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse,
) -> Result<Vec<String>> {
    let cla: Vec<ClusterLoadAssignment> = decode_all(res)?;
    let mut out = Vec::new();
    for e in cla
        .iter()
        .flat_map(|c| &c.endpoints)
        .flat_map(|l| &l.lb_endpoints)
    {
        if let Some(HostIdentifier::Endpoint(ep)) = &e.host_identifier
            && let Some(address::Address::SocketAddress(sa)) =
                ep.address.as_ref().and_then(|a| a.address.as_ref())
            && let Some(PortSpecifier::PortValue(p)) = sa.port_specifier
        {
            out.push(format!("{}:{p}", sa.address));
        }
    }
    Ok(out)
}

fn register(service: &str, ttl_ms: u64) -> RegisterRequest {
    RegisterRequest {
        service: service.into(),
        address: "10.0.0.9".into(),
        port: 50069,
        labels: HashMap::from([("version".to_owned(), "v3".to_owned())]),
        ttl_ms,
    }
}

async fn plane() -> Result<Plane> {
    // The DestinationRule in SERVICES is replaced by one with a v3 subset.
    let services = SERVICES.replace(
        "  - {name: v2, labels: {version: v2}}\n",
        "  - {name: v2, labels: {version: v2}}\n  - {name: v3, labels: {version: v3}}\n",
    );
    assert!(services.contains("v3"));
    Plane::start(&[("services.yaml", &services)]).await
}

#[tokio::test]
async fn a_registered_endpoint_joins_its_subset_until_its_lease_lapses() -> Result<()> {
    let plane = plane().await?;
    let mut ads = Ads::connect(&plane.xds_url(), "registry").await?;
    ads.subscribe(ENDPOINT_TYPE, &[V3]).await?;
    let empty = ads.recv_type(ENDPOINT_TYPE).await?;
    assert!(addresses(&empty)?.is_empty());
    ads.ack(&empty, &[V3]).await?;

    let mut registry = RegistryClient::connect(plane.xds_url()).await?;
    // Short enough that the test sees it lapse, with no keep-alive.
    let lease = registry
        .register(register("attendees", 300))
        .await?
        .into_inner();
    assert_eq!(lease.ttl_ms, 300);
    let joined = ads.recv_type(ENDPOINT_TYPE).await?;
    assert_eq!(addresses(&joined)?, ["10.0.0.9:50069"]);
    ads.ack(&joined, &[V3]).await?;
    let (_, config) = plane.admin("/config").await?;
    assert_eq!(config["registered"][0]["service"], "attendees");

    let left = ads.recv_type(ENDPOINT_TYPE).await?;
    assert!(addresses(&left)?.is_empty(), "the lease lapsed");
    let err = registry
        .keep_alive(KeepAliveRequest {
            lease_id: lease.lease_id,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    plane.running.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn registered_endpoints_survive_reloads_and_leave_on_deregister() -> Result<()> {
    let plane = plane().await?;
    let mut registry = RegistryClient::connect(plane.xds_url()).await?;
    let lease = registry
        .register(register("attendees", 0))
        .await?
        .into_inner();
    assert_eq!(lease.ttl_ms, 10_000, "the default TTL");
    registry
        .keep_alive(KeepAliveRequest {
            lease_id: lease.lease_id.clone(),
        })
        .await?;

    let mut ads = Ads::connect(&plane.xds_url(), "reload").await?;
    ads.subscribe(ENDPOINT_TYPE, &[V3]).await?;
    let eds = ads.recv_type(ENDPOINT_TYPE).await?;
    assert_eq!(addresses(&eds)?, ["10.0.0.9:50069"]);
    ads.ack(&eds, &[V3]).await?;

    // A reload that changes routing only keeps the registered endpoint.
    plane.write("routes.yaml", &routes_to("v3"))?;
    ads.subscribe(ROUTE_TYPE, &["outbound|50051||attendees"])
        .await?;
    let rds = ads.recv_type(ROUTE_TYPE).await?;
    assert_eq!(rds.resources.len(), 1);
    eventually("the reload is served", || async {
        let v = plane
            .running
            .policy()
            .route_table("attendees")
            .map(|t| t.name.clone());
        Ok((v.as_deref() == Some("attendees")).then_some(()))
    })
    .await?;
    let cla = plane.running.policy();
    let v3 = cla
        .endpoints(&mesh_core::policy::Destination::new("attendees").subset("v3"))
        .map(|s| s.endpoints.len());
    assert_eq!(v3, Some(1));

    registry
        .deregister(DeregisterRequest {
            lease_id: lease.lease_id,
        })
        .await?;
    let left = loop {
        let res = ads.recv().await?;
        if res.type_url == ENDPOINT_TYPE {
            break res;
        }
    };
    assert!(addresses(&left)?.is_empty());
    plane.running.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn an_unknown_service_is_not_found_with_a_suggestion() -> Result<()> {
    let plane = plane().await?;
    let mut registry = RegistryClient::connect(plane.xds_url()).await?;
    let err = registry
        .register(register("atendees", 0))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert!(err.message().contains("\"atendees\""), "{}", err.message());
    assert!(
        err.message().contains("did you mean \"attendees\"?"),
        "{}",
        err.message()
    );

    let mut bad = register("attendees", 0);
    bad.address = "attendees.local".into();
    let err = registry.register(bad).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("not an IP address"),
        "{}",
        err.message()
    );
    plane.running.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn ttls_are_capped() -> Result<()> {
    let services = SERVICES;
    let plane = Plane::start_with(&[("services.yaml", services)], |b| {
        b.max_lease_ttl(Duration::from_secs(1))
    })
    .await?;
    let mut registry = RegistryClient::connect(plane.xds_url()).await?;
    let mut req = register("attendees", 60_000);
    req.labels.clear();
    let lease = registry.register(req).await?.into_inner();
    assert_eq!(lease.ttl_ms, 1_000);
    plane.running.shutdown().await?;
    Ok(())
}
