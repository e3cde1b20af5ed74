//! The task behind an [`super::XdsClient`]: one ADS stream at a time,
//! reconnecting with backoff, falling back to a secondary server only for
//! what is not cached (gRFC A71), and installing a policy whenever the
//! resources change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::{
    DiscoveryRequest, DiscoveryResponse,
    aggregated_discovery_service_client::AggregatedDiscoveryServiceClient,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::{Channel, Endpoint};

use super::backoff::Backoff;
use super::bootstrap::XdsServer;
use super::persist;
use super::state::{State, TargetStatus};
use super::timers::{Timers, sleep_until};
use crate::Mesh;

/// The statuses the worker publishes, by target.
pub(crate) type Statuses = BTreeMap<String, TargetStatus>;

/// A request from the handle.
#[derive(Debug)]
pub(crate) enum Command {
    /// Subscribe to a target's listener.
    Watch(String),
}

/// How a stream ended.
enum Outcome {
    /// Every handle was dropped.
    Stopped,
    /// The stream ended after at least one response: reconnect now.
    Closed,
    /// No response came: back off (or fall back).
    Failed(String),
    /// The primary is reachable again: leave the fallback.
    PrimaryBack,
}

/// The worker's state.
pub(crate) struct Worker {
    pub(crate) mesh: Mesh,
    pub(crate) servers: Vec<XdsServer>,
    pub(crate) state: State,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) status: watch::Sender<Statuses>,
    pub(crate) persist: Option<PathBuf>,
    pub(crate) resource_timeout: Duration,
    pub(crate) timers: Timers,
    /// Whether any server ever answered.
    pub(crate) answered: bool,
    /// Whether the persisted file was tried.
    pub(crate) loaded: bool,
}

impl Worker {
    /// Runs until every handle is dropped.
    pub(crate) async fn run(mut self) {
        let mut backoff = Backoff::new();
        let mut server = 0;
        loop {
            match self.stream(server).await {
                Outcome::Stopped => return,
                Outcome::Closed | Outcome::PrimaryBack => {
                    backoff.reset();
                    server = 0;
                }
                Outcome::Failed(why) => {
                    let uri = &self.servers[server].uri;
                    tracing::warn!(server = %uri, "xds stream failed: {why}");
                    // gRFC A71: the next server only for what is not cached.
                    if server + 1 < self.servers.len() && self.state.missing_any() {
                        server += 1;
                        continue;
                    }
                    if !self.answered && !self.loaded {
                        self.load_persisted();
                    }
                    server = 0;
                    if !self.idle(backoff.next_delay()).await {
                        return;
                    }
                }
            }
        }
    }

