//! Shutdown ends streams cleanly; the admin API's probes and views.

mod support;

use anyhow::Result;
use support::*;

#[tokio::test]
async fn shutdown_ends_the_stream() -> Result<()> {
    let plane = Plane::start(&[("services.yaml", SERVICES)]).await?;
    let mut ads = Ads::connect(&plane.xds_url(), "bye").await?;
    ads.subscribe(LISTENER_TYPE, &["attendees"]).await?;
    ads.recv_type(LISTENER_TYPE).await?;
    let Plane { running, dir: _dir } = plane;
    let stopping = tokio::spawn(running.shutdown());
    ads.ended().await?;
    stopping.await??;
    Ok(())
}

#[tokio::test]
async fn admin_probes_and_config() -> Result<()> {
    let plane = Plane::start(&[
        ("services.yaml", SERVICES),
        ("routes.yaml", &routes_to("v1")),
    ])
    .await?;
    let (status, body) = plane.admin("/healthz").await?;
    assert_eq!((status, body["status"].as_str()), (200, Some("serving")));
    let (status, _) = plane.admin("/readyz").await?;
    assert_eq!(status, 200);
    let (status, config) = plane.admin("/config").await?;
    assert_eq!(status, 200);
    let services = config["policy"]["services"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(services.len(), 2);
    assert_eq!(services[0]["host"], "attendees");
    assert_eq!(services[0]["endpoints"][0]["address"], "10.0.0.1:50061");
    assert_eq!(services[0]["endpoints"][0]["labels"]["version"], "v1");
    let table = &config["policy"]["route_tables"][0];
    assert_eq!(table["name"], "attendees");
    assert_eq!(table["routes"][0]["destinations"][0]["subset"], "v1");
    let (status, body) = plane.admin("/nope").await?;
    assert_eq!(status, 404);
    assert!(body["paths"].is_array());
    let (_, clients) = plane.admin("/clients").await?;
    assert_eq!(clients["clients"], serde_json::json!([]));
    plane.running.shutdown().await?;
    Ok(())
}
