//! The security slice of the policy: how clients protect connections to a
//! service (`UpstreamTls`), and the peer authentication and authorization
//! policies servers enforce (`Security`).

use mesh_authz::{AuthorizationPolicy, MtlsMode, PeerAuthentication};
use mesh_identity::SpiffeId;

/// Whether a client uses mutual TLS to a service's endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UpstreamTlsMode {
    /// Mutual TLS when this workload has an identity, plaintext otherwise
    /// (Istio's auto mTLS: a server in PERMISSIVE mode takes both).
    #[default]
    Auto,
    /// Always mutual TLS; a workload with no identity fails its requests
    /// with an error that says so (DestinationRule `tls.mode: ISTIO_MUTUAL`).
    Mutual,
    /// Always plaintext (DestinationRule `tls.mode: DISABLE`).
    Disable,
}

/// How clients protect connections to one service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpstreamTls {
    /// Whether to use mutual TLS.
    pub mode: UpstreamTlsMode,
    /// The identities the service's endpoints may present; empty accepts
    /// any identity of the trust domain. (xDS: the cluster's SAN matchers.)
    pub identities: Vec<SpiffeId>,
}

impl UpstreamTls {
    /// Mutual TLS, accepting only `identities` (any in the trust domain
    /// when empty).
    pub fn mutual(identities: impl IntoIterator<Item = SpiffeId>) -> Self {
        Self {
            mode: UpstreamTlsMode::Mutual,
            identities: identities.into_iter().collect(),
        }
    }

    /// Plaintext.
    pub fn disabled() -> Self {
        Self {
            mode: UpstreamTlsMode::Disable,
            identities: Vec::new(),
        }
    }
}

/// The namespace whose policies apply mesh-wide, as Istio's `istio-system`.
pub const DEFAULT_ROOT_NAMESPACE: &str = "istio-system";

/// Peer authentication and authorization policies, evaluated by servers
/// for the workload they serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Security {
    /// Policies in this namespace apply to every workload.
    pub root_namespace: String,
    /// `PeerAuthentication`s: which workloads require mutual TLS.
    pub peer_authentications: Vec<PeerAuthentication>,
    /// `AuthorizationPolicy`s: who may call what.
    pub authorization_policies: Vec<AuthorizationPolicy>,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            root_namespace: DEFAULT_ROOT_NAMESPACE.to_owned(),
            peer_authentications: Vec::new(),
            authorization_policies: Vec::new(),
        }
    }
}

/// The security of the server at one address, as a control plane chose it
/// for the workload there (an xDS inbound listener, gRFC A36): the mode in
/// force and the authorization policies that apply, already selected, so
/// neither namespaces nor selectors are looked at again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundSecurity {
    /// The mutual TLS mode.
    pub mode: MtlsMode,
    /// The `PeerAuthentication` (`ns/name`) that set the mode, if any.
    pub mode_policy: Option<String>,
    /// The authorization policies for this server.
    pub authorization_policies: Vec<AuthorizationPolicy>,
}
