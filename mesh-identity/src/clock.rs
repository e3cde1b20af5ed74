//! The wall clock an identity judges certificate validity by, shared with
//! its rustls configs (as their `TimeProvider`) so both agree.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::time_provider::TimeProvider;
use rustls_pki_types::UnixTime;

/// Where "now" comes from.
#[derive(Clone, Debug)]
pub(crate) enum Clock {
    /// `SystemTime::now()`.
    System,
    /// Wall time at creation plus tokio time elapsed since, so tests with a
    /// paused tokio clock can move certificates through their lifetime.
    #[cfg(test)]
    Tokio {
        wall: SystemTime,
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that follows tokio's (pausable) time.
    #[cfg(test)]
    pub(crate) fn tokio() -> Self {
        Self::Tokio {
            wall: SystemTime::now(),
            start: tokio::time::Instant::now(),
        }
    }

    /// The current wall time.
    pub(crate) fn now(&self) -> SystemTime {
        match self {
            Self::System => SystemTime::now(),
            #[cfg(test)]
            Self::Tokio { wall, start } => *wall + start.elapsed(),
        }
    }

    /// How long until `when` (zero if it has passed).
    pub(crate) fn until(&self, when: SystemTime) -> Duration {
        when.duration_since(self.now()).unwrap_or_default()
    }

    /// The current time as rustls and webpki take it.
    pub(crate) fn unix_now(&self) -> UnixTime {
        UnixTime::since_unix_epoch(self.now().duration_since(UNIX_EPOCH).unwrap_or_default())
    }
}

impl TimeProvider for Clock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(self.unix_now())
    }
}
