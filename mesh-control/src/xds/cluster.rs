//! Cluster: one per service port for the service as a whole, and one per
//! port and subset; all EDS over ADS.

use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster,
    cluster::{ClusterDiscoveryType, DiscoveryType, EdsClusterConfig, LbPolicy},
};
use mesh_core::policy::{Destination, LoadBalancer, Policy, Service};

use super::proto::ads_config_source;
use super::{cluster_name, cluster_ports};

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

fn cluster(name: String, lb: LoadBalancer) -> Cluster {
    Cluster {
        eds_cluster_config: Some(EdsClusterConfig {
            eds_config: Some(ads_config_source()),
            service_name: name.clone(),
        }),
        name,
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32)),
        lb_policy: lb_policy(lb) as i32,
        ..Default::default()
    }
}
