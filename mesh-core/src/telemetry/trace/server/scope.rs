//! The request's trace context, deadline and span, entered together for
//! each poll of its handler and response body.

use tokio::time::Instant;

use crate::telemetry::context::DeadlineGuard;

/// What the handler's future and then its response body are polled under:
/// the request's [`opentelemetry::Context`], its deadline and the
/// `mesh.server` span.
#[derive(Debug)]
pub(super) struct RequestScope {
    cx: opentelemetry::Context,
    deadline: Option<Instant>,
    span: tracing::Span,
}

/// The scope made current; leaving it restores what was current before.
pub(super) struct Entered<'a> {
    // Dropped in this order: the reverse of entering.
    _span: tracing::span::Entered<'a>,
    _deadline: DeadlineGuard,
    _cx: opentelemetry::ContextGuard,
}

impl RequestScope {
    pub(super) fn new(
        cx: opentelemetry::Context,
        deadline: Option<Instant>,
        span: tracing::Span,
    ) -> Self {
        Self { cx, deadline, span }
    }

    /// Takes the scope out, leaving an empty one.
    pub(super) fn take(&mut self) -> Self {
        std::mem::replace(
            self,
            Self::new(opentelemetry::Context::new(), None, tracing::Span::none()),
        )
    }

    /// Makes the scope current for one poll.
    pub(super) fn enter(&self) -> Entered<'_> {
        // A clone of the context is a few reference counts.
        let cx = self.cx.clone().attach();
        let deadline = DeadlineGuard::enter(self.deadline);
        Entered {
            _span: self.span.enter(),
            _deadline: deadline,
            _cx: cx,
        }
    }
}
