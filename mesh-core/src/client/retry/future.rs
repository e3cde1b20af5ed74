use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::request::Parts;
use http::{HeaderName, HeaderValue, Method, Request, Response, Uri, Version};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep, sleep_until};
use tower_service::Service;

use super::body::{Buffered, RetryBody};
use super::classify::is_retryable;
use super::set_grpc_timeout;
use crate::client::route::RouteDecision;
use crate::error::MeshError;
use crate::mesh::Mesh;
use crate::policy::Backoff;
use crate::protocol::Protocol;

pin_project! {
    /// The response of [`super::Retry`].
    // pin-project-lite takes no attributes on fields; each variant's doc
    // says what its fields hold.
    #[allow(missing_docs)]
    #[project = Proj]
    pub enum ResponseFuture<S, B>
    where
        S: Service<Request<RetryBody<B>>>,
    {
        /// No retries possible: one attempt.
        Once { #[pin] future: S::Future },
        /// Attempts until one succeeds or the policy says stop.
        Retrying { #[pin] retrying: Retrying<S, B> },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<RetryBody<B>>>,
{
    pub(super) fn once(future: S::Future) -> Self {
        ResponseFuture::Once { future }
    }

    pub(super) fn retrying(retrying: Retrying<S, B>) -> Self {
        ResponseFuture::Retrying { retrying }
    }
}

impl<S, B, R> Future for ResponseFuture<S, B>
where
    S: Service<Request<RetryBody<B>>, Response = Response<R>, Error = MeshError>,
{
    type Output = Result<Response<R>, MeshError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Once { future } => future.poll(cx),
            Proj::Retrying { retrying } => retrying.poll(cx),
        }
    }
}

/// Where a retrying request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the inner service to be ready for the next attempt.
    Ready,
    /// An attempt is in flight; `timer` is its per-try timeout, if armed.
    Attempting,
    /// Waiting out the backoff before the next attempt; `timer` ends it.
    Backoff,
}

pin_project! {
    /// A request with a retry policy and a replayable body.
    ///
    /// Every layer above moves this future by value, so it holds no more
    /// than a retry needs: the first attempt is sent when the request is
    /// made (its head is not kept twice), the deadline is read from the
    /// decision, and the timer is boxed, only for per-try timeouts and
    /// backoffs.
    pub struct Retrying<S, B>
    where
        S: Service<Request<RetryBody<B>>>,
    {
        #[pin]
        attempt: Option<S::Future>,
        timer: Option<Pin<Box<Sleep>>>,
        timer_armed: bool,
        phase: Phase,
        service: S,
        copy: HeadCopy,
        body: Buffered,
        decision: RouteDecision,
        protocol: Protocol,
        retries_done: u32,
        mesh: Mesh,
        target: Arc<str>,
    }
}

/// What a retry rebuilds the request's head from (see the module's doc).
///
/// The headers are kept as a list rather than a cloned `HeaderMap`: one
/// allocation instead of two, and the map is only rebuilt if a retry is
/// actually taken. Names and values are `Bytes` underneath, so copying
/// them shares rather than copies.
#[derive(Debug)]
struct HeadCopy {
    method: Method,
    uri: Uri,
    version: Version,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl HeadCopy {
    fn of(head: &Parts) -> Self {
        Self {
            method: head.method.clone(),
            uri: head.uri.clone(),
            version: head.version,
            headers: head
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        }
    }

    /// A head for another attempt, carrying `decision`.
    fn rebuild(&self, decision: &RouteDecision) -> Parts {
        let mut req = Request::new(());
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.version_mut() = self.version;
        let headers = req.headers_mut();
        headers.reserve(self.headers.len());
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        req.extensions_mut().insert(decision.clone());
        req.into_parts().0
    }
}

/// Exponential backoff with full jitter: uniformly random up to
/// `base × 2^retry`, capped at `max`.
fn backoff(policy: &Backoff, retry: u32) -> Duration {
    let ceiling = policy
        .base
        .saturating_mul(1u32 << retry.min(16))
        .min(policy.max);
    ceiling.mul_f64(fastrand::f64())
}

/// Sends one attempt: `head` with its `grpc-timeout` set, and the body
/// replayed. Returns the attempt and when its per-try timeout ends.
fn send<S, B>(
    service: &mut S,
    mut head: Parts,
    body: &Buffered,
    decision: &RouteDecision,
    protocol: Protocol,
) -> (S::Future, Option<Instant>)
where
    S: Service<Request<RetryBody<B>>>,
{
    let ends = decision
        .route()
        .retry
        .as_ref()
        .and_then(|r| r.per_try_timeout)
        .map(|t| Instant::now() + t);
    set_grpc_timeout(&mut head.headers, protocol, decision.deadline(), ends);
    (service.call(Request::from_parts(head, body.replay())), ends)
}

/// Sets `timer` to fire at `at`, creating it the first time.
fn arm(timer: &mut Option<Pin<Box<Sleep>>>, at: Instant) {
    crate::timer_anchor::hold_for(at.saturating_duration_since(Instant::now()));
    match timer {
        Some(timer) => timer.as_mut().reset(at),
        None => *timer = Some(Box::pin(sleep_until(at))),
    }
}

impl<S, B> Retrying<S, B>
where
    S: Service<Request<RetryBody<B>>>,
{
    /// Sends the first attempt on `service`, which the caller polled ready
    /// (the retry layer's own readiness), and keeps what retries need.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start(
        mut service: S,
        head: Parts,
        body: Buffered,
        decision: RouteDecision,
        protocol: Protocol,
        mesh: Mesh,
        target: Arc<str>,
    ) -> Self {
        let copy = HeadCopy::of(&head);
        let (attempt, ends) = send(&mut service, head, &body, &decision, protocol);
        let mut timer = None;
        if let Some(ends) = ends {
            arm(&mut timer, ends);
        }
        Self {
            attempt: Some(attempt),
            timer,
            timer_armed: ends.is_some(),
            phase: Phase::Attempting,
            service,
            copy,
            body,
            decision,
            protocol,
            retries_done: 0,
            mesh,
            target,
        }
    }
}

impl<S, B, R> Future for Retrying<S, B>
where
    S: Service<Request<RetryBody<B>>, Response = Response<R>, Error = MeshError>,
{
    type Output = Result<Response<R>, MeshError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match *this.phase {
                Phase::Ready => {
                    ready!(this.service.poll_ready(cx))?;
                    let head = this.copy.rebuild(this.decision);
                    let (attempt, ends) =
                        send(this.service, head, this.body, this.decision, *this.protocol);
                    this.attempt.set(Some(attempt));
                    *this.timer_armed = ends.is_some();
                    if let Some(ends) = ends {
                        arm(this.timer, ends);
                    }
                    *this.phase = Phase::Attempting;
                }
                Phase::Attempting => {
                    let Some(attempt) = this.attempt.as_mut().as_pin_mut() else {
                        *this.phase = Phase::Ready;
                        continue;
                    };
                    let result = match attempt.poll(cx) {
                        Poll::Ready(result) => result,
                        // The attempt's per-try timer, if it has one.
                        Poll::Pending => match this.timer.as_mut().filter(|_| *this.timer_armed) {
                            Some(timer) => {
                                ready!(timer.as_mut().poll(cx));
                                let policy = this.decision.route().retry.as_ref();
                                Err(MeshError::PerTryTimeout {
                                    destination: this.decision.destination().host.clone(),
                                    timeout: policy
                                        .and_then(|p| p.per_try_timeout)
                                        .unwrap_or_default(),
                                })
                            }
                            None => return Poll::Pending,
                        },
                    };
                    // Drops a timed-out attempt, cancelling it.
                    this.attempt.set(None);
                    let Some(policy) = this.decision.route().retry.as_ref() else {
                        return Poll::Ready(result);
                    };
                    if *this.retries_done >= policy.attempts
                        || !is_retryable(policy, *this.protocol, &result)
                    {
                        return Poll::Ready(result);
                    }
                    let wait = backoff(&policy.backoff, *this.retries_done);
                    let resume = Instant::now() + wait;
                    // No retry that would start past the deadline: the
                    // caller gets the failure while there is time to act.
                    if this.decision.deadline().is_some_and(|d| resume >= d.at) {
                        return Poll::Ready(result);
                    }
                    if !this.decision.retry_budget().is_none_or(|b| b.withdraw()) {
                        tracing::debug!(route = %this.decision.route().name, "retry budget exhausted");
                        return Poll::Ready(result);
                    }
                    *this.retries_done += 1;
                    this.mesh
                        .metrics()
                        .record_retry(this.target, &this.decision.route().name);
                    tracing::debug!(
                        route = %this.decision.route().name,
                        retry = *this.retries_done,
                        ?wait,
                        "retrying"
                    );
                    arm(this.timer, resume);
                    *this.phase = Phase::Backoff;
                }
                Phase::Backoff => {
                    if let Some(timer) = this.timer.as_mut() {
                        ready!(timer.as_mut().poll(cx));
                    }
                    *this.phase = Phase::Ready;
                }
            }
        }
    }
}
