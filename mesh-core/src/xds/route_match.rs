//! `RouteMatch` and `HeaderMatcher` -> [`RequestMatch`].

use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, RouteMatch, header_matcher::HeaderMatchSpecifier, route_match::PathSpecifier,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher, string_matcher::MatchPattern,
};
use http::HeaderName;

use super::error::{FieldError, invalid, missing, not_yet, unsupported};
use crate::policy::{HeaderMatch, HeaderRule, Pattern, RequestMatch, StringMatch};

/// Whether a match is the catch-all a model route without conditions
/// becomes: prefix `/` and nothing else.
pub(crate) fn is_catch_all(m: &RouteMatch) -> bool {
    matches!(&m.path_specifier, Some(PathSpecifier::Prefix(p)) if p == "/") && m.headers.is_empty()
}

/// Translates a route's match; `field` is the match's path.
pub(crate) fn request_match(m: &RouteMatch, field: &str) -> Result<RequestMatch, FieldError> {
    let at = |sub: &str| format!("{field}.{sub}");
    let path = match &m.path_specifier {
        None => return Err(missing(at("path_specifier"))),
        Some(PathSpecifier::Prefix(p)) => StringMatch::Prefix(p.clone()),
        Some(PathSpecifier::Path(p)) => StringMatch::Exact(p.clone()),
        Some(PathSpecifier::SafeRegex(r)) => StringMatch::Regex(regex(r, &at("safe_regex"))?),
        Some(PathSpecifier::ConnectMatcher(_)) => {
            return Err(unsupported(at("path_specifier"), "connect_matcher"));
        }
        Some(PathSpecifier::PathSeparatedPrefix(_)) => {
            return Err(not_yet(at("path_specifier"), "path_separated_prefix"));
        }
        Some(PathSpecifier::PathMatchPolicy(_)) => {
            return Err(not_yet(at("path_specifier"), "path_match_policy"));
        }
    };
    if m.case_sensitive.as_ref().is_some_and(|c| !c.value) {
        return Err(not_yet(at("case_sensitive"), "case-insensitive matching"));
    }
    let unsupported_parts = [
        ("runtime_fraction", m.runtime_fraction.is_some()),
        ("query_parameters", !m.query_parameters.is_empty()),
        ("cookies", !m.cookies.is_empty()),
        ("grpc", m.grpc.is_some()),
        ("tls_context", m.tls_context.is_some()),
        ("dynamic_metadata", !m.dynamic_metadata.is_empty()),
        ("filter_state", !m.filter_state.is_empty()),
    ];
    if let Some((name, _)) = unsupported_parts.iter().find(|(_, set)| *set) {
        return Err(not_yet(at(name), format!("matching on {name}")));
    }
    let mut out = RequestMatch {
        path: Some(path),
        ..RequestMatch::default()
    };
    for (j, h) in m.headers.iter().enumerate() {
        let hf = at(&format!("headers[{j}]"));
        let rule = header_rule(h, &hf)?;
        let slot = match h.name.as_str() {
            ":method" => &mut out.method,
            ":authority" => &mut out.authority,
            other if other.starts_with(':') => {
                return Err(not_yet(
                    format!("{hf}.name"),
                    format!("matching on {other}"),
                ));
            }
            other => {
                let name = HeaderName::from_bytes(other.as_bytes()).map_err(|_| {
                    invalid(
                        format!("{hf}.name"),
                        format!("{other:?} is not a header name"),
                    )
                })?;
                out.headers.push(HeaderMatch { name, rule });
                continue;
            }
        };
        // `:method` and `:authority` take one value matcher each.
        match rule {
            HeaderRule::Value(s) if slot.is_none() => *slot = Some(s),
            HeaderRule::Value(_) => {
                return Err(invalid(hf, format!("a second matcher on {}", h.name)));
            }
            _ => return Err(not_yet(hf, format!("a presence matcher on {}", h.name))),
        }
    }
    Ok(out)
}

// The legacy specifiers (`exact_match`, ...) are deprecated in Envoy but
// istiod and older control planes still send them.
#[allow(deprecated)]
fn header_rule(h: &HeaderMatcher, field: &str) -> Result<HeaderRule, FieldError> {
    if h.treat_missing_header_as_empty {
        return Err(not_yet(
            format!("{field}.treat_missing_header_as_empty"),
            "treating a missing header as empty",
        ));
    }
    let spec = format!("{field}.header_match_specifier");
    let rule = match &h.header_match_specifier {
        // Envoy reads no specifier as "the header is present".
        None | Some(HeaderMatchSpecifier::PresentMatch(true)) => HeaderRule::Present,
        Some(HeaderMatchSpecifier::PresentMatch(false)) => HeaderRule::Absent,
        Some(HeaderMatchSpecifier::ExactMatch(s)) => {
            HeaderRule::Value(StringMatch::Exact(s.clone()))
        }
        Some(HeaderMatchSpecifier::PrefixMatch(s)) => {
            HeaderRule::Value(StringMatch::Prefix(s.clone()))
        }
        Some(HeaderMatchSpecifier::SafeRegexMatch(r)) => {
            HeaderRule::Value(StringMatch::Regex(regex(r, &spec)?))
        }
        Some(HeaderMatchSpecifier::StringMatch(s)) => {
            HeaderRule::Value(string_match(s, &format!("{field}.string_match"))?)
        }
        Some(HeaderMatchSpecifier::SuffixMatch(_)) => return Err(not_yet(spec, "suffix_match")),
        Some(HeaderMatchSpecifier::ContainsMatch(_)) => {
            return Err(not_yet(spec, "contains_match"));
        }
        Some(HeaderMatchSpecifier::RangeMatch(_)) => return Err(not_yet(spec, "range_match")),
    };
    if !h.invert_match {
        return Ok(rule);
    }
    match rule {
        HeaderRule::Present => Ok(HeaderRule::Absent),
        HeaderRule::Absent => Ok(HeaderRule::Present),
        HeaderRule::Value(_) => Err(not_yet(
            format!("{field}.invert_match"),
            "an inverted value match",
        )),
    }
}

/// A `StringMatcher`: exact, prefix or regex, case-sensitive.
pub(crate) fn string_match(s: &StringMatcher, field: &str) -> Result<StringMatch, FieldError> {
    if s.ignore_case {
        return Err(not_yet(
            format!("{field}.ignore_case"),
            "case-insensitive matching",
        ));
    }
    let pattern = format!("{field}.match_pattern");
    match &s.match_pattern {
        None => Err(missing(pattern)),
        Some(MatchPattern::Exact(v)) => Ok(StringMatch::Exact(v.clone())),
        Some(MatchPattern::Prefix(v)) => Ok(StringMatch::Prefix(v.clone())),
        Some(MatchPattern::SafeRegex(r)) => Ok(StringMatch::Regex(regex(r, &pattern)?)),
        Some(MatchPattern::Suffix(_)) => Err(not_yet(pattern, "suffix")),
        Some(MatchPattern::Contains(_)) => Err(not_yet(pattern, "contains")),
        Some(MatchPattern::Custom(_)) => Err(not_yet(pattern, "custom")),
    }
}

fn regex(r: &RegexMatcher, field: &str) -> Result<Pattern, FieldError> {
    Pattern::new(&r.regex).map_err(|e| invalid(format!("{field}.regex"), e.to_string()))
}
