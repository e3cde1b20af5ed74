//! Request matchers: strings, paths, headers and whole requests.

use std::fmt;

use http::{HeaderMap, HeaderName, Method};
use regex::Regex;

use super::PolicyError;

/// A compiled regular expression that compares by its source pattern.
///
/// The pattern is anchored: it must match the whole value, as in Istio and
/// Envoy (RE2 full match), not a substring.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles `source` as a full-match regular expression.
    ///
    /// ```
    /// let p = mesh_core::policy::Pattern::new("/v[12]/.*").unwrap();
    /// assert!(p.is_match("/v1/users"));
    /// assert!(!p.is_match("/api/v1/users"));
    /// ```
    pub fn new(source: &str) -> Result<Self, PolicyError> {
        let regex = Regex::new(&format!("^(?:{source})$")).map_err(|e| PolicyError::BadRegex {
            pattern: source.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            source: source.to_owned(),
            regex,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `value` matches.
    pub fn is_match(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

/// How a string value is compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StringMatch {
    /// The value equals this string.
    Exact(String),
    /// The value starts with this string.
    Prefix(String),
    /// The whole value matches this pattern.
    Regex(Pattern),
}

impl StringMatch {
    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            StringMatch::Exact(s) => value == s,
            StringMatch::Prefix(s) => value.starts_with(s.as_str()),
            StringMatch::Regex(p) => p.is_match(value),
        }
    }
}

/// How a request header is matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderRule {
    /// The header is present and one of its values matches.
    Value(StringMatch),
    /// The header is present, whatever its value.
    Present,
    /// The header is absent.
    Absent,
}

/// A condition on one request header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderMatch {
    /// The header's name (lowercase, as HTTP/2 carries it).
    pub name: HeaderName,
    /// What the header must satisfy.
    pub rule: HeaderRule,
}

impl HeaderMatch {
    /// Whether `headers` satisfy this condition.
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(&self.name).iter().peekable();
        match &self.rule {
            HeaderRule::Present => values.peek().is_some(),
            HeaderRule::Absent => values.peek().is_none(),
            // A value that is not valid UTF-8 cannot match a string rule.
            HeaderRule::Value(m) => values.any(|v| v.to_str().is_ok_and(|v| m.matches(v))),
        }
    }
}

/// The parts of a request that routing looks at.
#[derive(Clone, Copy, Debug)]
pub struct RequestParts<'a> {
    /// The path, without the query string.
    pub path: &'a str,
    /// The method.
    pub method: &'a Method,
    /// The authority (`:authority` or `Host`), if any.
    pub authority: Option<&'a str>,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

impl<'a, B> From<&'a http::Request<B>> for RequestParts<'a> {
    fn from(req: &'a http::Request<B>) -> Self {
        let authority = req.uri().authority().map(|a| a.as_str()).or_else(|| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        });
        RequestParts {
            path: req.uri().path(),
            method: req.method(),
            authority,
            headers: req.headers(),
        }
    }
}

/// A set of conditions that must all hold for a route to match.
///
/// An empty match (every field `None` or empty) matches every request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestMatch {
    /// Condition on the path.
    pub path: Option<StringMatch>,
    /// Condition on the method.
    pub method: Option<StringMatch>,
    /// Condition on the authority.
    pub authority: Option<StringMatch>,
    /// Conditions on headers, all of which must hold.
    pub headers: Vec<HeaderMatch>,
}

impl RequestMatch {
    /// Whether the request satisfies every condition.
    pub fn matches(&self, req: &RequestParts<'_>) -> bool {
        self.path.as_ref().is_none_or(|m| m.matches(req.path))
            && self
                .method
                .as_ref()
                .is_none_or(|m| m.matches(req.method.as_str()))
            && self
                .authority
                .as_ref()
                .is_none_or(|m| req.authority.is_some_and(|a| m.matches(a)))
            && self.headers.iter().all(|h| h.matches(req.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(path: &'a str, headers: &'a HeaderMap) -> RequestParts<'a> {
        RequestParts {
            path,
            method: &Method::POST,
            authority: Some("attendees:50051"),
            headers,
        }
    }

    #[test]
    fn regex_is_anchored_at_both_ends() {
        let m = StringMatch::Regex(Pattern::new("/a+").unwrap());
        assert!(m.matches("/aaa"));
        assert!(!m.matches("/aaab"));
        assert!(!m.matches("x/aaa"));
    }

    #[test]
    fn bad_regex_is_an_error_naming_the_pattern() {
        let err = Pattern::new("(").unwrap_err().to_string();
        assert!(err.contains("\"(\""), "{err}");
    }

    #[test]
    fn header_rules() {
        let mut h = HeaderMap::new();
        h.append("x-user-group", "alpha".parse().unwrap());
        h.append("x-user-group", "beta".parse().unwrap());
        let beta = HeaderMatch {
            name: HeaderName::from_static("x-user-group"),
            rule: HeaderRule::Value(StringMatch::Exact("beta".into())),
        };
        assert!(beta.matches(&h), "any of the repeated values may match");
        let absent = HeaderMatch {
            name: HeaderName::from_static("x-debug"),
            rule: HeaderRule::Absent,
        };
        assert!(absent.matches(&h));
        let present = HeaderMatch {
            name: HeaderName::from_static("x-debug"),
            rule: HeaderRule::Present,
        };
        assert!(!present.matches(&h));
    }

    #[test]
    fn request_match_requires_every_condition() {
        let h = HeaderMap::new();
        let m = RequestMatch {
            path: Some(StringMatch::Prefix("/conference.Attendees/".into())),
            method: Some(StringMatch::Exact("POST".into())),
            authority: Some(StringMatch::Prefix("attendees".into())),
            headers: vec![],
        };
        assert!(m.matches(&parts("/conference.Attendees/List", &h)));
        assert!(!m.matches(&parts("/conference.Sessions/List", &h)));
        assert!(RequestMatch::default().matches(&parts("/anything", &h)));
    }
}
