//! The permission side of a rule: its operations and its request
//! conditions, as header, `url_path` and `destination_port` matchers.

use envoy_types::pb::envoy::config::rbac::v3::{Permission, permission};
use envoy_types::pb::envoy::config::route::v3::header_matcher::HeaderMatchSpecifier;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    StringMatcher, path_matcher, string_matcher::MatchPattern,
};
use http::HeaderName;
use mesh_authz::{Condition, ConditionKey, Operation, StringMatch as Match};

use super::PRESENT_REGEX;
use crate::xds::error::{FieldError, invalid, missing, not_yet};

/// What a permission matches.
#[derive(Clone, PartialEq, Eq, Debug)]
enum RuleKind {
    Host,
    Method,
    Path,
    Port,
    Header(HeaderName),
}

/// A list of permissions: `or_rules`, or `not_rule(or_rules)`.
struct RuleList {
    negated: bool,
    kind: RuleKind,
    items: Vec<Match>,
}

pub(super) fn to(p: &Permission) -> Result<Vec<Operation>, FieldError> {
    match &p.rule {
        Some(permission::Rule::Any(true)) => Ok(Vec::new()),
        Some(permission::Rule::OrRules(set)) => set
            .rules
            .iter()
            .enumerate()
            .map(|(i, o)| operation(o).map_err(|e| e.within(&format!("or_rules.rules[{i}]"))))
            .collect(),
        _ => Err(invalid(
            "",
            "must be any or or_rules (the rule's operations)",
        )),
    }
}

fn operation(p: &Permission) -> Result<Operation, FieldError> {
    let parts = match &p.rule {
        Some(permission::Rule::Any(true)) => return Ok(Operation::default()),
        Some(permission::Rule::AndRules(set)) => &set.rules,
        _ => return Err(invalid("", "must be any or and_rules (one operation)")),
    };
    let mut o = Operation::default();
    for (i, part) in parts.iter().enumerate() {
        let field = format!("and_rules.rules[{i}]");
        let list = rule_list(part).map_err(|e| e.within(&field))?;
        let repeated = || invalid(&field, "repeats a list of the operation");
        let strings = match (&list.kind, list.negated) {
            (RuleKind::Host, false) => &mut o.hosts,
            (RuleKind::Host, true) => &mut o.not_hosts,
            (RuleKind::Method, false) => &mut o.methods,
            (RuleKind::Method, true) => &mut o.not_methods,
            (RuleKind::Path, false) => &mut o.paths,
            (RuleKind::Path, true) => &mut o.not_paths,
            (RuleKind::Port, negated) => {
                let slot = if negated {
                    &mut o.not_ports
                } else {
                    &mut o.ports
                };
                if !slot.is_empty() {
                    return Err(repeated());
                }
                *slot = ports(&list.items);
                continue;
            }
            (RuleKind::Header(name), _) => {
                return Err(invalid(
                    field,
                    format!("header {name} is not part of an operation"),
                ));
            }
        };
        if !strings.is_empty() {
            return Err(repeated());
        }
        *strings = list.items;
    }
    Ok(o)
}

pub(super) fn request_condition(p: &Permission) -> Result<Condition, FieldError> {
    let Some(permission::Rule::AndRules(set)) = &p.rule else {
        return Err(invalid("", "must be and_rules (one condition)"));
    };
    let mut kind: Option<RuleKind> = None;
    let (mut values, mut not_values) = (Vec::new(), Vec::new());
    for (i, part) in set.rules.iter().enumerate() {
        let field = format!("and_rules.rules[{i}]");
        let list = rule_list(part).map_err(|e| e.within(&field))?;
        if kind.as_ref().is_some_and(|k| *k != list.kind) {
            return Err(invalid(field, "mixes two attributes"));
        }
        let slot = if list.negated {
            &mut not_values
        } else {
            &mut values
        };
        if !slot.is_empty() {
            return Err(invalid(field, "repeats a list of the condition"));
        }
        *slot = list.items;
        kind = Some(list.kind);
    }
    let key = match kind {
        Some(RuleKind::Header(name)) => ConditionKey::RequestHeader(name),
        Some(RuleKind::Port) => ConditionKey::DestinationPort,
        Some(other) => {
            return Err(invalid(
                "and_rules",
                format!("{other:?} is an operation, not a condition"),
            ));
        }
        None => return Err(missing("and_rules.rules")),
    };
    Ok(Condition {
        key,
        values,
        not_values,
    })
}

