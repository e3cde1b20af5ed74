//! gRFC A29's `file_watcher` certificate provider: certificate, key and CA
//! bundle from files (e.g. a mounted Kubernetes secret), re-read on an
//! interval. A bad reload keeps what was loaded before.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::bundle::TrustBundle;
use crate::cert::WorkloadCert;
use crate::clock::Clock;
use crate::error::{IdentityError, chain};
use crate::identity::{Identity, State};
use crate::spiffe::valid_trust_domain;

/// Where the certificate files are and how often to re-read them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileWatcher {
    /// The certificate chain, PEM, leaf first.
    pub certificate_file: PathBuf,
    /// The leaf's private key, PEM.
    pub private_key_file: PathBuf,
    /// The trust bundle (one or more roots), PEM.
    pub ca_certificate_file: PathBuf,
    /// The trust domain the certificate and bundle must belong to.
    pub trust_domain: String,
    /// How often to re-read the files (default 600 s; zero counts as 1 ms).
    pub refresh_interval: Duration,
}

impl FileWatcher {
    /// The default refresh interval, as in gRFC A29.
    pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(600);

    /// Watches these files with the default refresh interval.
    pub fn new(
        certificate_file: impl Into<PathBuf>,
        private_key_file: impl Into<PathBuf>,
        ca_certificate_file: impl Into<PathBuf>,
        trust_domain: &str,
    ) -> Self {
        Self {
            certificate_file: certificate_file.into(),
            private_key_file: private_key_file.into(),
            ca_certificate_file: ca_certificate_file.into(),
            trust_domain: trust_domain.to_owned(),
            refresh_interval: Self::DEFAULT_REFRESH_INTERVAL,
        }
    }

    /// Sets the refresh interval.
    pub fn with_refresh_interval(mut self, refresh_interval: Duration) -> Self {
        self.refresh_interval = refresh_interval;
        self
    }

    fn load_cert(&self, cert_pem: &str, key_pem: &str) -> Result<WorkloadCert, IdentityError> {
        let cert = WorkloadCert::from_pem(cert_pem, key_pem).map_err(|e| match e {
            IdentityError::PrivateKey { .. }
            | IdentityError::Pem {
                what: "private key",
                ..
            } => e.in_file(&self.private_key_file),
            _ => e.in_file(&self.certificate_file),
        })?;
        if cert.id().trust_domain() != self.trust_domain {
            return Err(IdentityError::TrustDomainMismatch {
                what: "workload certificate",
                expected: self.trust_domain.clone(),
                actual: cert.id().trust_domain().to_owned(),
            }
            .in_file(&self.certificate_file));
        }
        Ok(cert)
    }

    fn load_bundle(&self, ca_pem: &str) -> Result<TrustBundle, IdentityError> {
        TrustBundle::from_pem(&self.trust_domain, ca_pem)
            .map_err(|e| e.in_file(&self.ca_certificate_file))
    }
}

/// The file contents last looked at, to skip unchanged files.
#[derive(Default)]
struct Seen {
    cert_and_key: Option<(String, String)>,
    ca: Option<String>,
}

fn read(path: &Path) -> Result<String, IdentityError> {
    std::fs::read_to_string(path).map_err(|source| IdentityError::Read {
        path: path.to_owned(),
        source,
    })
}

/// [`read`] off the runtime's threads (the files may be on slow storage).
async fn read_async(path: &Path) -> Result<String, IdentityError> {
    let owned = path.to_owned();
    match tokio::task::spawn_blocking(move || read(&owned)).await {
        Ok(result) => result,
        Err(e) => Err(IdentityError::Read {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        }),
    }
}

impl Identity {
    /// Loads the identity from files now (errors name the file), then
    /// re-reads them every `refresh_interval` on a background task, which
    /// stops when the last clone of the identity is dropped.
    ///
    /// Must be called inside a tokio runtime.
    pub fn from_files(watcher: FileWatcher) -> Result<Identity, IdentityError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| IdentityError::NoRuntime {
                what: "the certificate file watcher",
            })?;
        Ok(start(watcher, &runtime)?.0)
    }
}

/// Loads the files and spawns the watcher; the task handle is for tests.
pub(crate) fn start(
    watcher: FileWatcher,
    runtime: &tokio::runtime::Handle,
) -> Result<(Identity, JoinHandle<()>), IdentityError> {
    if !valid_trust_domain(&watcher.trust_domain) {
        return Err(IdentityError::InvalidTrustDomain {
            trust_domain: watcher.trust_domain,
        });
    }
    let cert_pem = read(&watcher.certificate_file)?;
    let key_pem = read(&watcher.private_key_file)?;
    let ca_pem = read(&watcher.ca_certificate_file)?;
    let cert = watcher.load_cert(&cert_pem, &key_pem)?;
    let bundle = watcher.load_bundle(&ca_pem)?;
    let state = Arc::new(State::new(
        cert.id().clone(),
        bundle,
        Some(cert),
        Clock::System,
    ));
    let seen = Seen {
        cert_and_key: Some((cert_pem, key_pem)),
        ca: Some(ca_pem),
    };
    let (identity, stop) = Identity::with_refresh(state.clone());
    let task = runtime.spawn(watch(watcher, seen, state, stop));
    Ok((identity, task))
}

async fn watch(
    watcher: FileWatcher,
    mut seen: Seen,
    state: Arc<State>,
    mut stop: oneshot::Receiver<()>,
) {
    let period = watcher.refresh_interval.max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = ticks.tick() => {}
        }
        reload(&watcher, &mut seen, &state).await;
        state.attempted();
    }
}

/// Re-reads the files and installs what changed and is valid.
async fn reload(watcher: &FileWatcher, seen: &mut Seen, state: &State) {
    let cert_and_key = match (
        read_async(&watcher.certificate_file).await,
        read_async(&watcher.private_key_file).await,
    ) {
        (Ok(cert), Ok(key)) => Ok((cert, key)),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match cert_and_key {
        Ok(pems) if seen.cert_and_key.as_ref() != Some(&pems) => {
            match watcher.load_cert(&pems.0, &pems.1) {
                Ok(cert) => state.install(cert),
                Err(e) => tracing::warn!(
                    error = %chain(&e),
                    "reloading the workload certificate failed; keeping the previous one"
                ),
            }
            seen.cert_and_key = Some(pems);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(
            error = %chain(&e),
            "reloading the workload certificate failed; keeping the previous one"
        ),
    }
    match read_async(&watcher.ca_certificate_file).await {
        Ok(ca) if seen.ca.as_ref() != Some(&ca) => {
            match watcher.load_bundle(&ca) {
                Ok(bundle) => state.set_bundle(bundle),
                Err(e) => tracing::warn!(
                    error = %chain(&e),
                    "reloading the trust bundle failed; keeping the previous one"
                ),
            }
            seen.ca = Some(ca);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(
            error = %chain(&e),
            "reloading the trust bundle failed; keeping the previous one"
        ),
    }
}
