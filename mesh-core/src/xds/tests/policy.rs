use std::collections::HashMap;
use std::time::Duration as StdDuration;

use envoy_types::pb::envoy::config::core::v3::Metadata;
use envoy_types::pb::envoy::config::route::v3::{RetryPolicy, retry_policy::RetryBackOff};
use envoy_types::pb::google::protobuf::{Duration, Struct, UInt32Value, Value, value};

use super::fixtures::*;
use super::holding;
use crate::policy::{
    Destination, GrpcRetryOn, HttpRetryOn, LoadBalancer, Ratio, RequestMatch, StringMatch,
};
use crate::xds::SUBSET_LABEL_PREFIX;

#[test]
fn weights_and_subsets_come_back() {
    let p = holding(&attendees("10.0.0.1:50051", "10.0.0.2:50051"))
        .to_policy()
        .unwrap();
    let svc = p.service("attendees").unwrap();
    assert_eq!(
        svc.ports.iter().map(|p| p.number).collect::<Vec<_>>(),
        [50051]
    );
    assert_eq!(svc.load_balancer, LoadBalancer::PeakEwma);
    assert_eq!(svc.endpoints.len(), 2, "the union by address");
    let v1 = &svc.endpoints[0];
    assert_eq!(v1.labels["version"], "v1");
    assert_eq!(v1.labels[&format!("{SUBSET_LABEL_PREFIX}v1")], "true");
    assert!(!v1.labels.contains_key(&format!("{SUBSET_LABEL_PREFIX}v2")));
    let v2 = p
        .endpoints(&Destination::new("attendees").subset("v2"))
        .unwrap();
    assert_eq!(v2.endpoints.len(), 1);
    assert_eq!(v2.endpoints[0].address, "10.0.0.2:50051".parse().unwrap());

    let table = p.route_table("attendees:50051").unwrap();
    assert_eq!(table.name, "outbound|50051||attendees");
    assert_eq!(table.hosts, ["attendees"]);
    let route = &table.routes[0];
    assert_eq!(route.name, "split");
    assert!(route.matches.is_empty());
    let split: Vec<_> = route
        .destinations
        .iter()
        .map(|d| {
            (
                d.destination.subset.as_deref(),
                d.destination.port,
                d.weight,
            )
        })
        .collect();
    assert_eq!(split, [(Some("v1"), None, 90), (Some("v2"), None, 10)]);
}

#[test]
fn routes_with_one_name_and_action_regroup_into_one_model_route() {
    let v1 = "outbound|50051|v1|attendees";
    let mut by_header = prefix("/");
    by_header.headers.push(header("x-user", "beta"));
    let rc = route_config(
        "outbound|50051||attendees",
        &["attendees", "attendees:50051"],
        vec![
            route("beta", by_header, to_cluster(v1)),
            route("beta", prefix("/conference.Attendees/"), to_cluster(v1)),
            route("rest", prefix("/"), to_cluster("outbound|50051||attendees")),
        ],
    );
    let p = holding(&[any(rc), any(cluster(v1, true))])
        .to_policy()
        .unwrap();
    let routes = &p.route_table("attendees").unwrap().routes;
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[0].matches.len(), 2);
    assert_eq!(routes[0].matches[0].headers[0].name, "x-user");
    assert_eq!(
        routes[0].matches[1],
        RequestMatch {
            path: Some(StringMatch::Prefix("/conference.Attendees/".into())),
            ..RequestMatch::default()
        }
    );
    assert!(routes[1].matches.is_empty());
    // The subset cluster is round robin, the service (not yet known) the default.
    let svc = p.service("attendees").unwrap();
    assert_eq!(svc.subsets[0].load_balancer, Some(LoadBalancer::RoundRobin));
    assert!(
        p.endpoints(&Destination::new("attendees"))
            .unwrap()
            .endpoints
            .is_empty()
    );
}

fn number(n: f64) -> Value {
    Value {
        kind: Some(value::Kind::NumberValue(n)),
    }
}

