//! RouteConfiguration: one virtual host per service, named after its route
//! table, whose domains include every `host:port` a client may dial.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::core::v3::Metadata;
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, RetryPolicy as PbRetryPolicy, Route as PbRoute, RouteAction, RouteConfiguration,
    RouteMatch, VirtualHost, WeightedCluster, header_matcher::HeaderMatchSpecifier,
    retry_policy::RetryBackOff, route::Action, route_action::ClusterSpecifier,
    route_action::MaxStreamDuration, route_match::PathSpecifier, weighted_cluster::ClusterWeight,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher, string_matcher::MatchPattern,
};
use envoy_types::pb::google::protobuf::Struct;
use mesh_core::policy::{
    HeaderRule, HttpRetryOn, Policy, RequestMatch, RetryOn, RetryPolicy, Route, RouteTable,
    Service, StringMatch,
};

use super::proto::{duration, number_value, u32_value};
use super::{destination_cluster, route_config_name};

/// The `filter_metadata` key of the mesh's own route metadata.
pub const MESH_METADATA: &str = "mesh.rs";

/// The route configuration of `service`, or `None` if the policy has no
/// route table for it (a built policy always has one).
pub fn build(policy: &Policy, service: &Service) -> Option<RouteConfiguration> {
    let table = policy.route_table(&service.host)?;
    Some(RouteConfiguration {
        name: route_config_name(service),
        virtual_hosts: vec![virtual_host(policy, service, table)],
        ..Default::default()
    })
}

fn virtual_host(policy: &Policy, service: &Service, table: &RouteTable) -> VirtualHost {
    let mut domains: Vec<String> = Vec::new();
    for host in &table.hosts {
        // A client may dial the short name of a service declared by its
        // FQDN (`attendees` for `attendees.default.svc.cluster.local`), and
        // gRPC looks its authority up among the domains verbatim.
        let short = host.split('.').next().filter(|s| *s != host.as_str());
        for name in std::iter::once(host.as_str()).chain(short) {
            if domains.iter().any(|d| d == name) {
                continue;
            }
            domains.push(name.to_owned());
            domains.extend(service.ports.iter().map(|p| format!("{name}:{}", p.number)));
        }
    }
    VirtualHost {
        name: table.name.clone(),
        domains,
        routes: table
            .routes
            .iter()
            .flat_map(|r| routes(policy, r))
            .collect(),
        ..Default::default()
    }
}

/// One xDS route per match of a model route (one matching `/` if it has
/// none), all with the model route's name and action.
fn routes(policy: &Policy, route: &Route) -> Vec<PbRoute> {
    let action = route_action(policy, route);
    let metadata = route.retry.as_ref().map(budget_metadata);
    let one = |m: RouteMatch| PbRoute {
        name: route.name.clone(),
        r#match: Some(m),
        metadata: metadata.clone(),
        action: Some(Action::Route(action.clone())),
        ..Default::default()
    };
    if route.matches.is_empty() {
        return vec![one(RouteMatch {
            path_specifier: Some(PathSpecifier::Prefix("/".to_owned())),
            ..Default::default()
        })];
    }
    route.matches.iter().map(|m| one(route_match(m))).collect()
}

fn route_match(m: &RequestMatch) -> RouteMatch {
    let path_specifier = Some(match &m.path {
        None => PathSpecifier::Prefix("/".to_owned()),
        Some(StringMatch::Exact(s)) => PathSpecifier::Path(s.clone()),
        Some(StringMatch::Prefix(s)) => PathSpecifier::Prefix(s.clone()),
        Some(StringMatch::Regex(p)) => PathSpecifier::SafeRegex(regex(p.as_str())),
    });
    let mut headers = Vec::new();
    if let Some(method) = &m.method {
        headers.push(value_header(":method", method));
    }
    if let Some(authority) = &m.authority {
        headers.push(value_header(":authority", authority));
    }
    for h in &m.headers {
        headers.push(match &h.rule {
            HeaderRule::Value(sm) => value_header(h.name.as_str(), sm),
            HeaderRule::Present => HeaderMatcher {
                name: h.name.as_str().to_owned(),
                header_match_specifier: Some(HeaderMatchSpecifier::PresentMatch(true)),
                ..Default::default()
            },
            HeaderRule::Absent => HeaderMatcher {
                name: h.name.as_str().to_owned(),
                invert_match: true,
                header_match_specifier: Some(HeaderMatchSpecifier::PresentMatch(true)),
                ..Default::default()
            },
        });
    }
    RouteMatch {
        path_specifier,
        headers,
        ..Default::default()
    }
}

