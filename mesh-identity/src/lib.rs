//! Workload identity for the mesh: SPIFFE IDs, workload certificates (from
//! the mesh CA or from files), rotation, and rustls configurations that
//! verify peers by their SPIFFE identity.

mod spiffe;

/// The CA's protobuf messages and gRPC stubs (`mesh.ca.v1`).
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod pb {
    tonic::include_proto!("mesh.ca.v1");
}

pub use spiffe::{InvalidSpiffeId, SpiffeId};