    /// Waits out a backoff, still taking commands; `false` once stopped.
    async fn idle(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return true,
                cmd = self.commands.recv() => match cmd {
                    None => return false,
                    Some(Command::Watch(t)) => {
                        self.state.watch(&t);
                        self.publish();
                    }
                },
            }
        }
    }

    /// Takes the commands already queued; `false` once stopped.
    fn drain(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(Command::Watch(t)) => {
                    self.state.watch(&t);
                }
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    async fn stream(&mut self, index: usize) -> Outcome {
        if !self.drain() {
            return Outcome::Stopped;
        }
        self.publish();
        let server = self.servers[index].clone();
        let channel = match connect(&server).await {
            Ok(c) => c,
            Err(e) => return Outcome::Failed(e),
        };
        // A state-of-the-world response for a large mesh is well past
        // tonic's default 4 MiB limit (1000 services' endpoints are ~1.5 MiB,
        // 3000 are ~4.7 MiB), and the control plane is trusted: take any size.
        let mut client =
            AggregatedDiscoveryServiceClient::new(channel).max_decoding_message_size(usize::MAX);
        self.state
            .new_stream(server.has_feature("ignore_resource_deletion"));
        self.timers.clear();
        let (tx, rx) = mpsc::unbounded_channel();
        let (initial, requested) = self.state.requests();
        for r in initial {
            let _ = tx.send(r);
        }
        let mut inbound = match client
            .stream_aggregated_resources(UnboundedReceiverStream::new(rx))
            .await
        {
            Ok(r) => r.into_inner(),
            Err(status) => return Outcome::Failed(status.to_string()),
        };
        // The requests are on a connected stream: the timers start now.
        self.timers
            .arm(requested, Instant::now() + self.resource_timeout);
        tracing::info!(server = %server.uri, "xds stream open");
        let mut got = false;
        let mut probe = (index > 0).then(|| Box::pin(wait_for(self.servers[0].clone())));
        loop {
            tokio::select! {
                msg = inbound.message() => match msg {
                    Ok(Some(resp)) => {
                        got = true;
                        self.answered = true;
                        self.on_response(resp, &tx);
                    }
                    Ok(None) if got => return Outcome::Closed,
                    Ok(None) => return Outcome::Failed("the server closed the stream before any response".into()),
                    Err(status) if got => {
                        tracing::info!(server = %server.uri, "xds stream ended: {status}");
                        return Outcome::Closed;
                    }
                    Err(status) => return Outcome::Failed(status.to_string()),
                },
                cmd = self.commands.recv() => match cmd {
                    None => return Outcome::Stopped,
                    Some(Command::Watch(t)) => {
                        if self.state.watch(&t) {
                            self.send(&tx);
                        }
                        self.publish();
                    }
                },
                () = sleep_until(self.timers.next()) => {
                    for (kind, name) in self.timers.due(Instant::now()) {
                        self.state.expire(kind, &name);
                    }
                    // A target waiting on what is now known absent settles.
                    if self.state.settle() {
                        self.install(true);
                    }
                    self.publish();
                }
                () = async { if let Some(p) = probe.as_mut() { p.await } else { std::future::pending().await } } => {
                    tracing::info!("the primary xds server is back; leaving the fallback");
                    return Outcome::PrimaryBack;
                }
            }
        }
    }

    fn on_response(
        &mut self,
        resp: DiscoveryResponse,
        tx: &mpsc::UnboundedSender<DiscoveryRequest>,
    ) {
        let handled = self.state.handle(resp);
        for r in handled.requests {
            let _ = tx.send(r);
        }
        let resources = &self.state.resources;
        self.timers
            .disarm(|kind, name| resources.contains(kind, name));
        self.timers
            .arm(handled.requested, Instant::now() + self.resource_timeout);
        if handled.changed {
            self.install(true);
        }
        self.publish();
    }

    /// Sends what the subscriptions now need.
    fn send(&mut self, tx: &mpsc::UnboundedSender<DiscoveryRequest>) {
        let (requests, requested) = self.state.requests();
        for r in requests {
            let _ = tx.send(r);
        }
        self.timers
            .arm(requested, Instant::now() + self.resource_timeout);
    }

    /// Rebuilds the policy from the resources in force and makes it
    /// current.
    fn install(&mut self, persist: bool) {
        match self.state.in_force().to_policy() {
            Ok(policy) => {
                let version = self.mesh.install(policy);
                tracing::info!(version, "installed the policy from xds");
            }
            Err(e) => {
                tracing::error!(
                    "the xds resources do not make a policy, keeping the previous one: {e}"
                );
                return;
            }
        }
        if let (true, Some(path)) = (persist, &self.persist)
            && let Err(e) = persist::write(path, &self.state.saved())
        {
            tracing::warn!(path = %path.display(), "cannot persist the xds resources: {e}");
        }
    }

    /// Uses the persisted resources when no server has answered.
    fn load_persisted(&mut self) {
        self.loaded = true;
        let Some(path) = self.persist.clone() else {
            return;
        };
        match persist::read(&path) {
            Ok(saved) => {
                if self.state.load(&saved) {
                    tracing::info!(path = %path.display(), "no xds server answers; using the persisted resources");
                    self.install(false);
                    self.publish();
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read the persisted xds resources: {e}")
            }
        }
    }

    fn publish(&self) {
        let now = self.state.statuses();
        self.status.send_if_modified(|s| {
            let changed = *s != now;
            if changed {
                *s = now;
            }
            changed
        });
    }
}

/// Connects to a server.
async fn connect(server: &XdsServer) -> Result<Channel, String> {
    Endpoint::from_shared(server.endpoint_uri())
        .map_err(|e| format!("bad server_uri {:?}: {e}", server.uri))?
        .connect_timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", server.uri))
}

/// Resolves once `server` accepts a connection, trying with backoff.
async fn wait_for(server: XdsServer) {
    let mut backoff = Backoff::new();
    loop {
        tokio::time::sleep(backoff.next_delay()).await;
        if connect(&server).await.is_ok() {
            return;
        }
    }
}
