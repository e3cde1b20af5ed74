//! Mutual TLS between hyper services, over HTTP/1.1 and HTTP/2, with
//! certificates from a real mesh-control CA; the handler sees the
//! caller's verified identity, and a plaintext caller of a STRICT server
//! gets 401 naming the policy.

mod support;

#[path = "support/hyper.rs"]
mod hyper_support;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_support::{get, send};
use mesh::Mesh;
use mesh::core::security::ConnectionInfo;
use mesh::hyper::{MeshClient, MeshServerLayer};
use mesh::policy::{Endpoint, MtlsMode, PeerAuthentication, Policy, Service, UpstreamTls};
use support::identity::{identity, plane_with_ca, spiffe};
use tokio::net::TcpListener;

/// A STRICT `api` server that answers with the caller's SPIFFE ID.
async fn strict_server(mesh: Mesh) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = tower::service_fn(|req: Request<Incoming>| async move {
        let caller = req
            .extensions()
            .get::<ConnectionInfo>()
            .and_then(|c| c.peer.as_ref())
            .map(ToString::to_string)
            .unwrap_or_default();
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(caller))))
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let layer = MeshServerLayer::new(&mesh, "api");
    tokio::spawn(async move {
        layer
            .serve(listener, app, async {
                let _ = stopped.await;
            })
            .await;
    });
    (addr, stop)
}

fn strict() -> PeerAuthentication {
    PeerAuthentication {
        name: "default".into(),
        namespace: "istio-system".into(),
        selector: None,
        mode: Some(MtlsMode::Strict),
    }
}

fn client_policy(addr: SocketAddr) -> Policy {
    Policy::builder()
        .service(
            Service::new("api")
                .endpoint(Endpoint::new(addr))
                .tls(UpstreamTls::mutual([spiffe("api")])),
        )
        .build()
        .expect("valid policy")
}

#[tokio::test]
async fn hyper_services_speak_mutual_tls_over_http1_and_http2() {
    let (plane, _dir) = plane_with_ca().await;
    let server_mesh = Mesh::new(
        Policy::builder()
            .peer_authentication(strict())
            .build()
            .expect("valid policy"),
    );
    server_mesh.set_identity(identity(&plane, "api").await);
    let (addr, _stop) = strict_server(server_mesh).await;

    let client_mesh = Mesh::new(client_policy(addr));
    client_mesh.set_identity(identity(&plane, "web").await);
    for client in [
        MeshClient::new(&client_mesh, "api").expect("target"),
        MeshClient::http2(&client_mesh, "api").expect("target"),
    ] {
        let reply = send(&client, get("/whoami")).await.expect("reply");
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{:?}: {}",
            client.version(),
            reply.body
        );
        assert_eq!(
            reply.body,
            spiffe("web").to_string(),
            "{:?}",
            client.version()
        );
    }
}

#[tokio::test]
async fn a_plaintext_caller_of_a_strict_hyper_server_gets_401_naming_the_policy() {
    let (plane, _dir) = plane_with_ca().await;
    let server_mesh = Mesh::new(
        Policy::builder()
            .peer_authentication(strict())
            .build()
            .expect("valid policy"),
    );
    server_mesh.set_identity(identity(&plane, "api").await);
    let (addr, _stop) = strict_server(server_mesh).await;

    let plain = Mesh::new(
        Policy::builder()
            .service(Service::new("api").endpoint(Endpoint::new(addr)))
            .build()
            .expect("valid policy"),
    );
    let reply = send(
        &MeshClient::new(&plain, "api").expect("target"),
        get("/whoami"),
    )
    .await
    .expect("reply");
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert!(
        reply
            .body
            .contains("PeerAuthentication istio-system/default requires mutual TLS, and this connection is plaintext"),
        "{}",
        reply.body
    );
}
