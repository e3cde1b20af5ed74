//! The `probe` command's logic against a real control plane and real
//! gRPC health servers: the counts per endpoint follow the YAML's weights,
//! failures are counted by status code, and a probe that gets no usable
//! configuration says so.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use mesh_control::probe::{Probe, ProbeError};
use support::Plane;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

/// A gRPC health server (tonic-health, everything `SERVING`) on
/// 127.0.0.1:0; it serves until the test's runtime ends.
async fn health_server() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (reporter, service) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        let _reporter = reporter;
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
    });
    Ok(addr)
}

/// `health` with endpoints v1 and v2, routed by `route` (`(subset,
/// weight)` pairs).
fn config(v1: SocketAddr, v2: SocketAddr, route: &[(&str, u32)]) -> String {
    let destinations: String = route
        .iter()
        .map(|(subset, weight)| {
            format!("    - {{destination: {{host: health, subset: {subset}}}, weight: {weight}}}\n")
        })
        .collect();
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: health}}
spec:
  hosts: [health]
  ports: [{{number: 50051, name: grpc, protocol: GRPC}}]
  endpoints:
  - {{address: 127.0.0.1, ports: {{grpc: {}}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{grpc: {}}}, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: health}}
spec:
  host: health
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: health}}
spec:
  hosts: [health]
  http:
  - name: split
    route:
{destinations}"#,
        v1.port(),
        v2.port(),
    )
}

struct Setup {
    plane: Plane,
    v1: SocketAddr,
    v2: SocketAddr,
}

async fn setup(route: &[(&str, u32)]) -> Result<Setup> {
    let v1 = health_server().await?;
    let v2 = health_server().await?;
    let plane = Plane::start(&[("health.yaml", &config(v1, v2, route))]).await?;
    Ok(Setup { plane, v1, v2 })
}

fn probe(plane: &Plane) -> Probe {
    Probe::new(plane.running.xds_addr().to_string(), "health:50051")
}

#[tokio::test]
async fn a_100_0_split_is_served_by_one_endpoint_exactly() -> Result<()> {
    let s = setup(&[("v1", 100), ("v2", 0)]).await?;
    let report = probe(&s.plane).requests(100).run().await?;
    let json = serde_json::to_value(&report)?;
    assert_eq!(json["target"], "health:50051");
    assert_eq!(json["requests"], 100);
    assert_eq!(json["ok"], 100);
    assert_eq!(json["failed"], 0);
    assert_eq!(json["served"][s.v1.to_string()], 100, "{json}");
    assert_eq!(
        json["served"].as_object().map(|o| o.len()),
        Some(1),
        "{json}"
    );
    assert_eq!(json["health"]["SERVING"], 100);
    assert_eq!(report.served_by(&s.v2.to_string()), 0);
    s.plane.running.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn an_80_20_split_lands_within_tolerance() -> Result<()> {
    let s = setup(&[("v1", 80), ("v2", 20)]).await?;
    let n = 400;
    let report = probe(&s.plane).requests(n).run().await?;
    assert_eq!(report.ok, n, "{report:?}");
    assert_eq!(
        report.served_by(&s.v1.to_string()) + report.served_by(&s.v2.to_string()),
        n
    );
    // 20 % of 400 is 80, with a standard deviation of 8: +-40 is 5 sigma.
    let to_v2 = report.served_by(&s.v2.to_string());
    assert!((40..=120).contains(&to_v2), "v2 served {to_v2} of {n}");
    s.plane.running.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn failures_are_counted_by_status_code() -> Result<()> {
    let s = setup(&[("v1", 100)]).await?;
    // The health service answers NOT_FOUND for a service it does not know.
    let report = probe(&s.plane)
        .requests(10)
        .service("no.such.Service")
        .run()
        .await?;
    let json = serde_json::to_value(&report)?;
    assert_eq!(json["ok"], 0, "{json}");
    assert_eq!(json["failed"], 10, "{json}");
    assert_eq!(json["failures"]["NOT_FOUND"], 10, "{json}");
    assert_eq!(json["served"], serde_json::json!({}));
    s.plane.running.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_target_the_control_plane_does_not_declare_is_an_error() -> Result<()> {
    let s = setup(&[("v1", 100)]).await?;
    let err = Probe::new(s.plane.running.xds_addr().to_string(), "nothing:50051")
        .wait(Duration::from_secs(10))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Config { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
    s.plane.running.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn no_control_plane_is_a_bounded_wait_with_a_clear_error() -> Result<()> {
    // Bound but never served: connections open, and nothing answers.
    let silent = TcpListener::bind("127.0.0.1:0").await?;
    let err = Probe::new(silent.local_addr()?.to_string(), "health:50051")
        .wait(Duration::from_millis(300))
        .run()
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::NoConfig { .. }), "{err}");
    assert!(err.to_string().contains("no configuration"), "{err}");
    Ok(())
}
