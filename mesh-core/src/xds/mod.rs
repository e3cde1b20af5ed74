//! The data plane's xDS client: a bootstrap in gRPC's format, an ADS
//! (state of the world) stream following LDS -> RDS -> CDS -> EDS, and the
//! translation of those resources back into a [`crate::policy::Policy`]
//! (docs/xds-mapping.md), installed into the [`crate::Mesh`] on every change.
//!
//! Protocol rules (gRFC A27, A46, A57, A71): ACK with the new version, NACK
//! with the previous one and an error that names the resource and field;
//! only the bad resources of a response are rejected; cached resources stay
//! in force while no server answers; a fallback server is used only for what
//! is not cached; the last known good resources can be persisted.
//!
//! Servers subscribe to their inbound listener by address
//! ([`XdsClient::watch_inbound`]): its filter chains and RBAC filters
//! become the policy's [`crate::policy::Security`] (gRFC A29, A36, A41).
//!
//! Translation is one file per resource type ([`Resources`] is the public
//! face): unsupported input is rejected, never silently ignored.

mod assemble;
pub(crate) mod backoff;
mod bootstrap;
mod bootstrap_json;
mod client;
mod cluster;
mod endpoint;
mod error;
mod inbound;
mod kind;
mod listener;
mod names;
mod persist;
mod proto;
mod rbac;
mod resources;
mod retry;
mod route;
mod route_match;
mod state;
mod timers;
mod tls;
mod worker;

#[cfg(test)]
mod tests;

pub use assemble::SUBSET_LABEL_PREFIX;
pub use bootstrap::{
    BOOTSTRAP_CONFIG_ENV, BOOTSTRAP_ENV, Bootstrap, BootstrapBuilder, ChannelCreds,
    FileWatcherProvider, Locality, Node, XdsServer,
};
pub use client::{XdsClient, XdsClientBuilder};
pub use error::{BootstrapError, FieldError, Problem, ResourceError, XdsError};
pub use kind::Kind;
pub use names::{INBOUND_LISTENER_PREFIX, inbound_listener_name};
pub use resources::Resources;
