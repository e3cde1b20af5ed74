//! The request context a server hands its handler.
//!
//! [`ServerTraceLayer`](super::ServerTraceLayer) runs the handler under an
//! [`opentelemetry::Context`] holding the inbound trace (the server's span,
//! parented by the caller's), the inbound baggage and, when the caller sent
//! a `grpc-timeout`, an [`InboundDeadline`]. Outbound calls the handler makes
//! read that context (the client trace layer continues the trace, the
//! deadline layer clamps by the inbound deadline), so nothing has to be
//! forwarded by hand: the advantage of a library mesh over a sidecar, which
//! sees the inbound and the outbound call as unrelated.
//!
//! The context follows the handler's future. A task the handler spawns
//! starts with an empty context unless the handler passes it on, e.g. with
//! [`opentelemetry::trace::FutureExt::with_context`] and
//! [`opentelemetry::Context::current`].

use opentelemetry::Context;
use tokio::time::Instant;

/// When the inbound request being served must be answered by, from its
/// `grpc-timeout`; a value in the server's [`opentelemetry::Context`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboundDeadline(pub Instant);

/// The deadline of the inbound request whose handler is running, if the
/// caller set one.
///
/// ```
/// use mesh_core::telemetry::{InboundDeadline, inbound_deadline};
/// use opentelemetry::Context;
/// use tokio::time::Instant;
///
/// assert_eq!(inbound_deadline(), None);
/// let at = Instant::now();
/// let _guard = Context::current_with_value(InboundDeadline(at)).attach();
/// assert_eq!(inbound_deadline(), Some(at));
/// ```
pub fn inbound_deadline() -> Option<Instant> {
    Context::map_current(|cx| cx.get::<InboundDeadline>().map(|d| d.0))
}
