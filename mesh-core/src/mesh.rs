//! The [`Mesh`] handle: the current policy snapshot and the state that
//! outlives one request (retry budgets, rate limiters, metrics).

use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, ArcSwapOption};
use mesh_identity::Identity;
use tokio::sync::watch;

use crate::client::retry::Budget;
use crate::policy::{Policy, PolicyBuilder, PolicyError};
use crate::server::rate_limit::Limiter;
use crate::telemetry::Metrics;

/// One immutable policy with the runtime state that goes with it.
///
/// A request takes one snapshot when it is routed and keeps it to the end,
/// so an update never changes a request halfway through.
#[derive(Debug)]
pub struct Snapshot {
    policy: Arc<Policy>,
    version: u64,
    /// Per route table, per route: the retry budget, if the route retries.
    budgets: Vec<Vec<Option<Arc<Budget>>>>,
    /// One limiter per rate limit, in the policy's order.
    limiters: Vec<Arc<Limiter>>,
}

impl Snapshot {
    fn new(policy: Policy, version: u64, previous: Option<&Snapshot>) -> Self {
        let budgets = policy
            .route_tables()
            .iter()
            .map(|table| {
                table
                    .routes
                    .iter()
                    .map(|route| {
                        let retry = route.retry.as_ref()?;
                        // Keep the budget's history when the route and its
                        // budget did not change, so an unrelated update does
                        // not hand out a fresh allowance.
                        let kept = previous.and_then(|p| p.budget_named(&table.name, &route.name));
                        Some(match kept {
                            Some(b) if *b.policy() == retry.budget => b,
                            _ => Arc::new(Budget::new(retry.budget)),
                        })
                    })
                    .collect()
            })
            .collect();
        let limiters = policy
            .rate_limits()
            .iter()
            .map(|limit| {
                previous
                    .and_then(|p| p.limiters.iter().find(|l| l.policy() == limit))
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Limiter::new(limit.clone())))
            })
            .collect();
        Self {
            policy: Arc::new(policy),
            version,
            budgets,
            limiters,
        }
    }

    fn budget_named(&self, table: &str, route: &str) -> Option<Arc<Budget>> {
        let t = self
            .policy
            .route_tables()
            .iter()
            .position(|t| t.name == table)?;
        let r = self.policy.route_tables()[t]
            .routes
            .iter()
            .position(|r| r.name == route)?;
        self.budgets[t][r].clone()
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Counts up from 1 with every accepted update.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The retry budget of route `route` in table `table` (indices into
    /// [`Policy::route_tables`]).
    pub fn retry_budget(&self, table: usize, route: usize) -> Option<&Arc<Budget>> {
        self.budgets.get(table)?.get(route)?.as_ref()
    }

    /// The limiters, in the order of [`Policy::rate_limits`].
    pub fn limiters(&self) -> &[Arc<Limiter>] {
        &self.limiters
    }
}

struct Inner {
    current: ArcSwap<Snapshot>,
    /// Serialises updates so carried-over state comes from the snapshot
    /// being replaced; never taken on the request path.
    update: Mutex<()>,
    versions: watch::Sender<u64>,
    metrics: Metrics,
}

/// The handle every client and server of a process shares: it holds the
/// current policy and swaps it atomically on update. Cloning is cheap.
///
/// ```
/// use mesh_core::{Mesh, policy::{Policy, Service}};
/// let mesh = Mesh::new(Policy::empty());
/// assert_eq!(mesh.snapshot().version(), 1);
/// // An invalid update is refused and the running policy stays.
/// let bad = Policy::builder().service(Service::new("a")).service(Service::new("a"));
/// assert!(mesh.update(bad).is_err());
/// assert_eq!(mesh.snapshot().version(), 1);
/// ```
#[derive(Clone)]
pub struct Mesh {
    inner: Arc<Inner>,
    /// This workload's certificate and trust bundle, once it has one;
    /// shared by clones, not by [`Mesh::with_identity`] views.
    identity: Arc<ArcSwapOption<Identity>>,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh")
            .field("version", &self.snapshot().version())
            .finish_non_exhaustive()
    }
}

impl Mesh {
    /// A mesh running `policy`.
    pub fn new(policy: Policy) -> Self {
        let (versions, _) = watch::channel(1);
        Self {
            inner: Arc::new(Inner {
                current: ArcSwap::from_pointee(Snapshot::new(policy, 1, None)),
                update: Mutex::new(()),
                versions,
                metrics: Metrics::new(),
            }),
            identity: Arc::new(ArcSwapOption::empty()),
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.current.load_full()
    }

    /// Validates `policy` and, if it holds together, makes it current.
    /// On error the running policy stays. Returns the new version.
    pub fn update(&self, policy: PolicyBuilder) -> Result<u64, PolicyError> {
        Ok(self.install(policy.build()?))
    }

    /// Makes an already validated policy current; returns its version.
    pub fn install(&self, policy: Policy) -> u64 {
        // A poisoned lock only means another update panicked; the snapshot
        // itself is always whole, so carry on.
        let _guard = self.inner.update.lock().unwrap_or_else(|e| e.into_inner());
        let previous = self.inner.current.load();
        let version = previous.version() + 1;
        let next = Snapshot::new(policy, version, Some(&previous));
        self.inner.current.store(Arc::new(next));
        self.inner.versions.send_replace(version);
        version
    }

    /// A receiver that sees the version of every accepted update.
    pub fn versions(&self) -> watch::Receiver<u64> {
        self.inner.versions.subscribe()
    }

    /// The mesh's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Gives this workload its identity: from then on clients use mutual
    /// TLS to services that take it, and servers terminate TLS with it.
    /// Set it before serving; connections already open keep what they were
    /// opened with.
    pub fn set_identity(&self, identity: Identity) {
        self.identity.store(Some(Arc::new(identity)));
    }

    /// A view of this mesh (the same policy, updates and metrics) for
    /// another workload of the same process, with its own identity: a
    /// process hosting several services gives each its SPIFFE ID.
    pub fn with_identity(&self, identity: Identity) -> Mesh {
        Mesh {
            inner: self.inner.clone(),
            identity: Arc::new(ArcSwapOption::from_pointee(identity)),
        }
    }

    /// Whether this workload has an identity (cheaper than [`Mesh::identity`]).
    pub fn has_identity(&self) -> bool {
        self.identity.load().is_some()
    }

    /// This workload's identity, if it has one.
    pub fn identity(&self) -> Option<Arc<Identity>> {
        self.identity.load_full()
    }
}
