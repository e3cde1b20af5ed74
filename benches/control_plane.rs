//! The control plane at scale: the `mesh-control` binary serving a
//! directory of generated YAML (N services × 10 endpoints, each a
//! ServiceEntry, a DestinationRule with two subsets and a VirtualService
//! splitting between them) to many clients.
//!
//! ```sh
//! scripts/bench-control-plane                 # builds mesh-control, full run
//! scripts/bench-control-plane --quick         # the smoke pass CI runs
//! cargo bench --bench control_plane -- ARGS   # the same, if the release
//!                                             # binary is already built
//! ```
//!
//! For each scenario (C clients × T targets, the first T services), a fresh
//! control plane is started as a child process on 127.0.0.1 (so its CPU and
//! memory are its own), and the clients are started together in this
//! process (a 2-thread runtime), each subscribing to its T targets from the
//! start. Two kinds of client:
//!
//! - `CxT`: the data plane's own client, an `XdsClient` with its own
//!   `Mesh`; a client has converged when its policy has its T services,
//!   each with its 10 endpoints, and their route tables (watched through
//!   `Mesh::versions()`);
//! - `CxT/ads`: a minimal ADS client written here (no decoding beyond the
//!   `DiscoveryResponse` envelope) that follows the same cascade (LDS, then
//!   RDS, CDS and EDS by the names the mapping gives) and ACKs every
//!   response; it has converged when it has ACKed all four types with every
//!   resource (T listeners and route configurations, 3T clusters and load
//!   assignments). This measures the control plane without the clients'
//!   own cost, which on a 2-core machine otherwise dominates.
//!
//! Measured, per scenario:
//!
//! - converge: from the first client's start until every client has
//!   converged; the median client too;
//! - the control plane's CPU (utime + stime from `/proc/<pid>/stat`) over
//!   that time, and its resident memory before the clients and its peak
//!   (`VmRSS`, `VmHWM` from `/proc/<pid>/status`); this process's CPU (the
//!   clients') beside it;
//! - edit: the time from one VirtualService weight change on disk (written
//!   to a temp name, then renamed) until every client has it (the new
//!   weight in its policy; for `/ads` clients, the new RDS version ACKed),
//!   repeated; this includes the control plane's reload debounce (100 ms)
//!   and its re-read of the whole directory.
//!
//! Figures are medians over `--runs`; the converge ratio is to the
//! scenario with 1 client, the same targets and the same kind in the same
//! run (the baseline), where there is one.
//!
//! The clients' does-not-exist timeout (gRFC A57) is raised to an hour
//! unless `--resource-timeout SECS` says otherwise: with the default 15 s,
//! every requested resource's timer fires 15 s after the request even
//! though the resource arrived, and each firing recomputes the client's
//! whole subscription, which for 1000 targets keeps the clients' process
//! busy for minutes (BENCHMARKS.md, "Control plane") and would be measured
//! instead of the control plane.
//!
//! Options: `--quick`, `--services N` (1000), `--scenarios LIST` (comma
//! separated `CxT` or `CxT/ads`; the default is
//! `1xN/ads,100xN/ads,1xN,10xN,100x100`), `--edits N` (5), `--runs N` (1),
//! `--timeout SECS` (per phase, 300), `--resource-timeout SECS` (3600),
//! `--bin PATH` (the mesh-control binary; default `$MESH_CONTROL_BIN`, else
//! `target/release/mesh-control`). The child logs at `warn` unless
//! `RUST_LOG` is set.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use mesh::Mesh;
use mesh::core::xds::{Bootstrap, XdsClient};
use mesh::policy::Policy;
use tokio::sync::{mpsc, watch};

#[path = "common/mesh_yaml.rs"]
mod mesh_yaml;
use mesh_yaml::{ENDPOINTS, PORT, host, service_yaml};
/// The service every edit changes (every client watches it).
const EDITED: usize = 0;
/// Between edits, so the control plane's reload debounce (100 ms) cannot
/// merge two of them.
const EDIT_GAP: Duration = Duration::from_millis(500);
/// Clusters (and load assignments) per service: the whole service and its
/// two subsets.
const CLUSTERS_PER_SERVICE: usize = 3;

/// C clients × T targets, of one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scenario {
    clients: usize,
    targets: usize,
    /// Minimal ADS clients instead of `XdsClient`s.
    ads: bool,
}

