//! What differs between gRPC and plain HTTP: how a response is classified,
//! how deadlines travel, and how the mesh's own errors are written.

use std::cell::RefCell;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use crate::body::MeshBody;
use crate::error::MeshError;

// gRPC's headers as names, not strings: looking a header up by a string
// parses and validates the name on every call, and the mesh reads
// `grpc-status` several times per request.
pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
pub(crate) const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
pub(crate) const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// The protocol a client or server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC over HTTP/2: outcomes are `grpc-status` codes.
    Grpc,
    /// Plain HTTP: outcomes are status codes.
    Http,
}

/// The outcome of a response, as far as its headers tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP status.
    Http(StatusCode),
    /// A gRPC status code.
    Grpc(i32),
    /// A gRPC response whose status comes in the trailers.
    GrpcInTrailers,
}

impl Outcome {
    /// The value used in a `status` metrics label.
    pub fn label(self) -> String {
        match self {
            Outcome::Http(s) => s.as_u16().to_string(),
            Outcome::Grpc(c) => grpc_code_name(c).to_owned(),
            Outcome::GrpcInTrailers => "UNKNOWN".to_owned(),
        }
    }

    /// Whether this counts as a failure for load balancing and metrics.
    pub fn is_failure(self) -> bool {
        match self {
            Outcome::Http(s) => s.is_server_error(),
            Outcome::Grpc(c) => matches!(c, 2 | 4 | 8 | 13 | 14 | 15),
            Outcome::GrpcInTrailers => false,
        }
    }
}

/// gRPC status codes used by the mesh's own replies.
pub mod code {
    /// `OK`.
    pub const OK: i32 = 0;
    /// `INVALID_ARGUMENT`.
    pub const INVALID_ARGUMENT: i32 = 3;
    /// `DEADLINE_EXCEEDED`.
    pub const DEADLINE_EXCEEDED: i32 = 4;
    /// `PERMISSION_DENIED`.
    pub const PERMISSION_DENIED: i32 = 7;
    /// `RESOURCE_EXHAUSTED`.
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    /// `INTERNAL`.
    pub const INTERNAL: i32 = 13;
    /// `UNIMPLEMENTED`.
    pub const UNIMPLEMENTED: i32 = 12;
    /// `UNAVAILABLE`.
    pub const UNAVAILABLE: i32 = 14;
    /// `UNAUTHENTICATED`.
    pub const UNAUTHENTICATED: i32 = 16;
}

/// The canonical name of a gRPC status code.
pub fn grpc_code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// The first value of `name` in `headers`, as [`HeaderMap::get`] finds it.
///
/// The mesh reads a few headers of its own (`grpc-status`,
/// `grpc-timeout`, `traceparent`...) on every request and response, from
/// maps that mostly hold a handful of entries. `get` hashes the name
/// first, which costs more than comparing it with each of a few names
/// (a standard name and a custom one differ at their first comparison), so
/// a small map is scanned instead.
pub(crate) fn find_header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Option<&'a HeaderValue> {
    /// Up to this many values, a scan is cheaper than hashing the name.
    const SCAN_UP_TO: usize = 8;
    if headers.len() <= SCAN_UP_TO {
        headers.iter().find_map(|(k, v)| (k == name).then_some(v))
    } else {
        headers.get(name)
    }
}

