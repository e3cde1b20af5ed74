//! The endpoint registry: workloads register themselves under a declared
//! service over gRPC (`mesh.registry.v1.Registry`, see
//! `proto/registry.proto`) and keep their lease alive; a lease that lapses
//! takes its endpoint out of the service.

mod grpc;
mod leases;

pub use grpc::RegistryService;
pub use leases::Lease;
pub(crate) use leases::Leases;

/// The generated protobuf types and gRPC stubs of `mesh.registry.v1`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod pb {
    tonic::include_proto!("mesh.registry.v1");
}
