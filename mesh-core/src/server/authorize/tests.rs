//! The authorization layer alone, around an in-memory service.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use http::{Request, Response, StatusCode};
use mesh_authz::{
    Action, AuthorizationPolicy, MtlsMode, Operation, PeerAuthentication, Rule, StringMatch,
};
use tower::{Layer, ServiceExt};

use crate::mesh::Mesh;
use crate::policy::Policy;
use crate::protocol::Protocol;
use crate::security::ConnectionInfo;
use crate::server::ServerLayer;

fn deny_admin() -> AuthorizationPolicy {
    AuthorizationPolicy {
        name: "deny-admin".into(),
        namespace: "default".into(),
        selector: None,
        action: Action::Deny,
        rules: vec![Rule {
            to: vec![Operation {
                paths: vec![StringMatch::parse("/admin").unwrap()],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn strict() -> PeerAuthentication {
    PeerAuthentication {
        name: "strict".into(),
        namespace: "default".into(),
        selector: None,
        mode: Some(MtlsMode::Strict),
    }
}

/// Sends `req` through the server stack for `policy` over HTTP and
/// returns the status and the path the application saw, if it ran.
async fn send(policy: Policy, req: Request<()>) -> (StatusCode, Option<String>) {
    let (status, seen, _) = send_counted(policy, req).await;
    (status, seen)
}

/// [`send`], and the mesh's metrics afterwards.
async fn send_counted(policy: Policy, req: Request<()>) -> (StatusCode, Option<String>, String) {
    let seen = Arc::new(Mutex::new(None));
    let app = {
        let seen = seen.clone();
        tower::service_fn(move |req: Request<()>| {
            *seen.lock().unwrap() = Some(req.uri().path_and_query().unwrap().to_string());
            async { Ok::<_, Infallible>(Response::new(())) }
        })
    };
    let mesh = Mesh::new(policy);
    let svc = ServerLayer::new(&mesh, "api", Protocol::Http).layer(app);
    let res = svc.oneshot(req).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    (res.status(), seen, mesh.metrics().encode())
}

fn policy(
    build: impl FnOnce(crate::policy::PolicyBuilder) -> crate::policy::PolicyBuilder,
) -> Policy {
    build(Policy::builder()).build().unwrap()
}

fn conn(tls: bool, peer: bool) -> ConnectionInfo {
    ConnectionInfo {
        local_addr: "127.0.0.1:8080".parse().unwrap(),
        remote_addr: "127.0.0.1:40000".parse().unwrap(),
        tls,
        peer: peer.then(|| Arc::new("spiffe://cluster.local/ns/default/sa/web".parse().unwrap())),
    }
}

#[tokio::test]
async fn without_policies_requests_pass_untouched() {
    let req = Request::get("/a/../b").body(()).unwrap();
    let (status, seen) = send(Policy::empty(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen.as_deref(), Some("/a/../b"), "no policy, no rewrite");
}

#[tokio::test]
async fn the_application_sees_the_normalized_path_it_was_authorized_on() {
    let req = Request::get("/x//y/%2e%2e/z?q=1").body(()).unwrap();
    let (status, seen) = send(policy(|b| b.authorization_policy(deny_admin())), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen.as_deref(), Some("/x/z?q=1"));
}

#[tokio::test]
async fn a_denied_request_never_reaches_the_application() {
    let req = Request::get("/x/../admin").body(()).unwrap();
    let (status, seen, metrics) =
        send_counted(policy(|b| b.authorization_policy(deny_admin())), req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(seen, None);
    assert!(
        metrics.contains(
            r#"mesh_server_refused_total{service="api",reason="permission_denied",policy="default/deny-admin"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_path_that_cannot_be_normalized_is_a_bad_request() {
    let req = Request::get("/%zz").body(()).unwrap();
    let (status, seen) = send(policy(|b| b.authorization_policy(deny_admin())), req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(seen, None);
}

#[tokio::test]
async fn strict_refuses_every_request_without_a_verified_peer_and_says_why() {
    for (info, why) in [
        (None, "does not accept connections through the mesh"),
        (Some(conn(false, false)), "this connection is plaintext"),
        (
            Some(conn(true, false)),
            "the caller presented no certificate",
        ),
    ] {
        let mut req = Request::get("/x").body(()).unwrap();
        if let Some(info) = info {
            req.extensions_mut().insert(info);
        }
        let seen = Arc::new(Mutex::new(false));
        let app = {
            let seen = seen.clone();
            tower::service_fn(move |_req: Request<()>| {
                *seen.lock().unwrap() = true;
                async { Ok::<_, Infallible>(Response::new(())) }
            })
        };
        let mesh = Mesh::new(policy(|b| b.peer_authentication(strict())));
        let res = ServerLayer::new(&mesh, "api", Protocol::Grpc)
            .layer(app)
            .oneshot(req)
            .await
            .unwrap();
        let message = res.headers()["grpc-message"].to_str().unwrap().to_owned();
        assert_eq!(res.headers()["grpc-status"], "16", "{why}");
        assert!(
            message.contains("PeerAuthentication default/strict requires mutual TLS"),
            "{message}"
        );
        assert!(message.contains(why), "{message}");
        assert!(!*seen.lock().unwrap(), "{why}: the application ran");
    }
    let mut req = Request::get("/x").body(()).unwrap();
    req.extensions_mut().insert(conn(true, true));
    let (status, _) = send(policy(|b| b.peer_authentication(strict())), req).await;
    assert_eq!(status, StatusCode::OK, "a verified peer is let through");
}
