//! Starting and stopping a control plane: [`ControlPlane::builder`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mesh_ca::CertificateAuthority;
use mesh_core::policy::Policy;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;

use crate::admin::Admin;
use crate::ads::{AdsService, ClientStatus, Clients};
use crate::error::ControlError;
use crate::registry::RegistryService;
use crate::snapshot::Snapshot;
use crate::source::DirSource;
use crate::store::{LeasePolicy, Store};

/// The default xDS (and registry) address: istiod's plaintext xDS port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:15010";
/// The default admin address: istiod's monitoring port.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:15014";
/// Where the CA listens unless told otherwise (istiod's port for it).
pub const DEFAULT_CA_LISTEN: &str = "127.0.0.1:15012";
/// The trust domain unless told otherwise.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

/// The control plane. Start one with [`ControlPlane::builder`].
#[derive(Debug, Clone, Copy)]
pub struct ControlPlane;

impl ControlPlane {
    /// A builder with the defaults: xDS on [`DEFAULT_LISTEN`], no admin
    /// API, leases of 10 s (at most 5 min), reloads 100 ms after the last
    /// change.
    pub fn builder() -> ControlPlaneBuilder {
        ControlPlaneBuilder {
            config_dir: None,
            listen: DEFAULT_LISTEN.to_owned(),
            admin: None,
            lease_ttl: Duration::from_secs(10),
            max_lease_ttl: Duration::from_secs(300),
            debounce: Duration::from_millis(100),
            ca: None,
            ca_listen: DEFAULT_CA_LISTEN.to_owned(),
            trust_domain: DEFAULT_TRUST_DOMAIN.to_owned(),
        }
    }
}

/// Configures a control plane; [`ControlPlaneBuilder::start`] runs it.
#[derive(Debug, Clone)]
pub struct ControlPlaneBuilder {
    config_dir: Option<PathBuf>,
    listen: String,
    admin: Option<String>,
    lease_ttl: Duration,
    max_lease_ttl: Duration,
    debounce: Duration,
    ca: Option<CaSource>,
    ca_listen: String,
    trust_domain: String,
}

impl ControlPlaneBuilder {
    /// The directory of Istio-dialect YAML to serve (required).
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = Some(dir.into());
        self
    }

    /// Where to serve ADS and the registry (`host:port`; port 0 picks one).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.listen = addr.into();
        self
    }

    /// Where to serve the admin API (`host:port`; port 0 picks one).
    pub fn admin(mut self, addr: impl Into<String>) -> Self {
        self.admin = Some(addr.into());
        self
    }

    /// The lease TTL for registrations that ask for none.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// The longest lease TTL granted.
    pub fn max_lease_ttl(mut self, ttl: Duration) -> Self {
        self.max_lease_ttl = ttl;
        self
    }

    /// How long the directory must stay quiet before a reload.
    pub fn reload_debounce(mut self, quiet: Duration) -> Self {
        self.debounce = quiet;
        self
    }

    /// Turns the certificate authority on, keeping its root (generated on
    /// first start) and token key in `dir`. Workloads get certificates
    /// from it over gRPC (`mesh.ca.v1.CertificateService`), and clusters
    /// are sent with mutual TLS settings.
    pub fn ca_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.ca = Some(CaSource::Dir(dir.into()));
        self
    }

    /// Turns the certificate authority on with an operator's signing
    /// certificate (a root, or an intermediate under the operator's own
    /// root) from `dir`, in istiod's plugged-in file names: `ca-cert.pem`,
    /// `ca-key.pem`, `cert-chain.pem`, `root-cert.pem`, and optionally
    /// `token-key` (see [`mesh_ca::CaFiles`]).
    pub fn ca_plugged_certs(mut self, dir: impl Into<PathBuf>) -> Self {
        self.ca = Some(CaSource::Plugged(dir.into()));
        self
    }

    /// Where the CA listens (TLS; default [`DEFAULT_CA_LISTEN`]).
    pub fn ca_listen(mut self, addr: impl Into<String>) -> Self {
        self.ca_listen = addr.into();
        self
    }

    /// The trust domain the CA issues identities in (default
    /// [`DEFAULT_TRUST_DOMAIN`]).
    pub fn trust_domain(mut self, trust_domain: impl Into<String>) -> Self {
        self.trust_domain = trust_domain.into();
        self
    }

    /// Binds the listeners, reads the configuration once, and starts
    /// serving. An invalid configuration does not stop the start: the
    /// control plane serves nothing (and `/readyz` says 503) until the files
    /// are fixed, and `/errors` says what is wrong.
    pub async fn start(self) -> Result<Running, ControlError> {
        let dir = self.config_dir.ok_or(ControlError::NoConfigDir)?;
        let source = DirSource::watch(&dir, self.debounce)?;
        let xds_listener = bind(&self.listen).await?;
        let xds_addr = local_addr(&xds_listener, &self.listen)?;
        let admin_listener = match &self.admin {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let admin_addr = match (&admin_listener, &self.admin) {
            (Some(l), Some(a)) => Some(local_addr(l, a)?),
            _ => None,
        };

        let ca = match &self.ca {
            Some(source) => {
                let ca = source.open(&self.trust_domain)?;
                let listener = bind(&self.ca_listen).await?;
                let addr = local_addr(&listener, &self.ca_listen)?;
                Some((ca, listener, addr))
            }
            None => None,
        };
        let store = Arc::new(
            Store::new(LeasePolicy {
                default_ttl: self.lease_ttl,
                max_ttl: self.max_lease_ttl,
            })
            // With the CA on, clusters and server listeners carry mTLS.
            .with_xds(crate::xds::Options {
                security: ca.is_some(),
            }),
        );
        let clients = Arc::new(Clients::default());
        let (shutdown, shutdown_rx) = watch::channel(false);

        source.load(&store).await;
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(source.run(store.clone(), shutdown_rx.clone())));
        tasks.push(tokio::spawn(expire_leases(
            store.clone(),
            shutdown_rx.clone(),
        )));
        if let Some(listener) = admin_listener {
            let admin = Admin {
                store: store.clone(),
                clients: clients.clone(),
            };
            tasks.push(tokio::spawn(admin.serve(listener, shutdown_rx.clone())));
        }
        let ca = match ca {
            Some((ca, listener, addr)) => {
                let mut stop = shutdown_rx.clone();
                let serving = ca.clone();
                tasks.push(tokio::spawn(async move {
                    let stopped = async move {
                        let _ = stop.wait_for(|s| *s).await;
                    };
                    if let Err(e) = mesh_ca::serve(serving, listener, stopped).await {
                        tracing::error!(error = %e, "the CA stopped");
                    }
                }));
                tracing::info!(ca_addr = %addr, trust_domain = %ca.trust_domain(), "CA serving");
                Some((ca, addr))
            }
            None => None,
        };
        let ads = AdsService::new(store.subscribe(), clients.clone(), shutdown_rx.clone());
        let registry = RegistryService::new(store.clone());
        let mut stop = shutdown_rx;
        let server = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(ads.into_server())
                .add_service(registry.into_server())
                .serve_with_incoming_shutdown(xds_incoming(xds_listener), async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
                .map_err(|source| ControlError::Serve {
                    addr: xds_addr,
                    source,
                })
        });
        tracing::info!(%xds_addr, admin = ?admin_addr, dir = %dir.display(), "control plane serving");
        Ok(Running {
            xds_addr,
            admin_addr,
            ca,
            store,
            clients,
            shutdown,
            server,
            tasks,
        })
    }
}

