//! Inbound (server) listeners (gRFC A36, istiod's names): one per address
//! a server listens on, named `xds.istio.io/grpc/lds/inbound/<ip>:<port>`,
//! carrying the workload's PeerAuthentication mode in its filter chains and
//! its AuthorizationPolicies as RBAC filters (docs/xds-mapping.md, "Inbound
//! listener").

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::{
    Address, Metadata, SocketAddress, address, socket_address::PortSpecifier,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, filter,
};
use envoy_types::pb::envoy::config::route::v3::{
    NonForwardingAction, Route, RouteConfiguration, RouteMatch, VirtualHost, route::Action,
    route_match::PathSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager::RouteSpecifier,
    http_filter::ConfigType,
};
use envoy_types::pb::google::protobuf::Struct;
use envoy_types::util::pack_any;
use mesh_authz::{Labels, MtlsMode, Workload, effective_mtls};
use mesh_core::policy::Policy;

use super::listener::ROUTER_FILTER;
use super::proto::string_value;
use super::route::MESH_METADATA;
use super::{Options, rbac, tls};

/// What every inbound listener's name starts with (istiod's template,
/// followed by `<ip>:<port>`, `[<ipv6>]:<port>` for IPv6).
pub const INBOUND_PREFIX: &str = "xds.istio.io/grpc/lds/inbound/";
/// The namespace of every workload: the policy model has no namespace for
/// an endpoint, so a workload is taken to live in `default`.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The HTTP connection manager's network filter name.
pub const HCM_FILTER: &str = "envoy.filters.network.http_connection_manager";
/// The `mesh.rs` metadata key naming the root namespace.
pub const ROOT_NAMESPACE_KEY: &str = "root_namespace";
/// The `mesh.rs` metadata key naming the PeerAuthentication (`ns/name`)
/// that decided the mode.
pub const PEER_AUTHENTICATION_KEY: &str = "peer_authentication";

/// The inbound listener name of a server address.
pub fn name(addr: SocketAddr) -> String {
    format!("{INBOUND_PREFIX}{addr}")
}

/// The server address of an inbound listener name, if it is one.
pub fn address_of(name: &str) -> Option<SocketAddr> {
    name.strip_prefix(INBOUND_PREFIX)?.parse().ok()
}

/// The workload of an address no endpoint has: no labels, in
/// [`DEFAULT_NAMESPACE`], so namespace- and mesh-wide policies still reach
/// it.
pub fn nobody() -> Workload {
    Workload {
        namespace: DEFAULT_NAMESPACE.to_owned(),
        labels: Labels::new(),
    }
}

/// The workload serving at `addr`: the labels of every endpoint of every
/// service at that address (the first value wins where two disagree), in
/// [`DEFAULT_NAMESPACE`]; [`nobody`] for an address no endpoint has.
pub fn workload(policy: &Policy, addr: SocketAddr) -> Workload {
    workloads(policy).remove(&addr).unwrap_or_else(nobody)
}

