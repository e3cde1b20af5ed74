//! HTTP/1.1 endpoints, pooled by hyper-util's client.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{ConnectSettings, Connector, connect};
use crate::error::{BoxError, MeshError};
use crate::security::{MeshStream, upstream::UpstreamSecurity};

/// Connects to endpoints over HTTP/1.1, keeping idle connections for reuse.
#[derive(Clone, Copy, Debug, Default)]
pub struct Http1Connector {
    settings: ConnectSettings,
}

impl Http1Connector {
    /// A connector with the given settings.
    pub fn new(settings: ConnectSettings) -> Self {
        Self { settings }
    }
}

/// Dials one fixed address whatever the URI says, so the request keeps the
/// service's name as its `Host` while the connection goes to the endpoint
/// the balancer chose.
#[derive(Clone, Debug)]
struct FixedAddr {
    addr: SocketAddr,
    settings: ConnectSettings,
    security: UpstreamSecurity,
}

impl Service<Uri> for FixedAddr {
    type Response = TokioIo<MeshStream>;
    type Error = MeshError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, MeshError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), MeshError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let FixedAddr {
            addr,
            settings,
            security,
        } = self.clone();
        Box::pin(async move {
            connect(addr, settings, &security, &[b"http/1.1"])
                .await
                .map(TokioIo::new)
        })
    }
}

/// One address's pool of HTTP/1.1 connections.
pub struct Http1Endpoint<B> {
    addr: SocketAddr,
    client: Client<FixedAddr, B>,
}

impl<B: Send + 'static> Clone for Http1Endpoint<B> {
    fn clone(&self) -> Self {
        Self {
            addr: self.addr,
            client: self.client.clone(),
        }
    }
}

impl<B> fmt::Debug for Http1Endpoint<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http1Endpoint")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl<B> Connector<B> for Http1Connector
where
    B: http_body::Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Body = Incoming;
    type Endpoint = Http1Endpoint<B>;

    fn endpoint(&self, addr: SocketAddr, security: UpstreamSecurity) -> Http1Endpoint<B> {
        let connector = FixedAddr {
            addr,
            settings: self.settings,
            security,
        };
        Http1Endpoint {
            addr,
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }
}

impl<B> Service<Request<B>> for Http1Endpoint<B>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Incoming>;
    type Error = MeshError;
    type Future = Http1Response;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), MeshError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        Http1Response {
            addr: self.addr,
            sent: self.client.request(req),
        }
    }
}

pin_project! {
    /// The response of an [`Http1Endpoint`]: hyper-util's (already boxed)
    /// future with its errors said in the mesh's terms, without boxing it
    /// a second time.
    pub struct Http1Response {
        addr: SocketAddr,
        #[pin]
        sent: ResponseFuture,
    }
}

impl fmt::Debug for Http1Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http1Response")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Future for Http1Response {
    type Output = Result<Response<Incoming>, MeshError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let addr = *this.addr;
        this.sent.poll(cx).map_err(|e| {
            if e.is_connect() {
                // hyper-util's message is only "client error (Connect)";
                // the connector's own error says what happened.
                let cause = std::iter::successors(std::error::Error::source(&e), |s| s.source())
                    .find_map(|s| s.downcast_ref::<MeshError>());
                match cause {
                    Some(MeshError::Connect { source, .. }) => MeshError::Connect {
                        endpoint: addr,
                        source: source.to_string().into(),
                    },
                    _ => MeshError::Connect {
                        endpoint: addr,
                        source: e.into(),
                    },
                }
            } else {
                MeshError::Transport {
                    endpoint: addr,
                    source: e.into(),
                }
            }
        })
    }
}
