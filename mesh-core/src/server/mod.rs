//! The inbound (server side) request path; [`ServerLayer`] puts the layers
//! together.

pub mod rate_limit;
mod stack;

pub use stack::{ServerLayer, ServerStack};
