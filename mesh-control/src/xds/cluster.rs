//! Cluster: one per service port for the service as a whole, and one per
//! port and subset; all EDS over ADS.

use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster, LoadBalancingPolicy,
    cluster::{ClusterDiscoveryType, DiscoveryType, EdsClusterConfig, LbPolicy},
    load_balancing_policy::Policy as LbPolicyEntry,
};
use envoy_types::pb::envoy::config::core::v3::TypedExtensionConfig;
use envoy_types::pb::envoy::extensions::load_balancing_policies::least_request::v3::LeastRequest;
use envoy_types::pb::envoy::extensions::load_balancing_policies::round_robin::v3::RoundRobin;
use envoy_types::pb::google::protobuf::Any;
use envoy_types::util::pack_any;
use mesh_core::policy::{Destination, LoadBalancer, Policy, Service};

use super::proto::ads_config_source;
use super::{cluster_name, cluster_ports};

/// The extension name of least-request in `load_balancing_policy`.
pub const LEAST_REQUEST_POLICY: &str = "envoy.load_balancing_policies.least_request";
/// The extension name of round robin in `load_balancing_policy`.
pub const ROUND_ROBIN_POLICY: &str = "envoy.load_balancing_policies.round_robin";

/// Every cluster of `service`.
pub fn build(policy: &Policy, service: &Service) -> Vec<Cluster> {
    let mut out = Vec::new();
    for port in cluster_ports(service) {
        let whole = Destination::new(service.host.clone());
        let lb = lb_of(policy, &whole);
        out.push(cluster(cluster_name(port, None, &service.host), lb));
        for subset in &service.subsets {
            let lb = lb_of(policy, &whole.clone().subset(subset.name.clone()));
            out.push(cluster(
                cluster_name(port, Some(&subset.name), &service.host),
                lb,
            ));
        }
    }
    out
}

fn lb_of(policy: &Policy, dest: &Destination) -> LoadBalancer {
    policy
        .endpoints(dest)
        .map(|set| set.load_balancer)
        .unwrap_or_default()
}

/// The xDS name of a load balancer: least-request is our reading of the
/// default, P2C over peak-EWMA.
pub fn lb_policy(lb: LoadBalancer) -> LbPolicy {
    match lb {
        LoadBalancer::PeakEwma => LbPolicy::LeastRequest,
        LoadBalancer::RoundRobin => LbPolicy::RoundRobin,
    }
}

/// The balancer as `load_balancing_policy`, for least-request only: the
/// `lb_policy` enum value `LEAST_REQUEST` is NACKed by gRPC C-core (grpcio,
/// C++), which takes only `ROUND_ROBIN` and `RING_HASH` there. In
/// `load_balancing_policy` every client (Envoy, gRPC, our data plane) uses
/// the first policy it supports and prefers the field over `lb_policy`, so
/// least-request with a round-robin fallback reaches every client. Round
/// robin needs none: every client takes the enum.
pub fn load_balancing_policy(lb: LoadBalancer) -> Option<LoadBalancingPolicy> {
    match lb {
        LoadBalancer::PeakEwma => Some(LoadBalancingPolicy {
            policies: vec![
                lb_entry(LEAST_REQUEST_POLICY, pack_any(LeastRequest::default())),
                lb_entry(ROUND_ROBIN_POLICY, pack_any(RoundRobin::default())),
            ],
        }),
        LoadBalancer::RoundRobin => None,
    }
}

fn lb_entry(name: &str, config: Any) -> LbPolicyEntry {
    LbPolicyEntry {
        typed_extension_config: Some(TypedExtensionConfig {
            name: name.to_owned(),
            typed_config: Some(config),
        }),
    }
}

fn cluster(name: String, lb: LoadBalancer) -> Cluster {
    Cluster {
        eds_cluster_config: Some(EdsClusterConfig {
            eds_config: Some(ads_config_source()),
            service_name: name.clone(),
        }),
        name,
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32)),
        lb_policy: lb_policy(lb) as i32,
        load_balancing_policy: load_balancing_policy(lb),
        ..Default::default()
    }
}
