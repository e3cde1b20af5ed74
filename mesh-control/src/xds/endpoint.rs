//! ClusterLoadAssignment: one locality (present, if empty, and with a
//! weight, or gRPC rejects or drops it) holding every endpoint of the
//! cluster, its labels in `metadata.filter_metadata["istio"].labels`.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::core::v3::{
    Address, HealthStatus, Locality, Metadata, SocketAddress, address,
    socket_address::PortSpecifier,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint as PbEndpoint, LbEndpoint, LocalityLbEndpoints,
    lb_endpoint::HostIdentifier,
};
use envoy_types::pb::google::protobuf::Struct;
use mesh_core::policy::{Destination, Endpoint, Policy, Service};

use super::proto::{string_struct, struct_value, u32_value};
use super::{cluster_name, cluster_ports};

/// The `filter_metadata` key holding endpoint labels, as istiod writes it.
pub const LABELS_METADATA: &str = "istio";

/// The load assignment of every cluster of `service`.
pub fn build(policy: &Policy, service: &Service) -> Vec<ClusterLoadAssignment> {
    let mut out = Vec::new();
    for port in cluster_ports(service) {
        let whole = Destination::new(service.host.clone());
        out.push(assignment(
            cluster_name(port, None, &service.host),
            endpoints_of(policy, &whole),
        ));
        for subset in &service.subsets {
            let dest = whole.clone().subset(subset.name.clone());
            out.push(assignment(
                cluster_name(port, Some(&subset.name), &service.host),
                endpoints_of(policy, &dest),
            ));
        }
    }
    out
}

fn endpoints_of<'a>(policy: &'a Policy, dest: &Destination) -> &'a [Endpoint] {
    policy.endpoints(dest).map_or(&[], |set| &set.endpoints)
}

fn assignment(cluster_name: String, endpoints: &[Endpoint]) -> ClusterLoadAssignment {
    ClusterLoadAssignment {
        cluster_name,
        endpoints: vec![LocalityLbEndpoints {
            // gRPC C-core NACKs a locality without this field; empty is
            // fine (istiod sends region/zone/subzone, often empty too).
            locality: Some(Locality::default()),
            load_balancing_weight: Some(u32_value(1)),
            lb_endpoints: endpoints.iter().map(lb_endpoint).collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn lb_endpoint(e: &Endpoint) -> LbEndpoint {
    let socket = SocketAddress {
        address: e.address.ip().to_string(),
        port_specifier: Some(PortSpecifier::PortValue(u32::from(e.address.port()))),
        ..Default::default()
    };
    let labels = Struct {
        fields: HashMap::from([("labels".to_owned(), struct_value(string_struct(&e.labels)))]),
    };
    LbEndpoint {
        host_identifier: Some(HostIdentifier::Endpoint(PbEndpoint {
            address: Some(Address {
                address: Some(address::Address::SocketAddress(socket)),
            }),
            ..Default::default()
        })),
        health_status: HealthStatus::Healthy as i32,
        load_balancing_weight: Some(u32_value(1)),
        metadata: Some(Metadata {
            filter_metadata: HashMap::from([(LABELS_METADATA.to_owned(), labels)]),
            ..Default::default()
        }),
    }
}
