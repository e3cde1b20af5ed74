//! Inbound listeners (gRFC A36) and their RBAC filters (A41): the
//! security they make, what is rejected, and a server's subscription.

use envoy_types::pb::envoy::config::core::v3::{
    Address, Metadata, SocketAddress, address, socket_address,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, filter,
};
use envoy_types::pb::envoy::config::rbac::v3::{
    Permission, Policy as RbacPolicy, Principal, Rbac as RbacRules, permission, principal,
};
use envoy_types::pb::envoy::config::route::v3::{
    NonForwardingAction, Route, RouteConfiguration, VirtualHost, route,
};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as RbacFilter;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager, http_filter,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    PathMatcher, StringMatcher, path_matcher, string_matcher::MatchPattern,
};
use envoy_types::pb::google::protobuf::{Any, BoolValue};
use envoy_types::util::pack_any;
use mesh_authz::{Action, AuthorizationPolicy, MtlsMode, Operation, Rule, Source, StringMatch};

use super::cluster_tls::{common, socket};
use super::fixtures::*;
use super::state::response;
use super::{Kind, holding, rejected};
use crate::xds::state::{State, TargetStatus};
use crate::xds::{INBOUND_LISTENER_PREFIX, inbound_listener_name};

const ADDR: &str = "10.0.0.1:50061";

fn addr() -> std::net::SocketAddr {
    ADDR.parse().unwrap()
}

fn name() -> String {
    inbound_listener_name(ADDR.parse().unwrap())
}

fn set_of_ids(ids: Vec<Principal>, and: bool) -> Principal {
    let set = principal::Set { ids };
    Principal {
        identifier: Some(if and {
            principal::Identifier::AndIds(set)
        } else {
            principal::Identifier::OrIds(set)
        }),
    }
}

fn set_of_rules(rules: Vec<Permission>, and: bool) -> Permission {
    let set = permission::Set { rules };
    Permission {
        rule: Some(if and {
            permission::Rule::AndRules(set)
        } else {
            permission::Rule::OrRules(set)
        }),
    }
}

fn spiffe(exact: &str) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::Authenticated(
            principal::Authenticated {
                principal_name: Some(StringMatcher {
                    match_pattern: Some(MatchPattern::Exact(exact.into())),
                    ignore_case: false,
                }),
            },
        )),
    }
}

fn path_prefix(p: &str) -> Permission {
    Permission {
        rule: Some(permission::Rule::UrlPath(PathMatcher {
            rule: Some(path_matcher::Rule::Path(StringMatcher {
                match_pattern: Some(MatchPattern::Prefix(p.into())),
                ignore_case: false,
            })),
        })),
    }
}

/// `from: [{principals: [<principal>]}], to: [{paths: [<prefix>*]}]`, as
/// the control plane writes it.
fn rule_proto(principal: Principal, path: &str) -> RbacPolicy {
    let from = set_of_ids(
        vec![set_of_ids(vec![set_of_ids(vec![principal], false)], true)],
        false,
    );
    let to = set_of_rules(
        vec![set_of_rules(
            vec![set_of_rules(vec![path_prefix(path)], false)],
            true,
        )],
        false,
    );
    RbacPolicy {
        principals: vec![set_of_ids(vec![from], true)],
        permissions: vec![set_of_rules(vec![to], true)],
        ..Default::default()
    }
}

