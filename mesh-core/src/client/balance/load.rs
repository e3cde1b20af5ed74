//! What the balancer knows of each endpoint: its peak-EWMA latency, its
//! requests in flight, and whether it is failing to connect.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Latency assumed for an endpoint before its first response (Linkerd's
/// default), so new endpoints are neither shunned nor flooded.
const DEFAULT_RTT: Duration = Duration::from_millis(30);
/// How quickly old latency observations fade.
const DECAY: Duration = Duration::from_secs(10);
/// The first wait after a failed connect; doubles up to [`MAX_CONNECT_BACKOFF`].
const CONNECT_BACKOFF: Duration = Duration::from_millis(500);
const MAX_CONNECT_BACKOFF: Duration = Duration::from_secs(30);

/// Peak-EWMA load with in-flight requests (Finagle's and Linkerd's cost
/// function): a latency spike counts at once, an improvement only as it
/// fades in. Atomics with relaxed, possibly lost updates: a lost sample
/// slightly blurs the estimate, and no request waits on a lock.
#[derive(Debug)]
pub(crate) struct EndpointLoad {
    epoch: Instant,
    rtt_ns: AtomicU64,
    stamp_ns: AtomicU64,
    pending: AtomicU32,
    failed_connects: AtomicU32,
    /// Nanoseconds since `epoch` before which the endpoint is not used,
    /// after failed connects (0: usable).
    down_until_ns: AtomicU64,
}

impl EndpointLoad {
    pub(crate) fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            rtt_ns: AtomicU64::new(DEFAULT_RTT.as_nanos() as u64),
            stamp_ns: AtomicU64::new(0),
            pending: AtomicU32::new(0),
            failed_connects: AtomicU32::new(0),
            down_until_ns: AtomicU64::new(0),
        }
    }

    fn since_epoch(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// The cost of sending one more request here: lower is better.
    pub(crate) fn cost(&self) -> f64 {
        let rtt = self.rtt_ns.load(Ordering::Relaxed) as f64;
        let pending = self.pending.load(Ordering::Relaxed) as f64;
        rtt * (pending + 1.0)
    }

    /// Counts a request as in flight until the returned guard drops.
    pub(crate) fn start(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// Ends an in-flight request.
    pub(crate) fn finish(&self) {
        self.pending.fetch_sub(1, Ordering::Relaxed);
    }

    /// Folds in a response time.
    pub(crate) fn observe(&self, rtt: Duration, now: Instant) {
        let now_ns = self.since_epoch(now);
        let sample = rtt.as_nanos() as f64;
        let last = self.stamp_ns.swap(now_ns, Ordering::Relaxed);
        let current = self.rtt_ns.load(Ordering::Relaxed) as f64;
        let next = if sample > current {
            sample
        } else {
            let elapsed = now_ns.saturating_sub(last) as f64;
            let w = (-elapsed / DECAY.as_nanos() as f64).exp();
            current * w + sample * (1.0 - w)
        };
        self.rtt_ns.store(next as u64, Ordering::Relaxed);
    }

    /// Whether the endpoint may be tried now.
    pub(crate) fn is_up(&self, now: Instant) -> bool {
        self.down_until_ns.load(Ordering::Relaxed) <= self.since_epoch(now)
    }

    /// A connect failed: keep away for a while, longer each time in a row.
    pub(crate) fn connect_failed(&self, now: Instant) {
        let n = self.failed_connects.fetch_add(1, Ordering::Relaxed).min(6);
        let wait = CONNECT_BACKOFF
            .saturating_mul(1 << n)
            .min(MAX_CONNECT_BACKOFF);
        // ±20 % jitter, as gRPC's connection backoff, so that clients that
        // lost an endpoint together do not come back together.
        let wait = wait.mul_f64(0.8 + 0.4 * fastrand::f64());
        self.down_until_ns
            .store(self.since_epoch(now + wait), Ordering::Relaxed);
    }

    /// A request got through: the endpoint is reachable.
    pub(crate) fn connected(&self) {
        if self.failed_connects.load(Ordering::Relaxed) != 0 {
            self.failed_connects.store(0, Ordering::Relaxed);
            self.down_until_ns.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn peaks_count_at_once_and_fade_slowly() {
        let load = EndpointLoad::new(Instant::now());
        load.observe(Duration::from_millis(1), Instant::now());
        tokio::time::advance(Duration::from_secs(60)).await;
        load.observe(Duration::from_millis(1), Instant::now());
        let low = load.cost();
        load.observe(Duration::from_millis(100), Instant::now());
        assert_eq!(load.cost(), 100_000_000.0, "a peak is taken as it is");
        tokio::time::advance(Duration::from_millis(100)).await;
        load.observe(Duration::from_millis(1), Instant::now());
        assert!(
            load.cost() > 90_000_000.0,
            "one fast response does not erase it"
        );
        assert!(load.cost() > low);
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_requests_raise_the_cost() {
        let load = EndpointLoad::new(Instant::now());
        let idle = load.cost();
        load.start();
        load.start();
        assert_eq!(load.cost(), idle * 3.0);
        load.finish();
        load.finish();
        assert_eq!(load.cost(), idle);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_connects_take_the_endpoint_out_for_a_while() {
        let load = EndpointLoad::new(Instant::now());
        assert!(load.is_up(Instant::now()));
        load.connect_failed(Instant::now());
        assert!(!load.is_up(Instant::now()));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(load.is_up(Instant::now()));
        load.connect_failed(Instant::now());
        tokio::time::advance(Duration::from_millis(700)).await;
        assert!(!load.is_up(Instant::now()), "the second wait is longer");
        load.connected();
        assert!(load.is_up(Instant::now()));
    }
}
