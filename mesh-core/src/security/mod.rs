//! Mutual TLS on the data plane: the client side picks and verifies the
//! peer's SPIFFE identity ([`upstream`]); the server side terminates TLS as
//! the workload's `PeerAuthentication` asks ([`accept`]) and hands the
//! caller's identity to authorization and the application
//! ([`ConnectionInfo`]).

pub mod accept;
mod connection;
mod io;
pub mod upstream;
pub(crate) mod workload;

pub use accept::{AcceptError, Accepted, MeshAcceptor};
pub use connection::{ConnectionInfo, WithConnectionInfo};
pub use io::MeshStream;
pub use mesh_identity::{Identity, PeerIdentity, SpiffeId};
pub use workload::WorkloadPolicy;
