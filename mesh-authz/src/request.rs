//! The request attributes a decision reads, and their canonical forms.

use http::{HeaderMap, Method};

/// What [`Authorizer::check`](crate::Authorizer::check) knows about one
/// request. Everything is borrowed: building it costs nothing.
///
/// ```
/// use mesh_authz::RequestAttrs;
///
/// let headers = http::HeaderMap::new();
/// let req = RequestAttrs {
///     principal: Some("cluster.local/ns/web/sa/frontend"),
///     host: "cart.shop.svc:8080",
///     method: &http::Method::POST,
///     path: "/shop.Cart/Add",
///     port: 8080,
///     headers: &headers,
/// };
/// # let _ = req;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RequestAttrs<'a> {
    /// The caller's identity from its mTLS certificate, such as
    /// `cluster.local/ns/web/sa/frontend` (a leading `spiffe://` is
    /// ignored); `None` (or empty) for a plaintext caller.
    pub principal: Option<&'a str>,
    /// The request's authority (`:authority`, or `Host` in HTTP/1), as
    /// received: a port, a userinfo part and one trailing dot are ignored
    /// when matching hosts. The server should reject requests whose
    /// `:authority` and `Host` disagree before asking.
    pub host: &'a str,
    /// The HTTP method (always `POST` for gRPC).
    pub method: &'a Method,
    /// The path from [`path::normalize`](crate::path::normalize), without
    /// the query; the application must be handed this same path.
    pub path: &'a str,
    /// The server port the request arrived on.
    pub port: u16,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

/// [`RequestAttrs`] in the form the matchers compare against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request<'a> {
    /// The principal without `spiffe://`; `None` for plaintext.
    pub(crate) principal: Option<&'a str>,
    /// The namespace named in the principal.
    pub(crate) namespace: Option<&'a str>,
    /// The host without userinfo, port or trailing dot.
    pub(crate) host: &'a str,
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) port: u16,
    pub(crate) headers: &'a HeaderMap,
}

impl<'a> Request<'a> {
    pub(crate) fn new(attrs: &RequestAttrs<'a>) -> Self {
        let principal = attrs
            .principal
            .map(|p| p.strip_prefix("spiffe://").unwrap_or(p))
            .filter(|p| !p.is_empty());
        Request {
            principal,
            namespace: principal.and_then(namespace_of),
            host: host_of(attrs.host),
            method: attrs.method.as_str(),
            path: attrs.path,
            port: attrs.port,
            headers: attrs.headers,
        }
    }
}

/// The namespace of an Istio identity `<trust-domain>/ns/<ns>/sa/<sa>`;
/// `None` for any other shape.
fn namespace_of(principal: &str) -> Option<&str> {
    let mut parts = principal.split('/');
    let (_trust_domain, ns_tag, ns, sa_tag, _sa) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    (parts.next().is_none() && ns_tag == "ns" && sa_tag == "sa" && !ns.is_empty()).then_some(ns)
}

/// The host part of an authority: without `userinfo@`, `:port` or one
/// trailing dot (`Example.com.:443` → `Example.com`). IPv6 literals keep
/// their brackets (`[::1]:80` → `[::1]`).
fn host_of(authority: &str) -> &str {
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if host.starts_with('[') {
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        match host.split_once(':') {
            // A bare IPv6 address is not a valid authority; keep it whole.
            Some((name, port)) if !port.contains(':') => name,
            _ => host,
        }
    };
    host.strip_suffix('.')
        .filter(|h| !h.is_empty())
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_comes_from_the_principal() {
        assert_eq!(namespace_of("cluster.local/ns/web/sa/fe"), Some("web"));
        assert_eq!(namespace_of("td/ns//sa/fe"), None);
        assert_eq!(namespace_of("cluster.local/ns/web/sa/fe/x"), None);
        assert_eq!(namespace_of("cluster.local/sa/fe/ns/web"), None);
        assert_eq!(namespace_of("cluster.local/ns/web"), None);
        assert_eq!(namespace_of("web"), None);
    }

    #[test]
    fn host_drops_port_userinfo_and_trailing_dot() {
        for (authority, host) in [
            ("example.com", "example.com"),
            ("Example.com:8080", "Example.com"),
            ("example.com.", "example.com"),
            ("example.com.:443", "example.com"),
            ("user:pw@example.com:80", "example.com"),
            ("[::1]:8080", "[::1]"),
            ("[::1]", "[::1]"),
            ("::1", "::1"),
            ("10.0.0.1:80", "10.0.0.1"),
            ("", ""),
            (".", "."),
        ] {
            assert_eq!(host_of(authority), host, "{authority}");
        }
    }

    #[test]
    fn principal_loses_the_scheme_and_empty_is_plaintext() {
        let headers = HeaderMap::new();
        let attrs = |principal| RequestAttrs {
            principal,
            host: "h",
            method: &Method::GET,
            path: "/",
            port: 80,
            headers: &headers,
        };
        let req = Request::new(&attrs(Some("spiffe://td/ns/a/sa/b")));
        assert_eq!(req.principal, Some("td/ns/a/sa/b"));
        assert_eq!(req.namespace, Some("a"));
        let req = Request::new(&attrs(Some("")));
        assert_eq!((req.principal, req.namespace), (None, None));
        let req = Request::new(&attrs(Some("spiffe://")));
        assert_eq!((req.principal, req.namespace), (None, None));
    }
}
