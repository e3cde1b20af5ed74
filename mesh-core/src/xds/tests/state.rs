use envoy_types::pb::envoy::config::cluster::v3::cluster::LbPolicy;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
use envoy_types::pb::google::protobuf::Any;

use super::fixtures::*;
use crate::xds::state::{State, TargetStatus};
use crate::xds::{Kind, XdsError};

pub(super) const T: &str = "attendees:50051";
pub(super) const RDS: &str = "outbound|50051||attendees";
pub(super) const V1: &str = "outbound|50051|v1|attendees";
pub(super) const V2: &str = "outbound|50051|v2|attendees";

pub(super) fn response(
    kind: Kind,
    version: &str,
    nonce: &str,
    resources: Vec<Any>,
) -> DiscoveryResponse {
    DiscoveryResponse {
        version_info: version.into(),
        resources,
        type_url: kind.type_url().into(),
        nonce: nonce.into(),
        ..Default::default()
    }
}

pub(super) fn state() -> State {
    let mut s = State::new(Node {
        id: "n1".into(),
        ..Default::default()
    });
    s.watch(T);
    s
}

#[test]
fn the_first_request_carries_the_node_and_acks_cascade() {
    let mut s = state();
    let (reqs, requested) = s.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].node.as_ref().unwrap().id, "n1");
    assert_eq!(reqs[0].resource_names, [T]);
    assert_eq!(requested, [(Kind::Listener, T.to_owned())]);

    let h = s.handle(response(
        Kind::Listener,
        "1",
        "a",
        vec![any(listener(T, RDS))],
    ));
    assert!(h.changed);
    let [ack, rds] = h.requests.as_slice() else {
        panic!("{:?}", h.requests)
    };
    assert_eq!(
        (ack.version_info.as_str(), ack.response_nonce.as_str()),
        ("1", "a")
    );
    assert!(ack.error_detail.is_none());
    assert!(
        ack.node.is_none(),
        "only the first request carries the node"
    );
    assert_eq!(rds.type_url, Kind::RouteConfig.type_url());
    assert_eq!(rds.resource_names, [RDS]);
    assert_eq!(
        (rds.version_info.as_str(), rds.response_nonce.as_str()),
        ("", "")
    );
    assert_eq!(h.requested, [(Kind::RouteConfig, RDS.to_owned())]);
    assert_eq!(s.statuses()[T], TargetStatus::Pending);
}

/// Feeds the attendees resources, one response per kind.
fn settled() -> State {
    let mut s = state();
    s.requests();
    let all = attendees("10.0.0.1:1", "10.0.0.2:2");
    for (i, kind) in Kind::ALL.into_iter().enumerate() {
        let of_kind = all
            .iter()
            .filter(|a| a.type_url == kind.type_url())
            .cloned()
            .collect();
        s.handle(response(kind, "1", &format!("n{i}"), of_kind));
    }
    assert_eq!(s.statuses()[T], TargetStatus::Ready);
    s
}

#[test]
fn one_bad_resource_is_nacked_while_the_good_ones_apply() {
    let mut s = settled();
    let mut bad = cluster(V2, false);
    bad.lb_policy = LbPolicy::RingHash as i32;
    let h = s.handle(response(
        Kind::Cluster,
        "2",
        "c2",
        vec![any(cluster(RDS, true)), any(cluster(V1, true)), any(bad)],
    ));
    let nack = &h.requests[0];
    assert_eq!(
        nack.version_info, "1",
        "a nack carries the previous version"
    );
    assert_eq!(nack.response_nonce, "c2");
    let status = nack.error_detail.as_ref().unwrap();
    assert_eq!(status.code, 3);
    assert_eq!(
        status.message,
        "cluster \"outbound|50051|v2|attendees\": lb_policy: RING_HASH (only ROUND_ROBIN and LEAST_REQUEST) is not supported yet"
    );
    let p = s.resources.to_policy().unwrap();
    let svc = p.service("attendees").unwrap();
    assert_eq!(
        svc.load_balancer,
        crate::policy::LoadBalancer::RoundRobin,
        "the good ones apply"
    );
    assert!(
        svc.subsets.iter().any(|s| s.name == "v2"),
        "the bad one keeps its old version"
    );
    assert_eq!(s.statuses()[T], TargetStatus::Ready);

    // The next good response is acked with its version.
    let h = s.handle(response(
        Kind::Cluster,
        "3",
        "c3",
        vec![
            any(cluster(RDS, true)),
            any(cluster(V1, true)),
            any(cluster(V2, true)),
        ],
    ));
    assert_eq!(h.requests[0].version_info, "3");
    assert!(h.requests[0].error_detail.is_none());
}

