//! A minimal ADS client, standing in for a client on another machine: it
//! follows the LDS, RDS, CDS, EDS cascade and ACKs every response,
//! decoding nothing beyond the `DiscoveryResponse` envelope.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::clients::{Goal, target};
use crate::mesh_yaml::{PORT, host};

/// Clusters (and load assignments) per service: the whole service and its
/// two subsets.
const CLUSTERS_PER_SERVICE: usize = 3;

/// The part of the xDS v3 discovery messages the minimal ADS client uses
/// (field numbers from `envoy/service/discovery/v3/discovery.proto`);
/// prost skips the fields not declared here.
mod wire {
    /// `envoy.config.core.v3.Node`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Node {
        #[prost(string, tag = "1")]
        pub(crate) id: String,
    }

    /// `envoy.service.discovery.v3.DiscoveryRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct DiscoveryRequest {
        #[prost(string, tag = "1")]
        pub(crate) version_info: String,
        #[prost(message, optional, tag = "2")]
        pub(crate) node: Option<Node>,
        /// `repeated string` on the wire; `Bytes` here so that every ACK
        /// restates the subscription by reference counts, not by
        /// allocating 8000 strings on the cores being measured.
        #[prost(bytes = "bytes", repeated, tag = "3")]
        pub(crate) resource_names: Vec<bytes::Bytes>,
        #[prost(string, tag = "4")]
        pub(crate) type_url: String,
        #[prost(string, tag = "5")]
        pub(crate) response_nonce: String,
    }

    /// `envoy.service.discovery.v3.DiscoveryResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct DiscoveryResponse {
        #[prost(string, tag = "1")]
        pub(crate) version_info: String,
        /// Each `google.protobuf.Any`, left encoded: a stand-in for a
        /// client on another machine only needs to count them, and the
        /// slices share the received buffer rather than copy 3 MB per
        /// response on the cores the control plane is measured on.
        #[prost(bytes = "bytes", repeated, tag = "2")]
        pub(crate) resources: Vec<bytes::Bytes>,
        #[prost(string, tag = "4")]
        pub(crate) type_url: String,
        #[prost(string, tag = "5")]
        pub(crate) nonce: String,
    }
}

/// The cascade's four types, in order.
const TYPES: [&str; 4] = [
    "type.googleapis.com/envoy.config.listener.v3.Listener",
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
];
const ROUTES: usize = 1;

/// What every stand-in client of a scenario subscribes to, per type: the
/// names of the first `targets` services, as the mapping names them
/// (docs/xds-mapping.md), sorted (gRPC's C-core client and the mesh's own
/// keep their subscriptions in ordered maps). Built once, before the clock
/// starts: a client on another machine spends that work on its own cores.
#[derive(Clone, Debug)]
pub(crate) struct Subscriptions {
    targets: usize,
    names: Arc<[Vec<Bytes>; 4]>,
}

impl Subscriptions {
    pub(crate) fn new(targets: usize) -> Self {
        Self {
            targets,
            names: Arc::new(std::array::from_fn(|index| names(index, targets))),
        }
    }
}

fn names(index: usize, targets: usize) -> Vec<Bytes> {
    let mut names: Vec<String> = (0..targets)
        .flat_map(|i| {
            let h = host(i);
            match index {
                0 => vec![target(i)],
                1 => vec![format!("outbound|{PORT}||{h}")],
                _ => ["", "v1", "v2"]
                    .iter()
                    .map(|subset| format!("outbound|{PORT}|{subset}|{h}"))
                    .collect(),
            }
        })
        .collect();
    names.sort_unstable();
    names.into_iter().map(Bytes::from).collect()
}

/// A minimal ADS client: subscribes to LDS for its targets, then to RDS,
/// CDS and EDS as each first answer arrives, ACKs every response, and
/// reports when it has every resource of the four types (goal 1) and when
/// an RDS version newer than the one at a goal's start arrives (the edits).
pub(crate) async fn ads_client(
    xds: SocketAddr,
    subscriptions: Subscriptions,
    goals: watch::Receiver<(u64, Goal)>,
    done: mpsc::UnboundedSender<(u64, Instant)>,
) {
    if let Err(e) = run_ads_client(xds, subscriptions, goals, done).await {
        eprintln!("ADS client: {e:#}");
    }
}

async fn run_ads_client(
    xds: SocketAddr,
    subscriptions: Subscriptions,
    mut goals: watch::Receiver<(u64, Goal)>,
    done: mpsc::UnboundedSender<(u64, Instant)>,
) -> anyhow::Result<()> {
    use wire::{DiscoveryRequest, DiscoveryResponse, Node};
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{xds}"))?
        .connect()
        .await?;
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(256 << 20);
    grpc.ready().await?;
    let (tx, rx) = mpsc::unbounded_channel::<DiscoveryRequest>();
    let outbound =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    let Subscriptions {
        targets,
        names: lists,
    } = subscriptions;
    let subscribe = |index: usize, node: Option<Node>| DiscoveryRequest {
        node,
        resource_names: lists[index].clone(),
        type_url: TYPES[index].to_owned(),
        ..Default::default()
    };
    let node = Node {
        id: "bench-ads-client".to_owned(),
    };
    tx.send(subscribe(0, Some(node)))?;
    let path = http::uri::PathAndQuery::from_static(
        "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
    );
    let codec = tonic_prost::ProstCodec::<DiscoveryRequest, DiscoveryResponse>::default();
    let mut inbound = grpc
        .streaming(tonic::Request::new(outbound), path, codec)
        .await?
        .into_inner();
    let expected = [
        targets,
        targets,
        targets * CLUSTERS_PER_SERVICE,
        targets * CLUSTERS_PER_SERVICE,
    ];
    // Per type: resources in the last response ACKed, or None.
    let mut acked: [Option<usize>; 4] = [None; 4];
    let mut route_version = String::new();
    // The goal being watched, and the RDS version when it started.
    let mut watching = (0u64, String::new());
    let mut reported = 0u64;
    loop {
        let (id, goal) = *goals.borrow_and_update();
        if id != watching.0 {
            watching = (id, route_version.clone());
        }
        let reached = match goal {
            Goal::Complete => acked.iter().zip(expected).all(|(a, e)| *a == Some(e)),
            Goal::Weight(_) => route_version != watching.1,
        };
        if reached && reported != id {
            reported = id;
            if done.send((id, Instant::now())).is_err() {
                return Ok(());
            }
        }
        let response = tokio::select! {
            r = inbound.message() => match r? {
                Some(response) => response,
                None => bail!("the control plane ended the stream"),
            },
            r = goals.changed() => {
                if r.is_err() {
                    return Ok(());
                }
                continue;
            }
        };
        let Some(index) = TYPES.iter().position(|t| *t == response.type_url) else {
            bail!("a response of type {:?}", response.type_url);
        };
        tx.send(DiscoveryRequest {
            version_info: response.version_info.clone(),
            resource_names: lists[index].clone(),
            type_url: response.type_url.clone(),
            response_nonce: response.nonce.clone(),
            ..Default::default()
        })?;
        let first = acked[index].is_none();
        acked[index] = Some(response.resources.len());
        if index == ROUTES {
            route_version = response.version_info;
        }
        if first && index + 1 < TYPES.len() {
            tx.send(subscribe(index + 1, None))?;
        }
    }
}
