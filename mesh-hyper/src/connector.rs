//! One connector type for both HTTP versions, so [`crate::MeshClient`] has
//! a single stack type whichever version it speaks.

use std::net::SocketAddr;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::Either;
use http::{Request, Response};
use hyper::body::Incoming;
use mesh_core::BoxError;
use mesh_core::MeshError;
use mesh_core::security::upstream::UpstreamSecurity;
use mesh_core::transport::{
    ConnectSettings, Connector, Http1Connector, Http1Endpoint, Http2Connector, Http2Endpoint,
};
use tower_service::Service;

/// The HTTP version a [`crate::MeshClient`] speaks to endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/1.1, with a pool of idle connections per endpoint.
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge (h2c): one multiplexed connection per
    /// endpoint.
    Http2,
}

/// Connects to endpoints over the chosen [`HttpVersion`]; the bottom of a
/// [`crate::MeshClient`]'s stack.
#[derive(Clone, Copy, Debug)]
pub struct HyperConnector {
    inner: Inner,
}

#[derive(Clone, Copy, Debug)]
enum Inner {
    Http1(Http1Connector),
    Http2(Http2Connector),
}

impl HyperConnector {
    /// A connector for `version` with the given settings.
    pub fn new(version: HttpVersion, settings: ConnectSettings) -> Self {
        let inner = match version {
            HttpVersion::Http1 => Inner::Http1(Http1Connector::new(settings)),
            HttpVersion::Http2 => Inner::Http2(Http2Connector::new(settings)),
        };
        Self { inner }
    }

    /// The HTTP version it speaks.
    pub fn version(&self) -> HttpVersion {
        match self.inner {
            Inner::Http1(_) => HttpVersion::Http1,
            Inner::Http2(_) => HttpVersion::Http2,
        }
    }
}

/// One endpoint's connection(s), made by a [`HyperConnector`].
pub struct HyperEndpoint<B> {
    inner: EndpointInner<B>,
}

// An endpoint lives in the balancer, one per address, and is cloned on the
// request path; boxing the larger HTTP/1.1 variant would cost an allocation
// per clone to save a few hundred bytes per address.
#[allow(clippy::large_enum_variant)]
enum EndpointInner<B> {
    Http1(Http1Endpoint<B>),
    Http2(Http2Endpoint<B>),
}

impl<B: Send + 'static> Clone for HyperEndpoint<B> {
    fn clone(&self) -> Self {
        let inner = match &self.inner {
            EndpointInner::Http1(e) => EndpointInner::Http1(e.clone()),
            EndpointInner::Http2(e) => EndpointInner::Http2(e.clone()),
        };
        Self { inner }
    }
}

impl<B> std::fmt::Debug for HyperEndpoint<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            EndpointInner::Http1(e) => e.fmt(f),
            EndpointInner::Http2(e) => e.fmt(f),
        }
    }
}

impl<B> Connector<B> for HyperConnector
where
    B: http_body::Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Body = Incoming;
    type Endpoint = HyperEndpoint<B>;

    fn endpoint(&self, addr: SocketAddr, security: UpstreamSecurity) -> HyperEndpoint<B> {
        let inner = match &self.inner {
            Inner::Http1(c) => EndpointInner::Http1(c.endpoint(addr, security)),
            Inner::Http2(c) => EndpointInner::Http2(c.endpoint(addr, security)),
        };
        HyperEndpoint { inner }
    }
}

impl<B> Service<Request<B>> for HyperEndpoint<B>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Incoming>;
    type Error = MeshError;
    type Future = Either<
        <Http1Endpoint<B> as Service<Request<B>>>::Future,
        <Http2Endpoint<B> as Service<Request<B>>>::Future,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), MeshError>> {
        match &mut self.inner {
            EndpointInner::Http1(e) => e.poll_ready(cx),
            EndpointInner::Http2(e) => e.poll_ready(cx),
        }
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match &mut self.inner {
            EndpointInner::Http1(e) => Either::Left(e.call(req)),
            EndpointInner::Http2(e) => Either::Right(e.call(req)),
        }
    }
}
