//! Whether a policy's rules match one request.
//!
//! Matching is monotone: a rule is an AND of its parts, a policy an OR of
//! its rules, and negation appears only inside a single attribute's `not_`
//! list. So reading an ambiguous attribute (a repeated header) generously
//! for DENY policies and strictly for ALLOW policies makes the whole
//! decision fail closed; see [`header_matches`].

use http::HeaderName;

use crate::request::Request;
use crate::{Action, Condition, ConditionKey, Operation, Rule, Source, StringMatch};

/// Whether any of `rules` matches (no rules: nothing matches).
pub(crate) fn policy_matches(rules: &[Rule], req: &Request<'_>, action: Action) -> bool {
    rules.iter().any(|rule| rule_matches(rule, req, action))
}

/// Whether every non-empty part of `rule` matches.
fn rule_matches(rule: &Rule, req: &Request<'_>, action: Action) -> bool {
    (rule.from.is_empty() || rule.from.iter().any(|s| source_matches(s, req)))
        && (rule.to.is_empty() || rule.to.iter().any(|o| operation_matches(o, req)))
        && rule.when.iter().all(|c| condition_matches(c, req, action))
}

fn source_matches(source: &Source, req: &Request<'_>) -> bool {
    let principal = req.principal.map(str::as_bytes);
    let namespace = req.namespace.map(str::as_bytes);
    attribute(
        &source.principals,
        &source.not_principals,
        principal,
        exact_case,
    ) && attribute(
        &source.namespaces,
        &source.not_namespaces,
        namespace,
        exact_case,
    )
}

fn operation_matches(op: &Operation, req: &Request<'_>) -> bool {
    let host = Some(req.host.as_bytes());
    let method = Some(req.method.as_bytes());
    let path = Some(req.path.as_bytes());
    attribute(
        &op.hosts,
        &op.not_hosts,
        host,
        StringMatch::matches_bytes_ignore_case,
    ) && attribute(&op.methods, &op.not_methods, method, exact_case)
        && attribute(&op.paths, &op.not_paths, path, exact_case)
        && (op.ports.is_empty() || op.ports.contains(&req.port))
        && !op.not_ports.contains(&req.port)
}

fn condition_matches(cond: &Condition, req: &Request<'_>, action: Action) -> bool {
    let values = &cond.values;
    let not_values = &cond.not_values;
    match &cond.key {
        ConditionKey::SourcePrincipal => attribute(
            values,
            not_values,
            req.principal.map(str::as_bytes),
            exact_case,
        ),
        ConditionKey::SourceNamespace => attribute(
            values,
            not_values,
            req.namespace.map(str::as_bytes),
            exact_case,
        ),
        ConditionKey::DestinationPort => {
            let mut buf = [0; 5];
            let port = decimal(req.port, &mut buf);
            attribute(values, not_values, Some(port), exact_case)
        }
        ConditionKey::RequestHeader(name) => header_matches(cond, name, req, action),
    }
}

fn exact_case(m: &StringMatch, value: &[u8]) -> bool {
    m.matches_bytes(value)
}

/// One single-valued attribute against a positive and a negative list.
///
/// An absent attribute (`None`: no principal for a plaintext caller)
/// matches no positive entry and satisfies every negative list, as in
/// Envoy.
fn attribute(
    values: &[StringMatch],
    not_values: &[StringMatch],
    value: Option<&[u8]>,
    matches: fn(&StringMatch, &[u8]) -> bool,
) -> bool {
    let positive = values.is_empty() || value.is_some_and(|v| values.iter().any(|m| matches(m, v)));
    let negative = value.is_none_or(|v| !not_values.iter().any(|m| matches(m, v)));
    positive && negative
}

/// A `request.headers[name]` condition, evaluated fail-closed per action.
///
/// A request may carry a header several times, and different readers see
/// different things: `HeaderMap::get` and most handlers take the first
/// occurrence, some take the last, and Envoy (so Istio) matches the values
/// joined with `,`. A rule must not be slipped past by picking the reading
/// that suits the attacker, so each occurrence, plus the `,`-joined value
/// when there are several, is a possible *reading*, and:
///
/// - in a **DENY** policy the condition holds if *some* reading satisfies
///   `values` and *some* reading matches no `not_values` entry. Whenever
///   any reading of the request would be denied, the request is denied
///   (the two lists may be satisfied by different readings: that only
///   denies more);
/// - in an **ALLOW** policy the condition holds only if *every* reading
///   satisfies `values` and matches no `not_values` entry: the request is
///   allowed only if it would be under any reading.
///
/// An absent header satisfies no `values` (so a condition with `values`
/// fails for both actions) and every `not_values` list, as in Envoy. A
/// single field value is one reading: a comma-separated list inside one
/// field is not split (as in Envoy). Values are compared as bytes, so
/// non-UTF-8 values match only `*` or a pattern of the same bytes.
///
/// Only a repeated header costs an allocation (the joined reading).
fn header_matches(cond: &Condition, name: &HeaderName, req: &Request<'_>, action: Action) -> bool {
    let occurrences = req.headers.get_all(name);
    let mut iter = occurrences.iter();
    if iter.next().is_none() {
        return cond.values.is_empty();
    }
    let joined = iter.next().is_some().then(|| {
        let parts: Vec<&[u8]> = occurrences.iter().map(|v| v.as_bytes()).collect();
        parts.join(&b","[..])
    });
    let readings = || {
        occurrences
            .iter()
            .map(|v| v.as_bytes())
            .chain(joined.as_deref())
    };
    let satisfies_values =
        |r: &[u8]| cond.values.is_empty() || cond.values.iter().any(|m| m.matches_bytes(r));
    let avoids_not_values = |r: &[u8]| !cond.not_values.iter().any(|m| m.matches_bytes(r));
    match action {
        Action::Deny => readings().any(satisfies_values) && readings().any(avoids_not_values),
        Action::Allow => readings().all(|r| satisfies_values(r) && avoids_not_values(r)),
    }
}

/// `port` in decimal, written into `buf` (no allocation).
fn decimal(port: u16, buf: &mut [u8; 5]) -> &[u8] {
    let mut n = port;
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_print_in_decimal() {
        for port in [0, 7, 10, 80, 443, 8080, 65535] {
            let mut buf = [0; 5];
            assert_eq!(decimal(port, &mut buf), port.to_string().as_bytes());
        }
    }
}
