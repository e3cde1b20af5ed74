//! The mesh's own `LocalRateLimit` kind (`policy.mesh.rs/v1alpha1`): a
//! token bucket enforced by a service's servers.

use super::matching::string_match;
use super::walk::{Cx, Field, Shape};
use crate::policy::{LocalRateLimit, TokenBucket};

const SPEC: Shape = Shape {
    supported: &["host", "tokenBucket", "match"],
    unsupported: &[],
};

const TOKEN_BUCKET: Shape = Shape {
    supported: &["maxTokens", "tokensPerFill", "fillInterval"],
    unsupported: &[],
};

const MATCH: Shape = Shape {
    supported: &["uri"],
    unsupported: &[],
};

/// Reads a `LocalRateLimit`'s `spec`; `name` is its `metadata.name`.
/// `tokensPerFill` defaults to 1, as in Envoy.
pub(super) fn read(cx: &mut Cx, spec: &Field<'_>, name: &str) -> LocalRateLimit {
    let mut out = LocalRateLimit {
        name: name.to_owned(),
        host: String::new(),
        path: None,
        bucket: TokenBucket::per_second(1, 1),
    };
    let Some(obj) = spec.object(cx, SPEC) else {
        return out;
    };
    if let Some(host) = obj.required(cx, "host").and_then(|f| f.name(cx)) {
        host.clone_into(&mut out.host);
    }
    if let Some(bucket) = obj
        .required(cx, "tokenBucket")
        .and_then(|f| f.object(cx, TOKEN_BUCKET))
    {
        if let Some(n) = bucket.required(cx, "maxTokens").and_then(|f| f.u32(cx)) {
            out.bucket.max_tokens = n;
        }
        if let Some(n) = bucket.get("tokensPerFill").and_then(|f| f.u32(cx)) {
            out.bucket.tokens_per_fill = n;
        }
        if let Some(d) = bucket
            .required(cx, "fillInterval")
            .and_then(|f| f.duration(cx))
        {
            out.bucket.fill_interval = d;
        }
    }
    if let Some(m) = obj.get("match").and_then(|f| f.object(cx, MATCH)) {
        out.path = m.required(cx, "uri").and_then(|f| string_match(cx, &f));
    }
    out
}
