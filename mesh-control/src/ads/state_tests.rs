//! The stream protocol, without a network: ACK, NACK, stale nonces,
//! wildcards, pushes and their order.

use std::sync::Arc;

use bytes::Bytes;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
use envoy_types::pb::google::rpc::Status as RpcStatus;
use mesh_core::policy::{Destination, Endpoint, Policy, Route, Service};

use super::request::AdsRequest;
use super::response::Response;
use super::state::StreamState;
use crate::snapshot::Snapshot;
use crate::xds::{CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE};

fn policy(endpoints: &[&str]) -> Arc<Policy> {
    let mut svc = Service::new("attendees")
        .port(50051, None)
        .subset("v1", [("version", "v1")]);
    for e in endpoints {
        svc = svc.endpoint(Endpoint::new(e.parse().unwrap()).label("version", "v1"));
    }
    Arc::new(
        Policy::builder()
            .service(svc)
            .service(Service::new("sessions"))
            .build()
            .unwrap(),
    )
}

fn request(type_url: &str, names: &[&str], version: &str, nonce: &str) -> AdsRequest {
    AdsRequest {
        type_url: type_url.into(),
        resource_names: names
            .iter()
            .map(|n| Bytes::copy_from_slice(n.as_bytes()))
            .collect(),
        version_info: version.into(),
        response_nonce: nonce.into(),
        ..Default::default()
    }
}

/// The one response, as the client decodes it.
fn one(mut out: Vec<Response>) -> DiscoveryResponse {
    assert_eq!(out.len(), 1, "{out:?}");
    out.remove(0).to_message()
}

#[test]
fn nothing_is_sent_before_a_configuration_loads() {
    let mut s = StreamState::new(1, None);
    let initial = Snapshot::initial();
    assert!(
        s.on_request(request(LISTENER_TYPE, &["attendees"], "", ""), &initial)
            .is_empty()
    );
    let ready = initial.next(policy(&[]));
    let r = one(s.on_snapshot(&ready));
    assert_eq!(r.type_url, LISTENER_TYPE);
    assert_eq!(r.resources.len(), 1);
}

#[test]
fn ack_records_the_version_and_sends_nothing_more() {
    let snap = Snapshot::initial().next(policy(&[]));
    let mut s = StreamState::new(1, None);
    let mut req = request(LISTENER_TYPE, &["attendees:50051", "nope"], "", "");
    req.node = Some(Node {
        id: "client-1".into(),
        ..Default::default()
    });
    let r = one(s.on_request(req, &snap));
    assert_eq!(r.resources.len(), 1, "only listeners that exist");
    assert_eq!(r.version_info, "1");
    let ack = request(
        LISTENER_TYPE,
        &["attendees:50051", "nope"],
        &r.version_info,
        &r.nonce,
    );
    assert!(s.on_request(ack, &snap).is_empty());
    let status = s.status();
    assert_eq!(status.node_id, "client-1");
    let lds = &status.types[LISTENER_TYPE];
    assert_eq!(lds.acked_version.as_deref(), Some("1"));
    assert_eq!(lds.subscribed, ["attendees:50051", "nope"]);
}

#[test]
fn nack_is_recorded_and_keeps_the_previous_version() {
    let snap = Snapshot::initial().next(policy(&[]));
    let mut s = StreamState::new(1, None);
    let r = one(s.on_request(request(CLUSTER_TYPE, &[], "", ""), &snap));
    assert_eq!(r.resources.len(), 3, "wildcard: every cluster");
    let mut nack = request(CLUSTER_TYPE, &[], "", &r.nonce);
    nack.error_detail = Some(RpcStatus {
        code: 3,
        message: "bad cluster".into(),
        ..Default::default()
    });
    assert!(s.on_request(nack, &snap).is_empty(), "nothing is resent");
    let cds = &s.status().types[CLUSTER_TYPE];
    let n = cds.last_nack.as_ref().unwrap();
    assert_eq!(n.message, "bad cluster");
    assert_eq!(n.rejected_version, "1");
    assert_eq!(n.kept_version, "");
    assert_eq!(cds.acked_version, None);
    assert!(cds.wildcard);
}

