//! The policy model turned into xDS v3 resources, following
//! `docs/xds-mapping.md` (gRPC's proxyless conventions and istiod's names).
//!
//! This is the only place that knows protobuf on the control plane's side:
//! one file per resource type. [`Resources::build`] maps a whole
//! [`Policy`]; listeners are also built on demand by name
//! ([`listener::for_name`], [`inbound::for_name`]), since a client may ask
//! for any spelling of a service (`attendees`, `attendees:50051`, the FQDN)
//! and a server for any address it listens on.

pub mod cluster;
pub mod endpoint;
pub mod inbound;
pub mod listener;
mod proto;
pub mod rbac;
pub mod route;
pub mod tls;

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use mesh_core::policy::{Destination, Policy, Service};

/// The type URL of `Listener` (LDS).
pub const LISTENER_TYPE: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// The type URL of `RouteConfiguration` (RDS).
pub const ROUTE_TYPE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
/// The type URL of `Cluster` (CDS).
pub const CLUSTER_TYPE: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// The type URL of `ClusterLoadAssignment` (EDS).
pub const ENDPOINT_TYPE: &str =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

/// The port in a service's resource names: its first port, or 80.
pub fn primary_port(service: &Service) -> u16 {
    service.ports.first().map_or(80, |p| p.number)
}

/// Every port a service has clusters for: its ports, or 80 if it has none.
pub fn cluster_ports(service: &Service) -> Vec<u16> {
    if service.ports.is_empty() {
        vec![80]
    } else {
        service.ports.iter().map(|p| p.number).collect()
    }
}

/// `outbound|<port>||<host>`: the RouteConfiguration of a service.
pub fn route_config_name(service: &Service) -> String {
    cluster_name(primary_port(service), None, &service.host)
}

/// `outbound|<port>|<subset>|<host>` (empty subset for the whole service).
pub fn cluster_name(port: u16, subset: Option<&str>, host: &str) -> String {
    format!("outbound|{port}|{}|{host}", subset.unwrap_or(""))
}

/// The cluster a route destination sends to, or `None` if the destination
/// names no declared service (a validated policy has none such).
pub fn destination_cluster(policy: &Policy, dest: &Destination) -> Option<String> {
    let service = policy.service(&dest.host)?;
    let port = dest.port.unwrap_or_else(|| primary_port(service));
    Some(cluster_name(port, dest.subset.as_deref(), &service.host))
}

/// The host part of a listener name (`attendees:50051` -> `attendees`,
/// `[::1]:80` -> `[::1]`).
pub fn host_of(name: &str) -> &str {
    if name.starts_with('[') {
        return name.find(']').map_or(name, |end| &name[..=end]);
    }
    match name.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => name,
    }
}

/// What the translation may assume of the mesh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Workloads get certificates from the control plane's CA: clusters
    /// carry mutual TLS settings (gRFC A29) and inbound listeners terminate
    /// TLS as PeerAuthentication says. Off (the default): all plaintext.
    pub security: bool,
}

/// Every resource of a policy, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    /// One listener per service, named after the service's host; other
    /// spellings are copies with another name ([`listener::for_name`]).
    pub listeners: BTreeMap<String, Listener>,
    /// The servers' inbound listeners, one per workload
    /// ([`inbound::build_all`]).
    pub inbound: inbound::Inbound,
    /// One route configuration per service.
    pub routes: BTreeMap<String, RouteConfiguration>,
    /// One cluster per service port, and per port and subset.
    pub clusters: BTreeMap<String, Cluster>,
    /// One load assignment per cluster.
    pub endpoints: BTreeMap<String, ClusterLoadAssignment>,
}

impl Resources {
    /// Maps a whole policy, with security off.
    pub fn build(policy: &Policy) -> Self {
        Self::build_with(policy, Options::default())
    }

    /// Maps a whole policy.
    pub fn build_with(policy: &Policy, options: Options) -> Self {
        let mut out = Self::default();
        for service in policy.services() {
            let l = listener::build(policy, service, &service.host);
            out.listeners.insert(service.host.clone(), l);
            if let Some(rc) = route::build(policy, service) {
                out.routes.insert(rc.name.clone(), rc);
            }
            for c in cluster::build(policy, service, options) {
                out.clusters.insert(c.name.clone(), c);
            }
            for cla in endpoint::build(policy, service) {
                out.endpoints.insert(cla.cluster_name.clone(), cla);
            }
        }
        out.inbound = inbound::build_all(policy, options);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_istio() {
        let svc = Service::new("attendees").port(50051, Some("grpc"));
        assert_eq!(route_config_name(&svc), "outbound|50051||attendees");
        assert_eq!(
            cluster_name(50051, Some("v1"), "attendees"),
            "outbound|50051|v1|attendees"
        );
        assert_eq!(route_config_name(&Service::new("x")), "outbound|80||x");
    }

    #[test]
    fn host_of_strips_ports_including_ipv6() {
        assert_eq!(host_of("attendees:50051"), "attendees");
        assert_eq!(host_of("attendees"), "attendees");
        assert_eq!(host_of("[::1]:80"), "[::1]");
    }
}

#[cfg(test)]
mod mapping_rbac_tests;
#[cfg(test)]
mod mapping_security_tests;
#[cfg(test)]
mod mapping_tests;
#[cfg(test)]
mod round_trip_tests;
