//! The four xDS resource types the client follows, and their type URLs.

use std::fmt;

/// A resource type of the LDS -> RDS -> CDS -> EDS cascade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `envoy.config.listener.v3.Listener` (LDS).
    Listener,
    /// `envoy.config.route.v3.RouteConfiguration` (RDS).
    RouteConfig,
    /// `envoy.config.cluster.v3.Cluster` (CDS).
    Cluster,
    /// `envoy.config.endpoint.v3.ClusterLoadAssignment` (EDS).
    Endpoints,
}

impl Kind {
    /// Every kind, in cascade order.
    pub const ALL: [Kind; 4] = [
        Kind::Listener,
        Kind::RouteConfig,
        Kind::Cluster,
        Kind::Endpoints,
    ];

    /// The type URL on the wire.
    pub fn type_url(self) -> &'static str {
        match self {
            Kind::Listener => "type.googleapis.com/envoy.config.listener.v3.Listener",
            Kind::RouteConfig => "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
            Kind::Cluster => "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            Kind::Endpoints => "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
        }
    }

    /// The kind a type URL names, if it is one of ours.
    pub fn from_type_url(url: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.type_url() == url)
    }

    /// Whether a response holds the full set (LDS, CDS): a subscribed
    /// resource missing from it does not exist.
    pub fn is_full_state(self) -> bool {
        matches!(self, Kind::Listener | Kind::Cluster)
    }

    /// The position in [`Kind::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Listener => "listener",
            Kind::RouteConfig => "route_config",
            Kind::Cluster => "cluster",
            Kind::Endpoints => "cluster_load_assignment",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::{
        cluster::v3::Cluster, endpoint::v3::ClusterLoadAssignment, listener::v3::Listener,
        route::v3::RouteConfiguration,
    };
    use prost::Name;

    #[test]
    fn type_urls_match_the_messages() {
        assert_eq!(Kind::Listener.type_url(), Listener::type_url());
        assert_eq!(Kind::RouteConfig.type_url(), RouteConfiguration::type_url());
        assert_eq!(Kind::Cluster.type_url(), Cluster::type_url());
        assert_eq!(
            Kind::Endpoints.type_url(),
            ClusterLoadAssignment::type_url()
        );
        for k in Kind::ALL {
            assert_eq!(Kind::from_type_url(k.type_url()), Some(k));
            assert_eq!(Kind::ALL[k.index()], k);
        }
    }
}