impl Scenario {
    fn parse(s: &str) -> anyhow::Result<Self> {
        let (spec, ads) = match s.strip_suffix("/ads") {
            Some(spec) => (spec, true),
            None => (s, false),
        };
        let (c, t) = spec
            .split_once('x')
            .with_context(|| format!("{s:?} is not CLIENTSxTARGETS[/ads]"))?;
        Ok(Self {
            clients: c.parse()?,
            targets: t.parse()?,
            ads,
        })
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.ads { "ADS" } else { "XdsClient" };
        write!(f, "{} x {} ({kind})", self.clients, self.targets)
    }
}

#[derive(Clone, Debug)]
struct Options {
    services: usize,
    scenarios: Option<Vec<Scenario>>,
    edits: usize,
    runs: usize,
    timeout: Duration,
    bin: Option<PathBuf>,
    resource_timeout: Duration,
}

fn parse_args() -> anyhow::Result<Options> {
    let mut o = Options {
        services: 1000,
        scenarios: None,
        edits: 5,
        runs: 1,
        timeout: Duration::from_secs(300),
        bin: None,
        resource_timeout: Duration::from_secs(3600),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => {
                o.services = 50;
                o.scenarios = Some(
                    ["1x50/ads", "10x50/ads", "1x50", "10x50"]
                        .into_iter()
                        .map(Scenario::parse)
                        .collect::<Result<_, _>>()?,
                );
                o.edits = 2;
                o.timeout = Duration::from_secs(60);
            }
            "--services" => o.services = value()?.parse()?,
            "--scenarios" => {
                let list = value()?
                    .split(',')
                    .map(Scenario::parse)
                    .collect::<Result<_, _>>()?;
                o.scenarios = Some(list);
            }
            "--edits" => o.edits = value()?.parse()?,
            "--runs" => o.runs = value()?.parse()?,
            "--timeout" => o.timeout = Duration::from_secs_f64(value()?.parse()?),
            "--bin" => o.bin = Some(value()?.into()),
            "--resource-timeout" => o.resource_timeout = Duration::from_secs_f64(value()?.parse()?),
            // What `cargo bench` passes to every bench binary.
            "--bench" => {}
            other => {
                bail!("unknown argument {other:?} (see the header of benches/control_plane.rs)")
            }
        }
    }
    if o.services == 0 || o.runs == 0 || o.timeout.is_zero() || o.edits > 40 {
        bail!("--services, --runs and --timeout must be positive, --edits at most 40");
    }
    if o.services * ENDPOINTS > 40_000 {
        bail!("at most 4000 services (their endpoints get distinct ports from 20000)");
    }
    let scenarios = o.scenarios.get_or_insert_with(|| {
        let n = o.services;
        let s = |clients, targets, ads| Scenario {
            clients,
            targets,
            ads,
        };
        vec![
            s(1, n, true),
            s(100, n, true),
            s(1, n, false),
            s(10, n, false),
            s(100, 100.min(n), false),
        ]
    });
    if let Some(bad) = scenarios
        .iter()
        .find(|s| s.clients == 0 || s.targets == 0 || s.targets > o.services)
    {
        bail!(
            "scenario {bad}: clients must be positive, targets between 1 and --services ({})",
            o.services
        );
    }
    Ok(o)
}

fn target(i: usize) -> String {
    format!("{}:{PORT}", host(i))
}

/// Writes a file as an operator's tooling should: a temp name, renamed.
fn write_service(dir: &Path, i: usize, v1_weight: u32) -> anyhow::Result<()> {
    let name = format!("{}.yaml", host(i));
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, service_yaml(i, v1_weight))?;
    std::fs::rename(&tmp, dir.join(name))?;
    Ok(())
}

/// The `mesh-control` binary: `--bin`, `$MESH_CONTROL_BIN`, else the
/// workspace's release build.
fn control_binary(o: &Options) -> anyhow::Result<PathBuf> {
    let path = match (&o.bin, std::env::var_os("MESH_CONTROL_BIN")) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => p.into(),
        (None, None) => {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
                || Path::new(env!("CARGO_MANIFEST_DIR")).join("target"),
                PathBuf::from,
            );
            target.join("release").join("mesh-control")
        }
    };
    if !path.is_file() {
        bail!(
            "no mesh-control binary at {} (build it with `cargo build --release -p mesh-control`, \
             as scripts/bench-control-plane does, or pass --bin)",
            path.display()
        );
    }
    Ok(path)
}

/// A running `mesh-control serve`; killed when dropped.
struct ControlPlane {
    child: Child,
    xds: SocketAddr,
    admin: SocketAddr,
}

