//! The endpoint registry: workloads register themselves under a declared
//! service over gRPC (`mesh.registry.v1.Registry`, see
//! `mesh-core/proto/registry.proto`) and keep their lease alive; a lease
//! that lapses takes its endpoint out of the service. Workloads use
//! `mesh_core::registration` to do so.

mod grpc;
mod leases;

pub use grpc::RegistryService;
pub use leases::Lease;
pub(crate) use leases::Leases;

/// The protobuf types and gRPC stubs of `mesh.registry.v1`, generated in
/// `mesh-core` (which holds `proto/registry.proto`, so that workloads can
/// register without depending on the control plane).
pub use mesh_core::registration::pb;
