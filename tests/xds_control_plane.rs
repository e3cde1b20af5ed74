//! The data plane driven by a real mesh-control over ADS: YAML edits on
//! disk move traffic, bad edits change nothing, and the control plane going
//! away costs no request.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mesh::Mesh;
use mesh::conference::{Faults, serve_attendees};
use mesh::policy::Policy;
use plane::{admin_get, control_plane, data_plane, route_all_to, workloads, write};
use support::{assert_eventually, client, list};

#[path = "support/plane.rs"]
mod plane;

/// attendees v1 and v2 serving, and a config directory that lists them
/// and routes everything to `subset`.
struct Backends {
    v1: mesh::conference::Running,
    v2: mesh::conference::Running,
    dir: tempfile::TempDir,
}

impl Backends {
    async fn start(subset: &str) -> anyhow::Result<Self> {
        let servers_mesh = Mesh::new(Policy::empty());
        let v1 = serve_attendees(&servers_mesh, "v1", Faults::none()).await?;
        let v2 = serve_attendees(&servers_mesh, "v2", Faults::none()).await?;
        let dir = tempfile::tempdir()?;
        write(dir.path(), "workloads.yaml", &workloads(v1.addr, v2.addr));
        write(dir.path(), "routes.yaml", &route_all_to(subset));
        Ok(Self { v1, v2, dir })
    }
}

/// Callers that send requests until told to stop, counting failures.
struct Load {
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(mesh: &Mesh, callers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicU64::new(0));
        let tasks = (0..callers)
            .map(|_| {
                let (mesh, stop, failures) = (mesh.clone(), stop.clone(), failures.clone());
                tokio::spawn(async move {
                    let mut c = client(&mesh);
                    // Bounded, so a bug cannot spin forever.
                    for _ in 0..1_000_000 {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        if let Err(e) = list(&mut c).await {
                            eprintln!("request failed: {e}");
                            failures.fetch_add(1, Ordering::SeqCst);
                            // A failure can come back without awaiting
                            // anything: yield, or the callers starve the
                            // runtime (the xDS client and control plane
                            // included) and a failure turns into a hang.
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            failures,
            tasks,
        }
    }

    async fn finish(self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await?;
        }
        Ok(self.failures.load(Ordering::SeqCst))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yaml_edit_moves_traffic_under_load_with_no_failures() -> anyhow::Result<()> {
    let Backends { v1: _v1, v2, dir } = Backends::start("v1").await?;
    let plane = control_plane(dir.path(), "127.0.0.1:0").await?;
    let (mesh, _xds) = data_plane(&[plane.xds_addr()], None).await?;

    let load = Load::start(&mesh, 3);
    let before = v2.served.load(Ordering::SeqCst);
    write(dir.path(), "routes.yaml", &route_all_to("v2"));
    // The bound: an edit reaches the clients within two seconds.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    while v2.served.load(Ordering::SeqCst) <= before + 10 {
        if tokio::time::Instant::now() >= deadline {
            let clients = admin_get(plane.admin_addr().expect("admin"), "/clients").await?;
            panic!("traffic did not move within 2 s; the control plane's view: {clients}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let failures = load.finish().await?;
    assert_eq!(failures, 0);
    assert_eq!(list(&mut client(&mesh)).await?.version, "v2");
    plane.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn an_invalid_edit_keeps_the_old_config_and_the_admin_api_says_why() -> anyhow::Result<()> {
    let Backends {
        v1: _v1,
        v2: _v2,
        dir,
    } = Backends::start("v1").await?;
    let plane = control_plane(dir.path(), "127.0.0.1:0").await?;
    let (mesh, _xds) = data_plane(&[plane.xds_addr()], None).await?;
    let admin = plane.admin_addr().expect("admin is on");

    write(
        dir.path(),
        "routes.yaml",
        &route_all_to("v2").replace("subset: v2", "subnet: v2"),
    );
    assert_eventually("the admin API reports the rejected edit", || async {
        admin_get(admin, "/errors")
            .await
            .is_ok_and(|body| body.contains("routes.yaml") && body.contains("subnet"))
    })
    .await;
    let errors = admin_get(admin, "/errors").await?;
    assert!(errors.contains("did you mean `subset`?"), "{errors}");
    // Still routed by the last good config.
    for _ in 0..20 {
        assert_eq!(list(&mut client(&mesh)).await?.version, "v1");
    }
    plane.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_plane_going_down_costs_no_request() -> anyhow::Result<()> {
    let Backends { v1, v2, dir } = Backends::start("v1").await?;
    let plane = control_plane(dir.path(), "127.0.0.1:0").await?;
    let addr = plane.xds_addr();
    let (mesh, _xds) = data_plane(&[addr], None).await?;

    let load = Load::start(&mesh, 2);
    plane.shutdown().await?;
    // While it is down, requests go on from the cached config; meanwhile
    // the operator changes the routing.
    let served = v1.served.load(Ordering::SeqCst);
    assert_eventually("requests flow with the control plane down", || async {
        v1.served.load(Ordering::SeqCst) > served + 50
    })
    .await;
    write(dir.path(), "routes.yaml", &route_all_to("v2"));
    let plane = control_plane(dir.path(), &addr.to_string()).await?;
    // The client reconnects (with backoff) and picks up the change.
    let before = v2.served.load(Ordering::SeqCst);
    assert_eventually("traffic moves to v2 after the restart", || async {
        v2.served.load(Ordering::SeqCst) > before + 10
    })
    .await;
    assert_eq!(load.finish().await?, 0);
    plane.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn start_up_with_only_the_persisted_config_routes() -> anyhow::Result<()> {
    let Backends {
        v1: _v1,
        v2: _v2,
        dir,
    } = Backends::start("v2").await?;
    let state = tempfile::tempdir()?;
    let file = state.path().join("last-known-good.xds");
    {
        let plane = control_plane(dir.path(), "127.0.0.1:0").await?;
        let (_mesh, _xds) = data_plane(&[plane.xds_addr()], Some(&file)).await?;
        plane.shutdown().await?;
    }
    assert!(file.exists(), "the client persisted what it accepted");
    // A new process, and no control plane anywhere.
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let (mesh, _xds) = data_plane(&[nobody], Some(&file)).await?;
    for _ in 0..20 {
        assert_eq!(list(&mut client(&mesh)).await?.version, "v2");
    }
    Ok(())
}

#[tokio::test]
async fn a_second_control_plane_serves_when_the_first_is_down_at_start_up() -> anyhow::Result<()> {
    let Backends {
        v1: _v1,
        v2: _v2,
        dir,
    } = Backends::start("v2").await?;
    let fallback = control_plane(dir.path(), "127.0.0.1:0").await?;
    let primary_down = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let (mesh, _xds) = data_plane(&[primary_down, fallback.xds_addr()], None).await?;
    assert_eq!(list(&mut client(&mesh)).await?.version, "v2");
    let clients = admin_get(fallback.admin_addr().expect("admin is on"), "/clients").await?;
    assert!(clients.contains("e2e-test"), "{clients}");
    fallback.shutdown().await?;
    Ok(())
}
