//! Resolutions shared by the streams of one server.
//!
//! Many clients subscribe to the same names (every replica of a workload
//! dials the same services), and every new snapshot is resolved for each
//! stream: for a client of 1000 services, thousands of resources, a
//! listener renamed and encoded per name and a service looked up per
//! listener. What [`Snapshot::resolve`] returns depends only on the
//! snapshot, the type and the subscription, and a snapshot never changes
//! (its version names it), so the first stream to resolve a subscription
//! for the current snapshot keeps the answer for the others.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::response::Resolved;
use crate::snapshot::{Interest, Snapshot};

/// Subscriptions kept per snapshot: enough for the usual handful of
/// distinct ones (one per workload kind and type), bounded so clients
/// that each ask for something else cannot grow it.
const ENTRIES: usize = 32;

/// One resolved subscription.
#[derive(Debug)]
struct Entry {
    type_url: &'static str,
    interest: Interest,
    resolved: Arc<Resolved>,
}

#[derive(Debug, Default)]
struct Current {
    /// The version of the snapshot the entries were resolved against.
    version: u64,
    entries: Vec<Entry>,
}

/// The resolutions of the latest snapshot seen, shared by every stream.
#[derive(Debug, Default)]
pub(crate) struct Resolutions {
    current: Mutex<Current>,
}

impl Resolutions {
    fn lock(&self) -> MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Snapshot::resolve`], encoded, answered from what another stream
    /// resolved for the same snapshot, type and subscription when there is
    /// one.
    pub(crate) fn resolve(
        &self,
        snapshot: &Snapshot,
        type_url: &'static str,
        interest: &Interest,
    ) -> Arc<Resolved> {
        let version = snapshot.version();
        {
            let current = self.lock();
            if current.version == version
                && let Some(e) = current
                    .entries
                    .iter()
                    .find(|e| e.type_url == type_url && e.interest == *interest)
            {
                return e.resolved.clone();
            }
        }
        // Resolved without the lock: other streams keep going meanwhile.
        let resolved = Arc::new(Resolved::new(snapshot.resolve(type_url, interest)));
        let mut current = self.lock();
        if current.version < version {
            current.version = version;
            current.entries.clear();
        }
        let room = current.entries.len() < ENTRIES;
        let known = current
            .entries
            .iter()
            .any(|e| e.type_url == type_url && e.interest == *interest);
        if current.version == version && room && !known {
            current.entries.push(Entry {
                type_url,
                interest: interest.clone(),
                resolved: resolved.clone(),
            });
        }
        resolved
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use mesh_core::policy::{Policy, Service};

    use super::*;
    use crate::xds::{CLUSTER_TYPE, LISTENER_TYPE};

    fn policy(hosts: &[&str]) -> Arc<Policy> {
        let mut b = Policy::builder();
        for h in hosts {
            b = b.service(Service::new(*h).port(50051, None));
        }
        Arc::new(b.build().expect("a valid policy"))
    }

    fn names(resolved: &Resolved) -> Vec<&str> {
        resolved.keys().iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn answers_are_shared_per_snapshot_type_and_subscription() {
        let r = Resolutions::default();
        let snap = Snapshot::initial().next(policy(&["a", "b"]));
        let a = Interest {
            wildcard: false,
            names: BTreeSet::from(["a:50051".to_owned()]),
        };
        let first = r.resolve(&snap, LISTENER_TYPE, &a);
        assert!(Arc::ptr_eq(&first, &r.resolve(&snap, LISTENER_TYPE, &a)));
        assert_eq!(names(&first), ["a:50051"]);
        // Another subscription, another type: resolved on their own.
        let b = Interest {
            wildcard: false,
            names: BTreeSet::from(["b:50051".to_owned()]),
        };
        assert_eq!(names(&r.resolve(&snap, LISTENER_TYPE, &b)), ["b:50051"]);
        let all = Interest {
            wildcard: true,
            names: BTreeSet::new(),
        };
        assert_eq!(
            names(&r.resolve(&snap, CLUSTER_TYPE, &all)),
            ["outbound|50051||a", "outbound|50051||b"]
        );
        // A newer snapshot is resolved again.
        let next = snap.next(policy(&["a", "c"]));
        assert_eq!(
            names(&r.resolve(&next, CLUSTER_TYPE, &all)),
            ["outbound|50051||a", "outbound|50051||c"]
        );
        // A stream still on the older one gets its own answer, not the
        // newer snapshot's.
        assert_eq!(
            names(&r.resolve(&snap, CLUSTER_TYPE, &all)),
            ["outbound|50051||a", "outbound|50051||b"]
        );
    }
}
