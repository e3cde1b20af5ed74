//! Connections to endpoints: the bottom of the client stack.
//!
//! The load balancer asks a [`Connector`] for one [`Connector::Endpoint`]
//! per address and keeps it for as long as the address is in the policy;
//! the endpoint connects lazily and reconnects when its connection breaks.

mod connection_tasks;
mod executor;
mod h1;
mod h2;

use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use tower_service::Service;

pub use executor::BoxedExecutor;
pub use h1::{Http1Connector, Http1Endpoint, Http1Response};
pub use h2::{Http2Connector, Http2Endpoint};

use crate::error::MeshError;
use crate::security::upstream::UpstreamSecurity;

/// Makes endpoint services for addresses.
pub trait Connector<B>: Clone + Send + Sync + 'static {
    /// The response body endpoints yield.
    type Body;
    /// A handle on one address's connection(s); cloning it is cheap and
    /// clones share the connection.
    type Endpoint: Service<Request<B>, Response = Response<Self::Body>, Error = MeshError>
        + Clone
        + Send
        + Sync
        + 'static;

    /// The endpoint for `addr`. It must not connect yet: connecting is done
    /// by the first request, so building a client never blocks or fails.
    /// Its connections are protected as `security` says.
    fn endpoint(&self, addr: SocketAddr, security: UpstreamSecurity) -> Self::Endpoint;
}

/// Settings shared by the connectors.
#[derive(Clone, Copy, Debug)]
pub struct ConnectSettings {
    /// How long to wait for a TCP connection (and handshake).
    pub connect_timeout: Duration,
}

impl Default for ConnectSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// Opens a connection to `addr` and protects it as `security` says
/// (mutual TLS offering `alpn`, or plaintext), all within the connect
/// timeout.
pub async fn connect(
    addr: SocketAddr,
    settings: ConnectSettings,
    security: &UpstreamSecurity,
    alpn: &[&[u8]],
) -> Result<crate::security::MeshStream, MeshError> {
    // Fail before dialing when TLS cannot work (no identity, or an expired
    // certificate), so the error says why rather than how.
    security.precheck(addr)?;
    let tcp = connect_tcp(addr, settings).await?;
    if !security.is_tls() {
        return Ok(crate::security::MeshStream::Plain(tcp));
    }
    tokio::time::timeout(settings.connect_timeout, security.secure(tcp, addr, alpn))
        .await
        .map_err(|_| MeshError::Connect {
            endpoint: addr,
            source: format!(
                "TLS handshake timed out after {:?}",
                settings.connect_timeout
            )
            .into(),
        })?
}

/// Opens a TCP connection with `TCP_NODELAY`, as RPC traffic wants.
async fn connect_tcp(
    addr: SocketAddr,
    settings: ConnectSettings,
) -> Result<tokio::net::TcpStream, MeshError> {
    let connect = tokio::net::TcpStream::connect(addr);
    let stream = match tokio::time::timeout(settings.connect_timeout, connect).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(MeshError::Connect {
                endpoint: addr,
                source: e.into(),
            });
        }
        Err(_) => {
            return Err(MeshError::Connect {
                endpoint: addr,
                source: format!("timed out after {:?}", settings.connect_timeout).into(),
            });
        }
    };
    // Without it small RPCs wait on Nagle's algorithm; failing to set it
    // costs latency, not correctness.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
