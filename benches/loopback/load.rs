//! The load: closed-loop for throughput, open-loop at a fixed rate for
//! latency, each bounded in count and time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

/// One request of a variant; resolves to whether it succeeded.
pub(crate) type Call = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// No request waits longer than this past the end of its run; one that
/// does counts as an error.
///
/// One timer bounds each worker (closed-loop) or each run (open-loop), not
/// one per request: a per-request timer would cost every variant a timer
/// registration, and often a wake of the runtime's timer driver
/// (tokio-rs/tokio#5207), which is the load generator's cost, not the
/// variant's.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// What a closed-loop run did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Closed {
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
}

/// `concurrency` workers, each sending its next request when the last
/// answered, for `duration`.
pub(crate) fn closed_loop(
    handle: &Handle,
    call: &Call,
    concurrency: usize,
    duration: Duration,
) -> Closed {
    let ok = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + duration;
    handle.block_on(async {
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..concurrency {
            let (call, ok, errors) = (call.clone(), ok.clone(), errors.clone());
            workers.spawn(async move {
                let requests = async {
                    while Instant::now() < end {
                        let counter = if call().await { &ok } else { &errors };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                };
                let bound = (end + REQUEST_TIMEOUT).into();
                if tokio::time::timeout_at(bound, requests).await.is_err() {
                    // The request in flight when the bound passed.
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        while workers.join_next().await.is_some() {}
    });
    Closed {
        ok: ok.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        elapsed: start.elapsed(),
    }
}

/// What an open-loop run did.
#[derive(Clone, Debug, Default)]
pub(crate) struct Open {
    /// Per request, from its intended send time to its response.
    pub(crate) latencies_ns: Vec<u64>,
    pub(crate) errors: u64,
    /// Per request, how late the generator sent it.
    pub(crate) lag_ns: Vec<u64>,
}

/// Sends `rate` requests a second to each of `calls` for `duration`, each
/// at its intended time whatever the earlier ones are doing, and measures
/// each from that intended time, so a slow response delays no one and
/// hides nothing. Returns what each call did, in the order of `calls`.
///
/// With more than one call the sends are interleaved (with two, the
/// second's half a period after each of the first's), so a stall of the
/// machine or of the generator falls on all of them alike: their tails
/// can be compared where separate runs' cannot (`--paired`).
///
/// The generator runs on the calling thread (not the runtime), sleeping
/// to each send time (see the timer slack set in `main`).
pub(crate) fn open_loop(
    handle: &Handle,
    calls: &[&Call],
    rate: u32,
    duration: Duration,
) -> Vec<Open> {
    let per_call = (f64::from(rate) * duration.as_secs_f64()).ceil() as u64;
    let n = per_call * calls.len() as u64;
    let period = Duration::from_secs_f64(1.0 / (f64::from(rate) * calls.len() as f64));
    let mut handles = Vec::with_capacity(n as usize);
    let mut out: Vec<Open> = calls
        .iter()
        .map(|_| Open {
            lag_ns: Vec::with_capacity(per_call as usize),
            latencies_ns: Vec::with_capacity(per_call as usize),
            errors: 0,
        })
        .collect();
    let t0 = Instant::now() + Duration::from_millis(2);
    for i in 0..n {
        let which = (i % calls.len() as u64) as usize;
        let intended = t0 + period.mul_f64(i as f64);
        let now = Instant::now();
        if now < intended {
            std::thread::sleep(intended - now);
        }
        out[which].lag_ns.push(intended.elapsed().as_nanos() as u64);
        let call = calls[which].clone();
        let request = handle.spawn(async move {
            let ok = call().await;
            (ok, intended.elapsed())
        });
        handles.push((which, intended, request));
    }
    handle.block_on(async {
        let bound = tokio::time::sleep_until((Instant::now() + REQUEST_TIMEOUT).into());
        tokio::pin!(bound);
        for (which, intended, mut request) in handles {
            let outcome = tokio::select! {
                // An answer that is in wins over a bound that has passed.
                biased;
                joined = &mut request => joined.ok(),
                () = &mut bound => {
                    // Still unanswered at the bound: an error, with the
                    // time it has waited so far as its latency.
                    request.abort();
                    Some((false, intended.elapsed()))
                }
            };
            let out = &mut out[which];
            match outcome {
                Some((true, latency)) => out.latencies_ns.push(latency.as_nanos() as u64),
                Some((false, latency)) => {
                    out.errors += 1;
                    out.latencies_ns.push(latency.as_nanos() as u64);
                }
                // The request's task panicked.
                None => out.errors += 1,
            }
        }
    });
    out
}

/// The `q` quantile (0..=1) of sorted `values`, nearest rank.
pub(crate) fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[nearest_rank(sorted.len(), q) - 1]
}

/// The 1-based nearest rank of the `q` quantile among `len` (> 0) values.
pub(crate) fn nearest_rank(len: usize, q: f64) -> usize {
    ((q * len as f64).ceil() as usize).clamp(1, len)
}