#[test]
fn a_rejected_resource_that_was_never_accepted_fails_the_target() {
    let mut s = state();
    s.requests();
    let mut l = listener(T, RDS);
    l.api_listener = None;
    let h = s.handle(response(Kind::Listener, "1", "a", vec![any(l)]));
    assert_eq!(h.requests[0].version_info, "");
    match &s.statuses()[T] {
        TargetStatus::Failed(XdsError::Rejected(e)) => assert_eq!(e.name, T),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lds_is_the_full_set_and_unreferenced_rds_goes_away() {
    let mut s = settled();
    let h = s.handle(response(Kind::Listener, "2", "l2", vec![]));
    assert!(h.changed);
    assert_eq!(
        s.statuses()[T],
        TargetStatus::Failed(XdsError::DoesNotExist {
            kind: Kind::Listener,
            name: T.into()
        })
    );
    // Everything below the listener was released.
    for kind in Kind::ALL {
        assert!(s.resources.names(kind).is_empty(), "{kind}");
    }
    // And the subscriptions shrink to nothing.
    let rds = h
        .requests
        .iter()
        .find(|r| r.type_url == Kind::RouteConfig.type_url())
        .unwrap();
    assert!(rds.resource_names.is_empty());
}

#[test]
fn a_resource_that_never_arrives_counts_as_absent_after_its_timer() {
    let mut s = state();
    s.requests();
    s.handle(response(
        Kind::Listener,
        "1",
        "a",
        vec![any(listener(T, RDS))],
    ));
    assert!(s.expire(Kind::RouteConfig, RDS));
    assert_eq!(
        s.statuses()[T],
        TargetStatus::Failed(XdsError::DoesNotExist {
            kind: Kind::RouteConfig,
            name: RDS.into()
        })
    );
    // It still may arrive later.
    s.handle(response(
        Kind::RouteConfig,
        "1",
        "b",
        vec![any(route_config(RDS, &["attendees"], vec![]))],
    ));
    assert_eq!(s.statuses()[T], TargetStatus::Ready);
}

#[test]
fn persisted_resources_load_in_cascade_order_without_versions() {
    let saved = settled().saved();
    let mut s = state();
    assert!(s.load(&saved));
    assert_eq!(s.statuses()[T], TargetStatus::Ready);
    let (reqs, _) = s.requests();
    assert!(reqs.iter().all(|r| r.version_info.is_empty()));
    // A second load adds nothing.
    assert!(!s.load(&saved));
}

#[test]
fn an_unknown_type_is_nacked() {
    let mut s = state();
    let h = s.handle(DiscoveryResponse {
        type_url: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret".into(),
        nonce: "x".into(),
        ..Default::default()
    });
    let nack = &h.requests[0];
    assert_eq!(nack.response_nonce, "x");
    assert!(
        nack.error_detail
            .as_ref()
            .unwrap()
            .message
            .contains("not one this client subscribes to")
    );
}

#[test]
fn the_fallback_is_wanted_only_while_something_is_not_cached() {
    let mut s = state();
    assert!(s.missing_any(), "the listener has not arrived");
    s.requests();
    s.handle(response(Kind::Listener, "1", "a", vec![]));
    assert!(!s.missing_any(), "a listener known absent is not missing");
    assert!(!settled().missing_any());
}