impl ControlPlane {
    fn start(bin: &Path, dir: &Path, timeout: Duration) -> anyhow::Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .arg("--config")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        // Reads the banner, then drains stdout so the child never blocks.
        let (tx, rx) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut plane = Self {
            child,
            xds: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .context("mesh-control did not print its addresses")?;
            // "mesh-control: xDS and registry on ADDR, admin on http://ADDR"
            let Some(rest) = line.split_once("registry on ").map(|(_, r)| r) else {
                continue;
            };
            let (xds, admin) = rest
                .split_once(", admin on http://")
                .with_context(|| format!("unexpected banner {line:?}"))?;
            plane.xds = xds.trim().parse()?;
            plane.admin = admin.trim().parse()?;
            break;
        }
        Ok(plane)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for `/readyz` to say 200 (a configuration has loaded).
    fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("mesh-control exited: {status}");
            }
            if admin_status(self.admin, "/readyz").ok() == Some(200) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("mesh-control not ready within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on the admin server; the status code.
fn admin_status(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)?;
    let text = std::str::from_utf8(&head)?;
    Ok(text
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?)
}

/// CPU seconds (utime + stime) of `pid`, or of this process.
fn cpu_seconds(pid: Option<u32>) -> f64 {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    let ticks = std::fs::read_to_string(path).ok().and_then(|s| {
        let fields: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some(utime + stime)
    });
    // USER_HZ is 100 on Linux.
    ticks.map_or(0.0, |t| t as f64 / 100.0)
}

/// A field of `/proc/<pid>/status` in MiB (`VmRSS`, `VmHWM`).
fn memory_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024.0)
        })
        .unwrap_or(0.0)
}

/// What a client's policy must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Goal {
    /// Every target's service, its endpoints and its route table.
    Complete,
    /// The edited service's route sends this weight to v1.
    Weight(u32),
}

fn satisfied(policy: &Policy, goal: Goal, targets: usize) -> bool {
    match goal {
        Goal::Complete => {
            policy.services().count() == targets
                && policy.route_tables().len() == targets
                && policy.services().all(|s| s.endpoints.len() == ENDPOINTS)
        }
        Goal::Weight(w) => policy
            .route_table(&host(EDITED))
            .and_then(|t| t.routes.first())
            .is_some_and(|r| {
                r.destinations
                    .iter()
                    .any(|d| d.destination.subset.as_deref() == Some("v1") && d.weight == w)
            }),
    }
}

/// Reports, once per goal, when `mesh`'s policy first satisfies it.
async fn observe(
    mesh: Mesh,
    targets: usize,
    mut goals: watch::Receiver<(u64, Goal)>,
    done: mpsc::UnboundedSender<(u64, Instant)>,
) {
    let mut versions = mesh.versions();
    let mut reported = 0;
    loop {
        versions.borrow_and_update();
        let (id, goal) = *goals.borrow_and_update();
        if id != reported && satisfied(mesh.snapshot().policy(), goal, targets) {
            reported = id;
            if done.send((id, Instant::now())).is_err() {
                return;
            }
        }
        tokio::select! {
            r = versions.changed() => if r.is_err() { return },
            r = goals.changed() => if r.is_err() { return },
        }
    }
}

/// The part of the xDS v3 discovery messages the minimal ADS client uses
/// (field numbers from `envoy/service/discovery/v3/discovery.proto`);
/// prost skips the fields not declared here.
mod wire {
    /// `envoy.config.core.v3.Node`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Node {
        #[prost(string, tag = "1")]
        pub(crate) id: String,
    }

    /// `envoy.service.discovery.v3.DiscoveryRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct DiscoveryRequest {
        #[prost(string, tag = "1")]
        pub(crate) version_info: String,
        #[prost(message, optional, tag = "2")]
        pub(crate) node: Option<Node>,
        #[prost(string, repeated, tag = "3")]
        pub(crate) resource_names: Vec<String>,
        #[prost(string, tag = "4")]
        pub(crate) type_url: String,
        #[prost(string, tag = "5")]
        pub(crate) response_nonce: String,
    }

    /// `envoy.service.discovery.v3.DiscoveryResponse`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct DiscoveryResponse {
        #[prost(string, tag = "1")]
        pub(crate) version_info: String,
        /// Each `google.protobuf.Any`, left encoded: a stand-in for a
        /// client on another machine only needs to count them, and the
        /// slices share the received buffer rather than copy 3 MB per
        /// response on the cores the control plane is measured on.
        #[prost(bytes = "bytes", repeated, tag = "2")]
        pub(crate) resources: Vec<bytes::Bytes>,
        #[prost(string, tag = "4")]
        pub(crate) type_url: String,
        #[prost(string, tag = "5")]
        pub(crate) nonce: String,
    }
}

