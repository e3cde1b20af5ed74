//! The Aggregated Discovery Service: state-of-the-world ADS over one gRPC
//! stream per client, pushing every new snapshot to every subscriber.
//! Incremental (delta) ADS is answered `UNIMPLEMENTED` for now.

mod body;
mod clients;
mod request;
mod resolved;
mod response;
mod server;
mod state;
#[cfg(test)]
mod state_tests;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Status, Streaming};

pub(crate) use clients::Clients;
pub use clients::{ClientStatus, Nack, TypeStatus};
use request::AdsRequest;
use resolved::Resolutions;
use response::Response;
pub use server::AdsServer;
use state::StreamState;

use crate::snapshot::Snapshot;

/// Responses queued per stream before the stream's task waits for the
/// client to read.
const QUEUE: usize = 16;

/// The ADS service.
#[derive(Debug, Clone)]
pub struct AdsService {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    clients: Arc<Clients>,
    shutdown: watch::Receiver<bool>,
    next_stream: Arc<AtomicU64>,
    resolutions: Arc<Resolutions>,
}

impl AdsService {
    pub(crate) fn new(
        snapshots: watch::Receiver<Arc<Snapshot>>,
        clients: Arc<Clients>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            snapshots,
            clients,
            shutdown,
            next_stream: Arc::new(AtomicU64::new(1)),
            resolutions: Arc::default(),
        }
    }

    /// The tonic service.
    pub fn into_server(self) -> AdsServer {
        AdsServer::new(self)
    }

    /// Starts serving one `StreamAggregatedResources` stream.
    fn start(&self, request: Request<Streaming<AdsRequest>>) -> ResponseStream {
        let peer = request.remote_addr().map(|a: SocketAddr| a.to_string());
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(QUEUE);
        let conn = Connection {
            id,
            state: Arc::new(Mutex::new(StreamState::sharing(
                id,
                peer,
                self.resolutions.clone(),
            ))),
            requests: request.into_inner(),
            responses: tx,
            snapshots: self.snapshots.clone(),
            shutdown: self.shutdown.clone(),
            clients: self.clients.clone(),
        };
        tokio::spawn(conn.run());
        ReceiverStream::new(rx)
    }
}

/// What a stream sends: responses, or the status that ends it.
type ResponseStream = ReceiverStream<Result<Response, Status>>;

/// One stream's task: reads requests and snapshots, writes responses.
struct Connection {
    id: u64,
    /// Shared with [`Clients`], which reads the status from it when asked
    /// (rather than a copy of every subscribed name after every message).
    state: Arc<Mutex<StreamState>>,
    requests: Streaming<AdsRequest>,
    responses: mpsc::Sender<Result<Response, Status>>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    shutdown: watch::Receiver<bool>,
    clients: Arc<Clients>,
}

impl Connection {
    async fn run(mut self) {
        let id = self.id;
        self.clients.add(id, self.state.clone());
        // The status a refused request ends the stream with (sent outside
        // the `select!`, whose borrows must not be held across a send).
        let mut refused = None;
        loop {
            let out = tokio::select! {
                // Shutting down: end the stream cleanly (status OK).
                _ = self.shutdown.wait_for(|stop| *stop) => break,
                request = self.requests.next() => match request {
                    Some(Ok(req)) => {
                        if let Err(status) = req.check() {
                            tracing::debug!(stream = id, %status, "refusing a request");
                            refused = Some(status);
                            break;
                        }
                        let snap = self.snapshots.borrow_and_update().clone();
                        lock(&self.state).on_request(req, &snap)
                    }
                    Some(Err(status)) => {
                        tracing::debug!(stream = id, %status, "stream broke");
                        break;
                    }
                    None => break,
                },
                changed = self.snapshots.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let snap = self.snapshots.borrow_and_update().clone();
                    lock(&self.state).on_snapshot(&snap)
                }
            };
            for response in out {
                if self.responses.send(Ok(response)).await.is_err() {
                    self.clients.remove(id);
                    return;
                }
            }
        }
        if let Some(status) = refused {
            let _ = self.responses.send(Err(status)).await;
        }
        self.clients.remove(id);
    }
}

/// A stream's state; never held across an `await`.
fn lock(state: &Mutex<StreamState>) -> MutexGuard<'_, StreamState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}
