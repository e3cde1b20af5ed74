//! Inbound peer authentication and authorization: STRICT mutual TLS is
//! enforced per request, the path is normalized, and the workload's
//! `AuthorizationPolicy`s decide (DENY before ALLOW). Refusals are 401 /
//! UNAUTHENTICATED, 403 / PERMISSION_DENIED or 400 / INVALID_ARGUMENT,
//! naming the policy that decided.

mod layer;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use http::{Request, Response, Uri};
use mesh_authz::{Decision, MtlsMode, RequestAttrs, path::normalize};
use tower_service::Service;

pub use layer::AuthorizeLayer;

use super::ResponseFuture;
use crate::error::MeshError;
use crate::mesh::Mesh;
use crate::protocol::Protocol;
use crate::security::ConnectionInfo;
use crate::security::workload::SecurityCache;

/// Enforces the workload's peer authentication and authorization policies.
#[derive(Clone, Debug)]
pub struct Authorize<S> {
    inner: S,
    mesh: Mesh,
    service: Arc<str>,
    cache: Arc<SecurityCache>,
    protocol: Protocol,
}

impl<S> Authorize<S> {
    /// Why a request on `conn` does not meet STRICT mutual TLS, if it
    /// does not.
    fn strict_violation(conn: Option<&ConnectionInfo>, policy: Option<&str>) -> Option<String> {
        let by = policy.map_or_else(
            || "the mesh-wide default".to_owned(),
            |p| format!("PeerAuthentication {p}"),
        );
        match conn {
            Some(c) if c.peer.is_some() => None,
            Some(c) if c.tls => Some(format!(
                "{by} requires mutual TLS, and the caller presented no certificate"
            )),
            Some(_) => Some(format!(
                "{by} requires mutual TLS, and this connection is plaintext"
            )),
            None => Some(format!(
                "{by} requires mutual TLS, and this server does not accept connections through \
                 the mesh (serve with mesh_tonic's or mesh_hyper's MeshServerLayer)"
            )),
        }
    }
}

impl<S, B, ResB> Service<Request<B>> for Authorize<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    type Response = Response<crate::body::MeshBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let snapshot = self.mesh.snapshot();
        let conn = req.extensions().get::<ConnectionInfo>();
        let security = self
            .cache
            .get(&self.mesh, &snapshot, conn.map(|c| c.local_addr));
        // A connection opened while this workload's certificate was valid
        // must not outlive it: fail closed once it expires.
        if conn.is_some_and(|c| c.tls)
            && let Some(identity) = self.mesh.identity()
            && let Err(e) = identity.current()
        {
            return self.refuse(
                MeshError::Identity {
                    reason: e.to_string(),
                },
                "",
                &req,
            );
        }
        if security.mode == MtlsMode::Strict
            && let Some(reason) = Self::strict_violation(conn, security.mode_policy.as_deref())
        {
            let policy = security.mode_policy.as_deref().unwrap_or("");
            return self.refuse(MeshError::Unauthenticated { reason }, policy, &req);
        }
        if security.authorizer.is_empty() {
            return ResponseFuture::inner(self.inner.call(req));
        }
        let raw = req.uri().path_and_query().map_or("/", PathAndQuery::as_str);
        let normalized = match normalize(raw) {
            Ok(n) => n,
            Err(e) => {
                return self.refuse(
                    MeshError::InvalidPath {
                        reason: e.to_string(),
                    },
                    "",
                    &req,
                );
            }
        };
        let principal = conn.and_then(|c| c.peer.as_ref()).map(|p| p.principal());
        let host = req
            .uri()
            .authority()
            .map(|a| a.as_str())
            .or_else(|| {
                req.headers()
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
            })
            .unwrap_or("");
        let attrs = RequestAttrs {
            principal: principal.as_deref(),
            host,
            method: req.method(),
            path: &normalized.path,
            port: conn.map_or(0, |c| c.local_addr.port()),
            headers: req.headers(),
        };
        if let decision @ Decision::Deny { policy, .. } = &security.authorizer.check(&attrs) {
            return self.refuse(
                MeshError::PermissionDenied {
                    decision: decision.to_string(),
                },
                policy,
                &req,
            );
        }
        // The application must see exactly the path that was authorized.
        let rebuilt = normalized.path_and_query();
        if rebuilt != raw
            && let Err(reason) = replace_path(req.uri_mut(), &rebuilt)
        {
            return self.refuse(MeshError::InvalidPath { reason }, "", &req);
        }
        ResponseFuture::inner(self.inner.call(req))
    }
}

/// Gives `uri` the path (and query) `path_and_query`, keeping the rest.
fn replace_path(uri: &mut Uri, path_and_query: &str) -> Result<(), String> {
    let pq = PathAndQuery::try_from(path_and_query).map_err(|e| e.to_string())?;
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = Some(pq);
    *uri = Uri::from_parts(parts).map_err(|e| e.to_string())?;
    Ok(())
}

impl<S> Authorize<S> {
    /// Answers `req` with `err`, counting the refusal against `policy`.
    fn refuse<B, F, ResB>(
        &self,
        err: MeshError,
        policy: &str,
        req: &Request<B>,
    ) -> ResponseFuture<F, ResB> {
        self.mesh
            .metrics()
            .record_refused(&self.service, err.kind(), policy);
        let peer = req
            .extensions()
            .get::<ConnectionInfo>()
            .and_then(|c| c.peer.as_ref().map(ToString::to_string));
        tracing::info!(
            path = %req.uri().path(),
            peer = peer.as_deref().unwrap_or("(none)"),
            error = %err,
            "request refused"
        );
        ResponseFuture::rejected(self.protocol.local_reply(&err))
    }
}
