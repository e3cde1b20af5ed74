//! Micro-benchmarks of the xDS translation, both ways, for a mesh of 1000
//! services × 10 endpoints, each with two subsets and a weighted route
//! table (the YAML `benches/control_plane/main.rs` serves):
//!
//! ```sh
//! cargo bench --bench xds              # criterion, then the summary table
//! cargo bench --bench xds -- --quick   # shorter criterion runs
//! ```
//!
//! - `yaml/load` (the baseline): the YAML read into a `Policy`
//!   (`mesh_core::config::load_documents`, what the control plane does
//!   with its directory on every change);
//! - `control/translate`: the policy to xDS messages
//!   (`mesh_control::xds::Resources::build`);
//! - `control/snapshot`: the same plus versioning and encoding every
//!   resource (`Snapshot::next` from the initial snapshot: a first load);
//! - `control/snapshot_edit`: `Snapshot::next` after one VirtualService's
//!   weights changed (an edit: unchanged resources keep their encoding);
//! - `control/resolve`: the resources of one client watching every
//!   service, the four types (`Snapshot::resolve`: what one ADS stream
//!   does with each new snapshot);
//! - `data/decode`: those resources decoded and translated by the data
//!   plane (`mesh_core::xds::Resources::insert`, as the `XdsClient` does
//!   with every resource of a response);
//! - `data/to_policy`: the policy rebuilt from them
//!   (`mesh_core::xds::Resources::to_policy`, what the client installs).
//!
//! The summary measures each again, interleaved (A B C A B C), and prints
//! the median per round and per service, with the ratio to `yaml/load`.
//! `MESH_BENCH_SUMMARY=0` skips it. `MESH_BENCH_SERVICES=N` changes the
//! number of services.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput};
use mesh::core::xds::{Kind, Resources as DataResources};
use mesh::policy::Policy;
use mesh_control::Snapshot;
use mesh_control::snapshot::{Interest, Item};
use mesh_control::xds::{
    CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, Resources as ControlResources,
};

#[path = "common/mesh_yaml.rs"]
mod mesh_yaml;
use mesh_yaml::{ENDPOINTS, PORT, host, service_yaml};
const ROUNDS: usize = 7;

fn services() -> usize {
    std::env::var("MESH_BENCH_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1000)
}

fn documents(n: usize, edited: Option<usize>) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let weight = if edited == Some(i) { 80 } else { 90 };
            (format!("{}.yaml", host(i)), service_yaml(i, weight))
        })
        .collect()
}

fn load(docs: &[(String, String)]) -> Arc<Policy> {
    match mesh::config::load_documents(docs) {
        Ok(p) => Arc::new(p),
        Err(e) => panic!("the generated YAML does not load: {e}"),
    }
}

