//! JSON views of the policy, the registry and rejected configurations.
//! The model has no serde derives on purpose: this is the admin API's
//! schema, kept apart from it.

use std::time::{Duration, UNIX_EPOCH};

use mesh_core::config::Problem;
use mesh_core::policy::{
    HeaderRule, LoadBalancer, Policy, RequestMatch, Route, RouteTable, Service, StringMatch,
};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::registry::Lease;
use crate::store::Rejection;

/// The policy as JSON.
pub(crate) fn policy(p: &Policy) -> Value {
    json!({
        "services": p.services().map(service).collect::<Vec<_>>(),
        "route_tables": p.route_tables().iter().map(|t| table(t)).collect::<Vec<_>>(),
        "rate_limits": p.rate_limits().iter().map(|l| json!({
            "name": l.name,
            "host": l.host,
            "path": l.path.as_ref().map(string_match),
            "max_tokens": l.bucket.max_tokens,
            "tokens_per_fill": l.bucket.tokens_per_fill,
            "fill_interval": duration(l.bucket.fill_interval),
        })).collect::<Vec<_>>(),
    })
}

fn lb(lb: LoadBalancer) -> &'static str {
    match lb {
        LoadBalancer::PeakEwma => "peak-ewma",
        LoadBalancer::RoundRobin => "round-robin",
    }
}

fn duration(d: Duration) -> String {
    format!("{d:?}")
}

fn service(s: &Service) -> Value {
    json!({
        "host": s.host,
        "ports": s.ports.iter().map(|p| json!({"number": p.number, "name": p.name})).collect::<Vec<_>>(),
        "load_balancer": lb(s.load_balancer),
        "endpoints": s.endpoints.iter().map(|e| json!({
            "address": e.address.to_string(),
            "labels": e.labels,
        })).collect::<Vec<_>>(),
        "subsets": s.subsets.iter().map(|sub| json!({
            "name": sub.name,
            "labels": sub.labels,
            "load_balancer": sub.load_balancer.map(lb),
        })).collect::<Vec<_>>(),
    })
}

fn table(t: &RouteTable) -> Value {
    json!({
        "name": t.name,
        "hosts": t.hosts,
        "routes": t.routes.iter().map(route).collect::<Vec<_>>(),
    })
}

fn route(r: &Route) -> Value {
    json!({
        "name": r.name,
        "matches": r.matches.iter().map(request_match).collect::<Vec<_>>(),
        "destinations": r.destinations.iter().map(|d| json!({
            "host": d.destination.host,
            "subset": d.destination.subset,
            "port": d.destination.port,
            "weight": d.weight,
        })).collect::<Vec<_>>(),
        "timeout": r.timeout.map(duration),
        "retry": r.retry.as_ref().map(|retry| json!({
            "attempts": retry.attempts,
            "per_try_timeout": retry.per_try_timeout.map(duration),
            "http_on": retry.http_on.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>(),
            "grpc_on": retry.grpc_on.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>(),
            "backoff": {"base": duration(retry.backoff.base), "max": duration(retry.backoff.max)},
            "budget": {"ratio": retry.budget.ratio.get(), "min_per_second": retry.budget.min_per_second},
        })),
    })
}

fn string_match(m: &StringMatch) -> Value {
    match m {
        StringMatch::Exact(s) => json!({"exact": s}),
        StringMatch::Prefix(s) => json!({"prefix": s}),
        StringMatch::Regex(p) => json!({"regex": p.as_str()}),
    }
}

fn request_match(m: &RequestMatch) -> Value {
    json!({
        "path": m.path.as_ref().map(string_match),
        "method": m.method.as_ref().map(string_match),
        "authority": m.authority.as_ref().map(string_match),
        "headers": m.headers.iter().map(|h| json!({
            "name": h.name.as_str(),
            "rule": match &h.rule {
                HeaderRule::Value(v) => string_match(v),
                HeaderRule::Present => json!("present"),
                HeaderRule::Absent => json!("absent"),
            },
        })).collect::<Vec<_>>(),
    })
}

/// The registry's leases as JSON.
pub(crate) fn leases(leases: &[Lease]) -> Value {
    let now = Instant::now();
    leases
        .iter()
        .map(|l| {
            json!({
                "lease_id": l.id,
                "service": l.host,
                "address": l.address.to_string(),
                "labels": l.labels,
                "ttl": duration(l.ttl),
                "expires_in": duration(l.expires.saturating_duration_since(now)),
            })
        })
        .collect()
}

/// One problem of a rejected configuration.
pub(crate) fn problem(p: &Problem) -> Value {
    json!({
        "file": p.file,
        "line": p.line,
        "document": p.document,
        "resource": p.resource.as_ref().map(|r| json!({
            "kind": r.kind, "name": r.name, "namespace": r.namespace,
        })),
        "field": p.field,
        "message": p.message,
        "hint": p.hint,
        "text": p.to_string(),
    })
}

/// `/errors`: the last rejected configuration, and whether the files are
/// still rejected now.
pub(crate) fn errors(rejection: Option<&Rejection>, rejected_now: bool) -> Value {
    json!({
        "status": if rejected_now { "rejected" } else { "ok" },
        "last_rejected": rejection.map(|r| json!({
            "at_unix_ms": r.at.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0),
            "problems": r.error.problems().iter().map(problem).collect::<Vec<_>>(),
        })),
    })
}
