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
//! The clients' does-not-exist timeout (gRFC A57) is gRPC's 15 s unless
//! `--resource-timeout SECS` says otherwise. (Until the timers were
//! disarmed when their resource arrived, each fired 15 s after its request
//! and recomputed the client's whole subscription, so the harness raised
//! it to an hour; BENCHMARKS.md, "Control plane".)
//!
//! Options: `--quick`, `--services N` (1000), `--scenarios LIST` (comma
//! separated `CxT` or `CxT/ads`; the default is
//! `1xN/ads,100xN/ads,1xN,10xN,100x100`), `--edits N` (5), `--runs N` (1),
//! `--timeout SECS` (per phase, 300), `--resource-timeout SECS` (15),
//! `--bin PATH` (the mesh-control binary; default `$MESH_CONTROL_BIN`, else
//! `target/release/mesh-control`). The child logs at `warn` unless
//! `RUST_LOG` is set.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use mesh::Mesh;
use mesh::core::xds::{Bootstrap, XdsClient};
use mesh::policy::Policy;
use tokio::sync::{mpsc, watch};

mod ads;
mod clients;
#[path = "../common/mesh_yaml.rs"]
mod mesh_yaml;
mod process;

use ads::{Subscriptions, ads_client};
use clients::{Goal, all_reached, observe, target};
use mesh_yaml::{ENDPOINTS, host, service_yaml};
use process::{ControlPlane, cpu_seconds, memory_mib};

/// The service every edit changes (every client watches it).
const EDITED: usize = 0;
/// Between edits, so the control plane's reload debounce (100 ms) cannot
/// merge two of them.
const EDIT_GAP: Duration = Duration::from_millis(500);

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
        resource_timeout: Duration::from_secs(15),
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
                bail!(
                    "unknown argument {other:?} (see the header of benches/control_plane/main.rs)"
                )
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

/// Writes a file as an operator's tooling should: a temp name, renamed.
fn write_service(dir: &Path, i: usize, v1_weight: u32) -> anyhow::Result<()> {
    let name = format!("{}.yaml", host(i));
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, service_yaml(i, v1_weight))?;
    std::fs::rename(&tmp, dir.join(name))?;
    Ok(())
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
        let subscriptions = Subscriptions::new(targets);
        let cpu0 = (cpu_seconds(Some(pid)), cpu_seconds(None));
        let t0 = Instant::now();
        let mut handles = Vec::with_capacity(clients);
        let mut tasks = Vec::with_capacity(clients);
        for c in 0..clients {
            if ads {
                tasks.push(tokio::spawn(ads_client(
                    xds,
                    subscriptions.clone(),
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

/// Milliseconds for the table, `-` where there were none (`--edits 0`).
fn ms(v: f64) -> String {
    if v.is_nan() {
        "-".to_owned()
    } else {
        format!("{v:.0}")
    }
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
    let bin = process::control_binary(o.bin.as_deref())?;
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
        let edit_max = ms(edits.iter().copied().fold(f64::NAN, f64::max));
        println!(
            "| {scenario} | {:.2} | {:.3} ({ratio}) | {:.3} | {:.2} | {:.2} | {:.0} | {:.0} | \
             {} | {edit_max} | {} | {} |",
            pick(&|m| m.load_s),
            converge[i],
            pick(&|m| m.converge_median_s),
            pick(&|m| m.cp_cpu_s),
            pick(&|m| m.clients_cpu_s),
            pick(&|m| m.rss_before_mib),
            pick(&|m| m.peak_mib),
            ms(median(&mut edits)),
            ms(median(&mut flat(&|m| &m.edit_cp_cpu_ms))),
            ms(median(&mut flat(&|m| &m.edit_clients_cpu_ms))),
        );
    }
    Ok(())
}
