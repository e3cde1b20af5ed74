use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use tower::{Layer, Service as _, ServiceExt, service_fn};

use super::*;
use crate::client::route::RouteLayer;
use crate::error::MeshError;
use crate::mesh::Mesh;
use crate::policy::{
    Destination, Endpoint, HeaderMatch, HeaderRule, Policy, RequestMatch, Route, Service,
    StringMatch,
};
use crate::protocol::Protocol;

/// `attendees` with subsets v1 and v2; `x-user-group: beta` goes to v2 by
/// the route `beta`, the rest to v1 by `default`.
fn mesh() -> Mesh {
    let svc = Service::new("attendees")
        .endpoint(Endpoint::new(([127, 0, 0, 1], 1).into()).label("version", "v1"))
        .endpoint(Endpoint::new(([127, 0, 0, 1], 2).into()).label("version", "v2"))
        .subset("v1", [("version", "v1")])
        .subset("v2", [("version", "v2")]);
    let beta = RequestMatch {
        headers: vec![HeaderMatch {
            name: http::HeaderName::from_static("x-user-group"),
            rule: HeaderRule::Value(StringMatch::Exact("beta".into())),
        }],
        ..Default::default()
    };
    let policy = Policy::builder()
        .service(svc)
        .routes(
            "attendees",
            [
                Route::to("beta", Destination::new("attendees").subset("v2")).when(beta),
                Route::to("default", Destination::new("attendees").subset("v1")),
            ],
        )
        .build()
        .expect("valid policy");
    Mesh::new(policy)
}

fn labels(route: &str, subset: &str) -> ClientLabels {
    ClientLabels {
        target: "attendees".into(),
        route: route.into(),
        dest_service: "attendees".into(),
        dest_subset: Some(subset.into()),
    }
}

/// How many requests were counted with these labels and status.
fn client_count(mesh: &Mesh, dest: ClientLabels, status: Status) -> u64 {
    let labels = ClientStatusLabels { dest, status };
    mesh.metrics()
        .client_requests
        .get(&labels)
        .map_or(0, |c| c.get())
}

fn server_count(mesh: &Mesh, status: Status) -> u64 {
    let labels = ServerStatusLabels {
        service: ServerLabels {
            service: "attendees".into(),
        },
        status,
    };
    mesh.metrics()
        .server_requests
        .get(&labels)
        .map_or(0, |c| c.get())
}

/// The value of the sample line starting with `series` in the encoded
/// text (histogram counts and sums are only readable there).
fn sample(mesh: &Mesh, series: &str) -> Option<f64> {
    mesh.metrics().encode().lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

fn client_duration_count(mesh: &Mesh, route: &str, subset: &str) -> f64 {
    let series = format!(
        r#"mesh_client_request_duration_seconds_count{{target="attendees",route="{route}",dest_service="attendees",dest_subset="{subset}"}}"#
    );
    sample(mesh, &series).unwrap_or(0.0)
}

type Frames = Vec<Result<Frame<Bytes>, Infallible>>;
type FramesBody =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// A gRPC body: one message, then trailers with `grpc-status: code`.
fn grpc_body(code: i32) -> FramesBody {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from(code));
    let frames: Frames = vec![
        Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\0"))),
        Ok(Frame::trailers(trailers)),
    ];
    StreamBody::new(futures_util::stream::iter(frames))
}

fn grpc_request(group: Option<&str>) -> Request<()> {
    let mut req = Request::builder()
        .uri("http://attendees/conference.Attendees/List")
        .header("content-type", "application/grpc");
    if let Some(g) = group {
        req = req.header("x-user-group", g);
    }
    req.body(()).expect("request")
}

