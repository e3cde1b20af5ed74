//! Tests over real TLS (in-memory pipes or 127.0.0.1), one file per
//! behaviour.

mod ca_client;
mod fake_ca;
mod files;
mod handshake;
mod rejections;
mod rotation;

use std::sync::Arc;

use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::{PeerIdentity, SpiffeId};

pub(super) const ALPN: &[&[u8]] = &[b"h2"];

/// What one side of a handshake saw: the peer's identity (`None`: no
/// certificate), or the error text.
pub(super) type Side = Result<Option<SpiffeId>, String>;

/// Runs a TLS handshake between `server` and `client` over an in-memory
/// pipe. The server sends one byte once it accepted, which the client reads,
/// so a server-side rejection (which TLS 1.3 reports after the client
/// finished) also shows on the client.
pub(super) async fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
) -> (Side, Side) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    tokio::join!(serve_one(server, server_io), connect_one(client, client_io))
}

pub(super) async fn serve_one<IO>(config: Arc<ServerConfig>, io: IO) -> Side
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = TlsAcceptor::from(config)
        .accept(io)
        .await
        .map_err(|e| e.to_string())?;
    let peer = PeerIdentity::from_connection(stream.get_ref().1).map_err(|e| e.to_string())?;
    stream.write_all(b"!").await.map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    Ok(peer.map(|p| p.0))
}

pub(super) async fn connect_one<IO>(config: Arc<ClientConfig>, io: IO) -> Side
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from("workload.invalid").expect("a DNS name");
    let mut stream = TlsConnector::from(config)
        .connect(name, io)
        .await
        .map_err(|e| e.to_string())?;
    let mut byte = [0u8; 1];
    stream
        .read_exact(&mut byte)
        .await
        .map_err(|e| e.to_string())?;
    let certs = stream.get_ref().1.peer_certificates().unwrap_or_default();
    Ok(Some(
        crate::peer_identity(certs).map_err(|e| e.to_string())?,
    ))
}

/// Asserts that `side` failed with a message containing `needle`.
#[track_caller]
pub(super) fn assert_rejected(side: &Side, needle: &str) {
    match side {
        Err(e) => assert!(e.contains(needle), "expected {needle:?} in: {e}"),
        Ok(peer) => panic!("expected a rejection containing {needle:?}, got peer {peer:?}"),
    }
}
