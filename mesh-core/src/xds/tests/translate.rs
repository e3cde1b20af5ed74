use envoy_types::pb::envoy::config::cluster::v3::cluster;
use envoy_types::pb::envoy::config::core::v3::{ApiConfigSource, config_source};
use envoy_types::pb::envoy::config::route::v3::{
    RetryPolicy, route_match, route_match::ConnectMatcher,
};
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::FaultDelay;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter,
};
use envoy_types::pb::google::protobuf::{Duration, Empty, UInt32Value};
use envoy_types::util::pack_any;

use super::fixtures::*;
use super::{Kind, rejected};
use crate::xds::Resources;

const RDS: &str = "outbound|50051||attendees";
const V1: &str = "outbound|50051|v1|attendees";

#[test]
fn a_listener_names_its_route_config() {
    let mut r = Resources::new();
    let name = r
        .insert(Kind::Listener, &any(listener("attendees:50051", RDS)))
        .unwrap();
    assert_eq!(name, "attendees:50051");
    let wanted = r.wanted(Kind::RouteConfig, &[name].into());
    assert_eq!(wanted, [RDS.to_owned()].into());
}

#[test]
fn listener_errors_name_the_field() {
    let mut l = listener("attendees:50051", RDS);
    l.api_listener = None;
    assert_eq!(
        rejected(Kind::Listener, any(l)),
        "listener \"attendees:50051\": api_listener: a listener without api_listener (server-side listeners) is not supported yet"
    );
    let unknown = HttpFilter {
        name: "envoy.filters.http.cors".into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(Empty {}))),
        ..Default::default()
    };
    let err = rejected(
        Kind::Listener,
        any(listener_with("a", RDS, vec![unknown.clone()])),
    );
    assert!(
        err.starts_with(
            "listener \"a\": api_listener.http_filters[0]: http filter \"envoy.filters.http.cors\""
        ),
        "{err}"
    );
    assert!(err.contains("mark it is_optional"), "{err}");
    // The same filter marked optional is skipped.
    let optional = HttpFilter {
        is_optional: true,
        ..unknown
    };
    Resources::new()
        .insert(
            Kind::Listener,
            &any(listener_with("a", RDS, vec![optional])),
        )
        .unwrap();
}

#[test]
fn the_router_must_be_last() {
    let mut l = listener("a", RDS);
    let mut hcm: envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager =
        crate::xds::proto::unpack(l.api_listener.as_ref().unwrap().api_listener.as_ref().unwrap(), "x").unwrap();
    hcm.http_filters.push(fault(HttpFault::default()));
    l.api_listener.as_mut().unwrap().api_listener = Some(pack_any(hcm));
    assert_eq!(
        rejected(Kind::Listener, any(l)),
        "listener \"a\": api_listener.http_filters[0]: the router must be the last http filter"
    );
}

#[test]
fn rds_must_come_over_ads() {
    let mut l = listener("a", RDS);
    let mut hcm: envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager =
        crate::xds::proto::unpack(l.api_listener.as_ref().unwrap().api_listener.as_ref().unwrap(), "x").unwrap();
    if let Some(envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager::RouteSpecifier::Rds(rds)) = &mut hcm.route_specifier {
        rds.config_source.as_mut().unwrap().config_source_specifier =
            Some(config_source::ConfigSourceSpecifier::ApiConfigSource(ApiConfigSource::default()));
    }
    l.api_listener.as_mut().unwrap().api_listener = Some(pack_any(hcm));
    assert_eq!(
        rejected(Kind::Listener, any(l)),
        "listener \"a\": api_listener.rds.config_source.config_source_specifier: api_config_source (only ads and self) is not supported yet"
    );
}

#[test]
fn an_empty_fault_filter_is_a_no_op_and_a_real_one_is_refused() {
    let empty = listener_with("a", RDS, vec![fault(HttpFault::default())]);
    Resources::new()
        .insert(Kind::Listener, &any(empty))
        .unwrap();
    let delay = HttpFault {
        delay: Some(FaultDelay::default()),
        ..Default::default()
    };
    let err = rejected(
        Kind::Listener,
        any(listener_with("a", RDS, vec![fault(delay)])),
    );
    assert!(
        err.contains("api_listener.http_filters[0]: fault injection (hint: mark it is_optional if clients may skip it) is not supported yet"),
        "{err}"
    );
}

