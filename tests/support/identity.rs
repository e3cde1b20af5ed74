//! A real mesh-control with its CA on, and workload identities from it.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use mesh::Mesh;
use mesh::conference::{self, Faults};
use mesh::identity::{CaClient, Identity, SpiffeId};
use mesh::policy::{Endpoint, MtlsMode, PeerAuthentication, Policy, Service, UpstreamTls};
use mesh_control::{ControlPlane, Running};

pub const TRUST_DOMAIN: &str = "cluster.local";

/// A control plane with its CA on, over an empty config directory; the
/// directories live as long as the returned guard.
pub async fn plane_with_ca() -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("config")).expect("config dir");
    let plane = ControlPlane::builder()
        .config_dir(dir.path().join("config"))
        .listen("127.0.0.1:0")
        .ca_dir(dir.path().join("ca"))
        .ca_listen("127.0.0.1:0")
        .start()
        .await
        .expect("control plane starts");
    (plane, dir)
}

/// `spiffe://cluster.local/ns/default/sa/<sa>`.
pub fn spiffe(sa: &str) -> SpiffeId {
    SpiffeId::new(TRUST_DOMAIN, "default", sa).expect("valid SPIFFE ID")
}

/// How a workload `sa` reaches the plane's CA, with a bootstrap token.
pub fn ca_client(plane: &Running, sa: &str, lifetime: Duration) -> CaClient {
    let ca = plane.ca().expect("the CA is on");
    let id = spiffe(sa);
    CaClient {
        address: plane.ca_addr().expect("the CA listens"),
        ca_roots_pem: ca.trust_bundle().roots.join("\n"),
        ca_identity: None,
        trust_domain: TRUST_DOMAIN.to_owned(),
        token: Some(ca.bootstrap_token(&id, Duration::from_secs(600))),
        id,
        lifetime,
    }
}

/// The identity of workload `sa`, its first certificate issued by the
/// plane's CA for an hour.
pub async fn identity(plane: &Running, sa: &str) -> Identity {
    Identity::from_ca(ca_client(plane, sa, Duration::from_secs(3600)))
        .await
        .expect("the CA issues a certificate")
}

/// A mesh-wide `PeerAuthentication` in `mode`.
pub fn mesh_wide(mode: MtlsMode) -> PeerAuthentication {
    PeerAuthentication {
        name: "default".into(),
        namespace: "istio-system".into(),
        selector: None,
        mode: Some(mode),
    }
}

/// A server's policy: only a mesh-wide `PeerAuthentication` in `mode`.
pub fn peer_policy(mode: MtlsMode) -> Policy {
    Policy::builder()
        .peer_authentication(mesh_wide(mode))
        .build()
        .expect("valid policy")
}

/// A client's policy: `attendees` at `addr`, protected by `tls`.
pub fn to_attendees(addr: SocketAddr, tls: UpstreamTls) -> Policy {
    Policy::builder()
        .service(
            Service::new("attendees")
                .port(50051, Some("grpc"))
                .endpoint(Endpoint::new(addr))
                .tls(tls),
        )
        .build()
        .expect("valid policy")
}

/// `attendees` v1 served in `mode` by a workload with identity `id`.
pub async fn attendees_in(mode: MtlsMode, id: Identity, faults: Faults) -> conference::Running {
    let mesh = Mesh::new(peer_policy(mode));
    mesh.set_identity(id);
    conference::serve_attendees(&mesh, "v1", faults)
        .await
        .expect("server starts")
}