fn regex(source: &str) -> RegexMatcher {
    RegexMatcher {
        regex: source.to_owned(),
        ..Default::default()
    }
}

fn value_header(name: &str, m: &StringMatch) -> HeaderMatcher {
    let pattern = match m {
        StringMatch::Exact(s) => MatchPattern::Exact(s.clone()),
        StringMatch::Prefix(s) => MatchPattern::Prefix(s.clone()),
        StringMatch::Regex(p) => MatchPattern::SafeRegex(regex(p.as_str())),
    };
    HeaderMatcher {
        name: name.to_owned(),
        header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(StringMatcher {
            match_pattern: Some(pattern),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn route_action(policy: &Policy, route: &Route) -> RouteAction {
    let mut clusters: Vec<ClusterWeight> = route
        .destinations
        .iter()
        .filter_map(|wd| {
            Some(ClusterWeight {
                name: destination_cluster(policy, &wd.destination)?,
                weight: Some(u32_value(wd.weight)),
                ..Default::default()
            })
        })
        .collect();
    let cluster_specifier = if clusters.len() == 1 {
        clusters.pop().map(|c| ClusterSpecifier::Cluster(c.name))
    } else {
        Some(ClusterSpecifier::WeightedClusters(WeightedCluster {
            clusters,
            ..Default::default()
        }))
    };
    RouteAction {
        cluster_specifier,
        timeout: route.timeout.map(duration),
        // gRPC ignores `timeout` (gRFC A31) and bounds the call by this
        // instead; istiod sends both to proxyless gRPC.
        max_stream_duration: route.timeout.map(|t| MaxStreamDuration {
            max_stream_duration: Some(duration(t)),
            ..Default::default()
        }),
        retry_policy: route.retry.as_ref().map(retry_policy),
        ..Default::default()
    }
}

/// The retry policy in Envoy's names.
pub fn retry_policy(retry: &RetryPolicy) -> PbRetryPolicy {
    let on: Vec<&str> = retry.conditions().map(RetryOn::envoy_name).collect();
    // `retriable-status-codes` needs its codes; 503 is the one we retry.
    let status_codes = if retry.http_on.contains(&HttpRetryOn::Unavailable503) {
        vec![503]
    } else {
        Vec::new()
    };
    PbRetryPolicy {
        retry_on: on.join(","),
        num_retries: Some(u32_value(retry.attempts)),
        per_try_timeout: retry.per_try_timeout.map(duration),
        retriable_status_codes: status_codes,
        retry_back_off: Some(RetryBackOff {
            base_interval: Some(duration(retry.backoff.base)),
            max_interval: Some(duration(retry.backoff.max)),
        }),
        ..Default::default()
    }
}

/// The retry budget, which has no xDS field, in `filter_metadata["mesh.rs"]`.
fn budget_metadata(retry: &RetryPolicy) -> Metadata {
    let fields = HashMap::from([
        (
            "retry_budget_ratio".to_owned(),
            number_value(retry.budget.ratio.get()),
        ),
        (
            "retry_budget_min_per_second".to_owned(),
            number_value(f64::from(retry.budget.min_per_second)),
        ),
    ]);
    Metadata {
        filter_metadata: HashMap::from([(MESH_METADATA.to_owned(), Struct { fields })]),
        ..Default::default()
    }
}
