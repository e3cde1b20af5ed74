//! What a load needs to know beyond the YAML: the mesh's trust domain and
//! root namespace.

use mesh_identity::SpiffeId;

use crate::policy::DEFAULT_ROOT_NAMESPACE;

/// The trust domain of the mesh's SPIFFE IDs unless told otherwise, as
/// Istio's default.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

/// Settings for [`load_path_with`](super::load_path_with) and friends; the
/// plain functions use [`LoadOptions::default`].
///
/// ```
/// use mesh_core::config::LoadOptions;
///
/// let options = LoadOptions::new().trust_domain("corp.example").root_namespace("mesh-root");
/// let policy = mesh_core::config::load_str_with("empty.yaml", "", &options).unwrap();
/// assert_eq!(policy.security().root_namespace, "mesh-root");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadOptions {
    /// The trust domain `WorkloadEntry.serviceAccount` identities are in
    /// (`spiffe://<trust domain>/ns/<namespace>/sa/<account>`); default
    /// `cluster.local`.
    pub trust_domain: String,
    /// The namespace whose `PeerAuthentication`s and
    /// `AuthorizationPolicy`s apply mesh-wide; default `istio-system`.
    pub root_namespace: String,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            trust_domain: DEFAULT_TRUST_DOMAIN.to_owned(),
            root_namespace: DEFAULT_ROOT_NAMESPACE.to_owned(),
        }
    }
}

impl LoadOptions {
    /// The defaults: trust domain `cluster.local`, root namespace
    /// `istio-system`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the trust domain.
    pub fn trust_domain(mut self, trust_domain: impl Into<String>) -> Self {
        self.trust_domain = trust_domain.into();
        self
    }

    /// Sets the root namespace.
    pub fn root_namespace(mut self, root_namespace: impl Into<String>) -> Self {
        self.root_namespace = root_namespace.into();
        self
    }

    /// What is wrong with the options themselves, if anything.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = SpiffeId::new(&self.trust_domain, "ns", "sa") {
            problems.push(format!(
                "load options: trust domain {:?} cannot be used: {e}",
                self.trust_domain
            ));
        }
        if self.root_namespace.is_empty() {
            problems.push("load options: the root namespace must not be empty".to_owned());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_istios() {
        let o = LoadOptions::default();
        assert_eq!(o.trust_domain, "cluster.local");
        assert_eq!(o.root_namespace, "istio-system");
        assert!(o.problems().is_empty());
    }

    #[test]
    fn bad_options_are_named() {
        let o = LoadOptions::new()
            .trust_domain("Bad Domain")
            .root_namespace("");
        let problems = o.problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("\"Bad Domain\""), "{problems:?}");
    }
}
