use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceExt, service_fn};
use tower_layer::Layer;

use super::{RetryBody, RetryLayer};
use crate::client::deadline::DeadlineLayer;
use crate::client::route::RouteLayer;
use crate::error::MeshError;
use crate::mesh::Mesh;
use crate::policy::{
    Backoff, Destination, Endpoint, HttpRetryOn, Policy, Ratio, RetryBudget, RetryPolicy, Route,
    Service as Svc,
};
use crate::protocol::Protocol;

fn mesh(retry: RetryPolicy, timeout: Option<Duration>) -> Mesh {
    let mut route = Route::to("r", Destination::new("svc")).retry(retry);
    route.timeout = timeout;
    Mesh::new(
        Policy::builder()
            .service(Svc::new("svc").endpoint(Endpoint::new("127.0.0.1:1".parse().unwrap())))
            .routes("svc", [route])
            .build()
            .unwrap(),
    )
}

fn policy(attempts: u32) -> RetryPolicy {
    let mut p = RetryPolicy::new(attempts);
    p.http_on = vec![HttpRetryOn::GatewayError];
    p.backoff = Backoff {
        base: Duration::from_millis(10),
        max: Duration::from_millis(100),
    };
    p
}

/// A destination that answers 503 to the first `failures` calls and 200
/// after, echoing the request body; it counts calls.
fn flaky(
    failures: u32,
    calls: Arc<AtomicU32>,
) -> impl Service<
    Request<RetryBody<Full<Bytes>>>,
    Response = Response<Bytes>,
    Error = MeshError,
    Future = impl Send,
> + Clone {
    service_fn(move |req: Request<RetryBody<Full<Bytes>>>| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move {
            let body = req
                .into_body()
                .collect()
                .await
                .map_err(MeshError::Body)?
                .to_bytes();
            let mut res = Response::new(body);
            if n < failures {
                *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            }
            Ok(res)
        }
    })
}

fn stack<S>(
    mesh: &Mesh,
    inner: S,
    protocol: Protocol,
) -> impl Service<Request<Full<Bytes>>, Response = Response<Bytes>, Error = MeshError>
where
    S: Service<Request<RetryBody<Full<Bytes>>>, Response = Response<Bytes>, Error = MeshError>
        + Clone,
{
    RouteLayer::new(mesh.clone(), "svc").layer(
        DeadlineLayer::new(protocol)
            .layer(RetryLayer::new(mesh.clone(), "svc", protocol).layer(inner)),
    )
}

fn request(body: &'static str) -> Request<Full<Bytes>> {
    Request::builder()
        .uri("http://svc/x")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn failed_attempts_are_retried_with_the_same_body() {
    let calls = Arc::new(AtomicU32::new(0));
    let mesh = mesh(policy(3), None);
    let res = stack(&mesh, flaky(2, calls.clone()), Protocol::Http)
        .oneshot(request("payload"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.body(), "payload");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let metrics = mesh.metrics().encode();
    let line = r#"mesh_client_retries_total{target="svc",route="r"} 2"#;
    assert!(metrics.contains(line), "{line} not in {metrics}");
}

#[tokio::test(start_paused = true)]
async fn attempts_are_capped() {
    let calls = Arc::new(AtomicU32::new(0));
    let mesh = mesh(policy(2), None);
    let res = stack(&mesh, flaky(100, calls.clone()), Protocol::Http)
        .oneshot(request(""))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "one attempt and two retries"
    );
}

#[tokio::test(start_paused = true)]
async fn outcomes_outside_the_policy_are_not_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut p = policy(3);
    p.http_on = vec![HttpRetryOn::Retriable4xx];
    let mesh = mesh(p, None);
    let res = stack(&mesh, flaky(100, calls.clone()), Protocol::Http)
        .oneshot(request(""))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_budget_stops_retrying() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut p = policy(5);
    // Half a retry per request, nothing guaranteed: 20 failing requests
    // may cause at most 10 retries, however many attempts each allows.
    p.budget = RetryBudget {
        ratio: Ratio::new(0.5).unwrap(),
        min_per_second: 0,
    };
    let mesh = mesh(p, None);
    let svc = stack(&mesh, flaky(u32::MAX, calls.clone()), Protocol::Http);
    let mut svc = svc;
    for _ in 0..20 {
        let res = svc.ready().await.unwrap().call(request("")).await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 30);
}

