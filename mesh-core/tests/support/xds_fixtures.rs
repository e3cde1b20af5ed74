//! xDS resources in the shapes docs/xds-mapping.md (and istiod) give
//! them, for the xDS client's tests.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::HashMap;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    Address, AggregatedConfigSource, ConfigSource, HealthStatus, Metadata,
    RuntimeFractionalPercent, SocketAddress, address, config_source, socket_address,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{ApiListener, Listener};
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost,
    WeightedCluster, header_matcher, route, route_action, route_match, weighted_cluster,
};
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::{
    LocalRateLimitDescriptor, rate_limit_descriptor,
};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager, http_filter,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, TokenBucket};
use envoy_types::pb::google::protobuf::{Any, Duration, Struct, UInt32Value, Value, value};
use envoy_types::util::pack_any;

pub fn ads() -> ConfigSource {
    ConfigSource {
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
            AggregatedConfigSource {},
        )),
        resource_api_version: 2,
        ..Default::default()
    }
}

pub fn router() -> HttpFilter {
    HttpFilter {
        name: "envoy.filters.http.router".into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(
            Router::default(),
        ))),
        ..Default::default()
    }
}

pub fn fault(config: HttpFault) -> HttpFilter {
    HttpFilter {
        name: "envoy.filters.http.fault".into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(config))),
        ..Default::default()
    }
}

fn hundred() -> Option<RuntimeFractionalPercent> {
    Some(RuntimeFractionalPercent {
        default_value: Some(FractionalPercent {
            numerator: 100,
            denominator: 0,
        }),
        runtime_key: String::new(),
    })
}

/// `envoy.filters.http.local_ratelimit/<name>`, optionally per path.
pub fn rate_limit(name: &str, per_fill: u32, max: u32, path: Option<(&str, &str)>) -> HttpFilter {
    let config = LocalRateLimit {
        stat_prefix: name.into(),
        token_bucket: Some(TokenBucket {
            max_tokens: max,
            tokens_per_fill: Some(UInt32Value { value: per_fill }),
            fill_interval: Some(Duration {
                seconds: 1,
                nanos: 0,
            }),
        }),
        filter_enabled: hundred(),
        filter_enforced: hundred(),
        descriptors: path
            .map(|(key, value)| LocalRateLimitDescriptor {
                entries: vec![rate_limit_descriptor::Entry {
                    key: key.into(),
                    value: value.into(),
                }],
                ..Default::default()
            })
            .into_iter()
            .collect(),
        ..Default::default()
    };
    HttpFilter {
        name: format!("envoy.filters.http.local_ratelimit/{name}"),
        is_optional: true,
        config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(config))),
        ..Default::default()
    }
}

/// A client listener with these filters (the router is added last).
pub fn listener_with(name: &str, rds: &str, mut filters: Vec<HttpFilter>) -> Listener {
    filters.push(router());
    let hcm = HttpConnectionManager {
        route_specifier: Some(http_connection_manager::RouteSpecifier::Rds(Rds {
            config_source: Some(ads()),
            route_config_name: rds.into(),
        })),
        http_filters: filters,
        ..Default::default()
    };
    Listener {
        name: name.into(),
        api_listener: Some(ApiListener {
            api_listener: Some(pack_any(hcm)),
        }),
        ..Default::default()
    }
}

pub fn listener(name: &str, rds: &str) -> Listener {
    listener_with(name, rds, Vec::new())
}

pub fn prefix(p: &str) -> RouteMatch {
    RouteMatch {
        path_specifier: Some(route_match::PathSpecifier::Prefix(p.into())),
        ..Default::default()
    }
}

pub fn header(name: &str, exact: &str) -> HeaderMatcher {
    HeaderMatcher {
        name: name.into(),
        header_match_specifier: Some(header_matcher::HeaderMatchSpecifier::StringMatch(
            StringMatcher {
                match_pattern: Some(string_matcher::MatchPattern::Exact(exact.into())),
                ignore_case: false,
            },
        )),
        ..Default::default()
    }
}

pub fn to_cluster(name: &str) -> RouteAction {
    RouteAction {
        cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(name.into())),
        ..Default::default()
    }
}

