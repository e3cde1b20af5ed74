//! Header conditions, including repeated headers, which must not slip past
//! a rule: DENY policies read them generously, ALLOW policies strictly.

mod common;

use common::*;
use http::{HeaderName, HeaderValue};
use mesh_authz::{Action, Condition, ConditionKey, Decision, Rule};

fn header_rule(name: &str, values: &[&str], not_values: &[&str]) -> Rule {
    Rule {
        when: vec![Condition {
            key: ConditionKey::parse(&format!("request.headers[{name}]")).expect("a header key"),
            values: sm(values),
            not_values: sm(not_values),
        }],
        ..Rule::default()
    }
}

/// Whether a policy of `action` with `rule` matches a request carrying
/// each of `occurrences` as an `x-user` header, in order.
fn matches(action: Action, rule: &Rule, occurrences: &[&str]) -> bool {
    let req = occurrences
        .iter()
        .fold(Req::default(), |req, v| req.header("x-user", v));
    match action {
        Action::Deny => {
            let authz = authorizer(&[deny("p", vec![rule.clone()])]);
            !req.check(&authz).is_allowed()
        }
        Action::Allow => {
            let authz = authorizer(&[allow("p", vec![rule.clone()])]);
            req.check(&authz).is_allowed()
        }
    }
}

use Action::{Allow, Deny};

#[test]
fn names_are_case_insensitive() {
    let rule = header_rule("X-User", &["admin"], &[]);
    assert!(matches(Deny, &rule, &["admin"]));
    assert!(matches(Allow, &rule, &["admin"]));
}

#[test]
fn single_values_agree_for_both_actions() {
    let rule = header_rule("x-user", &["admin", "ops-*"], &["ops-intern"]);
    for (occurrence, expected) in [
        ("admin", true),
        ("ops-lead", true),
        ("ops-intern", false),
        ("Admin", false),
        ("bob", false),
        ("", false),
    ] {
        assert_eq!(
            matches(Deny, &rule, &[occurrence]),
            expected,
            "{occurrence}"
        );
        assert_eq!(
            matches(Allow, &rule, &[occurrence]),
            expected,
            "{occurrence}"
        );
    }
}

#[test]
fn an_absent_header_matches_no_values_and_every_not_values() {
    for action in [Deny, Allow] {
        assert!(!matches(
            action,
            &header_rule("x-user", &["admin"], &[]),
            &[]
        ));
        assert!(!matches(action, &header_rule("x-user", &["*"], &[]), &[]));
        assert!(matches(
            action,
            &header_rule("x-user", &[], &["admin"]),
            &[]
        ));
        assert!(matches(action, &header_rule("x-user", &[], &[]), &[]));
    }
}

#[test]
fn deny_values_match_if_any_occurrence_does() {
    let rule = header_rule("x-user", &["admin"], &[]);
    assert!(matches(Deny, &rule, &["admin", "bob"]));
    assert!(matches(Deny, &rule, &["bob", "admin"]));
    assert!(matches(Deny, &rule, &["bob", "eve", "admin"]));
    assert!(!matches(Deny, &rule, &["bob", "eve"]));
    // Envoy's reading: the occurrences joined with `,`.
    let joined = header_rule("x-user", &["bob,eve"], &[]);
    assert!(matches(Deny, &joined, &["bob", "eve"]));
}

#[test]
fn deny_not_values_match_if_any_occurrence_avoids_them() {
    // "Deny callers that do not present x-user: trusted".
    let rule = header_rule("x-user", &[], &["trusted"]);
    assert!(!matches(Deny, &rule, &["trusted"]));
    assert!(matches(Deny, &rule, &["trusted", "other"]));
    assert!(matches(Deny, &rule, &["other", "trusted"]));
    // Even identical repeats are ambiguous (`trusted,trusted` to Envoy).
    assert!(matches(Deny, &rule, &["trusted", "trusted"]));
    let prefix = header_rule("x-user", &[], &["trusted*"]);
    assert!(!matches(Deny, &prefix, &["trusted", "trusted"]));
}

#[test]
fn allow_values_match_only_if_every_occurrence_does() {
    let rule = header_rule("x-user", &["alice", "bob"], &[]);
    assert!(matches(Allow, &rule, &["alice"]));
    assert!(!matches(Allow, &rule, &["alice", "mallory"]));
    assert!(!matches(Allow, &rule, &["mallory", "alice"]));
    // The joined reading `alice,bob` matches neither pattern.
    assert!(!matches(Allow, &rule, &["alice", "bob"]));
    let prefix = header_rule("x-user", &["team-*"], &[]);
    assert!(matches(Allow, &prefix, &["team-a", "team-b"]));
    assert!(!matches(Allow, &prefix, &["team-a", "other"]));
}

#[test]
fn allow_not_values_must_be_avoided_by_every_occurrence() {
    let rule = header_rule("x-user", &[], &["blocked"]);
    assert!(matches(Allow, &rule, &["ok"]));
    assert!(matches(Allow, &rule, &["ok", "fine"]));
    assert!(!matches(Allow, &rule, &["ok", "blocked"]));
    assert!(!matches(Allow, &rule, &["blocked", "ok"]));
}

#[test]
fn presence_matches_any_occurrence() {
    let rule = header_rule("x-user", &["*"], &[]);
    for action in [Deny, Allow] {
        assert!(matches(action, &rule, &[""]));
        assert!(matches(action, &rule, &["a", "b"]));
    }
}

#[test]
fn non_utf8_values_compare_as_bytes() {
    let name = HeaderName::from_static("x-user");
    let mut req = Req::default();
    req.headers
        .append(name, HeaderValue::from_bytes(b"\xffadmin").unwrap());
    let authz = authorizer(&[deny("p", vec![header_rule("x-user", &["*admin"], &[])])]);
    assert_eq!(req.check(&authz), denied_by("default/p"));
    let authz = authorizer(&[allow("p", vec![header_rule("x-user", &["admin"], &[])])]);
    assert_eq!(req.check(&authz), no_allow("default/p"));
}

#[test]
fn a_repeated_header_cannot_dodge_deny_behind_allow() {
    // ALLOW everyone, DENY x-user: admin. Smuggling `admin` second does not help.
    let authz = authorizer(&[
        allow("all", vec![Rule::default()]),
        deny("no-admin", vec![header_rule("x-user", &["admin"], &[])]),
    ]);
    let req = Req::default()
        .header("x-user", "bob")
        .header("x-user", "admin");
    assert_eq!(req.check(&authz), denied_by("default/no-admin"));
    let req = Req::default().header("x-user", "bob");
    assert_eq!(req.check(&authz), Decision::Allow);
}
