//! [`MeshClient`]: a tower service that sends HTTP requests to one service
//! through the mesh's outbound stack.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri, Version};
use http_body_util::Full;
use hyper::body::Incoming;
use mesh_core::body::MeshBody;
use mesh_core::client::{ClientStack, client_stack};
use mesh_core::protocol::Protocol;
use mesh_core::telemetry::MetricsBody;
use mesh_core::transport::ConnectSettings;
use mesh_core::{BoxError, Mesh};
use tower::ServiceExt;
use tower_service::Service;

use crate::connector::{HttpVersion, HyperConnector};

/// The body of a response from a [`MeshClient`]: the destination's body,
/// or the plain-text message of the mesh's own reply.
pub type ResponseBody = MeshBody<MetricsBody<Incoming>>;

type Stack<B> = ClientStack<HyperConnector, B>;

/// Request bodies a [`MeshClient`] can send: bytes, movable between
/// threads, and `Unpin` so that a complete body can be read up front and
/// replayed on retries. [`Full<Bytes>`](Full), `Empty<Bytes>` and
/// `BoxBody<Bytes, E>` (with `Sync` errors) qualify; it is implemented for
/// every type that does.
pub trait RequestBody:
    http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Sync + Unpin + 'static
{
}

impl<B> RequestBody for B where
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Sync + Unpin + 'static
{
}

/// A target that is not a valid `host[:port]`.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid mesh target {target:?}: expected host[:port], such as \"attendees:8080\" ({reason})"
)]
pub struct InvalidTarget {
    target: String,
    reason: String,
}

impl InvalidTarget {
    /// The target as given.
    pub fn target(&self) -> &str {
        &self.target
    }
}

/// Parses `target` as the authority requests will carry.
fn parse_target(target: &str) -> Result<Authority, InvalidTarget> {
    let invalid = |reason: String| InvalidTarget {
        target: target.to_owned(),
        reason,
    };
    let authority = target
        .parse::<Authority>()
        .map_err(|e| invalid(e.to_string()))?;
    if authority.as_str().contains('@') {
        return Err(invalid("user info is not allowed".to_owned()));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(invalid("the host is empty".to_owned()));
    }
    let rest = authority.as_str().strip_prefix(host).unwrap_or_default();
    if !rest.is_empty() && authority.port_u16().is_none() {
        return Err(invalid("the port is not a number up to 65535".to_owned()));
    }
    Ok(authority)
}

/// A client for one service through the mesh, speaking plain HTTP.
///
/// Each request is routed by the mesh's current policy (path, method,
/// headers, weights), given the route's timeout and retries, balanced over
/// the destination's endpoints, traced and counted. The mesh's own failures
/// come back as responses, never as errors: 404 for no route, 503 for no
/// healthy endpoint or a failed connection, 504 for a timeout, each with a
/// plain-text body saying what decided and an `x-mesh-error` header naming
/// the kind. So the service's error type is [`Infallible`].
///
/// Requests may carry only a path (`/users`): the client gives them the
/// scheme `http` and the target as authority, and over HTTP/1.1 a `Host`
/// header when they have none. Request bodies of up to 64 KiB that are
/// complete when sent (such as [`Full`]) can be retried.
///
/// Cloning is cheap and clones share connections.
///
/// ```no_run
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use mesh_core::{Mesh, policy::Policy};
/// use mesh_hyper::MeshClient;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let mesh = Mesh::new(Policy::empty());
/// let client = MeshClient::new(&mesh, "attendees:8080")?;
/// let req = http::Request::get("/users").body(Full::new(Bytes::new()))?;
/// let res = client.request(req).await;
/// println!("{} {:?}", res.status(), res.into_body().collect().await?.to_bytes());
/// # Ok(())
/// # }
/// ```
pub struct MeshClient<B: RequestBody = Full<Bytes>> {
    stack: Stack<B>,
    authority: Authority,
    /// The `Host` header for HTTP/1.1 requests that have none.
    host: Option<HeaderValue>,
    target: Arc<str>,
    version: HttpVersion,
}

impl<B: RequestBody> Clone for MeshClient<B> {
    fn clone(&self) -> Self {
        Self {
            stack: self.stack.clone(),
            authority: self.authority.clone(),
            host: self.host.clone(),
            target: self.target.clone(),
            version: self.version,
        }
    }
}

