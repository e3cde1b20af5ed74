//! What every connected client subscribes to and has accepted, for the
//! admin API's `/clients` (like `istioctl proxy-status`).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

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

/// Every connected client.
#[derive(Debug, Default)]
pub(crate) struct Clients {
    by_stream: Mutex<BTreeMap<u64, ClientStatus>>,
}

impl Clients {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, ClientStatus>> {
        self.by_stream
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a stream's current status.
    pub(crate) fn update(&self, status: ClientStatus) {
        self.lock().insert(status.stream, status);
    }

    /// Forgets a stream that ended.
    pub(crate) fn remove(&self, stream: u64) {
        self.lock().remove(&stream);
    }

    /// Every connected client, by stream id.
    pub(crate) fn list(&self) -> Vec<ClientStatus> {
        self.lock().values().cloned().collect()
    }
}
