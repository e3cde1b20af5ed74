//! Services, their endpoints and subsets.

use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Labels on an endpoint (`version: v1`), and selectors over them.
pub type Labels = BTreeMap<String, String>;

/// How a destination spreads requests over its endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LoadBalancer {
    /// Power of two choices over peak-EWMA latency weighted by in-flight
    /// requests: the default, as in Linkerd and Finagle.
    #[default]
    PeakEwma,
    /// Each endpoint in turn.
    RoundRobin,
}

/// One address that serves a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Where to connect.
    pub address: SocketAddr,
    /// Labels that subsets select on.
    pub labels: Labels,
}

impl Endpoint {
    /// An endpoint with no labels.
    pub fn new(address: SocketAddr) -> Self {
        Self {
            address,
            labels: Labels::new(),
        }
    }

    /// Adds a label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Whether every label in `selector` is on this endpoint.
    pub fn selected_by(&self, selector: &Labels) -> bool {
        selector
            .iter()
            .all(|(k, v)| self.labels.get(k).is_some_and(|have| have == v))
    }
}

/// A named group of a service's endpoints, chosen by labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subset {
    /// The subset's name (`v1`).
    pub name: String,
    /// Endpoints carrying all these labels belong to the subset.
    pub labels: Labels,
    /// Overrides the service's load balancer for this subset.
    pub load_balancer: Option<LoadBalancer>,
}

/// A port the service listens on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// The port number callers use.
    pub number: u16,
    /// The port's name (`grpc`, `http`), if any.
    pub name: Option<String>,
}

/// A service: a host name, its endpoints and its subsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// The host name (`attendees` or `attendees.default.svc.cluster.local`).
    pub host: String,
    /// Ports the service listens on.
    pub ports: Vec<ServicePort>,
    /// Addresses that serve it.
    pub endpoints: Vec<Endpoint>,
    /// Named groups of endpoints.
    pub subsets: Vec<Subset>,
    /// The default load balancer for the service.
    pub load_balancer: LoadBalancer,
    /// How clients protect connections to the service's endpoints.
    pub tls: super::UpstreamTls,
}

impl Service {
    /// A service with no endpoints, ports or subsets yet.
    ///
    /// ```
    /// use mesh_core::policy::{Endpoint, Service};
    /// let svc = Service::new("attendees")
    ///     .endpoint(Endpoint::new("127.0.0.1:50051".parse().unwrap()).label("version", "v1"))
    ///     .subset("v1", [("version", "v1")]);
    /// assert_eq!(svc.subsets[0].name, "v1");
    /// ```
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            ports: Vec::new(),
            endpoints: Vec::new(),
            subsets: Vec::new(),
            load_balancer: LoadBalancer::default(),
            tls: super::UpstreamTls::default(),
        }
    }

    /// Sets how clients protect connections to the service.
    pub fn tls(mut self, tls: super::UpstreamTls) -> Self {
        self.tls = tls;
        self
    }

    /// Adds an endpoint.
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    /// Adds a port.
    pub fn port(mut self, number: u16, name: Option<&str>) -> Self {
        self.ports.push(ServicePort {
            number,
            name: name.map(str::to_owned),
        });
        self
    }

    /// Adds a subset selecting endpoints by labels.
    pub fn subset<K, V>(mut self, name: &str, labels: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.subsets.push(Subset {
            name: name.to_owned(),
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            load_balancer: None,
        });
        self
    }

    /// Sets the load balancer.
    pub fn load_balancer(mut self, lb: LoadBalancer) -> Self {
        self.load_balancer = lb;
        self
    }
}

/// Whether two host names name the same service: equal, or one is the
/// short name (first label) of the other, as Kubernetes search domains make
/// `attendees` and `attendees.default.svc.cluster.local` the same service.
pub fn same_host(a: &str, b: &str) -> bool {
    /// Whether `short` has no dot and is `long`'s first label. In bytes,
    /// not char patterns: servers ask on every request.
    fn is_short_name_of(short: &[u8], long: &[u8]) -> bool {
        long.len() > short.len()
            && long[short.len()] == b'.'
            && long.starts_with(short)
            && !short.contains(&b'.')
    }
    a == b
        || is_short_name_of(a.as_bytes(), b.as_bytes())
        || is_short_name_of(b.as_bytes(), a.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_names_are_the_same_host() {
        assert!(same_host(
            "attendees",
            "attendees.default.svc.cluster.local"
        ));
        assert!(same_host(
            "attendees.default.svc.cluster.local",
            "attendees"
        ));
        assert!(!same_host(
            "attendees",
            "sessions.default.svc.cluster.local"
        ));
        assert!(!same_host(
            "attendees.a.svc.cluster.local",
            "attendees.b.svc.cluster.local"
        ));
        assert!(!same_host("attendees", "attendees2.default"));
        assert!(!same_host("attendees.default", "attendees.default.svc"));
        assert!(same_host("attendees", "attendees"));
        assert!(same_host("a.b", "a"), "either way round");
        assert!(same_host("a", "a.b"));
    }

    #[test]
    fn selector_needs_every_label() {
        let e = Endpoint::new("127.0.0.1:1".parse().unwrap())
            .label("version", "v1")
            .label("zone", "a");
        let mut sel = Labels::new();
        sel.insert("version".into(), "v1".into());
        assert!(e.selected_by(&sel));
        sel.insert("zone".into(), "b".into());
        assert!(!e.selected_by(&sel));
    }
}
