//! A route's `RetryPolicy` and the retry budget in its metadata.

use envoy_types::pb::envoy::config::core::v3::Metadata;
use envoy_types::pb::envoy::config::route::v3::RetryPolicy as RetryProto;

use super::error::{FieldError, invalid, not_yet};
use super::proto::{duration, filter_struct, number};
use crate::policy::{Backoff, Ratio, RetryBudget, RetryOn, RetryPolicy};

/// The metadata filter our own extensions travel under.
pub(crate) const MESH_METADATA: &str = "mesh.rs";

/// The only retry host predicate we accept: our balancers already prefer
/// another endpoint for a retry.
const PREVIOUS_HOSTS: &str = "envoy.retry_host_predicates.previous_hosts";

/// Translates a retry policy; `metadata` is the route's (for the budget).
pub(crate) fn retry_policy(
    p: &RetryProto,
    metadata: Option<&Metadata>,
    field: &str,
) -> Result<RetryPolicy, FieldError> {
    let at = |sub: &str| format!("{field}.{sub}");
    // Envoy retries once when num_retries is not set.
    let mut policy = RetryPolicy::new(p.num_retries.as_ref().map_or(1, |n| n.value));
    policy.http_on.clear();
    policy.grpc_on.clear();
    for name in p
        .retry_on
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let Some(on) = RetryOn::from_envoy_name(name) else {
            return Err(not_yet(at("retry_on"), format!("condition {name:?}")));
        };
        policy.retry_on(on);
    }
    if p.retriable_status_codes.iter().any(|c| *c != 503) {
        return Err(not_yet(
            at("retriable_status_codes"),
            "status codes other than 503",
        ));
    }
    if let Some(t) = &p.per_try_timeout {
        // Envoy reads 0 as "no per-try timeout".
        policy.per_try_timeout =
            Some(duration(t, &at("per_try_timeout"))?).filter(|d| !d.is_zero());
    }
    if let Some(b) = &p.retry_back_off {
        let base = match &b.base_interval {
            Some(d) => duration(d, &at("retry_back_off.base_interval"))?,
            None => Backoff::default().base,
        };
        if base.is_zero() {
            return Err(invalid(
                at("retry_back_off.base_interval"),
                "must be positive",
            ));
        }
        let max = match &b.max_interval {
            Some(d) => duration(d, &at("retry_back_off.max_interval"))?,
            // Envoy's default: ten times the base.
            None => base * 10,
        };
        if max < base {
            return Err(invalid(
                at("retry_back_off.max_interval"),
                "must not be less than base_interval",
            ));
        }
        policy.backoff = Backoff { base, max };
    }
    let unsupported = [
        ("per_try_idle_timeout", p.per_try_idle_timeout.is_some()),
        ("retry_priority", p.retry_priority.is_some()),
        (
            "retry_options_predicates",
            !p.retry_options_predicates.is_empty(),
        ),
        (
            "rate_limited_retry_back_off",
            p.rate_limited_retry_back_off.is_some(),
        ),
        ("retriable_headers", !p.retriable_headers.is_empty()),
        (
            "retriable_request_headers",
            !p.retriable_request_headers.is_empty(),
        ),
    ];
    if let Some((name, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(not_yet(at(name), *name));
    }
    for (i, pred) in p.retry_host_predicate.iter().enumerate() {
        if pred.name != PREVIOUS_HOSTS {
            return Err(not_yet(
                at(&format!("retry_host_predicate[{i}]")),
                format!("predicate {:?}", pred.name),
            ));
        }
    }
    policy.budget = budget(metadata, field)?;
    Ok(policy)
}

/// The retry budget from `metadata.filter_metadata["mesh.rs"]`.
fn budget(metadata: Option<&Metadata>, field: &str) -> Result<RetryBudget, FieldError> {
    let mut budget = RetryBudget::default();
    let Some(s) = filter_struct(metadata, MESH_METADATA) else {
        return Ok(budget);
    };
    // The route's metadata is a sibling of its action.
    let route = field.rsplit_once(".route.").map_or(field, |(r, _)| r);
    let mf = format!("{route}.metadata.filter_metadata[\"{MESH_METADATA}\"]");
    if let Some(r) = number(s, "retry_budget_ratio", &mf)? {
        budget.ratio = Ratio::new(r).ok_or_else(|| {
            invalid(
                format!("{mf}.retry_budget_ratio"),
                "must be between 0 and 1000",
            )
        })?;
    }
    if let Some(n) = number(s, "retry_budget_min_per_second", &mf)? {
        if !(n >= 0.0 && n <= f64::from(u32::MAX) && n.fract() == 0.0) {
            return Err(invalid(
                format!("{mf}.retry_budget_min_per_second"),
                "must be a whole non-negative number",
            ));
        }
        budget.min_per_second = n as u32;
    }
    Ok(budget)
}
