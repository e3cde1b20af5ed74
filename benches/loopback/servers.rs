//! The services under test (unary gRPC over tonic, and an HTTP echo over
//! hyper), bare or behind the mesh's server layer, and the clients that
//! call them, bare or through the mesh.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mesh::Mesh;
use mesh::conference::pb::attendees_client::AttendeesClient;
use mesh::conference::pb::attendees_server::{Attendees, AttendeesServer};
use mesh::conference::pb::{ListReply, ListRequest};
use mesh::hyper::MeshClient;
use mesh::policy::{
    Destination, Endpoint, LocalRateLimit, MtlsMode, PeerAuthentication, Policy, RequestMatch,
    RetryPolicy, Route, Service, StringMatch, TokenBucket, UpstreamTls,
};
use mesh::tonic::{MeshChannel, MeshServerLayer};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tower::Layer;

use crate::load::Call;

/// The gRPC service: `Attendees` of the conference demo, answering as the
/// demo's does (two names per conference), with no fault injection.
#[derive(Debug, Default)]
pub(crate) struct Bench;

#[tonic::async_trait]
impl Attendees for Bench {
    async fn list(
        &self,
        request: tonic::Request<ListRequest>,
    ) -> Result<tonic::Response<ListReply>, tonic::Status> {
        let conference = request.into_inner().conference;
        Ok(tonic::Response::new(ListReply {
            service: "attendees".into(),
            version: "v1".into(),
            items: vec![format!("{conference}: Ada"), format!("{conference}: Grace")],
            ..Default::default()
        }))
    }

    async fn purge(
        &self,
        _request: tonic::Request<ListRequest>,
    ) -> Result<tonic::Response<ListReply>, tonic::Status> {
        Err(tonic::Status::permission_denied("not in a benchmark"))
    }
}

async fn bind() -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Starts the gRPC server on the current runtime, behind the mesh's server
/// layer when `mesh` is given; it runs until the runtime shuts down.
pub(crate) async fn serve_grpc(mesh: Option<&Mesh>) -> anyhow::Result<SocketAddr> {
    let (listener, addr) = bind().await?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let service = AttendeesServer::new(Bench);
    match mesh {
        None => {
            let router = Server::builder().add_service(service);
            tokio::spawn(router.serve_with_incoming(incoming));
        }
        Some(mesh) => {
            let router = Server::builder()
                .layer(MeshServerLayer::new(mesh, "attendees"))
                .add_service(service);
            tokio::spawn(router.serve_with_incoming(incoming));
        }
    }
    Ok(addr)
}

/// Starts the gRPC server behind the mesh's server layer, accepting
/// connections through the layer's acceptor (TLS terminated as the mesh's
/// `PeerAuthentication` says).
pub(crate) async fn serve_grpc_mtls(mesh: &Mesh) -> anyhow::Result<SocketAddr> {
    let (listener, addr) = bind().await?;
    let layer = MeshServerLayer::new(mesh, "attendees");
    let incoming = layer.incoming(listener);
    let router = Server::builder()
        .layer(layer)
        .add_service(AttendeesServer::new(Bench));
    tokio::spawn(router.serve_with_incoming(incoming));
    Ok(addr)
}

async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Read the request to its end, as a handler would.
    let _ = req.into_body().collect().await;
    Ok(Response::new(Full::new(Bytes::from_static(
        b"hello from the echo service",
    ))))
}

/// Starts the HTTP echo server (HTTP/1.1 and h2c) on the current runtime,
/// behind the mesh's server layer when `mesh` is given.
pub(crate) async fn serve_http(mesh: Option<&Mesh>) -> anyhow::Result<SocketAddr> {
    let (listener, addr) = bind().await?;
    let service = tower::service_fn(echo);
    let forever = std::future::pending::<()>();
    match mesh {
        None => tokio::spawn(mesh::hyper::serve(listener, service, forever)),
        Some(mesh) => {
            let layered = mesh::hyper::MeshServerLayer::new(mesh, "echo").layer(service);
            tokio::spawn(mesh::hyper::serve(listener, layered, forever))
        }
    };
    Ok(addr)
}

/// A limit no benchmark reaches: the layer does its full work per request.
fn unreachable_limit(host: &str) -> LocalRateLimit {
    LocalRateLimit {
        name: format!("{host}-not-hit"),
        host: host.into(),
        path: None,
        bucket: TokenBucket::per_second(1_000_000_000, 1_000_000_000),
    }
}

