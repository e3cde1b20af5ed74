//! The policy model: services, routes, retries and rate limits as plain
//! Rust types, and [`Policy`], a validated snapshot of all of them.
//!
//! Build one with [`Policy::builder`] or load one from Istio-dialect YAML
//! with [`crate::config`]; either way nothing reaches the request path
//! until [`PolicyBuilder::build`] has checked that it holds together.

mod error;
mod matching;
mod rate_limit;
mod retry;
mod route;
mod security;
mod service;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

pub use error::PolicyError;
pub(crate) use error::did_you_mean;
pub use matching::{HeaderMatch, HeaderRule, Pattern, RequestMatch, RequestParts, StringMatch};
pub use mesh_authz::{
    Action, AuthorizationPolicy, Condition, ConditionKey, MtlsMode, Operation, PeerAuthentication,
    Rule, Source, Workload,
};
pub use rate_limit::{LocalRateLimit, TokenBucket};
pub use retry::{Backoff, GrpcRetryOn, HttpRetryOn, Ratio, RetryBudget, RetryOn, RetryPolicy};
pub use route::{Destination, Route, RouteTable, WeightedDestination};
pub use security::{
    DEFAULT_ROOT_NAMESPACE, InboundSecurity, Security, UpstreamTls, UpstreamTlsMode,
};
pub use service::{Endpoint, Labels, LoadBalancer, Service, ServicePort, Subset, same_host};

/// The endpoints a destination resolves to, and how to balance over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSet {
    /// The endpoints, in declaration order.
    pub endpoints: Arc<[Endpoint]>,
    /// The balancer to use.
    pub load_balancer: LoadBalancer,
    /// How clients protect connections to these endpoints.
    pub tls: Arc<UpstreamTls>,
}

/// A service with its subsets resolved to endpoint sets.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ResolvedService {
    service: Service,
    all: EndpointSet,
    /// Looked up on every request to a subset: a fast hasher (the names
    /// come from config, not from requests).
    subsets: foldhash::HashMap<String, EndpointSet>,
}

/// A validated, immutable policy snapshot.
///
/// ```
/// use mesh_core::policy::{Destination, Endpoint, Policy, Route, RouteTable, Service};
/// let policy = Policy::builder()
///     .service(
///         Service::new("attendees")
///             .endpoint(Endpoint::new("127.0.0.1:50051".parse().unwrap()).label("version", "v1"))
///             .subset("v1", [("version", "v1")]),
///     )
///     .route_table(RouteTable {
///         name: "attendees".into(),
///         hosts: vec!["attendees".into()],
///         routes: vec![Route::to("all-v1", Destination::new("attendees").subset("v1"))],
///     })
///     .build()
///     .unwrap();
/// assert_eq!(policy.route_table("attendees").unwrap().routes[0].name, "all-v1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    services: Vec<ResolvedService>,
    /// The declared tables, then the implicit default ones.
    tables: Vec<Arc<RouteTable>>,
    /// How many of `tables` were declared.
    declared_tables: usize,
    /// Each host named by a table, to the first table naming it: every
    /// request looks its host up here.
    table_by_host: foldhash::HashMap<String, usize>,
    rate_limits: Vec<LocalRateLimit>,
    security: Arc<Security>,
    inbound: BTreeMap<SocketAddr, Arc<InboundSecurity>>,
}

impl Policy {
    /// Starts an empty policy.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    /// A policy with nothing in it: every request gets "no route".
    pub fn empty() -> Self {
        Self {
            services: Vec::new(),
            tables: Vec::new(),
            declared_tables: 0,
            table_by_host: foldhash::HashMap::default(),
            rate_limits: Vec::new(),
            security: Arc::new(Security::default()),
            inbound: BTreeMap::new(),
        }
    }

    /// A builder holding this policy's parts, to change and build again
    /// (the implicit default route tables are left for `build` to remake).
    pub fn to_builder(&self) -> PolicyBuilder {
        PolicyBuilder {
            services: self.services().cloned().collect(),
            tables: self.tables[..self.declared_tables]
                .iter()
                .map(|t| (**t).clone())
                .collect(),
            rate_limits: self.rate_limits.clone(),
            security: (*self.security).clone(),
            inbound: self
                .inbound
                .iter()
                .map(|(addr, s)| (*addr, (**s).clone()))
                .collect(),
        }
    }

    fn resolved(&self, host: &str) -> Option<&ResolvedService> {
        self.services
            .iter()
            .find(|s| s.service.host == host)
            .or_else(|| {
                self.services
                    .iter()
                    .find(|s| same_host(&s.service.host, host))
            })
    }

    /// The service a host names (exactly, or by short name).
    pub fn service(&self, host: &str) -> Option<&Service> {
        self.resolved(host).map(|s| &s.service)
    }

