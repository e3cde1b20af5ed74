//! An inbound (server) `Listener` (gRFC A36, istiod's names) -> the
//! security of the workload serving at its address: the PeerAuthentication
//! mode its filter chains say, and the AuthorizationPolicies of its RBAC
//! filters (docs/xds-mapping.md, "Inbound listener").

use std::net::SocketAddr;

use envoy_types::pb::envoy::config::core::v3::{address, socket_address::PortSpecifier};
use envoy_types::pb::envoy::config::listener::v3::{
    FilterChain, FilterChainMatch, Listener, filter,
};
use envoy_types::pb::envoy::config::route::v3::{RouteConfiguration, route};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as RbacFilter;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier, http_filter::ConfigType,
};
use mesh_authz::{Action, AuthorizationPolicy, MtlsMode, PeerAuthentication};
use prost::Name;

use super::error::{FieldError, invalid, missing, not_yet};
use super::names::inbound_address;
use super::proto::{filter_struct, string, unpack};
use super::rbac::rbac_filter;
use super::retry::MESH_METADATA;
use super::tls;
use crate::policy::DEFAULT_ROOT_NAMESPACE;

/// The name of the PeerAuthentication made up for a listener that names
/// none (one from another control plane) and is not PERMISSIVE.
pub(crate) const UNNAMED_PEER_AUTHENTICATION: &str = "xds-inbound";

/// What an inbound listener says of the workload's security.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InboundConfig {
    /// The server's address, from the listener's name.
    pub(crate) address: SocketAddr,
    /// The namespace whose policies apply mesh-wide.
    pub(crate) root_namespace: String,
    /// The mode the chains say, as a policy (none for the default,
    /// PERMISSIVE, when the listener names no policy).
    pub(crate) peer_authentication: Option<PeerAuthentication>,
    /// The DENY policies, then the ALLOW ones.
    pub(crate) authorization_policies: Vec<AuthorizationPolicy>,
}

/// Translates an inbound listener.
pub(crate) fn inbound(l: &Listener) -> Result<InboundConfig, FieldError> {
    let addr = inbound_address(&l.name).ok_or_else(|| {
        invalid(
            "name",
            "an inbound listener is named xds.istio.io/grpc/lds/inbound/<ip>:<port>",
        )
    })?;
    check_address(l, addr)?;
    let unsupported = [
        ("api_listener", l.api_listener.is_some()),
        ("default_filter_chain", l.default_filter_chain.is_some()),
        ("filter_chain_matcher", l.filter_chain_matcher.is_some()),
        ("listener_filters", !l.listener_filters.is_empty()),
        ("additional_addresses", !l.additional_addresses.is_empty()),
        (
            "use_original_dst",
            l.use_original_dst.is_some_and(|b| b.value),
        ),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(not_yet(*field, format!("{field} on an inbound listener")));
    }
    let mut chains = Vec::with_capacity(l.filter_chains.len());
    for (i, c) in l.filter_chains.iter().enumerate() {
        chains.push(chain(c).map_err(|e| e.within(&format!("filter_chains[{i}]")))?);
    }
    let mode = mode(&chains)?;
    let authorization_policies = chains[0].policies.clone();
    if let Some(i) = chains
        .iter()
        .position(|c| c.policies != authorization_policies)
    {
        return Err(invalid(
            format!("filter_chains[{i}]"),
            "its RBAC filters differ from filter_chains[0]'s",
        ));
    }
    let field = format!("metadata.filter_metadata[\"{MESH_METADATA}\"]");
    let meta = filter_struct(l.metadata.as_ref(), MESH_METADATA);
    let get = |key: &str| meta.map_or(Ok(None), |s| string(s, key, &field));
    let root_namespace = get("root_namespace")?
        .unwrap_or(DEFAULT_ROOT_NAMESPACE)
        .to_owned();
    let peer_authentication = match get("peer_authentication")? {
        Some(id) => {
            let (namespace, name) = id
                .split_once('/')
                .filter(|(ns, n)| !ns.is_empty() && !n.is_empty())
                .ok_or_else(|| {
                    invalid(
                        format!("{field}.peer_authentication"),
                        "expected <namespace>/<name>",
                    )
                })?;
            Some(peer_authentication(namespace, name, mode))
        }
        None if mode == MtlsMode::Permissive => None,
        None => Some(peer_authentication(
            &root_namespace,
            UNNAMED_PEER_AUTHENTICATION,
            mode,
        )),
    };
    Ok(InboundConfig {
        address: addr,
        root_namespace,
        peer_authentication,
        authorization_policies,
    })
}

