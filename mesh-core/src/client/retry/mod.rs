//! Retries: replays a failed attempt by the route's retry policy, within
//! its retry budget and never past the request's deadline.

mod budget;

pub use budget::Budget;
