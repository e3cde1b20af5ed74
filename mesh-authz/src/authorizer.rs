//! The server-side decision: the policies that apply to one workload,
//! checked against each request.

use crate::evaluate::policy_matches;
use crate::request::Request;
use crate::{Action, AuthorizationPolicy, RequestAttrs, Rule, Workload};

/// The outcome of [`Authorizer::check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The request may proceed.
    Allow,
    /// The request must be refused (HTTP 403, gRPC `PERMISSION_DENIED`).
    Deny {
        /// The deciding policy as `namespace/name`; for
        /// [`DenyReason::NoAllowMatched`], every applicable ALLOW policy,
        /// joined with `, `.
        policy: String,
        /// Why the request was denied.
        reason: DenyReason,
    },
}

/// Why a [`Decision::Deny`] was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// A DENY policy matched the request.
    DenyPolicyMatched,
    /// ALLOW policies apply to the workload and none matched the request.
    NoAllowMatched,
}

impl Decision {
    /// Whether the request may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow)
    }
}

impl std::fmt::Display for Decision {
    /// `allowed`, `denied by AuthorizationPolicy default/deny-admin`, or
    /// `no ALLOW policy matched (applicable: default/allow-get)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Allow => f.write_str("allowed"),
            Self::Deny {
                policy,
                reason: DenyReason::DenyPolicyMatched,
            } => write!(f, "denied by AuthorizationPolicy {policy}"),
            Self::Deny {
                policy,
                reason: DenyReason::NoAllowMatched,
            } => write!(f, "no ALLOW policy matched (applicable: {policy})"),
        }
    }
}

/// One applicable policy, reduced to what a decision needs.
#[derive(Clone, Debug)]
struct Applicable {
    /// `namespace/name`.
    id: String,
    rules: Vec<Rule>,
}

/// The authorization policies that apply to one workload, ready to check
/// requests.
///
/// Build it once per policy snapshot (it filters and splits the policies)
/// and share it, for instance in an `Arc` swapped on update; [`check`]
/// takes `&self`, needs no lock and does not allocate to allow a request.
///
/// The decision is Istio's: if any DENY policy matches, deny; otherwise, if
/// no ALLOW policy applies, allow; otherwise allow only if one matches.
///
/// [`check`]: Self::check
///
/// ```
/// use mesh_authz::{
///     Action, AuthorizationPolicy, Authorizer, Decision, Operation, RequestAttrs, Rule,
///     StringMatch, Workload,
/// };
///
/// let deny_admin = AuthorizationPolicy {
///     name: "deny-admin".into(),
///     namespace: "default".into(),
///     selector: None,
///     action: Action::Deny,
///     rules: vec![Rule {
///         to: vec![Operation {
///             paths: vec![StringMatch::parse("/admin/*")?],
///             ..Operation::default()
///         }],
///         ..Rule::default()
///     }],
/// };
/// let workload = Workload { namespace: "default".into(), ..Workload::default() };
/// let authz = Authorizer::new(&[deny_admin], &workload, "istio-system");
///
/// let headers = http::HeaderMap::new();
/// let mut req = RequestAttrs {
///     principal: None,
///     host: "api",
///     method: &http::Method::GET,
///     path: "/admin/users",
///     port: 8080,
///     headers: &headers,
/// };
/// let decision = authz.check(&req);
/// assert_eq!(decision.to_string(), "denied by AuthorizationPolicy default/deny-admin");
/// req.path = "/users";
/// assert_eq!(authz.check(&req), Decision::Allow);
/// # Ok::<(), mesh_authz::StringMatchError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Authorizer {
    /// Applicable DENY policies, by id.
    deny: Vec<Applicable>,
    /// Applicable ALLOW policies, by id.
    allow: Vec<Applicable>,
    /// The ids of `allow`, joined with `, ` for the denial message.
    allow_ids: String,
}

impl Authorizer {
    /// Keeps the policies of `policies` that apply to `workload` (see
    /// [`AuthorizationPolicy::applies_to`]), split by action and ordered by
    /// `namespace/name` so decisions name policies deterministically.
    pub fn new(
        policies: &[AuthorizationPolicy],
        workload: &Workload,
        root_namespace: &str,
    ) -> Self {
        Self::from_applicable(
            policies
                .iter()
                .filter(|p| p.applies_to(workload, root_namespace)),
        )
    }

    /// Takes every policy of `policies` as applicable, whatever its
    /// namespace and selector say: for policies a control plane has
    /// already selected for this workload (an xDS inbound listener's RBAC
    /// filters).
    pub fn selected(policies: &[AuthorizationPolicy]) -> Self {
        Self::from_applicable(policies.iter())
    }

    fn from_applicable<'a>(policies: impl Iterator<Item = &'a AuthorizationPolicy>) -> Self {
        let mut deny = Vec::new();
        let mut allow = Vec::new();
        for policy in policies {
            let applicable = Applicable {
                id: policy.id(),
                rules: policy.rules.clone(),
            };
            match policy.action {
                Action::Deny => deny.push(applicable),
                Action::Allow => allow.push(applicable),
            }
        }
        deny.sort_by(|a, b| a.id.cmp(&b.id));
        allow.sort_by(|a, b| a.id.cmp(&b.id));
        let allow_ids = allow
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        Authorizer {
            deny,
            allow,
            allow_ids,
        }
    }

    /// Decides one request.
    pub fn check(&self, req: &RequestAttrs<'_>) -> Decision {
        let req = Request::new(req);
        if let Some(policy) = self
            .deny
            .iter()
            .find(|p| policy_matches(&p.rules, &req, Action::Deny))
        {
            return Decision::Deny {
                policy: policy.id.clone(),
                reason: DenyReason::DenyPolicyMatched,
            };
        }
        if self.allow.is_empty()
            || self
                .allow
                .iter()
                .any(|p| policy_matches(&p.rules, &req, Action::Allow))
        {
            return Decision::Allow;
        }
        Decision::Deny {
            policy: self.allow_ids.clone(),
            reason: DenyReason::NoAllowMatched,
        }
    }

    /// Whether no policy applies (every request is allowed).
    pub fn is_empty(&self) -> bool {
        self.deny.is_empty() && self.allow.is_empty()
    }

    /// The applicable policies as (action, `namespace/name`), DENY first.
    pub fn applicable(&self) -> impl Iterator<Item = (Action, &str)> {
        let deny = self.deny.iter().map(|p| (Action::Deny, p.id.as_str()));
        let allow = self.allow.iter().map(|p| (Action::Allow, p.id.as_str()));
        deny.chain(allow)
    }
}