#[tokio::test(start_paused = true)]
async fn no_retry_starts_past_the_deadline() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut p = policy(3);
    p.backoff = Backoff {
        base: Duration::from_secs(10),
        max: Duration::from_secs(10),
    };
    // Jitter is uniform below the ceiling: seed it so the wait is long.
    fastrand::seed(1);
    let mesh = mesh(p, Some(Duration::from_millis(50)));
    let res = stack(&mesh, flaky(100, calls.clone()), Protocol::Http)
        .oneshot(request(""))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the failure, not a timeout"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_slow_attempt_is_cut_by_the_per_try_timeout_and_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let mut p = policy(2);
    p.per_try_timeout = Some(Duration::from_millis(100));
    let mesh = mesh(p, None);
    let counter = calls.clone();
    let slow_then_fast = service_fn(move |_req: Request<RetryBody<Full<Bytes>>>| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            Ok::<_, MeshError>(Response::new(Bytes::from_static(b"fast")))
        }
    });
    let res = stack(&mesh, slow_then_fast, Protocol::Http)
        .oneshot(request(""))
        .await
        .unwrap();
    assert_eq!(res.body(), "fast");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn grpc_attempts_carry_the_time_left() {
    let mesh = mesh(policy(1), Some(Duration::from_secs(2)));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let inner = service_fn(move |req: Request<RetryBody<Full<Bytes>>>| {
        let timeout = req.headers().get("grpc-timeout").cloned();
        log.lock().unwrap().push(timeout);
        async move { Ok::<_, MeshError>(Response::new(Bytes::new())) }
    });
    stack(&mesh, inner, Protocol::Grpc)
        .oneshot(request(""))
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    let value = seen[0].as_ref().expect("grpc-timeout is set");
    // Rounded to three figures, it repeats from request to request, so
    // HPACK may index it.
    assert!(!value.is_sensitive());
    let left = crate::protocol::decode_grpc_timeout(value).unwrap();
    assert!(
        left <= Duration::from_secs(2) && left > Duration::from_millis(1900),
        "{left:?}"
    );
}

/// The retry layer waits for the inner service to be ready before each
/// attempt, and never sends on a clone that was not polled ready.
#[tokio::test(start_paused = true)]
async fn each_attempt_waits_for_readiness() {
    use tokio_test::{assert_pending, assert_ready_ok, task};
    use tower_test::mock;

    let (inner, mut handle) = mock::pair::<Request<RetryBody<Full<Bytes>>>, Response<Bytes>>();
    let inner = inner.map_err(MeshError::Body as fn(crate::error::BoxError) -> MeshError);
    let mesh = mesh(policy(1), None);
    let mut svc = stack(&mesh, inner, Protocol::Http);

    handle.allow(1);
    let mut ready = task::spawn(svc.ready());
    assert_ready_ok!(ready.poll());
    drop(ready);
    let mut response = task::spawn(svc.call(request("body")));
    assert_pending!(response.poll());

    let (req, send) = handle.next_request().await.expect("first attempt");
    assert_eq!(req.into_body().collect().await.unwrap().to_bytes(), "body");
    let mut unavailable = Response::new(Bytes::new());
    *unavailable.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    send.send_response(unavailable);

    // The attempt fails; the retry waits out its backoff, then finds the
    // inner service without capacity: it must wait rather than call it.
    assert_pending!(response.poll());
    tokio::time::advance(Duration::from_millis(200)).await;
    assert_pending!(response.poll());
    {
        let mut next = task::spawn(handle.next_request());
        assert_pending!(next.poll(), "no attempt without readiness");
    }

    handle.allow(1);
    assert_pending!(response.poll());
    let (req, send) = handle.next_request().await.expect("the retry");
    assert_eq!(req.into_body().collect().await.unwrap().to_bytes(), "body");
    send.send_response(Response::new(Bytes::from_static(b"ok")));
    let res = response.await.unwrap();
    assert_eq!(res.body(), "ok");
}

/// The first attempt is the caller's request, extensions and all; a retry
/// carries the same method, URI, headers (repeated ones included) and the
/// routing decision with its deadline, but not the caller's extensions.
#[tokio::test(start_paused = true)]
async fn retries_rebuild_the_head_but_not_the_callers_extensions() {
    use crate::client::deadline::RequestDeadline;
    use crate::client::route::RouteDecision;

    #[derive(Clone, Debug)]
    struct CallerExtension;

    type Seen = (http::Method, http::Uri, Vec<String>, bool, bool, bool);
    let seen: Arc<std::sync::Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let inner = service_fn(move |req: Request<RetryBody<Full<Bytes>>>| {
        let mut log = log.lock().unwrap();
        let tags = req
            .headers()
            .get_all("x-tag")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        log.push((
            req.method().clone(),
            req.uri().clone(),
            tags,
            req.extensions().get::<CallerExtension>().is_some(),
            req.extensions().get::<RouteDecision>().is_some(),
            RequestDeadline::of(req.extensions()).is_some(),
        ));
        let mut res = Response::new(Bytes::new());
        if log.len() == 1 {
            *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        }
        async move { Ok::<_, MeshError>(res) }
    });
    let mesh = mesh(policy(2), Some(Duration::from_secs(5)));
    let mut req = request("payload");
    *req.method_mut() = http::Method::PUT;
    req.headers_mut().append("x-tag", "a".parse().unwrap());
    req.headers_mut().append("x-tag", "b".parse().unwrap());
    req.extensions_mut().insert(CallerExtension);
    let res = stack(&mesh, inner, Protocol::Http)
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one retry");
    let tags = vec!["a".to_owned(), "b".to_owned()];
    let uri: http::Uri = "http://svc/x".parse().unwrap();
    assert_eq!(
        seen[0],
        (
            http::Method::PUT,
            uri.clone(),
            tags.clone(),
            true,
            true,
            true
        )
    );
    assert_eq!(seen[1], (http::Method::PUT, uri, tags, false, true, true));
}