fn rbac(action: i32, policies: Vec<(&str, RbacPolicy)>) -> HttpFilter {
    let config = RbacFilter {
        rules: Some(RbacRules {
            action,
            policies: policies
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    HttpFilter {
        name: "envoy.filters.http.rbac".into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(config))),
        ..Default::default()
    }
}

fn deny_debug() -> HttpFilter {
    rbac(
        1,
        vec![(
            "default/deny-debug[rule-0]",
            rule_proto(
                spiffe("spiffe://cluster.local/ns/default/sa/web"),
                "/debug/",
            ),
        )],
    )
}

fn hcm(mut filters: Vec<HttpFilter>, action: route::Action) -> Any {
    filters.push(router());
    pack_any(HttpConnectionManager {
        route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(
            RouteConfiguration {
                virtual_hosts: vec![VirtualHost {
                    domains: vec!["*".into()],
                    routes: vec![Route {
                        r#match: Some(prefix("/")),
                        action: Some(action),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        )),
        http_filters: filters,
        ..Default::default()
    })
}

fn non_forwarding() -> route::Action {
    route::Action::NonForwardingAction(NonForwardingAction {})
}

fn chain(protocol: Option<&str>, tls: Option<DownstreamTlsContext>, hcm: Any) -> FilterChain {
    FilterChain {
        filter_chain_match: protocol.map(|p| FilterChainMatch {
            transport_protocol: p.into(),
            ..Default::default()
        }),
        filters: vec![Filter {
            name: "envoy.filters.network.http_connection_manager".into(),
            config_type: Some(filter::ConfigType::TypedConfig(hcm)),
        }],
        transport_socket: tls.map(|t| socket(pack_any(t))),
        ..Default::default()
    }
}

fn mtls() -> DownstreamTlsContext {
    DownstreamTlsContext {
        common_tls_context: Some(common(vec![])),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    }
}

fn inbound(chains: Vec<FilterChain>, peer_authentication: Option<&str>) -> Listener {
    let mut meta = vec![("root_namespace", "istio-system")];
    meta.extend(peer_authentication.map(|p| ("peer_authentication", p)));
    Listener {
        name: name(),
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: "10.0.0.1".into(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(50061)),
                ..Default::default()
            })),
        }),
        filter_chains: chains,
        metadata: Some(Metadata {
            filter_metadata: [("mesh.rs".into(), string_struct(&meta))].into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn strict(filters: Vec<HttpFilter>) -> Listener {
    inbound(
        vec![chain(None, Some(mtls()), hcm(filters, non_forwarding()))],
        Some("istio-system/default"),
    )
}

fn expected_deny() -> AuthorizationPolicy {
    AuthorizationPolicy {
        name: "deny-debug".into(),
        namespace: "default".into(),
        selector: None,
        action: Action::Deny,
        rules: vec![Rule {
            from: vec![Source {
                principals: vec![StringMatch::Exact("cluster.local/ns/default/sa/web".into())],
                ..Default::default()
            }],
            to: vec![Operation {
                paths: vec![StringMatch::Prefix("/debug/".into())],
                ..Default::default()
            }],
            when: vec![],
        }],
    }
}

#[test]
fn a_strict_listener_becomes_the_workloads_security() {
    let nothing = rbac(
        0,
        vec![(
            "istio-system/lockdown",
            RbacPolicy {
                principals: vec![Principal {
                    identifier: Some(principal::Identifier::NotId(Box::new(Principal {
                        identifier: Some(principal::Identifier::Any(true)),
                    }))),
                }],
                permissions: vec![Permission {
                    rule: Some(permission::Rule::NotRule(Box::new(Permission {
                        rule: Some(permission::Rule::Any(true)),
                    }))),
                }],
                ..Default::default()
            },
        )],
    );
    let l = strict(vec![deny_debug(), nothing]);
    let p = holding(&[any(l)]).to_policy().unwrap();
    assert_eq!(**p.security(), Default::default(), "kept apart per server");
    let s = p.inbound(addr()).expect("the server's security");
    assert_eq!(s.mode, MtlsMode::Strict);
    assert_eq!(s.mode_policy.as_deref(), Some("istio-system/default"));
    let lockdown = AuthorizationPolicy {
        name: "lockdown".into(),
        namespace: "istio-system".into(),
        selector: None,
        action: Action::Allow,
        rules: vec![],
    };
    assert_eq!(s.authorization_policies, [expected_deny(), lockdown]);
}

#[test]
fn the_chains_say_the_mode() {
    let h = || hcm(vec![], non_forwarding());
    let permissive = inbound(
        vec![
            chain(Some("raw_buffer"), None, h()),
            chain(Some("tls"), Some(mtls()), h()),
        ],
        None,
    );
    let p = holding(&[any(permissive)]).to_policy().unwrap();
    let s = p.inbound(addr()).expect("the server's security");
    assert_eq!(
        (s.mode, s.mode_policy.as_deref()),
        (MtlsMode::Permissive, None),
        "the default"
    );
    // A plaintext chain naming no policy (another control plane's).
    let disable = inbound(vec![chain(None, None, h())], None);
    let p = holding(&[any(disable)]).to_policy().unwrap();
    let s = p.inbound(addr()).expect("the server's security");
    assert_eq!(
        (s.mode, s.mode_policy.as_deref()),
        (MtlsMode::Disable, Some("istio-system/xds-inbound"))
    );
    // No inbound listener: nothing for any server.
    let p = holding(&attendees("10.0.0.1:1", "10.0.0.2:1"))
        .to_policy()
        .unwrap();
    assert_eq!(p.inbound(addr()), None);
}

/// The error after `listener "<name>": `.
fn nacked(l: Listener) -> String {
    let err = rejected(Kind::Listener, any(l));
    let prefix = format!("listener {:?}: ", name());
    err.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{err}"))
        .to_owned()
}

const HCM: &str = "filter_chains[0].filters[0].typed_config";

#[test]
fn listener_level_errors_name_the_field() {
    let mut tls_only = mtls();
    tls_only.require_client_certificate = None;
    let h = || hcm(vec![], non_forwarding());
    assert_eq!(
        nacked(inbound(vec![chain(None, Some(tls_only), h())], None)),
        "filter_chains[0].transport_socket.typed_config.require_client_certificate: TLS without client certificates (only mutual TLS) is not supported yet"
    );
    assert_eq!(
        nacked(inbound(vec![chain(Some("http"), None, h())], None)),
        "filter_chains[0].filter_chain_match.transport_protocol: \"http\" (only tls and raw_buffer) is not supported yet"
    );
    let odd = nacked(inbound(vec![chain(Some("tls"), Some(mtls()), h())], None));
    assert!(
        odd.starts_with("filter_chains: these filter chains"),
        "{odd}"
    );
    let mut moved = strict(vec![]);
    moved.address = Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: "10.0.0.2".into(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(50061)),
            ..Default::default()
        })),
    });
    assert_eq!(
        nacked(moved),
        "address.socket_address: 10.0.0.2:50061 is not the address in the name (10.0.0.1:50061)"
    );
    let forwarding = route::Action::Route(to_cluster("outbound|80||x"));
    assert_eq!(
        nacked(inbound(
            vec![chain(None, Some(mtls()), hcm(vec![], forwarding))],
            None
        )),
        format!(
            "{HCM}.route_config.virtual_hosts[0].routes[0].action: forwarding from an inbound listener (only non_forwarding_action) is not supported yet"
        )
    );
    let differ = inbound(
        vec![
            chain(
                Some("tls"),
                Some(mtls()),
                hcm(vec![deny_debug()], non_forwarding()),
            ),
            chain(Some("raw_buffer"), None, h()),
        ],
        None,
    );
    assert_eq!(
        nacked(differ),
        "filter_chains[1]: its RBAC filters differ from filter_chains[0]'s"
    );
    let mut named = strict(vec![]);
    named.name = format!("{INBOUND_LISTENER_PREFIX}nowhere");
    let err = rejected(Kind::Listener, any(named));
    assert!(
        err.ends_with(
            "name: an inbound listener is named xds.istio.io/grpc/lds/inbound/<ip>:<port>"
        ),
        "{err}"
    );
}

