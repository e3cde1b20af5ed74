//! rustls configurations that follow an [`Identity`]: resolvers read the
//! current certificate and verifiers the current bundle on every handshake,
//! so rotation never rebuilds a config.

use std::sync::{Arc, LazyLock};

use rustls::client::{ResolvesClientCert, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ServerConfig, SignatureScheme};

use crate::identity::{Identity, State};
use crate::spiffe::SpiffeId;
use crate::verifier::PeerVerifier;

static PROVIDER: LazyLock<Arc<CryptoProvider>> =
    LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));

/// The one crypto provider the mesh uses: ring, passed explicitly, never
/// the process default.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    PROVIDER.clone()
}

/// Whether a server requires client certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client must present a valid workload certificate (STRICT).
    Required,
    /// Clients may present no certificate (PERMISSIVE, e.g. while migrating
    /// from plaintext); a certificate that is presented is still verified.
    Optional,
}

/// Presents the identity's current certificate; nothing once it has
/// expired (fail closed).
struct CurrentCert(Arc<State>);

impl std::fmt::Debug for CurrentCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CurrentCert")
            .field(&self.0.latest())
            .finish()
    }
}

impl CurrentCert {
    fn get(&self) -> Option<Arc<CertifiedKey>> {
        self.0
            .current()
            .ok()
            .map(|cert| cert.certified_key().clone())
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.get()
    }
}

impl ResolvesClientCert for CurrentCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.get()
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl Identity {
    /// A server config presenting this workload's certificate and verifying
    /// clients by SPIFFE identity against the trust bundle. TLS 1.3 and 1.2.
    ///
    /// Session resumption is off, so every connection verifies the peer's
    /// current certificate.
    pub fn server_config(&self, client_auth: ClientAuth, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let state = self.state();
        let verifier = PeerVerifier::new(
            state.bundle.clone(),
            None,
            client_auth == ClientAuth::Required,
        );
        let mut config =
            ServerConfig::builder_with_details(provider(), Arc::new(state.clock.clone()))
                .with_safe_default_protocol_versions()
                .expect("the ring provider supports TLS 1.3 and 1.2")
                .with_client_cert_verifier(Arc::new(verifier))
                .with_cert_resolver(Arc::new(CurrentCert(state.clone())));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Arc::new(config)
    }

    /// A client config presenting this workload's certificate and verifying
    /// servers by SPIFFE identity (any identity of the trust domain; the
    /// server name is not checked). TLS 1.3 and 1.2.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        self.client_config_with(None, alpn)
    }

    /// Like [`client_config`](Self::client_config), but the server must be
    /// exactly `server` (secure naming).
    pub fn client_config_expecting(&self, server: SpiffeId, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        self.client_config_with(Some(server), alpn)
    }

    pub(crate) fn client_config_with(
        &self,
        expected: Option<SpiffeId>,
        alpn: &[&[u8]],
    ) -> Arc<ClientConfig> {
        let state = self.state();
        let verifier = PeerVerifier::new(state.bundle.clone(), expected, true);
        Arc::new(client_config(state, verifier, alpn))
    }
}

/// A client config for `state`'s certificate, verifying with `verifier`.
pub(crate) fn client_config(
    state: &Arc<State>,
    verifier: PeerVerifier,
    alpn: &[&[u8]],
) -> ClientConfig {
    let mut config = ClientConfig::builder_with_details(provider(), Arc::new(state.clock.clone()))
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports TLS 1.3 and 1.2")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_cert_resolver(Arc::new(CurrentCert(state.clone())));
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config.resumption = Resumption::disabled();
    config
}
