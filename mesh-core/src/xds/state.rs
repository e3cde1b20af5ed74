//! The protocol state of one client: subscriptions, per-type versions and
//! nonces, the resources accepted, and what each response asks us to send
//! (ACK or NACK, and new subscriptions down the cascade).

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::config::core::v3::Node as NodeProto;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::rpc::Status;

use super::listener::RouteSource;
use super::resources::decode;
use super::{Kind, ResourceError, Resources, XdsError};

mod settle;

/// `google.rpc.Code.INVALID_ARGUMENT`, the code of a NACK's error detail.
const INVALID_ARGUMENT: i32 = 3;

/// Where a target's configuration stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TargetStatus {
    /// Something on its path has not arrived.
    Pending,
    /// Everything on its path is resolved (present, or known absent below
    /// the route configuration).
    Ready,
    /// Its listener or route configuration does not exist or was rejected.
    Failed(XdsError),
}

/// What one type has settled on this stream.
#[derive(Clone, Debug, Default)]
struct TypeState {
    /// The last accepted version (kept across streams).
    version: String,
    /// The last nonce received on this stream.
    nonce: String,
    /// The names last requested on this stream.
    sent: Option<BTreeSet<String>>,
    /// The names every request of this stream asked for: any response
    /// answers a subscription that holds them.
    always: Option<BTreeSet<String>>,
}

/// What handling a response produced.
#[derive(Debug)]
pub(crate) struct Handled {
    /// The ACK or NACK, then any new subscriptions.
    pub(crate) requests: Vec<DiscoveryRequest>,
    /// Names newly requested, for the does-not-exist timers.
    pub(crate) requested: Vec<(Kind, String)>,
    /// Whether the resources in force (what the policy is built from)
    /// changed.
    pub(crate) changed: bool,
}

/// The client's protocol state, free of I/O.
#[derive(Debug)]
pub(crate) struct State {
    node: NodeProto,
    node_sent: bool,
    targets: BTreeSet<String>,
    pub(crate) resources: Resources,
    types: [TypeState; 4],
    absent: [BTreeSet<String>; 4],
    rejected: BTreeMap<(Kind, String), ResourceError>,
    /// The server's `ignore_resource_deletion` (gRFC A53).
    ignore_deletion: bool,
    /// What each target used when its configuration last settled.
    settled: BTreeMap<String, Resources>,
    /// What the policy is built from (see [`State::settle`]).
    in_force: Resources,
}

impl State {
    pub(crate) fn new(node: NodeProto) -> Self {
        Self {
            node,
            node_sent: false,
            targets: BTreeSet::new(),
            resources: Resources::new(),
            types: Default::default(),
            absent: Default::default(),
            rejected: BTreeMap::new(),
            ignore_deletion: false,
            settled: BTreeMap::new(),
            in_force: Resources::new(),
        }
    }

    /// Adds a target; `true` if it is new.
    pub(crate) fn watch(&mut self, target: &str) -> bool {
        self.targets.insert(target.to_owned())
    }

    /// Forgets what the previous stream settled (nonces, what was sent);
    /// versions and resources stay.
    pub(crate) fn new_stream(&mut self, ignore_deletion: bool) {
        self.node_sent = false;
        self.ignore_deletion = ignore_deletion;
        for t in &mut self.types {
            t.nonce.clear();
            t.sent = None;
            t.always = None;
        }
    }

    /// The requests needed to bring every subscription up to date, and
    /// the names newly asked for that are not held.
    pub(crate) fn requests(&mut self) -> (Vec<DiscoveryRequest>, Vec<(Kind, String)>) {
        let mut out = Vec::new();
        let mut requested = Vec::new();
        for kind in Kind::ALL {
            let wanted = self.resources.wanted(kind, &self.targets);
            let k = kind.index();
            self.absent[k].retain(|n| wanted.contains(n));
            self.rejected
                .retain(|(rk, n), _| *rk != kind || wanted.contains(n));
            let sent = &self.types[k].sent;
            if sent.as_ref() == Some(&wanted) || (sent.is_none() && wanted.is_empty()) {
                continue;
            }
            for name in &wanted {
                let new = sent.as_ref().is_none_or(|s| !s.contains(name));
                if new && !self.resources.contains(kind, name) {
                    requested.push((kind, name.clone()));
                }
            }
            out.push(self.request(kind, wanted, None));
        }
        (out, requested)
    }

