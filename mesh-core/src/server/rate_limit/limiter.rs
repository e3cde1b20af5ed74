//! One shared token bucket per rate-limit policy.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::policy::{LocalRateLimit, same_host};

/// A rate-limit policy with its bucket. It lives in the mesh snapshot, so
/// every connection of a server shares it (tonic and hyper clone services
/// per connection, which would give `tower::limit::RateLimit` one bucket
/// each). governor's bucket is a single atomic: no lock.
#[derive(Debug)]
pub struct Limiter {
    policy: LocalRateLimit,
    bucket: Bucket,
}

/// governor's direct (unkeyed) limiter on `std::time::Instant`, not on its
/// default quanta clock, whose calibration costs milliseconds of CPU the
/// first time a limiter is built.
type Bucket =
    RateLimiter<NotKeyed, InMemoryState, MonotonicClock, NoOpMiddleware<std::time::Instant>>;

impl Limiter {
    /// A full bucket for `policy` (validated: every number is positive).
    pub fn new(policy: LocalRateLimit) -> Self {
        let b = policy.bucket;
        let period = b.fill_interval / b.tokens_per_fill.max(1);
        let burst = NonZeroU32::new(b.max_tokens).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            policy,
            bucket: RateLimiter::direct_with_clock(quota, MonotonicClock),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &LocalRateLimit {
        &self.policy
    }

    /// Whether the policy covers a request for `path` to service `host`.
    pub fn applies(&self, host: &str, path: &str) -> bool {
        same_host(&self.policy.host, host)
            && self.policy.path.as_ref().is_none_or(|m| m.matches(path))
    }

    /// Takes a token, or says how long until one is free.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        self.bucket
            .check()
            .map_err(|not_until| not_until.wait_time_from(MonotonicClock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{StringMatch, TokenBucket};

    fn limiter(burst: u32, path: Option<&str>) -> Limiter {
        Limiter::new(LocalRateLimit {
            name: "rl".into(),
            host: "sessions".into(),
            path: path.map(|p| StringMatch::Prefix(p.into())),
            // One token an hour: nothing refills during the test.
            bucket: TokenBucket {
                max_tokens: burst,
                tokens_per_fill: 1,
                fill_interval: Duration::from_secs(3600),
            },
        })
    }

    #[test]
    fn burst_then_refusal_with_a_wait() {
        let l = limiter(3, None);
        for _ in 0..3 {
            assert!(l.try_acquire().is_ok());
        }
        let wait = l.try_acquire().unwrap_err();
        assert!(wait > Duration::from_secs(3000), "{wait:?}");
    }

    #[test]
    fn applies_by_host_and_path() {
        let l = limiter(1, Some("/conference.Sessions/"));
        assert!(l.applies(
            "sessions.default.svc.cluster.local",
            "/conference.Sessions/List"
        ));
        assert!(!l.applies("sessions", "/grpc.health.v1.Health/Check"));
        assert!(!l.applies("attendees", "/conference.Sessions/List"));
    }
}
