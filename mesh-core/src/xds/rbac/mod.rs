//! `envoy.extensions.filters.http.rbac.v3.RBAC` -> Istio
//! `AuthorizationPolicy`s, for the one shape our control plane sends
//! (docs/xds-mapping.md, "Authorization"); anything else is rejected with
//! the field that differs.
//!
//! One RBAC policy per rule, keyed `<ns>/<name>[rule-<i>]`, holding one
//! principal `and_ids [FROM, source conditions...]` and one permission
//! `and_rules [TO, request conditions...]`; a policy with no rules is one
//! never-matching entry keyed `<ns>/<name>`.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::rbac::v3::{
    Permission, Policy as RbacPolicy, Principal, permission, principal, rbac::Action as RbacAction,
};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as RbacFilter;
use mesh_authz::{Action, AuthorizationPolicy, Rule};

use super::error::{FieldError, invalid, missing, not_yet};

mod permission_list;
mod principal_list;

use permission_list::{request_condition, to};
use principal_list::{from, source_condition};

/// The regex of a presence match (`*`).
const PRESENT_REGEX: &str = ".+";

/// One RBAC filter: its action and its policies, sorted by
/// `namespace/name`, each with its rules in order.
pub(crate) fn rbac_filter(
    f: &RbacFilter,
) -> Result<(Action, Vec<AuthorizationPolicy>), FieldError> {
    if f.shadow_rules.is_some() || f.shadow_matcher.is_some() {
        return Err(not_yet("shadow_rules", "shadow rules"));
    }
    if f.matcher.is_some() {
        return Err(not_yet("matcher", "matcher trees (use rules)"));
    }
    let rules = f.rules.as_ref().ok_or_else(|| missing("rules"))?;
    if rules.audit_logging_options.is_some() {
        return Err(not_yet("rules.audit_logging_options", "audit logging"));
    }
    let action = match RbacAction::try_from(rules.action) {
        Ok(RbacAction::Allow) => Action::Allow,
        Ok(RbacAction::Deny) => Action::Deny,
        Ok(RbacAction::Log) => return Err(not_yet("rules.action", "LOG (only ALLOW and DENY)")),
        Err(_) => {
            return Err(invalid(
                "rules.action",
                format!("unknown value {}", rules.action),
            ));
        }
    };
    // (namespace, name) -> rule index (None: the never-matching entry) -> rule.
    let mut by_policy: BTreeMap<(String, String), BTreeMap<Option<usize>, Rule>> = BTreeMap::new();
    for (key, p) in &rules.policies {
        let field = format!("rules.policies[{key:?}]");
        let (namespace, name, index) = parse_key(key).ok_or_else(|| {
            invalid(
                &field,
                "expected <namespace>/<name>[rule-<i>] or <namespace>/<name>",
            )
        })?;
        let rule = match index {
            None => {
                never(p).map_err(|e| e.within(&field))?;
                Rule::default()
            }
            Some(_) => rule(p).map_err(|e| e.within(&field))?,
        };
        let entries = by_policy.entry((namespace, name)).or_default();
        entries.insert(index, rule);
        if entries.len() > 1 && entries.contains_key(&None) {
            return Err(invalid(
                field,
                "a policy with no rules has rule entries too",
            ));
        }
    }
    let policies = by_policy
        .into_iter()
        .map(|((namespace, name), entries)| AuthorizationPolicy {
            name,
            namespace,
            selector: None,
            action,
            rules: entries
                .into_iter()
                .filter_map(|(i, r)| i.map(|_| r))
                .collect(),
        })
        .collect();
    Ok((action, policies))
}

/// `<ns>/<name>[rule-<i>]` or `<ns>/<name>`.
fn parse_key(key: &str) -> Option<(String, String, Option<usize>)> {
    let (namespace, rest) = key.split_once('/')?;
    let (name, index) = match rest.strip_suffix(']').and_then(|r| r.split_once("[rule-")) {
        Some((name, i)) => (name, Some(i.parse().ok()?)),
        None => (rest, None),
    };
    let ok = |s: &str| !s.is_empty() && !s.contains(['/', '[', ']']);
    (ok(namespace) && ok(name)).then(|| (namespace.to_owned(), name.to_owned(), index))
}

/// The entry of a policy with no rules: `not any` on both sides.
fn never(p: &RbacPolicy) -> Result<(), FieldError> {
    let not_any_id = matches!(
        p.principals.as_slice(),
        [Principal { identifier: Some(principal::Identifier::NotId(inner)) }]
            if matches!(inner.identifier, Some(principal::Identifier::Any(true)))
    );
    let not_any_rule = matches!(
        p.permissions.as_slice(),
        [Permission { rule: Some(permission::Rule::NotRule(inner)) }]
            if matches!(inner.rule, Some(permission::Rule::Any(true)))
    );
    if not_any_id && not_any_rule && p.condition.is_none() && p.checked_condition.is_none() {
        Ok(())
    } else {
        Err(invalid(
            "",
            "an entry without [rule-<i>] must match nothing (not_id any, not_rule any)",
        ))
    }
}

fn rule(p: &RbacPolicy) -> Result<Rule, FieldError> {
    if p.condition.is_some() || p.checked_condition.is_some() {
        return Err(not_yet("condition", "CEL conditions"));
    }
    let [principal] = p.principals.as_slice() else {
        return Err(invalid("principals", "must hold exactly one and_ids"));
    };
    let [permission] = p.permissions.as_slice() else {
        return Err(invalid("permissions", "must hold exactly one and_rules"));
    };
    let Some(principal::Identifier::AndIds(ids)) = &principal.identifier else {
        return Err(invalid("principals[0]", "must be and_ids"));
    };
    let Some(permission::Rule::AndRules(rules)) = &permission.rule else {
        return Err(invalid("permissions[0]", "must be and_rules"));
    };
    let (Some(first_id), Some(first_rule)) = (ids.ids.first(), rules.rules.first()) else {
        return Err(missing("principals[0].and_ids.ids[0]"));
    };
    let from = from(first_id).map_err(|e| e.within("principals[0].and_ids.ids[0]"))?;
    let to = to(first_rule).map_err(|e| e.within("permissions[0].and_rules.rules[0]"))?;
    let mut when = Vec::new();
    for (i, r) in rules.rules.iter().enumerate().skip(1) {
        let field = format!("permissions[0].and_rules.rules[{i}]");
        when.push(request_condition(r).map_err(|e| e.within(&field))?);
    }
    for (i, id) in ids.ids.iter().enumerate().skip(1) {
        let field = format!("principals[0].and_ids.ids[{i}]");
        when.push(source_condition(id).map_err(|e| e.within(&field))?);
    }
    Ok(Rule { from, to, when })
}
