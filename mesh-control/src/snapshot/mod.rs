//! A versioned, immutable set of xDS resources built from one policy.
//!
//! Every snapshot has a version (a counter, one up per change); every
//! resource in it also remembers the snapshot version at which its content
//! last changed, so a stream can tell which of the resources it sent are
//! out of date without comparing encoded bytes (which protobuf maps do not
//! keep stable).

mod inbound;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use envoy_types::pb::google::protobuf::Any;
use envoy_types::util::pack_any;
use mesh_core::policy::Policy;
use prost::{Message, Name};

use crate::xds::{
    self, CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, Options, ROUTE_TYPE, Resources,
};
use inbound::InboundListeners;

/// A resource with the snapshot version of its last change.
#[derive(Debug)]
struct Versioned<T> {
    version: u64,
    message: T,
    any: Any,
}

/// A resource shared by every snapshot in which it did not change: an edit
/// of one service copies no other service's resources.
type Shared<T> = Arc<Versioned<T>>;

/// One resource to send: its name, the version of its last change and its
/// encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The resource's name.
    pub name: String,
    /// Tells whether its content changed: the snapshot version at which
    /// it last did, for most resources (see [`Snapshot::resolve`]). Only
    /// ever compared for equality.
    pub version: u64,
    /// The resource, packed.
    pub any: Any,
}

/// What a client subscribes to for one type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    /// Every resource of the type (LDS and CDS only).
    pub wildcard: bool,
    /// The names asked for.
    pub names: BTreeSet<String>,
}

/// The xDS resources of one policy, versioned.
#[derive(Clone, Debug)]
pub struct Snapshot {
    version: u64,
    ready: bool,
    options: Options,
    policy: Arc<Policy>,
    listeners: BTreeMap<String, Shared<xds_types::Listener>>,
    inbound: InboundListeners,
    routes: BTreeMap<String, Shared<xds_types::RouteConfiguration>>,
    clusters: BTreeMap<String, Shared<xds_types::Cluster>>,
    endpoints: BTreeMap<String, Shared<xds_types::ClusterLoadAssignment>>,
}

mod xds_types {
    pub(super) use envoy_types::pb::envoy::config::cluster::v3::Cluster;
    pub(super) use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
    pub(super) use envoy_types::pb::envoy::config::listener::v3::Listener;
    pub(super) use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
}

impl Snapshot {
    /// The snapshot before any configuration has loaded: not ready, so
    /// streams hold their answers until the first real one.
    pub fn initial() -> Self {
        Self::initial_with(Options::default())
    }

    /// [`Snapshot::initial`], translating every later policy with
    /// `options` (security on when the CA is).
    pub fn initial_with(options: Options) -> Self {
        Self {
            version: 0,
            ready: false,
            options,
            policy: Arc::new(Policy::empty()),
            listeners: BTreeMap::new(),
            inbound: InboundListeners::default(),
            routes: BTreeMap::new(),
            clusters: BTreeMap::new(),
            endpoints: BTreeMap::new(),
        }
    }

    /// The snapshot after `self` for `policy`: version one up; resources
    /// whose content did not change keep their version.
    pub fn next(&self, policy: Arc<Policy>) -> Self {
        let version = self.version + 1;
        let r = Resources::build_with(&policy, self.options);
        Self {
            version,
            ready: true,
            options: self.options,
            listeners: carry(&self.listeners, r.listeners, version),
            inbound: self.inbound.next(r.inbound, version),
            routes: carry(&self.routes, r.routes, version),
            clusters: carry(&self.clusters, r.clusters, version),
            endpoints: carry(&self.endpoints, r.endpoints, version),
            policy,
        }
    }

    /// The snapshot's version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether a configuration has loaded.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The policy the resources were built from.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// Whether resources of `type_url` are served.
    pub fn serves(type_url: &str) -> bool {
        [LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE].contains(&type_url)
    }

    /// The resources of `type_url` that `interest` asks for and that exist,
    /// by name.
    ///
    /// An item's version is the snapshot version of its content's last
    /// change, except for a server's inbound listener, whose content is
    /// its workload's: there the version changes with the workload's
    /// listener or with which workload the address has (see
    /// `snapshot::inbound`).
    pub fn resolve(&self, type_url: &str, interest: &Interest) -> Vec<Item> {
        match type_url {
            LISTENER_TYPE => self.listeners_for(interest),
            ROUTE_TYPE => pick(&self.routes, &interest.names),
            CLUSTER_TYPE if interest.wildcard => all(&self.clusters),
            CLUSTER_TYPE => pick(&self.clusters, &interest.names),
            ENDPOINT_TYPE => pick(&self.endpoints, &interest.names),
            _ => Vec::new(),
        }
    }

    /// Listeners are named as the client asked (`attendees:50051`); the
    /// one for the service's own host is the template for every spelling.
    fn listeners_for(&self, interest: &Interest) -> Vec<Item> {
        let mut names = interest.names.clone();
        if interest.wildcard {
            for svc in self.policy.services() {
                names.insert(svc.host.clone());
                names.extend(
                    svc.ports
                        .iter()
                        .map(|p| format!("{}:{}", svc.host, p.number)),
                );
            }
        }
        names
            .into_iter()
            .filter_map(|name| {
                if name.starts_with(xds::inbound::INBOUND_PREFIX) {
                    return self.inbound.resolve(name);
                }
                let svc = self.policy.service(xds::host_of(&name))?;
                let template = self.listeners.get(&svc.host)?;
                let any = if name == template.message.name {
                    template.any.clone()
                } else {
                    let mut l = template.message.clone();
                    l.name.clone_from(&name);
                    pack_any(l)
                };
                Some(Item {
                    name,
                    version: template.version,
                    any,
                })
            })
            .collect()
    }
}

/// Keeps the previous version (and encoding) of every unchanged resource.
fn carry<T>(
    prev: &BTreeMap<String, Shared<T>>,
    now: BTreeMap<String, T>,
    version: u64,
) -> BTreeMap<String, Shared<T>>
where
    T: Message + Name + PartialEq,
{
    now.into_iter()
        .map(|(name, message)| {
            let v = match prev.get(&name) {
                Some(old) if old.message == message => old.clone(),
                _ => Arc::new(Versioned {
                    version,
                    any: any_of(&message),
                    message,
                }),
            };
            (name, v)
        })
        .collect()
}

/// `message` packed, as [`pack_any`] does, without taking it.
fn any_of<T: Message + Name>(message: &T) -> Any {
    Any {
        type_url: T::type_url(),
        value: message.encode_to_vec(),
    }
}

fn item<T>(name: &str, v: &Versioned<T>) -> Item {
    Item {
        name: name.to_owned(),
        version: v.version,
        any: v.any.clone(),
    }
}

fn pick<T>(map: &BTreeMap<String, Shared<T>>, names: &BTreeSet<String>) -> Vec<Item> {
    names
        .iter()
        .filter_map(|n| map.get(n).map(|v| item(n, v)))
        .collect()
}

fn all<T>(map: &BTreeMap<String, Shared<T>>) -> Vec<Item> {
    map.iter().map(|(n, v)| item(n, v)).collect()
}
