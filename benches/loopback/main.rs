//! The loopback comparison harness: a proxyless mesh against no mesh and
//! against a sidecar proxy, on 127.0.0.1, in one run.
//!
//! ```sh
//! cargo bench --bench loopback              # the full run (a few minutes)
//! cargo bench --bench loopback -- --quick   # the smoke pass (seconds)
//! scripts/bench-loopback [ARGS]             # the same, from anywhere
//! ```
//!
//! For each protocol (unary gRPC over tonic; an HTTP echo over hyper with
//! HTTP/1.1 and with h2c) it drives these variants, interleaved round by
//! round (A B C A B C), and reports throughput (closed-loop), latency
//! percentiles (open-loop at fixed rates, measured from each request's
//! intended send time) and CPU time per request (the harness process,
//! which holds clients and servers, plus any HAProxy processes in the
//! path), each beside its ratio to the bare baseline of the same run:
//!
//! - `bare`: the bare client and server;
//! - `mesh-server`: the bare client, the server behind the mesh's layer;
//! - `mesh`: the mesh's client and server stacks (routing, retries, a
//!   timeout, a rate limit that is not hit, trace context, metrics);
//! - `mesh-untimed`: as `mesh` but the route has no timeout (a diagnostic:
//!   what the per-request deadline timer costs);
//! - `tls` (gRPC only): the bare client and server over mutual TLS
//!   (tokio-rustls with the rustls configs the mesh builds, the same
//!   certificates);
//! - `mesh-server-mtls` (gRPC only): the `tls` client, the server behind
//!   the mesh's layer and acceptor with STRICT mutual TLS;
//! - `mesh-mtls` (gRPC only): as `mesh`, over the mesh's STRICT mutual TLS;
//! - `haproxy-1hop`: the bare client and server, one HAProxy between;
//! - `haproxy-2hop`: the sidecar pattern, an HAProxy on each side (HTTP/2
//!   end to end for gRPC and h2c).
//!
//! `mesh-mtls` is also compared with `tls` (the target: mutual TLS through
//! the mesh within 5% of tonic's own rustls TLS).
//!
//! HAProxy comes from Debian's package, installed with apt-get if missing;
//! if it cannot be, its variants are skipped with a message. Servers and
//! clients bind 127.0.0.1 only; every loop is bounded in count and time;
//! HAProxy processes are killed when the harness ends, also on error.
//!
//! Options: `--quick`, `--duration SECS` (per measurement), `--rounds N`,
//! `--rates R1,R2`, `--concurrency N`, `--protocols grpc,http1,http2`,
//! `--no-haproxy`, `--only mesh,haproxy-2hop` (and `bare`, unless
//! `--alone`), `--paired` (each variant against its baseline, which
//! `--only` then keeps too, in the same runs: open loops interleaved and
//! closed loops in alternating bursts, so that they can be compared on a
//! noisy machine; see `paired.rs`). For counting what one variant does
//! per request (`perf stat`, callgrind), `--only mesh --alone
//! --no-closed-loop` runs that variant alone, open loop only, a known
//! number of requests (the warm-up and rate × duration × rounds;
//! `scripts/bench-instructions` does this under callgrind).

mod cpu;
mod haproxy;
mod load;
mod paired;
mod report;
mod servers;
mod tls;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mesh::Mesh;
use tokio::runtime::{Builder, Runtime};

use haproxy::{HaProxy, Proto};
use load::{Call, Closed, Open, closed_loop, open_loop};

/// What to run.
#[derive(Clone, Debug)]
struct Options {
    duration: Duration,
    rounds: usize,
    rates: Vec<u32>,
    concurrency: usize,
    protocols: Vec<Protocol>,
    haproxy: bool,
    warmup: usize,
    /// Only these variants (and `bare`, the baseline), if given.
    only: Option<Vec<String>>,
    /// Leave out `bare` when `only` is given (ratios are then to the
    /// first variant).
    alone: bool,
    /// Run no closed loop (no throughput): for counting per request.
    closed_loop: bool,
    /// Each variant against its baseline in the same runs (`paired`).
    paired: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Grpc,
    Http1,
    Http2,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Grpc => "gRPC (tonic, unary)",
            Protocol::Http1 => "HTTP/1.1 (hyper)",
            Protocol::Http2 => "HTTP/2 (hyper, h2c)",
        }
    }
}

