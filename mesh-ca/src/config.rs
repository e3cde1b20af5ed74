//! Lifetimes of the certificates the CA issues.

use std::time::Duration;

use crate::CaError;

/// How long issued certificates live.
///
/// ```
/// use std::time::Duration;
/// use mesh_ca::CaConfig;
/// let config = CaConfig::default()
///     .with_default_lifetime(Duration::from_secs(30 * 60))
///     .with_max_lifetime(Duration::from_secs(6 * 3600));
/// assert_eq!(config.clock_skew(), Duration::from_secs(60));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaConfig {
    default_lifetime: Duration,
    max_lifetime: Duration,
    clock_skew: Duration,
}

impl Default for CaConfig {
    /// One hour by default, at most a day, backdated by a minute.
    fn default() -> Self {
        Self {
            default_lifetime: Duration::from_secs(3600),
            max_lifetime: Duration::from_secs(24 * 3600),
            clock_skew: Duration::from_secs(60),
        }
    }
}

impl CaConfig {
    /// The lifetime of a certificate when the request asks for none (or 0).
    pub fn with_default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// The longest lifetime the CA grants; longer requests are capped.
    pub fn with_max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = lifetime;
        self
    }

    /// How far `not_before` is backdated, for peers whose clocks run late.
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// The lifetime of a certificate when the request asks for none.
    pub fn default_lifetime(&self) -> Duration {
        self.default_lifetime
    }

    /// The longest lifetime the CA grants.
    pub fn max_lifetime(&self) -> Duration {
        self.max_lifetime
    }

    /// How far `not_before` is backdated.
    pub fn clock_skew(&self) -> Duration {
        self.clock_skew
    }

    /// The lifetime to grant for a request: the default for `None` or zero,
    /// never more than the maximum.
    pub fn lifetime_for(&self, requested: Option<Duration>) -> Duration {
        let wanted = match requested {
            Some(d) if !d.is_zero() => d,
            _ => self.default_lifetime,
        };
        wanted.min(self.max_lifetime)
    }

    pub(crate) fn validate(&self) -> Result<(), CaError> {
        if self.default_lifetime.is_zero() || self.max_lifetime.is_zero() {
            return Err(CaError::InvalidConfig(
                "default_lifetime and max_lifetime must be above zero".into(),
            ));
        }
        if self.default_lifetime > self.max_lifetime {
            return Err(CaError::InvalidConfig(format!(
                "default_lifetime ({} s) exceeds max_lifetime ({} s); raise max_lifetime or lower default_lifetime",
                self.default_lifetime.as_secs(),
                self.max_lifetime.as_secs()
            )));
        }
        Ok(())
    }
}

/// Turns the wire's `validity_duration` (seconds) into a requested lifetime:
/// 0 asks for the default (`None`), a negative value is an error.
pub fn requested_lifetime(seconds: i64) -> Result<Option<Duration>, CaError> {
    match u64::try_from(seconds) {
        Err(_) => Err(CaError::NegativeLifetime { seconds }),
        Ok(0) => Ok(None),
        Ok(s) => Ok(Some(Duration::from_secs(s))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_default_and_cap() {
        let c = CaConfig::default();
        assert_eq!(c.lifetime_for(None), Duration::from_secs(3600));
        assert_eq!(
            c.lifetime_for(Some(Duration::ZERO)),
            Duration::from_secs(3600)
        );
        assert_eq!(
            c.lifetime_for(Some(Duration::from_secs(10 * 365 * 86400))),
            Duration::from_secs(86400)
        );
        assert_eq!(requested_lifetime(0).unwrap(), None);
        assert_eq!(requested_lifetime(5).unwrap(), Some(Duration::from_secs(5)));
        let err = requested_lifetime(-1).unwrap_err().to_string();
        assert!(err.contains("negative"), "{err}");
    }

    #[test]
    fn rejects_inconsistent_config() {
        let err = CaConfig::default()
            .with_default_lifetime(Duration::from_secs(48 * 3600))
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("exceeds max_lifetime"), "{err}");
        assert!(
            CaConfig::default()
                .with_max_lifetime(Duration::ZERO)
                .validate()
                .is_err()
        );
    }
}
