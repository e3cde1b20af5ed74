//! The mesh data plane: the policy model, the tower layers of the request
//! path, static configuration in the Istio dialect, and telemetry.
//!
//! Most users reach this crate through `mesh-tonic` or `mesh-hyper`, which
//! wrap clients and servers with the layers defined here.

pub mod policy;
pub mod suggest;