    /// Every declared service.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.iter().map(|s| &s.service)
    }

    /// The routes for requests to `host`. A declared service with no
    /// route table of its own gets a single route to all its endpoints, as
    /// in Istio without a `VirtualService`.
    pub fn route_table(&self, host: &str) -> Option<&Arc<RouteTable>> {
        self.route_table_index(host).map(|i| &self.tables[i])
    }

    /// The index into [`Policy::route_tables`] of the table for `host` (a
    /// port suffix is ignored).
    pub fn route_table_index(&self, host: &str) -> Option<usize> {
        let host = strip_port(host);
        self.table_by_host.get(host).copied().or_else(|| {
            self.tables
                .iter()
                .position(|t| t.hosts.iter().any(|h| same_host(h, host)))
        })
    }

    /// Every route table, including the implicit ones.
    pub fn route_tables(&self) -> &[Arc<RouteTable>] {
        &self.tables
    }

    /// The endpoints a destination resolves to.
    pub fn endpoints(&self, dest: &Destination) -> Option<&EndpointSet> {
        let svc = self.resolved(&dest.host)?;
        match &dest.subset {
            None => Some(&svc.all),
            Some(name) => svc.subsets.get(name),
        }
    }

    /// The local rate limits.
    pub fn rate_limits(&self) -> &[LocalRateLimit] {
        &self.rate_limits
    }

    /// Peer authentication and authorization policies.
    pub fn security(&self) -> &Arc<Security> {
        &self.security
    }

    /// The security a control plane chose for the server listening at
    /// `addr`, if it sent any (it then takes the place of
    /// [`Policy::security`] for that server).
    pub fn inbound(&self, addr: SocketAddr) -> Option<&Arc<InboundSecurity>> {
        self.inbound.get(&addr)
    }
}

/// Collects the parts of a policy; [`PolicyBuilder::build`] validates them.
#[derive(Clone, Debug, Default)]
pub struct PolicyBuilder {
    services: Vec<Service>,
    tables: Vec<RouteTable>,
    rate_limits: Vec<LocalRateLimit>,
    security: Security,
    inbound: BTreeMap<SocketAddr, InboundSecurity>,
}

impl PolicyBuilder {
    /// Adds a service.
    pub fn service(mut self, service: Service) -> Self {
        self.services.push(service);
        self
    }

    /// Adds a route table.
    pub fn route_table(mut self, table: RouteTable) -> Self {
        self.tables.push(table);
        self
    }

    /// Adds routes for one host, in a table named after it.
    pub fn routes(self, host: &str, routes: impl IntoIterator<Item = Route>) -> Self {
        self.route_table(RouteTable {
            name: host.to_owned(),
            hosts: vec![host.to_owned()],
            routes: routes.into_iter().collect(),
        })
    }

    /// Changes every service with `f` (to add endpoints from elsewhere, say).
    pub fn map_services(mut self, f: impl FnMut(Service) -> Service) -> Self {
        self.services = self.services.into_iter().map(f).collect();
        self
    }

    /// Adds a local rate limit.
    pub fn rate_limit(mut self, limit: LocalRateLimit) -> Self {
        self.rate_limits.push(limit);
        self
    }

    /// Sets the security policies (root namespace, peer authentication,
    /// authorization), replacing any set before.
    pub fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// Sets the security of the server listening at `addr`, as a control
    /// plane chose it (see [`Policy::inbound`]).
    pub fn inbound(mut self, addr: SocketAddr, security: InboundSecurity) -> Self {
        self.inbound.insert(addr, security);
        self
    }

    /// Adds an `AuthorizationPolicy`.
    pub fn authorization_policy(mut self, policy: AuthorizationPolicy) -> Self {
        self.security.authorization_policies.push(policy);
        self
    }

    /// Adds a `PeerAuthentication`.
    pub fn peer_authentication(mut self, policy: PeerAuthentication) -> Self {
        self.security.peer_authentications.push(policy);
        self
    }

    /// Checks that everything refers to something that exists and that
    /// every number makes sense, then freezes the policy.
    pub fn build(self) -> Result<Policy, PolicyError> {
        let services = resolve_services(self.services)?;
        let mut tables: Vec<Arc<RouteTable>> = Vec::with_capacity(self.tables.len());
        for table in self.tables {
            validate_table(&table, &services)?;
            for host in &table.hosts {
                if let Some(other) = tables.iter().find(|t| t.hosts.contains(host)) {
                    return Err(PolicyError::DuplicateRouteHost {
                        host: host.clone(),
                        first: other.name.clone(),
                        second: table.name.clone(),
                    });
                }
            }
            tables.push(Arc::new(table));
        }
        let declared_tables = tables.len();
        for svc in &services {
            let host = &svc.service.host;
            if !tables
                .iter()
                .any(|t| t.hosts.iter().any(|h| same_host(h, host)))
            {
                tables.push(Arc::new(RouteTable {
                    name: format!("{host} (default)"),
                    hosts: vec![host.clone()],
                    routes: vec![Route::to("default", Destination::new(host.clone()))],
                }));
            }
        }
        for limit in &self.rate_limits {
            validate_rate_limit(limit)?;
        }
        let mut table_by_host = foldhash::HashMap::default();
        for (i, table) in tables.iter().enumerate() {
            for host in &table.hosts {
                table_by_host.entry(host.clone()).or_insert(i);
            }
        }
        Ok(Policy {
            services,
            tables,
            declared_tables,
            table_by_host,
            rate_limits: self.rate_limits,
            security: Arc::new(self.security),
            inbound: self
                .inbound
                .into_iter()
                .map(|(addr, s)| (addr, Arc::new(s)))
                .collect(),
        })
    }
}

