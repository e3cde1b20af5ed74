//! `ClusterLoadAssignment` -> endpoints with their labels.

use std::net::{IpAddr, SocketAddr};

use envoy_types::pb::envoy::config::core::v3::{
    HealthStatus, address::Address, socket_address::PortSpecifier,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, LbEndpoint, lb_endpoint::HostIdentifier,
};

use super::error::{FieldError, invalid, missing, not_yet};
use super::proto::{filter_struct, string_pairs, sub_struct};
use crate::policy::Endpoint;

/// What a load assignment says: the endpoints that may take traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EndpointsConfig {
    /// Healthy (or unknown-health) endpoints, in order.
    pub(crate) endpoints: Vec<Endpoint>,
}

/// Translates a load assignment.
pub(crate) fn endpoints(cla: &ClusterLoadAssignment) -> Result<EndpointsConfig, FieldError> {
    if !cla.named_endpoints.is_empty() {
        return Err(not_yet("named_endpoints", "named endpoints"));
    }
    let mut out = Vec::new();
    for (i, loc) in cla.endpoints.iter().enumerate() {
        let field = format!("endpoints[{i}]");
        // gRPC drops a locality without a weight; say so instead.
        match loc.load_balancing_weight.as_ref().map(|w| w.value) {
            None => return Err(missing(format!("{field}.load_balancing_weight"))),
            Some(0) => {
                return Err(invalid(
                    format!("{field}.load_balancing_weight"),
                    "must be positive",
                ));
            }
            Some(_) => {}
        }
        if loc.priority != 0 {
            return Err(not_yet(
                format!("{field}.priority"),
                "priorities other than 0",
            ));
        }
        for (j, lb) in loc.lb_endpoints.iter().enumerate() {
            if let Some(e) = endpoint(lb, &format!("{field}.lb_endpoints[{j}]"))? {
                out.push(e);
            }
        }
    }
    Ok(EndpointsConfig { endpoints: out })
}

/// One endpoint, or `None` when its health status keeps it out.
fn endpoint(lb: &LbEndpoint, field: &str) -> Result<Option<Endpoint>, FieldError> {
    match HealthStatus::try_from(lb.health_status) {
        Ok(HealthStatus::Unknown | HealthStatus::Healthy) => {}
        Ok(_) => return Ok(None),
        Err(_) => return Err(invalid(format!("{field}.health_status"), "unknown value")),
    }
    if lb
        .load_balancing_weight
        .as_ref()
        .is_some_and(|w| w.value != 1)
    {
        return Err(not_yet(
            format!("{field}.load_balancing_weight"),
            "endpoint weights other than 1",
        ));
    }
    let ep = match &lb.host_identifier {
        Some(HostIdentifier::Endpoint(e)) => e,
        Some(HostIdentifier::EndpointName(_)) => {
            return Err(not_yet(format!("{field}.endpoint_name"), "named endpoints"));
        }
        None => return Err(missing(format!("{field}.endpoint"))),
    };
    let af = format!("{field}.endpoint.address.socket_address");
    let sa = match ep.address.as_ref().and_then(|a| a.address.as_ref()) {
        Some(Address::SocketAddress(sa)) => sa,
        Some(_) => {
            return Err(not_yet(
                format!("{field}.endpoint.address"),
                "pipes and internal addresses",
            ));
        }
        None => return Err(missing(format!("{field}.endpoint.address"))),
    };
    let ip: IpAddr = sa.address.parse().map_err(|_| {
        invalid(
            format!("{af}.address"),
            format!("{:?} is not an ip address", sa.address),
        )
    })?;
    let port = match &sa.port_specifier {
        Some(PortSpecifier::PortValue(p)) => u16::try_from(*p)
            .map_err(|_| invalid(format!("{af}.port_value"), format!("{p} is not a port")))?,
        Some(PortSpecifier::NamedPort(_)) => {
            return Err(not_yet(format!("{af}.named_port"), "named ports"));
        }
        None => return Err(missing(format!("{af}.port_value"))),
    };
    let mut endpoint = Endpoint::new(SocketAddr::new(ip, port));
    if let Some(istio) = filter_struct(lb.metadata.as_ref(), "istio") {
        let mf = format!("{field}.metadata.filter_metadata[\"istio\"]");
        if let Some(labels) = sub_struct(istio, "labels", &mf)? {
            for (k, v) in string_pairs(labels, &format!("{mf}.labels"))? {
                endpoint.labels.insert(k, v);
            }
        }
    }
    Ok(Some(endpoint))
}
