//! A request the control plane cannot read ends its own stream with a
//! status that says why, and nothing else.

mod support;

use anyhow::{Context, Result};
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
use futures_util::StreamExt;
use support::*;

/// A `DiscoveryRequest` whose `resource_names` (a `repeated string`) can
/// carry any bytes, as a broken client might send them.
#[derive(Clone, PartialEq, prost::Message)]
struct RawRequest {
    #[prost(message, optional, tag = "2")]
    node: Option<Node>,
    #[prost(bytes = "vec", repeated, tag = "3")]
    resource_names: Vec<Vec<u8>>,
    #[prost(string, tag = "4")]
    type_url: String,
}

#[tokio::test]
async fn a_resource_name_that_is_not_utf8_ends_the_stream_with_invalid_argument() -> Result<()> {
    let plane = Plane::start(&[("services.yaml", SERVICES)]).await?;
    let channel = tonic::transport::Endpoint::from_shared(plane.xds_url())?
        .connect()
        .await?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await?;
    let request = RawRequest {
        node: Some(Node {
            id: "broken".into(),
            ..Default::default()
        }),
        resource_names: vec![
            b"outbound|50051||attendees".to_vec(),
            b"bad\xffname".to_vec(),
        ],
        type_url: CLUSTER_TYPE.into(),
    };
    // The client keeps its side open: the refusal is the server's.
    let requests = futures_util::stream::iter([request]).chain(futures_util::stream::pending());
    let path = http::uri::PathAndQuery::from_static(
        "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
    );
    let codec = tonic_prost::ProstCodec::<RawRequest, DiscoveryResponse>::default();
    let mut responses = grpc
        .streaming(tonic::Request::new(requests), path, codec)
        .await?
        .into_inner();
    let status = tokio::time::timeout(PATIENCE, responses.message())
        .await
        .context("no answer")?
        .expect_err("the stream is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("not UTF-8"), "{status:?}");
    assert!(status.message().contains("Cluster"), "{status:?}");

    let mut ads = Ads::connect(&plane.xds_url(), "well-formed").await?;
    ads.subscribe(CLUSTER_TYPE, &[]).await?;
    let cds = ads.recv_type(CLUSTER_TYPE).await?;
    assert!(!cds.resources.is_empty(), "others are still served");
    plane.running.shutdown().await?;
    Ok(())
}
