//! `RouteConfiguration` -> route tables whose destinations are still
//! cluster names (the assembly turns them into model destinations).

use std::time::Duration;

use envoy_types::pb::envoy::config::route::v3::{
    Route as RouteProto, RouteAction, RouteConfiguration, VirtualHost, route::Action,
    route_action::ClusterSpecifier,
};

use super::error::{FieldError, invalid, missing, not_yet};
use super::names::{ClusterName, host_of};
use super::proto::duration;
use super::retry::retry_policy;
use super::route_match::{is_catch_all, request_match};
use crate::policy::{RequestMatch, RetryPolicy};

/// A destination cluster with its weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClusterRef {
    /// The cluster's name as sent.
    pub(crate) name: String,
    /// The name taken apart.
    pub(crate) parsed: ClusterName,
    /// Relative weight.
    pub(crate) weight: u32,
}

/// A model route before its clusters become destinations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RouteSpec {
    /// The route's name.
    pub(crate) name: String,
    /// Alternatives; none means every request.
    pub(crate) matches: Vec<RequestMatch>,
    /// Where it sends.
    pub(crate) clusters: Vec<ClusterRef>,
    /// The route timeout.
    pub(crate) timeout: Option<Duration>,
    /// Retries.
    pub(crate) retry: Option<RetryPolicy>,
}

/// One virtual host: a route table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableSpec {
    /// The virtual host's name.
    pub(crate) name: String,
    /// The domains without ports, in order, without repeats.
    pub(crate) hosts: Vec<String>,
    /// The routes, in order.
    pub(crate) routes: Vec<RouteSpec>,
}

/// What a route configuration says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RouteConfig {
    /// One table per virtual host.
    pub(crate) tables: Vec<TableSpec>,
}

impl RouteConfig {
    /// Every cluster a route sends to.
    pub(crate) fn cluster_names(&self) -> impl Iterator<Item = &ClusterRef> {
        self.tables
            .iter()
            .flat_map(|t| &t.routes)
            .flat_map(|r| &r.clusters)
    }
}

