//! The mesh's certificate authority, modelled on istiod's CA: it signs
//! short-lived SPIFFE workload certificates from CSRs over gRPC
//! (`mesh.ca.v1.CertificateService`, see `mesh-identity/proto/ca.proto`).
//!
//! - [`CertificateAuthority`] holds the signing key and the trusted roots,
//!   either its own ([`CertificateAuthority::load_or_generate`]) or an
//!   operator's ([`CertificateAuthority::from_files`], istiod's plugged-in
//!   certificate names), and signs: the CSR's only URI SAN must be the
//!   caller's SPIFFE ID; the CA chooses every other field.
//! - Callers prove who they are with their current mesh certificate (mutual
//!   TLS, renewal) or, on first contact, with a bootstrap token
//!   ([`CertificateAuthority::bootstrap_token`]) sent as
//!   `authorization: Bearer <token>`.
//! - [`serve`] runs [`CaService`] on the CA's own TLS listener.
//!
//! ```no_run
//! # async fn run() -> Result<(), mesh_ca::CaError> {
//! use std::time::Duration;
//! use mesh_ca::CertificateAuthority;
//! use mesh_identity::SpiffeId;
//!
//! let ca = CertificateAuthority::load_or_generate("/var/lib/mesh-ca".as_ref(), "cluster.local")?;
//! let id = SpiffeId::new("cluster.local", "default", "attendees").expect("valid id");
//! println!("token for the workload: {}", ca.bootstrap_token(&id, Duration::from_secs(600)));
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:15012").await.expect("bind");
//! mesh_ca::serve(ca, listener, std::future::pending()).await
//! # }
//! ```
//!
//! # Rotating the root without dropping traffic
//!
//! Workloads trust every root in the trust bundle, and renew at half their
//! certificate's lifetime, fetching the bundle each time. So:
//!
//! 1. **Add the new root to the bundle**: [`CertificateAuthority::add_root`].
//!    Nothing chains to it yet; workloads learn to trust it as they renew.
//! 2. **Wait** until every workload has renewed (at least the maximum
//!    certificate lifetime, [`CaConfig::max_lifetime`], a day by default,
//!    plus the time for workloads that were down to come back), then make
//!    it the signer: [`CertificateAuthority::rotate_root`]. Signing with
//!    it before every workload trusts it would make those workloads refuse
//!    the certificates it signs.
//! 3. **Wait** again, for every workload to renew under the new root, then
//!    **retire the old roots**: [`CertificateAuthority::retire_roots_except_current`].
//!
//! Both steps are persisted in the CA's directory (`root-cert.pem` holds all
//! trusted roots, `root-key.pem` the signing key). With operator-provided
//! files the operator follows the same steps by editing the files: append
//! the new root to `root-cert.pem`, install the new `ca-cert.pem`,
//! `ca-key.pem` and `cert-chain.pem`, restart, wait, then remove the old
//! root from `root-cert.pem` and restart again.

mod authority;
mod config;
mod csr;
mod error;
mod identity;
mod issue;
mod pem;
mod rotation;
mod serve;
mod service;
mod signer;
mod store;
mod tls;
mod token;
mod trust;

pub use authority::{CaFiles, CertificateAuthority, IssuedCert};
pub use config::{CaConfig, requested_lifetime};
pub use error::CaError;
pub use serve::serve;
pub use service::CaService;
pub use tls::{PeerConnectInfo, PeerTlsStream};

#[cfg(test)]
mod tests;
