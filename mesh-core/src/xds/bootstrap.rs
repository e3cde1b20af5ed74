//! The bootstrap in gRPC's format (gRFC A27): which servers to ask, and
//! who is asking.
//!
//! ```json
//! {
//!   "xds_servers": [{ "server_uri": "istiod:15010", "channel_creds": [{ "type": "insecure" }],
//!                     "server_features": ["xds_v3"] }],
//!   "node": { "id": "attendees-1", "cluster": "attendees", "metadata": { "NAMESPACE": "default" },
//!             "locality": { "zone": "a" } }
//! }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mesh_identity::{FileWatcher, Identity, IdentityError, WorkloadCert};

use serde_json::{Map, Value};

use super::error::BootstrapError;

/// The environment variable naming a bootstrap file.
pub const BOOTSTRAP_ENV: &str = "GRPC_XDS_BOOTSTRAP";
/// The environment variable holding the bootstrap itself.
pub const BOOTSTRAP_CONFIG_ENV: &str = "GRPC_XDS_BOOTSTRAP_CONFIG";

/// How to secure the channel to a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelCreds {
    /// Plain text (`{"type": "insecure"}`).
    Insecure,
}

/// One xDS server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdsServer {
    /// `host:port`, or a URI (`http://host:port`, `dns:///host:port`).
    pub uri: String,
    /// The channel's credentials.
    pub creds: ChannelCreds,
    /// `server_features` (`xds_v3`, `ignore_resource_deletion`, ...).
    pub features: Vec<String>,
}

impl XdsServer {
    /// An insecure server at `uri`.
    pub fn insecure(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            creds: ChannelCreds::Insecure,
            features: Vec::new(),
        }
    }

    /// The URI to dial, with a scheme.
    pub fn endpoint_uri(&self) -> String {
        if let Some(rest) = self.uri.strip_prefix("dns:///") {
            format!("http://{rest}")
        } else if self.uri.contains("://") {
            self.uri.clone()
        } else {
            format!("http://{}", self.uri)
        }
    }

    /// Whether the server declared a feature.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// Where the node runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Locality {
    /// The region.
    pub region: String,
    /// The zone.
    pub zone: String,
    /// The sub-zone.
    pub sub_zone: String,
}

/// Who is asking: sent in the first request of every stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Node {
    /// The node's id (istiod: `sidecar~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`).
    pub id: String,
    /// The node's cluster (the service it belongs to).
    pub cluster: String,
    /// Free-form metadata (istiod reads `GENERATOR`, `NAMESPACE`).
    pub metadata: Map<String, Value>,
    /// Where it runs.
    pub locality: Option<Locality>,
}

/// A validated bootstrap: one or more servers, in order of preference,
/// and the node.
#[derive(Clone, Debug, PartialEq)]
pub struct Bootstrap {
    servers: Vec<XdsServer>,
    node: Node,
    certificate_providers: BTreeMap<String, FileWatcherProvider>,
}

/// A `file_watcher` certificate provider instance (gRFC A29): the
/// workload's certificate, key and trust bundle in files that another
/// agent (istio-agent, SPIRE, cert-manager) keeps fresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileWatcherProvider {
    /// The certificate chain, PEM, leaf first.
    pub certificate_file: PathBuf,
    /// The private key, PEM.
    pub private_key_file: PathBuf,
    /// The roots to trust, PEM.
    pub ca_certificate_file: PathBuf,
    /// How often the files are read again.
    pub refresh_interval: Duration,
}

impl FileWatcherProvider {
    /// gRPC's default refresh interval.
    pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(600);

    /// The workload identity these files hold, watched for changes. The
    /// trust domain is that of the certificate's SPIFFE ID.
    pub fn identity(&self) -> Result<Identity, IdentityError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| IdentityError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let cert = WorkloadCert::from_pem(
            &read(&self.certificate_file)?,
            &read(&self.private_key_file)?,
        )?;
        let watcher = FileWatcher::new(
            &self.certificate_file,
            &self.private_key_file,
            &self.ca_certificate_file,
            cert.id().trust_domain(),
        )
        .with_refresh_interval(self.refresh_interval);
        Identity::from_files(watcher)
    }
}

impl Bootstrap {
    /// Starts a bootstrap in code.
    ///
    /// ```
    /// use mesh_core::xds::Bootstrap;
    /// let b = Bootstrap::builder().server("127.0.0.1:15010").node_id("attendees-1").build().unwrap();
    /// assert_eq!(b.servers()[0].endpoint_uri(), "http://127.0.0.1:15010");
    /// ```
    pub fn builder() -> BootstrapBuilder {
        BootstrapBuilder::default()
    }

