//! The CA's TLS listener: its serving certificate (issued by the CA itself,
//! renewed at half its lifetime or when the roots change), and the stream
//! type that hands the client's certificates to the gRPC handler.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use rcgen::KeyPair;
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

use crate::trust::provider;
use crate::{CaError, CertificateAuthority};

/// What the gRPC handler learns about a connection: read it with
/// `request.extensions().get::<PeerConnectInfo>()`.
#[derive(Clone, Debug)]
pub struct PeerConnectInfo {
    remote_addr: Option<SocketAddr>,
    peer_certificates: Option<Arc<[CertificateDer<'static>]>>,
}

impl PeerConnectInfo {
    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The certificate chain the client presented (leaf first), already
    /// verified against the CA's roots during the handshake; `None` if it
    /// presented none.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.peer_certificates.as_deref()
    }
}

/// A server-side TLS connection that exposes [`PeerConnectInfo`] to tonic.
#[derive(Debug)]
pub struct PeerTlsStream {
    inner: TlsStream<TcpStream>,
    info: PeerConnectInfo,
}

impl PeerTlsStream {
    /// Wraps an accepted TLS connection.
    pub fn new(inner: TlsStream<TcpStream>) -> Self {
        let (tcp, conn) = inner.get_ref();
        let info = PeerConnectInfo {
            remote_addr: tcp.peer_addr().ok(),
            peer_certificates: conn
                .peer_certificates()
                .filter(|certs| !certs.is_empty())
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect()),
        };
        Self { inner, info }
    }
}

impl Connected for PeerTlsStream {
    type ConnectInfo = PeerConnectInfo;

    fn connect_info(&self) -> PeerConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for PeerTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

struct Cached {
    config: Arc<ServerConfig>,
    generation: u64,
    renew_at: SystemTime,
}

/// The listener's rustls config, rebuilt with a fresh serving certificate
/// at half its lifetime, or at once when the roots change.
pub(crate) struct ServingTls {
    ca: CertificateAuthority,
    cached: Mutex<Option<Cached>>,
}

impl ServingTls {
    pub(crate) fn new(ca: CertificateAuthority) -> Self {
        Self {
            ca,
            cached: Mutex::new(None),
        }
    }

    /// The config for the next handshake.
    pub(crate) fn config(&self) -> Result<Arc<ServerConfig>, CaError> {
        let generation = self.ca.state().generation;
        let now = SystemTime::now();
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cached.as_ref()
            && c.generation == generation
            && now < c.renew_at
        {
            return Ok(c.config.clone());
        }
        let (config, renew_at) = self.build(now)?;
        tracing::debug!(id = %self.ca.server_id(), "issued the ca's serving certificate");
        *cached = Some(Cached {
            config: config.clone(),
            generation,
            renew_at,
        });
        Ok(config)
    }

    fn build(&self, now: SystemTime) -> Result<(Arc<ServerConfig>, SystemTime), CaError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(CaError::crypto("generate the serving key"))?;
        let lifetime = self.ca.config().default_lifetime();
        let (chain, not_after) = self.ca.issue(&key, &self.ca.server_id(), lifetime)?;
        let renew_at = now + not_after.duration_since(now).unwrap_or_default() / 2;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| CaError::Tls(e.to_string()))?
            .with_client_cert_verifier(self.ca.state().roots.verifier())
            .with_single_cert(chain, key_der)
            .map_err(|e| CaError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok((Arc::new(config), renew_at))
    }
}
