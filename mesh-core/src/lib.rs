//! The mesh data plane: the policy model, the tower layers of the request
//! path, static configuration in the Istio dialect, telemetry, the xDS
//! client ([`xds`]) and self-registration with the control plane
//! ([`registration`]).
//!
//! Most users reach this crate through `mesh-tonic` or `mesh-hyper`, which
//! wrap clients and servers with the layers defined here.

pub mod body;
pub mod client;
pub mod config;
pub mod error;
pub mod future;
mod mesh;
pub mod policy;
pub mod protocol;
pub mod registration;
pub mod security;
pub mod server;
pub mod suggest;
pub mod telemetry;
mod timer_anchor;
pub mod transport;
pub mod xds;

pub use error::{BoxError, MeshError, Unhealthy};
pub use mesh::{Mesh, Snapshot};
