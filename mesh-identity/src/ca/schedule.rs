//! When to renew a certificate and when to retry a failed renewal. Pure
//! functions of the certificate's validity, the current time and a random
//! number in `[0, 1)`, so they can be tested exactly.

use std::time::{Duration, SystemTime};

/// Renew at this fraction of the lifetime...
const RENEW_AT: f64 = 0.5;
/// ...give or take this fraction of it (so between 45% and 55%).
const RENEW_JITTER: f64 = 0.1;
/// The first retry delay after a failed renewal.
pub(crate) const BACKOFF_START: Duration = Duration::from_secs(1);
/// The longest retry delay.
pub(crate) const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// A last retry is made at least this long before the certificate expires.
pub(crate) const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// When to renew a certificate valid from `not_before` to `not_after` that
/// arrived at `received`: half its remaining lifetime, ±10% (`random` in
/// `[0, 1)` picks where). The lifetime counts from when the certificate
/// arrived if that is later than `not_before`: CAs backdate `not_before`
/// for clock skew (ours by a minute), and counting from there would make a
/// short-lived certificate due for renewal the moment it arrives.
pub(crate) fn renewal_time(
    not_before: SystemTime,
    not_after: SystemTime,
    received: SystemTime,
    random: f64,
) -> SystemTime {
    let start = not_before.max(received);
    let lifetime = not_after.duration_since(start).unwrap_or_default();
    let fraction = RENEW_AT * (1.0 + RENEW_JITTER * (2.0 * random.clamp(0.0, 1.0) - 1.0));
    start + lifetime.mul_f64(fraction)
}

/// The delay before the next attempt after `failures` consecutive failed
/// ones (at least 1): exponential from 1 s, capped at 30 s, jittered down to
/// half (`random` in `[0, 1)` picks where), and, while the certificate
/// (expiring at `not_after`) is still valid, no later than
/// [`EXPIRY_MARGIN`] before it expires. After that, plain backoff: keep
/// trying.
pub(crate) fn retry_delay(
    failures: u32,
    random: f64,
    now: SystemTime,
    not_after: Option<SystemTime>,
) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let base = BACKOFF_START
        .saturating_mul(1 << doublings)
        .min(BACKOFF_CAP);
    let delay = base.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0));
    let last_chance = not_after
        .and_then(|t| t.checked_sub(EXPIRY_MARGIN))
        .and_then(|t| t.duration_since(now).ok())
        .filter(|until| !until.is_zero());
    match last_chance {
        Some(until) => delay.min(until),
        None => delay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn renews_at_half_the_lifetime_give_or_take_ten_percent() {
        let (start, end) = (at(0), at(0) + 2 * HOUR);
        assert_eq!(renewal_time(start, end, start, 0.5), start + HOUR);
        assert_eq!(
            renewal_time(start, end, start, 0.0),
            start + HOUR.mul_f64(0.9)
        );
        assert_eq!(
            renewal_time(start, end, start, 1.0),
            start + HOUR.mul_f64(1.1)
        );
        for _ in 0..1000 {
            let t = renewal_time(start, end, start, fastrand::f64());
            assert!(t >= start + HOUR.mul_f64(0.9) && t <= start + HOUR.mul_f64(1.1));
        }
    }

    #[test]
    fn renewal_of_a_backwards_certificate_is_immediate() {
        assert_eq!(renewal_time(at(10), at(0), at(10), 0.5), at(10));
    }

    #[test]
    fn a_backdated_certificate_counts_its_lifetime_from_arrival() {
        // Issued for 2 s but backdated a minute: renew a second after it
        // arrived, not at once (which would renew in a tight loop).
        let received = at(60);
        let t = renewal_time(at(0), at(62), received, 0.5);
        assert_eq!(t, at(61));
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_thirty() {
        let far = Some(at(0) + 24 * HOUR);
        let full: Vec<u64> = (1..=8)
            .map(|n| retry_delay(n, 1.0, at(0), far).as_secs())
            .collect();
        assert_eq!(full, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(retry_delay(1, 0.0, at(0), far), Duration::from_millis(500));
        assert_eq!(retry_delay(6, 0.0, at(0), far), Duration::from_secs(15));
        assert_eq!(retry_delay(u32::MAX, 1.0, at(0), far), BACKOFF_CAP);
    }

    #[test]
    fn backoff_never_waits_past_shortly_before_expiry() {
        let not_after = Some(at(20));
        // 30 s of backoff would overshoot: retry 5 s before expiry instead.
        assert_eq!(
            retry_delay(8, 1.0, at(0), not_after),
            Duration::from_secs(15)
        );
        // Within the margin: plain backoff (no tight loop), then keep trying
        // after expiry.
        assert_eq!(retry_delay(8, 1.0, at(15), not_after), BACKOFF_CAP);
        assert_eq!(retry_delay(8, 1.0, at(100), not_after), BACKOFF_CAP);
        assert_eq!(retry_delay(8, 1.0, at(0), None), BACKOFF_CAP);
    }
}
