//! The outbound stack in one place: which layers, in which order, and why.

use tower_layer::Layer;

use crate::client::balance::Balance;
use crate::client::deadline::{Deadline, DeadlineLayer};
use crate::client::local_reply::{LocalReply, LocalReplyLayer};
use crate::client::retry::{Retry, RetryBody, RetryLayer};
use crate::client::route::{Route, RouteLayer};
use crate::mesh::Mesh;
use crate::protocol::Protocol;
use crate::telemetry::metrics::{ClientMetrics, ClientMetricsLayer};
use crate::telemetry::trace::{ClientTrace, ClientTraceLayer};
use crate::transport::Connector;

/// The outbound stack for requests with body `B` over connector `C`,
/// outermost first (see [`client_stack`]).
pub type ClientStack<C, B> =
    ClientTrace<LocalReply<Route<ClientMetrics<Deadline<Retry<Balance<C, RetryBody<B>>>>>>>>;

/// Builds the outbound stack for `target` (a host, optionally with a port).
///
/// The order, outermost first, and why each layer sits where it does:
/// 1. trace context: the client span covers every attempt and the mesh's
///    own replies, and `traceparent` is on the request before anything
///    else sees it;
/// 2. local replies: below tracing so the span records the status the
///    caller gets, above everything that can fail;
/// 3. route: one snapshot per request, the route and destination chosen
///    once, whatever retries follow;
/// 4. metrics: below routing, so it can label by route and destination;
///    above retries, so a request counts once with its final outcome;
/// 5. deadline: the route's timeout clamped by inherited deadlines, over
///    all attempts;
/// 6. retry: inside the deadline, which it never retries past;
/// 7. load balancer and transport: per attempt, so a retry may go to
///    another endpoint.
pub fn client_stack<C, B>(
    mesh: &Mesh,
    target: &str,
    protocol: Protocol,
    connector: C,
) -> ClientStack<C, B>
where
    C: Connector<RetryBody<B>>,
{
    let balance = Balance::new(connector, mesh);
    let retry = RetryLayer::new(mesh.clone(), target, protocol).layer(balance);
    let deadline = DeadlineLayer::new(protocol).layer(retry);
    let metrics = ClientMetricsLayer::new(mesh.clone(), target, protocol).layer(deadline);
    let route = RouteLayer::new(mesh.clone(), target).layer(metrics);
    let reply = LocalReplyLayer::new(protocol).layer(route);
    ClientTraceLayer::new(target).layer(reply)
}