fn peer_authentication(namespace: &str, name: &str, mode: MtlsMode) -> PeerAuthentication {
    PeerAuthentication {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        // The control plane chose the listener for this workload already.
        selector: None,
        mode: Some(mode),
    }
}

/// The listener's address must be the one in its name.
fn check_address(l: &Listener, addr: SocketAddr) -> Result<(), FieldError> {
    let a = l.address.as_ref().ok_or_else(|| missing("address"))?;
    let Some(address::Address::SocketAddress(sa)) = &a.address else {
        return Err(not_yet("address", "addresses other than socket_address"));
    };
    let port = match sa.port_specifier {
        Some(PortSpecifier::PortValue(p)) => p,
        _ => return Err(missing("address.socket_address.port_value")),
    };
    let same = sa
        .address
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip == addr.ip())
        && port == u32::from(addr.port());
    if !same {
        return Err(invalid(
            "address.socket_address",
            format!(
                "{}:{port} is not the address in the name ({addr})",
                sa.address
            ),
        ));
    }
    Ok(())
}

/// What connections a chain matches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Match {
    All,
    Tls,
    Plaintext,
}

/// One filter chain.
struct Chain {
    matches: Match,
    mutual_tls: bool,
    policies: Vec<AuthorizationPolicy>,
}

fn chain(c: &FilterChain) -> Result<Chain, FieldError> {
    let matches = match &c.filter_chain_match {
        None => Match::All,
        Some(m) => {
            let only_protocol = FilterChainMatch {
                transport_protocol: m.transport_protocol.clone(),
                ..Default::default()
            };
            if *m != only_protocol {
                return Err(not_yet(
                    "filter_chain_match",
                    "matching on anything but transport_protocol",
                ));
            }
            match m.transport_protocol.as_str() {
                "" => Match::All,
                "tls" => Match::Tls,
                "raw_buffer" => Match::Plaintext,
                other => {
                    return Err(not_yet(
                        "filter_chain_match.transport_protocol",
                        format!("{other:?} (only tls and raw_buffer)"),
                    ));
                }
            }
        }
    };
    let mutual_tls = match &c.transport_socket {
        Some(ts) => {
            tls::downstream(ts).map_err(|e| e.within("transport_socket"))?;
            true
        }
        None => false,
    };
    let [f] = c.filters.as_slice() else {
        return Err(not_yet(
            "filters",
            "anything but one http_connection_manager",
        ));
    };
    let any = match &f.config_type {
        Some(filter::ConfigType::TypedConfig(any)) => any,
        _ => return Err(missing("filters[0].typed_config")),
    };
    let hcm: HttpConnectionManager = unpack(any, "filters[0].typed_config")?;
    let policies = server_hcm(&hcm).map_err(|e| e.within("filters[0].typed_config"))?;
    Ok(Chain {
        matches,
        mutual_tls,
        policies,
    })
}

