//! Edits on disk reach subscribers; invalid edits are rejected as a whole
//! and reported.

mod support;

use anyhow::Result;
use envoy_types::pb::envoy::config::route::v3::{
    RouteConfiguration, route::Action, route_action::ClusterSpecifier,
};
use support::*;

const RDS: &str = "outbound|50051||attendees";

fn cluster_of(
    res: &envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse,
) -> Result<String> {
    let routes: Vec<RouteConfiguration> = decode_all(res)?;
    let action = routes[0].virtual_hosts[0].routes[0].action.clone();
    match action {
        Some(Action::Route(a)) => match a.cluster_specifier {
            Some(ClusterSpecifier::Cluster(c)) => Ok(c),
            other => anyhow::bail!("not one cluster: {other:?}"),
        },
        other => anyhow::bail!("not a route: {other:?}"),
    }
}

#[tokio::test]
async fn an_edit_on_disk_pushes_a_new_version() -> Result<()> {
    let plane = Plane::start(&[
        ("services.yaml", SERVICES),
        ("routes.yaml", &routes_to("v1")),
    ])
    .await?;
    let mut ads = Ads::connect(&plane.xds_url(), "edit").await?;
    ads.subscribe(ROUTE_TYPE, &[RDS]).await?;
    let first = ads.recv_type(ROUTE_TYPE).await?;
    assert_eq!(cluster_of(&first)?, "outbound|50051|v1|attendees");
    ads.ack(&first, &[RDS]).await?;

    plane.write("routes.yaml", &routes_to("v2"))?;
    let second = ads.recv_type(ROUTE_TYPE).await?;
    assert_eq!(cluster_of(&second)?, "outbound|50051|v2|attendees");
    assert_ne!(second.version_info, first.version_info);
    assert_ne!(second.nonce, first.nonce);
    ads.ack(&second, &[RDS]).await?;

    let v = second.version_info.clone();
    eventually("the ACK shows in /clients", || async {
        let (_, body) = plane.admin("/clients").await?;
        let acked = body["clients"][0]["types"][ROUTE_TYPE]["acked_version"].clone();
        Ok((acked == serde_json::json!(v)).then_some(()))
    })
    .await?;
    plane.running.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn an_invalid_edit_keeps_the_old_version_and_is_reported() -> Result<()> {
    let plane = Plane::start(&[
        ("services.yaml", SERVICES),
        ("routes.yaml", &routes_to("v1")),
    ])
    .await?;
    let mut ads = Ads::connect(&plane.xds_url(), "invalid").await?;
    ads.subscribe(ROUTE_TYPE, &[RDS]).await?;
    let first = ads.recv_type(ROUTE_TYPE).await?;
    ads.ack(&first, &[RDS]).await?;
    let (status, errors) = plane.admin("/errors").await?;
    assert_eq!(status, 200);
    assert_eq!(errors["status"], "ok");

    // The seed's typo: `subnet` for `subset`.
    plane.write(
        "routes.yaml",
        &routes_to("v2").replace("subset:", "subnet:"),
    )?;
    let errors = eventually("the rejection shows in /errors", || async {
        let (_, body) = plane.admin("/errors").await?;
        Ok((body["status"] == "rejected").then_some(body))
    })
    .await?;
    let problem = &errors["last_rejected"]["problems"][0];
    assert!(
        problem["file"]
            .as_str()
            .unwrap_or_default()
            .ends_with("routes.yaml"),
        "{problem}"
    );
    assert!(
        problem["field"]
            .as_str()
            .unwrap_or_default()
            .contains("destination"),
        "{problem}"
    );
    assert!(
        problem["message"]
            .as_str()
            .unwrap_or_default()
            .contains("subnet"),
        "{problem}"
    );
    assert_eq!(problem["hint"], "did you mean `subset`?");
    assert_eq!(problem["resource"]["kind"], "VirtualService");
    assert!(problem["line"].as_u64().is_some(), "{problem}");

    // Still serving the previous version; a good edit then goes through.
    assert_eq!(
        plane.running.snapshot().version().to_string(),
        first.version_info
    );
    plane.write("routes.yaml", &routes_to("v2"))?;
    let next = ads.recv_type(ROUTE_TYPE).await?;
    assert_eq!(cluster_of(&next)?, "outbound|50051|v2|attendees");
    let (_, errors) = plane.admin("/errors").await?;
    assert_eq!(errors["status"], "ok");
    assert!(
        errors["last_rejected"].is_object(),
        "the last rejection stays visible"
    );
    plane.running.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn an_invalid_first_configuration_serves_nothing_until_fixed() -> Result<()> {
    let bad = routes_to("v1").replace("subset:", "subnet:");
    let plane = Plane::start(&[("services.yaml", SERVICES), ("routes.yaml", &bad)]).await?;
    let (status, _) = plane.admin("/readyz").await?;
    assert_eq!(status, 503);
    let (status, _) = plane.admin("/healthz").await?;
    assert_eq!(status, 200);
    let mut ads = Ads::connect(&plane.xds_url(), "early").await?;
    ads.subscribe(LISTENER_TYPE, &["attendees"]).await?;
    plane.write("routes.yaml", &routes_to("v1"))?;
    let lds = ads.recv_type(LISTENER_TYPE).await?;
    assert_eq!(lds.resources.len(), 1);
    let (status, _) = plane.admin("/readyz").await?;
    assert_eq!(status, 200);
    plane.running.shutdown().await?;
    Ok(())
}