/// The host part of `host[:port]`, brackets and all for IPv6 (`[::1]`).
fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    // Bytes, not `rsplit_once(':')`, whose char searcher cost more than
    // the rest of the table lookup it serves on every request.
    let bytes = authority.as_bytes();
    match bytes.iter().rposition(|&b| b == b':') {
        Some(colon)
            if !bytes[..colon].contains(&b':')
                && bytes[colon + 1..].iter().all(u8::is_ascii_digit) =>
        {
            &authority[..colon]
        }
        _ => authority,
    }
}

fn resolve_services(services: Vec<Service>) -> Result<Vec<ResolvedService>, PolicyError> {
    let mut out: Vec<ResolvedService> = Vec::with_capacity(services.len());
    for service in services {
        if out.iter().any(|s| s.service.host == service.host) {
            return Err(PolicyError::DuplicateService { host: service.host });
        }
        let tls = Arc::new(service.tls.clone());
        let mut subsets =
            foldhash::HashMap::with_capacity_and_hasher(service.subsets.len(), Default::default());
        for subset in &service.subsets {
            let set = EndpointSet {
                endpoints: service
                    .endpoints
                    .iter()
                    .filter(|e| e.selected_by(&subset.labels))
                    .cloned()
                    .collect(),
                load_balancer: subset.load_balancer.unwrap_or(service.load_balancer),
                tls: tls.clone(),
            };
            if subsets.insert(subset.name.clone(), set).is_some() {
                return Err(PolicyError::DuplicateSubset {
                    host: service.host.clone(),
                    subset: subset.name.clone(),
                });
            }
        }
        let all = EndpointSet {
            endpoints: service.endpoints.iter().cloned().collect(),
            load_balancer: service.load_balancer,
            tls,
        };
        out.push(ResolvedService {
            service,
            all,
            subsets,
        });
    }
    Ok(out)
}

fn validate_table(table: &RouteTable, services: &[ResolvedService]) -> Result<(), PolicyError> {
    for route in &table.routes {
        let total: u64 = route.destinations.iter().map(|d| u64::from(d.weight)).sum();
        if total == 0 {
            return Err(PolicyError::NoDestination {
                table: table.name.clone(),
                route: route.name.clone(),
            });
        }
        for wd in &route.destinations {
            let dest = &wd.destination;
            let svc = services
                .iter()
                .find(|s| s.service.host == dest.host)
                .or_else(|| {
                    services
                        .iter()
                        .find(|s| same_host(&s.service.host, &dest.host))
                })
                .ok_or_else(|| PolicyError::UnknownService {
                    table: table.name.clone(),
                    route: route.name.clone(),
                    host: dest.host.clone(),
                    hint: did_you_mean(
                        &dest.host,
                        services.iter().map(|s| s.service.host.as_str()),
                    ),
                })?;
            if let Some(subset) = &dest.subset
                && !svc.subsets.contains_key(subset)
            {
                return Err(PolicyError::UnknownSubset {
                    table: table.name.clone(),
                    route: route.name.clone(),
                    host: dest.host.clone(),
                    subset: subset.clone(),
                    hint: did_you_mean(subset, svc.subsets.keys().map(String::as_str)),
                });
            }
            if let Some(port) = dest.port {
                let ports = &svc.service.ports;
                if !ports.is_empty() && !ports.iter().any(|p| p.number == port) {
                    return Err(PolicyError::UnknownPort {
                        table: table.name.clone(),
                        route: route.name.clone(),
                        host: dest.host.clone(),
                        port,
                    });
                }
            }
        }
        if let Some(retry) = &route.retry {
            let bad = |reason: &str| PolicyError::BadRetry {
                table: table.name.clone(),
                route: route.name.clone(),
                reason: reason.to_owned(),
            };
            if retry.per_try_timeout.is_some_and(|t| t.is_zero()) {
                return Err(bad("per-try timeout must be positive"));
            }
            if retry.backoff.base.is_zero() || retry.backoff.max < retry.backoff.base {
                return Err(bad(
                    "backoff needs a positive base no larger than its maximum",
                ));
            }
        }
    }
    Ok(())
}

fn validate_rate_limit(limit: &LocalRateLimit) -> Result<(), PolicyError> {
    let bad = |reason: &str| PolicyError::BadRateLimit {
        name: limit.name.clone(),
        reason: reason.to_owned(),
    };
    let b = &limit.bucket;
    if b.max_tokens == 0 {
        return Err(bad("maxTokens must be at least 1"));
    }
    if b.tokens_per_fill == 0 {
        return Err(bad("tokensPerFill must be at least 1"));
    }
    if b.fill_interval.is_zero() {
        return Err(bad("fillInterval must be positive"));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
