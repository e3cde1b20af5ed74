//! Retries against a real backend that fails: hidden from the caller while
//! the retry budget lasts, capped once it is spent.

mod support;

use std::time::Duration;

use mesh::Mesh;
use mesh::conference::{Faults, serve_attendees};
use mesh::policy::{Backoff, GrpcRetryOn, Policy, Ratio, RetryBudget, RetryPolicy};
use support::{all_to, attendees_policy, client, list};

fn retry_on_unavailable(attempts: u32, budget: RetryBudget) -> RetryPolicy {
    let mut p = RetryPolicy::new(attempts);
    p.grpc_on = vec![GrpcRetryOn::Unavailable];
    p.backoff = Backoff {
        base: Duration::from_millis(1),
        max: Duration::from_millis(5),
    };
    p.budget = budget;
    p
}

#[tokio::test]
async fn retries_hide_a_backend_failing_every_other_request() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let faults = Faults::none();
    faults.fail_one_in(2);
    let v2 = serve_attendees(&mesh, "v2", faults.clone()).await?;
    let route = all_to("v2").retry(retry_on_unavailable(2, RetryBudget::default()));
    mesh.update(attendees_policy(v2.addr, v2.addr, vec![route]))?;
    let mut c = client(&mesh);
    for _ in 0..100 {
        assert_eq!(list(&mut c).await?.version, "v2");
    }
    // Half the attempts failed, so the backend saw about twice the calls.
    assert!(
        faults.requests_seen() >= 199,
        "seen {}",
        faults.requests_seen()
    );
    Ok(())
}

#[tokio::test]
async fn without_retries_the_failures_reach_the_caller() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let faults = Faults::none();
    faults.fail_one_in(2);
    let v2 = serve_attendees(&mesh, "v2", faults).await?;
    mesh.update(attendees_policy(v2.addr, v2.addr, vec![all_to("v2")]))?;
    let mut c = client(&mesh);
    let mut failed = 0;
    for _ in 0..100 {
        if let Err(status) = list(&mut c).await {
            assert_eq!(status.code(), tonic::Code::Unavailable);
            assert!(
                status.message().contains("injected failure"),
                "{}",
                status.message()
            );
            failed += 1;
        }
    }
    assert_eq!(failed, 50);
    Ok(())
}

#[tokio::test]
async fn an_exhausted_budget_caps_the_extra_load() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let faults = Faults::none();
    faults.fail_one_in(1);
    let v2 = serve_attendees(&mesh, "v2", faults.clone()).await?;
    // 10 % extra load and no floor: 200 failing requests may cost at most
    // 20 retries, although each request alone would allow three.
    let budget = RetryBudget {
        ratio: Ratio::new(0.1).expect("valid ratio"),
        min_per_second: 0,
    };
    let route = all_to("v2").retry(retry_on_unavailable(3, budget));
    mesh.update(attendees_policy(v2.addr, v2.addr, vec![route]))?;
    let mut c = client(&mesh);
    for _ in 0..200 {
        assert_eq!(
            list(&mut c).await.unwrap_err().code(),
            tonic::Code::Unavailable
        );
    }
    let seen = faults.requests_seen();
    assert!(
        (200..=220).contains(&seen),
        "backend saw {seen} attempts for 200 requests"
    );
    // The metrics count exactly the retries the backend saw.
    let metrics = mesh.metrics().encode();
    let line = format!(
        "mesh_client_retries_total{{target=\"attendees:50051\",route=\"all-v2\"}} {}",
        seen - 200
    );
    assert!(metrics.contains(&line), "{line} not in {metrics}");
    Ok(())
}

#[tokio::test]
async fn a_dead_endpoint_is_retried_onto_a_live_one() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let live = serve_attendees(&mesh, "v1", Faults::none()).await?;
    let dead = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let svc = mesh::policy::Service::new("attendees")
        .endpoint(mesh::policy::Endpoint::new(dead).label("version", "v1"))
        .endpoint(mesh::policy::Endpoint::new(live.addr).label("version", "v1"))
        .subset("v1", [("version", "v1")]);
    let route = all_to("v1").retry(RetryPolicy::new(2));
    mesh.update(Policy::builder().service(svc).routes("attendees", [route]))?;
    let mut c = client(&mesh);
    for _ in 0..50 {
        assert_eq!(list(&mut c).await?.version, "v1");
    }
    Ok(())
}

#[tokio::test]
async fn no_attempt_starts_past_the_deadline() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let faults = Faults::none();
    faults.hang();
    let v2 = serve_attendees(&mesh, "v2", faults.clone()).await?;
    // Each attempt may take 200 ms and there could be five of them, but the
    // route has 300 ms in all: the first attempt is cut by its per-try
    // timeout, a second starts, and the deadline ends it. No third.
    let mut retry = retry_on_unavailable(4, RetryBudget::default());
    retry.grpc_on.push(GrpcRetryOn::DeadlineExceeded);
    retry.per_try_timeout = Some(Duration::from_millis(200));
    let route = all_to("v2")
        .retry(retry)
        .timeout(Duration::from_millis(300));
    mesh.update(attendees_policy(v2.addr, v2.addr, vec![route]))?;
    let status = list(&mut client(&mesh)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
    assert!(
        status.message().contains("route all-v2"),
        "{}",
        status.message()
    );
    let seen = faults.requests_seen();
    assert!(
        (1..=2).contains(&seen),
        "{seen} attempts reached the backend"
    );
    Ok(())
}

/// Every attempt of a retried call carries the caller's body and headers
/// and nothing the caller did not send but the trace context: in
/// particular no `content-length`, which hyper would add if the buffered
/// copy of the body claimed an exact size that tonic's body does not.
#[tokio::test]
async fn each_attempt_sends_what_the_caller_sent() -> anyhow::Result<()> {
    use std::sync::{Arc, Mutex};

    use http_body_util::{BodyExt, Empty};

    type Seen = Vec<(Vec<String>, bytes::Bytes)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let record = seen.clone();
    // A raw HTTP/2 server answering every call UNAVAILABLE (trailers only).
    let server = tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let record = record.clone();
        async move {
            let mut names: Vec<String> = req.headers().keys().map(|k| k.to_string()).collect();
            names.sort();
            let body = req.into_body().collect().await?.to_bytes();
            record.lock().expect("seen lock").push((names, body));
            let res = http::Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "14")
                .body(Empty::<bytes::Bytes>::new())?;
            Ok::<_, anyhow::Error>(res)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let serving = tokio::spawn(mesh::hyper::serve(listener, server, std::future::pending()));

    let mesh = Mesh::new(Policy::empty());
    let route = all_to("v2").retry(retry_on_unavailable(2, RetryBudget::default()));
    mesh.update(attendees_policy(addr, addr, vec![route]))?;
    let status = list(&mut client(&mesh)).await.unwrap_err();
    serving.abort();
    assert_eq!(status.code(), tonic::Code::Unavailable);

    let seen = seen.lock().expect("seen lock").clone();
    assert_eq!(seen.len(), 3, "the call and two retries: {seen:?}");
    let (names, body) = &seen[0];
    assert_eq!(
        names,
        &["content-type", "te", "traceparent"],
        "the caller's headers and the trace context"
    );
    assert!(!body.is_empty());
    assert!(
        seen.iter().all(|s| *s == seen[0]),
        "every attempt the same: {seen:?}"
    );
    Ok(())
}
