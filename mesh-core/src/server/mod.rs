//! The inbound (server side) request path; [`ServerLayer`] puts the layers
//! together.

pub mod authorize;
mod future;
pub mod rate_limit;
mod stack;

pub use future::ResponseFuture;
pub use stack::{ServerLayer, ServerStack};
