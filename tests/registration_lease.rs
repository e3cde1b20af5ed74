//! Self-registration end to end: real attendees servers register with a
//! real control plane (with their version label), a data-plane client fed
//! over xDS routes to them by subset, and an endpoint whose keep-alives
//! stop expires and loses its traffic; a control-plane restart is survived
//! by registering again; an undeclared service is refused with a
//! suggestion.

use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use mesh::Mesh;
use mesh::conference::pb::ListRequest;
use mesh::conference::pb::attendees_client::AttendeesClient;
use mesh::conference::{Faults, Running as Server, serve_attendees};
use mesh::core::registration::{Registration, RegistrationError};
use mesh::core::xds::{Bootstrap, XdsClient};
use mesh::policy::{Destination, Policy};
use mesh::tonic::{MeshChannel, MeshServerLayer};
use mesh_control::{ControlPlane, Running};

/// How long any one wait may take: bounds a wait, never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(10);
const TARGET: &str = "attendees:50051";

/// `attendees` with no endpoints of its own: they register. Requests
/// carrying `x-version` go to that subset; the rest to the whole service,
/// round robin (so that sequential calls see both endpoints).
const CONFIG: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: attendees}
spec:
  hosts: [attendees]
  ports: [{number: 50051, name: grpc, protocol: GRPC}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: attendees}
spec:
  host: attendees
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: attendees}
spec:
  hosts: [attendees]
  http:
  - name: pinned-v1
    match: [{headers: {x-version: {exact: v1}}}]
    route: [{destination: {host: attendees, subset: v1}}]
  - name: pinned-v2
    match: [{headers: {x-version: {exact: v2}}}]
    route: [{destination: {host: attendees, subset: v2}}]
  - name: default
    route: [{destination: {host: attendees}}]
"#;

/// A control plane on 127.0.0.1 (port 0 unless `listen` says) whose
/// leases last 500 ms unless a registration asks for another TTL.
async fn control_plane(dir: &tempfile::TempDir, listen: &str) -> Result<Running> {
    Ok(ControlPlane::builder()
        .config_dir(dir.path())
        .listen(listen)
        .lease_ttl(Duration::from_millis(500))
        .reload_debounce(Duration::from_millis(20))
        .start()
        .await?)
}

async fn config_dir() -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("attendees.yaml"), CONFIG)?;
    Ok(dir)
}

/// An attendees server of `version`, and its registration builder (via
/// the tonic server layer's convenience).
async fn attendees(
    plane: SocketAddr,
    version: &str,
) -> Result<(Server, mesh::core::registration::RegistrationBuilder)> {
    let server_mesh = Mesh::new(Policy::empty());
    let server = serve_attendees(&server_mesh, version, Faults::none()).await?;
    let registration = MeshServerLayer::new(&server_mesh, "attendees")
        .registration(&format!("http://{plane}"), server.addr)
        .label("version", version);
    Ok((server, registration))
}

/// A data-plane client of the control plane at `plane`.
async fn client(plane: SocketAddr) -> Result<(XdsClient, AttendeesClient<MeshChannel>)> {
    let mesh = Mesh::new(Policy::empty());
    let bootstrap = Bootstrap::builder()
        .server(format!("http://{plane}"))
        .node_id("registration-test-client")
        .build()?;
    let xds = XdsClient::builder(bootstrap)
        .watch(TARGET)
        .start(mesh.clone());
    tokio::time::timeout(PATIENCE, xds.ready(TARGET))
        .await
        .context("waiting for the target's configuration")??;
    Ok((xds, AttendeesClient::new(MeshChannel::new(&mesh, TARGET)?)))
}

/// One call, pinned to a version with `x-version` (or not); the version
/// that answered.
async fn call(c: &mut AttendeesClient<MeshChannel>, pin: Option<&str>) -> Result<String> {
    let mut req = tonic::Request::new(ListRequest {
        conference: "rustconf".into(),
    });
    if let Some(v) = pin {
        req.metadata_mut().insert("x-version", v.parse()?);
    }
    Ok(c.list(req).await?.into_inner().version)
}

