//! What every connected client subscribes to and has accepted, for the
//! admin API's `/clients` (like `istioctl proxy-status`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use super::state::StreamState;

/// A rejected response.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Nack {
    /// The version the client rejected.
    pub rejected_version: String,
    /// The nonce of the rejected response.
    pub nonce: String,
    /// The version the client keeps using (its last accepted one).
    pub kept_version: String,
    /// The gRPC status code the client gave.
    pub code: i32,
    /// The client's error message.
    pub message: String,
}

/// One type URL on one stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TypeStatus {
    /// Whether the client subscribes to every resource of the type.
    pub wildcard: bool,
    /// The names the client subscribes to.
    pub subscribed: Vec<String>,
    /// The version of the last response sent.
    pub sent_version: Option<String>,
    /// The nonce of the last response sent.
    pub sent_nonce: Option<String>,
    /// The names in the last response sent.
    pub sent_resources: Vec<String>,
    /// The last version the client accepted.
    pub acked_version: Option<String>,
    /// The client's last rejection, if any.
    pub last_nack: Option<Nack>,
    /// Requests ignored because their nonce was not the latest sent.
    pub stale_requests: u64,
}

/// One connected client.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClientStatus {
    /// The stream's id on this control plane.
    pub stream: u64,
    /// The peer's address.
    pub peer: Option<String>,
    /// `node.id`.
    pub node_id: String,
    /// `node.cluster`.
    pub node_cluster: String,
    /// `node.metadata`, as JSON.
    pub node_metadata: serde_json::Value,
    /// Per type URL.
    pub types: BTreeMap<String, TypeStatus>,
}

/// Every connected client: the streams' states, read when asked.
#[derive(Debug, Default)]
pub(crate) struct Clients {
    by_stream: Mutex<BTreeMap<u64, Arc<Mutex<StreamState>>>>,
}

impl Clients {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Mutex<StreamState>>>> {
        self.by_stream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a stream that started.
    pub(crate) fn add(&self, stream: u64, state: Arc<Mutex<StreamState>>) {
        self.lock().insert(stream, state);
    }

    /// Forgets a stream that ended.
    pub(crate) fn remove(&self, stream: u64) {
        self.lock().remove(&stream);
    }

    /// Every connected client, by stream id, as it stands now.
    pub(crate) fn list(&self) -> Vec<ClientStatus> {
        // Not holding the map while each stream's state is read.
        let streams: Vec<_> = self.lock().values().cloned().collect();
        streams
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).status())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use envoy_types::pb::envoy::config::core::v3::Node;
    use mesh_core::policy::Policy;

    use super::*;
    use crate::ads::request::AdsRequest;
    use crate::snapshot::Snapshot;
    use crate::xds::CLUSTER_TYPE;

    #[test]
    fn the_list_shows_each_stream_as_it_stands_when_asked() {
        let clients = Clients::default();
        let state = Arc::new(Mutex::new(StreamState::new(7, None)));
        clients.add(7, state.clone());
        assert_eq!(clients.list()[0].node_id, "");
        let snap = Snapshot::initial().next(Arc::new(Policy::empty()));
        let request = AdsRequest {
            type_url: CLUSTER_TYPE.into(),
            node: Some(Node {
                id: "client-7".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        state
            .lock()
            .expect("not poisoned")
            .on_request(request, &snap);
        let listed = clients.list();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].stream, 7);
        assert_eq!(listed[0].node_id, "client-7");
        assert_eq!(
            listed[0].types[CLUSTER_TYPE].sent_version.as_deref(),
            Some("1")
        );
        clients.remove(7);
        assert!(clients.list().is_empty());
    }
}
