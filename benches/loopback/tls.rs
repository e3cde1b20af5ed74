//! Mutual TLS without the mesh: bare tonic client and server over
//! tokio-rustls, with the rustls configs the mesh itself builds
//! (`Identity::server_config(ClientAuth::Required, ["h2"])` and
//! `Identity::client_config(["h2"])`) and certificates from a throwaway
//! CA (ECDSA P-256), so that against the mesh's mutual TLS the only
//! difference is the mesh's layers.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use mesh::conference::pb::attendees_client::AttendeesClient;
use mesh::conference::pb::attendees_server::AttendeesServer;
use mesh_identity::testing::TestCa;
use mesh_identity::{ClientAuth, Identity, SpiffeId};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tonic::transport::server::{Connected, TcpConnectInfo};
use tonic::transport::{Endpoint, Server};

use crate::load::Call;
use crate::servers::{Bench, list_request};

/// How long a connection may take to finish its handshake (as the mesh's
/// acceptor).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The workload identities of one run, issued by one fresh CA: the
/// server's and the client's.
pub(crate) struct Certs {
    pub(crate) server: Identity,
    pub(crate) client: Identity,
    /// The server's SPIFFE ID, which the mesh client expects.
    pub(crate) server_id: SpiffeId,
}

impl Certs {
    pub(crate) fn new() -> Self {
        let ca = TestCa::new("cluster.local");
        let server_id = ca.id("default", "attendees");
        let client_id = ca.id("default", "bench-client");
        Self {
            server: Identity::fixed(ca.issue(&server_id), ca.bundle()),
            client: Identity::fixed(ca.issue(&client_id), ca.bundle()),
            server_id,
        }
    }
}

/// A TLS connection accepted by the bare server. tonic implements
/// `Connected` for rustls streams only with its TLS features, which the
/// workspace does not enable; this forwards everything to the stream.
struct TlsConn(tokio_rustls::server::TlsStream<TcpStream>);

impl Connected for TlsConn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.0.get_ref().0.connect_info()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// Starts the bare gRPC server behind mutual TLS (client certificates
/// required) on the current runtime; it runs until the runtime shuts
/// down. Each handshake runs on its own task and finished connections are
/// handed to tonic through a channel, as the mesh's acceptor does.
pub(crate) async fn serve_grpc_tls(identity: &Identity) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let acceptor = TlsAcceptor::from(identity.server_config(ClientAuth::Required, &[b"h2"]));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<io::Result<TlsConn>>(64);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = tx.closed() => return,
            };
            let tcp = match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    eprintln!("tls server: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(TlsConn(tls))).await;
                    }
                    Ok(Err(e)) => eprintln!("tls server: handshake failed: {e}"),
                    Err(_) => eprintln!("tls server: handshake timed out"),
                }
            });
        }
    });
    let incoming = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let router = Server::builder().add_service(AttendeesServer::new(Bench));
    tokio::spawn(router.serve_with_incoming(incoming));
    Ok(addr)
}

/// A bare tonic client (a `Channel`) to `addr` over mutual TLS: TCP with
/// `TCP_NODELAY`, then a tokio-rustls handshake offering `h2`. Call inside
/// the client runtime.
pub(crate) async fn grpc_tls(addr: SocketAddr, identity: &Identity) -> anyhow::Result<Call> {
    let connector = TlsConnector::from(identity.client_config(&[b"h2"]));
    let connect = tower::service_fn(move |_: http::Uri| {
        let connector = connector.clone();
        async move {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            // SPIFFE certificates carry no DNS name: the verifier checks
            // the identity, the name is only the address (as the mesh).
            let tls = connector
                .connect(ServerName::IpAddress(addr.ip().into()), tcp)
                .await?;
            if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                return Err(io::Error::other("the server did not agree to h2"));
            }
            Ok::<_, io::Error>(TokioIo::new(tls))
        }
    });
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_with_connector(connect)
        .await?;
    let client = AttendeesClient::new(channel);
    Ok(Arc::new(move || {
        let mut client = client.clone();
        Box::pin(async move { client.list(list_request()).await.is_ok() })
    }))
}
