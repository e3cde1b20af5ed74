//! `PeerAuthentication`: which mTLS mode a workload's server runs in.

use crate::model::{Labels, Workload, selects};

/// How a server treats plaintext callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MtlsMode {
    /// Only mutual TLS is accepted.
    Strict,
    /// Mutual TLS and plaintext are both accepted (Istio's default).
    Permissive,
    /// Plaintext only.
    Disable,
}

impl std::fmt::Display for MtlsMode {
    /// Writes the mode as Istio spells it (`STRICT`, ...).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Strict => "STRICT",
            Self::Permissive => "PERMISSIVE",
            Self::Disable => "DISABLE",
        })
    }
}

/// An Istio `security.istio.io/v1` `PeerAuthentication` (without
/// `portLevelMtls`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAuthentication {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`; the root namespace makes a selector-less
    /// policy mesh-wide.
    pub namespace: String,
    /// `spec.selector.matchLabels`; `None` or empty makes the policy
    /// namespace-wide (or mesh-wide in the root namespace).
    pub selector: Option<Labels>,
    /// `spec.mtls.mode`; `None` is `UNSET`: inherit from the next level.
    pub mode: Option<MtlsMode>,
}

/// The precedence level a [`PeerAuthentication`] sits at for one workload.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Workload,
    Namespace,
    Mesh,
}

fn level(policy: &PeerAuthentication, workload: &Workload, root_namespace: &str) -> Option<Level> {
    let selector = policy.selector.as_ref().filter(|s| !s.is_empty());
    match selector {
        // Istio ignores selector policies in the root namespace, even for
        // workloads that live there.
        Some(selector) => (policy.namespace != root_namespace
            && policy.namespace == workload.namespace
            && selects(selector, workload))
        .then_some(Level::Workload),
        None if policy.namespace == root_namespace => Some(Level::Mesh),
        None if policy.namespace == workload.namespace => Some(Level::Namespace),
        None => None,
    }
}

