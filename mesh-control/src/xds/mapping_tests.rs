//! The mapping of every resource type, checked field by field against
//! `docs/xds-mapping.md`.

use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::cluster::{
    ClusterDiscoveryType, DiscoveryType, LbPolicy,
};
use envoy_types::pb::envoy::config::core::v3::{
    ApiVersion, HealthStatus, address, config_source::ConfigSourceSpecifier,
    socket_address::PortSpecifier,
};
use envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier;
use envoy_types::pb::envoy::config::route::v3::{
    header_matcher::HeaderMatchSpecifier, route::Action, route_action::ClusterSpecifier,
    route_match::PathSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit as PbLimit;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier, http_filter::ConfigType,
};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use envoy_types::pb::google::protobuf::{Any, value::Kind};
use http::HeaderName;
use mesh_core::policy::{
    Destination, Endpoint, GrpcRetryOn, HeaderMatch, HeaderRule, HttpRetryOn, LoadBalancer,
    LocalRateLimit, Pattern, Policy, RequestMatch, RetryPolicy, Route, RouteTable, Service,
    StringMatch, TokenBucket,
};
use prost::Message;

use super::*;

fn policy() -> Policy {
    let beta = RequestMatch {
        path: Some(StringMatch::Prefix("/conference.Attendees/".into())),
        method: Some(StringMatch::Exact("POST".into())),
        authority: Some(StringMatch::Regex(Pattern::new("attendees(:.*)?").unwrap())),
        headers: vec![
            HeaderMatch {
                name: HeaderName::from_static("x-user-group"),
                rule: HeaderRule::Value(StringMatch::Exact("beta".into())),
            },
            HeaderMatch {
                name: HeaderName::from_static("x-debug"),
                rule: HeaderRule::Present,
            },
            HeaderMatch {
                name: HeaderName::from_static("x-canary"),
                rule: HeaderRule::Absent,
            },
        ],
    };
    let exact = RequestMatch {
        path: Some(StringMatch::Exact("/conference.Attendees/List".into())),
        ..Default::default()
    };
    let mut retry = RetryPolicy::new(3);
    retry.per_try_timeout = Some(Duration::from_millis(250));
    retry.http_on = vec![HttpRetryOn::GatewayError, HttpRetryOn::Unavailable503];
    retry.grpc_on = vec![GrpcRetryOn::Unavailable, GrpcRetryOn::DeadlineExceeded];
    let mut attendees = Service::new("attendees")
        .port(50051, Some("grpc"))
        .endpoint(Endpoint::new("10.0.0.1:50061".parse().unwrap()).label("version", "v1"))
        .endpoint(Endpoint::new("10.0.0.2:50062".parse().unwrap()).label("version", "v2"))
        .subset("v1", [("version", "v1")])
        .subset("v2", [("version", "v2")]);
    attendees.subsets[1].load_balancer = Some(LoadBalancer::RoundRobin);
    Policy::builder()
        .service(attendees)
        .service(Service::new("sessions").load_balancer(LoadBalancer::RoundRobin))
        .route_table(RouteTable {
            name: "attendees".into(),
            hosts: vec!["attendees".into()],
            routes: vec![
                Route::to("beta", Destination::new("attendees").subset("v2"))
                    .when(beta)
                    .when(exact)
                    .timeout(Duration::from_millis(1500))
                    .retry(retry),
                Route::to("split", Destination::new("attendees")).split([
                    (Destination::new("attendees").subset("v1"), 90),
                    (Destination::new("attendees").subset("v2"), 10),
                ]),
            ],
        })
        .rate_limit(LocalRateLimit {
            name: "attendees-limit".into(),
            host: "attendees".into(),
            path: Some(StringMatch::Prefix("/conference.Attendees/".into())),
            bucket: TokenBucket::per_second(10, 20),
        })
        .build()
        .unwrap()
}

fn decode<M: Message + Default>(any: &Any) -> M {
    M::decode(any.value.as_slice()).unwrap()
}