/// A route with retries, and a timeout if `timeout`, matched by path
/// prefix.
fn route(name: &str, host: &str, prefix: &str, timeout: bool) -> Route {
    let route = Route::to(name, Destination::new(host))
        .when(RequestMatch {
            path: Some(StringMatch::Prefix(prefix.into())),
            ..Default::default()
        })
        .retry(RetryPolicy::new(2));
    if timeout {
        route.timeout(Duration::from_secs(5))
    } else {
        route
    }
}

/// The policy of the servers' process: the rate limits.
pub(crate) fn server_policy() -> anyhow::Result<Policy> {
    Ok(Policy::builder()
        .rate_limit(unreachable_limit("attendees"))
        .rate_limit(unreachable_limit("echo"))
        .build()?)
}

/// The policy of the mutual TLS server's process: the rate limit, and
/// STRICT mutual TLS mesh-wide.
pub(crate) fn mtls_server_policy() -> anyhow::Result<Policy> {
    Ok(Policy::builder()
        .rate_limit(unreachable_limit("attendees"))
        .peer_authentication(PeerAuthentication {
            name: "default".into(),
            namespace: "istio-system".into(),
            selector: None,
            mode: Some(MtlsMode::Strict),
        })
        .build()?)
}

/// The policy of the mutual TLS client's process: `attendees` at the
/// STRICT server, over mutual TLS expecting `server`, routed as in
/// [`client_policy`] with the timeout.
pub(crate) fn mtls_client_policy(
    grpc: SocketAddr,
    server: mesh::identity::SpiffeId,
) -> anyhow::Result<Policy> {
    Ok(Policy::builder()
        .service(
            Service::new("attendees")
                .endpoint(Endpoint::new(grpc))
                .tls(UpstreamTls::mutual([server])),
        )
        .routes(
            "attendees",
            [route("list", "attendees", "/conference.Attendees/", true)],
        )
        .build()?)
}

/// The policy of the clients' process: `attendees` and `echo` at the
/// mesh-wrapped servers, routed with retries, and timeouts if `timeout`.
pub(crate) fn client_policy(
    grpc: SocketAddr,
    http: SocketAddr,
    timeout: bool,
) -> anyhow::Result<Policy> {
    Ok(Policy::builder()
        .service(Service::new("attendees").endpoint(Endpoint::new(grpc)))
        .service(Service::new("echo").endpoint(Endpoint::new(http)))
        .routes(
            "attendees",
            [route(
                "list",
                "attendees",
                "/conference.Attendees/",
                timeout,
            )],
        )
        .routes("echo", [route("echo", "echo", "/echo", timeout)])
        .build()?)
}

pub(crate) fn list_request() -> ListRequest {
    ListRequest {
        conference: "rustconf".into(),
    }
}

/// A bare tonic client (a `Channel`) to `addr`. Call inside the client
/// runtime: the channel's worker runs there.
pub(crate) async fn grpc_bare(addr: SocketAddr) -> anyhow::Result<Call> {
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let client = AttendeesClient::new(channel);
    Ok(Arc::new(move || {
        let mut client = client.clone();
        Box::pin(async move { client.list(list_request()).await.is_ok() })
    }))
}

/// A tonic client through the mesh (`MeshChannel`) to `attendees`.
pub(crate) fn grpc_mesh(mesh: &Mesh) -> anyhow::Result<Call> {
    let client = AttendeesClient::new(MeshChannel::new(mesh, "attendees:50051")?);
    Ok(Arc::new(move || {
        let mut client = client.clone();
        Box::pin(async move { client.list(list_request()).await.is_ok() })
    }))
}

fn echo_request(uri: &str) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::from_static(b"hello")));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = uri.parse().unwrap_or_default();
    req
}

/// A bare hyper client (hyper-util's pooled client) to `addr`, HTTP/1.1 or
/// h2c.
pub(crate) fn http_bare(addr: SocketAddr, http2: bool) -> Call {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .build(connector);
    let uri: Arc<str> = format!("http://{addr}/echo").into();
    Arc::new(move || {
        let client = client.clone();
        let req = echo_request(&uri);
        Box::pin(async move {
            match client.request(req).await {
                Ok(res) => res.status().is_success() && res.into_body().collect().await.is_ok(),
                Err(_) => false,
            }
        })
    })
}

/// A hyper client through the mesh (`MeshClient`) to `echo`.
pub(crate) fn http_mesh(mesh: &Mesh, http2: bool) -> anyhow::Result<Call> {
    let client: MeshClient<Full<Bytes>> = if http2 {
        MeshClient::http2(mesh, "echo:8080")?
    } else {
        MeshClient::new(mesh, "echo:8080")?
    };
    Ok(Arc::new(move || {
        let client = client.clone();
        Box::pin(async move {
            let res = client.request(echo_request("/echo")).await;
            res.status().is_success() && res.into_body().collect().await.is_ok()
        })
    }))
}
