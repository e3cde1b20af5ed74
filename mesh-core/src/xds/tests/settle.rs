//! Make before break (gRFC A74) and the race behind the route switch that
//! sent every request to a subset with no endpoints: the exact sequences of
//! responses and requests.

use envoy_types::pb::google::protobuf::Any;

use super::fixtures::*;
use super::state::{RDS, T, V1, V2, response, state};
use crate::xds::Kind;
use crate::xds::state::{Handled, State, TargetStatus};

/// The route configuration sending everything to `cluster`.
fn all_to(cluster: &str) -> Any {
    any(route_config(
        RDS,
        &["attendees", T],
        vec![route("all", prefix("/"), to_cluster(cluster))],
    ))
}

/// The subset the policy in force routes `T` to, and its endpoints.
fn routed(s: &State) -> (String, Vec<String>) {
    let p = s.in_force().to_policy().unwrap();
    let dest = &p.route_table(T).unwrap().routes[0].destinations[0].destination;
    let subset = dest.subset.clone().unwrap();
    let label = format!("{}{subset}", crate::xds::SUBSET_LABEL_PREFIX);
    let endpoints = p
        .service("attendees")
        .unwrap()
        .endpoints
        .iter()
        .filter(|e| e.labels.contains_key(&label))
        .map(|e| e.address.to_string())
        .collect();
    (subset, endpoints)
}

/// The request of `kind` among `h`'s, after the ACK.
fn asked(h: &Handled, kind: Kind) -> Vec<String> {
    h.requests[1..]
        .iter()
        .find(|r| r.type_url == kind.type_url())
        .map(|r| r.resource_names.clone())
        .unwrap_or_default()
}

/// Settled with everything routed to subset v1.
fn routed_to_v1() -> State {
    let mut s = state();
    s.requests();
    s.handle(response(
        Kind::Listener,
        "1",
        "l1",
        vec![any(listener(T, RDS))],
    ));
    s.handle(response(Kind::RouteConfig, "1", "r1", vec![all_to(V1)]));
    let clusters = vec![any(cluster(V1, true)), any(cluster(RDS, true))];
    s.handle(response(Kind::Cluster, "1", "c1", clusters));
    let whole = cla(RDS, &[("10.0.0.1:1", &[]), ("10.0.0.2:2", &[])]);
    let v1 = cla(V1, &[("10.0.0.1:1", &[])]);
    s.handle(response(
        Kind::Endpoints,
        "1",
        "e1",
        vec![any(whole), any(v1)],
    ));
    assert_eq!(s.statuses()[T], TargetStatus::Ready);
    assert_eq!(routed(&s), ("v1".into(), vec!["10.0.0.1:1".into()]));
    s
}

/// The regression: the route moved to v2 while v2's cluster and endpoints
/// were not held, and the policy installed at once sent every request to
/// a subset with no endpoints ("no healthy endpoint ... lists no endpoints
/// for it") until they arrived. Now the previous configuration stays in
/// force until they have (make before break, gRFC A74).
#[test]
fn a_route_to_clusters_not_held_yet_waits_for_them_with_the_old_one_in_force() {
    let mut s = routed_to_v1();
    let h = s.handle(response(Kind::RouteConfig, "2", "r2", vec![all_to(V2)]));
    assert!(!h.changed, "nothing new is in force yet");
    assert_eq!(asked(&h, Kind::Cluster), [V2, RDS]);
    assert_eq!(asked(&h, Kind::Endpoints), [RDS]);
    assert_eq!(s.statuses()[T], TargetStatus::Pending);
    assert_eq!(routed(&s).0, "v1");

    let clusters = vec![any(cluster(V2, true)), any(cluster(RDS, true))];
    let h = s.handle(response(Kind::Cluster, "2", "c2", clusters));
    assert!(!h.changed, "the endpoints of v2 are still missing");
    assert_eq!(asked(&h, Kind::Endpoints), [V2, RDS]);
    assert_eq!(h.requested, [(Kind::Endpoints, V2.to_owned())]);
    assert_eq!(routed(&s), ("v1".into(), vec!["10.0.0.1:1".into()]));

    // Persisting now keeps the last known good, not the half-way state.
    let saved = s.saved();
    let rds = saved
        .iter()
        .find(|r| r.type_url == Kind::RouteConfig.type_url());
    assert_eq!(rds.unwrap().resources, [all_to(V1)]);

    let v2 = cla(V2, &[("10.0.0.2:2", &[])]);
    let h = s.handle(response(Kind::Endpoints, "2", "e2", vec![any(v2)]));
    assert!(h.changed);
    assert_eq!(s.statuses()[T], TargetStatus::Ready);
    assert_eq!(routed(&s), ("v2".into(), vec!["10.0.0.2:2".into()]));
}

