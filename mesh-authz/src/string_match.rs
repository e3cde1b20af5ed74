//! Istio's string form of a match: exact, prefix, suffix or presence.

/// One string pattern as Istio writes it in an `AuthorizationPolicy`.
///
/// | written  | variant                | matches                     |
/// |----------|------------------------|-----------------------------|
/// | `"abc"`  | `Exact("abc")`         | exactly `abc`               |
/// | `"abc*"` | `Prefix("abc")`        | anything starting with `abc`|
/// | `"*abc"` | `Suffix("abc")`        | anything ending with `abc`  |
/// | `"*"`    | `Presence`             | any value, even empty       |
///
/// Matching is byte-wise and case-sensitive; hosts use
/// [`matches_ignore_case`](Self::matches_ignore_case) (ASCII case folding,
/// which is all a host name needs).
///
/// ```
/// use mesh_authz::StringMatch;
///
/// let m = StringMatch::parse("/admin/*")?;
/// assert!(m.matches("/admin/users"));
/// assert!(!m.matches("/administrator"));
/// assert!(StringMatch::parse("*.example.com")?.matches_ignore_case("API.Example.COM"));
/// # Ok::<(), mesh_authz::StringMatchError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StringMatch {
    /// The value equals this string.
    Exact(String),
    /// The value starts with this string.
    Prefix(String),
    /// The value ends with this string.
    Suffix(String),
    /// Any value matches, as long as there is one.
    Presence,
}

/// A pattern [`StringMatch::parse`] does not accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StringMatchError {
    /// A `*` somewhere other than alone, leading or trailing, such as
    /// `"a*b"`, `"*a*"` or a path template `"/v1/{*}/x"`.
    ///
    /// Istio would read these as literal text and silently never match,
    /// which in a DENY policy means denying nothing; rejecting is safer.
    #[error(
        "unsupported wildcard in {0:?}: only a single leading `*` (suffix), trailing `*` (prefix) or a lone `*` (presence) is supported"
    )]
    Wildcard(String),
}

impl StringMatch {
    /// Reads Istio's string form.
    ///
    /// # Errors
    ///
    /// [`StringMatchError::Wildcard`] when a `*` appears anywhere but alone,
    /// first or last.
    pub fn parse(s: &str) -> Result<Self, StringMatchError> {
        let parsed = if s == "*" {
            Self::Presence
        } else if let Some(rest) = s.strip_prefix('*') {
            Self::Suffix(rest.to_owned())
        } else if let Some(rest) = s.strip_suffix('*') {
            Self::Prefix(rest.to_owned())
        } else {
            Self::Exact(s.to_owned())
        };
        match &parsed {
            Self::Exact(t) | Self::Prefix(t) | Self::Suffix(t) if t.contains('*') => {
                Err(StringMatchError::Wildcard(s.to_owned()))
            }
            _ => Ok(parsed),
        }
    }

    /// Whether `value` matches, case-sensitively.
    pub fn matches(&self, value: &str) -> bool {
        self.matches_bytes(value.as_bytes())
    }

    /// Whether `value` matches, ignoring ASCII case (for hosts).
    pub fn matches_ignore_case(&self, value: &str) -> bool {
        self.matches_bytes_ignore_case(value.as_bytes())
    }

    /// [`matches_ignore_case`](Self::matches_ignore_case) on raw bytes.
    pub(crate) fn matches_bytes_ignore_case(&self, value: &[u8]) -> bool {
        match self {
            Self::Exact(t) => value.eq_ignore_ascii_case(t.as_bytes()),
            Self::Prefix(t) => value
                .get(..t.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(t.as_bytes())),
            Self::Suffix(t) => value
                .len()
                .checked_sub(t.len())
                .and_then(|start| value.get(start..))
                .is_some_and(|tail| tail.eq_ignore_ascii_case(t.as_bytes())),
            Self::Presence => true,
        }
    }

    /// Whether raw bytes match, case-sensitively (header values need not
    /// be UTF-8).
    pub fn matches_bytes(&self, value: &[u8]) -> bool {
        match self {
            Self::Exact(t) => value == t.as_bytes(),
            Self::Prefix(t) => value.starts_with(t.as_bytes()),
            Self::Suffix(t) => value.ends_with(t.as_bytes()),
            Self::Presence => true,
        }
    }
}

impl std::fmt::Display for StringMatch {
    /// Writes Istio's string form back, so `parse(m.to_string()) == m`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(t) => f.write_str(t),
            Self::Prefix(t) => write!(f, "{t}*"),
            Self::Suffix(t) => write!(f, "*{t}"),
            Self::Presence => f.write_str("*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> StringMatch {
        StringMatch::parse(s).unwrap()
    }

    #[test]
    fn parses_the_four_forms() {
        assert_eq!(p("abc"), StringMatch::Exact("abc".into()));
        assert_eq!(p("abc*"), StringMatch::Prefix("abc".into()));
        assert_eq!(p("*abc"), StringMatch::Suffix("abc".into()));
        assert_eq!(p("*"), StringMatch::Presence);
        assert_eq!(p(""), StringMatch::Exact(String::new()));
        for s in ["abc", "abc*", "*abc", "*", ""] {
            assert_eq!(p(s).to_string(), s);
        }
    }

    #[test]
    fn rejects_interior_and_double_wildcards() {
        for s in ["a*b", "*a*", "**", "/v1/{*}/x", "a**"] {
            assert_eq!(
                StringMatch::parse(s),
                Err(StringMatchError::Wildcard(s.into())),
                "{s}"
            );
        }
        let msg = StringMatch::parse("a*b").unwrap_err().to_string();
        assert!(msg.starts_with("unsupported wildcard in \"a*b\""), "{msg}");
    }

    #[test]
    fn matches_case_sensitively() {
        assert!(p("abc").matches("abc"));
        assert!(!p("abc").matches("ABC"));
        assert!(!p("abc").matches("abcd"));
        assert!(p("ab*").matches("ab"));
        assert!(p("ab*").matches("abc"));
        assert!(!p("ab*").matches("a"));
        assert!(p("*bc").matches("abc"));
        assert!(p("*bc").matches("bc"));
        assert!(!p("*bc").matches("bcd"));
        assert!(p("*").matches(""));
        assert!(p("").matches(""));
        assert!(!p("").matches("x"));
    }

    #[test]
    fn matches_ignoring_ascii_case() {
        assert!(p("Example.com").matches_ignore_case("eXample.COM"));
        assert!(p("api.*").matches_ignore_case("API.x"));
        assert!(!p("api.*").matches_ignore_case("AP"));
        assert!(p("*.Example.com").matches_ignore_case("a.example.COM"));
        assert!(!p("*.example.com").matches_ignore_case("example.com"));
        assert!(p("*").matches_ignore_case(""));
        // Multi-byte text never panics on a slice boundary.
        assert!(!p("é*").matches_ignore_case("e"));
        assert!(!p("*é").matches_ignore_case("\u{e9}x"));
    }

    #[test]
    fn matches_non_utf8_bytes() {
        assert!(p("a*").matches_bytes(b"a\xff"));
        assert!(!p("a").matches_bytes(b"a\xff"));
    }
}
