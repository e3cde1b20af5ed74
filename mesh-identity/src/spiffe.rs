//! SPIFFE IDs of the form the mesh issues:
//! `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.

use std::fmt;
use std::str::FromStr;

/// A workload identity: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
///
/// ```
/// use mesh_identity::SpiffeId;
/// let id: SpiffeId = "spiffe://cluster.local/ns/default/sa/attendees".parse().unwrap();
/// assert_eq!(id.namespace(), "default");
/// assert_eq!(id.principal(), "cluster.local/ns/default/sa/attendees");
/// assert!("spiffe://cluster.local/ns/default".parse::<SpiffeId>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    trust_domain: String,
    namespace: String,
    service_account: String,
}

/// Why a string is not a mesh SPIFFE ID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid SPIFFE ID {input:?}: {reason}")]
pub struct InvalidSpiffeId {
    input: String,
    reason: &'static str,
}

impl InvalidSpiffeId {
    fn new(input: &str, reason: &'static str) -> Self {
        Self {
            input: input.to_owned(),
            reason,
        }
    }
}

/// Letters, digits, `-`, `.` and `_`, as SPIFFE allows in a trust domain
/// and in path segments (lowercase only in the trust domain).
fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Whether `s` is a valid trust domain name (lowercase; see [`valid_segment`]).
pub(crate) fn valid_trust_domain(s: &str) -> bool {
    valid_segment(s) && !s.bytes().any(|b| b.is_ascii_uppercase())
}

impl SpiffeId {
    /// The ID of service account `service_account` in `namespace` of
    /// `trust_domain`.
    pub fn new(
        trust_domain: &str,
        namespace: &str,
        service_account: &str,
    ) -> Result<Self, InvalidSpiffeId> {
        let id = Self {
            trust_domain: trust_domain.to_owned(),
            namespace: namespace.to_owned(),
            service_account: service_account.to_owned(),
        };
        if !valid_trust_domain(trust_domain) {
            return Err(InvalidSpiffeId::new(
                &id.to_string(),
                "the trust domain must be lowercase letters, digits, '-', '.' or '_'",
            ));
        }
        if !valid_segment(namespace) || !valid_segment(service_account) {
            return Err(InvalidSpiffeId::new(
                &id.to_string(),
                "namespace and service account must be letters, digits, '-', '.' or '_'",
            ));
        }
        Ok(id)
    }

    /// The trust domain, e.g. `cluster.local`.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The service account.
    pub fn service_account(&self) -> &str {
        &self.service_account
    }

    /// The ID without `spiffe://`, as Istio's `AuthorizationPolicy` names
    /// principals: `cluster.local/ns/default/sa/attendees`.
    pub fn principal(&self) -> String {
        format!(
            "{}/ns/{}/sa/{}",
            self.trust_domain, self.namespace, self.service_account
        )
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "spiffe://{}/ns/{}/sa/{}",
            self.trust_domain, self.namespace, self.service_account
        )
    }
}

impl FromStr for SpiffeId {
    type Err = InvalidSpiffeId;

    fn from_str(s: &str) -> Result<Self, InvalidSpiffeId> {
        let rest = s
            .strip_prefix("spiffe://")
            .ok_or_else(|| InvalidSpiffeId::new(s, "it must start with spiffe://"))?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [td, "ns", ns, "sa", sa] => Self::new(td, ns, sa).map_err(|e| InvalidSpiffeId {
                input: s.to_owned(),
                reason: e.reason,
            }),
            _ => Err(InvalidSpiffeId::new(
                s,
                "expected spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let s = "spiffe://cluster.local/ns/default/sa/attendees";
        let id: SpiffeId = s.parse().unwrap();
        assert_eq!(id.to_string(), s);
        assert_eq!(id.trust_domain(), "cluster.local");
        assert_eq!(id.service_account(), "attendees");
    }

    #[test]
    fn rejects_malformed_ids_with_the_reason() {
        for (input, reason) in [
            ("https://cluster.local/ns/a/sa/b", "start with spiffe://"),
            ("spiffe://cluster.local/ns/a", "expected spiffe://"),
            (
                "spiffe://cluster.local/ns/a/sa/b/extra",
                "expected spiffe://",
            ),
            ("spiffe://Cluster.local/ns/a/sa/b", "lowercase"),
            (
                "spiffe://cluster.local/ns/../sa/b",
                "namespace and service account",
            ),
            (
                "spiffe://cluster.local/ns//sa/b",
                "namespace and service account",
            ),
            (
                "spiffe://cluster.local/ns/a/sa/b c",
                "namespace and service account",
            ),
        ] {
            let err = input.parse::<SpiffeId>().unwrap_err().to_string();
            assert!(err.contains(reason), "{input}: {err}");
            assert!(err.contains(input), "{input}: {err}");
        }
    }
}
