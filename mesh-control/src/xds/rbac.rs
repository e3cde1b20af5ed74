//! Istio `AuthorizationPolicy`s as `envoy.config.rbac.v3.RBAC` (gRFC A41),
//! in the one shape our data plane reads back (docs/xds-mapping.md,
//! "Authorization").
//!
//! One RBAC policy per rule, keyed `<ns>/<name>[rule-<i>]`, with exactly
//! one principal `and_ids [FROM, source conditions...]` and one permission
//! `and_rules [TO, request conditions...]`. A policy with no rules is one
//! entry keyed `<ns>/<name>` that matches nothing: in the ALLOW filter it
//! still denies every request, in the DENY filter it denies none, and its
//! name survives.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::rbac::v3::{
    Permission, Policy as RbacPolicy, Principal, Rbac as RbacRules, permission, principal,
    rbac::Action as RbacAction,
};
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, header_matcher::HeaderMatchSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as RbacFilter;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter::ConfigType,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    PathMatcher, RegexMatcher, StringMatcher, path_matcher, string_matcher::MatchPattern,
};
use envoy_types::pb::google::protobuf::Any;
use mesh_authz::{
    Action, AuthorizationPolicy, Condition, ConditionKey, Operation, Rule, Source, StringMatch,
};
use prost::{Message, Name};

/// The filter holding the ALLOW policies (istiod's name).
pub const RBAC_FILTER: &str = "envoy.filters.http.rbac";
/// The filter holding the DENY policies, before the ALLOW one.
pub const RBAC_DENY_FILTER: &str = "envoy.filters.http.rbac.DENY";
/// What a namespace regex starts with: any trust domain, then `/ns/`.
pub const NS_REGEX_PREFIX: &str = "spiffe://[^/]+/ns/";
/// What a namespace regex ends with: any service account.
pub const NS_REGEX_SUFFIX: &str = "/sa/[^/]+";
/// One path segment of any text, in a namespace regex.
pub const ANY_SEGMENT: &str = "[^/]*";
/// The regex of a presence match (`*`): any value at all.
pub const PRESENT_REGEX: &str = ".+";

/// The RBAC filters for the policies that apply to one workload: the DENY
/// policies, then the ALLOW ones; no filter for an action no policy has.
pub fn filters(policies: &[&AuthorizationPolicy]) -> Vec<HttpFilter> {
    [
        (Action::Deny, RBAC_DENY_FILTER),
        (Action::Allow, RBAC_FILTER),
    ]
    .into_iter()
    .filter_map(|(action, name)| {
        let of: Vec<&AuthorizationPolicy> = policies
            .iter()
            .copied()
            .filter(|p| p.action == action)
            .collect();
        (!of.is_empty()).then(|| HttpFilter {
            name: name.to_owned(),
            config_type: Some(ConfigType::TypedConfig(pack(rules(action, &of)))),
            ..Default::default()
        })
    })
    .collect()
}

/// The filter's config, packed with its policies in key order. prost
/// writes a map in hash order, different from one build to the next; the
/// bytes of a listener would change with every snapshot and the listener
/// be sent again for nothing. Protobuf merges a repeated message field and
/// map entries, so the filter is written as one part per policy.
pub fn pack(rules: RbacRules) -> Any {
    let filter = |rules| RbacFilter {
        rules: Some(rules),
        ..Default::default()
    };
    let mut sorted: Vec<(String, RbacPolicy)> = rules.policies.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut value = filter(RbacRules {
        policies: HashMap::new(),
        ..rules
    })
    .encode_to_vec();
    for entry in sorted {
        let one = RbacRules {
            policies: [entry].into(),
            ..Default::default()
        };
        value.extend(filter(one).encode_to_vec());
    }
    Any {
        type_url: RbacFilter::type_url(),
        value,
    }
}

/// The RBAC rules of one action.
pub fn rules(action: Action, policies: &[&AuthorizationPolicy]) -> RbacRules {
    let mut out = HashMap::new();
    for p in policies {
        let mut kept = false;
        for (i, r) in p.rules.iter().enumerate() {
            match rule(r, action) {
                Ok(r) => {
                    out.insert(policy_key(p, Some(i)), r);
                    kept = true;
                }
                // Leaving an ALLOW rule out allows less: it fails closed.
                Err(why) => tracing::warn!(
                    policy = %p.id(), rule = i,
                    "leaving out an ALLOW rule xDS cannot express: {why}"
                ),
            }
        }
        if !kept {
            out.insert(policy_key(p, None), never());
        }
    }
    let action = match action {
        Action::Allow => RbacAction::Allow,
        Action::Deny => RbacAction::Deny,
    };
    RbacRules {
        action: action as i32,
        policies: out,
        ..Default::default()
    }
}

/// `<ns>/<name>[rule-<i>]`, or `<ns>/<name>` for the policy as a whole.
pub fn policy_key(p: &AuthorizationPolicy, rule: Option<usize>) -> String {
    match rule {
        Some(i) => format!("{}/{}[rule-{i}]", p.namespace, p.name),
        None => format!("{}/{}", p.namespace, p.name),
    }
}

