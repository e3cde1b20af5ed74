//! The outbound (client side) request path; [`client_stack`] puts the
//! layers together.

pub mod balance;
pub mod deadline;
pub mod local_reply;
pub mod retry;
pub mod route;
mod stack;

pub use stack::{ClientStack, client_stack};
