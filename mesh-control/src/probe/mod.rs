//! Asking a running control plane what it serves, as a client would: a
//! data-plane [`Mesh`] fed by an [`XdsClient`] sends requests to a
//! target's gRPC health service (`grpc.health.v1.Health/Check`) through a
//! [`MeshChannel`], and counts which endpoint served each one (the
//! balancer's [`ServedBy`] response extension) and how the others failed.
//! The `probe` command of the `mesh-control` binary prints the result.
//!
//! ```no_run
//! # async fn run() -> Result<(), mesh_control::probe::ProbeError> {
//! let report = mesh_control::probe::Probe::new("127.0.0.1:15010", "attendees:50051")
//!     .requests(100)
//!     .run()
//!     .await?;
//! println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
//! # Ok(()) }
//! ```

mod report;

use std::time::Duration;

use mesh_core::Mesh;
use mesh_core::client::balance::{ReportServedBy, ServedBy};
use mesh_core::policy::Policy;
use mesh_core::protocol::grpc_code_name;
use mesh_core::xds::{Bootstrap, BootstrapError, XdsClient, XdsError};
use mesh_tonic::{InvalidTarget, MeshChannel};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub use report::ProbeReport;

/// Why a probe could not run. (Requests that fail do not fail the probe:
/// they are counted in the report.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The control plane's address does not make a bootstrap.
    #[error("invalid control plane address {xds:?}: {error}")]
    Bootstrap {
        /// The address given.
        xds: String,
        /// Why (its message is part of this one).
        error: BootstrapError,
    },
    /// The target is not `host[:port]`.
    #[error(transparent)]
    Target(#[from] InvalidTarget),
    /// The target's configuration did not arrive in time.
    #[error(
        "no configuration for {target:?} from the control plane at {xds} within {waited:?} (is a control plane listening there? is it ready: see its admin API's /readyz and /errors?)"
    )]
    NoConfig {
        /// The target.
        target: String,
        /// The control plane's address.
        xds: String,
        /// How long the probe waited.
        waited: Duration,
    },
    /// The control plane answered, but the target's configuration is
    /// missing or was rejected.
    #[error("the control plane at {xds} has no usable configuration for {target:?}: {error}")]
    Config {
        /// The target.
        target: String,
        /// The control plane's address.
        xds: String,
        /// What the xDS client found (its message is part of this one).
        error: XdsError,
    },
}

/// One probe of one target; [`Probe::run`] runs it.
#[derive(Clone, Debug)]
pub struct Probe {
    xds: String,
    target: String,
    requests: u64,
    service: String,
    wait: Duration,
    timeout: Duration,
}

impl Probe {
    /// A probe of `target` (`host:port`, as clients dial it) through the
    /// control plane at `xds` (`host:port` or `http://host:port`): 100
    /// requests for the whole server's health (service name `""`), after
    /// waiting at most 10 s for the configuration, each request given 5 s.
    pub fn new(xds: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            xds: xds.into(),
            target: target.into(),
            requests: 100,
            service: String::new(),
            wait: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
        }
    }

    /// How many requests to send, one after another.
    pub fn requests(mut self, n: u64) -> Self {
        self.requests = n;
        self
    }

    /// The health service name to ask about (default `""`: the server).
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = name.into();
        self
    }

    /// How long to wait for the target's configuration.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The deadline of each request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Fetches the target's configuration, sends the requests and counts
    /// how they went.
    pub async fn run(self) -> Result<ProbeReport, ProbeError> {
        let bootstrap = Bootstrap::builder()
            .server(self.xds.clone())
            .node_id(format!("mesh-control-probe~{}", std::process::id()))
            .node_cluster("mesh-control-probe")
            .build()
            .map_err(|error| ProbeError::Bootstrap {
                xds: self.xds.clone(),
                error,
            })?;
        let mesh = Mesh::new(Policy::empty());
        let client = XdsClient::builder(bootstrap)
            .watch(self.target.clone())
            .start(mesh.clone());
        match tokio::time::timeout(self.wait, client.ready(&self.target)).await {
            Err(_) => {
                return Err(ProbeError::NoConfig {
                    target: self.target,
                    xds: self.xds,
                    waited: self.wait,
                });
            }
            Ok(Err(error)) => {
                return Err(ProbeError::Config {
                    target: self.target,
                    xds: self.xds,
                    error,
                });
            }
            Ok(Ok(())) => {}
        }
        let mut health = HealthClient::new(MeshChannel::new(&mesh, &self.target)?);
        let mut report = ProbeReport::new(&self.target);
        for _ in 0..self.requests {
            let mut request = tonic::Request::new(HealthCheckRequest {
                service: self.service.clone(),
            });
            request.set_timeout(self.timeout);
            request.extensions_mut().insert(ReportServedBy);
            match health.check(request).await {
                Ok(response) => {
                    let endpoint = response
                        .extensions()
                        .get::<ServedBy>()
                        .map_or_else(|| "unknown".to_owned(), |s| s.0.to_string());
                    let status = ServingStatus::try_from(response.get_ref().status)
                        .map_or("UNRECOGNIZED", |s| s.as_str_name());
                    report.served(endpoint, status);
                }
                Err(status) => report.failed(grpc_code_name(status.code() as i32)),
            }
        }
        // Dropping the last handle stops the xDS client.
        drop(client);
        Ok(report)
    }
}