    /// Parses gRPC's bootstrap JSON.
    ///
    /// ```
    /// use mesh_core::xds::Bootstrap;
    /// let err = Bootstrap::from_json(r#"{"xds_servers": [{"channel_creds": [{"type": "insecure"}]}]}"#);
    /// assert_eq!(err.unwrap_err().to_string(), "xds bootstrap: xds_servers[0].server_uri: missing");
    /// ```
    pub fn from_json(text: &str) -> Result<Self, BootstrapError> {
        let value: Value = serde_json::from_str(text)?;
        super::bootstrap_json::parse(&value)
    }

    /// Reads and parses a bootstrap file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, BootstrapError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| BootstrapError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// The bootstrap from `GRPC_XDS_BOOTSTRAP` (a file), else from
    /// `GRPC_XDS_BOOTSTRAP_CONFIG` (inline JSON), as gRPC reads them.
    pub fn from_env() -> Result<Self, BootstrapError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Bootstrap::from_env`] with the variables read by `get`.
    pub(crate) fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, BootstrapError> {
        if let Some(path) = get(BOOTSTRAP_ENV).filter(|p| !p.is_empty()) {
            return Self::from_file(path);
        }
        match get(BOOTSTRAP_CONFIG_ENV).filter(|c| !c.is_empty()) {
            Some(text) => Self::from_json(&text),
            None => Err(BootstrapError::NotConfigured),
        }
    }

    /// The servers, primary first.
    pub fn servers(&self) -> &[XdsServer] {
        &self.servers
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The certificate provider instance `name` (clusters and listeners
    /// sent with mutual TLS name the instance `default`).
    pub fn certificate_provider(&self, name: &str) -> Option<&FileWatcherProvider> {
        self.certificate_providers.get(name)
    }

    /// The workload identity from the `default` certificate provider, for
    /// [`crate::Mesh::set_identity`]: how a workload whose certificates an
    /// agent writes to files (as istio-agent does for proxyless gRPC) gets
    /// its identity from the same bootstrap as its xDS servers.
    pub fn identity(&self) -> Result<Identity, BootstrapError> {
        let provider = self.certificate_provider("default").ok_or_else(|| {
            BootstrapError::field(
                "certificate_providers.default",
                "missing; add a file_watcher instance named \"default\"",
            )
        })?;
        provider.identity().map_err(BootstrapError::Identity)
    }
}

/// Builds a [`Bootstrap`] in code.
#[derive(Clone, Debug, Default)]
pub struct BootstrapBuilder {
    servers: Vec<XdsServer>,
    node: Node,
    certificate_providers: BTreeMap<String, FileWatcherProvider>,
}

impl BootstrapBuilder {
    /// Adds an insecure server; the first added is the primary.
    pub fn server(mut self, uri: impl Into<String>) -> Self {
        self.servers.push(XdsServer::insecure(uri));
        self
    }

    /// Adds a server as built.
    pub fn xds_server(mut self, server: XdsServer) -> Self {
        self.servers.push(server);
        self
    }

    /// Sets the node id.
    pub fn node_id(mut self, id: impl Into<String>) -> Self {
        self.node.id = id.into();
        self
    }

    /// Sets the node cluster.
    pub fn node_cluster(mut self, cluster: impl Into<String>) -> Self {
        self.node.cluster = cluster.into();
        self
    }

    /// Adds node metadata.
    pub fn node_metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.node.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the locality.
    pub fn locality(mut self, locality: Locality) -> Self {
        self.node.locality = Some(locality);
        self
    }

    /// Adds a certificate provider instance.
    pub fn certificate_provider(
        mut self,
        name: impl Into<String>,
        provider: FileWatcherProvider,
    ) -> Self {
        self.certificate_providers.insert(name.into(), provider);
        self
    }

    /// Checks there is at least one server with a URI.
    pub fn build(self) -> Result<Bootstrap, BootstrapError> {
        if self.servers.is_empty() {
            return Err(BootstrapError::field(
                "xds_servers",
                "must hold at least one server",
            ));
        }
        if let Some(i) = self.servers.iter().position(|s| s.uri.is_empty()) {
            return Err(BootstrapError::field(
                format!("xds_servers[{i}].server_uri"),
                "missing",
            ));
        }
        Ok(Bootstrap {
            servers: self.servers,
            node: self.node,
            certificate_providers: self.certificate_providers,
        })
    }
}
