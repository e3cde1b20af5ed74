use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{FutureExt as _, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use tokio::time::Instant;
use tower::{Layer, ServiceExt, service_fn};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};

use super::*;
use crate::telemetry::context::{current_context, inbound_deadline};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A span's name and fields.
type Captured = (String, HashMap<String, String>);

/// A `tracing` subscriber that keeps each span's name and fields.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<Captured>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl tracing::Subscriber for Spans {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let mut spans = self.0.lock().expect("spans lock");
        spans.push((attrs.metadata().name().to_owned(), fields));
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, id: &Id, values: &Record<'_>) {
        let mut spans = self.0.lock().expect("spans lock");
        if let Some((_, fields)) = spans.get_mut(id.into_u64() as usize - 1) {
            values.record(&mut Fields(fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The process's global subscriber while these tests run: it records
/// nothing, and answers every callsite with "sometimes", so that each span
/// asks the current thread's subscriber whether it is enabled.
///
/// Without it the tests were flaky. `tracing` caches one interest per
/// callsite for the whole process, and while only one subscriber is alive it
/// takes that interest from the subscriber of whichever thread reaches the
/// callsite first. A test with no subscriber, running the same layer on
/// another thread while a capturing test's subscriber was the only one
/// alive, cached "never" for `mesh.server`, and the capturing test then saw
/// no span. With this subscriber alive, no callsite can be cached as "never".
struct Undecided;

impl tracing::Subscriber for Undecided {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Never called: `enabled` is false.
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl Spans {
    /// Captures the spans this thread opens until the guard is dropped.
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        static UNDECIDED: std::sync::Once = std::sync::Once::new();
        UNDECIDED.call_once(|| {
            // Another test binary's global subscriber cannot be here: each
            // test binary is its own process.
            tracing::subscriber::set_global_default(Undecided)
                .expect("no other global subscriber in this test binary");
        });
        let spans = Self::default();
        let guard = tracing::subscriber::set_default(spans.clone());
        (spans, guard)
    }

    /// The fields of the one span named `name`.
    fn fields(&self, name: &str) -> HashMap<String, String> {
        let spans = self.0.lock().expect("spans lock");
        let mut found = spans.iter().filter(|(n, _)| n == name);
        let fields = found.next().map(|(_, f)| f.clone());
        assert!(found.next().is_none(), "more than one {name} span");
        fields.unwrap_or_else(|| panic!("no {name} span"))
    }
}

/// The parts of a `traceparent`: version, trace id, span id, flags.
fn parse(traceparent: &str) -> [String; 4] {
    let parts: Vec<String> = traceparent.split('-').map(str::to_owned).collect();
    parts.try_into().expect("four parts")
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_owned())
}

/// A client wrapped in [`ClientTrace`] that answers with the headers it was
/// sent.
fn echo_client() -> ClientTrace<
    impl tower::Service<Request<()>, Response = Response<HeaderMap>, Error = Infallible> + Clone,
> {
    ClientTraceLayer::new("attendees").layer(service_fn(|req: Request<()>| async move {
        Ok::<_, Infallible>(Response::new(req.headers().clone()))
    }))
}

#[tokio::test]
async fn client_starts_a_new_sampled_trace_without_a_parent() {
    let (spans, _capturing) = Spans::capture();
    let req = Request::builder()
        .uri("/conference.Attendees/List")
        .body(())
        .expect("request");
    let sent = echo_client()
        .oneshot(req)
        .await
        .expect("infallible")
        .into_body();
    let traceparent = header(&sent, "traceparent").expect("traceparent");
    assert!(
        sent["traceparent"].is_sensitive(),
        "a new value per request is kept out of HPACK's table"
    );
    let [version, trace, span, flags] = parse(&traceparent);
    assert_eq!((version.as_str(), flags.as_str()), ("00", "01"));
    assert_eq!((trace.len(), span.len()), (32, 16));
    assert!(TraceId::from_hex(&trace).expect("hex") != TraceId::INVALID);
    assert!(SpanId::from_hex(&span).expect("hex") != SpanId::INVALID);
    assert_eq!(header(&sent, "tracestate"), None);
    assert_eq!(header(&sent, "baggage"), None);

    let fields = spans.fields("mesh.client");
    assert_eq!(fields["trace_id"], trace);
    assert_eq!(fields["span_id"], span);
    assert_eq!(fields["target"], "attendees");
    assert_eq!(fields["path"], "/conference.Attendees/List");
    assert_eq!(fields["status"], "200");
    assert!(!fields.contains_key("parent_span_id"));
}

#[tokio::test]
async fn client_continues_a_traceparent_the_application_set() {
    let req = Request::builder()
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-00"))
        .header("tracestate", "congo=t61rcWkgMzE")
        .body(())
        .expect("request");
    let sent = echo_client()
        .oneshot(req)
        .await
        .expect("infallible")
        .into_body();
    let [_, trace, span, flags] = parse(&header(&sent, "traceparent").expect("traceparent"));
    assert_eq!(trace, TRACE);
    assert_ne!(span, CALLER_SPAN);
    // Not sampled by the parent: stays not sampled.
    assert_eq!(flags, "00");
    assert_eq!(
        header(&sent, "tracestate").as_deref(),
        Some("congo=t61rcWkgMzE")
    );
    assert_eq!(sent.get_all("traceparent").iter().count(), 1);
}

#[tokio::test]
async fn client_prefers_the_current_context_and_replaces_stale_headers() {
    let parent = SpanContext::new(
        TraceId::from_hex(TRACE).expect("hex"),
        SpanId::from_hex(CALLER_SPAN).expect("hex"),
        TraceFlags::SAMPLED,
        true,
        "vendor=x".parse().expect("tracestate"),
    );
    let cx = Context::new()
        .with_remote_span_context(parent)
        .with_baggage([KeyValue::new("user", "alice")]);
    let req = Request::builder()
        .header(
            "traceparent",
            "00-11111111111111111111111111111111-2222222222222222-01",
        )
        .header("tracestate", "stale=1")
        .header("baggage", "stale=1")
        .body(())
        .expect("request");
    let sent = echo_client()
        .oneshot(req)
        .with_context(cx)
        .await
        .expect("infallible")
        .into_body();
    let [_, trace, span, flags] = parse(&header(&sent, "traceparent").expect("traceparent"));
    assert_eq!((trace.as_str(), flags.as_str()), (TRACE, "01"));
    assert_ne!(span, CALLER_SPAN);
    assert_eq!(header(&sent, "tracestate").as_deref(), Some("vendor=x"));
    assert_eq!(header(&sent, "baggage").as_deref(), Some("user=alice"));
}

/// What a handler saw: its own span, the deadline, and what its outbound
/// call sent.
#[derive(Debug)]
struct Seen {
    span: SpanContext,
    deadline: Option<Instant>,
    outbound: HeaderMap,
}

/// A server wrapped in [`ServerTrace`] whose handler makes one outbound call
/// through a [`ClientTrace`].
fn server() -> ServerTrace<
    impl tower::Service<Request<()>, Response = Response<Seen>, Error = Infallible> + Clone,
> {
    let client = echo_client();
    ServerTraceLayer::new("attendees").layer(service_fn(move |_req: Request<()>| {
        let client = client.clone();
        async move {
            let span = Context::map_current(|cx| cx.span().span_context().clone());
            let deadline = inbound_deadline();
            let outbound = client.oneshot(Request::new(())).await?.into_body();
            Ok::<_, Infallible>(Response::new(Seen {
                span,
                deadline,
                outbound,
            }))
        }
    }))
}

#[tokio::test]
async fn server_context_flows_into_a_nested_client_call() {
    let (spans, _capturing) = Spans::capture();
    let req = Request::builder()
        .uri("/conference.Attendees/Get")
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .header("tracestate", "vendor=x")
        .header("baggage", "user=alice,tier=gold")
        .body(())
        .expect("request");
    let seen = server()
        .oneshot(req)
        .await
        .expect("infallible")
        .into_body()
        .into_inner();

    // The handler runs in the server's span: the caller's trace, a new span.
    assert_eq!(seen.span.trace_id().to_string(), TRACE);
    assert_ne!(seen.span.span_id().to_string(), CALLER_SPAN);
    assert!(seen.span.is_sampled());
    let server_span = seen.span.span_id().to_string();

    // The outbound call continues it with a span of its own...
    let [_, trace, span, flags] =
        parse(&header(&seen.outbound, "traceparent").expect("traceparent"));
    assert_eq!((trace.as_str(), flags.as_str()), (TRACE, "01"));
    assert_ne!(span, server_span);
    assert_ne!(span, CALLER_SPAN);
    // ...carrying the caller's tracestate and baggage.
    assert_eq!(
        header(&seen.outbound, "tracestate").as_deref(),
        Some("vendor=x")
    );
    let baggage = header(&seen.outbound, "baggage").expect("baggage");
    let mut items: Vec<&str> = baggage.split(',').collect();
    items.sort_unstable();
    assert_eq!(items, ["tier=gold", "user=alice"]);

    // Server span: parented by the caller; client span: by the server.
    let server_fields = spans.fields("mesh.server");
    assert_eq!(server_fields["trace_id"], TRACE);
    assert_eq!(server_fields["span_id"], server_span);
    assert_eq!(server_fields["parent_span_id"], CALLER_SPAN);
    assert_eq!(server_fields["service"], "attendees");
    let client_fields = spans.fields("mesh.client");
    assert_eq!(client_fields["trace_id"], TRACE);
    assert_eq!(client_fields["span_id"], span);
    assert_eq!(client_fields["parent_span_id"], server_span);
}

#[tokio::test]
async fn a_malformed_traceparent_starts_a_new_trace() {
    let (spans, _capturing) = Spans::capture();
    // Upper-case hex is not valid W3C trace context.
    let req = Request::builder()
        .header(
            "traceparent",
            format!("00-{}-{CALLER_SPAN}-01", TRACE.to_uppercase()),
        )
        .header("tracestate", "vendor=x")
        .body(())
        .expect("request");
    let seen = server()
        .oneshot(req)
        .await
        .expect("infallible")
        .into_body()
        .into_inner();
    assert!(seen.span.is_valid() && seen.span.is_sampled());
    assert_ne!(seen.span.trace_id().to_string(), TRACE);
    assert_eq!(seen.span.trace_state().header(), "");
    let [_, trace, _, _] = parse(&header(&seen.outbound, "traceparent").expect("traceparent"));
    assert_eq!(trace, seen.span.trace_id().to_string());
    // The tracestate of an invalid traceparent is dropped with it.
    assert_eq!(header(&seen.outbound, "tracestate"), None);
    assert!(!spans.fields("mesh.server").contains_key("parent_span_id"));
}

#[tokio::test(start_paused = true)]
async fn grpc_timeout_becomes_the_inbound_deadline() {
    let start = Instant::now();
    let req = Request::builder()
        .header("grpc-timeout", "250m")
        .body(())
        .expect("request");
    let seen = server()
        .oneshot(req)
        .await
        .expect("infallible")
        .into_body()
        .into_inner();
    assert_eq!(seen.deadline, Some(start + Duration::from_millis(250)));
    // Only inside the handler.
    assert_eq!(inbound_deadline(), None);

    for bad in ["250", "2.5S", "-1m", "123456789m"] {
        let req = Request::builder()
            .header("grpc-timeout", bad)
            .body(())
            .expect("request");
        let seen = server()
            .oneshot(req)
            .await
            .expect("infallible")
            .into_body()
            .into_inner();
        assert_eq!(seen.deadline, None, "{bad}");
    }
    let seen = server()
        .oneshot(Request::new(()))
        .await
        .expect("infallible")
        .into_body()
        .into_inner();
    assert_eq!(seen.deadline, None);
}

#[tokio::test(start_paused = true)]
async fn the_response_body_is_polled_under_the_server_context() {
    let start = Instant::now();
    let svc = ServerTraceLayer::new("attendees").layer(service_fn(|_req: Request<()>| async {
        // The frame is made when the body is polled, after the handler
        // returned.
        let frame = futures_util::stream::once(async {
            let trace = Context::map_current(|cx| cx.span().span_context().trace_id());
            let deadline = inbound_deadline().map(|at| at - Instant::now());
            let seen = format!("{trace} {deadline:?}");
            Ok::<_, Infallible>(Frame::data(Bytes::from(seen)))
        });
        Ok::<_, Infallible>(Response::new(StreamBody::new(frame)))
    }));
    let req = Request::builder()
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .header("grpc-timeout", "3S")
        .body(())
        .expect("request");
    let body = svc.oneshot(req).await.expect("infallible").into_body();
    assert_eq!(Instant::now(), start, "the paused clock has not moved");
    let bytes = body.collect().await.expect("infallible").to_bytes();
    assert_eq!(bytes, format!("{TRACE} Some(3s)"));
    assert_eq!(inbound_deadline(), None, "only while the body is polled");
}

#[tokio::test(start_paused = true)]
async fn a_task_spawned_with_current_context_keeps_the_trace_and_the_deadline() {
    let start = Instant::now();
    let svc = ServerTraceLayer::new("attendees").layer(service_fn(|_req: Request<()>| async {
        let seen = || {
            let trace = Context::map_current(|cx| cx.span().span_context().trace_id());
            (trace.to_string(), inbound_deadline())
        };
        let handed_on = tokio::spawn(async move { seen() }.with_context(current_context()));
        // `Context::current()` alone carries the trace, not the deadline.
        let trace_only = tokio::spawn(async move { seen() }.with_context(Context::current()));
        let (handed_on, trace_only) = (handed_on.await, trace_only.await);
        Ok::<_, Infallible>(Response::new((handed_on.ok(), trace_only.ok())))
    }));
    let req = Request::builder()
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .header("grpc-timeout", "250m")
        .body(())
        .expect("request");
    let (handed_on, trace_only) = svc
        .oneshot(req)
        .await
        .expect("infallible")
        .into_body()
        .into_inner();
    let at = start + Duration::from_millis(250);
    assert_eq!(handed_on, Some((TRACE.to_owned(), Some(at))));
    assert_eq!(trace_only, Some((TRACE.to_owned(), None)));
}

/// W3C Trace Context's rules for `traceparent`, case by case.
#[test]
fn traceparent_parsing_follows_the_spec() {
    let valid = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let (trace, span, flags) = parse_traceparent(valid.as_bytes()).expect("valid");
    assert_eq!(trace.to_string(), TRACE);
    assert_eq!(span.to_string(), CALLER_SPAN);
    assert_eq!(flags, TraceFlags::SAMPLED);
    // Surrounding whitespace (OWS) is allowed.
    assert!(parse_traceparent(format!(" {valid}\t").as_bytes()).is_some());
    // A later version may append fields; its first four are read.
    let later = format!("cc-{TRACE}-{CALLER_SPAN}-09-what-comes-next");
    let (_, _, flags) = parse_traceparent(later.as_bytes()).expect("later version");
    assert_eq!(flags, TraceFlags::new(0x09));
    let zero_trace = "0".repeat(32);
    let zero_span = "0".repeat(16);
    for (bad, why) in [
        (
            format!("00-{TRACE}-{CALLER_SPAN}-01-extra"),
            "version 00 has four fields",
        ),
        (
            format!("01-{TRACE}-{CALLER_SPAN}-01x"),
            "a later version's extra field needs a dash",
        ),
        (
            format!("ff-{TRACE}-{CALLER_SPAN}-01"),
            "version ff is invalid",
        ),
        (format!("0g-{TRACE}-{CALLER_SPAN}-01"), "version is hex"),
        (
            format!("00-{}-{CALLER_SPAN}-01", TRACE.to_uppercase()),
            "lowercase only",
        ),
        (
            format!("00-{zero_trace}-{CALLER_SPAN}-01"),
            "all-zero trace id",
        ),
        (format!("00-{TRACE}-{zero_span}-01"), "all-zero span id"),
        (
            format!("00-{}-{CALLER_SPAN}-01", &TRACE[1..]),
            "short trace id",
        ),
        (
            format!("00-{TRACE}0-{}-01", &CALLER_SPAN[1..]),
            "misplaced dash",
        ),
        (format!("00-{TRACE}-{CALLER_SPAN}-1"), "one-digit flags"),
        (format!("00_{TRACE}_{CALLER_SPAN}_01"), "dashes separate"),
        (String::new(), "empty"),
    ] {
        assert_eq!(parse_traceparent(bad.as_bytes()), None, "{why}: {bad:?}");
    }
}

/// The caller's `tracestate` comes with a valid `traceparent`, parsed only
/// when present.
#[test]
fn remote_parent_carries_tracestate() {
    let mut headers = HeaderMap::new();
    headers.insert(
        "traceparent",
        format!("00-{TRACE}-{CALLER_SPAN}-00")
            .parse()
            .expect("value"),
    );
    let parent = remote_parent(&headers).expect("valid");
    assert!(parent.is_remote() && !parent.is_sampled());
    assert_eq!(parent.trace_state().header(), "");
    headers.insert("tracestate", "vendor=x,other=y".parse().expect("value"));
    let parent = remote_parent(&headers).expect("valid");
    assert_eq!(parent.trace_state().header(), "vendor=x,other=y");
}

#[test]
fn a_span_first_reached_on_a_thread_without_a_subscriber_is_still_captured() {
    fn probe() {
        let _span = tracing::info_span!("mesh.test.probe").entered();
    }
    let (spans, _capturing) = Spans::capture();
    // Reaching the callsite first from a thread with no subscriber of its
    // own used to cache "never" for it whenever this test's subscriber was
    // the only one alive.
    std::thread::spawn(probe).join().expect("probe thread");
    probe();
    assert!(spans.fields("mesh.test.probe").is_empty());
}