fn hcm(l: &envoy_types::pb::envoy::config::listener::v3::Listener) -> HttpConnectionManager {
    decode(
        l.api_listener
            .as_ref()
            .unwrap()
            .api_listener
            .as_ref()
            .unwrap(),
    )
}

#[test]
fn listener_is_named_as_requested_and_fetches_routes_over_ads() {
    let p = policy();
    let l = listener::for_name(&p, "attendees:50051").unwrap();
    assert_eq!(l.name, "attendees:50051");
    let hcm = hcm(&l);
    let Some(RouteSpecifier::Rds(rds)) = &hcm.route_specifier else {
        panic!("no rds: {hcm:?}")
    };
    assert_eq!(rds.route_config_name, "outbound|50051||attendees");
    let source = rds.config_source.as_ref().unwrap();
    assert!(matches!(
        source.config_source_specifier,
        Some(ConfigSourceSpecifier::Ads(_))
    ));
    assert_eq!(source.resource_api_version, ApiVersion::V3 as i32);
    let last = hcm.http_filters.last().unwrap();
    assert_eq!(last.name, "envoy.filters.http.router");
    let Some(ConfigType::TypedConfig(router)) = &last.config_type else {
        panic!("router has no typed config")
    };
    assert_eq!(
        router.type_url,
        "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
    );
    assert!(listener::for_name(&p, "atendees").is_none());
    let fqdn = listener::for_name(&p, "attendees.default.svc.cluster.local:50051").unwrap();
    assert_eq!(fqdn.name, "attendees.default.svc.cluster.local:50051");
}

#[test]
fn rate_limits_are_optional_filters_before_the_router() {
    let p = policy();
    let filters = hcm(&listener::for_name(&p, "attendees").unwrap()).http_filters;
    assert_eq!(filters.len(), 2);
    let f = &filters[0];
    assert_eq!(f.name, "envoy.filters.http.local_ratelimit/attendees-limit");
    assert!(f.is_optional);
    let Some(ConfigType::TypedConfig(any)) = &f.config_type else {
        panic!("no typed config")
    };
    let limit: PbLimit = decode(any);
    assert_eq!(limit.stat_prefix, "attendees-limit");
    let bucket = limit.token_bucket.unwrap();
    assert_eq!(bucket.max_tokens, 20);
    assert_eq!(bucket.tokens_per_fill.unwrap().value, 10);
    assert_eq!(bucket.fill_interval.unwrap().seconds, 1);
    for pct in [limit.filter_enabled, limit.filter_enforced] {
        assert_eq!(pct.unwrap().default_value.unwrap().numerator, 100);
    }
    let entry = &limit.descriptors[0].entries[0];
    assert_eq!(
        (entry.key.as_str(), entry.value.as_str()),
        ("path_prefix", "/conference.Attendees/")
    );
    let sessions = hcm(&listener::for_name(&p, "sessions").unwrap()).http_filters;
    assert_eq!(sessions.len(), 1, "no limit on sessions");
}

#[test]
fn route_configuration_has_domains_with_ports_and_one_route_per_match() {
    let p = policy();
    let rc = route::build(&p, p.service("attendees").unwrap()).unwrap();
    assert_eq!(rc.name, "outbound|50051||attendees");
    let vh = &rc.virtual_hosts[0];
    assert_eq!(vh.name, "attendees");
    assert_eq!(vh.domains, ["attendees", "attendees:50051"]);
    let names: Vec<&str> = vh.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["beta", "beta", "split"]);

    let first = vh.routes[0].r#match.as_ref().unwrap();
    assert_eq!(
        first.path_specifier,
        Some(PathSpecifier::Prefix("/conference.Attendees/".into()))
    );
    let header = |name: &str| first.headers.iter().find(|h| h.name == name).unwrap();
    let string = |name: &str| match &header(name).header_match_specifier {
        Some(HeaderMatchSpecifier::StringMatch(s)) => s.match_pattern.clone().unwrap(),
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(string(":method"), MatchPattern::Exact("POST".into()));
    assert!(
        matches!(string(":authority"), MatchPattern::SafeRegex(r) if r.regex == "attendees(:.*)?")
    );
    assert_eq!(string("x-user-group"), MatchPattern::Exact("beta".into()));
    let present = header("x-debug");
    assert_eq!(
        present.header_match_specifier,
        Some(HeaderMatchSpecifier::PresentMatch(true))
    );
    assert!(!present.invert_match);
    let absent = header("x-canary");
    assert_eq!(
        absent.header_match_specifier,
        Some(HeaderMatchSpecifier::PresentMatch(true))
    );
    assert!(absent.invert_match);

    let second = vh.routes[1].r#match.as_ref().unwrap();
    assert_eq!(
        second.path_specifier,
        Some(PathSpecifier::Path("/conference.Attendees/List".into()))
    );
    let third = vh.routes[2].r#match.as_ref().unwrap();
    assert_eq!(
        third.path_specifier,
        Some(PathSpecifier::Prefix("/".into()))
    );
}

