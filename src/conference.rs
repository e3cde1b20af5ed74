//! The seed's conference system as real gRPC services: `attendees` (in as
//! many versions as you start) and `sessions`, which calls `attendees`
//! through the mesh while serving each request.
//!
//! Each server runs on `127.0.0.1` on a port the OS picks, behind
//! [`mesh_tonic::MeshServerLayer`], and stops when its [`Running`] handle
//! is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use mesh_core::Mesh;
use mesh_core::security::ConnectionInfo;
use mesh_tonic::{InvalidTarget, MeshChannel, MeshServerLayer};
use opentelemetry::trace::TraceContextExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

/// The generated protobuf types and gRPC stubs.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod pb {
    tonic::include_proto!("conference");
}

use pb::attendees_client::AttendeesClient;
use pb::attendees_server::{Attendees, AttendeesServer};
use pb::sessions_server::{Sessions, SessionsServer};
use pb::{ListReply, ListRequest};

/// The trace id the current request runs under, as hex ("" if none).
fn current_trace_id() -> String {
    let cx = opentelemetry::Context::current();
    let span = cx.span();
    let sc = span.span_context();
    if sc.is_valid() {
        sc.trace_id().to_string()
    } else {
        String::new()
    }
}

/// Failures a running `attendees` server injects into its own answers,
/// switchable while it serves: the demo's stand-in for a bad release.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Fail one request in this many (0: none).
    one_in: Arc<AtomicU32>,
    seen: Arc<AtomicU64>,
    purged: Arc<AtomicU64>,
}

impl Faults {
    /// No failures.
    pub fn none() -> Self {
        Self::default()
    }

    /// From now on, answer one request in `n` with `UNAVAILABLE`: 2 fails
    /// every other request, 1 fails them all, 0 none.
    pub fn fail_one_in(&self, n: u32) {
        self.one_in.store(n, Ordering::SeqCst);
    }

    /// From now on, never answer (until [`Faults::fail_one_in`] is called
    /// again): a stand-in for a hung release, for timeouts.
    pub fn hang(&self) {
        self.one_in.store(u32::MAX, Ordering::SeqCst);
    }

    /// Requests that reached the service, answered or failed.
    pub fn requests_seen(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    /// `Purge` calls that reached the handler: authorization tests check
    /// that a denied one never does.
    pub fn purges_seen(&self) -> u64 {
        self.purged.load(Ordering::SeqCst)
    }

    fn is_hung(&self) -> bool {
        self.one_in.load(Ordering::SeqCst) == u32::MAX
    }

    fn should_fail(&self) -> bool {
        let n = u64::from(self.one_in.load(Ordering::SeqCst));
        let seen = self.seen.fetch_add(1, Ordering::SeqCst);
        n != 0 && seen.is_multiple_of(n)
    }
}

/// The `attendees` service of one version.
#[derive(Debug)]
pub struct AttendeesService {
    version: String,
    faults: Faults,
    served: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl Attendees for AttendeesService {
    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListReply>, Status> {
        if self.faults.is_hung() {
            self.faults.seen.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        if self.faults.should_fail() {
            return Err(Status::unavailable(format!(
                "attendees {}: injected failure",
                self.version
            )));
        }
        self.served.fetch_add(1, Ordering::Relaxed);
        let caller = caller_of(&request);
        let conference = request.into_inner().conference;
        Ok(Response::new(ListReply {
            service: "attendees".into(),
            version: self.version.clone(),
            items: vec![format!("{conference}: Ada"), format!("{conference}: Grace")],
            trace_id: current_trace_id(),
            caller,
            ..Default::default()
        }))
    }

    async fn purge(&self, request: Request<ListRequest>) -> Result<Response<ListReply>, Status> {
        self.faults.purged.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(ListReply {
            service: "attendees".into(),
            version: self.version.clone(),
            trace_id: current_trace_id(),
            caller: caller_of(&request),
            ..Default::default()
        }))
    }
}

/// The `sessions` service: each call lists the conference's speakers by
/// calling `attendees` through the mesh. It forwards no headers by hand;
/// the mesh carries the trace and the deadline.
#[derive(Debug)]
pub struct SessionsService {
    version: String,
    attendees: AttendeesClient<MeshChannel>,
}

#[tonic::async_trait]
impl Sessions for SessionsService {
    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListReply>, Status> {
        let caller = caller_of(&request);
        let conference = request.into_inner().conference;
        let speakers = self
            .attendees
            .clone()
            .list(ListRequest {
                conference: conference.clone(),
            })
            .await?
            .into_inner();
        Ok(Response::new(ListReply {
            service: "sessions".into(),
            version: self.version.clone(),
            items: vec![format!("{conference}: keynote")],
            trace_id: current_trace_id(),
            downstream_trace_id: speakers.trace_id,
            downstream_version: speakers.version,
            caller,
            downstream_caller: speakers.caller,
        }))
    }

