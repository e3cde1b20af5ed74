//! The authorization mapping (docs/xds-mapping.md, "Authorization"):
//! AuthorizationPolicies as RBAC filters, checked field by field.

use std::collections::BTreeSet;

use envoy_types::pb::envoy::config::rbac::v3::{
    Permission, Policy as RbacPolicy, Principal, permission, principal,
};
use envoy_types::pb::envoy::config::route::v3::header_matcher::HeaderMatchSpecifier;
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as RbacFilter;
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use mesh_authz::{Action, AuthorizationPolicy, Condition, ConditionKey, MtlsMode, Rule};

use super::mapping_security_tests::{
    ON, allow_web, decode, deny_debug, inbound_listener, m, not_for_attendees, policy, rbac_of,
};
use super::*;

fn keys(r: &RbacFilter) -> BTreeSet<String> {
    r.rules.as_ref().unwrap().policies.keys().cloned().collect()
}

#[test]
fn only_the_policies_that_apply_to_the_workload_are_sent_keyed_per_rule() {
    let l = inbound_listener(Some(MtlsMode::Strict));
    let deny = rbac_of(&l, "envoy.filters.http.rbac.DENY").unwrap();
    assert_eq!(deny.rules.as_ref().unwrap().action, 1, "DENY");
    assert_eq!(
        keys(&deny),
        ["default/deny-debug[rule-0]".to_owned()].into()
    );
    let allow = rbac_of(&l, "envoy.filters.http.rbac").unwrap();
    assert_eq!(allow.rules.as_ref().unwrap().action, 0, "ALLOW");
    assert_eq!(
        keys(&allow),
        [
            "istio-system/allow-web[rule-0]".to_owned(),
            "istio-system/allow-web[rule-1]".to_owned()
        ]
        .into()
    );
    // The sessions workload gets its ALLOW-nothing policy and the
    // mesh-wide one; no DENY filter at all.
    let sessions = inbound::for_name(
        &policy(None),
        "xds.istio.io/grpc/lds/inbound/10.0.0.2:50062",
        ON,
    )
    .unwrap();
    assert!(rbac_of(&sessions, "envoy.filters.http.rbac.DENY").is_none());
    let allow = rbac_of(&sessions, "envoy.filters.http.rbac").unwrap();
    assert!(keys(&allow).contains("default/lock-sessions"));
}

fn and_ids(p: &principal::Identifier) -> &[Principal] {
    match p {
        principal::Identifier::AndIds(s) => &s.ids,
        other => panic!("not and_ids: {other:?}"),
    }
}

fn or_ids(p: &principal::Identifier) -> &[Principal] {
    match p {
        principal::Identifier::OrIds(s) => &s.ids,
        other => panic!("not or_ids: {other:?}"),
    }
}

fn name_pattern(p: &Principal) -> MatchPattern {
    match p.identifier.as_ref().unwrap() {
        principal::Identifier::Authenticated(a) => {
            a.principal_name.clone().unwrap().match_pattern.unwrap()
        }
        other => panic!("not authenticated: {other:?}"),
    }
}

fn regex(p: &MatchPattern) -> &str {
    match p {
        MatchPattern::SafeRegex(r) => &r.regex,
        other => panic!("not a regex: {other:?}"),
    }
}

#[test]
fn sources_become_spiffe_principals_and_namespace_regexes() {
    let l = inbound_listener(Some(MtlsMode::Strict));
    let allow = rbac_of(&l, "envoy.filters.http.rbac").unwrap();
    let rule: &RbacPolicy =
        &allow.rules.as_ref().unwrap().policies["istio-system/allow-web[rule-0]"];
    let top = and_ids(rule.principals[0].identifier.as_ref().unwrap());
    // FROM, then the two source conditions.
    assert_eq!(top.len(), 3);
    let sources = or_ids(top[0].identifier.as_ref().unwrap());
    assert_eq!(sources.len(), 2);
    assert_eq!(
        sources[1].identifier,
        Some(principal::Identifier::Any(true)),
        "an empty source matches anyone"
    );
    let parts = and_ids(sources[0].identifier.as_ref().unwrap());
    assert_eq!(parts.len(), 4);
    let principals = or_ids(parts[0].identifier.as_ref().unwrap());
    assert_eq!(
        name_pattern(&principals[0]),
        MatchPattern::Exact("spiffe://cluster.local/ns/default/sa/web".into())
    );
    assert_eq!(regex(&name_pattern(&principals[1])), ".+");
    let Some(principal::Identifier::NotId(not)) = &parts[1].identifier else {
        panic!("not_principals are not_id")
    };
    let bad = or_ids(not.identifier.as_ref().unwrap());
    assert_eq!(
        name_pattern(&bad[0]),
        MatchPattern::Suffix("/sa/bad".into())
    );
    let namespaces = or_ids(parts[2].identifier.as_ref().unwrap());
    assert_eq!(
        regex(&name_pattern(&namespaces[0])),
        "spiffe://[^/]+/ns/shop/sa/[^/]+"
    );
    assert_eq!(
        regex(&name_pattern(&namespaces[1])),
        "spiffe://[^/]+/ns/team\\-[^/]*/sa/[^/]+"
    );
}

