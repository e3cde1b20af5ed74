//! Resources from every file, put together into one validated [`Policy`];
//! policy errors are traced back to the file and resource that caused them.

use std::collections::{BTreeSet, HashMap};

use super::document::{Resource, Spec};
use super::error::{Problem, ResourceRef};
use super::options::LoadOptions;
use super::service_entry::{ServiceEntrySpec, WorkloadSpec};
use crate::policy::{
    LoadBalancer, Policy, PolicyError, Security, Service, ServicePort, UpstreamTls, same_host,
};

/// A resource that read cleanly, and where it came from.
#[derive(Debug, Clone)]
pub(super) struct Loaded {
    pub(super) file: String,
    pub(super) document: usize,
    pub(super) resource: ResourceRef,
    pub(super) inner: Resource,
}

impl Loaded {
    fn problem(&self, field: Option<String>, line: u64, message: String) -> Problem {
        Problem {
            file: self.file.clone(),
            line: (line > 0).then_some(line),
            document: Some(self.document),
            resource: Some(self.resource.clone()),
            field,
            message,
            hint: None,
            policy: None,
        }
    }

    fn at(&self) -> String {
        if self.inner.line > 0 {
            format!("{}:{}", self.file, self.inner.line)
        } else {
            self.file.clone()
        }
    }
}

/// A service being assembled, and the resources that declared it.
struct Svc {
    service: Service,
    /// The `ServiceEntry` (or, without one, the `DestinationRule`).
    origin: usize,
    /// The `DestinationRule`, once one applied.
    rule: Option<usize>,
}

/// Builds the policy, or says everything that is wrong with the resources.
pub(super) fn assemble(loaded: &[Loaded], options: &LoadOptions) -> Result<Policy, Vec<Problem>> {
    let mut problems = duplicates(loaded);
    let mut svcs: Vec<Svc> = Vec::new();
    for (i, l) in loaded.iter().enumerate() {
        let Spec::ServiceEntry(se) = &l.inner.spec else {
            continue;
        };
        let workloads = workloads(loaded, l, se);
        let endpoints: Vec<_> = match se.ports.first() {
            Some(port) => workloads.iter().map(|w| w.endpoint(port)).collect(),
            None => Vec::new(),
        };
        // Who the endpoints may be: `subjectAltNames` and the workloads'
        // service accounts, deduplicated and sorted.
        let identities: BTreeSet<_> = se
            .identities
            .iter()
            .chain(workloads.iter().filter_map(|w| w.identity.as_ref()))
            .cloned()
            .collect();
        let tls = UpstreamTls {
            identities: identities.into_iter().collect(),
            ..UpstreamTls::default()
        };
        let ports: Vec<ServicePort> = se
            .ports
            .iter()
            .map(|p| ServicePort {
                number: p.number,
                name: p.name.clone(),
            })
            .collect();
        for (h, host) in se.hosts.iter().enumerate() {
            if let Some(other) = svcs.iter().find(|s| same_host(&s.service.host, host)) {
                let first = &loaded[other.origin];
                problems.push(l.problem(
                    Some(format!("spec.hosts[{h}]")),
                    l.inner.line,
                    format!(
                        "host `{host}` is already declared by {} ({})",
                        first.resource,
                        first.at()
                    ),
                ));
                continue;
            }
            let mut service = Service::new(host.clone());
            service.ports.clone_from(&ports);
            service.endpoints.clone_from(&endpoints);
            service.tls.clone_from(&tls);
            svcs.push(Svc {
                service,
                origin: i,
                rule: None,
            });
        }
    }
    for (i, l) in loaded.iter().enumerate() {
        let Spec::DestinationRule(dr) = &l.inner.spec else {
            continue;
        };
        let found = svcs
            .iter()
            .position(|s| s.service.host == dr.host)
            .or_else(|| {
                svcs.iter()
                    .position(|s| same_host(&s.service.host, &dr.host))
            });
        let index = match found {
            Some(k) => {
                if let Some(other) = svcs[k].rule {
                    let first = &loaded[other];
                    problems.push(l.problem(
                        Some("spec.host".into()),
                        l.inner.line,
                        format!(
                            "host `{}` already has {} ({})",
                            dr.host,
                            first.resource,
                            first.at()
                        ),
                    ));
                    continue;
                }
                k
            }
            // No ServiceEntry: a service with no endpoints yet, which is
            // valid; its requests fail with "no healthy endpoint".
            None => {
                svcs.push(Svc {
                    service: Service::new(dr.host.clone()),
                    origin: i,
                    rule: None,
                });
                svcs.len() - 1
            }
        };
        let svc = &mut svcs[index];
        svc.rule = Some(i);
        svc.service.subsets.clone_from(&dr.subsets);
        svc.service.load_balancer = dr.load_balancer.unwrap_or(LoadBalancer::default());
        svc.service.tls.mode = dr.tls;
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut builder = Policy::builder();
    for svc in &svcs {
        builder = builder.service(svc.service.clone());
    }
    let mut security = Security {
        root_namespace: options.root_namespace.clone(),
        ..Security::default()
    };
    for l in loaded {
        match &l.inner.spec {
            Spec::VirtualService(vs) => builder = builder.route_table(vs.table.clone()),
            Spec::LocalRateLimit(rl) => builder = builder.rate_limit(rl.clone()),
            Spec::PeerAuthentication(pa) => security.peer_authentications.push(pa.clone()),
            Spec::AuthorizationPolicy(ap) => security.authorization_policies.push(ap.clone()),
            _ => {}
        }
    }
    builder
        .security(security)
        .build()
        .map_err(|e| vec![locate(e, loaded, &svcs)])
}

/// Resources declared twice: same kind, namespace and name.
fn duplicates(loaded: &[Loaded]) -> Vec<Problem> {
    let mut seen: HashMap<(&str, &str, &str), &Loaded> = HashMap::new();
    let mut problems = Vec::new();
    for l in loaded {
        let key = (
            l.resource.kind.as_str(),
            l.inner.meta.namespace(),
            l.inner.meta.name.as_str(),
        );
        if let Some(first) = seen.get(&key) {
            problems.push(l.problem(
                Some("metadata.name".into()),
                l.inner.line,
                format!("is declared twice; the first is at {}", first.at()),
            ));
        } else {
            seen.insert(key, l);
        }
    }
    problems
}

/// A `ServiceEntry`'s workloads: written inline, or the `WorkloadEntry`s
/// its `workloadSelector` picks in its namespace.
///
/// Limitation: every endpoint serves the service's first port only; the
/// other ports are declared on the service but not mapped per endpoint.
fn workloads<'a>(
    loaded: &'a [Loaded],
    se_resource: &Loaded,
    se: &'a ServiceEntrySpec,
) -> Vec<&'a WorkloadSpec> {
    let Some(selector) = &se.selector else {
        return se.endpoints.iter().collect();
    };
    let namespace = se_resource.inner.meta.namespace();
    loaded
        .iter()
        .filter(|l| l.inner.meta.namespace() == namespace)
        .filter_map(|l| match &l.inner.spec {
            Spec::WorkloadEntry(w) => Some(w),
            _ => None,
        })
        .filter(|w: &&WorkloadSpec| {
            selector
                .iter()
                .all(|(k, v)| w.labels.get(k).is_some_and(|have| have == v))
        })
        .collect()
}