/// The cascade's four types, in order.
const TYPES: [&str; 4] = [
    "type.googleapis.com/envoy.config.listener.v3.Listener",
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
];
const ROUTES: usize = 1;

/// The names of type `index` for the first `targets` services, as the
/// mapping names them (docs/xds-mapping.md), sorted: gRPC's C-core client
/// and the mesh's own keep their subscriptions in ordered maps.
fn names(index: usize, targets: usize) -> Vec<String> {
    let mut names: Vec<String> = (0..targets)
        .flat_map(|i| {
            let h = host(i);
            match index {
                0 => vec![target(i)],
                1 => vec![format!("outbound|{PORT}||{h}")],
                _ => ["", "v1", "v2"]
                    .iter()
                    .map(|subset| format!("outbound|{PORT}|{subset}|{h}"))
                    .collect(),
            }
        })
        .collect();
    names.sort_unstable();
    names
}

/// A minimal ADS client: subscribes to LDS for its targets, then to RDS,
/// CDS and EDS as each first answer arrives, ACKs every response, and
/// reports when it has every resource of the four types (goal 1) and when
/// an RDS version newer than the one at a goal's start arrives (the edits).
async fn ads_client(
    xds: SocketAddr,
    targets: usize,
    goals: watch::Receiver<(u64, Goal)>,
    done: mpsc::UnboundedSender<(u64, Instant)>,
) {
    if let Err(e) = run_ads_client(xds, targets, goals, done).await {
        eprintln!("ADS client: {e:#}");
    }
}

async fn run_ads_client(
    xds: SocketAddr,
    targets: usize,
    mut goals: watch::Receiver<(u64, Goal)>,
    done: mpsc::UnboundedSender<(u64, Instant)>,
) -> anyhow::Result<()> {
    use wire::{DiscoveryRequest, DiscoveryResponse, Node};
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{xds}"))?
        .connect()
        .await?;
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(256 << 20);
    grpc.ready().await?;
    let (tx, rx) = mpsc::unbounded_channel::<DiscoveryRequest>();
    let outbound =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    // Built once: every ACK restates the subscription.
    let lists: Vec<Vec<String>> = (0..TYPES.len()).map(|i| names(i, targets)).collect();
    let subscribe = |index: usize, node: Option<Node>| DiscoveryRequest {
        node,
        resource_names: lists[index].clone(),
        type_url: TYPES[index].to_owned(),
        ..Default::default()
    };
    let node = Node {
        id: "bench-ads-client".to_owned(),
    };
    tx.send(subscribe(0, Some(node)))?;
    let path = http::uri::PathAndQuery::from_static(
        "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
    );
    let codec = tonic_prost::ProstCodec::<DiscoveryRequest, DiscoveryResponse>::default();
    let mut inbound = grpc
        .streaming(tonic::Request::new(outbound), path, codec)
        .await?
        .into_inner();
    let expected = [
        targets,
        targets,
        targets * CLUSTERS_PER_SERVICE,
        targets * CLUSTERS_PER_SERVICE,
    ];
    // Per type: resources in the last response ACKed, or None.
    let mut acked: [Option<usize>; 4] = [None; 4];
    let mut route_version = String::new();
    // The goal being watched, and the RDS version when it started.
    let mut watching = (0u64, String::new());
    let mut reported = 0u64;
    loop {
        let (id, goal) = *goals.borrow_and_update();
        if id != watching.0 {
            watching = (id, route_version.clone());
        }
        let reached = match goal {
            Goal::Complete => acked.iter().zip(expected).all(|(a, e)| *a == Some(e)),
            Goal::Weight(_) => route_version != watching.1,
        };
        if reached && reported != id {
            reported = id;
            if done.send((id, Instant::now())).is_err() {
                return Ok(());
            }
        }
        let response = tokio::select! {
            r = inbound.message() => match r? {
                Some(response) => response,
                None => bail!("the control plane ended the stream"),
            },
            r = goals.changed() => {
                if r.is_err() {
                    return Ok(());
                }
                continue;
            }
        };
        let Some(index) = TYPES.iter().position(|t| *t == response.type_url) else {
            bail!("a response of type {:?}", response.type_url);
        };
        tx.send(DiscoveryRequest {
            version_info: response.version_info.clone(),
            resource_names: lists[index].clone(),
            type_url: response.type_url.clone(),
            response_nonce: response.nonce.clone(),
            ..Default::default()
        })?;
        let first = acked[index].is_none();
        acked[index] = Some(response.resources.len());
        if index == ROUTES {
            route_version = response.version_info;
        }
        if first && index + 1 < TYPES.len() {
            tx.send(subscribe(index + 1, None))?;
        }
    }
}

