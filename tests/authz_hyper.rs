//! Authorization on a hyper server, driven with raw HTTP/1.1 requests so
//! that no client library tidies the path first: a corpus of path and
//! header variants tries to slip past `DENY /admin`, and none reaches the
//! admin handler; the application sees the path that was authorized.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use mesh::Mesh;
use mesh::authz::{
    Action, AuthorizationPolicy, Condition, ConditionKey, Operation, Rule, StringMatch,
};
use mesh::hyper::MeshServerLayer;
use mesh::policy::Policy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the application saw: every path that reached it, and how many
/// reached the admin handler.
#[derive(Clone, Default)]
struct Seen {
    paths: Arc<Mutex<Vec<String>>>,
    admin: Arc<Mutex<Vec<String>>>,
}

fn s(v: &str) -> StringMatch {
    StringMatch::parse(v).expect("valid match")
}

/// `DENY` the admin paths, and `DENY` anyone claiming to be mallory.
fn policy() -> Policy {
    let deny_admin = AuthorizationPolicy {
        name: "deny-admin".into(),
        namespace: "default".into(),
        selector: None,
        action: Action::Deny,
        rules: vec![Rule {
            to: vec![Operation {
                paths: vec![s("/admin"), s("/admin/*")],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let deny_mallory = AuthorizationPolicy {
        name: "deny-mallory".into(),
        namespace: "default".into(),
        selector: None,
        action: Action::Deny,
        rules: vec![Rule {
            when: vec![Condition {
                key: ConditionKey::parse("request.headers[x-user]").expect("valid key"),
                values: vec![s("mallory")],
                not_values: vec![],
            }],
            ..Default::default()
        }],
    };
    Policy::builder()
        .authorization_policy(deny_admin)
        .authorization_policy(deny_mallory)
        .build()
        .expect("valid policy")
}

/// A server whose router is exact and case-sensitive, as Rust routers are.
async fn start(seen: Seen) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mesh = Mesh::new(policy());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = tower::service_fn(move |req: Request<Incoming>| {
        let seen = seen.clone();
        async move {
            let path = req.uri().path().to_owned();
            seen.paths.lock().expect("lock").push(path.clone());
            let status = if path == "/admin" || path.starts_with("/admin/") {
                seen.admin.lock().expect("lock").push(path);
                StatusCode::OK
            } else if path.starts_with("/public") {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            let mut res = Response::new(Full::new(Bytes::new()));
            *res.status_mut() = status;
            Ok::<_, Infallible>(res)
        }
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let layer = MeshServerLayer::new(&mesh, "admin-api");
    tokio::spawn(async move {
        let _mesh = mesh;
        layer
            .serve(listener, app, async {
                let _ = stopped.await;
            })
            .await;
    });
    (addr, stop)
}

/// Sends one raw request and returns the response's status code.
async fn raw(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: admin-api\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn no_path_variant_slips_past_deny_admin() {
    let seen = Seen::default();
    let (addr, _stop) = start(seen.clone()).await;
    let corpus = [
        "/admin",
        "/admin/",
        "/admin/users",
        "//admin",
        "///admin/users",
        "/./admin",
        "/public/../admin",
        "/%61dmin",
        "/%61%64%6d%69%6e",
        "/%2e%2e/admin",
        "/%2E/admin",
        "/public/%2e%2e/admin",
        "/public/.%2e/admin",
        "/%2Fadmin",
        "/%2fadmin",
        "/public%2F..%2Fadmin",
        "/public/..%2Fadmin",
        "/%5Cadmin",
        "/public/..%5Cadmin",
        "/public\\..\\admin",
        "/admin?x=1",
        "/admin?/public",
        "/admin#frag",
        "/admin/.",
        "/admin/x/..",
        "/ADMIN",
        "/Admin/users",
        "/admin%00",
        "/%00/admin",
        "/%zzadmin",
        "/admin%2",
        "/admin;x",
    ];
    for target in corpus {
        let status = raw(addr, target, &[]).await;
        assert_ne!(status, 200, "{target} must not be served");
        assert!(status != 0, "{target}: no response");
    }
    assert_eq!(
        seen.admin.lock().expect("lock").as_slice(),
        &[] as &[String],
        "no variant reached the admin handler"
    );
}

#[tokio::test]
async fn denied_requests_name_the_policy_and_bad_paths_are_rejected() {
    let (addr, _stop) = start(Seen::default()).await;
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /%2e%2e/admin HTTP/1.1\r\nHost: admin-api\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = String::new();
    stream.read_to_string(&mut buf).await.expect("read");
    assert!(buf.starts_with("HTTP/1.1 403"), "{buf}");
    assert!(
        buf.contains("permission denied: denied by AuthorizationPolicy default/deny-admin"),
        "{buf}"
    );
    assert!(buf.contains("x-mesh-error: permission_denied"), "{buf}");
    assert_eq!(raw(addr, "/%zzpublic", &[]).await, 400);
}

#[tokio::test]
async fn header_variants_do_not_slip_past_a_deny_condition() {
    let (addr, _stop) = start(Seen::default()).await;
    assert_eq!(raw(addr, "/public", &[("x-user", "alice")]).await, 200);
    for headers in [
        vec![("x-user", "mallory")],
        vec![("X-User", "mallory")],
        vec![("x-user", "alice"), ("x-user", "mallory")],
        vec![("x-user", "mallory"), ("x-user", "alice")],
    ] {
        assert_eq!(raw(addr, "/public", &headers).await, 403, "{headers:?}");
    }
}

#[tokio::test]
async fn the_application_sees_the_path_that_was_authorized() {
    let seen = Seen::default();
    let (addr, _stop) = start(seen.clone()).await;
    assert_eq!(raw(addr, "/public/x/..//%79?q=%2F", &[]).await, 200);
    assert_eq!(
        seen.paths.lock().expect("lock").as_slice(),
        &["/public/y".to_owned()]
    );
}