#[test]
fn rate_limit_filters_become_limits_for_the_listener_host() {
    let l = listener_with(
        "sessions:50051",
        RDS,
        vec![rate_limit(
            "sessions-per-route",
            5,
            10,
            Some(("path_prefix", "/conference.Sessions/")),
        )],
    );
    let config = crate::xds::listener::listener(&l).unwrap();
    let limit = &config.rate_limits[0];
    assert_eq!(limit.name, "sessions-per-route");
    assert_eq!(limit.host, "sessions");
    assert_eq!(limit.bucket, crate::policy::TokenBucket::per_second(5, 10));
    assert_eq!(
        limit.path,
        Some(crate::policy::StringMatch::Prefix(
            "/conference.Sessions/".into()
        ))
    );
    let bad = listener_with(
        "s",
        RDS,
        vec![rate_limit("x", 5, 10, Some(("header", "y")))],
    );
    assert_eq!(
        rejected(Kind::Listener, any(bad)),
        "listener \"s\": api_listener.http_filters[0].typed_config.descriptors[0].entries[0].key: \"header\" (only path_exact, path_prefix, path_regex) is not supported yet"
    );
}

#[test]
fn route_errors_name_the_route_and_field() {
    let connect = envoy_types::pb::envoy::config::route::v3::RouteMatch {
        path_specifier: Some(route_match::PathSpecifier::ConnectMatcher(
            ConnectMatcher {},
        )),
        ..Default::default()
    };
    let rc = route_config(
        RDS,
        &["attendees"],
        vec![
            route("a", prefix("/a"), to_cluster(V1)),
            route("b", prefix("/b"), to_cluster(V1)),
            route("c", connect, to_cluster(V1)),
        ],
    );
    assert_eq!(
        rejected(Kind::RouteConfig, any(rc)),
        "route_config \"outbound|50051||attendees\": virtual_hosts[0].routes[2].match.path_specifier: connect_matcher is not supported"
    );
    let rc = route_config(
        RDS,
        &["a"],
        vec![route("r", prefix("/"), weighted(&[(V1, 0)]))],
    );
    assert_eq!(
        rejected(Kind::RouteConfig, any(rc)),
        "route_config \"outbound|50051||attendees\": virtual_hosts[0].routes[0].route.weighted_clusters: the weights add up to zero"
    );
    let rc = route_config(
        RDS,
        &["a"],
        vec![route("r", prefix("/"), to_cluster("attendees"))],
    );
    let err = rejected(Kind::RouteConfig, any(rc));
    assert!(
        err.contains("routes[0].route.cluster: \"attendees\" is not a mesh cluster name"),
        "{err}"
    );
    let rc = route_config(RDS, &["*"], vec![]);
    assert!(
        rejected(Kind::RouteConfig, any(rc))
            .contains("domains[0]: wildcard domain \"*\" is not supported yet")
    );
}

#[test]
fn retry_errors_name_the_condition() {
    let mut action = to_cluster(V1);
    action.retry_policy = Some(RetryPolicy {
        retry_on: "5xx,envoy-ratelimited".into(),
        ..Default::default()
    });
    let rc = route_config(RDS, &["a"], vec![route("r", prefix("/"), action)]);
    assert_eq!(
        rejected(Kind::RouteConfig, any(rc)),
        "route_config \"outbound|50051||attendees\": virtual_hosts[0].routes[0].route.retry_policy.retry_on: condition \"envoy-ratelimited\" is not supported yet"
    );
}

#[test]
fn istiod_extras_are_accepted() {
    let mut action = to_cluster("outbound|50051||attendees.default.svc.cluster.local");
    // istiod: timeout 0s (none), max_stream_duration, retries with previous_hosts.
    action.timeout = Some(Duration {
        seconds: 0,
        nanos: 0,
    });
    action.retry_policy = Some(RetryPolicy {
        retry_on: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
            .into(),
        num_retries: Some(UInt32Value { value: 2 }),
        retriable_status_codes: vec![503],
        retry_host_predicate: vec![
            envoy_types::pb::envoy::config::route::v3::retry_policy::RetryHostPredicate {
                name: "envoy.retry_host_predicates.previous_hosts".into(),
                ..Default::default()
            },
        ],
        host_selection_retry_max_attempts: 5,
        ..Default::default()
    });
    let mut r = route("default", prefix("/"), action);
    r.decorator = Some(envoy_types::pb::envoy::config::route::v3::Decorator {
        operation: "attendees.default.svc.cluster.local:50051/*".into(),
        ..Default::default()
    });
    let rc = route_config(
        "outbound|50051||attendees.default.svc.cluster.local",
        &[
            "attendees.default.svc.cluster.local",
            "attendees.default.svc.cluster.local:50051",
            "attendees",
            "attendees:50051",
        ],
        vec![r],
    );
    let config = crate::xds::route::route_config(&rc).unwrap();
    let t = &config.tables[0];
    assert_eq!(
        t.hosts,
        ["attendees.default.svc.cluster.local", "attendees"]
    );
    let route = &t.routes[0];
    assert_eq!(route.timeout, None);
    assert!(
        route.matches.is_empty(),
        "prefix / alone is a route without conditions"
    );
    let retry = route.retry.as_ref().unwrap();
    assert_eq!(retry.attempts, 2);
    assert_eq!(retry, &crate::policy::RetryPolicy::new(2));
}