/// Translates a route configuration.
pub(crate) fn route_config(rc: &RouteConfiguration) -> Result<RouteConfig, FieldError> {
    if rc.vhds.is_some() {
        return Err(not_yet("vhds", "virtual host discovery"));
    }
    if !rc.cluster_specifier_plugins.is_empty() {
        return Err(not_yet(
            "cluster_specifier_plugins",
            "cluster specifier plugins",
        ));
    }
    let tables = rc
        .virtual_hosts
        .iter()
        .enumerate()
        .map(|(i, vh)| virtual_host(vh, &rc.name, &format!("virtual_hosts[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(RouteConfig { tables })
}

fn virtual_host(vh: &VirtualHost, config: &str, field: &str) -> Result<TableSpec, FieldError> {
    let name = if vh.name.is_empty() { config } else { &vh.name };
    if vh.domains.is_empty() {
        return Err(invalid(
            format!("{field}.domains"),
            "must hold at least one domain",
        ));
    }
    let mut hosts: Vec<String> = Vec::new();
    for (i, d) in vh.domains.iter().enumerate() {
        if d.contains('*') {
            return Err(not_yet(
                format!("{field}.domains[{i}]"),
                format!("wildcard domain {d:?}"),
            ));
        }
        let host = host_of(d);
        if !hosts.iter().any(|h| h == host) {
            hosts.push(host.to_owned());
        }
    }
    if vh.retry_policy.is_some() || vh.retry_policy_typed_config.is_some() {
        return Err(not_yet(
            format!("{field}.retry_policy"),
            "a virtual host retry policy (set it on the route)",
        ));
    }
    if vh.matcher.is_some() {
        return Err(not_yet(format!("{field}.matcher"), "matcher trees"));
    }
    let mut routes: Vec<RouteSpec> = Vec::new();
    // Whether the last spec came from a single catch-all xDS route.
    let mut last_bare = false;
    for (j, r) in vh.routes.iter().enumerate() {
        let rf = format!("{field}.routes[{j}]");
        let (spec, bare) = route(r, &rf, &format!("{name}.routes[{j}]"))?;
        // Consecutive xDS routes with one name and one action are one model
        // route with several matches.
        match routes.last_mut() {
            Some(prev)
                if !r.name.is_empty()
                    && prev.name == spec.name
                    && prev.clusters == spec.clusters
                    && prev.timeout == spec.timeout
                    && prev.retry == spec.retry =>
            {
                if last_bare {
                    prev.matches.push(catch_all());
                    last_bare = false;
                }
                prev.matches
                    .extend(spec.matches.into_iter().chain(bare.then(catch_all)));
            }
            _ => {
                last_bare = bare;
                routes.push(spec);
            }
        }
    }
    Ok(TableSpec {
        name: name.to_owned(),
        hosts,
        routes,
    })
}

fn catch_all() -> RequestMatch {
    RequestMatch {
        path: Some(crate::policy::StringMatch::Prefix("/".into())),
        ..RequestMatch::default()
    }
}

/// One xDS route; `true` when its match is the bare catch-all (left out of
/// `matches`).
fn route(r: &RouteProto, field: &str, default_name: &str) -> Result<(RouteSpec, bool), FieldError> {
    let m = r
        .r#match
        .as_ref()
        .ok_or_else(|| missing(format!("{field}.match")))?;
    let bare = is_catch_all(m);
    let matches = if bare {
        Vec::new()
    } else {
        vec![request_match(m, &format!("{field}.match"))?]
    };
    let action = match &r.action {
        Some(Action::Route(a)) => a,
        Some(Action::NonForwardingAction(_)) => {
            return Err(not_yet(
                format!("{field}.non_forwarding_action"),
                "server-side routes",
            ));
        }
        Some(Action::Redirect(_)) => return Err(not_yet(format!("{field}.redirect"), "redirects")),
        Some(Action::DirectResponse(_)) => {
            return Err(not_yet(
                format!("{field}.direct_response"),
                "direct responses",
            ));
        }
        Some(Action::FilterAction(_)) => {
            return Err(not_yet(format!("{field}.filter_action"), "filter actions"));
        }
        None => return Err(missing(format!("{field}.action"))),
    };
    let af = format!("{field}.route");
    let spec = RouteSpec {
        name: if r.name.is_empty() {
            default_name.to_owned()
        } else {
            r.name.clone()
        },
        matches,
        clusters: clusters(action, &af)?,
        timeout: timeout(action, &af)?,
        retry: action
            .retry_policy
            .as_ref()
            .map(|p| retry_policy(p, r.metadata.as_ref(), &format!("{af}.retry_policy")))
            .transpose()?,
    };
    check_unsupported(action, &af)?;
    Ok((spec, bare))
}

fn clusters(a: &RouteAction, field: &str) -> Result<Vec<ClusterRef>, FieldError> {
    let parse = |name: &str, weight, f: String| {
        if name.is_empty() {
            return Err(missing(f));
        }
        let parsed = ClusterName::parse(name).map_err(|e| invalid(f, e))?;
        Ok(ClusterRef {
            name: name.to_owned(),
            parsed,
            weight,
        })
    };
    match &a.cluster_specifier {
        // A single destination takes the model's default weight.
        Some(ClusterSpecifier::Cluster(name)) => {
            Ok(vec![parse(name, 100, format!("{field}.cluster"))?])
        }
        Some(ClusterSpecifier::WeightedClusters(wc)) => {
            let mut out = Vec::with_capacity(wc.clusters.len());
            for (k, cw) in wc.clusters.iter().enumerate() {
                let cf = format!("{field}.weighted_clusters.clusters[{k}]");
                if !cw.cluster_header.is_empty() {
                    return Err(not_yet(format!("{cf}.cluster_header"), "cluster_header"));
                }
                let weight = cw.weight.as_ref().map_or(0, |w| w.value);
                out.push(parse(&cw.name, weight, format!("{cf}.name"))?);
            }
            if out.iter().map(|c| u64::from(c.weight)).sum::<u64>() == 0 {
                return Err(invalid(
                    format!("{field}.weighted_clusters"),
                    "the weights add up to zero",
                ));
            }
            Ok(out)
        }
        Some(ClusterSpecifier::ClusterHeader(_)) => {
            Err(not_yet(format!("{field}.cluster_header"), "cluster_header"))
        }
        Some(_) => Err(not_yet(
            format!("{field}.cluster_specifier"),
            "cluster specifier plugins",
        )),
        None => Err(missing(format!("{field}.cluster_specifier"))),
    }
}

/// `timeout` (0 = none, as istiod sends it), else `max_stream_duration`
/// (what gRPC reads).
fn timeout(a: &RouteAction, field: &str) -> Result<Option<Duration>, FieldError> {
    if let Some(t) = &a.timeout {
        let t = duration(t, &format!("{field}.timeout"))?;
        if !t.is_zero() {
            return Ok(Some(t));
        }
    }
    if let Some(msd) = a
        .max_stream_duration
        .as_ref()
        .and_then(|m| m.max_stream_duration.as_ref())
    {
        let t = duration(
            msd,
            &format!("{field}.max_stream_duration.max_stream_duration"),
        )?;
        if !t.is_zero() {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

fn check_unsupported(a: &RouteAction, field: &str) -> Result<(), FieldError> {
    let parts = [
        ("prefix_rewrite", !a.prefix_rewrite.is_empty()),
        ("path_rewrite", !a.path_rewrite.is_empty()),
        ("regex_rewrite", a.regex_rewrite.is_some()),
        ("path_rewrite_policy", a.path_rewrite_policy.is_some()),
        ("host_rewrite_specifier", a.host_rewrite_specifier.is_some()),
        (
            "request_mirror_policies",
            !a.request_mirror_policies.is_empty(),
        ),
        ("hedge_policy", a.hedge_policy.is_some()),
        ("hash_policy", !a.hash_policy.is_empty()),
        ("rate_limits", !a.rate_limits.is_empty()),
        (
            "retry_policy_typed_config",
            a.retry_policy_typed_config.is_some(),
        ),
    ];
    match parts.iter().find(|(_, set)| *set) {
        Some((name, _)) => Err(not_yet(format!("{field}.{name}"), *name)),
        None => Ok(()),
    }
}
