//! The admin HTTP API (JSON over HTTP/1.1):
//!
//! | path | answer |
//! |---|---|
//! | `GET /healthz` | 200 while the control plane serves |
//! | `GET /readyz` | 200 once a configuration has loaded, 503 before |
//! | `GET /config` | the policy being served, its snapshot version and the registry's leases |
//! | `GET /clients` | each connected client: node, and per type URL its subscription, the version it accepted and its last rejection |
//! | `GET /errors` | the last rejected configuration's problems (file, line, resource, field, message, hint) |

mod view;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::ads::Clients;
use crate::store::Store;

/// What the admin API reads.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    pub(crate) store: Arc<Store>,
    pub(crate) clients: Arc<Clients>,
}

impl Admin {
    /// Serves connections from `listener` until `shutdown` turns true.
    pub(crate) async fn serve(self, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let admin = self.clone();
                        conns.spawn(async move {
                            let svc = service_fn(move |req| {
                                let res = admin.handle(&req);
                                async move { Ok::<_, Infallible>(res) }
                            });
                            if let Err(e) = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), svc)
                                .await
                            {
                                tracing::debug!("admin connection ended: {e}");
                            }
                        });
                    }
                    Err(e) => tracing::warn!("admin accept failed: {e}"),
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
        conns.shutdown().await;
    }

    fn handle(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"error": "only GET is supported"}),
            );
        }
        let snapshot = self.store.snapshot();
        match req.uri().path() {
            "/healthz" => reply(StatusCode::OK, json!({"status": "serving"})),
            "/readyz" if snapshot.is_ready() => reply(
                StatusCode::OK,
                json!({"status": "ready", "version": snapshot.version()}),
            ),
            "/readyz" => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "no configuration loaded yet", "hint": "see /errors"}),
            ),
            "/config" => reply(
                StatusCode::OK,
                json!({
                    "version": snapshot.version(),
                    "ready": snapshot.is_ready(),
                    "policy": view::policy(snapshot.policy()),
                    "registered": view::leases(&self.store.leases()),
                }),
            ),
            "/clients" => reply(StatusCode::OK, json!({ "clients": self.clients.list() })),
            "/errors" => {
                let (rejection, now) = self.store.rejection();
                reply(StatusCode::OK, view::errors(rejection.as_ref(), now))
            }
            other => reply(
                StatusCode::NOT_FOUND,
                json!({
                    "error": format!("no such path {other:?}"),
                    "paths": ["/healthz", "/readyz", "/config", "/clients", "/errors"],
                }),
            ),
        }
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    res
}
