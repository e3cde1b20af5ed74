//! Workload identity for the mesh: SPIFFE IDs, workload certificates (from
//! the mesh CA or from files), rotation, and rustls configurations that
//! verify peers by their SPIFFE identity.
//!
//! - [`Identity`] is the live identity of this workload: build it with
//!   [`Identity::fixed`], [`Identity::from_files`] or [`Identity::from_ca`],
//!   then take [`Identity::server_config`] / [`Identity::client_config`];
//!   rotation swaps certificates and bundles under those configs.
//! - Peers are verified by chain (webpki, against the [`TrustBundle`]) and
//!   by identity (one `spiffe://` URI SAN in our trust domain); rejections
//!   are [`PeerError`]s whose messages appear in the handshake error.
//! - Everything uses the ring crypto provider, passed explicitly.

mod bundle;
mod ca;
mod cert;
mod clock;
mod error;
mod files;
mod identity;
mod leaf;
mod peer;
mod spiffe;
mod tls;
mod verifier;

#[cfg(any(test, feature = "test-support"))]
pub mod testing;

#[cfg(test)]
mod tests;

/// The CA's protobuf messages and gRPC stubs (`mesh.ca.v1`).
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod pb {
    tonic::include_proto!("mesh.ca.v1");
}

pub use bundle::TrustBundle;
pub use ca::CaClient;
pub use cert::WorkloadCert;
pub use error::IdentityError;
pub use files::FileWatcher;
pub use identity::Identity;
pub use peer::{PeerError, PeerIdentity, peer_identity};
pub use spiffe::{InvalidSpiffeId, SpiffeId};
pub use tls::ClientAuth;
