//! The endpoint handles of one client, by address.

use foldhash::HashMap;
use foldhash::HashMapExt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::time::Instant;

use super::load::EndpointLoad;
use crate::policy::{Endpoint, Policy, UpstreamTls};

/// An endpoint's connection handle and its load.
#[derive(Debug)]
pub(crate) struct PooledEndpoint<E> {
    pub(crate) addr: SocketAddr,
    pub(crate) service: E,
    pub(crate) load: EndpointLoad,
    /// The TLS policy the handle was made under, and whether this
    /// workload had an identity then: when either changes, the handle is
    /// replaced so new connections follow the new policy.
    tls: Arc<UpstreamTls>,
    had_identity: bool,
}

impl<E> PooledEndpoint<E> {
    fn made_under(&self, tls: &Arc<UpstreamTls>, has_identity: bool) -> bool {
        self.had_identity == has_identity && (Arc::ptr_eq(&self.tls, tls) || *self.tls == **tls)
    }
}

/// Endpoint handles live as long as their address is in the policy, so a
/// connection survives policy updates that keep its endpoint.
pub(crate) struct Pool<E> {
    epoch: Instant,
    /// Read on every request: a fast hasher (the addresses come from
    /// config, not from requests).
    by_addr: ArcSwap<HashMap<SocketAddr, Arc<PooledEndpoint<E>>>>,
    /// Serialises inserts (copy-on-write); readers never take it.
    insert: Mutex<()>,
}

impl<E> Pool<E> {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            by_addr: ArcSwap::from_pointee(HashMap::new()),
            insert: Mutex::new(()),
        }
    }

    /// The handle for `endpoint`, made with `make` the first time.
    /// Handles for addresses no longer in `policy` are dropped when a new
    /// one is added (closing their connections).
    pub(crate) fn get(
        &self,
        endpoint: &Endpoint,
        tls: &Arc<UpstreamTls>,
        has_identity: bool,
        policy: &Policy,
        make: impl FnOnce(SocketAddr) -> E,
    ) -> Arc<PooledEndpoint<E>> {
        if let Some(found) = self.by_addr.load().get(&endpoint.address)
            && found.made_under(tls, has_identity)
        {
            return found.clone();
        }
        let _guard = self.insert.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.by_addr.load_full();
        if let Some(found) = current.get(&endpoint.address)
            && found.made_under(tls, has_identity)
        {
            return found.clone();
        }
        let mut next: HashMap<_, _> = current
            .iter()
            .filter(|(addr, _)| {
                policy
                    .services()
                    .any(|s| s.endpoints.iter().any(|e| e.address == **addr))
            })
            .map(|(a, e)| (*a, e.clone()))
            .collect();
        let added = Arc::new(PooledEndpoint {
            addr: endpoint.address,
            service: make(endpoint.address),
            load: EndpointLoad::new(self.epoch),
            tls: tls.clone(),
            had_identity: has_identity,
        });
        next.insert(endpoint.address, added.clone());
        self.by_addr.store(Arc::new(next));
        added
    }
}
