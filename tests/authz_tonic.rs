//! Authorization between tonic services over mutual TLS with certificates
//! from a real mesh-control CA: `sessions` may list `attendees` but an
//! AuthorizationPolicy denies it the administrative `Purge`, while another
//! identity may still purge.

mod support;

use std::net::SocketAddr;

use mesh::Mesh;
use mesh::authz::{Action, AuthorizationPolicy, Operation, Rule, Source, StringMatch};
use mesh::conference::pb::ListRequest;
use mesh::conference::pb::attendees_client::AttendeesClient;
use mesh::conference::pb::sessions_client::SessionsClient;
use mesh::conference::{Faults, serve_attendees, serve_sessions};
use mesh::policy::{Endpoint, Policy, Service};
use mesh::tonic::MeshChannel;
use support::identity::{identity, plane_with_ca, spiffe};
use tonic::Code;

fn s(v: &str) -> StringMatch {
    StringMatch::parse(v).expect("valid match")
}

/// `sessions` may not call `attendees`' Purge.
fn deny_purge_from_sessions() -> AuthorizationPolicy {
    AuthorizationPolicy {
        name: "deny-purge".into(),
        namespace: "default".into(),
        selector: Some([("app".to_owned(), "attendees".to_owned())].into()),
        action: Action::Deny,
        rules: vec![Rule {
            from: vec![Source {
                principals: vec![s("cluster.local/ns/default/sa/sessions")],
                ..Default::default()
            }],
            to: vec![Operation {
                paths: vec![s("/conference.Attendees/Purge")],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn service(host: &str, addr: SocketAddr) -> Service {
    Service::new(host)
        .port(50051, Some("grpc"))
        .endpoint(Endpoint::new(addr))
}

#[tokio::test]
async fn a_deny_policy_stops_sessions_purging_attendees_while_its_lists_go_on() {
    let (plane, _dir) = plane_with_ca().await;

    let attendees_mesh = Mesh::new(
        Policy::builder()
            .authorization_policy(deny_purge_from_sessions())
            .build()
            .expect("valid policy"),
    );
    attendees_mesh.set_identity(identity(&plane, "attendees").await);
    let faults = Faults::none();
    let attendees = serve_attendees(&attendees_mesh, "v1", faults.clone())
        .await
        .expect("attendees starts");

    let sessions_mesh = Mesh::new(
        Policy::builder()
            .service(service("attendees", attendees.addr))
            .build()
            .expect("valid policy"),
    );
    sessions_mesh.set_identity(identity(&plane, "sessions").await);
    let sessions = serve_sessions(&sessions_mesh, "v1", "attendees:50051")
        .await
        .expect("sessions starts");

    let caller_mesh = Mesh::new(
        Policy::builder()
            .service(service("sessions", sessions.addr))
            .service(service("attendees", attendees.addr))
            .build()
            .expect("valid policy"),
    );
    caller_mesh.set_identity(identity(&plane, "operator").await);
    let mut sessions_client =
        SessionsClient::new(MeshChannel::new(&caller_mesh, "sessions:50051").expect("target"));
    let request = || ListRequest {
        conference: "rustconf".into(),
    };

    let listed = sessions_client
        .list(request())
        .await
        .expect("listing is allowed")
        .into_inner();
    assert_eq!(listed.caller, spiffe("operator").to_string());
    assert_eq!(listed.downstream_caller, spiffe("sessions").to_string());

    let denied = sessions_client
        .purge_attendees(request())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(
        denied
            .message()
            .contains("denied by AuthorizationPolicy default/deny-purge"),
        "{denied:?}"
    );
    assert_eq!(faults.purges_seen(), 0, "the denied purge never ran");

    // The policy names sessions only: another identity may purge.
    let mut attendees_client =
        AttendeesClient::new(MeshChannel::new(&caller_mesh, "attendees:50051").expect("target"));
    attendees_client
        .purge(request())
        .await
        .expect("the operator may purge");
    assert_eq!(faults.purges_seen(), 1);
}
