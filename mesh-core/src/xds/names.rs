//! istiod's names: clusters `outbound|<port>|<subset>|<host>`, server
//! listeners `xds.istio.io/grpc/lds/inbound/<ip>:<port>`.

use std::fmt;
use std::net::SocketAddr;

/// What the name of a server's inbound listener starts with (istiod's
/// `server_listener_resource_name_template`, gRFC A36), followed by the
/// address the server listens on.
pub const INBOUND_LISTENER_PREFIX: &str = "xds.istio.io/grpc/lds/inbound/";

/// The inbound listener name of a server address:
/// `xds.istio.io/grpc/lds/inbound/10.0.0.1:50051` (`[::1]:50051` for IPv6).
///
/// ```
/// let name = mesh_core::xds::inbound_listener_name("10.0.0.1:50051".parse().unwrap());
/// assert_eq!(name, "xds.istio.io/grpc/lds/inbound/10.0.0.1:50051");
/// ```
pub fn inbound_listener_name(addr: SocketAddr) -> String {
    format!("{INBOUND_LISTENER_PREFIX}{addr}")
}

/// The address in an inbound listener name, if it is one.
pub(crate) fn inbound_address(name: &str) -> Option<SocketAddr> {
    name.strip_prefix(INBOUND_LISTENER_PREFIX)?.parse().ok()
}

/// A cluster name taken apart.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ClusterName {
    /// The service port.
    pub(crate) port: u16,
    /// The subset, or `None` for the service as a whole.
    pub(crate) subset: Option<String>,
    /// The service's host.
    pub(crate) host: String,
}

impl ClusterName {
    /// Parses `outbound|<port>|<subset>|<host>`; the reason on error.
    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        let hint = "expected outbound|<port>|<subset>|<host>";
        let mut parts = name.split('|');
        let (Some(dir), Some(port), Some(subset), Some(host), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(format!("{name:?} is not a mesh cluster name ({hint})"));
        };
        if dir != "outbound" {
            return Err(format!(
                "{name:?}: only outbound clusters are supported ({hint})"
            ));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("{name:?}: port {port:?} is not a number ({hint})"))?;
        if host.is_empty() {
            return Err(format!("{name:?}: the host is empty ({hint})"));
        }
        Ok(Self {
            port,
            subset: (!subset.is_empty()).then(|| subset.to_owned()),
            host: host.to_owned(),
        })
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subset = self.subset.as_deref().unwrap_or("");
        write!(f, "outbound|{}|{subset}|{}", self.port, self.host)
    }
}

/// The host part of `host[:port]` (IPv6 literals keep their brackets).
pub(crate) fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_istio_names() {
        let c =
            ClusterName::parse("outbound|50051|v1|attendees.default.svc.cluster.local").unwrap();
        assert_eq!(c.port, 50051);
        assert_eq!(c.subset.as_deref(), Some("v1"));
        assert_eq!(c.host, "attendees.default.svc.cluster.local");
        assert_eq!(
            c.to_string(),
            "outbound|50051|v1|attendees.default.svc.cluster.local"
        );
        let whole = ClusterName::parse("outbound|80||sessions").unwrap();
        assert_eq!(whole.subset, None);
        assert_eq!(whole.to_string(), "outbound|80||sessions");
    }

    #[test]
    fn rejects_other_names_with_the_reason() {
        assert!(
            ClusterName::parse("attendees")
                .unwrap_err()
                .contains("not a mesh cluster name")
        );
        assert!(
            ClusterName::parse("inbound|80||a")
                .unwrap_err()
                .contains("only outbound")
        );
        assert!(
            ClusterName::parse("outbound|x||a")
                .unwrap_err()
                .contains("port \"x\"")
        );
        assert!(
            ClusterName::parse("outbound|80||")
                .unwrap_err()
                .contains("host is empty")
        );
    }

    #[test]
    fn inbound_names_carry_the_address() {
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(
            inbound_listener_name(v6),
            "xds.istio.io/grpc/lds/inbound/[::1]:80"
        );
        assert_eq!(inbound_address(&inbound_listener_name(v6)), Some(v6));
        assert_eq!(inbound_address("xds.istio.io/grpc/lds/inbound/x"), None);
        assert_eq!(inbound_address("attendees:80"), None);
    }

    #[test]
    fn hosts_lose_their_ports() {
        assert_eq!(host_of("attendees:50051"), "attendees");
        assert_eq!(host_of("attendees"), "attendees");
        assert_eq!(host_of("[::1]:80"), "[::1]");
    }
}