/// What one client watching every service subscribes to: the targets as
/// it dials them, and the route configurations, clusters and load
/// assignments they lead to.
fn subscription(n: usize, r: &ControlResources) -> [(&'static str, Interest); 4] {
    let names = |it: &mut dyn Iterator<Item = &String>| Interest {
        wildcard: false,
        names: it.cloned().collect::<BTreeSet<String>>(),
    };
    let targets = (0..n).map(|i| format!("{}:{PORT}", host(i))).collect();
    [
        (CLUSTER_TYPE, names(&mut r.clusters.keys())),
        (ENDPOINT_TYPE, names(&mut r.endpoints.keys())),
        (
            LISTENER_TYPE,
            Interest {
                wildcard: false,
                names: targets,
            },
        ),
        (ROUTE_TYPE, names(&mut r.routes.keys())),
    ]
}

fn resolve(snap: &Snapshot, sub: &[(&'static str, Interest); 4]) -> Vec<(Kind, Vec<Item>)> {
    sub.iter()
        .map(|(type_url, interest)| {
            let kind = Kind::from_type_url(type_url).expect("a known type");
            (kind, snap.resolve(type_url, interest))
        })
        .collect()
}

/// The data plane's side: every resource decoded and kept, in cascade
/// order (listeners, routes, clusters, endpoints).
fn decode(items: &[(Kind, Vec<Item>)]) -> DataResources {
    let mut r = DataResources::new();
    for kind in Kind::ALL {
        for (_, list) in items.iter().filter(|(k, _)| *k == kind) {
            for item in list {
                if let Err(e) = r.insert(kind, &item.any) {
                    panic!("the data plane rejects {}: {e}", item.name);
                }
            }
        }
    }
    r
}

/// Everything the benchmarks need, built once.
struct Fixture {
    n: usize,
    docs: Vec<(String, String)>,
    policy: Arc<Policy>,
    edited: Arc<Policy>,
    first: Snapshot,
    sub: [(&'static str, Interest); 4],
    items: Vec<(Kind, Vec<Item>)>,
    decoded: DataResources,
}

impl Fixture {
    fn new(n: usize) -> Self {
        let docs = documents(n, None);
        let policy = load(&docs);
        let edited = load(&documents(n, Some(0)));
        let first = Snapshot::initial().next(policy.clone());
        let sub = subscription(n, &ControlResources::build(&policy));
        let items = resolve(&first, &sub);
        let decoded = decode(&items);
        let rebuilt = match decoded.to_policy() {
            Ok(p) => p,
            Err(e) => panic!("the data plane cannot rebuild the policy: {e}"),
        };
        let complete = rebuilt.services().count() == n
            && rebuilt.services().all(|s| s.endpoints.len() == ENDPOINTS)
            && rebuilt.route_tables().len() == n;
        assert!(complete, "the rebuilt policy is not the one served");
        Self {
            n,
            docs,
            policy,
            edited,
            first,
            sub,
            items,
            decoded,
        }
    }

    fn print_sizes(&self) {
        println!(
            "{} services x {ENDPOINTS} endpoints; one client's subscription:",
            self.n
        );
        for (kind, list) in &self.items {
            let bytes: usize = list.iter().map(|i| i.any.value.len()).sum();
            println!(
                "  {kind}: {} resources, {} bytes encoded ({:.0} per service)",
                list.len(),
                bytes,
                bytes as f64 / self.n as f64
            );
        }
    }
}

type Case = (&'static str, Box<dyn Fn(&Fixture)>);

fn cases() -> Vec<Case> {
    vec![
        (
            "yaml/load",
            Box::new(|f: &Fixture| {
                black_box(load(&f.docs));
            }),
        ),
        (
            "control/translate",
            Box::new(|f: &Fixture| {
                black_box(ControlResources::build(&f.policy));
            }),
        ),
        (
            "control/snapshot",
            Box::new(|f: &Fixture| {
                black_box(Snapshot::initial().next(f.policy.clone()));
            }),
        ),
        (
            "control/snapshot_edit",
            Box::new(|f: &Fixture| {
                black_box(f.first.next(f.edited.clone()));
            }),
        ),
        (
            "control/resolve",
            Box::new(|f: &Fixture| {
                black_box(resolve(&f.first, &f.sub));
            }),
        ),
        (
            "data/decode",
            Box::new(|f: &Fixture| {
                black_box(decode(&f.items));
            }),
        ),
        (
            "data/to_policy",
            Box::new(|f: &Fixture| {
                black_box(f.decoded.to_policy().ok());
            }),
        ),
    ]
}

fn bench(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group(format!("xds/{}_services", f.n));
    group.sample_size(10);
    group.throughput(Throughput::Elements(f.n as u64));
    for (name, run) in cases() {
        group.bench_function(name, |b| b.iter(|| run(f)));
    }
    group.finish();
}

/// Every case again, interleaved round by round; medians.
fn summary(f: &Fixture) {
    let cases = cases();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for (_, run) in &cases {
        run(f);
    }
    for _ in 0..ROUNDS {
        for (i, (_, run)) in cases.iter().enumerate() {
            let start = Instant::now();
            run(f);
            times[i].push(start.elapsed().as_secs_f64());
        }
    }
    let medians: Vec<f64> = times
        .iter_mut()
        .map(|t| {
            t.sort_by(f64::total_cmp);
            t[t.len() / 2]
        })
        .collect();
    let base = medians[0];
    println!();
    println!("summary: median of {ROUNDS} interleaved rounds");
    f.print_sizes();
    println!();
    println!("| step | ms | ns per service | ratio to yaml/load |");
    println!("|---|---:|---:|---:|");
    for ((name, _), s) in cases.iter().zip(&medians) {
        println!(
            "| {name} | {:.1} | {:.0} | {:.2} |",
            s * 1e3,
            s * 1e9 / f.n as f64,
            s / base
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let fixture = Fixture::new(services());
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &fixture);
    c.final_summary();
    let listing = args.iter().any(|a| a == "--list" || a == "--test");
    let skip = std::env::var("MESH_BENCH_SUMMARY").is_ok_and(|v| v == "0");
    if !listing && !skip {
        summary(&fixture);
    }
}
