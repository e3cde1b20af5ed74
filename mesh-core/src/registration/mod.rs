//! Self-registration: a server tells the control plane where it serves
//! (`mesh.registry.v1.Registry`, `proto/registry.proto`), with the labels
//! its DestinationRule subsets select on, and keeps its lease alive.
//!
//! [`Registration::builder`] starts a background task that registers,
//! renews the lease at about a third of its TTL (jittered), registers
//! again if the lease was lost (it lapsed, or the control plane
//! restarted), and backs off while the control plane is unreachable.
//! Serving never waits on it: a server whose control plane is down keeps
//! serving, and joins the service once the control plane is back.
//!
//! ```no_run
//! # async fn run() -> Result<(), mesh_core::registration::RegistrationError> {
//! use std::time::Duration;
//! use mesh_core::registration::Registration;
//!
//! let addr = "10.0.0.7:50051".parse().unwrap();
//! let registration = Registration::builder("http://127.0.0.1:15010", "attendees", addr)
//!     .label("version", "v2")
//!     .ttl(Duration::from_secs(10))
//!     .start()?;
//! // Optional: wait for the first lease (or the control plane's refusal).
//! let lease = registration.registered().await?;
//! println!("registered, lease {} for {:?}", lease.id, lease.ttl);
//! // ... serve ...
//! registration.shutdown().await?; // deregisters
//! # Ok(()) }
//! ```
//!
//! Dropping the handle instead stops the keep-alives without
//! deregistering: the endpoint leaves the service when its lease lapses.

mod builder;
mod error;
mod handle;
mod task;

pub use builder::RegistrationBuilder;
pub use error::RegistrationError;
pub use handle::{Lease, Registration, RegistrationStatus};

/// The generated protobuf types and gRPC stubs of `mesh.registry.v1`:
/// the client this module uses, and the server the control plane
/// implements.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod pb {
    tonic::include_proto!("mesh.registry.v1");
}
