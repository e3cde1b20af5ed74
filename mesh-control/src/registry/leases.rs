//! Leases: registered endpoints that live as long as they are kept alive.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use mesh_core::policy::{Endpoint, Labels};
use tokio::time::Instant;

use crate::merge::Registered;

/// One registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The lease's id.
    pub id: String,
    /// The service's host as declared.
    pub host: String,
    /// The endpoint's address.
    pub address: SocketAddr,
    /// The endpoint's labels.
    pub labels: Labels,
    /// The TTL granted.
    pub ttl: Duration,
    /// When it expires unless kept alive.
    pub expires: Instant,
}

/// Every live lease, by id.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    by_id: BTreeMap<String, Lease>,
}

impl Leases {
    /// Adds a lease, replacing any lease for the same service and address
    /// (a workload that restarts registers again); returns the new id.
    pub(crate) fn insert(
        &mut self,
        host: String,
        address: SocketAddr,
        labels: Labels,
        ttl: Duration,
        now: Instant,
    ) -> String {
        self.by_id
            .retain(|_, l| !(l.host == host && l.address == address));
        let id = loop {
            let id = format!("{:016x}", fastrand::u64(..));
            if !self.by_id.contains_key(&id) {
                break id;
            }
        };
        self.by_id.insert(
            id.clone(),
            Lease {
                id: id.clone(),
                host,
                address,
                labels,
                ttl,
                expires: now + ttl,
            },
        );
        id
    }

    /// Renews a lease for its TTL; `None` if there is no such lease.
    pub(crate) fn renew(&mut self, id: &str, now: Instant) -> Option<Duration> {
        let lease = self.by_id.get_mut(id)?;
        lease.expires = now + lease.ttl;
        Some(lease.ttl)
    }

    /// Removes a lease; whether there was one.
    pub(crate) fn remove(&mut self, id: &str) -> bool {
        self.by_id.remove(id).is_some()
    }

    /// Removes every lease due by `now`; returns them.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Lease> {
        let due: Vec<String> = self
            .by_id
            .values()
            .filter(|l| l.expires <= now)
            .map(|l| l.id.clone())
            .collect();
        due.iter().filter_map(|id| self.by_id.remove(id)).collect()
    }

    /// When the next lease expires.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.by_id.values().map(|l| l.expires).min()
    }

    /// Every lease.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Lease> {
        self.by_id.values()
    }

    /// The endpoints to merge into the policy.
    pub(crate) fn registered(&self) -> Vec<Registered> {
        self.by_id
            .values()
            .map(|l| Registered {
                host: l.host.clone(),
                endpoint: Endpoint {
                    address: l.address,
                    labels: l.labels.clone(),
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_expire_unless_renewed() {
        let now = Instant::now();
        let mut leases = Leases::default();
        let ttl = Duration::from_secs(10);
        let a = leases.insert(
            "a".into(),
            "10.0.0.1:1".parse().unwrap(),
            Labels::new(),
            ttl,
            now,
        );
        let b = leases.insert(
            "a".into(),
            "10.0.0.2:1".parse().unwrap(),
            Labels::new(),
            ttl,
            now,
        );
        assert_eq!(leases.next_expiry(), Some(now + ttl));
        assert!(leases.renew(&a, now + Duration::from_secs(5)).is_some());
        let gone = leases.expire(now + ttl);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].id, b);
        assert_eq!(leases.next_expiry(), Some(now + Duration::from_secs(15)));
        assert!(leases.renew(&b, now).is_none());
    }

    #[test]
    fn registering_the_same_address_again_replaces_the_lease() {
        let now = Instant::now();
        let mut leases = Leases::default();
        let addr: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let ttl = Duration::from_secs(1);
        let first = leases.insert("a".into(), addr, Labels::new(), ttl, now);
        let second = leases.insert("a".into(), addr, Labels::new(), ttl, now);
        assert_ne!(first, second);
        assert_eq!(leases.registered().len(), 1);
        assert!(!leases.remove(&first));
        assert!(leases.remove(&second));
    }
}
