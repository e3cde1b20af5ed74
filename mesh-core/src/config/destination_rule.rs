//! Istio's `DestinationRule`: a service's subsets and load balancer.

use super::error::did_you_mean;
use super::walk::{Cx, Field, Shape};
use crate::policy::{LoadBalancer, Subset};

const SPEC: Shape = Shape {
    supported: &["host", "trafficPolicy", "subsets"],
    unsupported: &["exportTo", "workloadSelector"],
};

const SUBSET: Shape = Shape {
    supported: &["name", "labels", "trafficPolicy"],
    unsupported: &[],
};

const TRAFFIC_POLICY: Shape = Shape {
    supported: &["loadBalancer"],
    unsupported: &[
        "connectionPool",
        "outlierDetection",
        "tls",
        "portLevelSettings",
        "tunnel",
        "proxyProtocol",
        "retryBudget",
    ],
};

const LOAD_BALANCER: Shape = Shape {
    supported: &["simple"],
    unsupported: &[
        "consistentHash",
        "localityLbSetting",
        "warmupDurationSecs",
        "warmup",
    ],
};

/// `loadBalancer.simple` values: `None` means the default.
const SIMPLE: &[(&str, Option<LoadBalancer>)] = &[
    ("UNSPECIFIED", None),
    ("LEAST_REQUEST", Some(LoadBalancer::PeakEwma)),
    // Deprecated in Istio, an alias of LEAST_REQUEST.
    ("LEAST_CONN", Some(LoadBalancer::PeakEwma)),
    ("ROUND_ROBIN", Some(LoadBalancer::RoundRobin)),
];

const SIMPLE_UNSUPPORTED: &[&str] = &["RANDOM", "PASSTHROUGH"];

/// A `DestinationRule`'s spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DestinationRuleSpec {
    pub(super) host: String,
    /// `None` when not set (or `UNSPECIFIED`).
    pub(super) load_balancer: Option<LoadBalancer>,
    pub(super) subsets: Vec<Subset>,
}

/// Reads a `DestinationRule`'s `spec`.
pub(super) fn read(cx: &mut Cx, spec: &Field<'_>) -> DestinationRuleSpec {
    let mut out = DestinationRuleSpec {
        host: String::new(),
        load_balancer: None,
        subsets: Vec::new(),
    };
    let Some(obj) = spec.object(cx, SPEC) else {
        return out;
    };
    if let Some(f) = obj.required(cx, "host")
        && let Some(host) = f.name(cx)
    {
        if host.contains('*') {
            cx.report(
                &f,
                format!("wildcard host `{host}` is not supported yet"),
                None,
            );
        }
        host.clone_into(&mut out.host);
    }
    out.load_balancer = obj
        .get("trafficPolicy")
        .and_then(|f| traffic_policy(cx, &f));
    if let Some(subsets) = obj.get("subsets") {
        for f in subsets.list(cx) {
            let Some(subset) = subset(cx, &f) else {
                continue;
            };
            if out.subsets.iter().any(|s| s.name == subset.name) {
                cx.report(
                    &f,
                    format!("subset `{}` is declared twice", subset.name),
                    None,
                );
            }
            out.subsets.push(subset);
        }
    }
    out
}

fn subset(cx: &mut Cx, field: &Field<'_>) -> Option<Subset> {
    let obj = field.object(cx, SUBSET)?;
    let name = obj.required(cx, "name").and_then(|f| f.name(cx));
    let labels = obj.get("labels").map(|f| f.labels(cx)).unwrap_or_default();
    let load_balancer = obj
        .get("trafficPolicy")
        .and_then(|f| traffic_policy(cx, &f));
    Some(Subset {
        name: name?.to_owned(),
        labels,
        load_balancer,
    })
}

/// `trafficPolicy`: only the load balancer, so far.
fn traffic_policy(cx: &mut Cx, field: &Field<'_>) -> Option<LoadBalancer> {
    let obj = field.object(cx, TRAFFIC_POLICY)?;
    let lb = obj.get("loadBalancer")?.object(cx, LOAD_BALANCER)?;
    let simple = lb.get("simple")?;
    let value = simple.str(cx)?;
    if let Some((_, lb)) = SIMPLE.iter().find(|(name, _)| *name == value) {
        return *lb;
    }
    if SIMPLE_UNSUPPORTED.contains(&value) {
        cx.report(
            &simple,
            format!("load balancer `{value}` is not supported yet"),
            None,
        );
    } else {
        let all = SIMPLE
            .iter()
            .map(|(n, _)| *n)
            .chain(SIMPLE_UNSUPPORTED.iter().copied());
        cx.report(
            &simple,
            format!("unknown load balancer `{value}`"),
            did_you_mean(value, all),
        );
    }
    None
}
