//! tonic adapters for the mesh: [`MeshChannel`], a channel any
//! tonic-generated client accepts, and [`MeshServerLayer`] for
//! `tonic::transport::Server::builder().layer(..)`.
//!
//! ```no_run
//! # mod pb { pub mod health_client { pub struct HealthClient<T>(T); impl<T> HealthClient<T> { pub fn new(t: T) -> Self { Self(t) } } } }
//! use mesh_core::{Mesh, policy::Policy};
//! use mesh_tonic::{MeshChannel, MeshServerLayer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mesh = Mesh::new(Policy::empty());
//! // Client side: routes, retries, balances and traces every call.
//! let channel = MeshChannel::new(&mesh, "attendees:50051")?;
//! let client = pb::health_client::HealthClient::new(channel);
//! // Server side: rate limits, trace extraction, metrics.
//! let server = tonic::transport::Server::builder().layer(MeshServerLayer::new(&mesh, "attendees"));
//! # let _ = (client, server);
//! # Ok(())
//! # }
//! ```
//!
//! A server can register itself with the control plane (with labels such
//! as `version: v2`) and keep its lease alive:
//! [`MeshServerLayer::registration`], or [`Registration`] directly.

mod channel;
mod server;

pub use channel::{InvalidTarget, MeshChannel};
pub use mesh_core::registration::{
    Registration, RegistrationBuilder, RegistrationError, RegistrationStatus,
};
pub use server::MeshServerLayer;
