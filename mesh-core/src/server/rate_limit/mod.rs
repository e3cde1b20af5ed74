//! Inbound local rate limiting: refuses requests beyond the policy's token
//! bucket with 429 (and `retry-after`) or `RESOURCE_EXHAUSTED`.

mod layer;
mod limiter;

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

pub use super::future::ResponseFuture;
pub use layer::RateLimitLayer;
pub use limiter::Limiter;

use crate::body::MeshBody;
use crate::error::MeshError;
use crate::mesh::Mesh;
use crate::protocol::Protocol;

/// Applies the mesh's rate limits for `host` to every request.
#[derive(Clone, Debug)]
pub struct RateLimit<S> {
    inner: S,
    mesh: Mesh,
    host: std::sync::Arc<str>,
    protocol: Protocol,
}

impl<S, B, ResB> Service<Request<B>> for RateLimit<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    type Response = Response<MeshBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let snapshot = self.mesh.snapshot();
        let path = req.uri().path();
        for limiter in snapshot.limiters() {
            if !limiter.applies(&self.host, path) {
                continue;
            }
            if let Err(retry_after) = limiter.try_acquire() {
                let err = MeshError::RateLimited {
                    policy: limiter.policy().name.clone(),
                    retry_after,
                };
                tracing::debug!(host = %self.host, %path, error = %err, "request refused");
                self.mesh
                    .metrics()
                    .record_rate_limited(&self.host, &limiter.policy().name);
                return ResponseFuture::rejected(self.protocol.local_reply(&err));
            }
        }
        ResponseFuture::inner(self.inner.call(req))
    }
}