/// The `grpc-status` in a header map, if there is a valid one.
pub fn grpc_status(headers: &HeaderMap) -> Option<i32> {
    find_header(headers, &GRPC_STATUS)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

impl Protocol {
    /// Classifies a response by its headers.
    pub fn classify<B>(self, res: &Response<B>) -> Outcome {
        match self {
            Protocol::Http => Outcome::Http(res.status()),
            Protocol::Grpc => match grpc_status(res.headers()) {
                Some(code) => Outcome::Grpc(code),
                None if res.status() == StatusCode::OK => Outcome::GrpcInTrailers,
                // gRPC's mapping of HTTP statuses from a non-gRPC hop
                // (doc/http-grpc-status-mapping.md).
                None => Outcome::Grpc(match res.status().as_u16() {
                    400 => code::INTERNAL,
                    401 => 16,
                    403 => code::PERMISSION_DENIED,
                    404 => code::UNIMPLEMENTED,
                    429 | 502..=504 => code::UNAVAILABLE,
                    _ => 2,
                }),
            },
        }
    }

    /// The HTTP status and gRPC code the mesh answers with for `err`.
    pub fn error_codes(err: &MeshError) -> (StatusCode, i32) {
        match err {
            MeshError::NoRoute { .. } => (StatusCode::NOT_FOUND, code::UNIMPLEMENTED),
            MeshError::NoHealthyEndpoint { .. }
            | MeshError::Identity { .. }
            | MeshError::Connect { .. }
            | MeshError::Transport { .. } => (StatusCode::SERVICE_UNAVAILABLE, code::UNAVAILABLE),
            MeshError::DeadlineExceeded { .. } | MeshError::PerTryTimeout { .. } => {
                (StatusCode::GATEWAY_TIMEOUT, code::DEADLINE_EXCEEDED)
            }
            MeshError::RateLimited { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, code::RESOURCE_EXHAUSTED)
            }
            MeshError::Body(_) => (StatusCode::BAD_REQUEST, code::INTERNAL),
            MeshError::Unauthenticated { .. } => (StatusCode::UNAUTHORIZED, code::UNAUTHENTICATED),
            MeshError::PermissionDenied { .. } => (StatusCode::FORBIDDEN, code::PERMISSION_DENIED),
            MeshError::InvalidPath { .. } => (StatusCode::BAD_REQUEST, code::INVALID_ARGUMENT),
        }
    }

    /// The response the mesh sends in place of the destination's.
    ///
    /// For gRPC this is a trailers-only response (HTTP 200 with
    /// `grpc-status` and `grpc-message` in the headers), which every gRPC
    /// client reads as a status; for HTTP it is the status with the message
    /// as a plain-text body. Both carry `x-mesh-error` with the error kind.
    pub fn local_reply<B>(self, err: &MeshError) -> Response<MeshBody<B>> {
        let (status, grpc) = Self::error_codes(err);
        let message = err.to_string();
        let mut res = match self {
            Protocol::Grpc => {
                let mut res = Response::new(MeshBody::empty());
                let h = res.headers_mut();
                h.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/grpc"),
                );
                h.insert(GRPC_STATUS, HeaderValue::from(grpc));
                if let Ok(v) = HeaderValue::from_str(&percent_encode(&message)) {
                    h.insert(GRPC_MESSAGE, v);
                }
                res
            }
            Protocol::Http => {
                let mut res = Response::new(MeshBody::local(Bytes::from(format!("{message}\n"))));
                *res.status_mut() = status;
                res.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                res
            }
        };
        res.headers_mut()
            .insert("x-mesh-error", HeaderValue::from_static(err.kind()));
        if let MeshError::RateLimited { retry_after, .. } = err {
            // Whole seconds, rounded up: `Retry-After: 0` would invite an
            // immediate retry that is refused again.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            res.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        res
    }
}

/// Percent-encodes a `grpc-message` as the gRPC spec requires.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Formats a `grpc-timeout` value: the time rounded up to three
/// significant figures, in the coarsest unit that states it exactly.
///
/// Rounding up means the callee is never told it has less time than it
/// does; the caller enforces its own deadline anyway. Three figures (at
/// most 1 % more) is what gRPC's C core sends too, and it makes the values
/// repeat: a 5 s timeout goes out as `5S` on nearly every request, which
/// HPACK can index and the client can keep as one shared header value.
///
/// ```
/// use std::time::Duration;
/// use mesh_core::protocol::encode_grpc_timeout;
/// assert_eq!(encode_grpc_timeout(Duration::from_millis(1500)), "1500m");
/// assert_eq!(encode_grpc_timeout(Duration::from_micros(4_999_987)), "5S");
/// ```
pub fn encode_grpc_timeout(d: Duration) -> String {
    let (v, unit) = grpc_timeout_parts(d);
    format!("{v}{unit}")
}

/// The number and unit [`encode_grpc_timeout`] writes, for callers that
/// format them without allocating.
pub(crate) fn grpc_timeout_parts(d: Duration) -> (u128, &'static str) {
    /// Below this many nanoseconds (317 years), rounding up to three
    /// figures stays within 64 bits.
    const NARROW: u128 = 10_000_000_000_000_000_000;
    let nanos = d.as_nanos();
    // Every request with a deadline comes here, and 64-bit divisions are
    // several times cheaper than the 128-bit ones (a library call each)
    // that longer timeouts need.
    match u64::try_from(nanos) {
        Ok(narrow) if nanos < NARROW => {
            let (v, unit) = timeout_parts_u64(narrow);
            (u128::from(v), unit)
        }
        _ => timeout_parts_u128(nanos),
    }
}

