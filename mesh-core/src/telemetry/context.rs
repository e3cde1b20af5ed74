//! The request context a server hands its handler.
//!
//! [`ServerTraceLayer`](super::ServerTraceLayer) runs the handler under an
//! [`opentelemetry::Context`] holding the inbound trace (the server's span,
//! parented by the caller's) and the inbound baggage and, when the caller
//! sent a `grpc-timeout`, with the request's deadline in force (read it with
//! [`inbound_deadline`]). Outbound calls the handler makes read both (the
//! client trace layer continues the trace, the deadline layer clamps by the
//! inbound deadline), so nothing has to be forwarded by hand: the advantage
//! of a library mesh over a sidecar, which sees the inbound and the outbound
//! call as unrelated.
//!
//! The context follows the handler's future (and its response body). A
//! task the handler spawns starts with an empty context unless the handler
//! passes it on: hand it [`current_context`], e.g. with
//! [`opentelemetry::trace::FutureExt::with_context`]. That is
//! [`opentelemetry::Context::current`] with the deadline added as an
//! [`InboundDeadline`] value; `Context::current()` alone carries the trace
//! and baggage but not the deadline.
//!
//! The deadline is kept beside the `Context` rather than in it while the
//! handler runs because `Context::with_value` builds a new entry map on
//! every call: three heap allocations on every request with a deadline,
//! for a value most handlers never hand on. [`current_context`] pays them
//! only when asked.

use std::cell::Cell;

use opentelemetry::Context;
use tokio::time::Instant;

/// When an inbound request must be answered by, from its `grpc-timeout`: a
/// value in an [`opentelemetry::Context`], put there by
/// [`current_context`] (or by hand) to carry the deadline into a spawned
/// task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboundDeadline(pub Instant);

thread_local! {
    /// The deadline of the inbound request whose handler (or response
    /// body) is being polled on this thread, set by the server trace
    /// layer for the length of each poll.
    static POLLED_DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Sets the inbound deadline of this thread while it lives, and restores
/// the one before when dropped (polls nest: an in-process server called
/// from a handler).
#[must_use = "the deadline is unset when the guard drops"]
pub(crate) struct DeadlineGuard {
    previous: Option<Instant>,
}

impl DeadlineGuard {
    /// Makes `deadline` the inbound deadline until the guard drops.
    pub(crate) fn enter(deadline: Option<Instant>) -> Self {
        // During thread teardown there is no handler left to see it.
        let previous = POLLED_DEADLINE
            .try_with(|d| d.replace(deadline))
            .unwrap_or_default();
        Self { previous }
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        let _ = POLLED_DEADLINE.try_with(|d| d.set(self.previous));
    }
}

/// The deadline of the inbound request whose handler is running, if the
/// caller set one: the earlier of the one the server trace layer set for
/// the handler being polled and an [`InboundDeadline`] in the current
/// [`Context`].
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
    let polled = POLLED_DEADLINE.try_with(Cell::get).ok().flatten();
    let attached = Context::map_current(|cx| cx.get::<InboundDeadline>().map(|d| d.0));
    [polled, attached].into_iter().flatten().min()
}

/// The current [`Context`] with the inbound deadline in it as an
/// [`InboundDeadline`]: what a handler hands a task it spawns so that the
/// task's outbound calls continue the trace and keep the deadline.
///
/// ```
/// use mesh_core::telemetry::{current_context, inbound_deadline};
/// use opentelemetry::trace::FutureExt as _;
///
/// # async fn handler() {
/// // Inside a handler served behind the mesh:
/// let task = tokio::spawn(
///     async { inbound_deadline() /* and outbound calls */ }.with_context(current_context()),
/// );
/// assert_eq!(task.await.ok().flatten(), inbound_deadline());
/// # }
/// ```
pub fn current_context() -> Context {
    let cx = Context::current();
    match POLLED_DEADLINE.try_with(Cell::get).ok().flatten() {
        Some(at) if cx.get::<InboundDeadline>().is_none_or(|d| at < d.0) => {
            cx.with_value(InboundDeadline(at))
        }
        _ => cx,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_guard_sets_the_deadline_until_it_drops_and_guards_nest() {
        let outer = Instant::now() + Duration::from_secs(2);
        let inner = Instant::now() + Duration::from_secs(1);
        assert_eq!(inbound_deadline(), None);
        {
            let _outer = DeadlineGuard::enter(Some(outer));
            assert_eq!(inbound_deadline(), Some(outer));
            {
                let _inner = DeadlineGuard::enter(Some(inner));
                assert_eq!(inbound_deadline(), Some(inner));
                let _none = DeadlineGuard::enter(None);
                assert_eq!(inbound_deadline(), None);
            }
            assert_eq!(inbound_deadline(), Some(outer));
        }
        assert_eq!(inbound_deadline(), None);
    }

    #[test]
    fn the_earlier_of_the_polled_and_the_attached_deadline_is_in_force() {
        let early = Instant::now() + Duration::from_secs(1);
        let late = early + Duration::from_secs(1);
        let _late = Context::current_with_value(InboundDeadline(late)).attach();
        assert_eq!(inbound_deadline(), Some(late));
        let guard = DeadlineGuard::enter(Some(early));
        assert_eq!(inbound_deadline(), Some(early));
        drop(guard);
        let _early = Context::current_with_value(InboundDeadline(early)).attach();
        let _guard = DeadlineGuard::enter(Some(late));
        assert_eq!(inbound_deadline(), Some(early));
    }

    #[test]
    fn current_context_carries_the_polled_deadline_and_only_an_earlier_one() {
        let early = Instant::now() + Duration::from_secs(1);
        let late = early + Duration::from_secs(1);
        let deadline_in = |cx: &Context| cx.get::<InboundDeadline>().map(|d| d.0);
        assert_eq!(deadline_in(&current_context()), None);
        {
            let _guard = DeadlineGuard::enter(Some(late));
            let cx = current_context();
            assert_eq!(deadline_in(&cx), Some(late));
            // Elsewhere, with no deadline set, the context still has it.
            drop(_guard);
            let _attached = cx.attach();
            assert_eq!(inbound_deadline(), Some(late));
            let _guard = DeadlineGuard::enter(Some(early));
            assert_eq!(deadline_in(&current_context()), Some(early));
        }
        let _attached = Context::current_with_value(InboundDeadline(early)).attach();
        let _guard = DeadlineGuard::enter(Some(late));
        assert_eq!(deadline_in(&current_context()), Some(early));
    }
}