/// Ports travel as exact matches on their decimal form inside a list.
fn ports(items: &[Match]) -> Vec<u16> {
    items
        .iter()
        .filter_map(|m| match m {
            Match::Exact(s) => s.parse().ok(),
            _ => None,
        })
        .collect()
}

fn rule_list(p: &Permission) -> Result<RuleList, FieldError> {
    let (negated, inner, prefix) = match &p.rule {
        Some(permission::Rule::NotRule(inner)) => (true, inner.as_ref(), "not_rule."),
        _ => (false, p, ""),
    };
    let Some(permission::Rule::OrRules(set)) = &inner.rule else {
        return Err(invalid(prefix.trim_end_matches('.'), "must be or_rules"));
    };
    let mut kind: Option<RuleKind> = None;
    let mut items = Vec::with_capacity(set.rules.len());
    for (i, r) in set.rules.iter().enumerate() {
        let field = format!("{prefix}or_rules.rules[{i}]");
        let (k, m) = rule_match(r).map_err(|e| e.within(&field))?;
        if kind.as_ref().is_some_and(|old| *old != k) {
            return Err(invalid(field, "mixes two attributes"));
        }
        kind = Some(k);
        items.push(m);
    }
    let kind = kind.ok_or_else(|| missing(format!("{prefix}or_rules.rules")))?;
    Ok(RuleList {
        negated,
        kind,
        items,
    })
}

/// One permission: a header (`:authority` ignoring case for hosts,
/// `:method`, or a request header), `url_path`, or `destination_port`.
fn rule_match(p: &Permission) -> Result<(RuleKind, Match), FieldError> {
    match &p.rule {
        Some(permission::Rule::Header(h)) => {
            if h.invert_match || h.treat_missing_header_as_empty {
                return Err(not_yet(
                    "header.invert_match",
                    "inverted header matches (use not_rule)",
                ));
            }
            let (m, ignore_case) = match &h.header_match_specifier {
                Some(HeaderMatchSpecifier::PresentMatch(true)) => (Match::Presence, None),
                Some(HeaderMatchSpecifier::StringMatch(sm)) => (
                    string_match(sm, false).map_err(|e| e.within("header.string_match"))?,
                    Some(sm.ignore_case),
                ),
                _ => {
                    return Err(not_yet(
                        "header",
                        "this header matcher (only string_match and present_match)",
                    ));
                }
            };
            let kind = match h.name.as_str() {
                ":authority" => RuleKind::Host,
                ":method" => RuleKind::Method,
                name if name.starts_with(':') => {
                    return Err(not_yet("header.name", format!("pseudo-header {name}")));
                }
                name => {
                    RuleKind::Header(HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        invalid("header.name", format!("{name:?} is not a header name"))
                    })?)
                }
            };
            // Hosts compare ignoring case; nothing else does.
            if ignore_case.is_some_and(|ic| ic != (kind == RuleKind::Host)) {
                return Err(invalid(
                    "header.string_match.ignore_case",
                    "must be true for :authority and false otherwise",
                ));
            }
            Ok((kind, m))
        }
        Some(permission::Rule::UrlPath(pm)) => match &pm.rule {
            Some(path_matcher::Rule::Path(sm)) => {
                let m = string_match(sm, true).map_err(|e| e.within("url_path.path"))?;
                if sm.ignore_case {
                    return Err(not_yet("url_path.path.ignore_case", "paths ignoring case"));
                }
                Ok((RuleKind::Path, m))
            }
            None => Err(missing("url_path.path")),
        },
        Some(permission::Rule::DestinationPort(port)) => {
            let p = u16::try_from(*port)
                .map_err(|_| invalid("destination_port", format!("{port} is not a port")))?;
            Ok((RuleKind::Port, Match::Exact(p.to_string())))
        }
        _ => Err(not_yet(
            "",
            "this permission (only header, url_path, destination_port)",
        )),
    }
}

/// Exact, prefix, suffix; `.+` for presence where `regex_presence`.
fn string_match(sm: &StringMatcher, regex_presence: bool) -> Result<Match, FieldError> {
    match &sm.match_pattern {
        Some(MatchPattern::Exact(s)) => Ok(Match::Exact(s.clone())),
        Some(MatchPattern::Prefix(s)) => Ok(Match::Prefix(s.clone())),
        Some(MatchPattern::Suffix(s)) => Ok(Match::Suffix(s.clone())),
        Some(MatchPattern::SafeRegex(r)) if regex_presence && r.regex == PRESENT_REGEX => {
            Ok(Match::Presence)
        }
        Some(_) => Err(not_yet(
            "",
            "this string matcher (only exact, prefix, suffix)",
        )),
        None => Err(missing("match_pattern")),
    }
}