#[test]
fn route_actions_carry_clusters_weights_timeouts_and_retries() {
    let p = policy();
    let rc = route::build(&p, p.service("attendees").unwrap()).unwrap();
    let routes = &rc.virtual_hosts[0].routes;
    let action = |i: usize| match &routes[i].action {
        Some(Action::Route(a)) => a.clone(),
        other => panic!("{other:?}"),
    };
    let beta = action(0);
    assert_eq!(
        beta.cluster_specifier,
        Some(ClusterSpecifier::Cluster(
            "outbound|50051|v2|attendees".into()
        ))
    );
    let timeout = beta.timeout.unwrap();
    assert_eq!((timeout.seconds, timeout.nanos), (1, 500_000_000));
    // gRPC reads the timeout from here only (gRFC A31).
    let msd = beta.max_stream_duration.as_ref().unwrap();
    assert_eq!(msd.max_stream_duration, Some(timeout));
    assert_eq!(msd.grpc_timeout_header_max, None);
    let retry = beta.retry_policy.unwrap();
    assert_eq!(
        retry.retry_on,
        "gateway-error,retriable-status-codes,unavailable,deadline-exceeded"
    );
    assert_eq!(retry.retriable_status_codes, [503]);
    assert_eq!(retry.num_retries.unwrap().value, 3);
    assert_eq!(retry.per_try_timeout.unwrap().nanos, 250_000_000);
    let backoff = retry.retry_back_off.unwrap();
    assert_eq!(backoff.base_interval.unwrap().nanos, 25_000_000);
    assert_eq!(backoff.max_interval.unwrap().nanos, 250_000_000);
    let budget = &routes[0].metadata.as_ref().unwrap().filter_metadata["mesh.rs"];
    assert_eq!(
        budget.fields["retry_budget_ratio"].kind,
        Some(Kind::NumberValue(0.2))
    );
    assert_eq!(
        budget.fields["retry_budget_min_per_second"].kind,
        Some(Kind::NumberValue(10.0))
    );

    let split = action(2);
    assert!(split.timeout.is_none() && split.retry_policy.is_none());
    assert!(split.max_stream_duration.is_none());
    assert!(routes[2].metadata.is_none());
    let Some(ClusterSpecifier::WeightedClusters(w)) = split.cluster_specifier else {
        panic!("not weighted")
    };
    let got: Vec<(&str, u32)> = w
        .clusters
        .iter()
        .map(|c| (c.name.as_str(), c.weight.unwrap().value))
        .collect();
    assert_eq!(
        got,
        [
            ("outbound|50051|v1|attendees", 90),
            ("outbound|50051|v2|attendees", 10)
        ]
    );
}

