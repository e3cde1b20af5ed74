//! Security over xDS, end to end: mesh-control with its CA on sends the
//! cluster's mutual TLS settings and the server's inbound listener (mode
//! and RBAC) from YAML; the data plane's clients and server follow them,
//! and an edit is hot-reloaded like any other policy.

mod support;

#[path = "support/plane.rs"]
mod plane;

use mesh::Mesh;
use mesh::conference::pb::ListRequest;
use mesh::conference::pb::attendees_client::AttendeesClient;
use mesh::conference::{Faults, serve_attendees};
use mesh::core::xds::{Bootstrap, XdsClient};
use mesh::policy::Policy;
use mesh::tonic::MeshChannel;
use plane::{TARGET, write};
use support::assert_eventually;
use support::identity::{identity, plane_with_ca, spiffe};
use tonic::Code;

fn workload(port: u16, mode: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: attendees}}
spec:
  hosts: [attendees]
  ports: [{{number: 50051, name: grpc, protocol: GRPC}}]
  endpoints:
  - {{address: 127.0.0.1, ports: {{grpc: {port}}}, labels: {{app: attendees}}, serviceAccount: attendees}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: default, namespace: istio-system}}
spec:
  mtls: {{mode: {mode}}}
"#
    )
}

const DENY_PURGE: &str = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-purge}
spec:
  selector: {matchLabels: {app: attendees}}
  action: DENY
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/sessions]}}]
    to: [{operation: {paths: [/conference.Attendees/Purge]}}]
"#;

fn request() -> ListRequest {
    ListRequest {
        conference: "rustconf".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_mode_and_authorization_arrive_over_xds_and_hot_reload() {
    let (plane, dir) = plane_with_ca().await;
    let config = dir.path().join("config");
    let bootstrap = Bootstrap::builder()
        .server(format!("http://{}", plane.xds_addr()))
        .node_id("xds-security-test")
        .build()
        .expect("bootstrap");
    let mesh = Mesh::new(Policy::empty());
    let xds = XdsClient::builder(bootstrap)
        .watch(TARGET)
        .start(mesh.clone());

    let faults = Faults::none();
    let server_mesh = mesh.with_identity(identity(&plane, "attendees").await);
    let server = serve_attendees(&server_mesh, "v1", faults.clone())
        .await
        .expect("server starts");
    xds.watch_inbound(server.addr);
    write(
        &config,
        "workload.yaml",
        &workload(server.addr.port(), "STRICT"),
    );
    write(&config, "deny.yaml", DENY_PURGE);
    // The files land after the client subscribed, so the first answer
    // may be "does not exist"; the reload follows.
    assert_eventually("the security policy arrives", || {
        let snapshot = mesh.snapshot();
        let policy = snapshot.policy();
        let has = policy.service("attendees").is_some()
            && policy
                .inbound(server.addr)
                .is_some_and(|s| !s.authorization_policies.is_empty());
        async move { has }
    })
    .await;

    let client = |m: &Mesh| AttendeesClient::new(MeshChannel::new(m, TARGET).expect("target"));
    let sessions = mesh.with_identity(identity(&plane, "sessions").await);
    let reply = client(&sessions)
        .list(request())
        .await
        .expect("sessions may list")
        .into_inner();
    assert_eq!(reply.caller, spiffe("sessions").to_string(), "mutual TLS");

    let denied = client(&sessions).purge(request()).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(
        denied.message().contains("default/deny-purge"),
        "the denial names the policy: {denied:?}"
    );
    assert_eq!(faults.purges_seen(), 0);

    let operator = mesh.with_identity(identity(&plane, "operator").await);
    client(&operator)
        .purge(request())
        .await
        .expect("the policy names sessions only");

    // STRICT arrived too: a caller with no identity is refused.
    let plain = client(&mesh).list(request()).await.unwrap_err();
    assert_eq!(plain.code(), Code::Unauthenticated, "{plain:?}");

    // Removing the policy is hot-reloaded: sessions may purge again.
    std::fs::remove_file(config.join("deny.yaml")).expect("remove policy");
    assert_eventually("the deny policy is gone", || {
        let gone = mesh
            .snapshot()
            .policy()
            .inbound(server.addr)
            .is_some_and(|s| s.authorization_policies.is_empty());
        async move { gone }
    })
    .await;
    client(&sessions)
        .purge(request())
        .await
        .expect("allowed once the policy is removed");
    assert_eq!(faults.purges_seen(), 2);

    // And so is the mode: PERMISSIVE takes the plaintext caller.
    write(
        &config,
        "workload.yaml",
        &workload(server.addr.port(), "PERMISSIVE"),
    );
    assert_eventually("PERMISSIVE arrives", || {
        let permissive = mesh
            .snapshot()
            .policy()
            .inbound(server.addr)
            .is_some_and(|s| s.mode == mesh::policy::MtlsMode::Permissive);
        async move { permissive }
    })
    .await;
    let reply = client(&mesh)
        .list(request())
        .await
        .expect("a plaintext caller is taken")
        .into_inner();
    assert_eq!(reply.caller, "", "no identity over plaintext");
}
