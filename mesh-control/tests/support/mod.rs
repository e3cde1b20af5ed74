//! Shared by the integration tests: a control plane on 127.0.0.1:0 over a
//! temporary config directory, an ADS client, an admin API client and a
//! bounded wait.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::protobuf::Any;
use http_body_util::{BodyExt, Empty};
use mesh_control::{ControlPlane, Running};
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

#[allow(unused_imports)]
pub use mesh_control::xds::{CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE};

/// How long any one wait may take before the test fails: generous, since
/// it bounds a wait and is never a timing assertion.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The services of the seed's conference: attendees (v1, v2) and sessions.
pub const SERVICES: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: attendees}
spec:
  hosts: [attendees]
  ports: [{number: 50051, name: grpc, protocol: GRPC}]
  endpoints:
  - {address: 10.0.0.1, ports: {grpc: 50061}, labels: {version: v1}}
  - {address: 10.0.0.2, ports: {grpc: 50062}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: attendees}
spec:
  host: attendees
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: sessions}
spec:
  hosts: [sessions]
  ports: [{number: 50052, name: grpc, protocol: GRPC}]
  endpoints: [{address: 10.0.0.3, ports: {grpc: 50063}}]
"#;

/// Routes all of attendees to `subset`.
pub fn routes_to(subset: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: attendees}}
spec:
  hosts: [attendees]
  http:
  - name: all-{subset}
    route: [{{destination: {{host: attendees, subset: {subset}}}}}]
"#
    )
}

/// A running control plane over a temporary directory.
pub struct Plane {
    pub dir: tempfile::TempDir,
    pub running: Running,
}

impl Plane {
    /// Writes `files` and starts a control plane on them.
    pub async fn start(files: &[(&str, &str)]) -> Result<Self> {
        Self::start_with(files, |b| b).await
    }

    /// Like [`Plane::start`], with the builder adjusted.
    pub async fn start_with(
        files: &[(&str, &str)],
        adjust: impl FnOnce(mesh_control::ControlPlaneBuilder) -> mesh_control::ControlPlaneBuilder,
    ) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text)?;
        }
        let builder = ControlPlane::builder()
            .config_dir(dir.path())
            .listen("127.0.0.1:0")
            .admin("127.0.0.1:0")
            .reload_debounce(Duration::from_millis(20));
        let running = adjust(builder).start().await?;
        Ok(Self { dir, running })
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// Replaces a file's content.
    pub fn write(&self, file: &str, text: &str) -> Result<()> {
        std::fs::write(self.path(file), text).context("writing a config file")
    }

    pub fn xds_url(&self) -> String {
        format!("http://{}", self.running.xds_addr())
    }

    /// GETs an admin path; returns the status and the JSON body.
    pub async fn admin(&self, path: &str) -> Result<(u16, serde_json::Value)> {
        let addr = self.running.admin_addr().context("no admin address")?;
        get_json(addr, path).await
    }
}

/// A minimal HTTP/1.1 GET, returning the status and the JSON body.
pub async fn get_json(addr: SocketAddr, path: &str) -> Result<(u16, serde_json::Value)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let res = sender.send_request(req).await?;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&body)?))
}

/// One ADS stream.
pub struct Ads {
    tx: mpsc::Sender<DiscoveryRequest>,
    rx: Streaming<DiscoveryResponse>,
    node: Option<Node>,
}

impl Ads {
    /// Opens a stream; the first request will carry a node with this id.
    pub async fn connect(url: &str, node_id: &str) -> Result<Self> {
        let mut client = AggregatedDiscoveryServiceClient::connect(url.to_owned()).await?;
        let (tx, rx) = mpsc::channel(16);
        let rx = client
            .stream_aggregated_resources(ReceiverStream::new(rx))
            .await?
            .into_inner();
        Ok(Self {
            tx,
            rx,
            node: Some(Node {
                id: node_id.to_owned(),
                cluster: "test".to_owned(),
                ..Default::default()
            }),
        })
    }

    /// Sends a request (the stream's first carries the node).
    pub async fn send(&mut self, mut req: DiscoveryRequest) -> Result<()> {
        req.node = self.node.take();
        self.tx
            .send(req)
            .await
            .map_err(|_| anyhow!("stream closed"))
    }

    /// Subscribes to `names` of `type_url` (a fresh, nonce-less request).
    pub async fn subscribe(&mut self, type_url: &str, names: &[&str]) -> Result<()> {
        self.send(request(type_url, names, "", "")).await
    }

    /// ACKs `res`, keeping the subscription to `names`.
    pub async fn ack(&mut self, res: &DiscoveryResponse, names: &[&str]) -> Result<()> {
        self.send(request(&res.type_url, names, &res.version_info, &res.nonce))
            .await
    }

    /// The next response, waiting at most [`PATIENCE`].
    pub async fn recv(&mut self) -> Result<DiscoveryResponse> {
        match tokio::time::timeout(PATIENCE, self.rx.message()).await {
            Err(_) => bail!("no response within {PATIENCE:?}"),
            Ok(Err(status)) => bail!("stream failed: {status}"),
            Ok(Ok(None)) => bail!("stream ended"),
            Ok(Ok(Some(res))) => Ok(res),
        }
    }

    /// The next response, which must be of `type_url`.
    pub async fn recv_type(&mut self, type_url: &str) -> Result<DiscoveryResponse> {
        let res = self.recv().await?;
        if res.type_url != type_url {
            bail!("expected {type_url}, got {}", res.type_url);
        }
        Ok(res)
    }

    /// Waits for the server to end the stream; `Ok` if it ended cleanly.
    pub async fn ended(&mut self) -> Result<()> {
        loop {
            match tokio::time::timeout(PATIENCE, self.rx.message()).await {
                Err(_) => bail!("stream still open after {PATIENCE:?}"),
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) => return Ok(()),
                Ok(Err(status)) => bail!("stream ended with {status}"),
            }
        }
    }
}

/// A discovery request.
pub fn request(type_url: &str, names: &[&str], version: &str, nonce: &str) -> DiscoveryRequest {
    DiscoveryRequest {
        type_url: type_url.to_owned(),
        resource_names: names.iter().map(|n| (*n).to_owned()).collect(),
        version_info: version.to_owned(),
        response_nonce: nonce.to_owned(),
        ..Default::default()
    }
}

/// Decodes every resource of a response.
pub fn decode_all<M: Message + Default>(res: &DiscoveryResponse) -> Result<Vec<M>> {
    res.resources.iter().map(decode).collect()
}

/// Decodes one `Any`.
pub fn decode<M: Message + Default>(any: &Any) -> Result<M> {
    Ok(M::decode(any.value.as_slice())?)
}

/// Polls `check` until it returns `Some`, for at most [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{what}: not within {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
