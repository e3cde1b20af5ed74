//! [`Resources`]: the accepted xDS resources, raw and translated.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use envoy_types::pb::envoy::config::{
    cluster::v3::Cluster, endpoint::v3::ClusterLoadAssignment, listener::v3::Listener,
    route::v3::RouteConfiguration,
};
use envoy_types::pb::google::protobuf::Any;
use prost::Message;

use super::cluster::{ClusterConfig, cluster};
use super::endpoint::{EndpointsConfig, endpoints};
use super::error::{FieldError, ResourceError, invalid};
use super::listener::{ListenerConfig, RouteSource, listener};
use super::names::ClusterName;
use super::route::{RouteConfig, route_config};
use super::{Kind, assemble};
use crate::policy::{Policy, PolicyError};

/// A translated resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Listener(ListenerConfig),
    Route(RouteConfig),
    Cluster(ClusterConfig),
    Endpoints(EndpointsConfig),
}

/// One resource as received, and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cached<T> {
    pub(crate) raw: Any,
    pub(crate) value: T,
}

/// A resource held, shared by the sets that hold it (the resources
/// received, each target's settled view and the resources in force), so
/// that building those sets copies no resource and comparing them
/// compares pointers first.
type Shared<T> = Arc<Cached<T>>;

/// A decoded and translated resource, not yet stored.
#[derive(Clone, Debug)]
pub(crate) struct Decoded {
    pub(crate) name: String,
    pub(crate) raw: Any,
    pub(crate) value: Value,
}

/// Decodes and translates `any` as a resource of `kind`. The error names
/// the resource and the field.
pub(crate) fn decode(kind: Kind, any: &Any) -> Result<Decoded, ResourceError> {
    let fail = |name: &str, error: FieldError| ResourceError {
        kind,
        name: name.to_owned(),
        error,
    };
    const UNNAMED: &str = "<unnamed>";
    if any.type_url != kind.type_url() {
        let why = format!(
            "{:?} in a response of type {:?}",
            any.type_url,
            kind.type_url()
        );
        return Err(fail(UNNAMED, invalid("type_url", why)));
    }
    let bytes = any.value.as_slice();
    let undecodable =
        |e: prost::DecodeError| fail(UNNAMED, invalid("", format!("cannot decode: {e}")));
    let (name, value) = match kind {
        Kind::Listener => {
            let m = Listener::decode(bytes).map_err(undecodable)?;
            (m.name.clone(), listener(&m).map(Value::Listener))
        }
        Kind::RouteConfig => {
            let m = RouteConfiguration::decode(bytes).map_err(undecodable)?;
            (m.name.clone(), route_config(&m).map(Value::Route))
        }
        Kind::Cluster => {
            let m = Cluster::decode(bytes).map_err(undecodable)?;
            (m.name.clone(), cluster(&m).map(Value::Cluster))
        }
        Kind::Endpoints => {
            let m = ClusterLoadAssignment::decode(bytes).map_err(undecodable)?;
            (m.cluster_name.clone(), endpoints(&m).map(Value::Endpoints))
        }
    };
    let value = value.map_err(|e| fail(&name, e))?;
    Ok(Decoded {
        name,
        raw: any.clone(),
        value,
    })
}

/// The accepted xDS resources of the four kinds, each kept raw (to persist
/// and compare) and translated (to build the policy from).
///
/// The client keeps one; it is public so a policy can be rebuilt from a
/// set of resources without a stream (the control plane's round-trip test):
///
/// ```
/// use mesh_core::xds::Resources;
/// let resources = Resources::new();
/// assert_eq!(resources.to_policy().unwrap().services().count(), 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub(crate) listeners: BTreeMap<String, Shared<ListenerConfig>>,
    pub(crate) routes: BTreeMap<String, Shared<RouteConfig>>,
    pub(crate) clusters: BTreeMap<String, Shared<ClusterConfig>>,
    pub(crate) endpoints: BTreeMap<String, Shared<EndpointsConfig>>,
}

impl Resources {
    /// No resources.
    pub fn new() -> Self {
        Self::default()
    }

    /// Translates `any` as a resource of `kind` and keeps it, replacing one
    /// of the same name. Returns the resource's name; on error nothing
    /// changes.
    pub fn insert(&mut self, kind: Kind, any: &Any) -> Result<String, ResourceError> {
        let decoded = decode(kind, any)?;
        let name = decoded.name.clone();
        self.put(decoded);
        Ok(name)
    }

    /// Keeps a decoded resource; `true` when it differs from the one held.
    pub(crate) fn put(&mut self, d: Decoded) -> bool {
        fn put<T>(map: &mut BTreeMap<String, Shared<T>>, name: String, raw: Any, value: T) -> bool {
            if map.get(&name).is_some_and(|c| c.raw == raw) {
                return false;
            }
            map.insert(name, Arc::new(Cached { raw, value }));
            true
        }
        match d.value {
            Value::Listener(v) => put(&mut self.listeners, d.name, d.raw, v),
            Value::Route(v) => put(&mut self.routes, d.name, d.raw, v),
            Value::Cluster(v) => put(&mut self.clusters, d.name, d.raw, v),
            Value::Endpoints(v) => put(&mut self.endpoints, d.name, d.raw, v),
        }
    }

    /// Forgets a resource; `true` if it was held.
    pub fn remove(&mut self, kind: Kind, name: &str) -> bool {
        match kind {
            Kind::Listener => self.listeners.remove(name).is_some(),
            Kind::RouteConfig => self.routes.remove(name).is_some(),
            Kind::Cluster => self.clusters.remove(name).is_some(),
            Kind::Endpoints => self.endpoints.remove(name).is_some(),
        }
    }