pub fn weighted(clusters: &[(&str, u32)]) -> RouteAction {
    RouteAction {
        cluster_specifier: Some(route_action::ClusterSpecifier::WeightedClusters(
            WeightedCluster {
                clusters: clusters
                    .iter()
                    .map(|(name, w)| weighted_cluster::ClusterWeight {
                        name: (*name).into(),
                        weight: Some(UInt32Value { value: *w }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

pub fn route(name: &str, m: RouteMatch, action: RouteAction) -> Route {
    Route {
        name: name.into(),
        r#match: Some(m),
        action: Some(route::Action::Route(action)),
        ..Default::default()
    }
}

pub fn route_config(name: &str, domains: &[&str], routes: Vec<Route>) -> RouteConfiguration {
    RouteConfiguration {
        name: name.into(),
        virtual_hosts: vec![VirtualHost {
            name: name.into(),
            domains: domains.iter().map(|d| (*d).into()).collect(),
            routes,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// An EDS cluster over ADS, LEAST_REQUEST unless `round_robin`.
pub fn cluster(name: &str, round_robin: bool) -> Cluster {
    Cluster {
        name: name.into(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cluster::EdsClusterConfig {
            eds_config: Some(ads()),
            service_name: name.into(),
        }),
        lb_policy: if round_robin {
            cluster::LbPolicy::RoundRobin as i32
        } else {
            cluster::LbPolicy::LeastRequest as i32
        },
        ..Default::default()
    }
}

pub fn string_struct(pairs: &[(&str, &str)]) -> Struct {
    Struct {
        fields: pairs
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    Value {
                        kind: Some(value::Kind::StringValue((*v).into())),
                    },
                )
            })
            .collect(),
    }
}

/// One locality of weight 1 holding these endpoints (`ip:port`, labels).
pub fn cla(name: &str, endpoints: &[(&str, &[(&str, &str)])]) -> ClusterLoadAssignment {
    let lb_endpoints = endpoints
        .iter()
        .map(|(addr, labels)| {
            let (ip, port) = addr.rsplit_once(':').expect("ip:port");
            let labels = Value {
                kind: Some(value::Kind::StructValue(string_struct(labels))),
            };
            LbEndpoint {
                health_status: HealthStatus::Healthy as i32,
                load_balancing_weight: Some(UInt32Value { value: 1 }),
                metadata: Some(Metadata {
                    filter_metadata: HashMap::from([(
                        "istio".to_owned(),
                        Struct {
                            fields: HashMap::from([("labels".to_owned(), labels)]),
                        },
                    )]),
                    ..Default::default()
                }),
                host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                    address: Some(Address {
                        address: Some(address::Address::SocketAddress(SocketAddress {
                            address: ip.trim_matches(['[', ']']).into(),
                            port_specifier: Some(socket_address::PortSpecifier::PortValue(
                                port.parse().expect("a port"),
                            )),
                            ..Default::default()
                        })),
                    }),
                    ..Default::default()
                })),
            }
        })
        .collect();
    ClusterLoadAssignment {
        cluster_name: name.into(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints,
            load_balancing_weight: Some(UInt32Value { value: 1 }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub fn any<T: prost::Message + prost::Name>(m: T) -> Any {
    pack_any(m)
}

/// The conference's `attendees` service: listener `attendees:50051`,
/// route config and clusters for the whole service and subsets v1, v2,
/// with a 90/10 split; every resource as an `Any` with its type URL.
pub fn attendees(addr_v1: &str, addr_v2: &str) -> Vec<Any> {
    let rds = "outbound|50051||attendees";
    vec![
        any(listener("attendees:50051", rds)),
        any(route_config(
            rds,
            &["attendees", "attendees:50051"],
            vec![route(
                "split",
                prefix("/"),
                weighted(&[
                    ("outbound|50051|v1|attendees", 90),
                    ("outbound|50051|v2|attendees", 10),
                ]),
            )],
        )),
        any(cluster("outbound|50051||attendees", false)),
        any(cluster("outbound|50051|v1|attendees", false)),
        any(cluster("outbound|50051|v2|attendees", false)),
        any(cla(
            "outbound|50051||attendees",
            &[
                (addr_v1, &[("version", "v1")]),
                (addr_v2, &[("version", "v2")]),
            ],
        )),
        any(cla(
            "outbound|50051|v1|attendees",
            &[(addr_v1, &[("version", "v1")])],
        )),
        any(cla(
            "outbound|50051|v2|attendees",
            &[(addr_v2, &[("version", "v2")])],
        )),
    ]
}