    fn request(
        &mut self,
        kind: Kind,
        names: BTreeSet<String>,
        error: Option<Status>,
    ) -> DiscoveryRequest {
        let node = (!self.node_sent).then(|| self.node.clone());
        self.node_sent = true;
        let t = &mut self.types[kind.index()];
        let request = DiscoveryRequest {
            version_info: t.version.clone(),
            node,
            resource_names: names.iter().cloned().collect(),
            type_url: kind.type_url().to_owned(),
            response_nonce: t.nonce.clone(),
            error_detail: error,
            ..Default::default()
        };
        t.always = Some(match t.always.take() {
            Some(always) => always.intersection(&names).cloned().collect(),
            None => names.clone(),
        });
        t.sent = Some(names);
        request
    }

    /// Applies a response: the good resources are kept, the bad ones
    /// rejected (gRFC A46), and the answer is an ACK when all were good,
    /// else a NACK with the previous version and the errors.
    pub(crate) fn handle(&mut self, resp: DiscoveryResponse) -> Handled {
        let Some(kind) = Kind::from_type_url(&resp.type_url) else {
            let message = format!(
                "type_url {:?} is not one this client subscribes to",
                resp.type_url
            );
            let nack = DiscoveryRequest {
                type_url: resp.type_url,
                response_nonce: resp.nonce,
                error_detail: Some(Status {
                    code: INVALID_ARGUMENT,
                    message,
                    details: Vec::new(),
                }),
                ..Default::default()
            };
            return Handled {
                requests: vec![nack],
                requested: Vec::new(),
                changed: false,
            };
        };
        let k = kind.index();
        self.types[k].nonce = resp.nonce;
        let wanted = self.resources.wanted(kind, &self.targets);
        let mut seen = BTreeSet::new();
        let mut errors = Vec::new();
        for any in &resp.resources {
            match decode(kind, any) {
                Ok(d) if wanted.contains(&d.name) => {
                    seen.insert(d.name.clone());
                    self.absent[k].remove(&d.name);
                    self.rejected.remove(&(kind, d.name.clone()));
                    self.resources.put(d);
                }
                Ok(d) => {
                    tracing::debug!(%kind, name = %d.name, "ignoring a resource not subscribed to")
                }
                Err(e) if wanted.contains(&e.name) => {
                    // A rejected resource keeps its previous version, if any.
                    seen.insert(e.name.clone());
                    self.rejected.insert((kind, e.name.clone()), e.clone());
                    errors.push(e);
                }
                Err(e) if e.name.starts_with('<') => errors.push(e),
                Err(e) => tracing::debug!(error = %e, "ignoring a bad resource not subscribed to"),
            }
        }
        if kind.is_full_state() {
            let always = self.types[k].always.clone().unwrap_or_default();
            for name in wanted.iter().filter(|n| !seen.contains(*n)) {
                let held = self.resources.contains(kind, name);
                if self.ignore_deletion && held {
                    tracing::warn!(%kind, %name, "the server deleted a resource; keeping it (ignore_resource_deletion)");
                    continue;
                }
                // A name asked for since this stream's first request, and
                // never received, may be missing because the response
                // answers an earlier request: only its timer tells (as in
                // gRPC's XdsClient).
                if !held && !always.contains(name) {
                    continue;
                }
                self.resources.remove(kind, name);
                self.absent[k].insert(name.clone());
            }
        }
        self.resources.prune(&self.targets);
        let error = (!errors.is_empty()).then(|| {
            let message = errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            tracing::warn!(%kind, version = %resp.version_info, "rejecting resources: {message}");
            Status {
                code: INVALID_ARGUMENT,
                message,
                details: Vec::new(),
            }
        });
        if error.is_none() {
            self.types[k].version = resp.version_info;
        }
        let ack = self.request(kind, wanted, error);
        let (more, requested) = self.requests();
        Handled {
            requests: std::iter::once(ack).chain(more).collect(),
            requested,
            changed: self.settle(),
        }
    }

