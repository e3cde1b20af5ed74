//! One YAML document: `apiVersion` and `kind` dispatch, and `metadata`.

use mesh_authz::{AuthorizationPolicy, PeerAuthentication};

use super::destination_rule::{self, DestinationRuleSpec};
use super::error::{ResourceRef, did_you_mean};
use super::options::LoadOptions;
use super::service_entry::{self, AccountScope, ServiceEntrySpec, WorkloadSpec};
use super::virtual_service::{self, VirtualServiceSpec};
use super::walk::{Cx, Field, Issue, Shape};
use super::yaml::Node;
use super::{authorization_policy, peer_authentication, rate_limit};
use crate::policy::LocalRateLimit;

const NETWORKING: &[&str] = &[
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
];
const SECURITY: &[&str] = &["security.istio.io/v1", "security.istio.io/v1beta1"];
const MESH_POLICY: &[&str] = &["policy.mesh.rs/v1alpha1"];

/// The kinds we read, and the apiVersions each is served under.
const KINDS: &[(&str, &[&str])] = &[
    ("VirtualService", NETWORKING),
    ("DestinationRule", NETWORKING),
    ("ServiceEntry", NETWORKING),
    ("WorkloadEntry", NETWORKING),
    ("PeerAuthentication", SECURITY),
    ("AuthorizationPolicy", SECURITY),
    ("LocalRateLimit", MESH_POLICY),
];

/// Istio kinds we know of but do not read yet.
const UNSUPPORTED_KINDS: &[&str] = &[
    "Gateway",
    "Sidecar",
    "WorkloadGroup",
    "EnvoyFilter",
    "ProxyConfig",
    "RequestAuthentication",
    "Telemetry",
    "WasmPlugin",
];

const TOP: Shape = Shape {
    // `status` is state a cluster reports, not policy: accepted and unread,
    // so `kubectl get -o yaml` output loads.
    supported: &["apiVersion", "kind", "metadata", "spec", "status"],
    unsupported: &[],
};

const METADATA: Shape = Shape {
    // Labels and annotations describe the resource, not traffic: unread.
    supported: &["name", "namespace", "labels", "annotations"],
    unsupported: &[],
};

/// `metadata`, as far as policy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Meta {
    pub(super) name: String,
    /// As written; `None` means `default`.
    pub(super) namespace: Option<String>,
}

impl Meta {
    /// The namespace, `default` when not written.
    pub(super) fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

/// A resource's spec, read into our terms.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Spec {
    VirtualService(VirtualServiceSpec),
    DestinationRule(DestinationRuleSpec),
    ServiceEntry(ServiceEntrySpec),
    WorkloadEntry(WorkloadSpec),
    PeerAuthentication(PeerAuthentication),
    AuthorizationPolicy(AuthorizationPolicy),
    LocalRateLimit(LocalRateLimit),
}

/// A document that read cleanly.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Resource {
    pub(super) meta: Meta,
    pub(super) spec: Spec,
    /// The line the document starts on.
    pub(super) line: u64,
}

/// What reading one document produced.
pub(super) enum Outcome {
    /// The resource read cleanly.
    Read(ResourceRef, Resource),
    /// It did not: its problems, and the resource it names as far as that
    /// could be read.
    Failed(Option<ResourceRef>, Vec<Issue>),
}