/// Defines `$name(nanos: $int) -> ($int, unit)`: the value and unit of a
/// `grpc-timeout` of `nanos`, in one integer width.
macro_rules! timeout_parts {
    ($name:ident, $int:ty) => {
        fn $name(nanos: $int) -> ($int, &'static str) {
            const MAX: $int = 99_999_999;
            // Finest first.
            const UNITS: [(&str, $int); 6] = [
                ("n", 1),
                ("u", 1_000),
                ("m", 1_000_000),
                ("S", 1_000_000_000),
                ("M", 60_000_000_000),
                ("H", 3_600_000_000_000),
            ];
            // The smallest number of at most three significant figures
            // that is not below `nanos`.
            let mut scale: $int = 1;
            while nanos / scale >= 1000 {
                scale *= 10;
            }
            let nanos = nanos.div_ceil(scale) * scale;
            if nanos == 0 {
                return (0, "n");
            }
            if let Some((unit, per)) = UNITS
                .iter()
                .rev()
                .find(|(_, per)| nanos.is_multiple_of(*per) && nanos / per <= MAX)
            {
                return (nanos / per, unit);
            }
            // No unit states it exactly in eight digits (years): the
            // finest that fits, rounded up.
            for (unit, per) in UNITS {
                let v = nanos.div_ceil(per);
                if v <= MAX {
                    return (v, unit);
                }
            }
            (MAX, "H")
        }
    };
}

timeout_parts!(timeout_parts_u64, u64);
timeout_parts!(timeout_parts_u128, u128);

/// How much room each thread's chunk for [`shared_header_value`] has: a
/// few dozen `traceparent` values.
const HEADER_VALUE_CHUNK: usize = 2048;

thread_local! {
    /// Where the header values the mesh writes are copied to: one buffer
    /// that many values share, see [`shared_header_value`].
    static HEADER_VALUES: RefCell<BytesMut> =
        RefCell::new(BytesMut::with_capacity(HEADER_VALUE_CHUNK));
}

/// A header value holding `bytes`, in memory that its clones share and
/// that is seldom a new heap allocation; `None` if the bytes are not a
/// valid header value.
///
/// The mesh writes a header value on every request (`traceparent`), and
/// copies it (the retry layer keeps the headers). `HeaderValue::from_bytes`
/// would allocate for the value and again for its first clone; instead the
/// value is carved out of a per-thread chunk: a new chunk (two allocations)
/// is needed once every few dozen values, and none while the values carved
/// from the last one have all been dropped, the chunk being reused in
/// place. A value kept for long keeps its chunk (2 KiB) alive.
pub(crate) fn shared_header_value(bytes: &[u8]) -> Option<HeaderValue> {
    let carved = HEADER_VALUES.try_with(|chunk| {
        let mut chunk = chunk.borrow_mut();
        // Reuses the chunk when no value carved from it is left, else
        // starts another of the same size.
        chunk.reserve(bytes.len());
        chunk.extend_from_slice(bytes);
        chunk.split().freeze()
    });
    // Only while the thread exits is there no chunk.
    let bytes = carved.unwrap_or_else(|_| Bytes::copy_from_slice(bytes));
    HeaderValue::from_maybe_shared(bytes).ok()
}

