//! One ADS stream's protocol state (state of the world), with no I/O:
//! requests and snapshots go in, responses come out.
//!
//! Per type URL it keeps the subscription, the last response sent (version,
//! nonce, and the version of each resource in it), the last version the
//! client accepted and its last rejection. The rules, from the Envoy xDS
//! protocol:
//!
//! - a request with an empty `response_nonce` (a stream's first for a type,
//!   or a client restating its subscription) is always answered, and so is
//!   one carrying a nonce when nothing of its type was sent on this stream
//!   (the nonce is from an earlier stream);
//! - a request whose nonce is the last one sent is an ACK, or a NACK when
//!   `error_detail` is set; a NACK is recorded and nothing is resent until
//!   the resources change, so the client keeps its previous version;
//! - a request whose nonce is any other is stale: it ACKs or NACKs nothing
//!   and is not answered ("the management server should not send a
//!   DiscoveryResponse for any DiscoveryRequest that has a stale nonce"),
//!   but its `resource_names` are the client's subscription all the same
//!   (envoyproxy/envoy#10363; the delta protocol requires it outright): a
//!   change is recorded and goes out with the next response, at the latest
//!   when the client answers the newer one. Dropping it would lose the
//!   subscription whenever pushes keep crossing the client's requests;
//! - a changed subscription is answered at once;
//! - a new snapshot is sent for every type whose resources, as this client
//!   subscribes to them, changed; clusters and endpoints first, then
//!   listeners and routes (make before break).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};

use super::clients::{ClientStatus, Nack, TypeStatus};
use super::request::AdsRequest;
use super::resolved::Resolutions;
use super::response::{Keys, Response, same_keys};
use crate::snapshot::{Interest, Snapshot};
use crate::xds::{CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE};

/// The order responses go out in when several types change at once.
const PUSH_ORDER: [&str; 4] = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE];

/// The last response sent for a type.
#[derive(Debug, Clone)]
struct Sent {
    nonce: String,
    version: String,
    resources: Keys,
}

#[derive(Debug, Default)]
struct TypeState {
    interest: Interest,
    owed: bool,
    /// The snapshot version this type was last resolved against. A
    /// snapshot's version names it (each is made from the last, one up),
    /// so while it and the subscription stay the same, resolving again
    /// would find what was found then: nothing to send.
    resolved: Option<u64>,
    sent: Option<Sent>,
    acked_version: Option<String>,
    last_nack: Option<Nack>,
    stale_requests: u64,
}

/// The state of one stream.
#[derive(Debug)]
pub(crate) struct StreamState {
    id: u64,
    peer: Option<String>,
    node: Option<Node>,
    types: BTreeMap<String, TypeState>,
    nonces: u64,
    resolutions: Arc<Resolutions>,
}

impl StreamState {
    #[cfg(test)]
    pub(crate) fn new(id: u64, peer: Option<String>) -> Self {
        Self::sharing(id, peer, Arc::default())
    }

    /// A stream that shares what it resolves with the server's others.
    pub(crate) fn sharing(id: u64, peer: Option<String>, resolutions: Arc<Resolutions>) -> Self {
        Self {
            id,
            peer,
            node: None,
            types: BTreeMap::new(),
            nonces: 0,
            resolutions,
        }
    }