/// The mTLS mode in force for `workload`'s server, and the `namespace/name`
/// of the policy that set it (`None` when no policy did and Istio's default,
/// PERMISSIVE, applies).
///
/// Precedence, as in Istio: a policy in the workload's namespace whose
/// selector matches the workload beats a namespace-wide policy (no
/// selector) in the workload's namespace, which beats a mesh-wide policy
/// (no selector, root namespace). A level whose policy is UNSET inherits
/// from the next one. Policies with a selector in the root namespace are
/// ignored, as Istio does.
///
/// When several policies sit at one level Istio takes the oldest; these
/// types carry no creation time, so the one first by name wins (and only
/// that one: if it is UNSET, the next level decides, as in Istio).
///
/// ```
/// use mesh_authz::{effective_mtls, MtlsMode, PeerAuthentication, Workload};
///
/// let mesh = PeerAuthentication {
///     name: "default".into(),
///     namespace: "istio-system".into(),
///     selector: None,
///     mode: Some(MtlsMode::Strict),
/// };
/// let workload = Workload { namespace: "shop".into(), ..Workload::default() };
/// assert_eq!(
///     effective_mtls(&[mesh], &workload, "istio-system"),
///     (MtlsMode::Strict, Some("istio-system/default".to_owned())),
/// );
/// assert_eq!(effective_mtls(&[], &workload, "istio-system"), (MtlsMode::Permissive, None));
/// ```
pub fn effective_mtls(
    policies: &[PeerAuthentication],
    workload: &Workload,
    root_namespace: &str,
) -> (MtlsMode, Option<String>) {
    let pick = |wanted: Level| {
        policies
            .iter()
            .filter(|p| level(p, workload, root_namespace) == Some(wanted))
            .min_by(|a, b| a.name.cmp(&b.name))
    };
    [Level::Workload, Level::Namespace, Level::Mesh]
        .into_iter()
        .filter_map(pick)
        .find_map(|p| {
            p.mode
                .map(|mode| (mode, Some(format!("{}/{}", p.namespace, p.name))))
        })
        .unwrap_or((MtlsMode::Permissive, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "istio-system";

    fn pa(
        ns: &str,
        name: &str,
        selector: Option<&[(&str, &str)]>,
        mode: Option<MtlsMode>,
    ) -> PeerAuthentication {
        PeerAuthentication {
            name: name.into(),
            namespace: ns.into(),
            selector: selector.map(|s| {
                s.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect()
            }),
            mode,
        }
    }

    fn cart() -> Workload {
        Workload {
            namespace: "shop".into(),
            labels: Labels::from([("app".into(), "cart".into())]),
        }
    }

    fn decided(policies: &[PeerAuthentication]) -> (MtlsMode, Option<String>) {
        effective_mtls(policies, &cart(), ROOT)
    }

    use MtlsMode::{Disable, Permissive, Strict};

    #[test]
    fn default_is_permissive() {
        assert_eq!(decided(&[]), (Permissive, None));
        assert_eq!(
            decided(&[pa("other", "x", None, Some(Strict))]),
            (Permissive, None)
        );
    }

    #[test]
    fn workload_beats_namespace_beats_mesh() {
        let mesh = pa(ROOT, "mesh", None, Some(Strict));
        let ns = pa("shop", "ns", None, Some(Disable));
        let wl = pa("shop", "wl", Some(&[("app", "cart")]), Some(Permissive));
        assert_eq!(
            decided(std::slice::from_ref(&mesh)),
            (Strict, Some("istio-system/mesh".into()))
        );
        assert_eq!(
            decided(&[mesh.clone(), ns.clone()]),
            (Disable, Some("shop/ns".into()))
        );
        assert_eq!(
            decided(&[mesh.clone(), ns.clone(), wl.clone()]),
            (Permissive, Some("shop/wl".into()))
        );
        // Order of the input does not matter.
        assert_eq!(
            decided(&[wl, ns, mesh]),
            (Permissive, Some("shop/wl".into()))
        );
    }

    #[test]
    fn unset_inherits_the_next_level() {
        let mesh = pa(ROOT, "mesh", None, Some(Strict));
        let ns_unset = pa("shop", "ns", None, None);
        let wl_unset = pa("shop", "wl", Some(&[("app", "cart")]), None);
        assert_eq!(
            decided(&[mesh.clone(), ns_unset.clone(), wl_unset.clone()]),
            (Strict, Some("istio-system/mesh".into()))
        );
        let ns = pa("shop", "ns", None, Some(Disable));
        assert_eq!(
            decided(&[mesh, ns, wl_unset.clone()]),
            (Disable, Some("shop/ns".into()))
        );
        let mesh_unset = pa(ROOT, "mesh", None, None);
        assert_eq!(
            decided(&[mesh_unset, ns_unset, wl_unset]),
            (Permissive, None)
        );
    }

    #[test]
    fn selectors_must_match_and_stay_in_the_workload_namespace() {
        let mesh = pa(ROOT, "mesh", None, Some(Strict));
        // Not our labels.
        let other = pa("shop", "other", Some(&[("app", "web")]), Some(Disable));
        // A selector policy in the root namespace is ignored.
        let root_sel = pa(ROOT, "root-sel", Some(&[("app", "cart")]), Some(Disable));
        // A selector policy in another namespace does not apply.
        let elsewhere = pa("web", "wl", Some(&[("app", "cart")]), Some(Disable));
        assert_eq!(
            decided(&[mesh, other, root_sel, elsewhere]),
            (Strict, Some("istio-system/mesh".into()))
        );
        // An empty selector is namespace-wide.
        let empty = pa("shop", "empty", Some(&[]), Some(Disable));
        assert_eq!(decided(&[empty]), (Disable, Some("shop/empty".into())));
    }

    #[test]
    fn ties_go_to_the_first_by_name_even_if_unset() {
        let a = pa("shop", "a", None, None);
        let b = pa("shop", "b", None, Some(Disable));
        let mesh = pa(ROOT, "mesh", None, Some(Strict));
        // "a" wins the namespace level; being UNSET, the mesh level decides.
        assert_eq!(
            decided(&[b.clone(), a, mesh.clone()]),
            (Strict, Some("istio-system/mesh".into()))
        );
        let c = pa("shop", "c", None, Some(Strict));
        assert_eq!(decided(&[c, b, mesh]), (Disable, Some("shop/b".into())));
    }

    #[test]
    fn workload_in_the_root_namespace() {
        let w = Workload {
            namespace: ROOT.into(),
            labels: Labels::new(),
        };
        let mesh = pa(ROOT, "mesh", None, Some(Disable));
        assert_eq!(
            effective_mtls(&[mesh], &w, ROOT),
            (Disable, Some("istio-system/mesh".into()))
        );
    }
}