/// Waits for every client's report of goal `id`; their times, sorted.
async fn all_reached(
    done: &mut mpsc::UnboundedReceiver<(u64, Instant)>,
    id: u64,
    clients: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<Instant>> {
    let mut times = Vec::with_capacity(clients);
    let wait = async {
        while times.len() < clients {
            match done.recv().await {
                Some((got, at)) if got == id => times.push(at),
                Some(_) => {}
                None => break,
            }
        }
    };
    if tokio::time::timeout(timeout, wait).await.is_err() {
        bail!(
            "only {} of {clients} clients got there within {timeout:?}",
            times.len()
        );
    }
    times.sort();
    Ok(times)
}

/// One scenario's figures.
#[derive(Clone, Debug, Default)]
struct Measure {
    load_s: f64,
    converge_s: f64,
    converge_median_s: f64,
    cp_cpu_s: f64,
    clients_cpu_s: f64,
    rss_before_mib: f64,
    peak_mib: f64,
    edits_ms: Vec<f64>,
    edit_cp_cpu_ms: Vec<f64>,
    edit_clients_cpu_ms: Vec<f64>,
}

fn run_scenario(o: &Options, bin: &Path, scenario: Scenario) -> anyhow::Result<Measure> {
    let Scenario {
        clients,
        targets,
        ads,
    } = scenario;
    let dir = tempfile::tempdir()?;
    for i in 0..o.services {
        write_service(dir.path(), i, 90)?;
    }
    let started = Instant::now();
    let mut plane = ControlPlane::start(bin, dir.path(), o.timeout)?;
    plane.wait_ready(o.timeout)?;
    let pid = plane.pid();
    let mut m = Measure {
        load_s: started.elapsed().as_secs_f64(),
        rss_before_mib: memory_mib(pid, "VmRSS:"),
        ..Measure::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("clients")
        .enable_all()
        .build()?;
    let xds = plane.xds;
    let result = rt.block_on(async {
        let (goal_tx, goal_rx) = watch::channel((1u64, Goal::Complete));
        let (done_tx, mut done) = mpsc::unbounded_channel();
        let cpu0 = (cpu_seconds(Some(pid)), cpu_seconds(None));
        let t0 = Instant::now();
        let mut handles = Vec::with_capacity(clients);
        let mut tasks = Vec::with_capacity(clients);
        for c in 0..clients {
            if ads {
                tasks.push(tokio::spawn(ads_client(
                    xds,
                    targets,
                    goal_rx.clone(),
                    done_tx.clone(),
                )));
                continue;
            }
            let bootstrap = Bootstrap::builder()
                .node_id(format!("bench-client-{c}"))
                .server(format!("http://{xds}"))
                .build()?;
            let mut builder = XdsClient::builder(bootstrap).resource_timeout(o.resource_timeout);
            for i in 0..targets {
                builder = builder.watch(target(i));
            }
            let mesh = Mesh::new(Policy::empty());
            handles.push(builder.start(mesh.clone()));
            tasks.push(tokio::spawn(observe(
                mesh,
                targets,
                goal_rx.clone(),
                done_tx.clone(),
            )));
        }
        let times = all_reached(&mut done, 1, clients, o.timeout)
            .await
            .context("converging")?;
        m.converge_s = (times[times.len() - 1] - t0).as_secs_f64();
        m.converge_median_s = (times[times.len() / 2] - t0).as_secs_f64();
        m.cp_cpu_s = cpu_seconds(Some(pid)) - cpu0.0;
        m.clients_cpu_s = cpu_seconds(None) - cpu0.1;
        m.peak_mib = memory_mib(pid, "VmHWM:");
        for k in 0..o.edits {
            tokio::time::sleep(EDIT_GAP).await;
            let id = 2 + k as u64;
            let weight = 89 - k as u32;
            goal_tx.send_replace((id, Goal::Weight(weight)));
            let cpu = (cpu_seconds(Some(pid)), cpu_seconds(None));
            let written = Instant::now();
            write_service(dir.path(), EDITED, weight)?;
            let times = all_reached(&mut done, id, clients, o.timeout)
                .await
                .with_context(|| format!("edit {}", k + 1))?;
            m.edits_ms
                .push((times[times.len() - 1] - written).as_secs_f64() * 1e3);
            m.edit_cp_cpu_ms
                .push((cpu_seconds(Some(pid)) - cpu.0) * 1e3);
            m.edit_clients_cpu_ms
                .push((cpu_seconds(None) - cpu.1) * 1e3);
        }
        m.peak_mib = m.peak_mib.max(memory_mib(pid, "VmHWM:"));
        // No goal left: the clients and observers return, before the
        // runtime (and the connections' tasks) go away under them.
        drop(goal_tx);
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::future::join_all(tasks),
        )
        .await;
        drop(handles);
        anyhow::Ok(m)
    });
    rt.shutdown_timeout(Duration::from_secs(2));
    drop(plane);
    result
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("model name"))?;
            Some(line.split_once(':')?.1.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default();
    format!("{cpus} CPUs ({model}), load average {load}")
}

fn main() -> anyhow::Result<()> {
    let o = parse_args()?;
    let bin = control_binary(&o)?;
    let scenarios = o.scenarios.clone().unwrap_or_default();
    println!(
        "control plane: {} ({} services x {ENDPOINTS} endpoints, 2 subsets and a route each); {}",
        bin.display(),
        o.services,
        machine()
    );
    let mut results: Vec<Vec<Measure>> = vec![Vec::new(); scenarios.len()];
    for run in 0..o.runs {
        for (s, &scenario) in scenarios.iter().enumerate() {
            eprintln!("run {}/{}: {scenario} ...", run + 1, o.runs);
            let m =
                run_scenario(&o, &bin, scenario).with_context(|| format!("scenario {scenario}"))?;
            eprintln!(
                "  converged in {:.3} s (median client {:.3} s); control plane {:.2} CPU s, \
                 peak {:.0} MiB; clients {:.2} CPU s; edits {:?} ms",
                m.converge_s,
                m.converge_median_s,
                m.cp_cpu_s,
                m.peak_mib,
                m.clients_cpu_s,
                m.edits_ms.iter().map(|e| e.round()).collect::<Vec<_>>()
            );
            results[s].push(m);
        }
    }
    println!();
    println!(
        "medians of {} run(s); converge ratio to 1 client of the same kind and targets; edit: \
         one VirtualService weight change until every client has it ({} per run, including the \
         100 ms reload debounce)",
        o.runs, o.edits
    );
    println!();
    println!(
        "| clients x targets (client) | CP load s | converge s (ratio) | median client s | \
         CP CPU s | clients CPU s | CP RSS before MiB | CP peak RSS MiB | edit median ms | \
         edit max ms | CP CPU per edit ms | clients CPU per edit ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let converge: Vec<f64> = results
        .iter()
        .map(|runs| median(&mut runs.iter().map(|m| m.converge_s).collect::<Vec<_>>()))
        .collect();
    for (i, (scenario, runs)) in scenarios.iter().zip(&results).enumerate() {
        let pick =
            |f: &dyn Fn(&Measure) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
        let ratio = scenarios
            .iter()
            .position(|b| b.clients == 1 && b.targets == scenario.targets && b.ads == scenario.ads)
            .map_or_else(
                || "-".to_owned(),
                |b| format!("{:.2}", converge[i] / converge[b]),
            );
        let flat = |f: &dyn Fn(&Measure) -> &Vec<f64>| -> Vec<f64> {
            runs.iter().flat_map(|m| f(m).iter().copied()).collect()
        };
        let mut edits = flat(&|m| &m.edits_ms);
        let edit_max = edits.iter().copied().fold(f64::NAN, f64::max);
        println!(
            "| {scenario} | {:.2} | {:.3} ({ratio}) | {:.3} | {:.2} | {:.2} | {:.0} | {:.0} | \
             {:.0} | {edit_max:.0} | {:.0} | {:.0} |",
            pick(&|m| m.load_s),
            converge[i],
            pick(&|m| m.converge_median_s),
            pick(&|m| m.cp_cpu_s),
            pick(&|m| m.clients_cpu_s),
            pick(&|m| m.rss_before_mib),
            pick(&|m| m.peak_mib),
            median(&mut edits),
            median(&mut flat(&|m| &m.edit_cp_cpu_ms)),
            median(&mut flat(&|m| &m.edit_clients_cpu_ms)),
        );
    }
    Ok(())
}
