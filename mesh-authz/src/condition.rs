//! `when` conditions: the supported keys and how they are written.

use http::HeaderName;

use crate::StringMatch;

/// The keys a `when` condition may name, as Istio spells them.
pub const SUPPORTED_KEYS: &[&str] = &[
    "request.headers[<name>]",
    "source.principal",
    "source.namespace",
    "destination.port",
];

/// One `when` condition of a rule: the attribute `key` must match one of
/// `values` (if any) and none of `not_values`.
///
/// An empty `values` list is no constraint; a condition with both lists
/// empty matches everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// The request attribute the condition reads.
    pub key: ConditionKey,
    /// The attribute must match one of these (when non-empty).
    pub values: Vec<StringMatch>,
    /// The attribute must match none of these.
    pub not_values: Vec<StringMatch>,
}

/// The request attribute a [`Condition`] reads.
///
/// ```
/// use mesh_authz::ConditionKey;
///
/// let key = ConditionKey::parse("request.headers[X-User]")?;
/// assert_eq!(key, ConditionKey::RequestHeader(http::HeaderName::from_static("x-user")));
/// assert_eq!(key.to_string(), "request.headers[x-user]");
/// assert!(ConditionKey::parse("source.ip").is_err());
/// # Ok::<(), mesh_authz::ConditionKeyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConditionKey {
    /// `request.headers[<name>]`: a request header (names are
    /// case-insensitive, stored lowercase).
    RequestHeader(HeaderName),
    /// `source.principal`: the caller's identity, without `spiffe://`.
    SourcePrincipal,
    /// `source.namespace`: the namespace in the caller's identity.
    SourceNamespace,
    /// `destination.port`: the server port the request arrived on.
    DestinationPort,
}

/// A condition key [`ConditionKey::parse`] does not accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConditionKeyError {
    /// A key Istio may know but this mesh does not evaluate.
    #[error("unsupported condition key {key:?}; supported keys: {}", SUPPORTED_KEYS.join(", "))]
    Unsupported {
        /// The key as written.
        key: String,
    },
    /// `request.headers[...]` with a name that is not a valid header name.
    #[error("invalid header name {name:?} in condition key {key:?}")]
    InvalidHeaderName {
        /// The key as written.
        key: String,
        /// The text between the brackets.
        name: String,
    },
}

impl ConditionKey {
    /// Reads a key as Istio writes it, such as `request.headers[x-user]`
    /// or `source.namespace`.
    ///
    /// # Errors
    ///
    /// [`ConditionKeyError::Unsupported`] (listing the supported keys) for
    /// any other key, and [`ConditionKeyError::InvalidHeaderName`] for a
    /// header key whose name is empty or invalid.
    pub fn parse(key: &str) -> Result<Self, ConditionKeyError> {
        match key {
            "source.principal" => return Ok(Self::SourcePrincipal),
            "source.namespace" => return Ok(Self::SourceNamespace),
            "destination.port" => return Ok(Self::DestinationPort),
            _ => {}
        }
        let Some(name) = key
            .strip_prefix("request.headers[")
            .and_then(|rest| rest.strip_suffix(']'))
        else {
            return Err(ConditionKeyError::Unsupported {
                key: key.to_owned(),
            });
        };
        HeaderName::from_bytes(name.as_bytes())
            .map(Self::RequestHeader)
            .map_err(|_| ConditionKeyError::InvalidHeaderName {
                key: key.to_owned(),
                name: name.to_owned(),
            })
    }
}

impl std::fmt::Display for ConditionKey {
    /// Writes the key as Istio spells it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RequestHeader(name) => write!(f, "request.headers[{name}]"),
            Self::SourcePrincipal => f.write_str("source.principal"),
            Self::SourceNamespace => f.write_str("source.namespace"),
            Self::DestinationPort => f.write_str("destination.port"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supported_keys() {
        assert_eq!(
            ConditionKey::parse("request.headers[x-user]").unwrap(),
            ConditionKey::RequestHeader(HeaderName::from_static("x-user"))
        );
        assert_eq!(
            ConditionKey::parse("request.headers[X-User]").unwrap(),
            ConditionKey::RequestHeader(HeaderName::from_static("x-user"))
        );
        assert_eq!(
            ConditionKey::parse("source.principal").unwrap(),
            ConditionKey::SourcePrincipal
        );
        assert_eq!(
            ConditionKey::parse("source.namespace").unwrap(),
            ConditionKey::SourceNamespace
        );
        assert_eq!(
            ConditionKey::parse("destination.port").unwrap(),
            ConditionKey::DestinationPort
        );
        for key in [
            "request.headers[x-user]",
            "source.principal",
            "source.namespace",
            "destination.port",
        ] {
            assert_eq!(ConditionKey::parse(key).unwrap().to_string(), key);
        }
    }

    #[test]
    fn unsupported_keys_list_the_supported_ones() {
        for key in [
            "source.ip",
            "remote.ip",
            "request.auth.claims[iss]",
            "connection.sni",
            "request.headers",
            "request.headers[x-user",
            "Source.Principal",
            "",
        ] {
            let err = ConditionKey::parse(key).unwrap_err();
            assert_eq!(err, ConditionKeyError::Unsupported { key: key.into() });
            let msg = err.to_string();
            assert!(msg.starts_with("unsupported condition key"), "{msg}");
            for supported in SUPPORTED_KEYS {
                assert!(msg.contains(supported), "{msg}");
            }
        }
    }

    #[test]
    fn invalid_header_names_are_named() {
        for (key, name) in [
            ("request.headers[]", ""),
            ("request.headers[:authority]", ":authority"),
            ("request.headers[x user]", "x user"),
        ] {
            let err = ConditionKey::parse(key).unwrap_err();
            assert_eq!(
                err,
                ConditionKeyError::InvalidHeaderName {
                    key: key.into(),
                    name: name.into()
                }
            );
        }
        assert_eq!(
            ConditionKey::parse("request.headers[]")
                .unwrap_err()
                .to_string(),
            "invalid header name \"\" in condition key \"request.headers[]\""
        );
    }
}