#[tokio::test]
async fn a_routed_request_is_counted_by_route_and_destination() {
    let mesh = mesh();
    let inner = service_fn(|_req: Request<()>| async {
        Ok::<_, MeshError>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    });
    let metrics = ClientMetricsLayer::new(mesh.clone(), "attendees", Protocol::Http).layer(inner);
    let client = RouteLayer::new(mesh.clone(), "attendees").layer(metrics);

    let res = client
        .clone()
        .oneshot(grpc_request(Some("beta")))
        .await
        .expect("response");
    // Not recorded until the body ends.
    assert_eq!(
        client_count(&mesh, labels("beta", "v2"), Status::Http(200)),
        0
    );
    assert_eq!(
        res.into_body().collect().await.expect("body").to_bytes(),
        "ok"
    );
    assert_eq!(
        client_count(&mesh, labels("beta", "v2"), Status::Http(200)),
        1
    );

    let res = client.oneshot(grpc_request(None)).await.expect("response");
    res.into_body().collect().await.expect("body");
    assert_eq!(
        client_count(&mesh, labels("default", "v1"), Status::Http(200)),
        1
    );
    assert_eq!(client_duration_count(&mesh, "beta", "v2"), 1.0);
    assert_eq!(client_duration_count(&mesh, "default", "v1"), 1.0);

    let text = mesh.metrics().encode();
    assert!(
        text.contains(r#"mesh_client_requests_total{target="attendees",route="beta",dest_service="attendees",dest_subset="v2",status="200"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_request_without_a_route_decision_is_labelled_unknown() {
    let mesh = mesh();
    let inner = service_fn(|_req: Request<()>| async {
        Ok::<_, MeshError>(Response::new(Empty::<Bytes>::new()))
    });
    let client = ClientMetricsLayer::new(mesh.clone(), "attendees", Protocol::Http).layer(inner);
    drop(client.oneshot(Request::new(())).await.expect("response"));
    let unknown = ClientLabels {
        target: "attendees".into(),
        route: "unknown".into(),
        dest_service: "unknown".into(),
        dest_subset: Some("unknown".into()),
    };
    assert_eq!(client_count(&mesh, unknown, Status::Http(200)), 1);
}

#[tokio::test]
async fn a_grpc_status_in_trailers_is_read_from_the_trailers() {
    let mesh = mesh();
    let inner =
        service_fn(|_req: Request<()>| async { Ok::<_, MeshError>(Response::new(grpc_body(5))) });
    let metrics = ClientMetricsLayer::new(mesh.clone(), "attendees", Protocol::Grpc).layer(inner);
    let client = RouteLayer::new(mesh.clone(), "attendees").layer(metrics);

    let res = client.oneshot(grpc_request(None)).await.expect("response");
    let collected = res.into_body().collect().await.expect("body");
    assert_eq!(
        collected.trailers().map(|t| t["grpc-status"].clone()),
        Some(HeaderValue::from(5))
    );
    assert_eq!(
        client_count(&mesh, labels("default", "v1"), Status::Name("NOT_FOUND")),
        1
    );
    assert_eq!(
        client_count(&mesh, labels("default", "v1"), Status::Name("UNKNOWN")),
        0
    );
    // Read to the end and dropped: still exactly one.
    assert_eq!(client_duration_count(&mesh, "default", "v1"), 1.0);
}

#[tokio::test]
async fn a_trailers_only_status_is_read_from_the_headers() {
    let mesh = mesh();
    let inner = service_fn(|_req: Request<()>| async {
        let mut res = Response::new(Empty::<Bytes>::new());
        res.headers_mut()
            .insert("grpc-status", HeaderValue::from(14));
        Ok::<_, MeshError>(res)
    });
    let metrics = ClientMetricsLayer::new(mesh.clone(), "attendees", Protocol::Grpc).layer(inner);
    let client = RouteLayer::new(mesh.clone(), "attendees").layer(metrics);

    // Dropped unread (hyper never polls an empty body)...
    drop(
        client
            .clone()
            .oneshot(grpc_request(None))
            .await
            .expect("response"),
    );
    // ...or read to the end: the status in the headers either way.
    let res = client.oneshot(grpc_request(None)).await.expect("response");
    res.into_body().collect().await.expect("body");
    assert_eq!(
        client_count(&mesh, labels("default", "v1"), Status::Name("UNAVAILABLE")),
        2
    );
    assert_eq!(client_duration_count(&mesh, "default", "v1"), 2.0);
}

#[tokio::test]
async fn a_mesh_error_is_recorded_with_its_code() {
    for (protocol, status) in [
        (Protocol::Grpc, Status::Name("UNAVAILABLE")),
        (Protocol::Http, Status::Http(503)),
    ] {
        let mesh = mesh();
        let inner = service_fn(|_req: Request<()>| async {
            Err::<Response<Empty<Bytes>>, _>(MeshError::NoHealthyEndpoint {
                service: "attendees".into(),
                subset: Some("v1".into()),
                endpoints: crate::error::Unhealthy::NoEndpoints,
            })
        });
        let metrics = ClientMetricsLayer::new(mesh.clone(), "attendees", protocol).layer(inner);
        let client = RouteLayer::new(mesh.clone(), "attendees").layer(metrics);
        let err = client
            .oneshot(grpc_request(None))
            .await
            .expect_err("no endpoint");
        assert!(matches!(err, MeshError::NoHealthyEndpoint { .. }), "{err}");
        assert_eq!(
            client_count(&mesh, labels("default", "v1"), status),
            1,
            "{protocol:?}"
        );
        assert_eq!(client_duration_count(&mesh, "default", "v1"), 1.0);
    }
}

#[tokio::test]
async fn a_body_dropped_early_is_recorded_once_as_cancelled() {
    let mesh = mesh();
    let inner = service_fn(|_req: Request<()>| async {
        // One message, then the stream hangs before its trailers.
        let frames: Frames = vec![Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\0")))];
        let stream = futures_util::stream::iter(frames).chain(futures_util::stream::pending());
        Ok::<_, MeshError>(Response::new(StreamBody::new(stream)))
    });
    let metrics = ClientMetricsLayer::new(mesh.clone(), "attendees", Protocol::Grpc).layer(inner);
    let client = RouteLayer::new(mesh.clone(), "attendees").layer(metrics);

    let mut body = client
        .oneshot(grpc_request(None))
        .await
        .expect("response")
        .into_body();
    let first = body.frame().await.expect("a frame").expect("infallible");
    assert!(first.is_data());
    assert_eq!(client_duration_count(&mesh, "default", "v1"), 0.0);
    drop(body);
    assert_eq!(
        client_count(&mesh, labels("default", "v1"), Status::Name("CANCELLED")),
        1
    );
    assert_eq!(client_duration_count(&mesh, "default", "v1"), 1.0);
}

#[tokio::test]
async fn a_plain_http_body_is_recorded_once_at_its_end() {
    let mesh = mesh();
    let inner = service_fn(|_req: Request<()>| async {
        let mut res = Response::new(Full::new(Bytes::from_static(b"missing")));
        *res.status_mut() = StatusCode::NOT_FOUND;
        Ok::<_, MeshError>(res)
    });
    let metrics = ClientMetricsLayer::new(mesh.clone(), "attendees", Protocol::Http).layer(inner);
    let client = RouteLayer::new(mesh.clone(), "attendees").layer(metrics);

    let mut body = client
        .oneshot(grpc_request(None))
        .await
        .expect("response")
        .into_body();
    assert!(body.frame().await.is_some());
    // The last data frame ends the stream: recorded now...
    assert!(body.is_end_stream());
    assert_eq!(
        client_count(&mesh, labels("default", "v1"), Status::Http(404)),
        1
    );
    // ...and not again at `None` or on drop.
    assert!(body.frame().await.is_none());
    drop(body);
    assert_eq!(
        client_count(&mesh, labels("default", "v1"), Status::Http(404)),
        1
    );
    assert_eq!(client_duration_count(&mesh, "default", "v1"), 1.0);
}

#[tokio::test]
async fn a_response_future_dropped_before_the_response_is_cancelled() {
    let mesh = mesh();
    let inner = service_fn(|_req: Request<()>| {
        std::future::pending::<Result<Response<Empty<Bytes>>, MeshError>>()
    });
    let metrics = ClientMetricsLayer::new(mesh.clone(), "attendees", Protocol::Grpc).layer(inner);
    let mut client = RouteLayer::new(mesh.clone(), "attendees").layer(metrics);
    let future = client
        .ready()
        .await
        .expect("ready")
        .call(grpc_request(None));
    drop(future);
    assert_eq!(
        client_count(&mesh, labels("default", "v1"), Status::Name("CANCELLED")),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn the_duration_runs_to_the_end_of_the_body() {
    let mesh = mesh();
    let inner =
        service_fn(|_req: Request<()>| async { Ok::<_, MeshError>(Response::new(grpc_body(0))) });
    let metrics = ClientMetricsLayer::new(mesh.clone(), "attendees", Protocol::Grpc).layer(inner);
    let client = RouteLayer::new(mesh.clone(), "attendees").layer(metrics);

    let res = client.oneshot(grpc_request(None)).await.expect("response");
    tokio::time::advance(Duration::from_millis(250)).await;
    res.into_body().collect().await.expect("body");
    let sum = sample(
        &mesh,
        r#"mesh_client_request_duration_seconds_sum{target="attendees",route="default",dest_service="attendees",dest_subset="v1"}"#,
    )
    .expect("a sum");
    assert!((sum - 0.25).abs() < 1e-9, "{sum}");
    assert_eq!(
        client_count(&mesh, labels("default", "v1"), Status::Name("OK")),
        1
    );
}

#[tokio::test]
async fn the_server_records_statuses_and_errors() {
    let mesh = mesh();
    let inner = service_fn(|req: Request<()>| async move {
        if req.uri().path() == "/fail" {
            return Err("handler failed");
        }
        Ok(Response::new(grpc_body(7)))
    });
    let server = ServerMetricsLayer::new(mesh.clone(), "attendees", Protocol::Grpc).layer(inner);

    let res = server
        .clone()
        .oneshot(Request::new(()))
        .await
        .expect("response");
    res.into_body().collect().await.expect("body");
    let err = server
        .oneshot(Request::builder().uri("/fail").body(()).expect("request"))
        .await
        .expect_err("fails");
    assert_eq!(err, "handler failed");
    assert_eq!(server_count(&mesh, Status::Name("PERMISSION_DENIED")), 1);
    assert_eq!(server_count(&mesh, Status::Name("error")), 1);
    assert_eq!(
        sample(
            &mesh,
            r#"mesh_server_request_duration_seconds_count{service="attendees"}"#
        ),
        Some(2.0)
    );
}

#[test]
fn the_encoded_text_names_every_family() {
    let mesh = mesh();
    let metrics = mesh.metrics();
    metrics.record_retry("attendees", "default");
    metrics.record_retry("attendees", "default");
    metrics.record_rate_limited("attendees", "sessions-limit");
    let client = metrics.client_series(labels("default", "v1"), Protocol::Grpc);
    metrics.record_client(&client, Status::Name("OK"), 0.003);
    let server = ServerLabels {
        service: "attendees".into(),
    };
    let server = metrics.server_series(server, Protocol::Http);
    metrics.record_server(&server, Status::Http(200), 0.001);
    // A status other than success is counted in a series of its own.
    metrics.record_server(&server, Status::Http(503), 0.001);
    let text = metrics.encode();
    for needle in [
        "# TYPE mesh_client_requests counter",
        "mesh_client_requests_total{",
        "# UNIT mesh_client_request_duration_seconds seconds",
        "mesh_client_request_duration_seconds_bucket{",
        r#"mesh_client_retries_total{target="attendees",route="default"} 2"#,
        r#"mesh_server_requests_total{service="attendees",status="200"} 1"#,
        r#"mesh_server_requests_total{service="attendees",status="503"} 1"#,
        "mesh_server_request_duration_seconds_count{",
        r#"mesh_server_rate_limited_total{service="attendees",policy="sessions-limit"} 1"#,
        r#"le="0.0001""#,
        r#"le="13.1072""#,
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");

    // Registered elsewhere, the families stay shared with the mesh.
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    metrics.record_retry("attendees", "default");
    let mut own = String::new();
    prometheus_client::encoding::text::encode(&mut own, &registry).expect("encodes");
    assert!(
        own.contains(r#"mesh_client_retries_total{target="attendees",route="default"} 3"#),
        "{own}"
    );
}
