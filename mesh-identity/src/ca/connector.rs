//! The CA channel's transport: dial (TCP, or in-memory in tests), then
//! TLS with the workload's client config, for tonic's
//! `Endpoint::connect_with_connector` (no tonic TLS feature).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Opens a byte stream to the CA.
pub(crate) trait Dial: Clone + Send + Sync + 'static {
    /// The stream.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Connects.
    fn dial(&self) -> impl Future<Output = io::Result<Self::Io>> + Send;
}

/// Dials the CA over TCP.
#[derive(Clone, Debug)]
pub(crate) struct TcpDial(pub(crate) SocketAddr);

impl Dial for TcpDial {
    type Io = TcpStream;

    async fn dial(&self) -> io::Result<TcpStream> {
        let stream = TcpStream::connect(self.0).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// A `tower_service::Service<Uri>` that ignores the URI and returns a TLS
/// stream to the CA.
#[derive(Clone)]
pub(crate) struct Connector<D> {
    dial: D,
    tls: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
}

impl<D: Dial> Connector<D> {
    /// `server_name` is not verified (the CA is checked by SPIFFE ID); an
    /// IP address keeps rustls from sending SNI.
    pub(crate) fn new(dial: D, tls: Arc<ClientConfig>, server_name: ServerName<'static>) -> Self {
        Self {
            dial,
            tls: tokio_rustls::TlsConnector::from(tls),
            server_name,
        }
    }
}

impl<D: Dial> tower_service::Service<Uri> for Connector<D> {
    type Response = TokioIo<TlsStream<D::Io>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let dial = self.dial.clone();
        let tls = self.tls.clone();
        let name = self.server_name.clone();
        Box::pin(async move {
            let io = dial.dial().await?;
            let stream = tls.connect(name, io).await?;
            Ok(TokioIo::new(stream))
        })
    }
}
