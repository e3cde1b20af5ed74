//! Istio's `HTTPMatchRequest` and `StringMatch`, read into
//! [`RequestMatch`] and [`StringMatch`].

use http::HeaderName;

use super::walk::{Cx, Field, Shape};
use crate::policy::{HeaderMatch, HeaderRule, Pattern, PolicyError, RequestMatch, StringMatch};

const MATCH: Shape = Shape {
    supported: &[
        "name",
        "uri",
        "method",
        "authority",
        "headers",
        "withoutHeaders",
    ],
    unsupported: &[
        "scheme",
        "port",
        "sourceLabels",
        "gateways",
        "queryParams",
        "ignoreUriCase",
        "sourceNamespace",
        "statPrefix",
    ],
};

const STRING_MATCH: Shape = Shape {
    supported: &["exact", "prefix", "regex"],
    unsupported: &[],
};

const HEADER_MATCH: Shape = Shape {
    supported: &["exact", "prefix", "regex", "present"],
    unsupported: &[],
};

/// An Istio `StringMatch`: exactly one of `exact`, `prefix`, `regex`.
pub(super) fn string_match(cx: &mut Cx, field: &Field<'_>) -> Option<StringMatch> {
    let obj = field.object(cx, STRING_MATCH)?;
    let set: Vec<&str> = STRING_MATCH
        .supported
        .iter()
        .copied()
        .filter(|k| obj.has(k))
        .collect();
    match set.as_slice() {
        [] => {
            cx.report(field, "needs one of `exact`, `prefix`, `regex`", None);
            None
        }
        [one] => value_match(cx, &obj.get(one)?, one),
        _ => {
            cx.report(field, "set only one of `exact`, `prefix`, `regex`", None);
            None
        }
    }
}

fn value_match(cx: &mut Cx, field: &Field<'_>, how: &str) -> Option<StringMatch> {
    let text = field.str(cx)?.to_owned();
    Some(match how {
        "exact" => StringMatch::Exact(text),
        "prefix" => StringMatch::Prefix(text),
        _ => StringMatch::Regex(pattern(cx, field, &text)?),
    })
}

fn pattern(cx: &mut Cx, field: &Field<'_>, text: &str) -> Option<Pattern> {
    match Pattern::new(text) {
        Ok(p) => Some(p),
        Err(PolicyError::BadRegex { reason, .. }) => {
            // The regex crate's message draws a caret over several lines;
            // its last line says what is wrong.
            let reason = reason.lines().last().unwrap_or_default().trim();
            let reason = reason.strip_prefix("error: ").unwrap_or(reason);
            cx.report(
                field,
                format!("invalid regular expression {text:?}: {reason}"),
                None,
            );
            None
        }
        Err(other) => {
            cx.report(field, other.to_string(), None);
            None
        }
    }
}

/// One entry of `match`: every condition must hold.
pub(super) fn request_match(cx: &mut Cx, field: &Field<'_>) -> RequestMatch {
    let Some(obj) = field.object(cx, MATCH) else {
        return RequestMatch::default();
    };
    if let Some(name) = obj.get("name") {
        // A label for the match in Istio's logs; nothing to route on.
        name.str(cx);
    }
    let mut m = RequestMatch {
        path: obj.get("uri").and_then(|f| string_match(cx, &f)),
        method: obj.get("method").and_then(|f| string_match(cx, &f)),
        authority: obj.get("authority").and_then(|f| string_match(cx, &f)),
        headers: Vec::new(),
    };
    if let Some(headers) = obj.get("headers") {
        for (name, f) in headers.entries(cx) {
            if let Some(h) = header_match(cx, name, &f, false) {
                m.headers.push(h);
            }
        }
    }
    if let Some(headers) = obj.get("withoutHeaders") {
        for (name, f) in headers.entries(cx) {
            if let Some(h) = header_match(cx, name, &f, true) {
                m.headers.push(h);
            }
        }
    }
    m
}

/// `headers.<name>` (or `withoutHeaders.<name>` when `negated`). As in
/// Istio, an empty match (`{}`) tests presence, and `withoutHeaders`
/// negates; `present: true|false` says the same thing explicitly.
fn header_match(cx: &mut Cx, name: &str, field: &Field<'_>, negated: bool) -> Option<HeaderMatch> {
    let header = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes());
    let Ok(header) = header else {
        cx.report(field, format!("`{name}` is not a valid header name"), None);
        return None;
    };
    // `x-debug:` with nothing after it reads as null: a presence test.
    let obj = if field.node.value == super::yaml::Value::Null {
        None
    } else {
        Some(field.object(cx, HEADER_MATCH)?)
    };
    let set: Vec<&str> = HEADER_MATCH
        .supported
        .iter()
        .copied()
        .filter(|k| obj.as_ref().is_some_and(|o| o.has(k)))
        .collect();
    let present = match set.as_slice() {
        [] => true,
        ["present"] => obj.and_then(|o| o.get("present"))?.bool(cx)?,
        [how] if !negated => {
            let value = value_match(cx, &obj.and_then(|o| o.get(how))?, how)?;
            return Some(HeaderMatch {
                name: header,
                rule: HeaderRule::Value(value),
            });
        }
        [_] => {
            cx.report(
                field,
                "matching a header whose value differs is not supported yet",
                Some("use `{}` to require the header to be absent".into()),
            );
            return None;
        }
        _ => {
            cx.report(
                field,
                "set only one of `exact`, `prefix`, `regex`, `present`",
                None,
            );
            return None;
        }
    };
    let rule = if present != negated {
        HeaderRule::Present
    } else {
        HeaderRule::Absent
    };
    Some(HeaderMatch { name: header, rule })
}