    /// Handles a request; returns the responses to send, in order.
    pub(crate) fn on_request(&mut self, req: AdsRequest, snapshot: &Snapshot) -> Vec<Response> {
        if self.node.is_none() {
            self.node = req.node.clone();
        }
        if !Snapshot::serves(&req.type_url) {
            tracing::debug!(type_url = %req.type_url, stream = self.id, "ignoring a request for a type this server does not serve");
            return Vec::new();
        }
        let first = !self.types.contains_key(&req.type_url);
        let ts = self.types.entry(req.type_url.clone()).or_default();
        let fresh = req.response_nonce.is_empty() || ts.sent.is_none();
        if !fresh {
            let latest = ts.sent.as_ref().map(|s| s.nonce.as_str());
            if latest != Some(req.response_nonce.as_str()) {
                ts.stale_requests += 1;
                let interest =
                    next_interest(&ts.interest, first, &req.resource_names, &req.type_url);
                let resubscribed = interest.is_some();
                if let Some(interest) = interest {
                    ts.interest = interest;
                    ts.owed = true;
                }
                tracing::debug!(type_url = %req.type_url, nonce = %req.response_nonce, stream = self.id, resubscribed, "a stale request: not an ack, not answered");
                return Vec::new();
            }
            if let Some(error) = &req.error_detail {
                let rejected = ts
                    .sent
                    .as_ref()
                    .map(|s| s.version.clone())
                    .unwrap_or_default();
                tracing::warn!(type_url = %req.type_url, version = %rejected, node = %self.node_id(), "client rejected a response: {}", error.message);
                if let Some(ts) = self.types.get_mut(&req.type_url) {
                    ts.last_nack = Some(Nack {
                        rejected_version: rejected,
                        nonce: req.response_nonce.clone(),
                        kept_version: req.version_info.clone(),
                        code: error.code,
                        message: error.message.clone(),
                    });
                }
            } else {
                ts.acked_version = Some(req.version_info.clone());
            }
        }
        let Some(ts) = self.types.get_mut(&req.type_url) else {
            return Vec::new();
        };
        if let Some(interest) =
            next_interest(&ts.interest, first, &req.resource_names, &req.type_url)
        {
            ts.interest = interest;
            ts.owed = true;
        }
        ts.owed |= fresh;
        self.flush(snapshot)
    }

    /// Handles a new snapshot; returns the responses to send, in order.
    pub(crate) fn on_snapshot(&mut self, snapshot: &Snapshot) -> Vec<Response> {
        self.flush(snapshot)
    }

    fn flush(&mut self, snapshot: &Snapshot) -> Vec<Response> {
        if !snapshot.is_ready() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for type_url in PUSH_ORDER {
            let Some(ts) = self.types.get_mut(type_url) else {
                continue;
            };
            // An ACK, or a request for another type: resolving this one
            // again (for a client of 1000 services, thousands of resources
            // and a listener encoded per name) would change nothing.
            if !ts.owed && ts.resolved == Some(snapshot.version()) {
                continue;
            }
            ts.resolved = Some(snapshot.version());
            let resources = self.resolutions.resolve(snapshot, type_url, &ts.interest);
            let changed = ts
                .sent
                .as_ref()
                .is_none_or(|s| !same_keys(&s.resources, resources.keys()));
            if !(ts.owed || changed) {
                continue;
            }
            self.nonces += 1;
            let sent = Sent {
                nonce: self.nonces.to_string(),
                version: snapshot.version().to_string(),
                resources: resources.keys().clone(),
            };
            out.push(Response {
                version_info: sent.version.clone(),
                type_url,
                nonce: sent.nonce.clone(),
                resources,
            });
            ts.sent = Some(sent);
            ts.owed = false;
        }
        out
    }

    fn node_id(&self) -> &str {
        self.node.as_ref().map_or("", |n| n.id.as_str())
    }

    /// The stream's status, for the admin API.
    pub(crate) fn status(&self) -> ClientStatus {
        let node = self.node.as_ref();
        ClientStatus {
            stream: self.id,
            peer: self.peer.clone(),
            node_id: self.node_id().to_owned(),
            node_cluster: node.map(|n| n.cluster.clone()).unwrap_or_default(),
            node_metadata: node
                .and_then(|n| n.metadata.as_ref())
                .map_or(serde_json::Value::Null, struct_json),
            types: self
                .types
                .iter()
                .map(|(t, s)| {
                    let status = TypeStatus {
                        wildcard: s.interest.wildcard,
                        subscribed: s.interest.names.iter().cloned().collect(),
                        sent_version: s.sent.as_ref().map(|x| x.version.clone()),
                        sent_nonce: s.sent.as_ref().map(|x| x.nonce.clone()),
                        sent_resources: s
                            .sent
                            .as_ref()
                            .map(|x| x.resources.iter().map(|(n, _)| n.clone()).collect())
                            .unwrap_or_default(),
                        acked_version: s.acked_version.clone(),
                        last_nack: s.last_nack.clone(),
                        stale_requests: s.stale_requests,
                    };
                    (t.clone(), status)
                })
                .collect(),
        }
    }
}

