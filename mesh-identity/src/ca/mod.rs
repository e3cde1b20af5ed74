//! Certificates from the mesh CA (`mesh.ca.v1.CertificateService`): the
//! key is generated here and never leaves the process; a CSR for our
//! SPIFFE ID goes to the CA over TLS; a background task renews at half the
//! lifetime and keeps serving the current certificate while the CA is down.

mod connector;
mod schedule;
mod session;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls_pki_types::ServerName;

use crate::bundle::TrustBundle;
use crate::clock::Clock;
use crate::error::IdentityError;
use crate::identity::{Identity, State};
use crate::spiffe::{SpiffeId, valid_trust_domain};
use crate::tls;
use crate::verifier::PeerVerifier;

pub(crate) use connector::Dial;
use connector::TcpDial;
use session::Session;

/// How to reach the mesh CA and what to ask it for.
#[derive(Clone)]
pub struct CaClient {
    /// The CA's gRPC address.
    pub address: SocketAddr,
    /// Roots (PEM) to trust the CA's own certificate on first contact.
    /// Later, the bundle from each response is trusted too.
    pub ca_roots_pem: String,
    /// The SPIFFE ID the CA's server certificate must carry; `None` accepts
    /// any identity of the trust domain.
    pub ca_identity: Option<SpiffeId>,
    /// The trust domain of this workload and the CA.
    pub trust_domain: String,
    /// The identity to ask for.
    pub id: SpiffeId,
    /// Bootstrap token, sent as `authorization: Bearer <token>` only while
    /// there is no valid current certificate.
    pub token: Option<String>,
    /// Requested certificate lifetime; zero asks for the CA's default.
    pub lifetime: Duration,
}

impl CaClient {
    /// Asks the CA at `address` for `id`, trusting `ca_roots_pem` for the
    /// CA's certificate; no token, any CA identity, the default lifetime.
    pub fn new(address: SocketAddr, ca_roots_pem: impl Into<String>, id: SpiffeId) -> Self {
        Self {
            address,
            ca_roots_pem: ca_roots_pem.into(),
            ca_identity: None,
            trust_domain: id.trust_domain().to_owned(),
            id,
            token: None,
            lifetime: Duration::ZERO,
        }
    }

    /// Sets the bootstrap token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Requires the CA to present this SPIFFE ID.
    pub fn with_ca_identity(mut self, ca_identity: SpiffeId) -> Self {
        self.ca_identity = Some(ca_identity);
        self
    }

    /// Sets the requested lifetime.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }
}

// Never prints the token.
impl fmt::Debug for CaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaClient")
            .field("address", &self.address)
            .field("ca_identity", &self.ca_identity)
            .field("trust_domain", &self.trust_domain)
            .field("id", &self.id)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Gets a first certificate from the CA (an error if the CA refuses or
    /// cannot be reached), then renews it on a background task until the
    /// last clone of the identity is dropped.
    pub async fn from_ca(client: CaClient) -> Result<Identity, IdentityError> {
        let dial = TcpDial(client.address);
        start(client, dial, Clock::System).await
    }
}

/// [`Identity::from_ca`] over any transport and clock (tests use in-memory
/// streams and paused time).
pub(crate) async fn start<D: Dial>(
    client: CaClient,
    dial: D,
    clock: Clock,
) -> Result<Identity, IdentityError> {
    if !valid_trust_domain(&client.trust_domain) {
        return Err(IdentityError::InvalidTrustDomain {
            trust_domain: client.trust_domain,
        });
    }
    if client.id.trust_domain() != client.trust_domain {
        return Err(IdentityError::TrustDomainMismatch {
            what: "requested SPIFFE ID",
            expected: client.trust_domain,
            actual: client.id.trust_domain().to_owned(),
        });
    }
    let ca_roots = TrustBundle::from_pem(&client.trust_domain, &client.ca_roots_pem)?;
    let state = Arc::new(State::new(client.id.clone(), ca_roots.clone(), None, clock));
    let ca_bundle = Arc::new(ArcSwap::from_pointee(ca_roots.clone()));
    let verifier = PeerVerifier::new(ca_bundle.clone(), client.ca_identity.clone(), true);
    let config = Arc::new(tls::client_config(&state, verifier, &[b"h2"]));
    let server_name = ServerName::IpAddress(client.address.ip().into());
    let session = Session::new(client, dial, config, server_name, ca_roots, ca_bundle)?;
    session.renew(&state).await?;
    let (identity, stop) = Identity::with_refresh(state.clone());
    tokio::spawn(session::rotate(session, state, stop));
    Ok(identity)
}