impl<B: RequestBody> std::fmt::Debug for MeshClient<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshClient")
            .field("target", &self.target)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<B: RequestBody> MeshClient<B> {
    /// A client for `target`, the host the policy routes (with the port
    /// callers use, if any), speaking HTTP/1.1 with pooled connections.
    /// Nothing connects until the first request.
    pub fn new(mesh: &Mesh, target: &str) -> Result<Self, InvalidTarget> {
        Self::with_settings(mesh, target, HttpVersion::Http1, ConnectSettings::default())
    }

    /// A client for `target` speaking HTTP/2 with prior knowledge (h2c),
    /// one multiplexed connection per endpoint.
    pub fn http2(mesh: &Mesh, target: &str) -> Result<Self, InvalidTarget> {
        Self::with_settings(mesh, target, HttpVersion::Http2, ConnectSettings::default())
    }

    /// A client for `target` speaking `version`, with connection settings.
    pub fn with_settings(
        mesh: &Mesh,
        target: &str,
        version: HttpVersion,
        settings: ConnectSettings,
    ) -> Result<Self, InvalidTarget> {
        let authority = parse_target(target)?;
        // An authority is always a valid header value.
        let host = HeaderValue::from_str(authority.as_str()).ok();
        let connector = HyperConnector::new(version, settings);
        Ok(Self {
            stack: client_stack(mesh, target, Protocol::Http, connector),
            authority,
            host,
            target: target.into(),
            version,
        })
    }

    /// The target this client was built for.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The HTTP version it speaks to endpoints.
    pub fn version(&self) -> HttpVersion {
        self.version
    }

    /// Gives a request that carries only a path the scheme and the target
    /// as authority (routing matches on the authority, and both HTTP
    /// versions need it), and the HTTP version the client speaks.
    fn add_origin(&self, req: &mut Request<B>) {
        if req.uri().authority().is_none() {
            let mut parts = std::mem::take(req.uri_mut()).into_parts();
            parts.scheme = Some(Scheme::HTTP);
            parts.authority = Some(self.authority.clone());
            if parts.path_and_query.is_none() {
                parts.path_and_query = Some(PathAndQuery::from_static("/"));
            }
            // Scheme, authority and path are all valid by construction.
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
        match self.version {
            HttpVersion::Http1 => {
                if !req.headers().contains_key(HOST) {
                    let host = match req.uri().authority() {
                        Some(a) if *a != self.authority => HeaderValue::from_str(a.as_str()).ok(),
                        _ => self.host.clone(),
                    };
                    if let Some(host) = host {
                        req.headers_mut().insert(HOST, host);
                    }
                }
            }
            HttpVersion::Http2 => *req.version_mut() = Version::HTTP_2,
        }
    }
}

impl<B: RequestBody> MeshClient<B>
where
    Self: Service<Request<B>, Response = Response<ResponseBody>, Error = Infallible>,
{
    /// Sends one request and returns the response: the destination's, or
    /// the mesh's own reply when it could not get one.
    pub async fn request(&self, req: Request<B>) -> Response<ResponseBody> {
        match self.clone().oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        }
    }
}

impl<B: RequestBody> Service<Request<B>> for MeshClient<B>
where
    Stack<B>: Service<Request<B>, Error = Infallible>,
{
    type Response = <Stack<B> as Service<Request<B>>>::Response;
    type Error = Infallible;
    type Future = <Stack<B> as Service<Request<B>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.stack.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        self.add_origin(&mut req);
        self.stack.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::policy::Policy;

    #[test]
    fn invalid_targets_are_refused_with_the_target_in_the_message() {
        let mesh = Mesh::new(Policy::empty());
        for bad in [
            "",
            "a b",
            "user@attendees:80",
            "attendees:port",
            "attendees:",
            "attendees:70000",
            "/users",
        ] {
            let err = MeshClient::<Full<Bytes>>::new(&mesh, bad).unwrap_err();
            assert_eq!(err.target(), bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        assert!(MeshClient::<Full<Bytes>>::new(&mesh, "attendees:8080").is_ok());
        assert!(MeshClient::<Full<Bytes>>::http2(&mesh, "attendees").is_ok());
        assert!(MeshClient::<Full<Bytes>>::new(&mesh, "[::1]:8080").is_ok());
    }

    #[test]
    fn path_only_requests_get_scheme_authority_and_host() {
        let mesh = Mesh::new(Policy::empty());
        let client = MeshClient::<Full<Bytes>>::new(&mesh, "attendees:8080").unwrap();
        let mut req = Request::get("/users?x=1").body(Full::default()).unwrap();
        client.add_origin(&mut req);
        assert_eq!(req.uri(), "http://attendees:8080/users?x=1");
        assert_eq!(req.headers()[HOST], "attendees:8080");

        let mut req = Request::get("/users")
            .header(HOST, "other")
            .body(Full::default())
            .unwrap();
        client.add_origin(&mut req);
        assert_eq!(req.headers()[HOST], "other", "an explicit Host stays");

        let h2 = MeshClient::<Full<Bytes>>::http2(&mesh, "attendees:8080").unwrap();
        let mut req = Request::get("/users").body(Full::default()).unwrap();
        h2.add_origin(&mut req);
        assert_eq!(req.uri(), "http://attendees:8080/users");
        assert!(
            !req.headers().contains_key(HOST),
            "HTTP/2 carries :authority"
        );
        assert_eq!(req.version(), Version::HTTP_2);
    }
}
