//! **mesh**: a proxyless service mesh for Rust.
//!
//! Instead of a sidecar proxy beside every service, the mesh is a stack of
//! tower layers linked into each tonic or hyper service: routing, retries,
//! deadlines, load balancing, rate limiting, trace propagation and metrics,
//! mutual TLS with SPIFFE identities and authorization policies, driven by
//! a policy in the Istio dialect that can be swapped at run time.
//!
//! This facade re-exports the crates:
//! - [`core`] (`mesh-core`): the policy model, the [`Mesh`] handle, the
//!   layers, YAML configuration and telemetry;
//! - [`tonic`] (`mesh-tonic`): [`tonic::MeshChannel`] for generated
//!   clients and [`tonic::MeshServerLayer`] for servers;
//! - [`hyper`] (`mesh-hyper`): the same for hyper clients and servers;
//! - [`identity`] (`mesh-identity`): workload certificates (from the mesh
//!   CA or files), rotation, and SPIFFE peer verification;
//! - [`authz`] (`mesh-authz`): Istio's `AuthorizationPolicy` and
//!   `PeerAuthentication` semantics and request path normalization;
//! - [`conference`]: the seed's conference services, used by the demo
//!   (`cargo run --release --example conference`) and the tests.

pub mod conference;

pub use mesh_authz as authz;
pub use mesh_core as core;
pub use mesh_core::{Mesh, MeshError, config, policy};
pub use mesh_hyper as hyper;
pub use mesh_identity as identity;
pub use mesh_tonic as tonic;
