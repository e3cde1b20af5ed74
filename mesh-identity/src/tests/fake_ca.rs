//! A minimal in-test `CertificateService` that signs CSRs with a
//! [`TestCa`] and records who called: the client certificate's identity
//! (from TLS) and the bootstrap token (from metadata). The real CA lives in
//! `mesh-ca`.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status};

use crate::ca::Dial;
use crate::clock::Clock;
use crate::identity::State;
use crate::pb::certificate_service_server::{CertificateService, CertificateServiceServer};
use crate::pb::{CreateCertificateRequest, CreateCertificateResponse, GetTrustBundleRequest};
use crate::testing::TestCa;
use crate::{ClientAuth, Identity, PeerIdentity, SpiffeId, pb};

pub(super) const TOKEN: &str = "let-me-in";

/// One `CreateCertificate` call as the CA saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Call {
    /// The identity of the client certificate, if one was presented.
    pub(super) client: Option<SpiffeId>,
    /// The `authorization` metadata, if any.
    pub(super) authorization: Option<String>,
}

/// The CA's TLS-level view of a connection, as tonic connect info.
#[derive(Clone)]
struct Peer(Option<SpiffeId>);

struct Conn<IO> {
    stream: TlsStream<IO>,
    peer: Peer,
}

impl<IO> Connected for Conn<IO> {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Conn<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Conn<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The fake CA: signs with `ca`, dating certificates by `clock`.
pub(super) struct FakeCa {
    pub(super) ca: Arc<TestCa>,
    pub(super) id: SpiffeId,
    pub(super) calls: Arc<Mutex<Vec<Call>>>,
    clock: Clock,
}

impl FakeCa {
    pub(super) fn new(ca: Arc<TestCa>, clock: Clock) -> Self {
        let id = ca.id("mesh-system", "ca");
        Self {
            ca,
            id,
            calls: Arc::default(),
            clock,
        }
    }

    pub(super) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn handle(&self) -> Self {
        Self {
            ca: self.ca.clone(),
            id: self.id.clone(),
            calls: self.calls.clone(),
            clock: self.clock.clone(),
        }
    }

    /// Serves TLS (client certificates optional) on every stream `raw`
    /// yields, with a server certificate for [`FakeCa::id`] whose validity
    /// is judged by the same clock.
    fn serve<IO>(&self, mut raw: mpsc::UnboundedReceiver<IO>)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let cert = self.ca.issue(&self.id);
        let state = State::new(
            self.id.clone(),
            self.ca.bundle(),
            Some(cert),
            self.clock.clone(),
        );
        let identity = Identity::from_state(Arc::new(state));
        let acceptor = TlsAcceptor::from(identity.server_config(ClientAuth::Optional, &[b"h2"]));
        let (conns, incoming) = mpsc::unbounded_channel::<io::Result<Conn<IO>>>();
        tokio::spawn(async move {
            while let Some(io) = raw.recv().await {
                let (acceptor, conns) = (acceptor.clone(), conns.clone());
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(io).await {
                        let peer = PeerIdentity::from_connection(stream.get_ref().1).unwrap();
                        let peer = Peer(peer.map(|p| p.0));
                        let _ = conns.send(Ok(Conn { stream, peer }));
                    }
                });
            }
        });
        let service = CertificateServiceServer::new(self.handle());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(UnboundedReceiverStream::new(incoming)),
        );
    }

    /// Serves on 127.0.0.1; returns the address.
    pub(super) async fn serve_tcp(&self) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                if tx.send(stream).is_err() {
                    return;
                }
            }
        });
        self.serve(rx);
        address
    }

    /// Serves over in-memory pipes; the returned dialer connects to it
    /// while it is up.
    pub(super) fn serve_in_memory(&self) -> MemoryDial {
        let (tx, rx) = mpsc::unbounded_channel();
        self.serve(rx);
        MemoryDial {
            server: tx,
            up: Arc::new(AtomicBool::new(true)),
        }
    }
}

#[tonic::async_trait]
impl CertificateService for FakeCa {
    async fn create_certificate(
        &self,
        request: Request<CreateCertificateRequest>,
    ) -> Result<Response<CreateCertificateResponse>, Status> {
        let client = request.extensions().get::<Peer>().and_then(|p| p.0.clone());
        let authorization = request
            .metadata()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        self.calls.lock().unwrap().push(Call {
            client: client.clone(),
            authorization: authorization.clone(),
        });
        if client.is_none() && authorization != Some(format!("Bearer {TOKEN}")) {
            return Err(Status::unauthenticated(
                "present a valid workload certificate or a bootstrap token",
            ));
        }
        let request = request.into_inner();
        let lifetime = Duration::from_secs(u64::try_from(request.validity_duration).unwrap());
        let cert_chain = self
            .ca
            .sign_csr_at(&request.csr, self.clock.now(), lifetime)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(Response::new(CreateCertificateResponse {
            cert_chain,
            trust_bundle: Some(self.bundle()),
        }))
    }

    async fn get_trust_bundle(
        &self,
        _request: Request<GetTrustBundleRequest>,
    ) -> Result<Response<pb::TrustBundle>, Status> {
        Ok(Response::new(self.bundle()))
    }
}

impl FakeCa {
    fn bundle(&self) -> pb::TrustBundle {
        pb::TrustBundle {
            trust_domain: self.ca.trust_domain().to_owned(),
            roots: vec![self.ca.root_pem().to_owned()],
        }
    }
}

/// Dials the in-memory CA; `up` false refuses connections (the CA is down).
#[derive(Clone)]
pub(super) struct MemoryDial {
    server: mpsc::UnboundedSender<DuplexStream>,
    pub(super) up: Arc<AtomicBool>,
}

impl MemoryDial {
    pub(super) fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

impl Dial for MemoryDial {
    type Io = DuplexStream;

    async fn dial(&self) -> io::Result<DuplexStream> {
        if !self.up.load(Ordering::SeqCst) {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        let (client, server) = tokio::io::duplex(64 * 1024);
        self.server
            .send(server)
            .map_err(|_| io::Error::from(io::ErrorKind::ConnectionRefused))?;
        Ok(client)
    }
}