#[test]
fn retries_carry_their_budget_from_route_metadata() {
    let mut action = to_cluster("outbound|80||sessions");
    action.timeout = Some(Duration {
        seconds: 2,
        nanos: 0,
    });
    action.retry_policy = Some(RetryPolicy {
        retry_on: "5xx,unavailable,deadline-exceeded".into(),
        num_retries: Some(UInt32Value { value: 3 }),
        per_try_timeout: Some(Duration {
            seconds: 0,
            nanos: 500_000_000,
        }),
        retry_back_off: Some(RetryBackOff {
            base_interval: Some(Duration {
                seconds: 0,
                nanos: 50_000_000,
            }),
            max_interval: Some(Duration {
                seconds: 1,
                nanos: 0,
            }),
        }),
        ..Default::default()
    });
    let mut r = route("retrying", prefix("/"), action);
    r.metadata = Some(Metadata {
        filter_metadata: HashMap::from([(
            "mesh.rs".to_owned(),
            Struct {
                fields: HashMap::from([
                    ("retry_budget_ratio".to_owned(), number(0.5)),
                    ("retry_budget_min_per_second".to_owned(), number(3.0)),
                ]),
            },
        )]),
        ..Default::default()
    });
    let rc = route_config(
        "outbound|80||sessions",
        &["sessions", "sessions:80"],
        vec![r],
    );
    let p = holding(&[any(rc)]).to_policy().unwrap();
    let route = &p.route_table("sessions").unwrap().routes[0];
    assert_eq!(route.timeout, Some(StdDuration::from_secs(2)));
    let retry = route.retry.as_ref().unwrap();
    assert_eq!(retry.attempts, 3);
    assert_eq!(retry.http_on, [HttpRetryOn::ServerError]);
    assert_eq!(
        retry.grpc_on,
        [GrpcRetryOn::Unavailable, GrpcRetryOn::DeadlineExceeded]
    );
    assert_eq!(retry.per_try_timeout, Some(StdDuration::from_millis(500)));
    assert_eq!(retry.backoff.base, StdDuration::from_millis(50));
    assert_eq!(retry.backoff.max, StdDuration::from_secs(1));
    assert_eq!(retry.budget.ratio, Ratio::new(0.5).unwrap());
    assert_eq!(retry.budget.min_per_second, 3);
}

#[test]
fn a_bad_budget_names_the_metadata_field() {
    let mut action = to_cluster("outbound|80||sessions");
    action.retry_policy = Some(RetryPolicy::default());
    let mut r = route("r", prefix("/"), action);
    r.metadata = Some(Metadata {
        filter_metadata: HashMap::from([(
            "mesh.rs".to_owned(),
            Struct {
                fields: HashMap::from([("retry_budget_min_per_second".to_owned(), number(-1.0))]),
            },
        )]),
        ..Default::default()
    });
    let rc = route_config("outbound|80||sessions", &["sessions"], vec![r]);
    assert_eq!(
        super::rejected(crate::xds::Kind::RouteConfig, any(rc)),
        "route_config \"outbound|80||sessions\": virtual_hosts[0].routes[0].metadata.filter_metadata[\"mesh.rs\"].retry_budget_min_per_second: must be a whole non-negative number"
    );
}

#[test]
fn rate_limits_come_from_the_listeners() {
    let l = listener_with(
        "sessions:50051",
        "outbound|50051||sessions",
        vec![
            rate_limit("whole", 100, 100, None),
            rate_limit(
                "list",
                5,
                5,
                Some(("path_exact", "/conference.Sessions/List")),
            ),
        ],
    );
    // The same limits reach us through the short and the long name.
    let mut long = l.clone();
    long.name = "sessions:80".into();
    let p = holding(&[any(l), any(long)]).to_policy().unwrap();
    let limits = p.rate_limits();
    assert_eq!(limits.len(), 2);
    assert_eq!(limits[0].name, "whole");
    assert_eq!(limits[0].path, None);
    assert_eq!(limits[1].host, "sessions");
    assert_eq!(
        limits[1].path,
        Some(StringMatch::Exact("/conference.Sessions/List".into()))
    );
}

#[test]
fn istiod_names_work() {
    let host = "attendees.default.svc.cluster.local";
    let whole = format!("outbound|50051||{host}");
    let v1 = format!("outbound|50051|v1|{host}");
    let rc = route_config(
        &whole,
        &[
            host,
            &format!("{host}:50051"),
            "attendees",
            "attendees:50051",
        ],
        vec![route("", prefix("/"), to_cluster(&v1))],
    );
    let p = holding(&[
        any(listener(&format!("{host}:50051"), &whole)),
        any(rc),
        any(cluster(&whole, true)),
        any(cluster(&v1, true)),
        any(cla(&v1, &[("10.0.0.1:50051", &[("version", "v1")])])),
    ])
    .to_policy()
    .unwrap();
    let table = p.route_table("attendees:50051").unwrap();
    assert_eq!(table.routes[0].name, format!("{whole}.routes[0]"));
    let dest = &table.routes[0].destinations[0].destination;
    assert_eq!(dest, &Destination::new(host).subset("v1"));
    assert_eq!(p.endpoints(dest).unwrap().endpoints.len(), 1);
    assert_eq!(
        p.endpoints(dest).unwrap().load_balancer,
        LoadBalancer::RoundRobin
    );
}
