//! W3C trace context (`traceparent`, `tracestate`, `baggage`) on every call,
//! through the OpenTelemetry API, and a `tracing` span per request.
//!
//! The layers mint their span ids themselves (random, with `fastrand`), so
//! the trace is propagated correctly whether or not an OpenTelemetry SDK is
//! installed. The `mesh.client` and `mesh.server` `tracing` spans carry the
//! propagated ids as fields (`trace_id`, `span_id`, `parent_span_id`), so
//! logs correlate across services; an exporter that builds spans from
//! `tracing` (such as `tracing-opentelemetry`) mints ids of its own, which
//! are not the ones on the wire.
//!
//! - [`ServerTraceLayer`] (inbound) extracts the caller's trace, mints the
//!   server's span and runs the handler under an [`opentelemetry::Context`]
//!   holding it (see [`crate::telemetry::context`]).
//! - [`ClientTraceLayer`] (outbound) continues the current context's trace
//!   (or a `traceparent` the application set, or a new trace) with a new
//!   span and injects it into the request.

pub mod client;
pub mod server;

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::BaggagePropagator;

pub use client::{ClientTrace, ClientTraceLayer};

use crate::protocol::{find_header, shared_header_value};
pub use server::{ServerTrace, ServerTraceLayer, TraceBody};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
const BAGGAGE: HeaderName = HeaderName::from_static("baggage");

/// Writes propagation fields into an [`HeaderMap`], replacing what is there.
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // An empty `tracestate` is legal but useless; leave it out.
        if value.is_empty() {
            return;
        }
        let name = match key {
            "traceparent" => TRACEPARENT,
            "tracestate" => TRACESTATE,
            "baggage" => BAGGAGE,
            other => match HeaderName::from_bytes(other.as_bytes()) {
                Ok(name) => name,
                Err(_) => return,
            },
        };
        // Propagators write visible ASCII; anything else is dropped rather
        // than sent malformed.
        if let Ok(value) = HeaderValue::try_from(value) {
            self.0.insert(name, value);
        }
    }
}

/// Reads propagation fields from an [`HeaderMap`].
struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// `traceparent` for `sc`, as `TraceContextPropagator` writes it
/// (`00-<trace id>-<span id>-<flags>`, only the sampled flag kept), built
/// without the propagator's intermediate `String`s, into memory shared by
/// the retry layer's copy of the headers and seldom newly allocated (see
/// [`shared_header_value`]).
fn traceparent(sc: &SpanContext) -> Option<HeaderValue> {
    fn hex(out: &mut [u8], bytes: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0xf)];
        }
    }
    let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-00";
    hex(&mut buf[3..35], &sc.trace_id().to_bytes());
    hex(&mut buf[36..52], &sc.span_id().to_bytes());
    hex(
        &mut buf[53..55],
        &[sc.trace_flags().to_u8() & TraceFlags::SAMPLED.to_u8()],
    );
    let mut value = shared_header_value(&buf)?;
    // A new value on every request: HPACK-indexing it would only evict the
    // headers that do repeat (`:path`, `content-type`, `te`...) from both
    // peers' tables. Sensitive values are sent as never-indexed literals.
    value.set_sensitive(true);
    Some(value)
}

/// The caller's span from the request's `traceparent` (and `tracestate`),
/// if it has a valid one: a remote span context.
///
/// Parsed here rather than by `TraceContextPropagator`, which splits the
/// header into a `Vec` and returns a fresh `Context` (three allocations
/// per request); this reads the fixed layout in place, and is stricter
/// where W3C Trace Context is: ids are exactly 32 and 16 lowercase hex
/// digits, and a version-00 header is exactly 55 characters. A later
/// version is read by its first four fields, as the spec asks.
/// `tracestate` is only parsed (and allocated) when the request has one.
fn remote_parent(headers: &HeaderMap) -> Option<SpanContext> {
    let (trace_id, span_id, flags) =
        parse_traceparent(find_header(headers, &TRACEPARENT)?.as_bytes())?;
    let state = match find_header(headers, &TRACESTATE).map(HeaderValue::to_str) {
        Some(Ok(state)) => state.parse().unwrap_or_default(),
        _ => TraceState::NONE,
    };
    Some(SpanContext::new(
        trace_id,
        span_id,
        flags & TraceFlags::SAMPLED,
        true,
        state,
    ))
}

/// The trace id, parent span id and flags of a `traceparent` value
/// (`00-<32 hex>-<16 hex>-<2 hex>`), `None` unless valid.
fn parse_traceparent(value: &[u8]) -> Option<(TraceId, SpanId, TraceFlags)> {
    let value = value.trim_ascii();
    if value.len() < 55 || [value[2], value[35], value[52]] != [b'-'; 3] {
        return None;
    }
    let [version] = lowercase_hex::<1>(&value[..2])?;
    // Version ff is invalid; 00 has exactly four fields; a later version
    // may add fields after a dash.
    let layout_ok = match version {
        0xff => false,
        0 => value.len() == 55,
        _ => value.len() == 55 || value[55] == b'-',
    };
    let trace_id = lowercase_hex::<16>(&value[3..35])?;
    let span_id = lowercase_hex::<8>(&value[36..52])?;
    let [flags] = lowercase_hex::<1>(&value[53..55])?;
    (layout_ok && trace_id != [0; 16] && span_id != [0; 8]).then(|| {
        (
            TraceId::from_bytes(trace_id),
            SpanId::from_bytes(span_id),
            TraceFlags::new(flags),
        )
    })
}

/// The `N` bytes written as `2 × N` lowercase hex digits (the only case
/// W3C Trace Context allows), `None` otherwise. Table-driven and without a
/// branch per digit: every inbound request parses 48 of them.
fn lowercase_hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    /// Each byte's value as a hex digit, or `0xff` if it is not one.
    const NIBBLES: [u8; 256] = {
        let mut table = [0xff; 256];
        let mut i = 0;
        while i < 16 {
            table[b"0123456789abcdef"[i] as usize] = i as u8;
            i += 1;
        }
        table
    };
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    // Any invalid digit sets bits above the low four.
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (high, low) = (NIBBLES[usize::from(pair[0])], NIBBLES[usize::from(pair[1])]);
        invalid |= high | low;
        *byte = high << 4 | low;
    }
    (invalid < 16).then_some(out)
}

/// The `baggage` of the request, on `cx`; `cx` itself when the request has
/// none (skipping the propagator and its allocations).
fn with_baggage(cx: Context, headers: &HeaderMap) -> Context {
    if find_header(headers, &BAGGAGE).is_none() {
        return cx;
    }
    BaggagePropagator::new().extract_with_context(&cx, &HeaderExtractor(headers))
}

/// The valid span context of `cx`, if any.
fn valid_span_context(cx: &Context) -> Option<SpanContext> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| sc.clone())
}

/// A new span: a child of `parent` (same trace, flags and state), or the
/// root of a new, sampled trace.
fn child_of(parent: Option<&SpanContext>) -> SpanContext {
    let span_id = SpanId::from(fastrand::u64(1..));
    match parent {
        Some(p) => SpanContext::new(
            p.trace_id(),
            span_id,
            p.trace_flags(),
            false,
            p.trace_state().clone(),
        ),
        None => SpanContext::new(
            TraceId::from(fastrand::u128(1..)),
            span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
    }
}

#[cfg(test)]
mod tests;
