//! Shared helpers for the hyper integration tests: backends on
//! 127.0.0.1:0 that stop with the test, and small request helpers.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use mesh_hyper::{MeshClient, RequestBody, ResponseBody};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A server on 127.0.0.1; aborted (with all its connections) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Requests it has received.
    pub hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `service` (HTTP/1.1 and h2c) on a fresh port.
pub async fn spawn_service<S, B>(service: S) -> anyhow::Result<TestServer>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<mesh_core::BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<mesh_core::BoxError>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(mesh_hyper::serve(listener, service, std::future::pending()));
    Ok(TestServer {
        addr,
        hits: Arc::new(AtomicUsize::new(0)),
        task,
    })
}

/// Serves a handler: `f(request number, request)` gives the response.
pub async fn spawn_fn<F, Fut>(f: F) -> anyhow::Result<TestServer>
where
    F: Fn(usize, Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let service = tower::service_fn(move |req: Request<Incoming>| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        let f = f.clone();
        async move { Ok::<_, Infallible>(f(n, req).await) }
    });
    let mut server = spawn_service(service).await?;
    server.hits = hits;
    Ok(server)
}

/// A backend that answers every request with 200 and `name` as the body,
/// and echoes the authority it saw (`Host`, or the URI's for HTTP/2) in
/// `x-seen-authority`.
pub async fn backend(name: &'static str) -> anyhow::Result<TestServer> {
    spawn_fn(move |_, req| async move {
        let authority = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.to_string()))
            .unwrap_or_default();
        let mut res = Response::new(Full::new(Bytes::from(name)));
        if let Ok(v) = authority.parse() {
            res.headers_mut().insert("x-seen-authority", v);
        }
        res
    })
    .await
}

/// A port nothing listens on: bound, then released.
pub async fn refused_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(addr)
}

/// A finished response: status, headers and the body as text.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

pub async fn read(res: Response<ResponseBody>) -> anyhow::Result<Reply> {
    let (parts, body) = res.into_parts();
    let body = body.collect().await.map_err(anyhow::Error::from_boxed)?;
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_bytes().to_vec())?,
    })
}

/// A GET of `path` with an empty body.
pub fn get(path: &'static str) -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::new()));
    *req.uri_mut() = http::Uri::from_static(path);
    req
}

/// Sends `req` through `client` and reads the whole reply.
pub async fn send<B: RequestBody>(client: &MeshClient<B>, req: Request<B>) -> anyhow::Result<Reply>
where
    MeshClient<B>:
        tower::Service<Request<B>, Response = Response<ResponseBody>, Error = Infallible>,
{
    read(client.request(req).await).await
}

/// Sends `n` requests made by `make` and counts the bodies of the 200s;
/// any other status fails.
pub async fn tally(
    client: &MeshClient,
    n: usize,
    make: impl Fn() -> Request<Full<Bytes>>,
) -> anyhow::Result<HashMap<String, usize>> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        let reply = send(client, make()).await?;
        anyhow::ensure!(reply.status == StatusCode::OK, "unexpected reply {reply:?}");
        *counts.entry(reply.body).or_insert(0) += 1;
    }
    Ok(counts)
}

/// Polls `check` until it returns true, for convergence the test cannot
/// be told about directly; fails after ten seconds so a test never hangs.
pub async fn assert_eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("never happened: {what}");
}
