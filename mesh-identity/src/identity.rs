//! The live identity of this workload: the current certificate and trust
//! bundle behind `ArcSwap`s, shared by every config built from it, and
//! replaced in place by whatever refreshes them (files, the CA).

use std::fmt;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::sync::{oneshot, watch};

use crate::bundle::TrustBundle;
use crate::cert::WorkloadCert;
use crate::clock::Clock;
use crate::error::IdentityError;
use crate::spiffe::SpiffeId;

/// What configs, verifiers and refresh tasks share. Holding it does not
/// keep a refresh task alive; only [`Identity`] clones do.
pub(crate) struct State {
    trust_domain: String,
    /// The identity to report before the first certificate arrives.
    requested: SpiffeId,
    cert: ArcSwapOption<WorkloadCert>,
    pub(crate) bundle: Arc<ArcSwap<TrustBundle>>,
    pub(crate) clock: Clock,
    rotations: watch::Sender<u64>,
    /// Refresh attempts (successful or not), so tests can wait for one.
    attempts: watch::Sender<u64>,
}

impl State {
    pub(crate) fn new(
        requested: SpiffeId,
        bundle: TrustBundle,
        cert: Option<WorkloadCert>,
        clock: Clock,
    ) -> Self {
        let installed = u64::from(cert.is_some());
        Self {
            trust_domain: bundle.trust_domain().to_owned(),
            requested,
            cert: ArcSwapOption::new(cert.map(Arc::new)),
            bundle: Arc::new(ArcSwap::from_pointee(bundle)),
            clock,
            rotations: watch::Sender::new(installed),
            attempts: watch::Sender::new(0),
        }
    }

    /// Installs a new certificate and counts it.
    pub(crate) fn install(&self, cert: WorkloadCert) {
        tracing::info!(
            id = %cert.id(),
            not_after = %humantime::format_rfc3339_seconds(cert.not_after()),
            "installed a new workload certificate"
        );
        self.cert.store(Some(Arc::new(cert)));
        self.rotations.send_modify(|n| *n += 1);
    }

    /// Replaces the trust bundle.
    pub(crate) fn set_bundle(&self, bundle: TrustBundle) {
        if **self.bundle.load() != bundle {
            tracing::info!(
                trust_domain = bundle.trust_domain(),
                roots = bundle.roots().len(),
                "installed a new trust bundle"
            );
            self.bundle.store(Arc::new(bundle));
        }
    }

    /// Counts a refresh attempt.
    pub(crate) fn attempted(&self) {
        self.attempts.send_modify(|n| *n += 1);
    }

    /// The installed certificate, valid or not.
    pub(crate) fn latest(&self) -> Option<Arc<WorkloadCert>> {
        self.cert.load_full()
    }

    /// The installed certificate if it is valid now.
    pub(crate) fn current(&self) -> Result<Arc<WorkloadCert>, IdentityError> {
        let cert = self.latest().ok_or_else(|| IdentityError::NoCertificate {
            id: self.requested.clone(),
        })?;
        cert.check_validity(self.clock.now())?;
        Ok(cert)
    }

    pub(crate) fn trust_domain(&self) -> &str {
        &self.trust_domain
    }
}

/// The live identity of this workload: its current certificate and the
/// trust bundle of its trust domain.
///
/// Cheap to clone. Configs built from it ([`server_config`](Self::server_config),
/// [`client_config`](Self::client_config)) follow rotations without being
/// rebuilt. A background refresh (files or CA) stops when the last clone
/// is dropped; configs that outlive it keep serving the last certificate
/// until it expires, then fail closed.
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    state: Arc<State>,
    /// Dropped with the last clone, which tells the refresh task to stop.
    _stop: Option<oneshot::Sender<()>>,
}

impl Identity {
    /// An identity with a caller-managed certificate: nothing refreshes it.
    pub fn fixed(cert: WorkloadCert, bundle: TrustBundle) -> Identity {
        Self::from_state(Arc::new(State::new(
            cert.id().clone(),
            bundle,
            Some(cert),
            Clock::System,
        )))
    }

    pub(crate) fn from_state(state: Arc<State>) -> Identity {
        Identity {
            inner: Arc::new(Inner { state, _stop: None }),
        }
    }

    /// An identity whose refresh task watches the returned receiver: it
    /// resolves (with an error) when the last clone is dropped.
    pub(crate) fn with_refresh(state: Arc<State>) -> (Identity, oneshot::Receiver<()>) {
        let (stop, stopped) = oneshot::channel();
        let inner = Inner {
            state,
            _stop: Some(stop),
        };
        (
            Identity {
                inner: Arc::new(inner),
            },
            stopped,
        )
    }

    pub(crate) fn state(&self) -> &Arc<State> {
        &self.inner.state
    }

    /// This workload's SPIFFE ID (from the latest certificate).
    pub fn id(&self) -> SpiffeId {
        match self.state().latest() {
            Some(cert) => cert.id().clone(),
            None => self.state().requested.clone(),
        }
    }

    /// The trust domain, e.g. `cluster.local`.
    pub fn trust_domain(&self) -> &str {
        self.state().trust_domain()
    }

    /// The current trust bundle.
    pub fn bundle(&self) -> Arc<TrustBundle> {
        self.state().bundle.load_full()
    }

    /// The current certificate, or [`IdentityError::Expired`] /
    /// [`IdentityError::NotYetValid`] when it is not valid now: mutual TLS
    /// fails closed until a valid one arrives.
    pub fn current(&self) -> Result<Arc<WorkloadCert>, IdentityError> {
        self.state().current()
    }

    /// Counts installed certificates (the first one counts 1); changes on
    /// every rotation.
    pub fn rotations(&self) -> watch::Receiver<u64> {
        self.state().rotations.subscribe()
    }

    /// Counts refresh attempts, failed or not.
    #[cfg(test)]
    pub(crate) fn attempts(&self) -> watch::Receiver<u64> {
        self.state().attempts.subscribe()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("id", &self.id().to_string())
            .field("certificate", &self.state().latest())
            .field("bundle", &self.bundle())
            .finish()
    }
}