fn rules_of(p: &permission::Rule) -> &[Permission] {
    match p {
        permission::Rule::AndRules(s) | permission::Rule::OrRules(s) => &s.rules,
        other => panic!("not a set: {other:?}"),
    }
}

#[test]
fn operations_become_headers_paths_and_ports() {
    let l = inbound_listener(Some(MtlsMode::Strict));
    let allow = rbac_of(&l, "envoy.filters.http.rbac").unwrap();
    let rule = &allow.rules.as_ref().unwrap().policies["istio-system/allow-web[rule-0]"];
    let top = rules_of(rule.permissions[0].rule.as_ref().unwrap());
    // TO, then the two request conditions.
    assert_eq!(top.len(), 3);
    let ops = rules_of(top[0].rule.as_ref().unwrap());
    let parts = rules_of(ops[0].rule.as_ref().unwrap());
    assert_eq!(parts.len(), 8, "each list, each not_ list");
    let first = |p: &Permission| {
        let inner = match p.rule.as_ref().unwrap() {
            permission::Rule::NotRule(inner) => inner.as_ref().clone(),
            _ => p.clone(),
        };
        rules_of(inner.rule.as_ref().unwrap())[0]
            .rule
            .clone()
            .unwrap()
    };
    let permission::Rule::Header(host) = first(&parts[0]) else {
        panic!("hosts are :authority")
    };
    assert_eq!(host.name, ":authority");
    let Some(HeaderMatchSpecifier::StringMatch(sm)) = host.header_match_specifier else {
        panic!("no string match")
    };
    assert!(sm.ignore_case, "hosts ignore case");
    assert_eq!(
        sm.match_pattern,
        Some(MatchPattern::Prefix("attendees".into()))
    );
    assert!(matches!(parts[1].rule, Some(permission::Rule::NotRule(_))));
    let permission::Rule::Header(method) = first(&parts[2]) else {
        panic!("methods are :method")
    };
    assert_eq!(method.name, ":method");
    let permission::Rule::UrlPath(path) = first(&parts[4]) else {
        panic!("paths are url_path")
    };
    let Some(envoy_types::pb::envoy::r#type::matcher::v3::path_matcher::Rule::Path(sm)) = path.rule
    else {
        panic!("no path")
    };
    assert_eq!(
        sm.match_pattern,
        Some(MatchPattern::Prefix("/conference.Attendees/".into()))
    );
    assert_eq!(first(&parts[6]), permission::Rule::DestinationPort(50061));
    // `when request.headers[x-user]`: a header matcher; `*` is presence.
    let cond = rules_of(top[1].rule.as_ref().unwrap());
    let values = rules_of(cond[0].rule.as_ref().unwrap());
    let permission::Rule::Header(present) = values[1].rule.clone().unwrap() else {
        panic!("a header")
    };
    assert_eq!(present.name, "x-user");
    assert_eq!(
        present.header_match_specifier,
        Some(HeaderMatchSpecifier::PresentMatch(true))
    );
}

#[test]
fn a_policy_without_rules_is_one_entry_that_matches_nothing() {
    let lock = &not_for_attendees()[0];
    let rules = rbac::rules(Action::Allow, &[lock]);
    let p = &rules.policies["default/lock-sessions"];
    assert_eq!(rules.policies.len(), 1);
    let Some(principal::Identifier::NotId(any)) = &p.principals[0].identifier else {
        panic!("not_id")
    };
    assert_eq!(any.identifier, Some(principal::Identifier::Any(true)));
    let Some(permission::Rule::NotRule(any)) = &p.permissions[0].rule else {
        panic!("not_rule")
    };
    assert_eq!(any.rule, Some(permission::Rule::Any(true)));
}

#[test]
fn an_allow_rule_xds_cannot_express_is_left_out_and_a_deny_condition_dropped() {
    let odd_port = Condition {
        key: ConditionKey::DestinationPort,
        values: vec![m("80*")],
        not_values: vec![],
    };
    let rule = Rule {
        when: vec![odd_port],
        ..Default::default()
    };
    let mut p = AuthorizationPolicy {
        name: "odd".into(),
        namespace: "default".into(),
        selector: None,
        action: Action::Allow,
        rules: vec![rule],
    };
    // ALLOW: the rule goes, and the policy still denies everything.
    let allow = rbac::rules(Action::Allow, &[&p]);
    assert_eq!(allow.policies.keys().collect::<Vec<_>>(), ["default/odd"]);
    // DENY: the condition goes, so the rule denies more.
    p.action = Action::Deny;
    let deny = rbac::rules(Action::Deny, &[&p]);
    let r = &deny.policies["default/odd[rule-0]"];
    let top = rules_of(r.permissions[0].rule.as_ref().unwrap());
    assert_eq!(top.len(), 1, "only TO is left: {top:?}");
}

#[test]
fn rbac_filters_encode_the_same_every_time() {
    let policies = [deny_debug(), allow_web()];
    let refs: Vec<&AuthorizationPolicy> = policies.iter().collect();
    let packed = |action| rbac::pack(rbac::rules(action, &refs));
    for action in [Action::Allow, Action::Deny] {
        let first = packed(action);
        for _ in 0..20 {
            assert_eq!(packed(action), first);
        }
        let decoded: RbacFilter = decode(&first);
        assert_eq!(decoded.rules, Some(rbac::rules(action, &refs)));
    }
}
