//! Trace context across two hops: caller -> sessions -> attendees share one
//! trace id, and `sessions` forwards nothing by hand.

mod support;

use mesh::Mesh;
use mesh::conference::pb::ListRequest;
use mesh::conference::pb::sessions_client::SessionsClient;
use mesh::conference::{Faults, serve_attendees, serve_sessions};
use mesh::policy::{Endpoint, Policy, Service};
use mesh::tonic::MeshChannel;
use opentelemetry::trace::{
    FutureExt, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
};

async fn conference(
    mesh: &Mesh,
) -> anyhow::Result<(mesh::conference::Running, mesh::conference::Running)> {
    let attendees = serve_attendees(mesh, "v1", Faults::none()).await?;
    let sessions = serve_sessions(mesh, "v1", "attendees:50051").await?;
    mesh.update(
        Policy::builder()
            .service(Service::new("attendees").endpoint(Endpoint::new(attendees.addr)))
            .service(Service::new("sessions").endpoint(Endpoint::new(sessions.addr))),
    )?;
    Ok((attendees, sessions))
}

#[tokio::test]
async fn the_callers_trace_reaches_the_second_hop() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let _servers = conference(&mesh).await?;
    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?;
    let parent = SpanContext::new(
        trace_id,
        SpanId::from_hex("00f067aa0ba902b7")?,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let cx = opentelemetry::Context::new().with_remote_span_context(parent);
    let mut sessions = SessionsClient::new(MeshChannel::new(&mesh, "sessions:50051")?);
    let reply = sessions
        .list(ListRequest::default())
        .with_context(cx)
        .await?
        .into_inner();
    assert_eq!(
        reply.trace_id,
        trace_id.to_string(),
        "sessions runs in the caller's trace"
    );
    assert_eq!(
        reply.downstream_trace_id,
        trace_id.to_string(),
        "attendees too"
    );
    Ok(())
}

#[tokio::test]
async fn a_caller_without_a_trace_starts_one_that_both_hops_share() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let _servers = conference(&mesh).await?;
    let mut sessions = SessionsClient::new(MeshChannel::new(&mesh, "sessions:50051")?);
    let first = sessions.list(ListRequest::default()).await?.into_inner();
    let second = sessions.list(ListRequest::default()).await?.into_inner();
    assert_eq!(first.trace_id.len(), 32, "{first:?}");
    assert_eq!(first.trace_id, first.downstream_trace_id);
    assert_ne!(
        first.trace_id, second.trace_id,
        "each call is its own trace"
    );
    Ok(())
}