    /// Whether a resource is held.
    pub fn contains(&self, kind: Kind, name: &str) -> bool {
        // A lookup, not a scan: the client asks this for every name of
        // every response and every does-not-exist timer, and a scan made
        // taking in N targets cost N² comparisons.
        match kind {
            Kind::Listener => self.listeners.contains_key(name),
            Kind::RouteConfig => self.routes.contains_key(name),
            Kind::Cluster => self.clusters.contains_key(name),
            Kind::Endpoints => self.endpoints.contains_key(name),
        }
    }

    /// The names held of one kind, sorted.
    pub fn names(&self, kind: Kind) -> Vec<String> {
        self.raw(kind).map(|(n, _)| n.clone()).collect()
    }

    /// The resources of one kind as received, sorted by name.
    pub(crate) fn raw(&self, kind: Kind) -> Box<dyn Iterator<Item = (&String, &Any)> + '_> {
        match kind {
            Kind::Listener => Box::new(self.listeners.iter().map(|(n, c)| (n, &c.raw))),
            Kind::RouteConfig => Box::new(self.routes.iter().map(|(n, c)| (n, &c.raw))),
            Kind::Cluster => Box::new(self.clusters.iter().map(|(n, c)| (n, &c.raw))),
            Kind::Endpoints => Box::new(self.endpoints.iter().map(|(n, c)| (n, &c.raw))),
        }
    }

    /// Every route configuration held, with the listeners' inline ones.
    pub(crate) fn route_configs(&self) -> impl Iterator<Item = &RouteConfig> {
        let inline = self
            .listeners
            .values()
            .filter_map(|l| match &l.value.route {
                RouteSource::Inline(rc) => Some(rc),
                RouteSource::Rds(_) | RouteSource::NonForwarding => None,
            });
        self.routes.values().map(|c| &c.value).chain(inline)
    }

    /// The names of `kind` that the resources held refer to (for listeners:
    /// the targets): what the client subscribes to.
    pub(crate) fn wanted(&self, kind: Kind, targets: &BTreeSet<String>) -> BTreeSet<String> {
        match kind {
            Kind::Listener => targets.clone(),
            Kind::RouteConfig => targets
                .iter()
                .filter_map(|t| match &self.listeners.get(t)?.value.route {
                    RouteSource::Rds(name) => Some(name.clone()),
                    RouteSource::Inline(_) | RouteSource::NonForwarding => None,
                })
                .collect(),
            // The clusters routes send to, and with each subset cluster its
            // whole-service cluster: the service's balancer and its full
            // set of endpoints come from that one.
            Kind::Cluster => self
                .route_configs()
                .flat_map(|rc| rc.cluster_names())
                .flat_map(|c| {
                    let whole = ClusterName {
                        subset: None,
                        ..c.parsed.clone()
                    };
                    [c.name.clone(), whole.to_string()]
                })
                .collect(),
            Kind::Endpoints => self
                .clusters
                .values()
                .map(|c| c.value.eds_name.clone())
                .collect(),
        }
    }

    /// What `target` uses of the resources held: its listener, its route
    /// configuration, the clusters that one sends to and their endpoints.
    pub(crate) fn view(&self, target: &str) -> Resources {
        let targets = BTreeSet::from([target.to_owned()]);
        let mut view = Resources::new();
        for kind in Kind::ALL {
            for name in view.wanted(kind, &targets) {
                view.copy(self, kind, &name);
            }
        }
        view
    }

    /// Adds what `other` holds and `self` does not.
    pub(crate) fn fill_from(&mut self, other: &Resources) {
        fn fill<T>(to: &mut BTreeMap<String, Shared<T>>, from: &BTreeMap<String, Shared<T>>) {
            for (name, cached) in from {
                if !to.contains_key(name) {
                    to.insert(name.clone(), cached.clone());
                }
            }
        }
        fill(&mut self.listeners, &other.listeners);
        fill(&mut self.routes, &other.routes);
        fill(&mut self.clusters, &other.clusters);
        fill(&mut self.endpoints, &other.endpoints);
    }

    /// Copies one resource from `from`, if held there.
    fn copy(&mut self, from: &Resources, kind: Kind, name: &str) {
        fn copy<T>(
            to: &mut BTreeMap<String, Shared<T>>,
            from: &BTreeMap<String, Shared<T>>,
            name: &str,
        ) {
            if let Some(c) = from.get(name) {
                to.insert(name.to_owned(), c.clone());
            }
        }
        match kind {
            Kind::Listener => copy(&mut self.listeners, &from.listeners, name),
            Kind::RouteConfig => copy(&mut self.routes, &from.routes, name),
            Kind::Cluster => copy(&mut self.clusters, &from.clusters, name),
            Kind::Endpoints => copy(&mut self.endpoints, &from.endpoints, name),
        }
    }

    /// Forgets what nothing refers to any more, in cascade order (a dropped
    /// route configuration releases its clusters). Returns whether anything
    /// went.
    pub(crate) fn prune(&mut self, targets: &BTreeSet<String>) -> bool {
        let mut changed = false;
        for kind in Kind::ALL {
            let wanted = self.wanted(kind, targets);
            for name in self.names(kind) {
                if !wanted.contains(&name) {
                    changed |= self.remove(kind, &name);
                }
            }
        }
        changed
    }

    /// Rebuilds the policy from everything held (docs/xds-mapping.md,
    /// "From a snapshot back to a policy").
    pub fn to_policy(&self) -> Result<Policy, PolicyError> {
        assemble::policy(self)
    }
}
