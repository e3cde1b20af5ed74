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

/// No request waits longer than this; one that does counts as an error
/// (and, open-loop, with this as its latency).
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
                while Instant::now() < end {
                    let counter = match tokio::time::timeout(REQUEST_TIMEOUT, call()).await {
                        Ok(true) => &ok,
                        _ => &errors,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
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

/// Sends `rate` requests a second for `duration`, each at its intended
/// time whatever the earlier ones are doing, and measures each from that
/// intended time, so a slow response delays no one and hides nothing.
///
/// The generator runs on the calling thread (not the runtime), sleeping
/// to each send time (see the timer slack set in `main`).
pub(crate) fn open_loop(handle: &Handle, call: &Call, rate: u32, duration: Duration) -> Open {
    let n = (f64::from(rate) * duration.as_secs_f64()).ceil() as u64;
    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut handles = Vec::with_capacity(n as usize);
    let mut lag_ns = Vec::with_capacity(n as usize);
    let t0 = Instant::now() + Duration::from_millis(2);
    for i in 0..n {
        let intended = t0 + period.mul_f64(i as f64);
        let now = Instant::now();
        if now < intended {
            std::thread::sleep(intended - now);
        }
        lag_ns.push(intended.elapsed().as_nanos() as u64);
        let call = call.clone();
        handles.push(handle.spawn(async move {
            let ok = matches!(
                tokio::time::timeout(REQUEST_TIMEOUT, call()).await,
                Ok(true)
            );
            (ok, intended.elapsed())
        }));
    }
    let mut out = Open {
        lag_ns,
        ..Default::default()
    };
    handle.block_on(async {
        for h in handles {
            match h.await {
                Ok((true, latency)) => out.latencies_ns.push(latency.as_nanos() as u64),
                Ok((false, latency)) => {
                    out.errors += 1;
                    out.latencies_ns.push(latency.as_nanos() as u64);
                }
                Err(_) => out.errors += 1,
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
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
