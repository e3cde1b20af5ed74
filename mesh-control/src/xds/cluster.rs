//! Cluster: one per service port for the service as a whole, and one per
//! port and subset; all EDS over ADS, with the service's TLS settings when
//! security is on.

use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster, LoadBalancingPolicy,
    cluster::{ClusterDiscoveryType, DiscoveryType, EdsClusterConfig, LbPolicy},
    load_balancing_policy::Policy as LbPolicyEntry,
};
use envoy_types::pb::envoy::config::core::v3::{Metadata, TypedExtensionConfig};
use envoy_types::pb::envoy::extensions::load_balancing_policies::least_request::v3::LeastRequest;
use envoy_types::pb::envoy::extensions::load_balancing_policies::round_robin::v3::RoundRobin;
use envoy_types::pb::google::protobuf::{Any, Struct};
use envoy_types::util::pack_any;
use mesh_core::policy::{Destination, LoadBalancer, Policy, Service, UpstreamTlsMode};

use super::proto::{ads_config_source, string_value};
use super::route::MESH_METADATA;
use super::{Options, cluster_name, cluster_ports, tls};

/// The extension name of least-request in `load_balancing_policy`.
pub const LEAST_REQUEST_POLICY: &str = "envoy.load_balancing_policies.least_request";
/// The extension name of round robin in `load_balancing_policy`.
pub const ROUND_ROBIN_POLICY: &str = "envoy.load_balancing_policies.round_robin";

/// The key in `metadata.filter_metadata["mesh.rs"]` that keeps a TLS mode
/// xDS has no field for (`AUTO`, `DISABLE`).
pub const TLS_MODE_KEY: &str = "tls_mode";

/// Every cluster of `service`.
pub fn build(policy: &Policy, service: &Service, options: Options) -> Vec<Cluster> {
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
    for c in &mut out {
        secure(c, service, options);
    }
    out
}

/// The service's TLS settings (gRFC A29, as istiod sends them): with
/// security on, every mode but `Disable` is mutual TLS with the service's
/// identities as the accepted SANs. `Auto` and `Disable` are also written
/// in the `mesh.rs` metadata (which gRPC ignores), so our data plane gets
/// the mode back: an `Auto` client without an identity still falls back
/// to plaintext, and a `Disable` client never tries TLS.
fn secure(c: &mut Cluster, service: &Service, options: Options) {
    let mode = match service.tls.mode {
        UpstreamTlsMode::Auto if options.security => Some("AUTO"),
        UpstreamTlsMode::Disable => Some("DISABLE"),
        UpstreamTlsMode::Auto | UpstreamTlsMode::Mutual => None,
    };
    if options.security && service.tls.mode != UpstreamTlsMode::Disable {
        c.transport_socket = Some(tls::upstream(&service.tls.identities));
    }
    if let Some(mode) = mode {
        let fields = [(TLS_MODE_KEY.to_owned(), string_value(mode))].into();
        c.metadata = Some(Metadata {
            filter_metadata: [(MESH_METADATA.to_owned(), Struct { fields })].into(),
            ..Default::default()
        });
    }
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
