//! Retries of plain HTTP by status: a backend that fails its first
//! requests is retried until it answers, over HTTP/1.1 and h2c, with the
//! request body replayed; statuses the policy does not name are not
//! retried.

#[path = "support/hyper.rs"]
mod support;

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use mesh_core::Mesh;
use mesh_core::policy::{Destination, Endpoint, HttpRetryOn, Policy, RetryPolicy, Route, Service};
use mesh_hyper::{HttpVersion, MeshClient};
use support::{TestServer, send, spawn_fn};

/// A backend that answers its first `failures` requests with `status` and
/// then 200; every response echoes the request body, and the bodies it
/// received are recorded.
async fn flaky(
    failures: usize,
    status: StatusCode,
) -> anyhow::Result<(TestServer, Arc<Mutex<Vec<Bytes>>>)> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let server = spawn_fn(move |n, req| {
        let record = record.clone();
        async move {
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => Bytes::from_static(b"<body failed>"),
            };
            record
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(body.clone());
            let mut res = http::Response::new(Full::new(body));
            if n < failures {
                *res.status_mut() = status;
            }
            res
        }
    })
    .await?;
    Ok((server, seen))
}

fn policy(addr: std::net::SocketAddr, retry: Option<RetryPolicy>) -> anyhow::Result<Mesh> {
    let mut route = Route::to("retrying", Destination::new("attendees"));
    route.retry = retry;
    let policy = Policy::builder()
        .service(Service::new("attendees").endpoint(Endpoint::new(addr)))
        .routes("attendees", [route])
        .build()?;
    Ok(Mesh::new(policy))
}

fn post(body: &'static str) -> http::Request<Full<Bytes>> {
    let mut req = http::Request::new(Full::new(Bytes::from_static(body.as_bytes())));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = http::Uri::from_static("/sessions");
    req
}

async fn retries_503_until_success(version: HttpVersion) -> anyhow::Result<()> {
    let (server, seen) = flaky(2, StatusCode::SERVICE_UNAVAILABLE).await?;
    // Istio's default retryOn includes 503.
    let mesh = policy(server.addr, Some(RetryPolicy::new(3)))?;
    let client = MeshClient::with_settings(&mesh, "attendees:8080", version, Default::default())?;
    let reply = send(&client, post("hello")).await?;
    assert_eq!(reply.status, 200, "{version:?}: {reply:?}");
    assert_eq!(reply.body, "hello");
    assert_eq!(server.hits(), 3, "two failures and the success");
    let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    assert_eq!(
        seen,
        vec![Bytes::from_static(b"hello"); 3],
        "the body is replayed"
    );
    Ok(())
}

#[tokio::test]
async fn http1_retries_503_until_success() -> anyhow::Result<()> {
    retries_503_until_success(HttpVersion::Http1).await
}

#[tokio::test]
async fn http2_retries_503_until_success() -> anyhow::Result<()> {
    retries_503_until_success(HttpVersion::Http2).await
}

#[tokio::test]
async fn server_error_retries_any_5xx() -> anyhow::Result<()> {
    for version in [HttpVersion::Http1, HttpVersion::Http2] {
        let (server, _) = flaky(2, StatusCode::INTERNAL_SERVER_ERROR).await?;
        let retry = RetryPolicy {
            http_on: vec![HttpRetryOn::ServerError],
            ..RetryPolicy::new(3)
        };
        let mesh = policy(server.addr, Some(retry))?;
        let client =
            MeshClient::with_settings(&mesh, "attendees:8080", version, Default::default())?;
        let reply = send(&client, post("again")).await?;
        assert_eq!(reply.status, 200, "{version:?}: {reply:?}");
        assert_eq!(server.hits(), 3, "{version:?}");
    }
    Ok(())
}

#[tokio::test]
async fn statuses_the_policy_does_not_name_are_not_retried() -> anyhow::Result<()> {
    // The default retryOn names 503, not 500.
    let (server, _) = flaky(1, StatusCode::INTERNAL_SERVER_ERROR).await?;
    let mesh = policy(server.addr, Some(RetryPolicy::new(3)))?;
    let client = MeshClient::new(&mesh, "attendees:8080")?;
    let reply = send(&client, post("once")).await?;
    assert_eq!(reply.status, 500, "{reply:?}");
    assert!(
        !reply.headers.contains_key("x-mesh-error"),
        "the backend's own 500"
    );
    assert_eq!(server.hits(), 1);

    // No retry policy at all: the 503 comes straight back.
    let (server, _) = flaky(1, StatusCode::SERVICE_UNAVAILABLE).await?;
    let mesh = policy(server.addr, None)?;
    let client = MeshClient::http2(&mesh, "attendees:8080")?;
    let reply = send(&client, post("once")).await?;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(server.hits(), 1);
    Ok(())
}

#[tokio::test]
async fn retries_stop_after_the_attempts() -> anyhow::Result<()> {
    let (server, _) = flaky(usize::MAX, StatusCode::SERVICE_UNAVAILABLE).await?;
    let mesh = policy(server.addr, Some(RetryPolicy::new(2)))?;
    let client = MeshClient::new(&mesh, "attendees:8080")?;
    let reply = send(&client, post("doomed")).await?;
    assert_eq!(reply.status, 503, "the last attempt's response: {reply:?}");
    assert_eq!(reply.body, "doomed");
    assert_eq!(server.hits(), 3, "the first attempt and two retries");
    Ok(())
}
