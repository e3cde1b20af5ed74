//! The order of Istio's decision: DENY, then "no ALLOW applies", then ALLOW.

mod common;

use common::*;
use mesh_authz::{Action, Decision, Labels, Rule};

#[test]
fn no_policy_allows() {
    let authz = authorizer(&[]);
    assert!(authz.is_empty());
    assert_eq!(Req::path("/anything").check(&authz), Decision::Allow);
}

#[test]
fn allow_only() {
    let authz = authorizer(&[allow("allow-get", vec![paths(&["/public/*"])])]);
    assert_eq!(Req::path("/public/a").check(&authz), Decision::Allow);
    let decision = Req::path("/private").check(&authz);
    assert_eq!(decision, no_allow("default/allow-get"));
    assert_eq!(
        decision.to_string(),
        "no ALLOW policy matched (applicable: default/allow-get)"
    );
    assert!(!decision.is_allowed());
}

#[test]
fn a_denial_names_every_applicable_allow_policy() {
    let authz = authorizer(&[
        allow("b", vec![paths(&["/b"])]),
        allow("a", vec![paths(&["/a"])]),
    ]);
    assert_eq!(Req::path("/a").check(&authz), Decision::Allow);
    assert_eq!(Req::path("/b").check(&authz), Decision::Allow);
    assert_eq!(
        Req::path("/c").check(&authz).to_string(),
        "no ALLOW policy matched (applicable: default/a, default/b)"
    );
}

#[test]
fn deny_only() {
    let authz = authorizer(&[deny("deny-admin", vec![paths(&["/admin"])])]);
    let decision = Req::path("/admin").check(&authz);
    assert_eq!(decision, denied_by("default/deny-admin"));
    assert_eq!(
        decision.to_string(),
        "denied by AuthorizationPolicy default/deny-admin"
    );
    assert_eq!(Req::path("/users").check(&authz), Decision::Allow);
}

#[test]
fn deny_wins_over_allow() {
    let authz = authorizer(&[
        allow("allow-all", vec![Rule::default()]),
        deny("deny-admin", vec![paths(&["/admin"])]),
    ]);
    assert_eq!(
        Req::path("/admin").check(&authz),
        denied_by("default/deny-admin")
    );
    assert_eq!(Req::path("/users").check(&authz), Decision::Allow);

    let authz = authorizer(&[
        allow("allow-users", vec![paths(&["/users"])]),
        deny("deny-admin", vec![paths(&["/admin"])]),
    ]);
    assert_eq!(Req::path("/users").check(&authz), Decision::Allow);
    assert_eq!(
        Req::path("/admin").check(&authz),
        denied_by("default/deny-admin")
    );
    assert_eq!(
        Req::path("/other").check(&authz),
        no_allow("default/allow-users")
    );
}

#[test]
fn the_first_deny_policy_by_name_is_named() {
    let authz = authorizer(&[
        deny("z", vec![Rule::default()]),
        deny("m", vec![Rule::default()]),
    ]);
    assert_eq!(Req::default().check(&authz), denied_by("default/m"));
}

#[test]
fn allow_without_rules_denies_everything() {
    let authz = authorizer(&[allow("lockdown", vec![])]);
    for path in ["/", "/a", "/admin"] {
        assert_eq!(Req::path(path).check(&authz), no_allow("default/lockdown"));
    }
    // Even next to a DENY policy without rules.
    let authz = authorizer(&[allow("lockdown", vec![]), deny("nothing", vec![])]);
    assert_eq!(Req::default().check(&authz), no_allow("default/lockdown"));
}

#[test]
fn deny_without_rules_denies_nothing() {
    let authz = authorizer(&[deny("nothing", vec![])]);
    assert!(!authz.is_empty());
    assert_eq!(Req::path("/admin").check(&authz), Decision::Allow);
}

#[test]
fn an_empty_rule_matches_everything() {
    let authz = authorizer(&[deny("all", vec![Rule::default()])]);
    let plaintext = Req {
        principal: None,
        ..Req::default()
    };
    for req in [Req::default(), Req::path("/x"), plaintext] {
        assert_eq!(req.check(&authz), denied_by("default/all"));
    }
    let authz = authorizer(&[allow("all", vec![Rule::default()])]);
    assert_eq!(Req::path("/x").check(&authz), Decision::Allow);
}

#[test]
fn a_policy_matches_if_any_rule_does() {
    let authz = authorizer(&[allow("two", vec![paths(&["/a"]), paths(&["/b"])])]);
    assert_eq!(Req::path("/a").check(&authz), Decision::Allow);
    assert_eq!(Req::path("/b").check(&authz), Decision::Allow);
    assert!(!Req::path("/c").check(&authz).is_allowed());
}

#[test]
fn only_applicable_policies_count() {
    let mut elsewhere = deny("elsewhere", vec![Rule::default()]);
    elsewhere.namespace = "other".into();
    let mut not_us = deny("not-us", vec![Rule::default()]);
    not_us.selector = Some(Labels::from([("app".into(), "web".into())]));
    let mut mesh_wide = allow("mesh-get", vec![paths(&["/ok"])]);
    mesh_wide.namespace = ROOT.into();
    let mut selected = deny("selected", vec![paths(&["/admin"])]);
    selected.selector = Some(Labels::from([("app".into(), "api".into())]));

    let authz = authorizer(&[elsewhere, not_us, mesh_wide, selected]);
    assert_eq!(
        authz.applicable().collect::<Vec<_>>(),
        [
            (Action::Deny, "default/selected"),
            (Action::Allow, "istio-system/mesh-get")
        ]
    );
    assert_eq!(Req::path("/ok").check(&authz), Decision::Allow);
    assert_eq!(
        Req::path("/admin").check(&authz),
        denied_by("default/selected")
    );
    assert_eq!(
        Req::path("/x").check(&authz),
        no_allow("istio-system/mesh-get")
    );
}