#[test]
fn clusters_are_eds_over_ads_with_their_balancer() {
    let p = policy();
    let r = Resources::build(&p);
    let names: Vec<&str> = r.clusters.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            // By name: `|` sorts after letters.
            "outbound|50051|v1|attendees",
            "outbound|50051|v2|attendees",
            "outbound|50051||attendees",
            "outbound|80||sessions"
        ]
    );
    let whole = &r.clusters["outbound|50051||attendees"];
    assert_eq!(
        whole.cluster_discovery_type,
        Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32))
    );
    let eds = whole.eds_cluster_config.as_ref().unwrap();
    assert_eq!(eds.service_name, "outbound|50051||attendees");
    assert!(matches!(
        eds.eds_config.as_ref().unwrap().config_source_specifier,
        Some(ConfigSourceSpecifier::Ads(_))
    ));
    assert_eq!(whole.lb_policy, LbPolicy::LeastRequest as i32);
    // gRPC C-core NACKs the enum's LEAST_REQUEST: the same again, with a
    // round-robin fallback, in the field every client prefers.
    let types: Vec<&str> = whole
        .load_balancing_policy
        .as_ref()
        .unwrap()
        .policies
        .iter()
        .map(|p| {
            let c = p.typed_extension_config.as_ref().unwrap();
            c.typed_config.as_ref().unwrap().type_url.as_str()
        })
        .collect();
    assert_eq!(
        types,
        [
            "type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest",
            "type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin",
        ]
    );
    let v2 = &r.clusters["outbound|50051|v2|attendees"];
    assert_eq!(v2.lb_policy, LbPolicy::RoundRobin as i32);
    assert_eq!(v2.load_balancing_policy, None);
    assert_eq!(
        r.clusters["outbound|80||sessions"].lb_policy,
        LbPolicy::RoundRobin as i32
    );
}

#[test]
fn load_assignments_weigh_every_locality_and_carry_labels() {
    let p = policy();
    let r = Resources::build(&p);
    let v2 = &r.endpoints["outbound|50051|v2|attendees"];
    assert_eq!(v2.cluster_name, "outbound|50051|v2|attendees");
    assert_eq!(v2.endpoints.len(), 1);
    let locality = &v2.endpoints[0];
    assert_eq!(locality.load_balancing_weight.unwrap().value, 1);
    // gRPC C-core NACKs a locality without `locality`; empty will do.
    assert_eq!(locality.locality, Some(Default::default()));
    assert_eq!(locality.lb_endpoints.len(), 1);
    let e = &locality.lb_endpoints[0];
    assert_eq!(e.health_status, HealthStatus::Healthy as i32);
    assert_eq!(e.load_balancing_weight.unwrap().value, 1);
    let Some(HostIdentifier::Endpoint(ep)) = &e.host_identifier else {
        panic!("no endpoint")
    };
    let Some(address::Address::SocketAddress(sa)) = &ep.address.as_ref().unwrap().address else {
        panic!("no socket address")
    };
    assert_eq!(sa.address, "10.0.0.2");
    assert_eq!(sa.port_specifier, Some(PortSpecifier::PortValue(50062)));
    let labels = match &e.metadata.as_ref().unwrap().filter_metadata["istio"].fields["labels"].kind
    {
        Some(Kind::StructValue(s)) => s.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        labels.fields["version"].kind,
        Some(Kind::StringValue("v2".into()))
    );
    assert_eq!(
        r.endpoints["outbound|50051||attendees"].endpoints[0]
            .lb_endpoints
            .len(),
        2
    );
    let empty = &r.endpoints["outbound|80||sessions"].endpoints[0];
    assert_eq!(empty.load_balancing_weight.unwrap().value, 1);
    assert!(empty.lb_endpoints.is_empty());
}

#[test]
fn an_fqdn_service_also_answers_to_its_short_name() {
    let p = Policy::builder()
        .service(
            mesh_core::policy::Service::new("attendees.default.svc.cluster.local")
                .port(50051, Some("grpc")),
        )
        .build()
        .unwrap();
    let svc = p.service("attendees").unwrap();
    let rc = route::build(&p, svc).unwrap();
    assert_eq!(
        rc.virtual_hosts[0].domains,
        [
            "attendees.default.svc.cluster.local",
            "attendees.default.svc.cluster.local:50051",
            "attendees",
            "attendees:50051"
        ]
    );
}