/// Parses a `grpc-timeout` value; `None` if it is malformed.
pub fn decode_grpc_timeout(value: &HeaderValue) -> Option<Duration> {
    let s = value.to_str().ok()?;
    if s.len() < 2 || s.len() > 9 {
        return None;
    }
    let (digits, unit) = s.split_at(s.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_round_trips_and_rounds_up() {
        for d in [
            Duration::from_nanos(1),
            Duration::from_millis(250),
            Duration::from_secs(3),
            Duration::from_secs(200_000),
        ] {
            let enc = HeaderValue::from_str(&encode_grpc_timeout(d)).unwrap();
            let back = decode_grpc_timeout(&enc).unwrap();
            assert!(back >= d, "{d:?} -> {enc:?} -> {back:?}");
            // At most 1 % more than there is.
            assert!(
                back.as_nanos() * 100 <= d.as_nanos() * 101,
                "{d:?} -> {enc:?}"
            );
        }
        for (d, enc) in [
            (Duration::ZERO, "0n"),
            (Duration::from_nanos(999), "999n"),
            (Duration::from_nanos(1001), "1010n"),
            (Duration::from_secs(100), "100S"),
            (Duration::from_secs(120), "2M"),
            (Duration::from_secs(7200), "2H"),
            (Duration::from_millis(4_999), "5S"),
            (Duration::from_millis(4_989), "4990m"),
            (Duration::from_micros(1_234_567), "1240m"),
            (Duration::from_secs(200_000), "200000S"),
            // In no unit exactly within eight digits (3333333.3 M).
            (Duration::from_secs(200_000_000), "3333334M"),
        ] {
            assert_eq!(encode_grpc_timeout(d), enc, "{d:?}");
        }
    }

    #[test]
    fn grpc_timeout_widths_agree() {
        // The 64-bit path serves every timeout under 317 years; the
        // 128-bit one the rest. Both must give the same answer where both
        // apply.
        const NARROW: u64 = 10_000_000_000_000_000_000;
        let mut nanos = 1u64;
        while nanos < NARROW {
            for n in [
                nanos - 1,
                nanos,
                nanos + 1,
                nanos.saturating_mul(7).min(NARROW) - 1,
            ] {
                let (narrow, unit) = timeout_parts_u64(n);
                assert_eq!(
                    (u128::from(narrow), unit),
                    timeout_parts_u128(u128::from(n)),
                    "{n}"
                );
            }
            nanos = nanos.saturating_mul(7);
        }
        // From there on, the wide path: still at least the time there is.
        for d in [
            Duration::from_nanos(NARROW),
            Duration::from_nanos(u64::MAX),
            Duration::from_nanos(u64::MAX) + Duration::from_secs(1),
            Duration::MAX,
        ] {
            let enc = HeaderValue::from_str(&encode_grpc_timeout(d)).unwrap();
            let back = decode_grpc_timeout(&enc).unwrap();
            assert!(back >= d || enc == "99999999H", "{d:?} -> {enc:?}");
        }
    }

    #[test]
    fn find_header_finds_what_get_finds() {
        for extra in [0, 3, 20] {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("a"));
            headers.append(GRPC_STATUS, HeaderValue::from_static("0"));
            headers.append(GRPC_STATUS, HeaderValue::from_static("1"));
            for i in 0..extra {
                let name = HeaderName::try_from(format!("x-{i}")).unwrap();
                headers.insert(name, HeaderValue::from_static("x"));
            }
            for name in [GRPC_STATUS, http::header::CONTENT_TYPE, GRPC_TIMEOUT] {
                assert_eq!(
                    find_header(&headers, &name),
                    headers.get(&name),
                    "{name} of {extra}"
                );
            }
            assert_eq!(
                grpc_status(&headers),
                Some(0),
                "the first value, as get gives"
            );
        }
    }

    #[test]
    fn malformed_grpc_timeouts_are_rejected() {
        for bad in ["", "5", "m", "12x", "-1S", "1234567890S", "1.5S"] {
            let v = HeaderValue::from_str(bad).unwrap();
            assert_eq!(decode_grpc_timeout(&v), None, "{bad:?}");
        }
    }

    #[test]
    fn grpc_classification_reads_trailers_only_status() {
        let mut res = Response::new(());
        res.headers_mut()
            .insert("grpc-status", HeaderValue::from(14));
        assert_eq!(Protocol::Grpc.classify(&res), Outcome::Grpc(14));
        let res = Response::new(());
        assert_eq!(Protocol::Grpc.classify(&res), Outcome::GrpcInTrailers);
        let mut res = Response::new(());
        *res.status_mut() = StatusCode::BAD_GATEWAY;
        assert_eq!(
            Protocol::Grpc.classify(&res),
            Outcome::Grpc(code::UNAVAILABLE)
        );
    }

    #[test]
    fn rate_limited_reply_carries_retry_after() {
        let err = MeshError::RateLimited {
            policy: "sessions-limit".into(),
            retry_after: Duration::from_millis(1200),
        };
        let res: Response<MeshBody<http_body_util::Empty<Bytes>>> =
            Protocol::Http.local_reply(&err);
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[http::header::RETRY_AFTER], "2");
        let res: Response<MeshBody<http_body_util::Empty<Bytes>>> =
            Protocol::Grpc.local_reply(&err);
        assert_eq!(res.headers()["grpc-status"], "8");
        assert_eq!(
            res.headers()["grpc-message"],
            "rate limited by sessions-limit"
        );
    }

    #[test]
    fn shared_header_values_hold_their_bytes_across_chunks() {
        // More values than one chunk holds, half of them kept: each keeps
        // its own bytes whether its chunk was reused or replaced.
        let values: Vec<String> = (0..200)
            .map(|i| format!("00-{i:032x}-{i:016x}-01"))
            .collect();
        let mut kept = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let header = shared_header_value(v.as_bytes()).expect("valid");
            assert_eq!(header, v.as_str());
            if i % 2 == 0 {
                kept.push((v, header.clone()));
            }
        }
        for (v, header) in &kept {
            assert_eq!(header, v.as_str());
        }
        assert_eq!(shared_header_value(b""), Some(HeaderValue::from_static("")));
        assert_eq!(shared_header_value(b"bad\nvalue"), None);
        assert_eq!(
            shared_header_value(&[b'x'; 3 * HEADER_VALUE_CHUNK]).map(|v| v.len()),
            Some(3 * HEADER_VALUE_CHUNK),
            "a value larger than a chunk"
        );
    }
}
