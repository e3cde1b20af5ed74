//! A test double of the control plane: a real tonic ADS server on
//! 127.0.0.1 that serves fixed resources (state of the world), records
//! every request, and can push updates or drop its streams.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::google::protobuf::Any;
use futures_util::Stream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

/// What the server holds, by type URL: the version and the resources.
type Resources = BTreeMap<String, (String, Vec<Any>)>;

#[derive(Clone, Debug)]
enum Event {
    /// A type's resources changed: send them again.
    Pushed(String),
    /// Close every stream with UNAVAILABLE.
    Drop,
}

struct Shared {
    resources: Mutex<Resources>,
    requests: Mutex<Vec<DiscoveryRequest>>,
    /// Counts requests, so tests can wait for one.
    seen: watch::Sender<usize>,
    events: broadcast::Sender<Event>,
}

/// The running server; dropping it stops it.
pub struct TestAds {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

/// The name of a resource, for filtering by subscription.
fn name_of(any: &Any) -> String {
    use envoy_types::pb::envoy::config::{
        cluster::v3::Cluster, endpoint::v3::ClusterLoadAssignment, listener::v3::Listener,
        route::v3::RouteConfiguration,
    };
    use prost::{Message, Name};
    let v = any.value.as_slice();
    match any.type_url.as_str() {
        u if u == Listener::type_url() => Listener::decode(v).map(|m| m.name),
        u if u == RouteConfiguration::type_url() => RouteConfiguration::decode(v).map(|m| m.name),
        u if u == Cluster::type_url() => Cluster::decode(v).map(|m| m.name),
        u if u == ClusterLoadAssignment::type_url() => {
            ClusterLoadAssignment::decode(v).map(|m| m.cluster_name)
        }
        _ => Ok(String::new()),
    }
    .unwrap_or_default()
}

impl TestAds {
    /// Serves `resources` (version "1") on a fresh port.
    pub async fn start(resources: Vec<Any>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        Self::serve(listener, resources)
    }

    /// Serves on a given address (to bring a server back on its port).
    pub async fn start_on(addr: SocketAddr, resources: Vec<Any>) -> Self {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind the address again");
        Self::serve(listener, resources)
    }

    fn serve(listener: tokio::net::TcpListener, resources: Vec<Any>) -> Self {
        let addr = listener.local_addr().expect("local address");
        let mut by_type = Resources::new();
        for a in resources {
            by_type
                .entry(a.type_url.clone())
                .or_insert_with(|| ("1".to_owned(), Vec::new()))
                .1
                .push(a);
        }
        let shared = Arc::new(Shared {
            resources: Mutex::new(by_type),
            requests: Mutex::new(Vec::new()),
            seen: watch::channel(0).0,
            events: broadcast::channel(16).0,
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let svc = AggregatedDiscoveryServiceServer::new(Ads(shared.clone()));
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await
                .expect("the test ads server runs");
        });
        Self {
            addr,
            shared,
            _stop: stop,
        }
    }

    /// `host:port`, as a bootstrap names it.
    pub fn uri(&self) -> String {
        self.addr.to_string()
    }

    /// Replaces the resources of their type URL (all `resources` share
    /// one) with a new version, and sends them on every open stream.
    pub fn push(&self, type_url: &str, version: &str, resources: Vec<Any>) {
        self.shared
            .resources
            .lock()
            .expect("not poisoned")
            .insert(type_url.to_owned(), (version.to_owned(), resources));
        let _ = self.shared.events.send(Event::Pushed(type_url.to_owned()));
    }

    /// Ends every open stream with UNAVAILABLE (the server stays up).
    pub fn drop_streams(&self) {
        let _ = self.shared.events.send(Event::Drop);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<DiscoveryRequest> {
        self.shared.requests.lock().expect("not poisoned").clone()
    }

    /// Waits until some request satisfies `pred` and returns it.
    pub async fn wait_for_request(
        &self,
        pred: impl Fn(&DiscoveryRequest) -> bool,
    ) -> DiscoveryRequest {
        let mut seen = self.shared.seen.subscribe();
        loop {
            if let Some(r) = self.requests().into_iter().find(|r| pred(r)) {
                return r;
            }
            seen.changed().await.expect("the server lives");
        }
    }
}

struct Ads(Arc<Shared>);

type ResponseStream = Pin<Box<dyn Stream<Item = Result<DiscoveryResponse, Status>> + Send>>;
type DeltaStream = Pin<Box<dyn Stream<Item = Result<DeltaDiscoveryResponse, Status>> + Send>>;

/// One stream's view: the names last asked for, by type, and a nonce
/// counter.
#[derive(Default)]
struct StreamState {
    asked: BTreeMap<String, Vec<String>>,
    nonce: u64,
}

impl StreamState {
    fn response(&mut self, shared: &Shared, type_url: &str) -> Option<DiscoveryResponse> {
        let names = self.asked.get(type_url)?;
        let resources = shared.resources.lock().expect("not poisoned");
        let (version, all) = resources.get(type_url)?;
        self.nonce += 1;
        Some(DiscoveryResponse {
            version_info: version.clone(),
            resources: all
                .iter()
                .filter(|a| names.is_empty() || names.contains(&name_of(a)))
                .cloned()
                .collect(),
            type_url: type_url.to_owned(),
            nonce: self.nonce.to_string(),
            ..Default::default()
        })
    }
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for Ads {
    type StreamAggregatedResourcesStream = ResponseStream;
    type DeltaAggregatedResourcesStream = DeltaStream;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let mut inbound = request.into_inner();
        let shared = self.0.clone();
        let mut events = shared.events.subscribe();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut st = StreamState::default();
            loop {
                tokio::select! {
                    req = inbound.message() => {
                        let Ok(Some(req)) = req else { return };
                        shared.requests.lock().expect("not poisoned").push(req.clone());
                        shared.seen.send_modify(|n| *n += 1);
                        let type_url = req.type_url.clone();
                        // A new subscription (or a change of it) is answered;
                        // an ACK or NACK of the same names is not.
                        if st.asked.get(&type_url) == Some(&req.resource_names) {
                            continue;
                        }
                        st.asked.insert(type_url.clone(), req.resource_names);
                        if let Some(resp) = st.response(&shared, &type_url)
                            && tx.send(Ok(resp)).await.is_err() { return; }
                    }
                    ev = events.recv() => match ev {
                        Ok(Event::Pushed(type_url)) => {
                            if let Some(resp) = st.response(&shared, &type_url)
                                && tx.send(Ok(resp)).await.is_err() { return; }
                        }
                        Ok(Event::Drop) | Err(_) => {
                            let _ = tx.send(Err(Status::unavailable("dropped by the test"))).await;
                            return;
                        }
                    },
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<DeltaStream>, Status> {
        Err(Status::unimplemented("state of the world only"))
    }
}

/// A `host:port` where nothing listens.
pub async fn dead_address() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address")
}
