//! The control plane's state: the last valid policy from the
//! configuration, the last rejected configuration, and the registry's
//! leases. Every change that alters the merged policy publishes a new
//! [`Snapshot`] to every stream.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use mesh_core::config::ConfigError;
use mesh_core::policy::{Labels, Policy};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::error::RegistryError;
use crate::merge::merge;
use crate::registry::{Lease, Leases};
use crate::snapshot::Snapshot;

/// A configuration that did not validate.
#[derive(Clone, Debug)]
pub(crate) struct Rejection {
    /// When it was read.
    pub(crate) at: SystemTime,
    /// Why it was rejected.
    pub(crate) error: ConfigError,
}

/// How leases are granted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeasePolicy {
    /// The TTL when a registration asks for none.
    pub(crate) default_ttl: Duration,
    /// The longest TTL granted.
    pub(crate) max_ttl: Duration,
}

#[derive(Debug, Default)]
struct State {
    base: Option<Arc<Policy>>,
    rejected: Option<Rejection>,
    rejected_now: bool,
    leases: Leases,
}

/// Shared by the config watcher, the registry, the streams and the admin.
#[derive(Debug)]
pub(crate) struct Store {
    state: Mutex<State>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    leases_changed: Notify,
    lease_policy: LeasePolicy,
}

impl Store {
    pub(crate) fn new(lease_policy: LeasePolicy) -> Self {
        Self {
            state: Mutex::new(State::default()),
            snapshots: watch::Sender::new(Arc::new(Snapshot::initial())),
            leases_changed: Notify::new(),
            lease_policy,
        }
    }

    /// Translates every policy with `options` (security on when the CA
    /// is); call before anything is published.
    pub(crate) fn with_xds(self, options: crate::xds::Options) -> Self {
        self.snapshots
            .send_replace(Arc::new(Snapshot::initial_with(options)));
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data behind
        // (every update is a single assignment), so poisoning is ignored.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A receiver of every published snapshot.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.subscribe()
    }

    /// The snapshot being served.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }

    /// The outcome of reading the configuration: a valid policy replaces
    /// the previous one; an invalid one is recorded and changes nothing.
    pub(crate) fn apply_config(&self, loaded: Result<Policy, ConfigError>) {
        let mut state = self.lock();
        match loaded {
            Ok(policy) => {
                state.base = Some(Arc::new(policy));
                state.rejected_now = false;
                self.publish(&state);
            }
            Err(error) => {
                tracing::error!(
                    problems = error.problems().len(),
                    "configuration rejected, still serving the previous one:\n{error}"
                );
                state.rejected = Some(Rejection {
                    at: SystemTime::now(),
                    error,
                });
                state.rejected_now = true;
            }
        }
    }

    /// The last rejected configuration, and whether the files as they are
    /// now are still rejected.
    pub(crate) fn rejection(&self) -> (Option<Rejection>, bool) {
        let state = self.lock();
        (state.rejected.clone(), state.rejected_now)
    }

    /// Every live lease.
    pub(crate) fn leases(&self) -> Vec<Lease> {
        self.lock().leases.iter().cloned().collect()
    }

    /// Adds an endpoint to a declared service.
    pub(crate) fn register(
        &self,
        service: &str,
        address: &str,
        port: u32,
        labels: Labels,
        ttl: Option<Duration>,
    ) -> Result<(String, Duration), RegistryError> {
        let ip: IpAddr =
            address
                .parse()
                .map_err(|e: std::net::AddrParseError| RegistryError::BadAddress {
                    address: address.to_owned(),
                    reason: e.to_string(),
                })?;
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or(RegistryError::BadPort { port })?;
        let mut state = self.lock();
        let base = state.base.clone().ok_or(RegistryError::NotReady)?;
        let host = match base.service(service) {
            Some(svc) => svc.host.clone(),
            None => {
                let hint =
                    mesh_core::suggest::closest(service, base.services().map(|s| s.host.as_str()))
                        .map(|c| format!(" (did you mean {c:?}?)"))
                        .unwrap_or_default();
                return Err(RegistryError::UnknownService {
                    service: service.to_owned(),
                    hint,
                });
            }
        };
        let ttl = ttl
            .filter(|t| !t.is_zero())
            .unwrap_or(self.lease_policy.default_ttl)
            .min(self.lease_policy.max_ttl);
        let addr = SocketAddr::new(ip, port);
        let id = state
            .leases
            .insert(host.clone(), addr, labels, ttl, Instant::now());
        tracing::info!(%host, %addr, lease = %id, ?ttl, "endpoint registered");
        self.publish(&state);
        self.leases_changed.notify_one();
        Ok((id, ttl))
    }

    /// Renews a lease.
    pub(crate) fn keep_alive(&self, id: &str) -> Result<Duration, RegistryError> {
        let ttl = self.lock().leases.renew(id, Instant::now());
        self.leases_changed.notify_one();
        ttl.ok_or_else(|| RegistryError::UnknownLease { id: id.to_owned() })
    }

    /// Removes a lease's endpoint.
    pub(crate) fn deregister(&self, id: &str) -> Result<(), RegistryError> {
        let mut state = self.lock();
        if !state.leases.remove(id) {
            return Err(RegistryError::UnknownLease { id: id.to_owned() });
        }
        tracing::info!(lease = %id, "endpoint deregistered");
        self.publish(&state);
        self.leases_changed.notify_one();
        Ok(())
    }

    /// Removes the leases due by `now`, and says when the next one is due.
    pub(crate) fn expire(&self, now: Instant) -> Option<Instant> {
        let mut state = self.lock();
        let gone = state.leases.expire(now);
        for lease in &gone {
            tracing::warn!(host = %lease.host, addr = %lease.address, lease = %lease.id, "lease expired; endpoint removed");
        }
        if !gone.is_empty() {
            self.publish(&state);
        }
        state.leases.next_expiry()
    }

    /// Resolves when leases changed (so the next expiry may have moved).
    pub(crate) async fn leases_changed(&self) {
        self.leases_changed.notified().await;
    }

    /// Publishes the merged policy if it differs from the one served.
    fn publish(&self, state: &State) {
        let Some(base) = &state.base else { return };
        let registered = state.leases.registered();
        let policy = if registered.is_empty() {
            base.clone()
        } else {
            match merge(base, &registered) {
                Ok(p) => Arc::new(p),
                Err(e) => {
                    tracing::error!(
                        "registered endpoints left out: {e} (this is a bug; please report it)"
                    );
                    base.clone()
                }
            }
        };
        self.snapshots.send_if_modified(|current| {
            if current.is_ready() && **current.policy() == *policy {
                return false;
            }
            let next = current.next(policy);
            tracing::info!(version = next.version(), "publishing a new snapshot");
            *current = Arc::new(next);
            true
        });
    }
}
