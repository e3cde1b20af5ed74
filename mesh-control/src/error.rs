//! Why the control plane could not start or serve.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The control plane could not start, or stopped on an error. Each message
/// says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The certificate authority could not start.
    #[error("certificate authority: {0}")]
    Ca(#[source] mesh_ca::CaError),
    /// No configuration directory was given.
    #[error("no configuration directory (set one with `config_dir`, or `--config <DIR>`)")]
    NoConfigDir,
    /// The configuration directory is missing or not a directory.
    #[error(
        "configuration directory {dir:?} is not a directory (create it, or point --config at the directory holding your *.yaml files)"
    )]
    ConfigDir {
        /// The path given.
        dir: PathBuf,
    },
    /// An address could not be bound.
    #[error(
        "cannot listen on {addr}: {source} (is another process using it? pick another address)"
    )]
    Bind {
        /// The address as given.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The directory could not be watched.
    #[error(
        "cannot watch {dir:?} for changes: {source} (check its permissions and the inotify limits)"
    )]
    Watch {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: notify::Error,
    },
    /// The xDS server failed.
    #[error("the xDS server on {addr} failed: {source}")]
    Serve {
        /// Its address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: tonic::transport::Error,
    },
    /// A task of the control plane panicked.
    #[error("a control-plane task ended abnormally: {0} (this is a bug; please report it)")]
    Task(#[from] tokio::task::JoinError),
}

/// A registration that was refused. Mapped to gRPC status codes by the
/// registry service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The service is not declared in the configuration.
    #[error(
        "service {service:?} is not declared in the configuration{hint} (declare it with a ServiceEntry or DestinationRule first)"
    )]
    UnknownService {
        /// The service asked for.
        service: String,
        /// ` (did you mean "x"?)`, or empty.
        hint: String,
    },
    /// No configuration has loaded yet.
    #[error(
        "no configuration has loaded yet (fix the files listed at the admin API's /errors, then retry)"
    )]
    NotReady,
    /// The address is not an IP address.
    #[error(
        "address {address:?} is not an IP address ({reason}; register an IPv4 or IPv6 literal, no brackets)"
    )]
    BadAddress {
        /// The address as given.
        address: String,
        /// Why.
        reason: String,
    },
    /// The port is zero or too large.
    #[error("port {port} is not a valid port (use 1 to 65535)")]
    BadPort {
        /// The port as given.
        port: u32,
    },
    /// No such lease: never granted, expired or deregistered.
    #[error("no lease {id:?}: it expired or was never granted (register again)")]
    UnknownLease {
        /// The id given.
        id: String,
    },
}
