//! NACKs are recorded and shown in /clients; a stale nonce ACKs nothing
//! and gets no answer, but its subscription counts.

mod support;

use anyhow::Result;
use envoy_types::pb::google::rpc::Status as RpcStatus;
use support::*;

#[tokio::test]
async fn a_nack_is_recorded_and_visible_in_clients() -> Result<()> {
    let plane = Plane::start(&[("services.yaml", SERVICES)]).await?;
    let mut ads = Ads::connect(&plane.xds_url(), "nacker").await?;
    ads.subscribe(CLUSTER_TYPE, &[]).await?;
    let cds = ads.recv_type(CLUSTER_TYPE).await?;
    let mut nack = request(CLUSTER_TYPE, &[], "", &cds.nonce);
    nack.error_detail = Some(RpcStatus {
        code: 3,
        message: "cluster outbound|50051||attendees: lb_policy MAGLEV is not supported".into(),
        ..Default::default()
    });
    ads.send(nack).await?;

    let client = eventually("the NACK shows in /clients", || async {
        let (status, body) = plane.admin("/clients").await?;
        assert_eq!(status, 200);
        let client = body["clients"][0].clone();
        Ok((!client["types"][CLUSTER_TYPE]["last_nack"].is_null()).then_some(client))
    })
    .await?;
    assert_eq!(client["node_id"], "nacker");
    assert_eq!(client["node_cluster"], "test");
    let cds_status = &client["types"][CLUSTER_TYPE];
    assert!(cds_status["wildcard"].as_bool().unwrap_or_default());
    assert!(
        cds_status["acked_version"].is_null(),
        "nothing accepted yet"
    );
    let nack = &cds_status["last_nack"];
    assert_eq!(
        nack["rejected_version"],
        serde_json::json!(cds.version_info)
    );
    assert_eq!(nack["code"], 3);
    assert!(
        nack["message"]
            .as_str()
            .unwrap_or_default()
            .contains("MAGLEV"),
        "{nack}"
    );
    let running_clients = plane.running.clients();
    assert_eq!(running_clients.len(), 1);
    plane.running.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_stale_request_acks_nothing_but_its_subscription_counts() -> Result<()> {
    let plane = Plane::start(&[
        ("services.yaml", SERVICES),
        ("routes.yaml", &routes_to("v1")),
    ])
    .await?;
    let mut ads = Ads::connect(&plane.xds_url(), "stale").await?;
    let rds = "outbound|50051||attendees";
    ads.subscribe(ROUTE_TYPE, &[rds]).await?;
    let first = ads.recv_type(ROUTE_TYPE).await?;
    // A config change sends a second response before the first is ACKed.
    plane.write("routes.yaml", &routes_to("v2"))?;
    let second = ads.recv_type(ROUTE_TYPE).await?;
    assert_ne!(first.nonce, second.nonce);

    // Answering the first response now is stale: no answer, no ACK
    // recorded; the grown subscription is recorded all the same.
    ads.send(request(
        ROUTE_TYPE,
        &[rds, "outbound|50052||sessions"],
        &first.version_info,
        &first.nonce,
    ))
    .await?;
    // A request on another type is answered; it being the next response
    // shows the stale one got none.
    ads.subscribe(LISTENER_TYPE, &["attendees"]).await?;
    ads.recv_type(LISTENER_TYPE).await?;
    let (_, body) = plane.admin("/clients").await?;
    let rds_status = &body["clients"][0]["types"][ROUTE_TYPE];
    assert_eq!(rds_status["stale_requests"], 1);
    assert!(rds_status["acked_version"].is_null());
    assert_eq!(
        rds_status["subscribed"],
        serde_json::json!([rds, "outbound|50052||sessions"])
    );

    // The ACK of the second response (restating the subscription) gets
    // what the grown subscription asks for.
    ads.send(request(
        ROUTE_TYPE,
        &[rds, "outbound|50052||sessions"],
        &second.version_info,
        &second.nonce,
    ))
    .await?;
    let grown = ads.recv_type(ROUTE_TYPE).await?;
    assert_eq!(grown.resources.len(), 2);
    plane.running.shutdown().await?;
    Ok(())
}
