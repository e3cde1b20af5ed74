//! Istio's `DestinationRule`: a service's subsets, load balancer and
//! upstream TLS mode.

use super::error::did_you_mean;
use super::walk::{Cx, Field, Shape};
use crate::policy::{LoadBalancer, Subset, UpstreamTlsMode};

const SPEC: Shape = Shape {
    supported: &["host", "trafficPolicy", "subsets"],
    unsupported: &["exportTo", "workloadSelector"],
};

const SUBSET: Shape = Shape {
    supported: &["name", "labels", "trafficPolicy"],
    unsupported: &[],
};

const TRAFFIC_POLICY: Shape = Shape {
    supported: &["loadBalancer", "tls"],
    unsupported: &[
        "connectionPool",
        "outlierDetection",
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

const TLS: Shape = Shape {
    supported: &["mode"],
    unsupported: &[
        "clientCertificate",
        "privateKey",
        "caCertificates",
        "credentialName",
        "subjectAltNames",
        "sni",
        "insecureSkipVerify",
        "caCrl",
    ],
};

/// `tls.mode` values.
const TLS_MODES: &[(&str, UpstreamTlsMode)] = &[
    ("ISTIO_MUTUAL", UpstreamTlsMode::Mutual),
    ("DISABLE", UpstreamTlsMode::Disable),
];

/// TLS with certificates from files, which the mesh does not load.
const TLS_MODES_UNSUPPORTED: &[&str] = &["SIMPLE", "MUTUAL"];

/// A `DestinationRule`'s spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DestinationRuleSpec {
    pub(super) host: String,
    /// `None` when not set (or `UNSPECIFIED`).
    pub(super) load_balancer: Option<LoadBalancer>,
    /// `trafficPolicy.tls.mode`; `Auto` when not set.
    pub(super) tls: UpstreamTlsMode,
    pub(super) subsets: Vec<Subset>,
}

/// What a `trafficPolicy` sets.
#[derive(Debug, Clone, Copy, Default)]
struct TrafficPolicy {
    load_balancer: Option<LoadBalancer>,
    tls: Option<UpstreamTlsMode>,
}

/// Reads a `DestinationRule`'s `spec`.
pub(super) fn read(cx: &mut Cx, spec: &Field<'_>) -> DestinationRuleSpec {
    let mut out = DestinationRuleSpec {
        host: String::new(),
        load_balancer: None,
        tls: UpstreamTlsMode::Auto,
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
    if let Some(f) = obj.get("trafficPolicy") {
        let policy = traffic_policy(cx, &f, true);
        out.load_balancer = policy.load_balancer;
        out.tls = policy.tls.unwrap_or_default();
    }
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
        .and_then(|f| traffic_policy(cx, &f, false).load_balancer);
    Some(Subset {
        name: name?.to_owned(),
        labels,
        load_balancer,
    })
}

/// `trafficPolicy`: the load balancer and, at the top level only, the TLS
/// mode (a subset's connections share the service's TLS settings).
fn traffic_policy(cx: &mut Cx, field: &Field<'_>, top_level: bool) -> TrafficPolicy {
    let Some(obj) = field.object(cx, TRAFFIC_POLICY) else {
        return TrafficPolicy::default();
    };
    let tls = obj.get("tls").and_then(|f| {
        if top_level {
            tls_mode(cx, &f)
        } else {
            cx.report(
                &f,
                "per-subset `tls` is not supported yet",
                Some("set `tls` in the DestinationRule's top-level `trafficPolicy`".into()),
            );
            None
        }
    });
    TrafficPolicy {
        load_balancer: obj.get("loadBalancer").and_then(|f| load_balancer(cx, &f)),
        tls,
    }
}

/// `tls`: `mode` is required (Istio reads a missing mode as `DISABLE`,
/// which is easy to write by accident).
fn tls_mode(cx: &mut Cx, field: &Field<'_>) -> Option<UpstreamTlsMode> {
    let obj = field.object(cx, TLS)?;
    obj.required(cx, "mode")?.choice(
        cx,
        "TLS mode",
        TLS_MODES,
        TLS_MODES_UNSUPPORTED,
        Some("certificates from files are not supported; use `ISTIO_MUTUAL` for the mesh's own"),
    )
}

/// `loadBalancer`; `None` when not set (or `UNSPECIFIED`).
fn load_balancer(cx: &mut Cx, field: &Field<'_>) -> Option<LoadBalancer> {
    let lb = field.object(cx, LOAD_BALANCER)?;
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
