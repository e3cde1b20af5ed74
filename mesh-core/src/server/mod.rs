//! The inbound (server side) request path.

pub mod rate_limit;
