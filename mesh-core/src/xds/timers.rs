//! Does-not-exist timers (gRFC A57): a subscribed resource that has not
//! arrived this long after it was requested on a connected stream counts
//! as absent.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::Kind;

/// The default does-not-exist timeout.
pub(crate) const RESOURCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Pending deadlines, by resource.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    deadlines: BTreeMap<(Kind, String), Instant>,
}

impl Timers {
    /// Starts timers for resources just requested (a running one stays).
    pub(crate) fn arm(&mut self, names: Vec<(Kind, String)>, at: Instant) {
        for key in names {
            self.deadlines.entry(key).or_insert(at);
        }
    }

    /// Stops the timers of resources for which `arrived` holds: they exist.
    /// Without this, each would still fire and make the client recompute
    /// its subscriptions, once per resource, long after everything came.
    pub(crate) fn disarm(&mut self, mut arrived: impl FnMut(Kind, &str) -> bool) {
        self.deadlines
            .retain(|(kind, name), _| !arrived(*kind, name));
    }

    /// Stops every timer (the stream broke).
    pub(crate) fn clear(&mut self) {
        self.deadlines.clear();
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.values().min().copied()
    }

    /// Removes and returns the timers due at `now`.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<(Kind, String)> {
        let due: Vec<_> = self
            .deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &due {
            self.deadlines.remove(k);
        }
        due
    }
}

/// Sleeps until `at`, or forever when there is no deadline.
pub(crate) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fire_after_the_timeout_counted_from_the_request() {
        let mut t = Timers::default();
        let start = Instant::now();
        t.arm(
            vec![(Kind::RouteConfig, "r".into())],
            start + RESOURCE_TIMEOUT,
        );
        tokio::time::advance(std::time::Duration::from_secs(5)).await;
        // Asked again: the first deadline stands.
        t.arm(
            vec![(Kind::RouteConfig, "r".into())],
            Instant::now() + RESOURCE_TIMEOUT,
        );
        assert!(t.due(Instant::now()).is_empty());
        sleep_until(t.next()).await;
        assert_eq!(Instant::now() - start, RESOURCE_TIMEOUT);
        assert_eq!(
            t.due(Instant::now()),
            vec![(Kind::RouteConfig, "r".to_owned())]
        );
        assert_eq!(t.next(), None);
    }

    #[test]
    fn resources_that_arrived_stop_their_timers() {
        let mut t = Timers::default();
        let at = Instant::now() + RESOURCE_TIMEOUT;
        t.arm(
            vec![
                (Kind::Cluster, "a".into()),
                (Kind::Cluster, "b".into()),
                (Kind::Endpoints, "a".into()),
            ],
            at,
        );
        t.disarm(|kind, name| kind == Kind::Cluster && name == "a");
        assert_eq!(
            t.due(at),
            vec![
                (Kind::Cluster, "b".to_owned()),
                (Kind::Endpoints, "a".to_owned())
            ]
        );
    }
}
