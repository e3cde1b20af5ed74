//! Serving the CA over gRPC on its own TLS listener.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Server;

use crate::tls::{PeerTlsStream, ServingTls};
use crate::{CaError, CaService, CertificateAuthority};

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves [`CaService`] on `listener` over TLS (ALPN h2) until `shutdown`
/// completes. The listener's certificate is issued by the CA itself to
/// `spiffe://<trust-domain>/ns/mesh-system/sa/mesh-control` and renewed
/// before it expires. Clients may present a mesh certificate (verified
/// against the CA's roots) or none; a failed handshake only drops that
/// connection.
pub async fn serve(
    ca: CertificateAuthority,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), CaError> {
    let tls = Arc::new(ServingTls::new(ca.clone()));
    // Fail at start, not at the first connection, if the CA cannot serve.
    tls.config()?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, id = %ca.server_id(), "mesh ca listening");
    }
    let (tx, rx) = mpsc::channel(64);
    let accept = tokio::spawn(accept_loop(listener, tls, tx));
    let incoming = ReceiverStream::new(rx).map(Ok::<_, io::Error>);
    let result = Server::builder()
        .add_service(CaService::new(ca).into_server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    accept.abort();
    result.map_err(CaError::Serve)
}

/// Accepts TCP connections and hands each to its own handshake task, so a
/// slow or failing client holds up no one else.
async fn accept_loop(listener: TcpListener, tls: Arc<ServingTls>, tx: mpsc::Sender<PeerTlsStream>) {
    loop {
        let accepted = tokio::select! {
            () = tx.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, addr) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let config = match tls.config() {
            Ok(config) => config,
            Err(e) => {
                tracing::error!(error = %e, "cannot renew the ca's serving certificate");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let tx = tx.clone();
        tokio::spawn(async move {
            let handshake = TlsAcceptor::from(config).accept(tcp);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send(PeerTlsStream::new(stream)).await;
                }
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "tls handshake failed"),
                Err(_) => tracing::debug!(%addr, "tls handshake timed out"),
            }
        });
    }
}
