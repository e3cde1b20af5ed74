//! Retry policies and retry budgets.

use std::time::Duration;

/// A fraction stored in millionths, so policies stay `Eq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ratio(u32);

impl Ratio {
    /// `value` in `[0, 1000]` (a retry ratio above 1 means more retries than
    /// requests; beyond 1000 is certainly a mistake). Returns `None` outside.
    pub fn new(value: f64) -> Option<Self> {
        (value.is_finite() && (0.0..=1000.0).contains(&value))
            .then(|| Self((value * 1_000_000.0).round() as u32))
    }

    /// The fraction as a float.
    pub fn get(self) -> f64 {
        f64::from(self.0) / 1_000_000.0
    }
}

/// HTTP outcomes that may be retried (Envoy's and Istio's `retryOn` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpRetryOn {
    /// Any 5xx response, and connection failures and resets.
    ServerError,
    /// 502, 503 and 504.
    GatewayError,
    /// The connection to the endpoint could not be made.
    ConnectFailure,
    /// The connection broke before a response.
    Reset,
    /// A 409 response.
    Retriable4xx,
    /// A 503 response, as `retriable-status-codes` commonly names.
    Unavailable503,
}

/// gRPC status codes that may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrpcRetryOn {
    /// `CANCELLED` (1).
    Cancelled,
    /// `DEADLINE_EXCEEDED` (4).
    DeadlineExceeded,
    /// `RESOURCE_EXHAUSTED` (8).
    ResourceExhausted,
    /// `INTERNAL` (13).
    Internal,
    /// `UNAVAILABLE` (14).
    Unavailable,
}

impl GrpcRetryOn {
    /// The numeric gRPC status code.
    pub fn code(self) -> i32 {
        match self {
            GrpcRetryOn::Cancelled => 1,
            GrpcRetryOn::DeadlineExceeded => 4,
            GrpcRetryOn::ResourceExhausted => 8,
            GrpcRetryOn::Internal => 13,
            GrpcRetryOn::Unavailable => 14,
        }
    }
}

/// One retry condition, HTTP or gRPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryOn {
    /// An HTTP outcome.
    Http(HttpRetryOn),
    /// A gRPC status.
    Grpc(GrpcRetryOn),
}

impl RetryOn {
    /// Envoy's `retry_on` names (Istio's `retryOn` uses them too), and what
    /// each means in the model: the one table the YAML loader, the xDS
    /// translation and the control plane all read. A stream the server
    /// refused never reached it, so `refused-stream` reads as a reset; the
    /// first name listed for a condition is the one written.
    pub const ENVOY_NAMES: &'static [(&'static str, RetryOn)] = &[
        ("5xx", RetryOn::Http(HttpRetryOn::ServerError)),
        ("gateway-error", RetryOn::Http(HttpRetryOn::GatewayError)),
        (
            "connect-failure",
            RetryOn::Http(HttpRetryOn::ConnectFailure),
        ),
        ("reset", RetryOn::Http(HttpRetryOn::Reset)),
        ("refused-stream", RetryOn::Http(HttpRetryOn::Reset)),
        ("retriable-4xx", RetryOn::Http(HttpRetryOn::Retriable4xx)),
        (
            "retriable-status-codes",
            RetryOn::Http(HttpRetryOn::Unavailable503),
        ),
        ("cancelled", RetryOn::Grpc(GrpcRetryOn::Cancelled)),
        (
            "deadline-exceeded",
            RetryOn::Grpc(GrpcRetryOn::DeadlineExceeded),
        ),
        ("internal", RetryOn::Grpc(GrpcRetryOn::Internal)),
        (
            "resource-exhausted",
            RetryOn::Grpc(GrpcRetryOn::ResourceExhausted),
        ),
        ("unavailable", RetryOn::Grpc(GrpcRetryOn::Unavailable)),
    ];

    /// The condition an Envoy name stands for.
    pub fn from_envoy_name(name: &str) -> Option<Self> {
        Self::ENVOY_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, on)| *on)
    }

    /// The Envoy name written for this condition.
    pub fn envoy_name(self) -> &'static str {
        Self::ENVOY_NAMES
            .iter()
            .find(|(_, on)| *on == self)
            .map_or("", |(n, _)| *n)
    }
}

/// Exponential backoff between attempts, with full jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry waits up to this long.
    pub base: Duration,
    /// No wait is longer than this.
    pub max: Duration,
}

impl Default for Backoff {
    /// Envoy's defaults: 25 ms base, ten times that at most.
    fn default() -> Self {
        Self {
            base: Duration::from_millis(25),
            max: Duration::from_millis(250),
        }
    }
}

/// Caps retries to a share of requests, so retries cannot multiply load
/// when a destination is failing (Linkerd's and Finagle's retry budget).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryBudget {
    /// Retries allowed per original request, averaged over ten seconds.
    pub ratio: Ratio,
    /// Retries always allowed per second, however few requests there are.
    pub min_per_second: u32,
}

impl Default for RetryBudget {
    /// Linkerd's defaults: 20 % extra load, at least 10 retries a second.
    fn default() -> Self {
        Self {
            ratio: Ratio(200_000),
            min_per_second: 10,
        }
    }
}

/// When and how a route retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (Istio's `attempts`).
    pub attempts: u32,
    /// A time limit for each attempt.
    pub per_try_timeout: Option<Duration>,
    /// HTTP outcomes that are retried.
    pub http_on: Vec<HttpRetryOn>,
    /// gRPC status codes that are retried.
    pub grpc_on: Vec<GrpcRetryOn>,
    /// The wait between attempts.
    pub backoff: Backoff,
    /// The cap on retries as a share of requests.
    pub budget: RetryBudget,
}

impl RetryPolicy {
    /// Adds a condition, once.
    pub fn retry_on(&mut self, on: RetryOn) {
        match on {
            RetryOn::Http(h) if !self.http_on.contains(&h) => self.http_on.push(h),
            RetryOn::Grpc(g) if !self.grpc_on.contains(&g) => self.grpc_on.push(g),
            _ => {}
        }
    }

    /// Every condition, HTTP first.
    pub fn conditions(&self) -> impl Iterator<Item = RetryOn> + '_ {
        self.http_on
            .iter()
            .map(|h| RetryOn::Http(*h))
            .chain(self.grpc_on.iter().map(|g| RetryOn::Grpc(*g)))
    }

    /// Istio's default when `retries` is given without `retryOn`:
    /// `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`
    /// narrowed to what we can tell apart.
    pub fn new(attempts: u32) -> Self {
        Self {
            attempts,
            per_try_timeout: None,
            http_on: vec![
                HttpRetryOn::ConnectFailure,
                HttpRetryOn::Reset,
                HttpRetryOn::Unavailable503,
            ],
            grpc_on: vec![GrpcRetryOn::Unavailable, GrpcRetryOn::Cancelled],
            backoff: Backoff::default(),
            budget: RetryBudget::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_has_a_name_that_reads_back() {
        for (_, on) in RetryOn::ENVOY_NAMES {
            assert_eq!(RetryOn::from_envoy_name(on.envoy_name()), Some(*on));
        }
        assert_eq!(
            RetryOn::from_envoy_name("refused-stream"),
            Some(RetryOn::Http(HttpRetryOn::Reset))
        );
        assert_eq!(RetryOn::from_envoy_name("5xxx"), None);
    }

    #[test]
    fn ratio_round_trips_and_rejects_nonsense() {
        assert_eq!(Ratio::new(0.2).map(Ratio::get), Some(0.2));
        assert_eq!(Ratio::new(-0.1), None);
        assert_eq!(Ratio::new(f64::NAN), None);
    }
}