#[test]
fn clusters_must_be_eds_with_a_known_balancer() {
    let mut c = cluster(V1, true);
    c.lb_policy = cluster::LbPolicy::Maglev as i32;
    assert_eq!(
        rejected(Kind::Cluster, any(c)),
        "cluster \"outbound|50051|v1|attendees\": lb_policy: MAGLEV (only ROUND_ROBIN and LEAST_REQUEST) is not supported yet"
    );
    let mut c = cluster(V1, true);
    c.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::Type(
        cluster::DiscoveryType::StrictDns as i32,
    ));
    assert_eq!(
        rejected(Kind::Cluster, any(c)),
        "cluster \"outbound|50051|v1|attendees\": type: STRICT_DNS (only EDS) is not supported yet"
    );
    let c = cluster(
        "outbound|50051|v1|attendees.default.svc.cluster.local",
        false,
    );
    let config = crate::xds::cluster::cluster(&c).unwrap();
    assert_eq!(config.name.host, "attendees.default.svc.cluster.local");
    assert_eq!(config.load_balancer, crate::policy::LoadBalancer::PeakEwma);
}

#[test]
fn load_balancing_policy_wins_and_its_first_known_policy_is_used() {
    use envoy_types::pb::envoy::config::cluster::v3::{
        LoadBalancingPolicy, load_balancing_policy::Policy,
    };
    use envoy_types::pb::envoy::config::core::v3::TypedExtensionConfig;
    use envoy_types::pb::envoy::extensions::load_balancing_policies::{
        least_request::v3::LeastRequest, maglev::v3::Maglev, round_robin::v3::RoundRobin,
    };
    use envoy_types::pb::google::protobuf::Any;
    fn policies(list: Vec<Any>) -> LoadBalancingPolicy {
        LoadBalancingPolicy {
            policies: list
                .into_iter()
                .map(|any| Policy {
                    typed_extension_config: Some(TypedExtensionConfig {
                        name: "p".into(),
                        typed_config: Some(any),
                    }),
                })
                .collect(),
        }
    }
    // What mesh-control sends for least-request (the enum's LEAST_REQUEST
    // is NACKed by gRPC C-core, so the field carries it).
    let mut c = cluster(V1, true);
    c.lb_policy = cluster::LbPolicy::LeastRequest as i32;
    c.load_balancing_policy = Some(policies(vec![
        pack_any(LeastRequest::default()),
        pack_any(RoundRobin::default()),
    ]));
    let config = crate::xds::cluster::cluster(&c).unwrap();
    assert_eq!(config.load_balancer, crate::policy::LoadBalancer::PeakEwma);
    // Unknown policies are skipped; the field wins over the enum.
    c.load_balancing_policy = Some(policies(vec![
        pack_any(Maglev::default()),
        pack_any(RoundRobin::default()),
    ]));
    let config = crate::xds::cluster::cluster(&c).unwrap();
    assert_eq!(
        config.load_balancer,
        crate::policy::LoadBalancer::RoundRobin
    );
    // None known: NACK.
    c.load_balancing_policy = Some(policies(vec![pack_any(Maglev::default())]));
    assert_eq!(
        rejected(Kind::Cluster, any(c)),
        "cluster \"outbound|50051|v1|attendees\": load_balancing_policy.policies: [envoy.extensions.load_balancing_policies.maglev.v3.Maglev] (only LeastRequest and RoundRobin) is not supported yet"
    );
}

#[test]
fn endpoints_need_locality_weights_and_ip_addresses() {
    let mut c = cla(V1, &[("10.0.0.1:50051", &[("version", "v1")])]);
    let config = crate::xds::endpoint::endpoints(&c).unwrap();
    assert_eq!(config.endpoints[0].labels["version"], "v1");
    c.endpoints[0].load_balancing_weight = None;
    assert_eq!(
        rejected(Kind::Endpoints, any(c)),
        "cluster_load_assignment \"outbound|50051|v1|attendees\": endpoints[0].load_balancing_weight: missing"
    );
    let c = cla(V1, &[("attendees-0:50051", &[])]);
    assert_eq!(
        rejected(Kind::Endpoints, any(c)),
        "cluster_load_assignment \"outbound|50051|v1|attendees\": endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: \"attendees-0\" is not an ip address"
    );
}

#[test]
fn a_resource_of_the_wrong_type_is_refused() {
    assert_eq!(
        rejected(Kind::Cluster, any(cla(V1, &[]))),
        "cluster \"<unnamed>\": type_url: \"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\" in a response of type \"type.googleapis.com/envoy.config.cluster.v3.Cluster\""
    );
}
