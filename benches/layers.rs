//! Micro-benchmarks of the mesh's request path, with no network: the full
//! outbound and inbound stacks, and each layer alone, around an in-memory
//! service, against the same service called directly; and route matching
//! against 10, 100 and 1000 routes.
//!
//! ```sh
//! cargo bench --bench layers              # criterion, then the summary table
//! cargo bench --bench layers -- --quick   # shorter criterion runs
//! ```
//!
//! After criterion, a summary measures every variant again, interleaved
//! (A B C A B C), and prints nanoseconds and heap allocations per request,
//! and what each adds to the bare service (or, for the layers that need a
//! routing decision, to the route layer alone). Allocations are counted by
//! a counting global allocator (`stats_alloc`); everything runs on one
//! thread (a current-thread tokio runtime), so the counts are exact.
//! `MESH_BENCH_SUMMARY=0` skips the summary; `MESH_BENCH_ONLY=NAME[,NAME]`
//! keeps only those variants in it (for a profiler or heaptrack, which
//! then sees one variant's requests).

use std::alloc::System;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use futures_util::future::poll_fn;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response};
use http_body::{Body, Frame};
use http_body_util::Full;
use mesh::core::client::balance::Balance;
use mesh::core::client::client_stack;
use mesh::core::client::deadline::DeadlineLayer;
use mesh::core::client::local_reply::LocalReplyLayer;
use mesh::core::client::retry::RetryLayer;
use mesh::core::client::route::RouteLayer;
use mesh::core::protocol::Protocol;
use mesh::core::security::upstream::UpstreamSecurity;
use mesh::core::server::ServerLayer;
use mesh::core::server::rate_limit::RateLimitLayer;
use mesh::core::telemetry::{
    ClientMetricsLayer, ClientTraceLayer, ServerMetricsLayer, ServerTraceLayer,
};
use mesh::core::transport::Connector;
use mesh::policy::{
    Destination, Endpoint, HeaderMatch, HeaderRule, LocalRateLimit, Policy, RequestMatch,
    RequestParts, RetryPolicy, Route, Service as MeshService, StringMatch, TokenBucket,
};
use mesh::{Mesh, MeshError};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Layer, Service, ServiceExt};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const TARGET: &str = "bench:50051";
const PATH: &str = "/bench.Bench/Call";

/// A unary gRPC response body: one message, then `grpc-status: 0`.
#[derive(Debug)]
struct GrpcBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Body for GrpcBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = match self.data.take() {
            Some(d) => Some(Frame::data(d)),
            None => self.trailers.take().map(Frame::trailers),
        };
        Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }
}

/// The in-memory application: answers every request at once, as a unary
/// gRPC handler would (headers, one message, trailers).
#[derive(Clone, Copy, Debug, Default)]
struct App;

impl<B> Service<Request<B>> for App {
    type Response = Response<GrpcBody>;
    type Error = MeshError;
    type Future = Ready<Result<Response<GrpcBody>, MeshError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), MeshError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        drop(req);
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        let mut res = Response::new(GrpcBody {
            data: Some(Bytes::from_static(b"\0\0\0\0\x07reply!!")),
            trailers: Some(trailers),
        });
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        ready(Ok(res))
    }
}

/// A connector whose every endpoint is `E`, in memory.
#[derive(Clone, Copy, Debug)]
struct MemConnector<E>(E);

impl<B, E, RB> Connector<B> for MemConnector<E>
where
    E: Service<Request<B>, Response = Response<RB>, Error = MeshError>
        + Clone
        + Send
        + Sync
        + 'static,
{
    type Body = RB;
    type Endpoint = E;

    fn endpoint(&self, _addr: SocketAddr, _security: UpstreamSecurity) -> E {
        self.0.clone()
    }
}

/// A unary gRPC request, as a generated client sends it.
fn request() -> Request<Full<Bytes>> {
    let mut req = Request::new(Full::new(Bytes::from_static(b"\0\0\0\0\x05hello")));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = http::Uri::from_static("http://bench:50051/bench.Bench/Call");
    let h = req.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    h.insert("te", HeaderValue::from_static("trailers"));
    // What a generated client puts there: real requests reach the mesh
    // with their extensions map already allocated.
    req.extensions_mut()
        .insert(tonic::GrpcMethod::new("bench.Bench", "Call"));
    req
}

