//! The client side of mutual TLS: whether a connection to an endpoint is
//! TLS, and checking that the endpoint is who the policy says it should be.

use std::net::SocketAddr;
use std::sync::Arc;

use mesh_identity::{Identity, SpiffeId, peer_identity};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

use super::MeshStream;
use crate::error::MeshError;
use crate::policy::{UpstreamTls, UpstreamTlsMode};

/// How the connection to one endpoint is protected, decided when the
/// endpoint is first used under a policy.
#[derive(Clone, Debug)]
pub enum UpstreamSecurity {
    /// Plaintext.
    Plaintext,
    /// Mutual TLS with this workload's identity.
    Mutual {
        /// This workload's identity.
        identity: Arc<Identity>,
        /// The identities the endpoint may present; empty accepts any in
        /// the trust domain.
        expected: Arc<[SpiffeId]>,
        /// The destination service, for error messages.
        service: Arc<str>,
    },
    /// The policy requires mutual TLS but this workload has no identity:
    /// every connection fails, saying so.
    MissingIdentity {
        /// The destination service.
        service: Arc<str>,
    },
}

impl UpstreamSecurity {
    /// What `tls` asks for, given this workload's identity.
    pub fn decide(tls: &UpstreamTls, identity: Option<Arc<Identity>>, service: &str) -> Self {
        match (tls.mode, identity) {
            (UpstreamTlsMode::Disable, _) | (UpstreamTlsMode::Auto, None) => Self::Plaintext,
            (UpstreamTlsMode::Mutual, None) => Self::MissingIdentity {
                service: service.into(),
            },
            (_, Some(identity)) => Self::Mutual {
                identity,
                expected: tls.identities.iter().cloned().collect(),
                service: service.into(),
            },
        }
    }

    /// Until when a connection opened now may be used: the expiry of the
    /// workload certificate it presents (`None` for plaintext).
    pub fn valid_until(&self) -> Option<std::time::SystemTime> {
        match self {
            Self::Mutual { identity, .. } => identity.current().ok().map(|c| c.not_after()),
            _ => None,
        }
    }

    /// Whether connections are TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Self::Plaintext)
    }

    /// Whether a connection to `addr` can be protected as required: not
    /// when mutual TLS is required without an identity, nor with an
    /// expired certificate (fail closed).
    pub fn precheck(&self, addr: SocketAddr) -> Result<(), MeshError> {
        let connect_err = |source: String| MeshError::Connect {
            endpoint: addr,
            source: source.into(),
        };
        match self {
            Self::Plaintext => Ok(()),
            Self::MissingIdentity { service } => Err(connect_err(format!(
                "{service} requires mutual TLS (DestinationRule tls.mode ISTIO_MUTUAL) but this \
                 workload has no identity; give the mesh one with Mesh::set_identity"
            ))),
            Self::Mutual { identity, .. } => identity
                .current()
                .map(drop)
                .map_err(|e| connect_err(e.to_string())),
        }
    }

    /// Protects a freshly opened connection to `addr`, offering `alpn`.
    pub async fn secure(
        &self,
        tcp: TcpStream,
        addr: SocketAddr,
        alpn: &[&[u8]],
    ) -> Result<MeshStream, MeshError> {
        let connect_err = |source: String| MeshError::Connect {
            endpoint: addr,
            source: source.into(),
        };
        self.precheck(addr)?;
        let Self::Mutual {
            identity,
            expected,
            service,
        } = self
        else {
            // Plaintext: a missing identity failed the precheck above.
            return Ok(MeshStream::Plain(tcp));
        };
        let connector = tokio_rustls::TlsConnector::from(identity.client_config(alpn));
        // SPIFFE certificates carry no DNS name; the verifier checks
        // the identity instead, so the name here is only the address.
        let tls = connector
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await
            .map_err(|e| connect_err(format!("TLS handshake failed: {e}")))?;
        let certs = tls.get_ref().1.peer_certificates().unwrap_or_default();
        let peer = peer_identity(certs).map_err(|e| connect_err(e.to_string()))?;
        if !expected.is_empty() && !expected.contains(&peer) {
            let want: Vec<String> = expected.iter().map(ToString::to_string).collect();
            return Err(connect_err(format!(
                "endpoint presented {peer} but {service} is served by {}",
                want.join(" or ")
            )));
        }
        Ok(MeshStream::ClientTls(Box::new(tls)))
    }
}
