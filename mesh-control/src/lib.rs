//! The mesh control plane: Istio-dialect YAML from a watched directory,
//! plus endpoints that register themselves, validated into a
//! [`Policy`](mesh_core::policy::Policy), turned into xDS resources
//! (`docs/xds-mapping.md`) and served over ADS to every data plane, with an
//! admin API to see what each client has accepted.
//!
//! ```no_run
//! # async fn run() -> Result<(), mesh_control::ControlError> {
//! let running = mesh_control::ControlPlane::builder()
//!     .config_dir("deploy/mesh")
//!     .listen("127.0.0.1:0")
//!     .admin("127.0.0.1:0")
//!     .start()
//!     .await?;
//! println!("xDS on {}, admin on {:?}", running.xds_addr(), running.admin_addr());
//! // Point clients' bootstrap at `running.xds_addr()`; then, when done:
//! running.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The parts, each in its own module:
//!
//! - [`xds`]: the policy model to xDS resources, one file per type;
//! - [`snapshot`]: the versioned resources of one policy;
//! - [`ads`]: the ADS server (state of the world; delta is `UNIMPLEMENTED`);
//! - [`registry`]: self-registration with leases, over gRPC on the xDS port;
//! - the admin API (`/healthz`, `/readyz`, `/config`, `/clients`,
//!   `/errors`), on its own port;
//! - [`probe`]: a data-plane client of a running control plane, to see
//!   which endpoints serve a target (the `probe` command).

mod admin;
pub mod ads;
mod error;
mod merge;
mod plane;
pub mod probe;
pub mod registry;
pub mod snapshot;
mod source;
mod store;
pub mod xds;

pub use error::{ControlError, RegistryError};
pub use mesh_ca::CertificateAuthority;
pub use plane::{
    ControlPlane, ControlPlaneBuilder, DEFAULT_ADMIN, DEFAULT_CA_LISTEN, DEFAULT_LISTEN,
    DEFAULT_TRUST_DOMAIN, Running,
};
pub use snapshot::Snapshot;
