//! The policy rebuilt from the resources held (docs/xds-mapping.md, "From
//! a snapshot back to a policy").

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use super::Resources;
use super::route::{ClusterRef, RouteSpec};
use crate::policy::{
    Destination, Endpoint, InboundSecurity, LoadBalancer, MtlsMode, Policy, PolicyError, Route,
    RouteTable, Service, ServicePort, Subset, UpstreamTls, WeightedDestination,
};

/// The label every endpoint of subset cluster `S` gets (`mesh.rs/subset.S:
/// "true"`): xDS does not carry the subset's selector, so the subset
/// selects on this label alone.
pub const SUBSET_LABEL_PREFIX: &str = "mesh.rs/subset.";

/// What the clusters of one host add up to.
#[derive(Default)]
struct HostParts {
    ports: BTreeSet<u16>,
    /// The whole-service cluster's balancer.
    load_balancer: Option<LoadBalancer>,
    /// The whole-service cluster's TLS settings, else a subset cluster's
    /// (the model has them per service).
    tls: Option<UpstreamTls>,
    endpoints: Vec<Endpoint>,
    /// Subset name -> its cluster's balancer, if the cluster is known.
    subsets: BTreeMap<String, Option<LoadBalancer>>,
}

impl HostParts {
    /// Adds an endpoint, merging labels with one already at its address.
    fn add(&mut self, endpoint: &Endpoint, subset: Option<&str>) {
        let i = match self
            .endpoints
            .iter()
            .position(|e| e.address == endpoint.address)
        {
            Some(i) => i,
            None => {
                self.endpoints.push(Endpoint::new(endpoint.address));
                self.endpoints.len() - 1
            }
        };
        let e = &mut self.endpoints[i];
        e.labels
            .extend(endpoint.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        if let Some(s) = subset {
            e.labels
                .insert(format!("{SUBSET_LABEL_PREFIX}{s}"), "true".into());
        }
    }
}

/// Builds the policy; the resources were each validated, so an error here
/// means they do not fit together.
pub(crate) fn policy(r: &Resources) -> Result<Policy, PolicyError> {
    let mut hosts: BTreeMap<String, HostParts> = BTreeMap::new();
    for c in r.clusters.values().map(|c| &c.value) {
        let h = hosts.entry(c.name.host.clone()).or_default();
        h.ports.insert(c.name.port);
        match &c.name.subset {
            None => {
                h.load_balancer.get_or_insert(c.load_balancer);
                h.tls = Some(c.tls.clone());
            }
            Some(s) => {
                h.subsets.insert(s.clone(), Some(c.load_balancer));
                h.tls.get_or_insert_with(|| c.tls.clone());
            }
        }
        if let Some(eds) = r.endpoints.get(&c.eds_name) {
            for e in &eds.value.endpoints {
                h.add(e, c.name.subset.as_deref());
            }
        }
    }
    // A route may name a cluster that has not arrived (or does not exist):
    // its service is there, with no endpoints, so the route fails with "no
    // endpoints" rather than the whole policy.
    for c in r.route_configs().flat_map(|rc| rc.cluster_names()) {
        let h = hosts.entry(c.parsed.host.clone()).or_default();
        h.ports.insert(c.parsed.port);
        if let Some(s) = &c.parsed.subset {
            h.subsets.entry(s.clone()).or_insert(None);
        }
    }
    let mut builder = Policy::builder();
    for (host, h) in &hosts {
        builder = builder.service(service(host, h));
    }
    let mut used = BTreeSet::new();
    for table in r.route_configs().flat_map(|rc| &rc.tables) {
        // A host routed by two tables stays with the first.
        let table_hosts: Vec<String> = table
            .hosts
            .iter()
            .filter(|h| used.insert((*h).clone()))
            .cloned()
            .collect();
        if table_hosts.is_empty() {
            continue;
        }
        builder = builder.route_table(RouteTable {
            name: table.name.clone(),
            hosts: table_hosts,
            routes: table.routes.iter().map(|s| route(s, &hosts)).collect(),
        });
    }
    let mut limits = Vec::new();
    for l in r.listeners.values() {
        for limit in &l.value.rate_limits {
            if !limits.contains(limit) {
                limits.push(limit.clone());
            }
        }
    }
    for limit in limits {
        builder = builder.rate_limit(limit);
    }
    for (addr, security) in inbound(r) {
        builder = builder.inbound(addr, security);
    }
    builder.build()
}

/// The security of each server whose inbound listener arrived, by its
/// address: the control plane selected the policies for the workload
/// there, so they are kept apart per server, not merged (one process may
/// serve several workloads).
fn inbound(r: &Resources) -> Vec<(SocketAddr, InboundSecurity)> {
    r.listeners
        .values()
        .filter_map(|l| l.value.inbound.as_ref())
        .map(|i| {
            let security = InboundSecurity {
                mode: i
                    .peer_authentication
                    .as_ref()
                    .and_then(|pa| pa.mode)
                    .unwrap_or(MtlsMode::Permissive),
                mode_policy: i
                    .peer_authentication
                    .as_ref()
                    .map(|pa| format!("{}/{}", pa.namespace, pa.name)),
                authorization_policies: i.authorization_policies.clone(),
            };
            (i.address, security)
        })
        .collect()
}

fn service(host: &str, h: &HostParts) -> Service {
    let lb = h.load_balancer.unwrap_or_default();
    Service {
        host: host.to_owned(),
        ports: h
            .ports
            .iter()
            .map(|&number| ServicePort { number, name: None })
            .collect(),
        endpoints: h.endpoints.clone(),
        subsets: h
            .subsets
            .iter()
            .map(|(name, sub_lb)| Subset {
                name: name.clone(),
                labels: [(format!("{SUBSET_LABEL_PREFIX}{name}"), "true".to_owned())].into(),
                load_balancer: sub_lb.filter(|l| *l != lb),
            })
            .collect(),
        load_balancer: lb,
        tls: h.tls.clone().unwrap_or_default(),
    }
}

fn route(spec: &RouteSpec, hosts: &BTreeMap<String, HostParts>) -> Route {
    let destination = |c: &ClusterRef| {
        // The port only matters where the service has several.
        let several = hosts.get(&c.parsed.host).is_some_and(|h| h.ports.len() > 1);
        WeightedDestination {
            destination: Destination {
                host: c.parsed.host.clone(),
                subset: c.parsed.subset.clone(),
                port: several.then_some(c.parsed.port),
            },
            weight: c.weight,
        }
    };
    Route {
        name: spec.name.clone(),
        matches: spec.matches.clone(),
        destinations: spec.clusters.iter().map(destination).collect(),
        timeout: spec.timeout,
        retry: spec.retry.clone(),
    }
}