#[test]
fn a_stale_request_acks_nothing_and_is_not_answered_but_its_subscription_counts() {
    let one_ep = Snapshot::initial().next(policy(&["10.0.0.1:1"]));
    let two_eps = one_ep.next(policy(&["10.0.0.1:1", "10.0.0.2:1"]));
    let mut s = StreamState::new(1, None);
    let name = "outbound|50051||attendees";
    let sessions = "outbound|80||sessions";
    let first = one(s.on_request(request(ENDPOINT_TYPE, &[name], "", ""), &one_ep));
    let second = one(s.on_snapshot(&two_eps));
    assert_ne!(first.nonce, second.nonce);
    // The client answers the first response, growing its subscription,
    // while the second is on its way: that answer is stale.
    let stale = request(ENDPOINT_TYPE, &[name, sessions], "1", &first.nonce);
    assert!(s.on_request(stale, &two_eps).is_empty(), "not answered");
    let eds = &s.status().types[ENDPOINT_TYPE];
    assert_eq!(eds.stale_requests, 1);
    assert_eq!(eds.acked_version, None, "a stale request acks nothing");
    assert_eq!(
        eds.subscribed,
        [name, sessions],
        "but the subscription counts"
    );
    // The client's answer to the second response (restating the same
    // subscription) gets what the grown subscription asks for.
    let ack = request(ENDPOINT_TYPE, &[name, sessions], "2", &second.nonce);
    let third = one(s.on_request(ack, &two_eps));
    assert_eq!(third.resources.len(), 2, "{third:?}");
    assert_eq!(
        s.status().types[ENDPOINT_TYPE].acked_version.as_deref(),
        Some("2")
    );
    // Its ACK settles everything.
    let ack = request(ENDPOINT_TYPE, &[name, sessions], "2", &third.nonce);
    assert!(s.on_request(ack, &two_eps).is_empty());
}

#[test]
fn a_subscription_in_a_stale_request_survives_pushes_that_keep_crossing_it() {
    // envoyproxy/envoy#10363: when every answer of the client crosses a
    // new push, each is stale on arrival; the pushes must still follow
    // the subscription those answers state.
    let mut snap = Snapshot::initial().next(policy(&["10.0.0.1:1"]));
    let mut s = StreamState::new(1, None);
    let name = "outbound|50051||attendees";
    let sessions = "outbound|80||sessions";
    let mut last = one(s.on_request(request(ENDPOINT_TYPE, &[name], "", ""), &snap));
    for i in 2..5 {
        let next = snap.next(policy(&["10.0.0.1:1", &format!("10.0.0.{i}:1")]));
        let push = one(s.on_snapshot(&next));
        let crossing = request(ENDPOINT_TYPE, &[name, sessions], "x", &last.nonce);
        assert!(s.on_request(crossing, &next).is_empty());
        (snap, last) = (next, push);
    }
    let push = one(s.on_snapshot(&snap.next(policy(&["10.0.0.9:1"]))));
    let names: Vec<String> = push
        .resources
        .iter()
        .map(|a| {
            use prost::Message;
            envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment::decode(
                a.value.as_slice(),
            )
            .unwrap()
            .cluster_name
        })
        .collect();
    assert_eq!(names, [name, sessions]);
    assert_eq!(s.status().types[ENDPOINT_TYPE].acked_version, None);
}

#[test]
fn the_exact_race_of_a_route_switch_converges() {
    // The data plane's answers after a route moved to subset v2: its EDS
    // subscription shrinks to the whole-service cluster while the CDS
    // answer adds v2, and the second EDS request crosses the response to
    // the first.
    let snap = Snapshot::initial().next(policy(&["10.0.0.1:1"]));
    let (whole, v1) = ("outbound|50051||attendees", "outbound|50051|v1|attendees");
    let mut s = StreamState::new(1, None);
    let r1 = one(s.on_request(request(ENDPOINT_TYPE, &[v1, whole], "", ""), &snap));
    assert!(
        s.on_request(request(ENDPOINT_TYPE, &[v1, whole], "1", &r1.nonce), &snap)
            .is_empty()
    );
    let r2 = one(s.on_request(request(ENDPOINT_TYPE, &[whole], "1", &r1.nonce), &snap));
    assert_eq!(r2.resources.len(), 1);
    // Crosses r2: stale, not answered.
    assert!(
        s.on_request(request(ENDPOINT_TYPE, &[v1, whole], "1", &r1.nonce), &snap)
            .is_empty()
    );
    // The ACK of r2 gets both.
    let r3 = one(s.on_request(request(ENDPOINT_TYPE, &[v1, whole], "1", &r2.nonce), &snap));
    assert_eq!(r3.resources.len(), 2);
}