/// The side of the request a `when` condition reads.
enum Side {
    Principal(Principal),
    Permission(Permission),
}

/// One rule. A condition xDS cannot express fails the rule in an ALLOW
/// policy; in a DENY policy it is left out, so the rule denies more.
fn rule(rule: &Rule, action: Action) -> Result<RbacPolicy, String> {
    let mut ids = vec![from(&rule.from)];
    let mut perms = vec![to(&rule.to)];
    for c in &rule.when {
        match condition(c) {
            Ok(Some(Side::Principal(p))) => ids.push(p),
            Ok(Some(Side::Permission(p))) => perms.push(p),
            // No values either way: no constraint.
            Ok(None) => {}
            Err(why) if action == Action::Deny => {
                tracing::warn!("leaving out a DENY condition xDS cannot express: {why}");
            }
            Err(why) => return Err(why),
        }
    }
    Ok(RbacPolicy {
        principals: vec![and_ids(ids)],
        permissions: vec![and_rules(perms)],
        ..Default::default()
    })
}

/// Matches nothing.
fn never() -> RbacPolicy {
    RbacPolicy {
        principals: vec![not_id(any_id())],
        permissions: vec![not_rule(any_rule())],
        ..Default::default()
    }
}

fn from(sources: &[Source]) -> Principal {
    if sources.is_empty() {
        return any_id();
    }
    or_ids(sources.iter().map(source).collect())
}

fn source(s: &Source) -> Principal {
    let mut parts = Vec::new();
    let mut list = |items: &[StringMatch], negate: bool, f: fn(&StringMatch) -> Principal| {
        if !items.is_empty() {
            let p = or_ids(items.iter().map(f).collect());
            parts.push(if negate { not_id(p) } else { p });
        }
    };
    list(&s.principals, false, principal);
    list(&s.not_principals, true, principal);
    list(&s.namespaces, false, namespace);
    list(&s.not_namespaces, true, namespace);
    if parts.is_empty() {
        any_id()
    } else {
        and_ids(parts)
    }
}

fn to(operations: &[Operation]) -> Permission {
    if operations.is_empty() {
        return any_rule();
    }
    or_rules(operations.iter().map(operation).collect())
}

fn operation(o: &Operation) -> Permission {
    let mut parts = Vec::new();
    let mut list = |items: Vec<Permission>, negate: bool| {
        if !items.is_empty() {
            let p = or_rules(items);
            parts.push(if negate { not_rule(p) } else { p });
        }
    };
    let hosts = |ms: &[StringMatch]| ms.iter().map(|m| header(":authority", m, true)).collect();
    let methods = |ms: &[StringMatch]| ms.iter().map(|m| header(":method", m, false)).collect();
    let paths = |ms: &[StringMatch]| ms.iter().map(url_path).collect();
    let ports = |ps: &[u16]| ps.iter().map(|p| port(*p)).collect();
    list(hosts(&o.hosts), false);
    list(hosts(&o.not_hosts), true);
    list(methods(&o.methods), false);
    list(methods(&o.not_methods), true);
    list(paths(&o.paths), false);
    list(paths(&o.not_paths), true);
    list(ports(&o.ports), false);
    list(ports(&o.not_ports), true);
    if parts.is_empty() {
        any_rule()
    } else {
        and_rules(parts)
    }
}

/// A condition as `and [or(values), not(or(not_values))]` (either part
/// left out when empty); `None` when both are empty.
fn condition(c: &Condition) -> Result<Option<Side>, String> {
    if c.values.is_empty() && c.not_values.is_empty() {
        return Ok(None);
    }
    fn rules(pos: Vec<Permission>, neg: Vec<Permission>) -> Permission {
        let mut parts = Vec::new();
        if !pos.is_empty() {
            parts.push(or_rules(pos));
        }
        if !neg.is_empty() {
            parts.push(not_rule(or_rules(neg)));
        }
        and_rules(parts)
    }
    fn ids(pos: Vec<Principal>, neg: Vec<Principal>) -> Principal {
        let mut parts = Vec::new();
        if !pos.is_empty() {
            parts.push(or_ids(pos));
        }
        if !neg.is_empty() {
            parts.push(not_id(or_ids(neg)));
        }
        and_ids(parts)
    }
    let side = match &c.key {
        ConditionKey::RequestHeader(name) => {
            let h = |m: &StringMatch| header(name.as_str(), m, false);
            Side::Permission(rules(
                c.values.iter().map(h).collect(),
                c.not_values.iter().map(h).collect(),
            ))
        }
        ConditionKey::DestinationPort => {
            let p = |m: &StringMatch| match m {
                StringMatch::Exact(s) => s
                    .parse::<u16>()
                    .map(port)
                    .map_err(|_| format!("destination.port {s:?} is not a port number")),
                other => Err(format!(
                    "destination.port {:?}: only exact port numbers",
                    other.to_string()
                )),
            };
            Side::Permission(rules(
                c.values.iter().map(p).collect::<Result<_, _>>()?,
                c.not_values.iter().map(p).collect::<Result<_, _>>()?,
            ))
        }
        ConditionKey::SourcePrincipal => Side::Principal(ids(
            c.values.iter().map(principal).collect(),
            c.not_values.iter().map(principal).collect(),
        )),
        ConditionKey::SourceNamespace => Side::Principal(ids(
            c.values.iter().map(namespace).collect(),
            c.not_values.iter().map(namespace).collect(),
        )),
    };
    Ok(Some(side))
}