/// Names the file, resource and, where it can, the route behind a policy
/// error.
fn locate(err: PolicyError, loaded: &[Loaded], svcs: &[Svc]) -> Problem {
    let virtual_service = |name: &str| {
        loaded
            .iter()
            .find(|l| matches!(&l.inner.spec, Spec::VirtualService(vs) if vs.table.name == name))
    };
    let in_route = |table: &str, route: &str| {
        let l = virtual_service(table)?;
        let Spec::VirtualService(vs) = &l.inner.spec else {
            return None;
        };
        let site = vs.routes.iter().find(|r| r.name == route);
        Some((
            l,
            site.map(|s| s.path.clone()),
            site.map_or(l.inner.line, |s| s.line),
        ))
    };
    let (origin, field, line, prefix) = match &err {
        PolicyError::UnknownService { table, route, .. }
        | PolicyError::UnknownSubset { table, route, .. }
        | PolicyError::UnknownPort { table, route, .. }
        | PolicyError::NoDestination { table, route }
        | PolicyError::BadRetry { table, route, .. } => match in_route(table, route) {
            Some((l, field, line)) => (Some(l), field, line, Some(table.as_str())),
            None => (None, None, 0, None),
        },
        PolicyError::DuplicateRouteHost { second, .. } => {
            let l = virtual_service(second);
            (
                l,
                Some("spec.hosts".into()),
                l.map_or(0, |l| l.inner.line),
                None,
            )
        }
        PolicyError::DuplicateService { host } | PolicyError::DuplicateSubset { host, .. } => {
            let svc = svcs.iter().rev().find(|s| s.service.host == *host);
            let l = svc.map(|s| &loaded[s.rule.unwrap_or(s.origin)]);
            (l, None, l.map_or(0, |l| l.inner.line), None)
        }
        PolicyError::BadRateLimit { name, .. } => {
            let l = loaded
                .iter()
                .find(|l| matches!(&l.inner.spec, Spec::LocalRateLimit(rl) if rl.name == *name));
            (
                l,
                Some("spec.tokenBucket".into()),
                l.map_or(0, |l| l.inner.line),
                None,
            )
        }
        PolicyError::BadRegex { .. } => (None, None, 0, None),
    };
    let text = err.to_string();
    let message = prefix
        .and_then(|p| text.strip_prefix(&format!("{p}: ")).map(str::to_owned))
        .unwrap_or_else(|| text.clone());
    let mut problem = match origin {
        Some(l) => l.problem(field, line, message),
        None => Problem {
            file: String::new(),
            line: None,
            document: None,
            resource: None,
            field: None,
            message,
            hint: None,
            policy: None,
        },
    };
    problem.policy = Some(err);
    problem
}