/// Where the CA's key material comes from.
#[derive(Debug, Clone)]
enum CaSource {
    /// The CA's own directory: a root generated on first start.
    Dir(PathBuf),
    /// An operator's files, in istiod's plugged-in names.
    Plugged(PathBuf),
}

impl CaSource {
    fn open(&self, trust_domain: &str) -> Result<CertificateAuthority, ControlError> {
        match self {
            CaSource::Dir(dir) => CertificateAuthority::load_or_generate(dir, trust_domain),
            CaSource::Plugged(dir) => {
                CertificateAuthority::from_files(mesh_ca::CaFiles::in_dir(dir), trust_domain)
            }
        }
        .map_err(ControlError::Ca)
    }
}

/// The xDS server's connections, with `TCP_NODELAY`. tonic sets it only on
/// listeners it binds itself; without it, a push smaller than a segment
/// that follows another before the client's ACK waits for that ACK, which
/// the client delays by up to 40 ms: a mesh of 50 services converged in
/// 0.13 s, one of 1000 (whose responses fill segments) in 0.07 s.
fn xds_incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

async fn bind(addr: &str) -> Result<TcpListener, ControlError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ControlError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

fn local_addr(listener: &TcpListener, addr: &str) -> Result<SocketAddr, ControlError> {
    listener.local_addr().map_err(|source| ControlError::Bind {
        addr: addr.to_owned(),
        source,
    })
}

/// Removes leases as they fall due.
async fn expire_leases(store: Arc<Store>, mut shutdown: watch::Receiver<bool>) {
    let mut next = None;
    loop {
        let due = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = store.leases_changed() => {}
            _ = due => {}
        }
        next = store.expire(tokio::time::Instant::now());
    }
}

/// A running control plane.
#[derive(Debug)]
pub struct Running {
    xds_addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    ca: Option<(CertificateAuthority, SocketAddr)>,
    store: Arc<Store>,
    clients: Arc<Clients>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<Result<(), ControlError>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Where ADS and the registry are served.
    pub fn xds_addr(&self) -> SocketAddr {
        self.xds_addr
    }

    /// Where the admin API is served, if it was asked for.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The certificate authority, when it is on: for bootstrap tokens
    /// ([`CertificateAuthority::bootstrap_token`]) and the trust bundle.
    pub fn ca(&self) -> Option<&CertificateAuthority> {
        self.ca.as_ref().map(|(ca, _)| ca)
    }

    /// Where the CA listens, when it is on.
    pub fn ca_addr(&self) -> Option<SocketAddr> {
        self.ca.as_ref().map(|(_, addr)| *addr)
    }

    /// The snapshot being served.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.store.snapshot()
    }

    /// The policy being served (the configuration plus registered
    /// endpoints).
    pub fn policy(&self) -> Arc<Policy> {
        self.snapshot().policy().clone()
    }

    /// Every connected client's status, as `/clients` shows it.
    pub fn clients(&self) -> Vec<ClientStatus> {
        self.clients.list()
    }

    /// Stops accepting, ends every stream cleanly (status OK) and waits for
    /// the servers to finish.
    pub async fn shutdown(self) -> Result<(), ControlError> {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            task.await?;
        }
        self.server.await?
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn xds_connections_are_accepted_with_nodelay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("an address");
        let mut incoming = xds_incoming(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let accepted = incoming
            .next()
            .await
            .expect("a connection")
            .expect("accepted");
        assert!(accepted.nodelay().expect("the option reads"));
    }
}
