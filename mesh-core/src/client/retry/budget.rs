//! A lock-free retry budget over a sliding ten-second window.
//!
//! tower's `TpsBudget` takes a mutex on every deposit; a budget is shared by
//! every request on a route, so this one uses per-second atomic slots.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::policy::RetryBudget;

const WINDOW_SECS: u64 = 10;

#[derive(Debug, Default)]
struct Slot {
    /// The second (since the budget's start) this slot counts for.
    epoch: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

/// Counts requests and retries on one route and says whether another retry
/// fits: `min_per_second × 10 s + ratio × requests − retries` over the last
/// ten seconds must leave at least one.
#[derive(Debug)]
pub struct Budget {
    policy: RetryBudget,
    start: Instant,
    slots: [Slot; WINDOW_SECS as usize],
}

impl Budget {
    /// An empty budget.
    pub fn new(policy: RetryBudget) -> Self {
        Self {
            policy,
            start: Instant::now(),
            slots: Default::default(),
        }
    }

    /// The policy it enforces.
    pub fn policy(&self) -> &RetryBudget {
        &self.policy
    }

    fn now_secs(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.start)
            .as_secs()
            + 1
    }

    fn slot(&self, now: u64) -> &Slot {
        let slot = &self.slots[(now % WINDOW_SECS) as usize];
        let seen = slot.epoch.load(Ordering::Acquire);
        if seen != now
            && slot
                .epoch
                .compare_exchange(seen, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // This thread moved the slot into a new second; a count another
            // thread adds between the exchange and the reset may be lost,
            // which only makes the budget slightly more generous or strict.
            slot.requests.store(0, Ordering::Release);
            slot.retries.store(0, Ordering::Release);
        }
        slot
    }

    /// Records an original request (not a retry).
    pub fn deposit(&self) {
        self.slot(self.now_secs())
            .requests
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one retry from the budget; `false` if none is left.
    pub fn withdraw(&self) -> bool {
        let now = self.now_secs();
        let current = self.slot(now);
        let (mut requests, mut retries) = (0u64, 0u64);
        for slot in &self.slots {
            let epoch = slot.epoch.load(Ordering::Acquire);
            if epoch + WINDOW_SECS > now {
                requests += slot.requests.load(Ordering::Relaxed);
                retries += slot.retries.load(Ordering::Relaxed);
            }
        }
        let allowed = self.policy.min_per_second as f64 * WINDOW_SECS as f64
            + self.policy.ratio.get() * requests as f64;
        if allowed - retries as f64 >= 1.0 {
            current.retries.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// How long the window is.
    pub fn window() -> Duration {
        Duration::from_secs(WINDOW_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Ratio;

    fn budget(ratio: f64, min: u32) -> Budget {
        Budget::new(RetryBudget {
            ratio: Ratio::new(ratio).unwrap(),
            min_per_second: min,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn ratio_caps_retries() {
        let b = budget(0.2, 0);
        for _ in 0..100 {
            b.deposit();
        }
        let granted = (0..100).filter(|_| b.withdraw()).count();
        assert_eq!(granted, 20);
    }

    #[tokio::test(start_paused = true)]
    async fn minimum_per_second_allows_retries_without_traffic() {
        let b = budget(0.0, 2);
        let granted = (0..100).filter(|_| b.withdraw()).count();
        assert_eq!(granted, 20, "two a second over a ten-second window");
    }

    #[tokio::test(start_paused = true)]
    async fn old_requests_leave_the_window() {
        let b = budget(1.0, 0);
        for _ in 0..10 {
            b.deposit();
        }
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(
            !b.withdraw(),
            "deposits older than the window no longer count"
        );
        b.deposit();
        assert!(b.withdraw());
    }
}