/// The policy: one service, a route with a timeout and retries (so the
/// deadline and retry layers do their full work), and a rate limit on the
/// service that is never hit.
fn mesh() -> Mesh {
    let addr: SocketAddr = ([127, 0, 0, 1], 1).into();
    let route = Route::to("call", Destination::new("bench").subset("v1"))
        .when(RequestMatch {
            path: Some(StringMatch::Prefix("/bench.Bench/".into())),
            ..Default::default()
        })
        .timeout(Duration::from_secs(10))
        .retry(RetryPolicy::new(2));
    let policy = Policy::builder()
        .service(
            MeshService::new("bench")
                .endpoint(Endpoint::new(addr).label("version", "v1"))
                .subset("v1", [("version", "v1")]),
        )
        .routes("bench", [route])
        .rate_limit(LocalRateLimit {
            name: "never-hit".into(),
            host: "bench".into(),
            path: None,
            bucket: TokenBucket::per_second(1_000_000_000, 1_000_000_000),
        })
        .build()
        .expect("a valid policy");
    Mesh::new(policy)
}

/// One request through `svc`: ready, call, and read the body to its end.
async fn one<S, B>(svc: &mut S)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let svc = svc.ready().await.expect("ready");
    let res = svc.call(request()).await.expect("a response");
    assert!(res.status().is_success());
    let mut body = pin!(res.into_body());
    while let Some(frame) = poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        black_box(frame.expect("a frame"));
    }
}

/// A service under test, type-erased behind a closure that runs `n`
/// requests and returns the time they took.
type Runner = Box<dyn FnMut(u64) -> Duration>;

fn runner<S, B>(rt: &tokio::runtime::Runtime, mut svc: S) -> Runner
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + 'static,
    S::Error: std::fmt::Debug,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let handle = rt.handle().clone();
    Box::new(move |n| {
        handle.block_on(async {
            let start = Instant::now();
            for _ in 0..n {
                one(&mut svc).await;
            }
            start.elapsed()
        })
    })
}

