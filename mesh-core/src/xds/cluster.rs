//! `Cluster` -> the service (and subset) it stands for, its balancer, its
//! TLS settings and the name of its endpoints.

use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster, LoadBalancingPolicy,
    cluster::{ClusterDiscoveryType, DiscoveryType, LbPolicy},
};

use super::error::{FieldError, invalid, missing, not_yet};
use super::names::ClusterName;
use super::proto::{check_ads, filter_struct, string};
use super::retry::MESH_METADATA;
use super::tls;
use crate::policy::{LoadBalancer, UpstreamTls, UpstreamTlsMode};

/// The `mesh.rs` metadata key keeping a TLS mode xDS has no field for.
const TLS_MODE_KEY: &str = "tls_mode";

/// What a cluster says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClusterConfig {
    /// The cluster's name taken apart: host, port, subset.
    pub(crate) name: ClusterName,
    /// The `ClusterLoadAssignment` to fetch.
    pub(crate) eds_name: String,
    /// The balancer.
    pub(crate) load_balancer: LoadBalancer,
    /// How to protect connections to the endpoints.
    pub(crate) tls: UpstreamTls,
}

/// Translates a cluster.
pub(crate) fn cluster(c: &Cluster) -> Result<ClusterConfig, FieldError> {
    let name = ClusterName::parse(&c.name).map_err(|e| invalid("name", e))?;
    match &c.cluster_discovery_type {
        Some(ClusterDiscoveryType::Type(t)) if *t == DiscoveryType::Eds as i32 => {}
        Some(ClusterDiscoveryType::Type(t)) => {
            let what = DiscoveryType::try_from(*t).map_or("an unknown type", |d| d.as_str_name());
            return Err(not_yet("type", format!("{what} (only EDS)")));
        }
        Some(ClusterDiscoveryType::ClusterType(custom)) => {
            return Err(not_yet(
                "cluster_type",
                format!("custom cluster type {:?}", custom.name),
            ));
        }
        // Unset means STATIC.
        None => return Err(not_yet("type", "STATIC (only EDS)")),
    }
    let eds = c
        .eds_cluster_config
        .as_ref()
        .ok_or_else(|| missing("eds_cluster_config"))?;
    check_ads(eds.eds_config.as_ref(), "eds_cluster_config.eds_config")?;
    let eds_name = if eds.service_name.is_empty() {
        c.name.clone()
    } else {
        eds.service_name.clone()
    };
    // Like gRPC and Envoy: `load_balancing_policy`, when set, wins over
    // the `lb_policy` enum.
    let load_balancer = match &c.load_balancing_policy {
        Some(p) => from_policies(p).map_err(|e| e.within("load_balancing_policy"))?,
        None => from_enum(c.lb_policy)?,
    };
    let tls = upstream_tls(c)?;
    let unsupported = [
        (
            "transport_socket_matches",
            !c.transport_socket_matches.is_empty(),
        ),
        ("lb_subset_config", c.lb_subset_config.is_some()),
        ("outlier_detection", c.outlier_detection.is_some()),
        ("load_assignment", c.load_assignment.is_some()),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(not_yet(*field, *field));
    }
    Ok(ClusterConfig {
        name,
        eds_name,
        load_balancer,
        tls,
    })
}

/// The TLS settings (docs/xds-mapping.md, "Cluster TLS"): a `tls`
/// transport socket is mutual TLS with its SANs as the identities, unless
/// the `mesh.rs` metadata says `AUTO`; no transport socket is `Auto` (what
/// a control plane with security off sends) unless the metadata says
/// `DISABLE`.
fn upstream_tls(c: &Cluster) -> Result<UpstreamTls, FieldError> {
    let field = format!("metadata.filter_metadata[\"{MESH_METADATA}\"]");
    let mode = match filter_struct(c.metadata.as_ref(), MESH_METADATA) {
        Some(s) => string(s, TLS_MODE_KEY, &field)?,
        None => None,
    };
    let identities = match &c.transport_socket {
        Some(ts) => Some(tls::upstream(ts).map_err(|e| e.within("transport_socket"))?),
        None => None,
    };
    let mode_field = || format!("{field}.{TLS_MODE_KEY}");
    match (mode, identities) {
        (None, Some(ids)) => Ok(UpstreamTls::mutual(ids)),
        (None | Some("AUTO"), None) => Ok(UpstreamTls::default()),
        (Some("AUTO"), Some(identities)) => Ok(UpstreamTls {
            mode: UpstreamTlsMode::Auto,
            identities,
        }),
        (Some("DISABLE"), None) => Ok(UpstreamTls::disabled()),
        (Some("DISABLE"), Some(_)) => Err(invalid(
            mode_field(),
            "DISABLE contradicts the cluster's transport_socket",
        )),
        (Some(other), _) => Err(invalid(
            mode_field(),
            format!("{other:?} is not a TLS mode (AUTO or DISABLE)"),
        )),
    }
}

/// The type URL of least-request in `load_balancing_policy`.
const LEAST_REQUEST: &str =
    "type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest";
/// The type URL of round robin in `load_balancing_policy`.
const ROUND_ROBIN: &str =
    "type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin";

/// The `lb_policy` enum.
fn from_enum(lb_policy: i32) -> Result<LoadBalancer, FieldError> {
    match LbPolicy::try_from(lb_policy) {
        Ok(LbPolicy::RoundRobin) => Ok(LoadBalancer::RoundRobin),
        // Power of two choices over peak-EWMA is our least-request.
        Ok(LbPolicy::LeastRequest) => Ok(LoadBalancer::PeakEwma),
        Ok(other) => Err(not_yet(
            "lb_policy",
            format!(
                "{} (only ROUND_ROBIN and LEAST_REQUEST)",
                other.as_str_name()
            ),
        )),
        Err(_) => Err(invalid("lb_policy", format!("unknown value {lb_policy}"))),
    }
}

/// `load_balancing_policy`: the first of its policies we support, as
/// gRPC (gRFC A52) and Envoy read it; their configuration is ignored.
fn from_policies(p: &LoadBalancingPolicy) -> Result<LoadBalancer, FieldError> {
    let mut seen = Vec::new();
    for (i, policy) in p.policies.iter().enumerate() {
        let type_url = policy
            .typed_extension_config
            .as_ref()
            .and_then(|c| c.typed_config.as_ref())
            .map(|any| any.type_url.as_str())
            .ok_or_else(|| missing(format!("policies[{i}].typed_extension_config.typed_config")))?;
        match type_url {
            LEAST_REQUEST => return Ok(LoadBalancer::PeakEwma),
            ROUND_ROBIN => return Ok(LoadBalancer::RoundRobin),
            other => seen.push(other.rsplit('/').next().unwrap_or(other).to_owned()),
        }
    }
    Err(not_yet(
        "policies",
        format!("[{}] (only LeastRequest and RoundRobin)", seen.join(", ")),
    ))
}
