//! gRPC's connection backoff: 1 s, times 1.6 per failure, at most 120 s,
//! each delay jittered by +-20 % (other bounds with [`Backoff::bounded`]).

use std::time::Duration;

const INITIAL: Duration = Duration::from_secs(1);
const MULTIPLIER: f64 = 1.6;
const MAX: Duration = Duration::from_secs(120);
const JITTER: f64 = 0.2;

/// The delays between failed attempts to reach a server.
#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    rng: fastrand::Rng,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self::with_rng(fastrand::Rng::new())
    }

    pub(crate) fn with_rng(rng: fastrand::Rng) -> Self {
        Self {
            initial: INITIAL,
            max: MAX,
            next: INITIAL,
            rng,
        }
    }

    /// The same growth and jitter from `initial` up to `max`.
    pub(crate) fn bounded(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            next: initial,
            rng: fastrand::Rng::new(),
        }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = base.mul_f64(MULTIPLIER).min(self.max);
        base.mul_f64(1.0 + JITTER * (self.rng.f64() * 2.0 - 1.0))
    }

    /// Starts over, after a stream that got a response.
    pub(crate) fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_1_6_up_to_120_s_with_20_percent_jitter() {
        let mut b = Backoff::with_rng(fastrand::Rng::with_seed(7));
        let mut base = 1.0_f64;
        for _ in 0..20 {
            let d = b.next_delay().as_secs_f64();
            assert!(
                d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9,
                "{d} vs {base}"
            );
            base = (base * 1.6).min(120.0);
        }
        assert_eq!(base, 120.0);
        b.reset();
        let d = b.next_delay().as_secs_f64();
        assert!((0.8..=1.2).contains(&d), "{d}");
    }
}