/// Polls `check` until it holds, for at most [`PATIENCE`].
async fn eventually<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if check().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{what}: not within {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many endpoints of `attendees` (all subsets) the plane serves.
fn registered(plane: &Running, subset: Option<&str>) -> usize {
    let mut dest = Destination::new("attendees");
    if let Some(s) = subset {
        dest = dest.subset(s);
    }
    plane
        .policy()
        .endpoints(&dest)
        .map_or(0, |set| set.endpoints.len())
}

#[tokio::test]
async fn an_endpoint_whose_keep_alives_stop_expires_and_loses_its_traffic() -> Result<()> {
    let dir = config_dir().await?;
    let plane = control_plane(&dir, "127.0.0.1:0").await?;
    let (v1, v1_registration) = attendees(plane.xds_addr(), "v1").await?;
    let (v2, v2_registration) = attendees(plane.xds_addr(), "v2").await?;
    // v1 takes the control plane's 500 ms leases. v2 asks for a longer
    // one, so that a loaded machine cannot make it lapse by accident.
    let v1_registration = v1_registration.start()?;
    let v2_registration = v2_registration.ttl(Duration::from_secs(10)).start()?;
    let lease = tokio::time::timeout(PATIENCE, v1_registration.registered()).await??;
    assert_eq!(lease.ttl, Duration::from_millis(500), "the plane's default");
    tokio::time::timeout(PATIENCE, v2_registration.registered()).await??;

    let (_xds, mut c) = client(plane.xds_addr()).await?;
    // By subset: each pinned call lands on its version.
    eventually("both subsets are served", || {
        let mut c = c.clone();
        async move {
            let (a, b) = (
                call(&mut c, Some("v1")).await,
                call(&mut c, Some("v2")).await,
            );
            Ok(matches!((a, b), (Ok(a), Ok(b)) if a == "v1" && b == "v2"))
        }
    })
    .await?;
    for _ in 0..10 {
        assert_eq!(call(&mut c, Some("v2")).await?, "v2");
        // v1's 500 ms lease may lapse (and be registered again) on a
        // loaded machine; a pinned call never lands on the wrong version.
        if let Ok(version) = call(&mut c, Some("v1")).await {
            assert_eq!(version, "v1");
        }
    }
    // Unpinned calls are balanced over both.
    let (to_v1, to_v2) = (Cell::new(false), Cell::new(false));
    eventually("unpinned calls reach both versions", || {
        let mut c = c.clone();
        let (to_v1, to_v2) = (&to_v1, &to_v2);
        async move {
            match call(&mut c, None).await?.as_str() {
                "v1" => to_v1.set(true),
                _ => to_v2.set(true),
            }
            Ok(to_v1.get() && to_v2.get())
        }
    })
    .await?;

    // v1's keep-alives stop (its task is aborted; no deregistration), but
    // its server keeps serving: only the lease's lapse can move traffic.
    drop(v1_registration);
    eventually("v1's lease lapses at the control plane", || async {
        Ok(registered(&plane, Some("v1")) == 0)
    })
    .await?;
    eventually("the client stops calling v1", || {
        let mut c = c.clone();
        async move {
            for _ in 0..20 {
                if call(&mut c, None).await? != "v2" {
                    return Ok(false);
                }
            }
            Ok(true)
        }
    })
    .await?;
    let v1_served = v1.served.load(Ordering::SeqCst);
    for _ in 0..50 {
        assert_eq!(call(&mut c, None).await?, "v2", "after convergence");
    }
    assert_eq!(v1.served.load(Ordering::SeqCst), v1_served);
    let pinned = call(&mut c, Some("v1")).await.unwrap_err();
    let status = pinned.downcast_ref::<tonic::Status>().context("a status")?;
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status}");

    // v2 deregisters on shutdown: the service is empty at once.
    v2_registration.shutdown().await?;
    assert_eq!(registered(&plane, None), 0);
    drop(v2);
    plane.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_registration_survives_a_control_plane_restart() -> Result<()> {
    let dir = config_dir().await?;
    let first = control_plane(&dir, "127.0.0.1:0").await?;
    let addr = first.xds_addr();
    let (_server, registration) = attendees(addr, "v2").await?;
    let registration = registration.start()?;
    let before = tokio::time::timeout(PATIENCE, registration.registered()).await??;
    first.shutdown().await?;

    // The new control plane (same address) knows no lease: the next
    // keep-alive is NOT_FOUND, and the workload registers again.
    let second = control_plane(&dir, &addr.to_string()).await?;
    eventually("registered with the restarted control plane", || async {
        Ok(registered(&second, Some("v2")) == 1)
    })
    .await?;
    eventually("the handle holds the new lease", || async {
        Ok(registration.lease().is_some_and(|l| l.id != before.id))
    })
    .await?;
    registration.shutdown().await?;
    assert_eq!(registered(&second, None), 0);
    second.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn an_undeclared_service_is_refused_with_a_suggestion() -> Result<()> {
    let dir = config_dir().await?;
    let plane = control_plane(&dir, "127.0.0.1:0").await?;
    let addr: SocketAddr = "127.0.0.1:50099".parse()?;
    let registration =
        Registration::builder(format!("http://{}", plane.xds_addr()), "atendees", addr).start()?;
    let err = tokio::time::timeout(PATIENCE, registration.registered())
        .await?
        .unwrap_err();
    assert!(
        matches!(
            &err,
            RegistrationError::Refused {
                code: tonic::Code::NotFound,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("\"atendees\""), "{message}");
    assert!(message.contains("did you mean \"attendees\"?"), "{message}");
    drop(registration);
    plane.shutdown().await?;
    Ok(())
}