#[test]
fn a_new_cluster_that_never_arrives_settles_after_its_timer() {
    let mut s = routed_to_v1();
    s.handle(response(Kind::RouteConfig, "2", "r2", vec![all_to(V2)]));
    assert!(!s.settle());
    assert!(s.expire(Kind::Cluster, V2));
    assert!(s.settle(), "known absent: the new route is in force");
    assert_eq!(s.statuses()[T], TargetStatus::Ready);
    assert_eq!(routed(&s), ("v2".into(), vec![]));
}

#[test]
fn a_target_that_never_settled_uses_what_has_arrived() {
    let mut s = state();
    s.requests();
    s.handle(response(
        Kind::Listener,
        "1",
        "l1",
        vec![any(listener(T, RDS))],
    ));
    let h = s.handle(response(Kind::RouteConfig, "1", "r1", vec![all_to(V1)]));
    assert!(h.changed);
    assert_eq!(routed(&s), ("v1".into(), vec![]));
}

/// The race behind the restart case: on a new stream the route (now to
/// v2) arrives before the CDS answer to the stream's first request, which
/// asked for v1. That answer says nothing about v2: it must not count as
/// absent (it did, and the new route went into force with no endpoints).
#[test]
fn a_full_state_answer_to_an_earlier_request_does_not_delete_names_asked_for_since() {
    let mut s = routed_to_v1();
    s.new_stream(false);
    let (reqs, _) = s.requests();
    assert_eq!(reqs.len(), 4);
    s.handle(response(
        Kind::Listener,
        "2",
        "l1",
        vec![any(listener(T, RDS))],
    ));
    let h = s.handle(response(Kind::RouteConfig, "2", "r1", vec![all_to(V2)]));
    assert_eq!(asked(&h, Kind::Cluster), [V2, RDS]);
    // The answer to the first CDS request.
    let old = vec![any(cluster(V1, true)), any(cluster(RDS, true))];
    let h = s.handle(response(Kind::Cluster, "2", "c1", old));
    assert!(!h.changed);
    assert_eq!(
        s.statuses()[T],
        TargetStatus::Pending,
        "v2 is not known absent"
    );
    assert_eq!(routed(&s).0, "v1");
    // The answer to the second.
    let new = vec![any(cluster(V2, true)), any(cluster(RDS, true))];
    let h = s.handle(response(Kind::Cluster, "2", "c2", new));
    assert_eq!(asked(&h, Kind::Endpoints), [V2, RDS]);
    let v2 = cla(V2, &[("10.0.0.2:2", &[])]);
    assert!(
        s.handle(response(Kind::Endpoints, "2", "e1", vec![any(v2)]))
            .changed
    );
    assert_eq!(routed(&s), ("v2".into(), vec!["10.0.0.2:2".into()]));
}

#[test]
fn a_full_state_response_still_deletes_what_every_request_asked_for() {
    let mut s = routed_to_v1();
    s.handle(response(Kind::RouteConfig, "2", "r2", vec![all_to(V2)]));
    // Held and dropped by the server: deleted, whatever was asked since.
    s.handle(response(
        Kind::Cluster,
        "2",
        "c2",
        vec![any(cluster(V2, true))],
    ));
    assert!(!s.resources.contains(Kind::Cluster, RDS));
    assert!(!s.expire(Kind::Cluster, RDS), "already known absent");
}

#[test]
fn filling_adds_what_is_missing_and_keeps_what_is_held() {
    const OTHER: &str = "outbound|50052||sessions";
    let other = any(route_config(
        OTHER,
        &["sessions"],
        vec![route(
            "all",
            prefix("/"),
            to_cluster("outbound|50052||sessions"),
        )],
    ));
    let mut now = super::holding(&[all_to(V1)]);
    now.fill_from(&super::holding(&[all_to(V2), other.clone()]));
    assert_eq!(now.routes[RDS].raw, all_to(V1), "what was held is kept");
    assert_eq!(now.routes[OTHER].raw, other, "what was missing is added");
    assert!(now.contains(Kind::RouteConfig, OTHER));
    assert!(!now.contains(Kind::Listener, OTHER), "kinds are apart");
    assert_eq!(now.names(Kind::RouteConfig), [RDS, OTHER]);
}