    /// The does-not-exist timer of a name fired; `true` if it now counts
    /// as absent.
    pub(crate) fn expire(&mut self, kind: Kind, name: &str) -> bool {
        let wanted = self.resources.wanted(kind, &self.targets);
        if !wanted.contains(name) || self.resources.contains(kind, name) {
            return false;
        }
        tracing::warn!(%kind, %name, "resource did not arrive in time; treating it as absent");
        self.absent[kind.index()].insert(name.to_owned())
    }

    /// Whether some subscribed resource is neither held nor known absent.
    pub(crate) fn missing_any(&self) -> bool {
        Kind::ALL.into_iter().any(|kind| {
            self.resources.wanted(kind, &self.targets).iter().any(|n| {
                !self.resources.contains(kind, n) && !self.absent[kind.index()].contains(n)
            })
        })
    }

    /// Adds persisted resources that are subscribed and not held, in
    /// cascade order; `true` if the resources in force changed.
    pub(crate) fn load(&mut self, saved: &[DiscoveryResponse]) -> bool {
        for kind in Kind::ALL {
            let wanted = self.resources.wanted(kind, &self.targets);
            for any in saved
                .iter()
                .filter(|r| r.type_url == kind.type_url())
                .flat_map(|r| &r.resources)
            {
                match decode(kind, any) {
                    Ok(d)
                        if wanted.contains(&d.name) && !self.resources.contains(kind, &d.name) =>
                    {
                        self.absent[kind.index()].remove(&d.name);
                        self.resources.put(d);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "ignoring a persisted resource"),
                }
            }
        }
        self.settle()
    }

    /// The resources in force (the last known good), one response per
    /// kind, for persisting.
    pub(crate) fn saved(&self) -> Vec<DiscoveryResponse> {
        Kind::ALL
            .into_iter()
            .map(|kind| DiscoveryResponse {
                version_info: self.types[kind.index()].version.clone(),
                resources: self.in_force.raw(kind).map(|(_, a)| a.clone()).collect(),
                type_url: kind.type_url().to_owned(),
                ..Default::default()
            })
            .collect()
    }

    /// Where every target stands.
    pub(crate) fn statuses(&self) -> BTreeMap<String, TargetStatus> {
        self.targets
            .iter()
            .map(|t| (t.clone(), self.status(t)))
            .collect()
    }

    fn status(&self, target: &str) -> TargetStatus {
        let known = |kind: Kind, name: &str| -> Option<TargetStatus> {
            if self.absent[kind.index()].contains(name) {
                return Some(TargetStatus::Failed(XdsError::DoesNotExist {
                    kind,
                    name: name.to_owned(),
                }));
            }
            let rejected = self.rejected.get(&(kind, name.to_owned()))?;
            Some(TargetStatus::Failed(XdsError::Rejected(rejected.clone())))
        };
        let Some(listener) = self.resources.listeners.get(target) else {
            return known(Kind::Listener, target).unwrap_or(TargetStatus::Pending);
        };
        let rc = match &listener.value.route {
            RouteSource::NonForwarding => return TargetStatus::Ready,
            RouteSource::Inline(rc) => rc,
            RouteSource::Rds(name) => match self.resources.routes.get(name) {
                Some(c) => &c.value,
                None => return known(Kind::RouteConfig, name).unwrap_or(TargetStatus::Pending),
            },
        };
        for c in rc.cluster_names() {
            let Some(cluster) = self.resources.clusters.get(&c.name) else {
                match known(Kind::Cluster, &c.name) {
                    // A cluster that does not exist fails its routes only.
                    Some(TargetStatus::Failed(XdsError::DoesNotExist { .. })) => continue,
                    Some(failed) => return failed,
                    None => return TargetStatus::Pending,
                }
            };
            let eds = &cluster.value.eds_name;
            if !self.resources.endpoints.contains_key(eds) {
                match known(Kind::Endpoints, eds) {
                    Some(TargetStatus::Failed(XdsError::DoesNotExist { .. })) => {}
                    Some(failed) => return failed,
                    None => return TargetStatus::Pending,
                }
            }
        }
        TargetStatus::Ready
    }
}