/// An Istio principal (an identity without `spiffe://`) as a match on the
/// caller's URI SAN.
fn principal(m: &StringMatch) -> Principal {
    let pattern = match m {
        StringMatch::Exact(p) => MatchPattern::Exact(format!("spiffe://{p}")),
        StringMatch::Prefix(p) => MatchPattern::Prefix(format!("spiffe://{p}")),
        StringMatch::Suffix(p) => MatchPattern::Suffix(p.clone()),
        StringMatch::Presence => regex_pattern(PRESENT_REGEX.to_owned()),
    };
    authenticated(pattern)
}

/// A namespace as a regex over the whole SPIFFE ID, whatever the trust
/// domain and service account.
fn namespace(m: &StringMatch) -> Principal {
    let middle = match m {
        StringMatch::Exact(ns) => escape(ns),
        StringMatch::Prefix(p) => format!("{}{ANY_SEGMENT}", escape(p)),
        StringMatch::Suffix(s) => format!("{ANY_SEGMENT}{}", escape(s)),
        StringMatch::Presence => ANY_SEGMENT.to_owned(),
    };
    authenticated(regex_pattern(format!(
        "{NS_REGEX_PREFIX}{middle}{NS_REGEX_SUFFIX}"
    )))
}

/// `s` with every regex meta character escaped (the set RE2 and the
/// `regex` crate agree on).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn regex_pattern(regex: String) -> MatchPattern {
    MatchPattern::SafeRegex(RegexMatcher {
        regex,
        ..Default::default()
    })
}

fn string_matcher(m: &StringMatch, ignore_case: bool) -> StringMatcher {
    let pattern = match m {
        StringMatch::Exact(s) => MatchPattern::Exact(s.clone()),
        StringMatch::Prefix(s) => MatchPattern::Prefix(s.clone()),
        StringMatch::Suffix(s) => MatchPattern::Suffix(s.clone()),
        StringMatch::Presence => regex_pattern(PRESENT_REGEX.to_owned()),
    };
    StringMatcher {
        match_pattern: Some(pattern),
        ignore_case,
    }
}

fn header(name: &str, m: &StringMatch, ignore_case: bool) -> Permission {
    let spec = match m {
        StringMatch::Presence => HeaderMatchSpecifier::PresentMatch(true),
        other => HeaderMatchSpecifier::StringMatch(string_matcher(other, ignore_case)),
    };
    rule_of(permission::Rule::Header(HeaderMatcher {
        name: name.to_owned(),
        header_match_specifier: Some(spec),
        ..Default::default()
    }))
}

fn url_path(m: &StringMatch) -> Permission {
    rule_of(permission::Rule::UrlPath(PathMatcher {
        rule: Some(path_matcher::Rule::Path(string_matcher(m, false))),
    }))
}

fn port(p: u16) -> Permission {
    rule_of(permission::Rule::DestinationPort(u32::from(p)))
}

fn authenticated(pattern: MatchPattern) -> Principal {
    id_of(principal::Identifier::Authenticated(
        principal::Authenticated {
            principal_name: Some(StringMatcher {
                match_pattern: Some(pattern),
                ignore_case: false,
            }),
        },
    ))
}

fn rule_of(rule: permission::Rule) -> Permission {
    Permission { rule: Some(rule) }
}

fn id_of(id: principal::Identifier) -> Principal {
    Principal {
        identifier: Some(id),
    }
}

fn any_rule() -> Permission {
    rule_of(permission::Rule::Any(true))
}

fn any_id() -> Principal {
    id_of(principal::Identifier::Any(true))
}

fn and_rules(rules: Vec<Permission>) -> Permission {
    rule_of(permission::Rule::AndRules(permission::Set { rules }))
}

fn or_rules(rules: Vec<Permission>) -> Permission {
    rule_of(permission::Rule::OrRules(permission::Set { rules }))
}

fn not_rule(p: Permission) -> Permission {
    rule_of(permission::Rule::NotRule(Box::new(p)))
}

fn and_ids(ids: Vec<Principal>) -> Principal {
    id_of(principal::Identifier::AndIds(principal::Set { ids }))
}

fn or_ids(ids: Vec<Principal>) -> Principal {
    id_of(principal::Identifier::OrIds(principal::Set { ids }))
}

fn not_id(p: Principal) -> Principal {
    id_of(principal::Identifier::NotId(Box::new(p)))
}
