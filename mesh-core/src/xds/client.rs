//! [`XdsClient`]: the handle to the xDS client task.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::XdsError;
use super::bootstrap::Bootstrap;
use super::bootstrap_json::node_proto;
use super::names::inbound_listener_name;
use super::state::{State, TargetStatus};
use super::timers::{RESOURCE_TIMEOUT, Timers};
use super::worker::{Command, Statuses, Worker};
use crate::Mesh;

/// The data plane's xDS client: it follows LDS -> RDS -> CDS -> EDS over
/// one ADS stream for the targets in use, and installs the policy the
/// resources make into the [`Mesh`] whenever they change. The mesh's
/// policy is then the control plane's: a static policy installed before is
/// replaced.
///
/// Make before break (as gRPC's XdsDependencyManager, gRFC A74): a target
/// whose new route configuration names clusters whose Cluster or
/// ClusterLoadAssignment has not arrived keeps its previous configuration
/// in force until they arrive or are known not to exist (after the
/// does-not-exist timeout), so traffic never goes to a subset with no
/// endpoints in between.
///
/// Cloning is cheap; the task stops when the last clone is dropped. While
/// no server answers, the resources already received stay in force.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use mesh_core::{Mesh, policy::Policy, xds::{Bootstrap, XdsClient}};
/// let mesh = Mesh::new(Policy::empty());
/// let client = XdsClient::start(mesh.clone(), Bootstrap::from_env()?);
/// client.ready("attendees:50051").await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct XdsClient {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<Statuses>,
}

impl XdsClient {
    /// Starts a client with the defaults; must be called inside a Tokio
    /// runtime.
    pub fn start(mesh: Mesh, bootstrap: Bootstrap) -> Self {
        Self::builder(bootstrap).start(mesh)
    }

    /// Starts configuring a client.
    pub fn builder(bootstrap: Bootstrap) -> XdsClientBuilder {
        XdsClientBuilder {
            bootstrap,
            targets: Vec::new(),
            persist: None,
            resource_timeout: RESOURCE_TIMEOUT,
        }
    }

    /// Subscribes to a target (`attendees:50051`, the name a client dials
    /// as `xds:///attendees:50051`). Watching twice is harmless.
    pub fn watch(&self, target: &str) {
        let _ = self.commands.send(Command::Watch(target.to_owned()));
    }

    /// Subscribes a server to its inbound listener
    /// (`xds.istio.io/grpc/lds/inbound/<addr>`, gRFC A36): the mTLS mode
    /// and authorization policies the control plane has for the workload
    /// at `addr` become the policy's [`crate::policy::Security`]. Pass the
    /// address clients reach the server at (the one it registers), not an
    /// unspecified one such as `0.0.0.0`.
    pub fn watch_inbound(&self, addr: SocketAddr) {
        self.watch(&inbound_listener_name(addr));
    }

    /// [`XdsClient::watch_inbound`], then waits until the listener is in
    /// the mesh (or known not to exist, or rejected).
    pub async fn ready_inbound(&self, addr: SocketAddr) -> Result<(), XdsError> {
        self.ready(&inbound_listener_name(addr)).await
    }

    /// Watches `target` and waits until its configuration is in the mesh:
    /// its listener, route configuration, clusters and endpoints have
    /// arrived (a cluster or load assignment that does not exist counts as
    /// settled: only its routes fail). Wrap it in a timeout to bound the
    /// wait.
    pub async fn ready(&self, target: &str) -> Result<(), XdsError> {
        self.watch(target);
        let mut status = self.status.clone();
        loop {
            match status.borrow_and_update().get(target) {
                Some(TargetStatus::Ready) => return Ok(()),
                Some(TargetStatus::Failed(e)) => return Err(e.clone()),
                Some(TargetStatus::Pending) | None => {}
            }
            if status.changed().await.is_err() {
                return Err(XdsError::Stopped);
            }
        }
    }
}

/// Configures an [`XdsClient`].
#[derive(Clone, Debug)]
pub struct XdsClientBuilder {
    bootstrap: Bootstrap,
    targets: Vec<String>,
    persist: Option<PathBuf>,
    resource_timeout: Duration,
}

impl XdsClientBuilder {
    /// Subscribes to a target from the start.
    pub fn watch(mut self, target: impl Into<String>) -> Self {
        self.targets.push(target.into());
        self
    }

    /// Subscribes a server to its inbound listener from the start (see
    /// [`XdsClient::watch_inbound`]).
    pub fn watch_inbound(mut self, addr: SocketAddr) -> Self {
        self.targets.push(inbound_listener_name(addr));
        self
    }

    /// Keeps the last known good resources in `path` (rewritten atomically
    /// on every change) and uses them at start-up when no server answers.
    pub fn persist_to(mut self, path: impl Into<PathBuf>) -> Self {
        self.persist = Some(path.into());
        self
    }

    /// How long a requested resource may take before it counts as absent
    /// (default 15 s, gRFC A57).
    pub fn resource_timeout(mut self, timeout: Duration) -> Self {
        self.resource_timeout = timeout;
        self
    }

    /// Spawns the client task; must be called inside a Tokio runtime.
    pub fn start(self, mesh: Mesh) -> XdsClient {
        let (commands, rx) = mpsc::unbounded_channel();
        let mut state = State::new(node_proto(self.bootstrap.node()));
        for t in &self.targets {
            state.watch(t);
        }
        let (status_tx, status) = watch::channel(BTreeMap::new());
        let worker = Worker {
            mesh,
            servers: self.bootstrap.servers().to_vec(),
            state,
            commands: rx,
            status: status_tx,
            persist: self.persist,
            resource_timeout: self.resource_timeout,
            timers: Timers::default(),
            answered: false,
            loaded: false,
        };
        tokio::spawn(worker.run());
        XdsClient { commands, status }
    }
}
