//! The security mapping (docs/xds-mapping.md, "Cluster TLS", "Inbound
//! listener", "Authorization"), checked field by field.

use std::collections::BTreeSet;

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::{address, socket_address::PortSpecifier};
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener, filter};
use envoy_types::pb::envoy::config::route::v3::route::Action as RouteAction;
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as RbacFilter;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier, http_filter::ConfigType,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    DownstreamTlsContext, UpstreamTlsContext, common_tls_context::ValidationContextType,
};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use envoy_types::pb::google::protobuf::{Any, value::Kind};
use http::HeaderName;
use mesh_authz::{
    Action, AuthorizationPolicy, Condition, ConditionKey, MtlsMode, Operation, PeerAuthentication,
    Rule, Source, StringMatch,
};
use mesh_core::policy::{Endpoint, Policy, Service, UpstreamTls};
use prost::Message;

use super::*;
use crate::snapshot::{Interest, Snapshot};

pub(super) const ON: Options = Options { security: true };
const ATTENDEES_ID: &str = "spiffe://cluster.local/ns/default/sa/attendees";
const ATTENDEES_ADDR: &str = "10.0.0.1:50061";

pub(super) fn m(s: &str) -> StringMatch {
    StringMatch::parse(s).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> Option<mesh_authz::Labels> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// DENY `/debug/*` to the attendees workload.
pub(super) fn deny_debug() -> AuthorizationPolicy {
    AuthorizationPolicy {
        name: "deny-debug".into(),
        namespace: "default".into(),
        selector: labels(&[("app", "attendees")]),
        action: Action::Deny,
        rules: vec![Rule {
            to: vec![Operation {
                paths: vec![m("/debug/*")],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Mesh-wide ALLOW with every kind of field, and a match-all rule.
pub(super) fn allow_web() -> AuthorizationPolicy {
    AuthorizationPolicy {
        name: "allow-web".into(),
        namespace: "istio-system".into(),
        selector: None,
        action: Action::Allow,
        rules: vec![
            Rule {
                from: vec![
                    Source {
                        principals: vec![m("cluster.local/ns/default/sa/web"), m("*")],
                        not_principals: vec![m("*/sa/bad")],
                        namespaces: vec![m("shop"), m("team-*")],
                        not_namespaces: vec![m("*-test")],
                    },
                    Source::default(),
                ],
                to: vec![Operation {
                    hosts: vec![m("attendees*")],
                    not_hosts: vec![m("*.evil")],
                    methods: vec![m("POST")],
                    not_methods: vec![m("GET")],
                    paths: vec![m("/conference.Attendees/*")],
                    not_paths: vec![m("/conference.Attendees/Delete")],
                    ports: vec![50061],
                    not_ports: vec![9000],
                }],
                when: vec![
                    Condition {
                        key: ConditionKey::RequestHeader(HeaderName::from_static("x-user")),
                        values: vec![m("alice"), m("*")],
                        not_values: vec![m("mallory")],
                    },
                    Condition {
                        key: ConditionKey::DestinationPort,
                        values: vec![m("50061")],
                        not_values: vec![],
                    },
                    Condition {
                        key: ConditionKey::SourcePrincipal,
                        values: vec![m("cluster.local/*")],
                        not_values: vec![],
                    },
                    Condition {
                        key: ConditionKey::SourceNamespace,
                        values: vec![],
                        not_values: vec![m("kube-system")],
                    },
                ],
            },
            Rule::default(),
        ],
    }
}

/// Policies that do not apply to the attendees workload.
pub(super) fn not_for_attendees() -> Vec<AuthorizationPolicy> {
    vec![
        AuthorizationPolicy {
            name: "lock-sessions".into(),
            namespace: "default".into(),
            selector: labels(&[("app", "sessions")]),
            action: Action::Allow,
            rules: vec![],
        },
        AuthorizationPolicy {
            name: "other-namespace".into(),
            namespace: "shop".into(),
            selector: None,
            action: Action::Deny,
            rules: vec![],
        },
    ]
}

/// Three services (mutual with an identity, auto, disabled), one policy
/// of each kind, and `mode` mesh-wide.
pub(super) fn policy(mode: Option<MtlsMode>) -> Policy {
    let attendees = Service::new("attendees")
        .port(50051, Some("grpc"))
        .endpoint(
            Endpoint::new(ATTENDEES_ADDR.parse().unwrap())
                .label("app", "attendees")
                .label("version", "v1"),
        )
        .subset("v1", [("version", "v1")])
        .tls(UpstreamTls::mutual([ATTENDEES_ID.parse().unwrap()]));
    let sessions = Service::new("sessions")
        .endpoint(Endpoint::new("10.0.0.2:50062".parse().unwrap()).label("app", "sessions"));
    let legacy = Service::new("legacy").tls(UpstreamTls::disabled());
    let mut b = Policy::builder()
        .service(attendees)
        .service(sessions)
        .service(legacy)
        .authorization_policy(deny_debug())
        .authorization_policy(allow_web());
    for p in not_for_attendees() {
        b = b.authorization_policy(p);
    }
    if let Some(mode) = mode {
        b = b.peer_authentication(PeerAuthentication {
            name: "default".into(),
            namespace: "istio-system".into(),
            selector: None,
            mode: Some(mode),
        });
    }
    b.build().unwrap()
}

pub(super) fn decode<M: Message + Default>(any: &Any) -> M {
    M::decode(any.value.as_slice()).unwrap()
}

fn upstream(c: &Cluster) -> UpstreamTlsContext {
    let ts = c.transport_socket.as_ref().unwrap();
    assert_eq!(ts.name, "envoy.transport_sockets.tls");
    let Some(envoy_types::pb::envoy::config::core::v3::transport_socket::ConfigType::TypedConfig(
        any,
    )) = &ts.config_type
    else {
        panic!("no typed config")
    };
    assert_eq!(
        any.type_url,
        "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
    );
    decode(any)
}

fn tls_mode(c: &Cluster) -> Option<String> {
    let meta = c.metadata.as_ref()?;
    match &meta.filter_metadata["mesh.rs"].fields["tls_mode"].kind {
        Some(Kind::StringValue(s)) => Some(s.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
#[allow(deprecated)]
fn clusters_carry_mutual_tls_from_the_default_provider_when_security_is_on() {
    let r = Resources::build_with(&policy(None), ON);
    for name in ["outbound|50051||attendees", "outbound|50051|v1|attendees"] {
        let c = &r.clusters[name];
        let ctx = upstream(c);
        let common = ctx.common_tls_context.unwrap();
        let cert = common.tls_certificate_provider_instance.unwrap();
        assert_eq!(cert.instance_name, "default");
        let Some(ValidationContextType::CombinedValidationContext(combined)) =
            common.validation_context_type
        else {
            panic!("no combined validation context")
        };
        let roots = combined
            .validation_context_certificate_provider_instance
            .unwrap();
        assert_eq!(roots.instance_name, "default");
        let sans = combined
            .default_validation_context
            .unwrap()
            .match_subject_alt_names;
        assert_eq!(sans.len(), 1);
        assert_eq!(
            sans[0].match_pattern,
            Some(MatchPattern::Exact(ATTENDEES_ID.into()))
        );
        assert_eq!(tls_mode(c), None, "mutual needs no metadata");
    }
    // Auto: the same TLS settings, and the mode in our metadata.
    let sessions = &r.clusters["outbound|80||sessions"];
    let auto = upstream(sessions).common_tls_context.unwrap();
    assert!(auto.tls_certificate_provider_instance.is_some());
    assert_eq!(tls_mode(sessions).as_deref(), Some("AUTO"));
    let legacy = &r.clusters["outbound|80||legacy"];
    assert!(legacy.transport_socket.is_none());
    assert_eq!(tls_mode(legacy).as_deref(), Some("DISABLE"));
}

#[test]
fn security_off_sends_plaintext_clusters_as_before() {
    let p = policy(Some(MtlsMode::Strict));
    let r = Resources::build(&p);
    assert!(r.clusters.values().all(|c| c.transport_socket.is_none()));
    assert_eq!(tls_mode(&r.clusters["outbound|50051||attendees"]), None);
    assert_eq!(tls_mode(&r.clusters["outbound|80||sessions"]), None);
    // DISABLE is DISABLE either way.
    assert_eq!(
        tls_mode(&r.clusters["outbound|80||legacy"]).as_deref(),
        Some("DISABLE")
    );
    // Inbound listeners are plaintext, with their RBAC filters.
    let l = inbound::for_name(
        &p,
        &inbound::name(ATTENDEES_ADDR.parse().unwrap()),
        Options::default(),
    )
    .unwrap();
    assert_eq!(l.filter_chains.len(), 1);
    assert!(l.filter_chains[0].transport_socket.is_none());
    assert_eq!(filter_names(&l.filter_chains[0]).len(), 3);
}

pub(super) fn inbound_listener(mode: Option<MtlsMode>) -> Listener {
    let name = inbound::name(ATTENDEES_ADDR.parse().unwrap());
    inbound::for_name(&policy(mode), &name, ON).unwrap()
}

fn chain_hcm(c: &FilterChain) -> HttpConnectionManager {
    let Some(filter::ConfigType::TypedConfig(any)) = &c.filters[0].config_type else {
        panic!("no typed config")
    };
    decode(any)
}

fn filter_names(c: &FilterChain) -> Vec<String> {
    chain_hcm(c)
        .http_filters
        .into_iter()
        .map(|f| f.name)
        .collect()
}

fn downstream(c: &FilterChain) -> DownstreamTlsContext {
    let ts = c.transport_socket.as_ref().unwrap();
    let Some(envoy_types::pb::envoy::config::core::v3::transport_socket::ConfigType::TypedConfig(
        any,
    )) = &ts.config_type
    else {
        panic!("no typed config")
    };
    decode(any)
}

fn metadata(l: &Listener, key: &str) -> Option<String> {
    match &l.metadata.as_ref()?.filter_metadata["mesh.rs"]
        .fields
        .get(key)?
        .kind
    {
        Some(Kind::StringValue(s)) => Some(s.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_strict_inbound_listener_requires_client_certificates() {
    let l = inbound_listener(Some(MtlsMode::Strict));
    assert_eq!(l.name, "xds.istio.io/grpc/lds/inbound/10.0.0.1:50061");
    let Some(address::Address::SocketAddress(sa)) = &l.address.as_ref().unwrap().address else {
        panic!("no socket address")
    };
    assert_eq!(sa.address, "10.0.0.1");
    assert_eq!(sa.port_specifier, Some(PortSpecifier::PortValue(50061)));
    assert!(l.api_listener.is_none());
    let [chain] = l.filter_chains.as_slice() else {
        panic!("{:?}", l.filter_chains)
    };
    assert!(chain.filter_chain_match.is_none());
    let tls = downstream(chain);
    assert!(tls.require_client_certificate.unwrap().value);
    let common = tls.common_tls_context.unwrap();
    assert_eq!(
        common
            .tls_certificate_provider_instance
            .unwrap()
            .instance_name,
        "default"
    );
    assert_eq!(
        filter_names(chain),
        [
            "envoy.filters.http.rbac.DENY",
            "envoy.filters.http.rbac",
            "envoy.filters.http.router"
        ]
    );
    let hcm = chain_hcm(chain);
    let Some(RouteSpecifier::RouteConfig(rc)) = &hcm.route_specifier else {
        panic!("no inline route config")
    };
    let route = &rc.virtual_hosts[0].routes[0];
    assert!(matches!(
        route.action,
        Some(RouteAction::NonForwardingAction(_))
    ));
    assert_eq!(
        metadata(&l, "root_namespace").as_deref(),
        Some("istio-system")
    );
    assert_eq!(
        metadata(&l, "peer_authentication").as_deref(),
        Some("istio-system/default")
    );
}

#[test]
fn permissive_is_a_tls_chain_and_a_raw_buffer_chain_and_disable_is_plaintext() {
    let l = inbound_listener(Some(MtlsMode::Permissive));
    let shape: Vec<(String, bool)> = l
        .filter_chains
        .iter()
        .map(|c| {
            let m = c.filter_chain_match.as_ref().unwrap();
            (m.transport_protocol.clone(), c.transport_socket.is_some())
        })
        .collect();
    assert_eq!(
        shape,
        [("tls".to_owned(), true), ("raw_buffer".to_owned(), false)]
    );
    // No PeerAuthentication: PERMISSIVE, and no policy to name.
    let default = inbound_listener(None);
    assert_eq!(default.filter_chains.len(), 2);
    assert_eq!(metadata(&default, "peer_authentication"), None);

    let l = inbound_listener(Some(MtlsMode::Disable));
    let [chain] = l.filter_chains.as_slice() else {
        panic!("{:?}", l.filter_chains)
    };
    assert!(chain.filter_chain_match.is_none() && chain.transport_socket.is_none());
}

pub(super) fn rbac_of(l: &Listener, filter_name: &str) -> Option<RbacFilter> {
    let hcm = chain_hcm(&l.filter_chains[0]);
    let f = hcm.http_filters.iter().find(|f| f.name == filter_name)?;
    let Some(ConfigType::TypedConfig(any)) = &f.config_type else {
        panic!("no typed config")
    };
    Some(decode(any))
}

#[test]
fn the_snapshot_serves_inbound_listeners_by_name_only() {
    let p = std::sync::Arc::new(policy(Some(MtlsMode::Strict)));
    let snap = Snapshot::initial_with(ON).next(p.clone());
    let known = "xds.istio.io/grpc/lds/inbound/10.0.0.1:50061".to_owned();
    let unknown = "xds.istio.io/grpc/lds/inbound/10.9.9.9:7000".to_owned();
    let bare = inbound::INBOUND_PREFIX.to_owned();
    let items = snap.resolve(
        LISTENER_TYPE,
        &Interest {
            wildcard: false,
            names: [known.clone(), unknown.clone(), bare].into(),
        },
    );
    let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, [known.as_str(), unknown.as_str()]);
    // An address no endpoint has: mesh-wide policies, its own address.
    let l: Listener = decode(&items[1].any);
    assert_eq!(l.name, unknown);
    let Some(address::Address::SocketAddress(sa)) = &l.address.as_ref().unwrap().address else {
        panic!("no address")
    };
    assert_eq!(sa.address, "10.9.9.9");
    assert!(rbac_of(&l, "envoy.filters.http.rbac.DENY").is_none());
    assert!(rbac_of(&l, "envoy.filters.http.rbac").is_some());
    // Wildcard LDS is for clients: no inbound listeners in it.
    let all = snap.resolve(
        LISTENER_TYPE,
        &Interest {
            wildcard: true,
            names: BTreeSet::new(),
        },
    );
    assert!(
        all.iter()
            .all(|i| !i.name.starts_with(inbound::INBOUND_PREFIX))
    );
    // An unchanged policy keeps every version.
    let again = snap.next(p);
    let before: Vec<u64> = items.iter().map(|i| i.version).collect();
    let after: Vec<u64> = again
        .resolve(
            LISTENER_TYPE,
            &Interest {
                wildcard: false,
                names: [known, unknown].into(),
            },
        )
        .iter()
        .map(|i| i.version)
        .collect();
    assert_eq!(before, after);
}