/// The subscription a request states, if it is not `prev`. An empty list
/// on a stream's first request for LDS or CDS is a wildcard (the legacy
/// rule), and stays one while later requests keep the list empty; `*` is
/// an explicit wildcard.
fn next_interest(
    prev: &Interest,
    first: bool,
    names: &[Bytes],
    type_url: &str,
) -> Option<Interest> {
    let wildcard_capable = type_url == LISTENER_TYPE || type_url == CLUSTER_TYPE;
    let wildcard = wildcard_capable
        && if names.is_empty() {
            first || prev.wildcard
        } else {
            names.iter().any(|n| n == "*")
        };
    let named = || names.iter().filter(|n| *n != "*");
    let held = || prev.names.iter().map(String::as_bytes);
    // Every ACK restates the subscription (thousands of names for a large
    // client): recognise an unchanged one without building a set of
    // strings. gRPC's clients send their names sorted and unique; any
    // other list is sorted here, by reference.
    let unchanged = wildcard == prev.wildcard
        && if named().zip(named().skip(1)).all(|(a, b)| a < b) {
            named().map(|n| &n[..]).eq(held())
        } else {
            let mut list: Vec<&[u8]> = named().map(|n| &n[..]).collect();
            list.sort_unstable();
            list.dedup();
            list.into_iter().eq(held())
        };
    // Bytes compare as the strings do. `AdsRequest::check` has refused any
    // name that is not UTF-8, so none is dropped here.
    (!unchanged).then(|| Interest {
        wildcard,
        names: named()
            .filter_map(|n| std::str::from_utf8(n).ok())
            .map(str::to_owned)
            .collect(),
    })
}

fn struct_json(s: &Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect(),
    )
}

fn value_json(v: &Value) -> serde_json::Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::NumberValue(n)) => serde_json::json!(n),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(*b),
        Some(Kind::StructValue(s)) => struct_json(s),
        Some(Kind::ListValue(l)) => l.values.iter().map(value_json).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|n| Bytes::copy_from_slice(n.as_bytes()))
            .collect()
    }

    fn interest(wildcard: bool, list: &[&str]) -> Interest {
        Interest {
            wildcard,
            names: list.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    #[test]
    fn a_restated_subscription_is_no_change_in_any_order() {
        let prev = interest(false, &["a", "b", "c"]);
        let same = |list: &[&str]| next_interest(&prev, false, &names(list), ROUTE_TYPE);
        assert_eq!(same(&["a", "b", "c"]), None);
        assert_eq!(same(&["c", "a", "b"]), None, "unsorted: the slow path");
        assert_eq!(same(&["a", "b", "c", "b"]), None, "a repeated name");
        assert_eq!(same(&["a", "b"]), Some(interest(false, &["a", "b"])));
        assert_eq!(same(&["a", "a", "b"]), Some(interest(false, &["a", "b"])));
        assert_eq!(
            same(&["a", "b", "d"]),
            Some(interest(false, &["a", "b", "d"]))
        );
    }

    #[test]
    fn wildcards_follow_the_legacy_rule() {
        let none = Interest::default();
        let wild = interest(true, &[]);
        assert_eq!(
            next_interest(&none, true, &[], LISTENER_TYPE),
            Some(wild.clone())
        );
        assert_eq!(
            next_interest(&none, true, &[], ROUTE_TYPE),
            None,
            "RDS has no wildcard"
        );
        assert_eq!(
            next_interest(&wild, false, &[], CLUSTER_TYPE),
            None,
            "stays one"
        );
        assert_eq!(
            next_interest(&wild, false, &names(&["a"]), CLUSTER_TYPE),
            Some(interest(false, &["a"])),
            "names end it"
        );
        assert_eq!(
            next_interest(&wild, false, &names(&["*", "a"]), CLUSTER_TYPE),
            Some(interest(true, &["a"])),
            "`*` keeps it beside names"
        );
    }
}