#[test]
fn a_nonce_from_an_earlier_stream_is_answered() {
    let snap = Snapshot::initial().next(policy(&[]));
    let mut s = StreamState::new(2, None);
    let r = one(s.on_request(request(LISTENER_TYPE, &["attendees"], "7", "41"), &snap));
    assert_eq!(r.resources.len(), 1);
    let lds = &s.status().types[LISTENER_TYPE];
    assert_eq!(lds.stale_requests, 0);
    assert_eq!(
        lds.acked_version, None,
        "it acks nothing sent on this stream"
    );
}

#[test]
fn a_changed_subscription_is_answered_and_unchanged_types_are_not_pushed() {
    let snap = Snapshot::initial().next(policy(&["10.0.0.1:1"]));
    let mut s = StreamState::new(1, None);
    let r = one(s.on_request(
        request(ROUTE_TYPE, &["outbound|50051||attendees"], "", ""),
        &snap,
    ));
    let grown = request(
        ROUTE_TYPE,
        &["outbound|50051||attendees", "outbound|80||sessions"],
        "1",
        &r.nonce,
    );
    let r2 = one(s.on_request(grown, &snap));
    assert_eq!(r2.resources.len(), 2);
    // An endpoint change leaves the routes alone.
    let next = snap.next(policy(&["10.0.0.9:1"]));
    assert!(s.on_snapshot(&next).is_empty());
}

#[test]
fn clusters_and_endpoints_go_out_before_listeners_and_routes() {
    let snap = Snapshot::initial().next(policy(&[]));
    let mut s = StreamState::new(1, None);
    for (t, names) in [
        (ROUTE_TYPE, vec!["outbound|50051||attendees"]),
        (LISTENER_TYPE, vec!["attendees"]),
        (ENDPOINT_TYPE, vec!["outbound|50051|v1|attendees"]),
        (CLUSTER_TYPE, vec![]),
    ] {
        let r = one(s.on_request(request(t, &names, "", ""), &snap));
        assert!(
            s.on_request(request(t, &names, "1", &r.nonce), &snap)
                .is_empty()
        );
    }
    // A new subset changes every type at once.
    let mut svc = snap.policy().service("attendees").unwrap().clone();
    svc.subsets.push(mesh_core::policy::Subset {
        name: "v2".into(),
        labels: [("version".to_owned(), "v2".to_owned())].into(),
        load_balancer: None,
    });
    svc.endpoints
        .push(Endpoint::new("10.0.0.1:1".parse().unwrap()).label("version", "v1"));
    let p = Policy::builder()
        .service(svc)
        .service(Service::new("sessions"))
        .routes(
            "attendees",
            [Route::to("v2", Destination::new("attendees").subset("v2"))],
        )
        .build()
        .unwrap();
    let out = s.on_snapshot(&snap.next(Arc::new(p)));
    let order: Vec<&str> = out.iter().map(|r| r.type_url).collect();
    assert_eq!(order, [CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE]);
}

#[test]
fn unknown_types_are_ignored() {
    let snap = Snapshot::initial().next(policy(&[]));
    let mut s = StreamState::new(1, None);
    let secret = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
    assert!(
        s.on_request(request(secret, &["x"], "", ""), &snap)
            .is_empty()
    );
}

#[test]
fn a_request_that_brings_a_newer_snapshot_pushes_what_changed_in_it() {
    // Types are not resolved again while the snapshot and the subscription
    // stay the same; a newer snapshot seen first on a request (before its
    // push) must still go out for the types it changed.
    let snap = Snapshot::initial().next(policy(&["10.0.0.1:1"]));
    let mut s = StreamState::new(1, None);
    let eds = one(s.on_request(
        request(ENDPOINT_TYPE, &["outbound|50051||attendees"], "", ""),
        &snap,
    ));
    let cds = one(s.on_request(request(CLUSTER_TYPE, &[], "", ""), &snap));
    let ack = request(
        ENDPOINT_TYPE,
        &["outbound|50051||attendees"],
        "1",
        &eds.nonce,
    );
    assert!(s.on_request(ack, &snap).is_empty());
    let next = snap.next(policy(&["10.0.0.9:1"]));
    let cds_ack = request(CLUSTER_TYPE, &[], "1", &cds.nonce);
    let push = one(s.on_request(cds_ack, &next));
    assert_eq!(push.type_url, ENDPOINT_TYPE);
    assert_eq!(push.version_info, "2");
    assert!(s.on_snapshot(&next).is_empty(), "and only once");
}
