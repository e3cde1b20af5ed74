//! Istio's `HTTPRetry`, read into a [`RetryPolicy`], with the mesh's own
//! extensions `backoff` (as a map) and `budget`.

use super::error::did_you_mean;
use super::walk::{Cx, Field, Shape};
use crate::policy::{Backoff, HttpRetryOn, Ratio, RetryBudget, RetryOn, RetryPolicy};

const RETRIES: Shape = Shape {
    // `backoff` (as a map) and `budget` are mesh extensions; Istio 1.26
    // added `backoff` as a plain duration, which we read too.
    supported: &["attempts", "perTryTimeout", "retryOn", "backoff", "budget"],
    unsupported: &["retryRemoteLocalities", "retryIgnorePreviousHosts"],
};

const BACKOFF: Shape = Shape {
    supported: &["baseInterval", "maxInterval"],
    unsupported: &[],
};

const BUDGET: Shape = Shape {
    supported: &["retryRatio", "minRetriesPerSecond"],
    unsupported: &[],
};

/// Istio's default when `attempts` is not written.
const DEFAULT_ATTEMPTS: u32 = 2;

/// Envoy conditions Istio passes through that we do not support yet.
const UNSUPPORTED_CONDITIONS: &[&str] = &[
    "reset-before-request",
    "envoy-ratelimited",
    "retriable-headers",
    "http3-post-connect-failure",
];

/// `http[].retries`. `attempts: 0` turns retries off (`None`).
pub(super) fn read(cx: &mut Cx, field: &Field<'_>) -> Option<RetryPolicy> {
    let obj = field.object(cx, RETRIES)?;
    let attempts = match obj.get("attempts") {
        Some(f) => f.u32(cx).unwrap_or(DEFAULT_ATTEMPTS),
        None => DEFAULT_ATTEMPTS,
    };
    let mut policy = RetryPolicy::new(attempts);
    if let Some(f) = obj.get("perTryTimeout") {
        policy.per_try_timeout = f.duration(cx);
        if policy.per_try_timeout.is_some_and(|d| d.is_zero()) {
            cx.report(&f, "must be positive", None);
        }
    }
    if let Some(f) = obj.get("retryOn")
        && let Some(text) = f.str(cx)
    {
        retry_on(cx, &f, text, &mut policy);
    }
    if let Some(f) = obj.get("backoff")
        && let Some(backoff) = backoff(cx, &f)
    {
        policy.backoff = backoff;
    }
    if let Some(f) = obj.get("budget")
        && let Some(budget) = budget(cx, &f)
    {
        policy.budget = budget;
    }
    (attempts > 0).then_some(policy)
}

/// `retryOn: 5xx,connect-failure,unavailable`: replaces the defaults.
fn retry_on(cx: &mut Cx, field: &Field<'_>, text: &str, policy: &mut RetryPolicy) {
    let names: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if names.is_empty() {
        return;
    }
    policy.http_on.clear();
    policy.grpc_on.clear();
    for name in names {
        // Istio also writes the one status code we retry as a number.
        let on = match name {
            "503" => Some(RetryOn::Http(HttpRetryOn::Unavailable503)),
            _ => RetryOn::from_envoy_name(name),
        };
        if let Some(on) = on {
            policy.retry_on(on);
        } else if UNSUPPORTED_CONDITIONS.contains(&name) {
            cx.report(
                field,
                format!("retry condition `{name}` is not supported yet"),
                None,
            );
        } else if name.parse::<u16>().is_ok() {
            cx.report(
                field,
                format!("retrying on status code {name} is not supported yet"),
                Some("503 is the only status code that can be retried".into()),
            );
        } else {
            let all = RetryOn::ENVOY_NAMES
                .iter()
                .map(|(n, _)| *n)
                .chain(UNSUPPORTED_CONDITIONS.iter().copied());
            cx.report(
                field,
                format!("unknown retry condition `{name}`"),
                did_you_mean(name, all),
            );
        }
    }
}

/// `backoff: 25ms` (Istio) or `backoff: {baseInterval, maxInterval}` (mesh
/// extension). The maximum defaults to ten times the base, as in Envoy.
fn backoff(cx: &mut Cx, field: &Field<'_>) -> Option<Backoff> {
    let (base, max) = if matches!(field.node.value, super::yaml::Value::Str(_)) {
        (field.duration(cx)?, None)
    } else {
        let obj = field.object(cx, BACKOFF)?;
        let base = obj
            .required(cx, "baseInterval")
            .and_then(|f| f.duration(cx));
        let max = obj.get("maxInterval").map(|f| (f.duration(cx), f));
        let max = match max {
            Some((Some(max), f)) => Some((max, f)),
            Some((None, _)) => return None,
            None => None,
        };
        (base?, max)
    };
    if base.is_zero() {
        cx.report(field, "the base interval must be positive", None);
        return None;
    }
    let max = match max {
        Some((max, f)) if max < base => {
            cx.report(&f, "must be at least the base interval", None);
            return None;
        }
        Some((max, _)) => max,
        None => base.saturating_mul(10),
    };
    Some(Backoff { base, max })
}

/// `budget: {retryRatio: 0.2, minRetriesPerSecond: 10}` (mesh extension).
fn budget(cx: &mut Cx, field: &Field<'_>) -> Option<RetryBudget> {
    let obj = field.object(cx, BUDGET)?;
    let mut budget = RetryBudget::default();
    if let Some(f) = obj.get("retryRatio") {
        let ratio = f.number(cx)?;
        match Ratio::new(ratio) {
            Some(r) => budget.ratio = r,
            None => {
                cx.report(
                    &f,
                    format!("{ratio} is out of range: must be between 0 and 1000"),
                    None,
                );
                return None;
            }
        }
    }
    if let Some(f) = obj.get("minRetriesPerSecond") {
        budget.min_per_second = f.u32(cx)?;
    }
    Some(budget)
}
