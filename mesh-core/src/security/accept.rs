//! Accepting connections as the workload's `PeerAuthentication` asks:
//! mutual TLS only (STRICT), mutual TLS or plaintext (PERMISSIVE), or
//! plaintext only (DISABLE).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use mesh_authz::MtlsMode;
use mesh_identity::{ClientAuth, IdentityError, PeerError, peer_identity};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::ReceiverStream;

use super::workload::SecurityCache;
use super::{ConnectionInfo, MeshStream};
use crate::mesh::Mesh;

/// The first byte of a TLS handshake record; HTTP/1.1 and the HTTP/2
/// preface start with ASCII letters.
const TLS_HANDSHAKE: u8 = 0x16;

/// How long a new connection may take to send its first byte and finish
/// the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Reading the socket failed.
    #[error("accepting a connection failed: {0}")]
    Io(#[from] io::Error),
    /// The peer sent nothing, or did not finish the handshake, in time.
    #[error("the peer took longer than {HANDSHAKE_TIMEOUT:?} to start or finish its TLS handshake")]
    Timeout,
    /// This workload cannot serve mutual TLS (its certificate expired).
    #[error("refusing mutual TLS from {remote}: {source}")]
    Identity {
        /// The caller.
        remote: std::net::SocketAddr,
        /// Why.
        #[source]
        source: IdentityError,
    },
    /// The TLS handshake failed, for instance because the caller's
    /// certificate was not acceptable.
    #[error("TLS handshake with {remote} failed: {source}")]
    Handshake {
        /// The caller.
        remote: std::net::SocketAddr,
        /// rustls' error, which carries the verifier's reason.
        #[source]
        source: io::Error,
    },
    /// The verified certificate carries no usable SPIFFE identity.
    #[error("peer {remote} presented no usable identity: {source}")]
    Peer {
        /// The caller.
        remote: std::net::SocketAddr,
        /// Why.
        #[source]
        source: PeerError,
    },
}

/// Terminates TLS for one workload, following its `PeerAuthentication`
/// under the current policy (read per connection, so a change applies to
/// the next connection).
#[derive(Clone, Debug)]
pub struct MeshAcceptor {
    /// The mesh and the workload's policies; `None` accepts plaintext only.
    policy: Option<(Mesh, Arc<SecurityCache>)>,
    alpn: Arc<[&'static [u8]]>,
}

/// An accepted connection and what is known about it.
#[derive(Debug)]
pub struct Accepted {
    stream: MeshStream,
    info: ConnectionInfo,
}

impl Accepted {
    /// The connection's addresses, TLS state and peer identity.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }
}

impl MeshAcceptor {
    pub(crate) fn new(mesh: Mesh, cache: Arc<SecurityCache>, alpn: &[&'static [u8]]) -> Self {
        Self {
            policy: Some((mesh, cache)),
            alpn: alpn.into(),
        }
    }

    /// An acceptor that takes plaintext connections only, whatever the
    /// policy says (servers outside the mesh's security).
    pub fn plaintext() -> Self {
        Self {
            policy: None,
            alpn: Arc::new([]),
        }
    }

    /// Accepts one connection: sniffs whether it starts a TLS handshake
    /// and, if the mode allows TLS and this workload has an identity,
    /// completes it and verifies the peer.
    ///
    /// A plaintext connection to a STRICT workload is accepted here and
    /// every request on it is refused by the authorization layer with
    /// UNAUTHENTICATED and the policy's name, which tells the caller far
    /// more than a closed socket would.
    pub async fn accept(&self, tcp: TcpStream) -> Result<Accepted, AcceptError> {
        let _ = tcp.set_nodelay(true);
        let local_addr = tcp.local_addr()?;
        let remote_addr = tcp.peer_addr()?;
        let plain = |tcp| Accepted {
            stream: MeshStream::Plain(tcp),
            info: ConnectionInfo {
                local_addr,
                remote_addr,
                tls: false,
                peer: None,
            },
        };
        let Some((mesh, cache)) = &self.policy else {
            return Ok(plain(tcp));
        };
        let snapshot = mesh.snapshot();
        let security = cache.get(mesh, &snapshot, Some(local_addr));
        let identity = match (security.mode, mesh.identity()) {
            (MtlsMode::Disable, _) | (_, None) => return Ok(plain(tcp)),
            (_, Some(identity)) => identity,
        };
        let mut first = [0u8; 1];
        let peeked = tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut first))
            .await
            .map_err(|_| AcceptError::Timeout)??;
        if peeked == 0 || first[0] != TLS_HANDSHAKE {
            return Ok(plain(tcp));
        }
        identity.current().map_err(|source| AcceptError::Identity {
            remote: remote_addr,
            source,
        })?;
        let client_auth = match security.mode {
            MtlsMode::Strict => ClientAuth::Required,
            _ => ClientAuth::Optional,
        };
        let acceptor =
            tokio_rustls::TlsAcceptor::from(identity.server_config(client_auth, &self.alpn));
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
            .await
            .map_err(|_| AcceptError::Timeout)?
            .map_err(|source| AcceptError::Handshake {
                remote: remote_addr,
                source,
            })?;
        let peer = match tls.get_ref().1.peer_certificates() {
            Some(certs) if !certs.is_empty() => {
                Some(Arc::new(peer_identity(certs).map_err(|source| {
                    AcceptError::Peer {
                        remote: remote_addr,
                        source,
                    }
                })?))
            }
            _ => None,
        };
        Ok(Accepted {
            stream: MeshStream::ServerTls(Box::new(tls)),
            info: ConnectionInfo {
                local_addr,
                remote_addr,
                tls: true,
                peer,
            },
        })
    }

    /// Accepts connections from `listener` for as long as the stream is
    /// polled, each handshake on its own task so a slow peer holds up no
    /// one. Connections that fail their handshake are logged and skipped.
    /// The stream suits tonic's `Server::serve_with_incoming`.
    pub fn incoming(self, listener: TcpListener) -> ReceiverStream<io::Result<Accepted>> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = tx.closed() => return,
                };
                let tcp = match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        // Per-connection failures (reset before accept, out
                        // of descriptors) must not end the server.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = self.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok(conn) => {
                            let _ = tx.send(Ok(conn)).await;
                        }
                        Err(e) => tracing::warn!(error = %e, "connection refused"),
                    }
                });
            }
        });
        ReceiverStream::new(rx)
    }
}

impl AsyncRead for Accepted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Accepted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Accepted {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        self.info.clone()
    }
}
