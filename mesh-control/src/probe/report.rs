//! [`ProbeReport`]: what a probe saw, as the `probe` command prints it.

use std::collections::BTreeMap;

use serde::Serialize;

/// How the requests of one probe went: which endpoint served each
/// successful one, and which gRPC status each failed one got.
///
/// As JSON (`serde_json::to_string_pretty`):
///
/// ```json
/// {
///   "target": "attendees:50051",
///   "requests": 100,
///   "ok": 100,
///   "failed": 0,
///   "served": { "127.0.0.1:50061": 80, "127.0.0.1:50062": 20 },
///   "failures": {},
///   "health": { "SERVING": 100 }
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProbeReport {
    /// The target probed.
    pub target: String,
    /// Requests sent.
    pub requests: u64,
    /// Requests answered with gRPC status `OK`.
    pub ok: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Successful requests by the endpoint that served them (`ip:port`;
    /// `unknown` if the mesh did not say).
    pub served: BTreeMap<String, u64>,
    /// Failed requests by gRPC status code (`UNAVAILABLE`, ...).
    pub failures: BTreeMap<String, u64>,
    /// Successful requests by the serving status the health service
    /// reported (`SERVING`, `NOT_SERVING`, ...).
    pub health: BTreeMap<String, u64>,
}

impl ProbeReport {
    pub(super) fn new(target: &str) -> Self {
        Self {
            target: target.to_owned(),
            ..Self::default()
        }
    }

    pub(super) fn served(&mut self, endpoint: String, health: &str) {
        self.requests += 1;
        self.ok += 1;
        *self.served.entry(endpoint).or_default() += 1;
        *self.health.entry(health.to_owned()).or_default() += 1;
    }

    pub(super) fn failed(&mut self, code: &str) {
        self.requests += 1;
        self.failed += 1;
        *self.failures.entry(code.to_owned()).or_default() += 1;
    }

    /// How many requests `endpoint` (`ip:port`) served.
    pub fn served_by(&self, endpoint: &str) -> u64 {
        self.served.get(endpoint).copied().unwrap_or(0)
    }
}
