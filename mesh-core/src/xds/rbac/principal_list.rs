//! The principal side of a rule: its sources and its `source.*`
//! conditions, as `authenticated` matchers on the caller's SPIFFE ID.

use envoy_types::pb::envoy::config::rbac::v3::{Principal, principal};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use mesh_authz::{Condition, ConditionKey, Source, StringMatch as Match};

use super::PRESENT_REGEX;
use crate::xds::error::{FieldError, invalid, missing, not_yet};

/// What a namespace regex starts with: any trust domain, then `/ns/`.
const NS_REGEX_PREFIX: &str = "spiffe://[^/]+/ns/";
/// What a namespace regex ends with: any service account.
const NS_REGEX_SUFFIX: &str = "/sa/[^/]+";
/// One path segment of any text, in a namespace regex.
const ANY_SEGMENT: &str = "[^/]*";

/// What an `authenticated` principal matches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum IdKind {
    Principal,
    Namespace,
}

/// A list of principals: `or_ids`, or `not_id(or_ids)` (negated).
struct IdList {
    negated: bool,
    kind: IdKind,
    items: Vec<Match>,
}

pub(super) fn from(p: &Principal) -> Result<Vec<Source>, FieldError> {
    match &p.identifier {
        Some(principal::Identifier::Any(true)) => Ok(Vec::new()),
        Some(principal::Identifier::OrIds(set)) => set
            .ids
            .iter()
            .enumerate()
            .map(|(i, s)| source(s).map_err(|e| e.within(&format!("or_ids.ids[{i}]"))))
            .collect(),
        _ => Err(invalid("", "must be any or or_ids (the rule's sources)")),
    }
}

fn source(p: &Principal) -> Result<Source, FieldError> {
    let parts = match &p.identifier {
        Some(principal::Identifier::Any(true)) => return Ok(Source::default()),
        Some(principal::Identifier::AndIds(set)) => &set.ids,
        _ => return Err(invalid("", "must be any or and_ids (one source)")),
    };
    let mut s = Source::default();
    for (i, part) in parts.iter().enumerate() {
        let field = format!("and_ids.ids[{i}]");
        let list = id_list(part).map_err(|e| e.within(&field))?;
        let slot = match (list.kind, list.negated) {
            (IdKind::Principal, false) => &mut s.principals,
            (IdKind::Principal, true) => &mut s.not_principals,
            (IdKind::Namespace, false) => &mut s.namespaces,
            (IdKind::Namespace, true) => &mut s.not_namespaces,
        };
        if !slot.is_empty() {
            return Err(invalid(field, "repeats a list of the source"));
        }
        *slot = list.items;
    }
    Ok(s)
}

pub(super) fn source_condition(p: &Principal) -> Result<Condition, FieldError> {
    let Some(principal::Identifier::AndIds(set)) = &p.identifier else {
        return Err(invalid("", "must be and_ids (one condition)"));
    };
    let mut kind = None;
    let (mut values, mut not_values) = (Vec::new(), Vec::new());
    for (i, part) in set.ids.iter().enumerate() {
        let field = format!("and_ids.ids[{i}]");
        let list = id_list(part).map_err(|e| e.within(&field))?;
        if kind.replace(list.kind).is_some_and(|k| k != list.kind) {
            return Err(invalid(field, "mixes principals and namespaces"));
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
    }
    let key = match kind {
        Some(IdKind::Principal) => ConditionKey::SourcePrincipal,
        Some(IdKind::Namespace) => ConditionKey::SourceNamespace,
        None => return Err(missing("and_ids.ids")),
    };
    Ok(Condition {
        key,
        values,
        not_values,
    })
}

fn id_list(p: &Principal) -> Result<IdList, FieldError> {
    let (negated, inner, prefix) = match &p.identifier {
        Some(principal::Identifier::NotId(inner)) => (true, inner.as_ref(), "not_id."),
        _ => (false, p, ""),
    };
    let Some(principal::Identifier::OrIds(set)) = &inner.identifier else {
        return Err(invalid(prefix.trim_end_matches('.'), "must be or_ids"));
    };
    let mut kind = None;
    let mut items = Vec::with_capacity(set.ids.len());
    for (i, id) in set.ids.iter().enumerate() {
        let field = format!("{prefix}or_ids.ids[{i}]");
        let (k, m) = authenticated(id).map_err(|e| e.within(&field))?;
        if kind.replace(k).is_some_and(|old| old != k) {
            return Err(invalid(field, "mixes principals and namespaces"));
        }
        items.push(m);
    }
    let kind = kind.ok_or_else(|| missing(format!("{prefix}or_ids.ids")))?;
    Ok(IdList {
        negated,
        kind,
        items,
    })
}

/// `authenticated.principal_name`: a principal (exact or prefix on
/// `spiffe://...`, suffix, or `.+` for any) or a namespace regex.
fn authenticated(p: &Principal) -> Result<(IdKind, Match), FieldError> {
    let Some(principal::Identifier::Authenticated(a)) = &p.identifier else {
        return Err(not_yet("", "principals other than authenticated"));
    };
    let field = "authenticated.principal_name";
    let m = a.principal_name.as_ref().ok_or_else(|| missing(field))?;
    if m.ignore_case {
        return Err(not_yet(field, "ignore_case"));
    }
    let spiffe = |s: &str| {
        s.strip_prefix("spiffe://")
            .map(str::to_owned)
            .ok_or_else(|| invalid(field, format!("{s:?} does not start with spiffe://")))
    };
    Ok(match &m.match_pattern {
        Some(MatchPattern::Exact(s)) => (IdKind::Principal, Match::Exact(spiffe(s)?)),
        Some(MatchPattern::Prefix(s)) => (IdKind::Principal, Match::Prefix(spiffe(s)?)),
        Some(MatchPattern::Suffix(s)) => (IdKind::Principal, Match::Suffix(s.clone())),
        Some(MatchPattern::SafeRegex(r)) if r.regex == PRESENT_REGEX => {
            (IdKind::Principal, Match::Presence)
        }
        Some(MatchPattern::SafeRegex(r)) => match namespace_regex(&r.regex) {
            Some(m) => (IdKind::Namespace, m),
            None => {
                return Err(not_yet(
                    format!("{field}.safe_regex"),
                    format!("regex {:?} (only `.+` and namespace regexes)", r.regex),
                ));
            }
        },
        _ => return Err(not_yet(field, "this matcher")),
    })
}

/// The namespace a regex over SPIFFE IDs stands for (see the control
/// plane's `rbac::namespace`).
fn namespace_regex(re: &str) -> Option<Match> {
    let middle = re
        .strip_prefix(NS_REGEX_PREFIX)?
        .strip_suffix(NS_REGEX_SUFFIX)?;
    if middle == ANY_SEGMENT {
        return Some(Match::Presence);
    }
    if let Some(p) = middle.strip_suffix(ANY_SEGMENT) {
        return literal(p).map(Match::Prefix);
    }
    if let Some(s) = middle.strip_prefix(ANY_SEGMENT) {
        return literal(s).map(Match::Suffix);
    }
    literal(middle).map(Match::Exact)
}

/// The text an escaped regex literal stands for, if it is one: escaping
/// it again must give it back.
fn literal(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    (regex::escape(&out) == escaped).then_some(out)
}
