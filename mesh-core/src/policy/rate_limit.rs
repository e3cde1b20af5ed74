//! Local rate limits, enforced by a server on its inbound requests.

use std::time::Duration;

use super::StringMatch;

/// A token bucket (Envoy's `local_ratelimit` shape): the bucket holds at
/// most `max_tokens`, and `tokens_per_fill` are added every `fill_interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    /// The burst: tokens the bucket can hold.
    pub max_tokens: u32,
    /// Tokens added each interval.
    pub tokens_per_fill: u32,
    /// How often tokens are added.
    pub fill_interval: Duration,
}

impl TokenBucket {
    /// `per_second` requests a second with bursts of `burst`.
    pub fn per_second(per_second: u32, burst: u32) -> Self {
        Self {
            max_tokens: burst,
            tokens_per_fill: per_second,
            fill_interval: Duration::from_secs(1),
        }
    }
}

/// A limit on the requests a service's servers accept, shared by every
/// connection of one server process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalRateLimit {
    /// The policy's name, reported in rejections.
    pub name: String,
    /// The service whose servers enforce it.
    pub host: String,
    /// Only requests whose path matches are limited (a per-route limit);
    /// `None` limits every request to the service.
    pub path: Option<StringMatch>,
    /// The bucket.
    pub bucket: TokenBucket,
}
