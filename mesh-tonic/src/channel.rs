use std::convert::Infallible;
use std::task::{Context, Poll};

use http::uri::{Authority, Scheme};
use http::{Request, Uri};
use mesh_core::Mesh;
use mesh_core::client::{ClientStack, client_stack};
use mesh_core::protocol::Protocol;
use mesh_core::transport::{ConnectSettings, Http2Connector};
use tonic::body::Body;
use tower_service::Service;

type Stack = ClientStack<Http2Connector, Body>;

/// A target that is not a valid `host[:port]`.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid mesh target {target:?}: expected host[:port], such as \"attendees:50051\" ({source})"
)]
pub struct InvalidTarget {
    target: String,
    #[source]
    source: http::uri::InvalidUri,
}

/// A channel to one service through the mesh, for any tonic-generated
/// client: `AttendeesClient::new(MeshChannel::new(&mesh, "attendees:50051")?)`.
///
/// Each call is routed by the mesh's current policy, given the route's
/// deadline and retries, balanced over the destination's endpoints (one
/// HTTP/2 connection each, no `Buffer`), traced and counted. The mesh's own
/// failures come back as gRPC statuses: `UNIMPLEMENTED` for no route,
/// `UNAVAILABLE` for no healthy endpoint, `DEADLINE_EXCEEDED` for a
/// timeout, each with a message saying what decided. Cloning is cheap and
/// clones share connections.
#[derive(Clone)]
pub struct MeshChannel {
    stack: Stack,
    authority: Authority,
}

impl std::fmt::Debug for MeshChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshChannel")
            .field("target", &self.authority)
            .finish_non_exhaustive()
    }
}

impl MeshChannel {
    /// A channel to `target`, the host the policy routes (with the port
    /// callers use, if any). Nothing connects until the first call.
    pub fn new(mesh: &Mesh, target: &str) -> Result<Self, InvalidTarget> {
        Self::with_settings(mesh, target, ConnectSettings::default())
    }

    /// As [`MeshChannel::new`], with connection settings.
    pub fn with_settings(
        mesh: &Mesh,
        target: &str,
        settings: ConnectSettings,
    ) -> Result<Self, InvalidTarget> {
        let authority = target
            .parse::<Authority>()
            .map_err(|source| InvalidTarget {
                target: target.to_owned(),
                source,
            })?;
        Ok(Self {
            stack: client_stack(mesh, target, Protocol::Grpc, Http2Connector::new(settings)),
            authority,
        })
    }

    /// Gives a request from a generated client (which carries only the
    /// path) the scheme and the target as authority, as tonic's own
    /// `Channel` does: routing matches on the authority, and HTTP/2 needs it.
    fn add_origin(&self, req: &mut Request<Body>) {
        if req.uri().authority().is_some() {
            return;
        }
        let mut parts = std::mem::take(req.uri_mut()).into_parts();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(self.authority.clone());
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
        }
        // Scheme, authority and path are all valid by construction.
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

impl Service<Request<Body>> for MeshChannel {
    type Response = <Stack as Service<Request<Body>>>::Response;
    type Error = Infallible;
    type Future = <Stack as Service<Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.stack.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        self.add_origin(&mut req);
        self.stack.call(req)
    }
}