    async fn purge_attendees(
        &self,
        request: Request<ListRequest>,
    ) -> Result<Response<ListReply>, Status> {
        let caller = caller_of(&request);
        let purged = self
            .attendees
            .clone()
            .purge(request.into_inner())
            .await?
            .into_inner();
        Ok(Response::new(ListReply {
            service: "sessions".into(),
            version: self.version.clone(),
            trace_id: current_trace_id(),
            downstream_version: purged.version,
            caller,
            downstream_caller: purged.caller,
            ..Default::default()
        }))
    }
}

/// The caller's SPIFFE ID as the mesh verified it, or "" for plaintext.
fn caller_of<T>(request: &Request<T>) -> String {
    request
        .extensions()
        .get::<ConnectionInfo>()
        .and_then(|c| c.peer.as_ref())
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// A server started by [`serve_attendees`] or [`serve_sessions`]; dropping
/// it stops the server.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Requests answered successfully (for `attendees`).
    pub served: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The server may already have stopped; nothing to do then.
            let _ = stop.send(());
        }
    }
}

/// Why a demo server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding 127.0.0.1 failed.
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(#[from] std::io::Error),
    /// The downstream target is not a valid host.
    #[error(transparent)]
    Target(#[from] InvalidTarget),
}

async fn bind() -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Serves `service` on 127.0.0.1 behind the mesh's server layer for the
/// policy's service `name`, until the returned handle is dropped.
async fn start<S>(
    mesh: &Mesh,
    name: &'static str,
    service: S,
    served: Arc<AtomicU64>,
) -> Result<Running, StartError>
where
    S: tower_service::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let (listener, addr) = bind().await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let layer = MeshServerLayer::new(mesh, name);
    // Terminates mutual TLS when the mesh has an identity, and hands each
    // request the caller's verified identity.
    let incoming = layer.incoming(listener);
    let server = tonic::transport::Server::builder()
        .layer(layer)
        .add_service(service);
    tokio::spawn(async move {
        let shutdown = async {
            // A dropped sender stops the server just as a sent one does.
            let _ = stopped.await;
        };
        if let Err(e) = server
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
        {
            tracing::warn!(%addr, error = %e, "{name} server failed");
        }
    });
    Ok(Running {
        addr,
        served,
        stop: Some(stop),
    })
}

/// Starts `attendees` of `version` on 127.0.0.1, behind the mesh's server
/// layer.
pub async fn serve_attendees(
    mesh: &Mesh,
    version: &str,
    faults: Faults,
) -> Result<Running, StartError> {
    let served = Arc::new(AtomicU64::new(0));
    let service = AttendeesService {
        version: version.to_owned(),
        faults,
        served: served.clone(),
    };
    start(mesh, "attendees", AttendeesServer::new(service), served).await
}

/// Starts `sessions` of `version` on 127.0.0.1; it reaches `attendees`
/// through `mesh` at `attendees_target` (e.g. `"attendees:50051"`).
pub async fn serve_sessions(
    mesh: &Mesh,
    version: &str,
    attendees_target: &str,
) -> Result<Running, StartError> {
    let service = SessionsService {
        version: version.to_owned(),
        attendees: AttendeesClient::new(MeshChannel::new(mesh, attendees_target)?),
    };
    let served = Arc::new(AtomicU64::new(0));
    start(mesh, "sessions", SessionsServer::new(service), served).await
}
