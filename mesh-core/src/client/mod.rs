//! The outbound (client side) request path.

pub mod retry;
pub mod route;
