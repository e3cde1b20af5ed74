//! The security model through xDS and back: the control plane's resources,
//! translated by the data plane's xDS client, give the same model (with
//! the normalizations docs/xds-mapping.md names).

use envoy_types::util::pack_any;
use mesh_authz::{AuthorizationPolicy, MtlsMode, effective_mtls};
use mesh_core::policy::{InboundSecurity, Policy, UpstreamTls, UpstreamTlsMode};
use mesh_core::xds::{Kind, Resources as Translated};

use super::mapping_security_tests::{allow_web, deny_debug, policy};
use super::*;

const SERVER: &str = "10.0.0.1:50061";

/// Every client resource, and the inbound listener of [`SERVER`].
fn through_xds(p: &Policy, options: Options) -> Policy {
    let r = Resources::build_with(p, options);
    let mut t = Translated::new();
    let server = inbound::name(SERVER.parse().unwrap());
    let inbound = r.inbound.listener(&server).unwrap();
    let listeners = r.listeners.values().chain([&inbound]);
    let insert = |t: &mut Translated, kind: Kind, any| {
        t.insert(kind, &any)
            .unwrap_or_else(|e| panic!("the data plane rejected what we send: {e}"));
    };
    for l in listeners {
        insert(&mut t, Kind::Listener, pack_any(l.clone()));
    }
    for rc in r.routes.values() {
        insert(&mut t, Kind::RouteConfig, pack_any(rc.clone()));
    }
    for c in r.clusters.values() {
        insert(&mut t, Kind::Cluster, pack_any(c.clone()));
    }
    for cla in r.endpoints.values() {
        insert(&mut t, Kind::Endpoints, pack_any(cla.clone()));
    }
    t.to_policy().unwrap()
}

/// What the data plane should hold for the server's workload: the
/// PeerAuthentication in force, and the applicable AuthorizationPolicies
/// (DENY, then ALLOW, each by `ns/name`) without selectors, since the
/// control plane already chose them for the workload.
fn expected(p: &Policy) -> InboundSecurity {
    let s = p.security();
    let workload = inbound::workload(p, SERVER.parse().unwrap());
    let (mode, mode_policy) = effective_mtls(&s.peer_authentications, &workload, &s.root_namespace);
    let mut authorization_policies: Vec<AuthorizationPolicy> = s
        .authorization_policies
        .iter()
        .filter(|a| a.applies_to(&workload, &s.root_namespace))
        .map(|a| AuthorizationPolicy {
            selector: None,
            ..a.clone()
        })
        .collect();
    authorization_policies.sort_by(|a, b| {
        let key = |p: &AuthorizationPolicy| {
            (
                p.action == mesh_authz::Action::Allow,
                p.namespace.clone(),
                p.name.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    InboundSecurity {
        mode,
        mode_policy,
        authorization_policies,
    }
}

/// What the data plane holds for [`SERVER`].
fn server(p: &Policy) -> &InboundSecurity {
    p.inbound(SERVER.parse().unwrap())
        .expect("the server's inbound security arrived")
}

#[test]
fn security_survives_the_round_trip_in_every_mode() {
    for mode in [
        None,
        Some(MtlsMode::Strict),
        Some(MtlsMode::Permissive),
        Some(MtlsMode::Disable),
    ] {
        let p = policy(mode);
        let back = through_xds(&p, Options { security: true });
        // The data plane decides as the control plane did.
        assert_eq!(*server(&back), expected(&p), "mode {mode:?}");
        assert_eq!(server(&back).mode, mode.unwrap_or(MtlsMode::Permissive));
    }
    // The fixtures hold every field and both kinds of action.
    let back = through_xds(&policy(None), Options { security: true });
    assert_eq!(
        server(&back).authorization_policies,
        [
            AuthorizationPolicy {
                selector: None,
                ..deny_debug()
            },
            allow_web()
        ]
    );
}

#[test]
fn allow_and_deny_without_rules_keep_their_meaning() {
    let nothing = |action| AuthorizationPolicy {
        name: "nothing".into(),
        namespace: "istio-system".into(),
        selector: None,
        action,
        rules: vec![],
    };
    for action in [mesh_authz::Action::Allow, mesh_authz::Action::Deny] {
        let p = Policy::builder()
            .service(
                mesh_core::policy::Service::new("a")
                    .endpoint(mesh_core::policy::Endpoint::new(SERVER.parse().unwrap())),
            )
            .authorization_policy(nothing(action))
            .build()
            .unwrap();
        let back = through_xds(&p, Options { security: true });
        assert_eq!(server(&back).authorization_policies, [nothing(action)]);
    }
}

#[test]
fn cluster_tls_survives_the_round_trip() {
    let p = policy(None);
    let tls = |p: &Policy, host: &str| p.service(host).unwrap().tls.clone();
    let on = through_xds(&p, Options { security: true });
    for host in ["attendees", "sessions", "legacy"] {
        assert_eq!(tls(&on, host), tls(&p, host), "{host}");
    }
    assert_eq!(tls(&on, "legacy"), UpstreamTls::disabled());
    // Security off: plaintext for all, DISABLE stays DISABLE.
    let off = through_xds(&p, Options::default());
    assert_eq!(tls(&off, "attendees"), UpstreamTls::default());
    assert_eq!(tls(&off, "attendees").mode, UpstreamTlsMode::Auto);
    assert_eq!(tls(&off, "legacy"), UpstreamTls::disabled());
}