#[test]
fn rbac_errors_name_the_policy_and_field() {
    let f = |i: usize| format!("{HCM}.http_filters[{i}].typed_config");
    assert_eq!(
        nacked(strict(vec![rbac(2, vec![])])),
        format!(
            "{}.rules.action: LOG (only ALLOW and DENY) is not supported yet",
            f(0)
        )
    );
    assert_eq!(
        nacked(strict(vec![rbac(0, vec![("oops", RbacPolicy::default())])])),
        format!(
            "{}.rules.policies[\"oops\"]: expected <namespace>/<name>[rule-<i>] or <namespace>/<name>",
            f(0)
        )
    );
    let bare = rule_proto(spiffe("cluster.local/ns/default/sa/web"), "/");
    assert_eq!(
        nacked(strict(vec![rbac(0, vec![("default/a[rule-0]", bare)])])),
        format!(
            "{}.rules.policies[\"default/a[rule-0]\"].principals[0].and_ids.ids[0].or_ids.ids[0].and_ids.ids[0].or_ids.ids[0].authenticated.principal_name: \"cluster.local/ns/default/sa/web\" does not start with spiffe://",
            f(0)
        )
    );
    let mut cel = rule_proto(spiffe("spiffe://a/ns/b/sa/c"), "/");
    cel.condition = Some(Default::default());
    assert_eq!(
        nacked(strict(vec![rbac(0, vec![("default/a[rule-0]", cel)])])),
        format!(
            "{}.rules.policies[\"default/a[rule-0]\"].condition: CEL conditions is not supported yet",
            f(0)
        )
    );
    assert_eq!(
        nacked(strict(vec![rbac(0, vec![]), rbac(0, vec![])])),
        format!("{HCM}.http_filters[1]: a second ALLOW RBAC filter is not supported yet")
    );
}

#[test]
fn a_server_watches_its_inbound_listener() {
    let mut s = State::new(Default::default());
    s.watch(&name());
    let (reqs, _) = s.requests();
    assert_eq!(reqs[0].resource_names, [name()]);
    assert_eq!(s.statuses()[&name()], TargetStatus::Pending);
    let h = s.handle(response(
        Kind::Listener,
        "1",
        "a",
        vec![any(strict(vec![deny_debug()]))],
    ));
    assert!(h.changed);
    assert_eq!(h.requests.len(), 1, "an ACK, and nothing further to fetch");
    assert_eq!(s.statuses()[&name()], TargetStatus::Ready);
    let p = s.resources.to_policy().unwrap();
    assert_eq!(
        p.inbound(addr())
            .expect("the server's security")
            .authorization_policies,
        [expected_deny()]
    );
}