fn parse_args() -> anyhow::Result<Options> {
    let mut o = Options {
        duration: Duration::from_secs(2),
        rounds: 2,
        rates: vec![1_000, 5_000],
        concurrency: 16,
        protocols: vec![Protocol::Grpc, Protocol::Http1, Protocol::Http2],
        haproxy: true,
        warmup: 500,
        only: None,
        alone: false,
        closed_loop: true,
        paired: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => {
                o.duration = Duration::from_millis(300);
                o.rounds = 1;
                o.rates = vec![1_000];
                o.concurrency = 8;
                o.warmup = 100;
            }
            "--duration" => o.duration = Duration::from_secs_f64(value()?.parse()?),
            "--rounds" => o.rounds = value()?.parse()?,
            "--concurrency" => o.concurrency = value()?.parse()?,
            "--rates" => {
                o.rates = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--protocols" => {
                o.protocols = value()?
                    .split(',')
                    .map(|p| match p {
                        "grpc" => Ok(Protocol::Grpc),
                        "http1" => Ok(Protocol::Http1),
                        "http2" => Ok(Protocol::Http2),
                        other => bail!("unknown protocol {other:?} (grpc, http1, http2)"),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--no-haproxy" => o.haproxy = false,
            "--only" => o.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--alone" => o.alone = true,
            "--no-closed-loop" => o.closed_loop = false,
            "--paired" => {
                o.paired = true;
                o.closed_loop = false;
            }
            // What `cargo bench` passes to every bench binary.
            "--bench" => {}
            other => {
                bail!("unknown argument {other:?} (see the header of benches/loopback/main.rs)")
            }
        }
    }
    if o.paired && o.alone {
        bail!("--paired compares each variant with bare, which --alone leaves out");
    }
    if o.alone && o.only.is_none() {
        bail!("--alone needs --only (which variants to run without bare)");
    }
    if o.rounds == 0 || o.concurrency == 0 || o.rates.contains(&0) || o.duration.is_zero() {
        bail!("--rounds, --concurrency, --rates and --duration must be positive");
    }
    Ok(o)
}

/// One variant of one protocol.
struct Variant {
    protocol: Protocol,
    name: &'static str,
    call: Call,
    /// HAProxy processes in its path, whose CPU counts too.
    pids: Vec<u32>,
}

/// Everything measured of one variant, over all rounds.
#[derive(Default)]
struct Results {
    closed: Vec<Closed>,
    closed_cpu_ns: u64,
    open: HashMap<u32, (Open, u64)>,
}

fn runtime(name: &str) -> anyhow::Result<Runtime> {
    Ok(Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()?)
}

/// Precise sleeps for the open-loop generator: a timer slack of 1 ns
/// instead of Linux's default 50 µs. Threads inherit it, so it is set
/// before any is started. Best effort.
fn precise_timers() {
    if std::fs::write("/proc/self/timerslack_ns", "1").is_err() {
        eprintln!("note: could not lower the timer slack; send times may lag by ~50 us");
    }
}

fn main() -> anyhow::Result<()> {
    let o = parse_args()?;
    precise_timers();
    let haproxy_bin = if o.haproxy {
        match haproxy::find_or_install() {
            Ok(bin) => Some(bin),
            Err(why) => {
                eprintln!("SKIPPING the HAProxy variants: {why}");
                None
            }
        }
    } else {
        eprintln!("skipping the HAProxy variants (--no-haproxy)");
        None
    };
    let server_rt = runtime("server")?;
    let client_rt = runtime("client")?;
    // Two processes' worth of mesh: the servers' and the clients'.
    let server_mesh = Mesh::new(servers::server_policy()?);
    // Mutual TLS: one CA, the server's and the client's certificates; the
    // STRICT server is a third process' worth of mesh.
    let certs = tls::Certs::new();
    let mtls_server_mesh = Mesh::new(servers::mtls_server_policy()?);
    mtls_server_mesh.set_identity(certs.server.clone());
    let (grpc_bare, grpc_mesh, grpc_tls, grpc_mtls, http_bare, http_mesh) =
        server_rt.block_on(async {
            anyhow::Ok((
                servers::serve_grpc(None).await?,
                servers::serve_grpc(Some(&server_mesh)).await?,
                tls::serve_grpc_tls(&certs.server).await?,
                servers::serve_grpc_mtls(&mtls_server_mesh).await?,
                servers::serve_http(None).await?,
                servers::serve_http(Some(&server_mesh)).await?,
            ))
        })?;
    let client_mesh = Mesh::new(servers::client_policy(grpc_mesh, http_mesh, true)?);
    let untimed_mesh = Mesh::new(servers::client_policy(grpc_mesh, http_mesh, false)?);
    let mtls_client_mesh = Mesh::new(servers::mtls_client_policy(
        grpc_mtls,
        certs.server_id.clone(),
    )?);
    mtls_client_mesh.set_identity(certs.client.clone());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(2));
    // Kept to the end; dropping them kills the processes.
    let mut proxies: Vec<HaProxy> = Vec::new();
    let mut variants: Vec<Variant> = Vec::new();
    for &protocol in &o.protocols {
        let (upstream, proto) = match protocol {
            Protocol::Grpc => (grpc_bare, Proto::Http2),
            Protocol::Http1 => (http_bare, Proto::Http1),
            Protocol::Http2 => (http_bare, Proto::Http2),
        };
        let bare = |addr| -> anyhow::Result<Call> {
            match protocol {
                Protocol::Grpc => client_rt.block_on(servers::grpc_bare(addr)),
                Protocol::Http1 => Ok(servers::http_bare(addr, false)),
                Protocol::Http2 => Ok(servers::http_bare(addr, true)),
            }
        };
        let mesh_client = |mesh: &Mesh| match protocol {
            Protocol::Grpc => client_rt.block_on(async { servers::grpc_mesh(mesh) }),
            Protocol::Http1 => servers::http_mesh(mesh, false),
            Protocol::Http2 => servers::http_mesh(mesh, true),
        };
        let mesh_server = bare(match protocol {
            Protocol::Grpc => grpc_mesh,
            Protocol::Http1 | Protocol::Http2 => http_mesh,
        })?;
        let v = |name, call, pids| Variant {
            protocol,
            name,
            call,
            pids,
        };
        variants.push(v("bare", bare(upstream)?, vec![]));
        variants.push(v("mesh-server", mesh_server, vec![]));
        variants.push(v("mesh", mesh_client(&client_mesh)?, vec![]));
        variants.push(v("mesh-untimed", mesh_client(&untimed_mesh)?, vec![]));
        if protocol == Protocol::Grpc {
            let bare_tls = client_rt.block_on(tls::grpc_tls(grpc_tls, &certs.client))?;
            variants.push(v("tls", bare_tls, vec![]));
            let server_mtls = client_rt.block_on(tls::grpc_tls(grpc_mtls, &certs.client))?;
            variants.push(v("mesh-server-mtls", server_mtls, vec![]));
            variants.push(v("mesh-mtls", mesh_client(&mtls_client_mesh)?, vec![]));
        }
        if let Some(bin) = &haproxy_bin {
            let started = HaProxy::start(bin, upstream, proto, threads).and_then(|one| {
                let server_side = HaProxy::start(bin, upstream, proto, threads)?;
                let client_side = HaProxy::start(bin, server_side.addr, proto, threads)?;
                Ok((one, server_side, client_side))
            });
            let (one, server_side, client_side) = match started {
                Ok(three) => three,
                Err(e) => {
                    eprintln!(
                        "SKIPPING the HAProxy variants of {}: {e:#}",
                        protocol.name()
                    );
                    continue;
                }
            };
            let one_pids = vec![one.pid()];
            let two_pids = vec![client_side.pid(), server_side.pid()];
            variants.push(v("haproxy-1hop", bare(one.addr)?, one_pids));
            variants.push(v("haproxy-2hop", bare(client_side.addr)?, two_pids));
            proxies.extend([one, server_side, client_side]);
        }
    }

    if let Some(only) = &o.only {
        // `bare` is every ratio's baseline; with `--paired`, a variant's
        // own baseline (`tls` for the mesh's mutual TLS) comes too.
        let baseline = |v: &Variant| {
            (v.name == "bare" && !o.alone)
                || (o.paired && only.iter().any(|n| paired::baseline_of(n) == v.name))
        };
        variants.retain(|v| baseline(v) || only.iter().any(|n| n == v.name));
    }
    eprintln!("warming up {} variants", variants.len());
    for v in &variants {
        let ok = client_rt.block_on(async {
            let mut ok = 0;
            for _ in 0..o.warmup {
                ok += usize::from((v.call)().await);
            }
            ok
        });
        if ok == 0 {
            bail!(
                "{} / {}: every warm-up request failed",
                v.protocol.name(),
                v.name
            );
        }
        if o.closed_loop || o.paired {
            closed_loop(client_rt.handle(), &v.call, o.concurrency, o.duration / 4);
        }
    }

    if o.paired {
        paired::run(&o, client_rt.handle(), &variants)?;
    } else {
        measure(&o, client_rt.handle(), &variants)?;
    }
    drop(proxies);
    client_rt.shutdown_timeout(Duration::from_secs(1));
    server_rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// The rounds: each variant's closed loop, then its open loop at each
/// rate, variant after variant; then the report.
fn measure(
    o: &Options,
    handle: &tokio::runtime::Handle,
    variants: &[Variant],
) -> anyhow::Result<()> {
    let mut results: Vec<Results> = variants.iter().map(|_| Results::default()).collect();
    for round in 1..=o.rounds {
        eprintln!("round {round}/{}", o.rounds);
        for (i, v) in variants.iter().enumerate().filter(|_| o.closed_loop) {
            let before = cpu::total_ns(&v.pids);
            let closed = closed_loop(handle, &v.call, o.concurrency, o.duration);
            results[i].closed_cpu_ns += cpu::total_ns(&v.pids) - before;
            results[i].closed.push(closed);
        }
        for &rate in &o.rates {
            for (i, v) in variants.iter().enumerate() {
                let before = cpu::total_ns(&v.pids);
                let open = open_loop(handle, &[&v.call], rate, o.duration)
                    .pop()
                    .context("one call, one result")?;
                let cpu_ns = cpu::total_ns(&v.pids) - before;
                let entry = results[i].open.entry(rate).or_default();
                entry.0.latencies_ns.extend(open.latencies_ns);
                entry.0.lag_ns.extend(open.lag_ns);
                entry.0.errors += open.errors;
                entry.1 += cpu_ns;
            }
        }
    }
    report::report(o, variants, &mut results);
    Ok(())
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1_000.0
}