/// STRICT: one mutual TLS chain; DISABLE: one plaintext chain;
/// PERMISSIVE: a `tls` chain with mutual TLS and a `raw_buffer` one without.
fn mode(chains: &[Chain]) -> Result<MtlsMode, FieldError> {
    let shape: Vec<(Match, bool)> = chains.iter().map(|c| (c.matches, c.mutual_tls)).collect();
    match shape.as_slice() {
        [(Match::All, true)] => Ok(MtlsMode::Strict),
        [(Match::All, false)] => Ok(MtlsMode::Disable),
        [(Match::Tls, true), (Match::Plaintext, false)]
        | [(Match::Plaintext, false), (Match::Tls, true)] => Ok(MtlsMode::Permissive),
        [] => Err(missing("filter_chains")),
        _ => Err(not_yet(
            "filter_chains",
            format!(
                "these filter chains {shape:?} (only one mutual TLS chain (STRICT), one plaintext chain (DISABLE), or a tls chain with mutual TLS and a raw_buffer chain (PERMISSIVE))"
            ),
        )),
    }
}

/// A server's connection manager: a non-forwarding inline route config,
/// at most one DENY and one ALLOW RBAC filter, then the router.
fn server_hcm(hcm: &HttpConnectionManager) -> Result<Vec<AuthorizationPolicy>, FieldError> {
    match &hcm.route_specifier {
        Some(RouteSpecifier::RouteConfig(rc)) => {
            non_forwarding(rc).map_err(|e| e.within("route_config"))?
        }
        Some(_) => {
            return Err(not_yet(
                "route_specifier",
                "rds on an inbound listener (only an inline route_config)",
            ));
        }
        None => return Err(missing("route_specifier")),
    }
    let last = hcm.http_filters.len().checked_sub(1);
    let (mut deny, mut allow) = (None, None);
    let mut router = false;
    for (i, f) in hcm.http_filters.iter().enumerate() {
        let field = format!("http_filters[{i}]");
        if f.disabled {
            continue;
        }
        let any = match &f.config_type {
            Some(ConfigType::TypedConfig(any)) => any,
            _ if f.is_optional => continue,
            _ => {
                return Err(not_yet(
                    field,
                    format!("http filter {:?} without typed_config", f.name),
                ));
            }
        };
        let typed = format!("{field}.typed_config");
        if any.type_url == Router::type_url() {
            unpack::<Router>(any, &typed)?;
            if Some(i) != last {
                return Err(invalid(field, "the router must be the last http filter"));
            }
            router = true;
        } else if any.type_url == RbacFilter::type_url() {
            let rbac: RbacFilter = unpack(any, &typed)?;
            let (action, policies) = rbac_filter(&rbac).map_err(|e| e.within(&typed))?;
            let slot = match action {
                Action::Deny => &mut deny,
                Action::Allow => &mut allow,
            };
            if slot.replace(policies).is_some() {
                return Err(not_yet(field, format!("a second {action} RBAC filter")));
            }
        } else if !f.is_optional {
            return Err(not_yet(
                field,
                format!(
                    "http filter {:?} ({}) on an inbound listener",
                    f.name, any.type_url
                ),
            ));
        }
    }
    if !router {
        return Err(invalid(
            "http_filters",
            "the last filter must be envoy.filters.http.router",
        ));
    }
    Ok(deny.into_iter().chain(allow).flatten().collect())
}

/// Every route sends requests to the server itself.
fn non_forwarding(rc: &RouteConfiguration) -> Result<(), FieldError> {
    if rc.virtual_hosts.is_empty() {
        return Err(missing("virtual_hosts"));
    }
    for (i, vh) in rc.virtual_hosts.iter().enumerate() {
        if vh.routes.is_empty() {
            return Err(missing(format!("virtual_hosts[{i}].routes")));
        }
        for (j, r) in vh.routes.iter().enumerate() {
            if !matches!(r.action, Some(route::Action::NonForwardingAction(_))) {
                return Err(not_yet(
                    format!("virtual_hosts[{i}].routes[{j}].action"),
                    "forwarding from an inbound listener (only non_forwarding_action)",
                ));
            }
        }
    }
    Ok(())
}