/// Every endpoint address's workload (see [`workload`]), in one pass.
fn workloads(policy: &Policy) -> BTreeMap<SocketAddr, Workload> {
    let mut out: BTreeMap<SocketAddr, Workload> = BTreeMap::new();
    for e in policy.services().flat_map(|s| &s.endpoints) {
        let w = out.entry(e.address).or_insert_with(nobody);
        for (k, v) in &e.labels {
            w.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    out
}

/// The inbound listener named `name`, or `None` when the name is not an
/// inbound listener name with an address.
pub fn for_name(policy: &Policy, name: &str, options: Options) -> Option<Listener> {
    let addr = address_of(name)?;
    Some(build(
        policy,
        name,
        Some(addr),
        &workload(policy, addr),
        options,
    ))
}

/// Every inbound listener of a policy, as one listener per distinct
/// workload and each endpoint address's workload.
///
/// A server's inbound listener depends on its workload alone, apart from
/// its name and address: a mesh of 1000 services of 10 endpoints each has
/// 10 000 addresses but often only 1000 workloads, and each is built once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inbound {
    /// One listener per workload, named [`INBOUND_PREFIX`] alone and with
    /// no address ([`for_address`] fills both in). [`nobody`]'s is always
    /// there, for the addresses no endpoint has.
    pub templates: BTreeMap<Arc<Workload>, Listener>,
    /// The workload of every endpoint address, a key of `templates`.
    pub addresses: BTreeMap<SocketAddr, Arc<Workload>>,
}

impl Inbound {
    /// The listener of the inbound listener name `name`: its address's
    /// workload's, or [`nobody`]'s for an address no endpoint has. `None`
    /// when `name` is not an inbound listener name with an address.
    pub fn listener(&self, name: &str) -> Option<Listener> {
        let addr = address_of(name)?;
        let template = match self.addresses.get(&addr) {
            Some(w) => self.templates.get(w),
            None => self.templates.get(&nobody()),
        }?;
        for_address(template, name)
    }
}

/// Every inbound listener of `policy` (see [`Inbound`]).
pub fn build_all(policy: &Policy, options: Options) -> Inbound {
    let mut out = Inbound::default();
    let mut build_once = |w: Workload| -> Arc<Workload> {
        if let Some((known, _)) = out.templates.get_key_value(&w) {
            return known.clone();
        }
        let l = build(policy, INBOUND_PREFIX, None, &w, options);
        let w = Arc::new(w);
        out.templates.insert(w.clone(), l);
        w
    };
    let addresses: Vec<_> = workloads(policy)
        .into_iter()
        .map(|(addr, w)| (addr, build_once(w)))
        .collect();
    build_once(nobody());
    out.addresses = addresses.into_iter().collect();
    out
}

/// A template (see [`Inbound::templates`]) as the listener of `name`.
pub fn for_address(template: &Listener, name: &str) -> Option<Listener> {
    let addr = address_of(name)?;
    let mut l = template.clone();
    name.clone_into(&mut l.name);
    l.address = Some(socket_address(addr));
    Some(l)
}

/// The listener of `workload` at `addr`. With security off every chain is
/// plaintext (no workload has a certificate), whatever PeerAuthentication
/// says; the RBAC filters are there either way.
pub fn build(
    policy: &Policy,
    name: &str,
    addr: Option<SocketAddr>,
    workload: &Workload,
    options: Options,
) -> Listener {
    let security = policy.security();
    let root = &security.root_namespace;
    let (mode, decided_by) = if options.security {
        effective_mtls(&security.peer_authentications, workload, root)
    } else {
        (MtlsMode::Disable, None)
    };
    let applicable: Vec<_> = security
        .authorization_policies
        .iter()
        .filter(|p| p.applies_to(workload, root))
        .collect();
    let hcm = hcm(rbac::filters(&applicable));
    let chains = match mode {
        MtlsMode::Strict => vec![chain("inbound-mtls", None, true, &hcm)],
        MtlsMode::Permissive => vec![
            chain("inbound-mtls", Some("tls"), true, &hcm),
            chain("inbound-plaintext", Some("raw_buffer"), false, &hcm),
        ],
        MtlsMode::Disable => vec![chain("inbound-plaintext", None, false, &hcm)],
    };
    let mut fields = vec![(ROOT_NAMESPACE_KEY.to_owned(), string_value(root))];
    if let Some(id) = decided_by {
        fields.push((PEER_AUTHENTICATION_KEY.to_owned(), string_value(&id)));
    }
    Listener {
        name: name.to_owned(),
        address: addr.map(socket_address),
        filter_chains: chains,
        metadata: Some(Metadata {
            filter_metadata: [(
                MESH_METADATA.to_owned(),
                Struct {
                    fields: fields.into_iter().collect(),
                },
            )]
            .into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn socket_address(addr: SocketAddr) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: addr.ip().to_string(),
            port_specifier: Some(PortSpecifier::PortValue(u32::from(addr.port()))),
            ..Default::default()
        })),
    }
}

fn chain(
    name: &str,
    transport_protocol: Option<&str>,
    tls: bool,
    hcm: &HttpConnectionManager,
) -> FilterChain {
    FilterChain {
        name: name.to_owned(),
        filter_chain_match: transport_protocol.map(|p| FilterChainMatch {
            transport_protocol: p.to_owned(),
            ..Default::default()
        }),
        filters: vec![Filter {
            name: HCM_FILTER.to_owned(),
            config_type: Some(filter::ConfigType::TypedConfig(pack_any(hcm.clone()))),
        }],
        transport_socket: tls.then(tls::downstream),
        ..Default::default()
    }
}

/// The server's HTTP connection manager: every request goes to the server
/// itself (a non-forwarding route, as gRFC A36 requires), through the RBAC
/// filters, then the router.
fn hcm(mut http_filters: Vec<HttpFilter>) -> HttpConnectionManager {
    http_filters.push(HttpFilter {
        name: ROUTER_FILTER.to_owned(),
        config_type: Some(ConfigType::TypedConfig(pack_any(Router::default()))),
        ..Default::default()
    });
    let route = Route {
        r#match: Some(RouteMatch {
            path_specifier: Some(PathSpecifier::Prefix("/".to_owned())),
            ..Default::default()
        }),
        action: Some(Action::NonForwardingAction(NonForwardingAction {})),
        ..Default::default()
    };
    HttpConnectionManager {
        stat_prefix: "inbound".to_owned(),
        route_specifier: Some(RouteSpecifier::RouteConfig(RouteConfiguration {
            name: "inbound".to_owned(),
            virtual_hosts: vec![VirtualHost {
                name: "inbound".to_owned(),
                domains: vec!["*".to_owned()],
                routes: vec![route],
                ..Default::default()
            }],
            ..Default::default()
        })),
        http_filters,
        ..Default::default()
    }
}
