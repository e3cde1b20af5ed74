//! Why a resource, a bootstrap or the client failed.

use super::Kind;

/// What is wrong with one field of a resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A required field is absent.
    #[error("missing")]
    Missing,
    /// A feature the mesh will not implement.
    #[error("{0} is not supported")]
    Unsupported(String),
    /// A feature the mesh does not implement yet.
    #[error("{0} is not supported yet")]
    NotYet(String),
    /// A value that cannot work.
    #[error("{0}")]
    Invalid(String),
}

/// A problem at a field path inside a resource, before the resource is
/// known (the translation functions return it; [`ResourceError`] adds the
/// resource).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// The field path (`virtual_hosts[0].routes[2].match`).
    pub field: String,
    /// What is wrong with it.
    pub problem: Problem,
}

impl FieldError {
    /// A problem at `field`.
    pub(crate) fn new(field: impl Into<String>, problem: Problem) -> Self {
        Self {
            field: field.into(),
            problem,
        }
    }

    /// Prefixes the field path with `outer` (`outer.field`).
    pub(crate) fn within(mut self, outer: &str) -> Self {
        self.field = if self.field.is_empty() {
            outer.to_owned()
        } else if self.field.starts_with('[') {
            format!("{outer}{}", self.field)
        } else {
            format!("{outer}.{}", self.field)
        };
        self
    }
}

/// Shorthand for a missing field.
pub(crate) fn missing(field: impl Into<String>) -> FieldError {
    FieldError::new(field, Problem::Missing)
}

/// Shorthand for a field holding something not supported yet.
pub(crate) fn not_yet(field: impl Into<String>, what: impl Into<String>) -> FieldError {
    FieldError::new(field, Problem::NotYet(what.into()))
}

/// Shorthand for a field holding something never supported.
pub(crate) fn unsupported(field: impl Into<String>, what: impl Into<String>) -> FieldError {
    FieldError::new(field, Problem::Unsupported(what.into()))
}

/// Shorthand for an invalid value.
pub(crate) fn invalid(field: impl Into<String>, why: impl Into<String>) -> FieldError {
    FieldError::new(field, Problem::Invalid(why.into()))
}

/// One xDS resource that was rejected (NACKed); the message names the
/// resource and the field, as in
/// `route_config "outbound|50051||attendees": virtual_hosts[0].routes[2].match.path_specifier: connect_matcher is not supported`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {name:?}: {error}")]
pub struct ResourceError {
    /// The resource type.
    pub kind: Kind,
    /// The resource's name (`<unnamed>` when it could not be decoded).
    pub name: String,
    /// The field and what is wrong with it.
    pub error: FieldError,
}

/// A bootstrap that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// A field is missing or wrong.
    #[error("xds bootstrap: {field}: {reason}")]
    Field {
        /// The field path (`xds_servers[0].server_uri`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The bootstrap file cannot be read.
    #[error("xds bootstrap: cannot read {path:?}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The bootstrap is not JSON.
    #[error("xds bootstrap: not valid json: {0}")]
    Json(#[from] serde_json::Error),
    /// The certificate provider's files do not hold a usable identity.
    #[error("xds bootstrap: certificate_providers.default: {0}")]
    Identity(#[source] mesh_identity::IdentityError),
    /// Neither environment variable is set.
    #[error(
        "xds bootstrap: neither GRPC_XDS_BOOTSTRAP (a file) nor GRPC_XDS_BOOTSTRAP_CONFIG (inline json) is set"
    )]
    NotConfigured,
}

impl BootstrapError {
    pub(crate) fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Field {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Why a target's configuration is not available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XdsError {
    /// The control plane says the resource does not exist (or never sent
    /// it within the does-not-exist timeout).
    #[error(
        "{kind} {name:?} does not exist (hint: the control plane has no such resource; check the target's name)"
    )]
    DoesNotExist {
        /// The resource type.
        kind: Kind,
        /// The resource's name.
        name: String,
    },
    /// A resource on the target's path was rejected and none was accepted
    /// before it.
    #[error("{0} (hint: the resource was rejected; fix it in the control plane)")]
    Rejected(ResourceError),
    /// The client was stopped.
    #[error("the xds client has stopped")]
    Stopped,
}
