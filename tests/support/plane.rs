//! A real control plane and a data plane subscribed to it, for the xDS
//! end-to-end tests.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mesh::Mesh;
use mesh::core::xds::{Bootstrap, XdsClient};
use mesh::policy::Policy;
use mesh_control::{ControlPlane, Running};

pub const TARGET: &str = "attendees:50051";

/// How long convergence may take before a test fails: a bound on a hang,
/// not a performance claim.
pub const BOUND: Duration = Duration::from_secs(15);

/// Writes a config file the way an operator's tooling should: to a temp
/// name, then renamed, so the watcher never reads half a file.
pub fn write(dir: &Path, name: &str, yaml: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, yaml).expect("write config");
    std::fs::rename(&tmp, dir.join(name)).expect("rename config");
}

/// `attendees` v1 and v2 at the given addresses, with subsets.
pub fn workloads(v1: SocketAddr, v2: SocketAddr) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: attendees}}
spec:
  hosts: [attendees]
  ports: [{{number: 50051, name: grpc, protocol: GRPC}}]
  endpoints:
  - {{address: 127.0.0.1, ports: {{grpc: {}}}, labels: {{version: v1}}}}
  - {{address: 127.0.0.1, ports: {{grpc: {}}}, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: attendees}}
spec:
  host: attendees
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
"#,
        v1.port(),
        v2.port()
    )
}

/// Everything to `subset`.
pub fn route_all_to(subset: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: attendees}}
spec:
  hosts: [attendees]
  http: [{{name: all-{subset}, route: [{{destination: {{host: attendees, subset: {subset}}}}}]}}]
"#
    )
}

/// A control plane on 127.0.0.1 serving `dir`.
pub async fn control_plane(dir: &Path, listen: &str) -> anyhow::Result<Running> {
    Ok(ControlPlane::builder()
        .config_dir(dir)
        .listen(listen)
        .admin("127.0.0.1:0")
        .start()
        .await?)
}

/// A mesh fed by the control planes at `servers` (the first is primary),
/// ready for [`TARGET`].
pub async fn data_plane(
    servers: &[SocketAddr],
    persist: Option<&Path>,
) -> anyhow::Result<(Mesh, XdsClient)> {
    // `RUST_LOG=mesh_core::xds=debug,mesh_control=debug` shows both sides.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let mut bootstrap = Bootstrap::builder().node_id("e2e-test");
    for s in servers {
        bootstrap = bootstrap.server(format!("http://{s}"));
    }
    let mut builder = XdsClient::builder(bootstrap.build()?).watch(TARGET);
    if let Some(p) = persist {
        builder = builder.persist_to(p);
    }
    let mesh = Mesh::new(Policy::empty());
    let client = builder.start(mesh.clone());
    tokio::time::timeout(BOUND, client.ready(TARGET)).await??;
    Ok((mesh, client))
}

/// `GET path` on the admin server; the body.
pub async fn admin_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}
