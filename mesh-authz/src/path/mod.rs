//! Request path normalization, before authorization and routing.
//!
//! A path rule is only as good as the agreement between the path it was
//! checked against and the path the application routes on. [`normalize`]
//! turns the request-target into one canonical path, or refuses it; the
//! server authorizes that path and hands the application exactly
//! [`NormalizedPath::path_and_query`], so both see the same thing.
//!
//! The rules are Envoy's safe defaults plus Istio's
//! `DECODE_AND_MERGE_SLASHES`:
//!
//! 1. the fragment (`#...`) is dropped and the query (`?...`) split off,
//!    untouched;
//! 2. the path must start with `/`;
//! 3. malformed percent-encoding, encoded or raw control characters (NUL
//!    included), raw spaces and non-ASCII bytes are refused;
//! 4. percent-encoded unreserved characters are decoded (`/%61dmin` is
//!    `/admin`), `%2F`, `%5C` and raw `\` become `/`; every other
//!    percent-encoding is kept, with uppercase hex. Decoding happens once:
//!    `%252F` stays `%252F`;
//! 5. repeated slashes are merged and `.`/`..` segments resolved, including
//!    those decoding produced (`/%2e%2e/admin` is `/admin`).
//!
//! What is deliberately *not* done:
//!
//! - paths stay case-sensitive, as Istio's path matching and Rust routers
//!   are: `/ADMIN` is a different path and does not reach a `/admin`
//!   handler;
//! - `;` path parameters are not stripped (Envoy does not either):
//!   `/admin;x` stays `/admin;x`, which a tonic or axum router does not
//!   route to `/admin`; likewise a `..;` segment is an ordinary name, not
//!   `..`. A policy that must cover such paths should say so (`/admin*`).
//!
//! ```
//! use mesh_authz::path::{normalize, PathError};
//!
//! let n = normalize("/foo/..%2F%61dmin?x=%2F#top")?;
//! assert_eq!(n.path, "/admin");
//! assert_eq!(n.query.as_deref(), Some("x=%2F"));
//! assert_eq!(n.path_and_query(), "/admin?x=%2F");
//! assert_eq!(normalize("/admin%00"), Err(PathError::EncodedControl { byte: 0, at: 6 }));
//! # Ok::<(), PathError>(())
//! ```

use std::borrow::Cow;

mod decode;
mod error;
mod segments;

pub use error::PathError;

/// A request-target after [`normalize`]: the canonical path to authorize
/// and route on, and the query as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalizedPath {
    /// The normalized path: starts with `/`, no query, no fragment.
    pub path: String,
    /// The query after `?`, untouched; `None` when there was no `?`.
    pub query: Option<String>,
}

impl NormalizedPath {
    /// The path and query to give the application (`/a?b`, or `/a`).
    pub fn path_and_query(&self) -> Cow<'_, str> {
        match &self.query {
            None => Cow::Borrowed(&self.path),
            Some(query) => Cow::Owned(format!("{}?{query}", self.path)),
        }
    }
}

/// Normalizes a request-target's path-and-query (see the [module
/// docs](self) for the rules).
///
/// # Errors
///
/// A [`PathError`] when the path does not start with `/`, has malformed
/// percent-encoding, or carries control or otherwise invalid characters.
pub fn normalize(raw: &str) -> Result<NormalizedPath, PathError> {
    let without_fragment = raw.split_once('#').map_or(raw, |(before, _)| before);
    let (path, query) = match without_fragment.split_once('?') {
        Some((path, query)) => (path, Some(query.to_owned())),
        None => (without_fragment, None),
    };
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode::decode(path)?;
    Ok(NormalizedPath {
        path: segments::resolve(&decoded),
        query,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_query_and_drops_fragment() {
        let n = normalize("/a?b=1&c=%2F#frag?x").unwrap();
        assert_eq!(n.path, "/a");
        assert_eq!(n.query.as_deref(), Some("b=1&c=%2F"));
        let n = normalize("/a#x?y").unwrap();
        assert_eq!((n.path.as_str(), n.query), ("/a", None));
        let n = normalize("/a?").unwrap();
        assert_eq!(n.query.as_deref(), Some(""));
        assert_eq!(n.path_and_query(), "/a?");
        assert_eq!(normalize("/a").unwrap().path_and_query(), "/a");
    }

    #[test]
    fn requires_a_leading_slash() {
        for raw in [
            "",
            "*",
            "admin",
            "\\admin",
            "?x",
            "#x",
            "http://h/a",
            "%2Fadmin",
        ] {
            assert_eq!(normalize(raw), Err(PathError::NotAbsolute), "{raw:?}");
        }
    }

    #[test]
    fn decodes_then_resolves() {
        for (raw, path) in [
            ("/foo/%2e%2e/admin", "/admin"),
            ("/foo%2F..%2Fadmin", "/admin"),
            ("/foo\\..\\admin", "/admin"),
            ("/a/%2E/b", "/a/b"),
            ("/a/.%2e/b", "/b"),
            ("/%2Fa//b", "/a/b"),
        ] {
            assert_eq!(normalize(raw).unwrap().path, path, "{raw}");
        }
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            normalize("/%zz").unwrap_err().to_string(),
            "invalid percent-encoding at byte 1 of the request path"
        );
        assert_eq!(
            normalize("/a%00").unwrap_err().to_string(),
            "request path contains an encoded control character (%00) at byte 2"
        );
        assert_eq!(
            normalize("x").unwrap_err().to_string(),
            "request path must start with `/`"
        );
    }
}