/// Reads one document, collecting every problem in it.
pub(super) fn read(node: &Node, options: &LoadOptions) -> Outcome {
    let mut cx = Cx::default();
    let root = Field::root(node);
    let Some(top) = root.object(&mut cx, TOP) else {
        return Outcome::Failed(None, cx.issues);
    };
    let kind = top.required(&mut cx, "kind").and_then(|f| f.name(&mut cx));
    let meta = top.required(&mut cx, "metadata").and_then(|m| {
        let m = m.object(&mut cx, METADATA)?;
        let name = m.required(&mut cx, "name").and_then(|f| f.name(&mut cx));
        let namespace = m.get("namespace").and_then(|f| f.name(&mut cx));
        for key in ["labels", "annotations"] {
            if let Some(f) = m.get(key) {
                f.entries(&mut cx);
            }
        }
        Some(Meta {
            name: name?.to_owned(),
            namespace: namespace.map(str::to_owned),
        })
    });
    let resource = kind.zip(meta.as_ref()).map(|(kind, meta)| ResourceRef {
        kind: kind.to_owned(),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
    });

    let known = kind.and_then(|k| KINDS.iter().find(|(name, _)| *name == k));
    if let (Some(k), None) = (kind, known) {
        let kind_field = top.get("kind").unwrap_or_else(|| root.clone());
        if UNSUPPORTED_KINDS.contains(&k) {
            cx.report(
                &kind_field,
                format!("kind `{k}` is not supported yet"),
                None,
            );
        } else {
            let all = KINDS
                .iter()
                .map(|(n, _)| *n)
                .chain(UNSUPPORTED_KINDS.iter().copied());
            cx.report(
                &kind_field,
                format!("unknown kind `{k}`"),
                did_you_mean(k, all),
            );
        }
    }
    if let Some(field) = top.required(&mut cx, "apiVersion")
        && let Some(version) = field.name(&mut cx)
    {
        check_api_version(&mut cx, &field, version, known.copied());
    }

    let spec = known.and_then(|(kind, _)| {
        let spec = top.required(&mut cx, "spec")?;
        let name = meta.as_ref().map_or("", |m| m.name.as_str());
        let namespace = meta.as_ref().map_or("default", Meta::namespace);
        let scope = AccountScope {
            trust_domain: &options.trust_domain,
            namespace,
        };
        Some(match *kind {
            "VirtualService" => Spec::VirtualService(virtual_service::read(&mut cx, &spec, name)),
            "DestinationRule" => Spec::DestinationRule(destination_rule::read(&mut cx, &spec)),
            "ServiceEntry" => Spec::ServiceEntry(service_entry::read(&mut cx, &spec, scope)),
            "WorkloadEntry" => {
                Spec::WorkloadEntry(service_entry::read_workload_entry(&mut cx, &spec, scope)?)
            }
            "PeerAuthentication" => {
                Spec::PeerAuthentication(peer_authentication::read(&mut cx, &spec, name, namespace))
            }
            "AuthorizationPolicy" => Spec::AuthorizationPolicy(authorization_policy::read(
                &mut cx, &spec, name, namespace,
            )),
            "LocalRateLimit" => Spec::LocalRateLimit(rate_limit::read(&mut cx, &spec, name)),
            // Every kind in `KINDS` has an arm above.
            _ => return None,
        })
    });

    match (resource, meta, spec) {
        (Some(resource), Some(meta), Some(spec)) if cx.issues.is_empty() => Outcome::Read(
            resource,
            Resource {
                meta,
                spec,
                line: node.line,
            },
        ),
        (resource, ..) => {
            let mut issues = cx.issues;
            if issues.is_empty() {
                // Unreachable by construction; never drop a document quietly.
                cx = Cx::default();
                cx.report(&root, "could not be read", None);
                issues = cx.issues;
            }
            issues.sort_by_key(|issue| issue.line);
            Outcome::Failed(resource, issues)
        }
    }
}

fn check_api_version(cx: &mut Cx, field: &Field<'_>, version: &str, kind: Option<(&str, &[&str])>) {
    let all = || KINDS.iter().flat_map(|(_, v)| v.iter().copied());
    match kind {
        Some((_, versions)) if versions.contains(&version) => {}
        Some((kind, versions)) if all().any(|v| v == version) => cx.report(
            field,
            format!("kind `{kind}` is not served by apiVersion `{version}`"),
            versions.first().map(|v| format!("use `{v}`")),
        ),
        None if all().any(|v| v == version) => {}
        known => {
            let candidates: Vec<&str> = match known {
                Some((_, versions)) => versions.to_vec(),
                None => all().collect(),
            };
            let hint = did_you_mean(version, candidates.iter().copied()).or_else(|| {
                let list: Vec<String> = candidates.iter().map(|v| format!("`{v}`")).collect();
                Some(format!("expected one of {}", list.join(", ")))
            });
            cx.report(field, format!("unknown apiVersion `{version}`"), hint);
        }
    }
}