/// The variants, by name, and which variant each one's cost is measured
/// against (the bare service, or the route layer for layers that need its
/// decision).
fn variants(
    rt: &tokio::runtime::Runtime,
    mesh: &Mesh,
) -> Vec<(&'static str, &'static str, Runner)> {
    let p = Protocol::Grpc;
    let route = || RouteLayer::new(mesh.clone(), TARGET);
    let client_full = client_stack(mesh, TARGET, p, MemConnector(App));
    let server_full = ServerLayer::new(mesh, "bench", p).layer(App);
    let both = client_stack(
        mesh,
        TARGET,
        p,
        MemConnector(ServerLayer::new(mesh, "bench", p).layer(App)),
    );
    vec![
        ("bare", "bare", runner(rt, App)),
        (
            "client/trace",
            "bare",
            runner(rt, ClientTraceLayer::new(TARGET).layer(App)),
        ),
        (
            "client/local_reply",
            "bare",
            runner(rt, LocalReplyLayer::new(p).layer(App)),
        ),
        ("client/route", "bare", runner(rt, route().layer(App))),
        (
            "client/route+metrics",
            "client/route",
            runner(
                rt,
                route().layer(ClientMetricsLayer::new(mesh.clone(), TARGET, p).layer(App)),
            ),
        ),
        (
            "client/route+deadline",
            "client/route",
            runner(rt, route().layer(DeadlineLayer::new(p).layer(App))),
        ),
        (
            "client/route+retry",
            "client/route",
            runner(
                rt,
                route().layer(RetryLayer::new(mesh.clone(), TARGET, p).layer(App)),
            ),
        ),
        (
            "client/route+balance",
            "client/route",
            runner(rt, route().layer(Balance::new(MemConnector(App), mesh))),
        ),
        ("client/full", "bare", runner(rt, client_full)),
        (
            "server/rate_limit",
            "bare",
            runner(rt, RateLimitLayer::new(mesh.clone(), "bench", p).layer(App)),
        ),
        (
            "server/trace",
            "bare",
            runner(rt, ServerTraceLayer::new("bench").layer(App)),
        ),
        (
            "server/metrics",
            "bare",
            runner(
                rt,
                ServerMetricsLayer::new(mesh.clone(), "bench", p).layer(App),
            ),
        ),
        ("server/full", "bare", runner(rt, server_full)),
        ("client+server/full", "bare", runner(rt, both)),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
}

fn bench_stacks(c: &mut Criterion) {
    let rt = runtime();
    let mesh = mesh();
    let mut group = c.benchmark_group("request");
    for (name, _, mut run) in variants(&rt, &mesh) {
        run(1_000);
        group.bench_function(name, |b| b.iter_custom(&mut run));
    }
    group.finish();
}

/// A policy whose table for `bench` has `n` routes, the last one being the
/// only one that matches [`PATH`]: matching scans them all.
fn routes_policy(n: usize) -> Policy {
    let mut routes = Vec::with_capacity(n);
    for i in 0..n - 1 {
        let m = match i % 3 {
            0 => RequestMatch {
                path: Some(StringMatch::Exact(format!("/bench.Bench/Other{i}"))),
                ..Default::default()
            },
            1 => RequestMatch {
                path: Some(StringMatch::Prefix(format!("/bench.Other{i}/"))),
                ..Default::default()
            },
            _ => RequestMatch {
                headers: vec![HeaderMatch {
                    name: HeaderName::from_static("x-tenant"),
                    rule: HeaderRule::Value(StringMatch::Exact(format!("tenant-{i}"))),
                }],
                ..Default::default()
            },
        };
        routes.push(Route::to(format!("r{i}"), Destination::new("bench")).when(m));
    }
    routes.push(
        Route::to("last", Destination::new("bench")).when(RequestMatch {
            path: Some(StringMatch::Exact(PATH.into())),
            ..Default::default()
        }),
    );
    Policy::builder()
        .service(MeshService::new("bench").endpoint(Endpoint::new(([127, 0, 0, 1], 1).into())))
        .routes("bench", routes)
        .build()
        .expect("a valid policy")
}

/// Route matching alone (the scan the route layer makes per request),
/// against 10, 100 and 1000 routes, the match being the last one.
fn bench_route_matching(c: &mut Criterion) {
    let mut group: BenchmarkGroup<'_, WallTime> = c.benchmark_group("route_matching");
    let mut req = request();
    req.headers_mut()
        .insert("x-tenant", HeaderValue::from_static("someone-else"));
    for n in [10, 100, 1000] {
        let policy = routes_policy(n);
        group.bench_function(format!("{n}_routes"), |b| {
            b.iter(|| {
                let parts = RequestParts::from(black_box(&req));
                let t = policy.route_table_index(TARGET).expect("a table");
                let table = &policy.route_tables()[t];
                black_box(table.routes.iter().position(|r| r.matches(&parts)))
            })
        });
    }
    group.finish();
}

/// Nanoseconds and allocations per request of every variant, measured in
/// interleaved rounds; the median round's time is reported.
fn summary() {
    let rt = runtime();
    let mesh = mesh();
    let mut vs = variants(&rt, &mesh);
    if let Ok(only) = std::env::var("MESH_BENCH_ONLY") {
        let keep: Vec<&str> = only.split(',').collect();
        vs.retain(|(name, _, _)| keep.contains(name));
    }
    const ROUNDS: usize = 7;
    const PER_ROUND: u64 = 20_000;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); vs.len()];
    for (_, _, run) in vs.iter_mut() {
        run(2_000);
    }
    for _ in 0..ROUNDS {
        for (i, (_, _, run)) in vs.iter_mut().enumerate() {
            let t = run(PER_ROUND);
            times[i].push(t.as_nanos() as f64 / PER_ROUND as f64);
        }
    }
    const COUNTED: u64 = 10_000;
    let mut rows = Vec::new();
    for (i, (name, base, run)) in vs.iter_mut().enumerate() {
        let region = Region::new(GLOBAL);
        run(COUNTED);
        let stats = region.change();
        times[i].sort_by(f64::total_cmp);
        let ns = times[i][ROUNDS / 2];
        let allocs = (stats.allocations + stats.reallocations) as f64 / COUNTED as f64;
        let bytes = stats.bytes_allocated as f64 / COUNTED as f64;
        rows.push((*name, *base, ns, allocs, bytes));
    }
    let find = |n: &str| rows.iter().find(|r| r.0 == n).map(|r| (r.2, r.3));
    println!();
    println!("summary: per request, median of {ROUNDS} interleaved rounds of {PER_ROUND}");
    println!(
        "| variant | ns | added ns | allocs | added allocs | bytes allocated | measured against |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (name, base, ns, allocs, bytes) in &rows {
        let (bns, ballocs) = find(base).unwrap_or((0.0, 0.0));
        println!(
            "| {name} | {ns:.0} | {:+.0} | {allocs:.2} | {:+.2} | {bytes:.0} | {base} |",
            ns - bns,
            allocs - ballocs
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut c = Criterion::default().configure_from_args();
    bench_stacks(&mut c);
    bench_route_matching(&mut c);
    c.final_summary();
    let listing = args.iter().any(|a| a == "--list" || a == "--test");
    let skip = std::env::var("MESH_BENCH_SUMMARY").is_ok_and(|v| v == "0");
    if !listing && !skip {
        summary();
    }
}
