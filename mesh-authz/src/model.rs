//! The `AuthorizationPolicy` model and which workloads a policy applies to.

use std::collections::BTreeMap;

use crate::{Condition, StringMatch};

/// Workload labels, as in a Kubernetes pod's `metadata.labels`.
pub type Labels = BTreeMap<String, String>;

/// The server being protected: where it runs and how it is labelled.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Workload {
    /// The workload's namespace.
    pub namespace: String,
    /// The workload's labels, matched against policy selectors.
    pub labels: Labels,
}

/// Whether a policy in `namespace` with `selector` applies to `workload`.
///
/// It does when the policy sits in the root namespace (mesh-wide) or in the
/// workload's own namespace, and every selector label is among the
/// workload's labels (no selector, or an empty one, selects every workload).
///
/// ```
/// use mesh_authz::{applies_to, Labels, Workload};
///
/// let workload = Workload {
///     namespace: "shop".into(),
///     labels: Labels::from([("app".into(), "cart".into()), ("v".into(), "2".into())]),
/// };
/// let selector = Labels::from([("app".into(), "cart".into())]);
/// assert!(applies_to("shop", Some(&selector), &workload, "istio-system"));
/// assert!(applies_to("istio-system", None, &workload, "istio-system"));
/// assert!(!applies_to("other", None, &workload, "istio-system"));
/// ```
pub fn applies_to(
    namespace: &str,
    selector: Option<&Labels>,
    workload: &Workload,
    root_namespace: &str,
) -> bool {
    (namespace == root_namespace || namespace == workload.namespace)
        && selector.is_none_or(|selector| selects(selector, workload))
}

/// Whether every label of `selector` is set to the same value on `workload`.
pub(crate) fn selects(selector: &Labels, workload: &Workload) -> bool {
    selector
        .iter()
        .all(|(k, v)| workload.labels.get(k).is_some_and(|w| w == v))
}

/// What an [`AuthorizationPolicy`] does to the requests it matches.
///
/// Istio's `AUDIT` and `CUSTOM` are rejected when policy is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Matching requests are allowed; when any ALLOW policy applies to a
    /// workload, requests that match none of them are denied.
    Allow,
    /// Matching requests are denied, whatever ALLOW policies say.
    Deny,
}

impl std::fmt::Display for Action {
    /// Writes the action as Istio spells it (`ALLOW`, `DENY`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Allow => "ALLOW",
            Self::Deny => "DENY",
        })
    }
}

/// An Istio `security.istio.io/v1` `AuthorizationPolicy`.
///
/// The policy matches a request when any of its rules does; a policy with
/// no rules matches nothing (an ALLOW policy with no rules therefore denies
/// every request to the workloads it applies to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationPolicy {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`; the root namespace makes the policy mesh-wide.
    pub namespace: String,
    /// `spec.selector.matchLabels`; `None` applies to every workload in
    /// scope.
    pub selector: Option<Labels>,
    /// `spec.action`.
    pub action: Action,
    /// `spec.rules`.
    pub rules: Vec<Rule>,
}

impl AuthorizationPolicy {
    /// Whether this policy applies to `workload` (see [`applies_to`]).
    pub fn applies_to(&self, workload: &Workload, root_namespace: &str) -> bool {
        applies_to(
            &self.namespace,
            self.selector.as_ref(),
            workload,
            root_namespace,
        )
    }

    /// `namespace/name`, as decisions and logs name the policy.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// One rule: it matches when all of its non-empty parts match.
///
/// An empty `from`, `to` or `when` is no constraint, so `Rule::default()`
/// (Istio's `{}`) matches every request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// Any one of these sources must match.
    pub from: Vec<Source>,
    /// Any one of these operations must match.
    pub to: Vec<Operation>,
    /// All of these conditions must match.
    pub when: Vec<Condition>,
}

/// Who is calling. Each non-empty list must match; within a list any entry
/// may match, and a `not_` list must match no entry.
///
/// A plaintext caller has no principal and no namespace: it matches no
/// `principals`/`namespaces` entry and every `not_` list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// Caller identities, without `spiffe://`
    /// (`cluster.local/ns/default/sa/web`).
    pub principals: Vec<StringMatch>,
    /// Caller identities that must not match.
    pub not_principals: Vec<StringMatch>,
    /// Caller namespaces, taken from the identity.
    pub namespaces: Vec<StringMatch>,
    /// Caller namespaces that must not match.
    pub not_namespaces: Vec<StringMatch>,
}

/// What is being called. Each non-empty list must match; within a list any
/// entry may match, and a `not_` list must match no entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Operation {
    /// Request hosts (authority without port), compared ignoring case.
    pub hosts: Vec<StringMatch>,
    /// Hosts that must not match.
    pub not_hosts: Vec<StringMatch>,
    /// HTTP methods, case-sensitive (gRPC is always `POST`).
    pub methods: Vec<StringMatch>,
    /// Methods that must not match.
    pub not_methods: Vec<StringMatch>,
    /// Normalized request paths without the query, case-sensitive.
    pub paths: Vec<StringMatch>,
    /// Paths that must not match.
    pub not_paths: Vec<StringMatch>,
    /// Server ports.
    pub ports: Vec<u16>,
    /// Server ports that must not match.
    pub not_ports: Vec<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn workload() -> Workload {
        Workload {
            namespace: "shop".into(),
            labels: labels(&[("app", "cart"), ("version", "v2")]),
        }
    }

    const ROOT: &str = "istio-system";

    #[test]
    fn namespace_scope() {
        let w = workload();
        assert!(applies_to("shop", None, &w, ROOT));
        assert!(applies_to(ROOT, None, &w, ROOT));
        assert!(!applies_to("other", None, &w, ROOT));
        // The root namespace is whatever the caller says it is.
        assert!(applies_to("mesh-root", None, &w, "mesh-root"));
        assert!(!applies_to(ROOT, None, &w, "mesh-root"));
    }

    #[test]
    fn selector_is_a_subset_of_the_labels() {
        let w = workload();
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], true),
            (&[("app", "cart")], true),
            (&[("app", "cart"), ("version", "v2")], true),
            (&[("app", "cart"), ("version", "v1")], false),
            (&[("app", "cart"), ("tier", "web")], false),
            (&[("app", "Cart")], false),
        ];
        for (selector, expected) in cases {
            let selector = labels(selector);
            assert_eq!(
                applies_to("shop", Some(&selector), &w, ROOT),
                *expected,
                "{selector:?}"
            );
            // A mesh-wide policy with a selector applies to matching
            // workloads in every namespace.
            assert_eq!(
                applies_to(ROOT, Some(&selector), &w, ROOT),
                *expected,
                "{selector:?}"
            );
        }
        let unlabelled = Workload {
            namespace: "shop".into(),
            labels: Labels::new(),
        };
        assert!(!applies_to(
            "shop",
            Some(&labels(&[("app", "cart")])),
            &unlabelled,
            ROOT
        ));
        assert!(applies_to("shop", Some(&Labels::new()), &unlabelled, ROOT));
    }

    #[test]
    fn policy_applies_and_names_itself() {
        let policy = AuthorizationPolicy {
            name: "allow-get".into(),
            namespace: "shop".into(),
            selector: Some(labels(&[("app", "cart")])),
            action: Action::Allow,
            rules: vec![],
        };
        assert!(policy.applies_to(&workload(), ROOT));
        assert_eq!(policy.id(), "shop/allow-get");
        assert_eq!(Action::Deny.to_string(), "DENY");
    }
}
