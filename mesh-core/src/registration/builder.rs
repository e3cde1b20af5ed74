//! [`RegistrationBuilder`]: what to register, where, and for how long.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tonic::transport::Endpoint;

use super::error::RegistrationError;
use super::handle::{Registration, RegistrationStatus};
use super::pb::RegisterRequest;
use super::pb::registry_client::RegistryClient;
use super::task::Task;

/// How long one call to the control plane may take, by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Configures a [`Registration`]; [`RegistrationBuilder::start`] starts it.
#[derive(Clone, Debug)]
pub struct RegistrationBuilder {
    uri: String,
    service: String,
    addr: SocketAddr,
    labels: HashMap<String, String>,
    ttl: Option<Duration>,
    timeout: Duration,
}

impl RegistrationBuilder {
    pub(super) fn new(uri: String, service: String, addr: SocketAddr) -> Self {
        Self {
            uri,
            service,
            addr,
            labels: HashMap::new(),
            ttl: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Adds a label that DestinationRule subsets select on
    /// (`.label("version", "v2")`).
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Adds several labels.
    pub fn labels<K, V>(mut self, labels: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.labels
            .extend(labels.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The lease TTL to ask for (the control plane may cap it); by default
    /// the control plane's. Keep-alives go at about a third of the TTL the
    /// control plane grants.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// How long connecting and each call to the control plane may take
    /// (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the URI and the address, and starts registering in the
    /// background; must be called inside a Tokio runtime. It does not wait
    /// for the control plane: see [`Registration::registered`].
    pub fn start(self) -> Result<Registration, RegistrationError> {
        let addr = self.addr;
        if addr.ip().is_unspecified() {
            return Err(RegistrationError::UnusableAddress {
                addr,
                reason: "the IP address is unspecified",
            });
        }
        if addr.port() == 0 {
            return Err(RegistrationError::UnusableAddress {
                addr,
                reason: "port 0 is not a port anyone can connect to",
            });
        }
        let endpoint = Endpoint::from_shared(self.uri.clone())
            .map_err(|e| RegistrationError::InvalidUri {
                uri: self.uri.clone(),
                reason: e.to_string(),
            })?
            .connect_timeout(self.timeout)
            .timeout(self.timeout);
        let client = RegistryClient::new(endpoint.connect_lazy());
        let ttl_ms = self.ttl.map_or(0, |t| {
            u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
        });
        let request = RegisterRequest {
            service: self.service,
            address: addr.ip().to_string(),
            port: u32::from(addr.port()),
            labels: self.labels,
            ttl_ms,
        };
        let (status_tx, status) = watch::channel(RegistrationStatus::Pending);
        let (stop, stopped) = oneshot::channel();
        let task = Task::new(client, request, self.uri, self.ttl, status_tx);
        let task = tokio::spawn(task.run(stopped));
        Ok(Registration::new(status, stop, task))
    }
}
