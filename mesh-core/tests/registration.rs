//! The registration task against a scripted registry: it registers with
//! its labels, keeps the lease alive, registers again when the lease is
//! lost, waits out a control plane that does not answer, deregisters on
//! shutdown, and reports refusals. (That dropping the handle stops the
//! keep-alives is shown against the real control plane, in the root
//! package's `tests/registration_lease.rs`.)

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, bail};
use mesh_core::registration::pb::registry_server::{Registry, RegistryServer};
use mesh_core::registration::pb::{
    DeregisterReply, DeregisterRequest, KeepAliveRequest, Lease, RegisterRequest,
};
use mesh_core::registration::{Registration, RegistrationError, RegistrationStatus};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// How long any one wait may take: bounds a wait, never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(10);

/// What the scripted registry saw and holds.
#[derive(Debug, Default)]
struct Seen {
    registers: Vec<RegisterRequest>,
    keep_alives: usize,
    deregistered: Vec<String>,
    live: HashMap<String, u64>,
    next_id: u64,
}

/// A registry that grants every registration, renews live leases and can
/// be told to forget them (as a restarted control plane would).
#[derive(Clone, Debug, Default)]
struct Scripted(Arc<Mutex<Seen>>);

impl Scripted {
    fn seen<T>(&self, f: impl FnOnce(&mut Seen) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Serves on `listener` until the test ends.
    fn serve(&self, listener: TcpListener) {
        let server = tonic::transport::Server::builder()
            .add_service(RegistryServer::new(self.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener));
        tokio::spawn(server);
    }

    async fn start() -> Result<(Self, SocketAddr)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let registry = Self::default();
        registry.serve(listener);
        Ok((registry, addr))
    }
}

#[tonic::async_trait]
impl Registry for Scripted {
    async fn register(&self, request: Request<RegisterRequest>) -> Result<Response<Lease>, Status> {
        let r = request.into_inner();
        if r.service != "attendees" {
            return Err(Status::not_found(format!(
                "service {:?} is not declared",
                r.service
            )));
        }
        let ttl_ms = if r.ttl_ms == 0 { 10_000 } else { r.ttl_ms };
        let id = self.seen(|s| {
            s.next_id += 1;
            let id = format!("lease-{}", s.next_id);
            s.live.insert(id.clone(), ttl_ms);
            s.registers.push(r);
            id
        });
        Ok(Response::new(Lease {
            lease_id: id,
            ttl_ms,
        }))
    }

    async fn keep_alive(
        &self,
        request: Request<KeepAliveRequest>,
    ) -> Result<Response<Lease>, Status> {
        let id = request.into_inner().lease_id;
        self.seen(|s| {
            s.keep_alives += 1;
            match s.live.get(&id) {
                Some(&ttl_ms) => Ok(Response::new(Lease {
                    lease_id: id,
                    ttl_ms,
                })),
                None => Err(Status::not_found(format!("no lease {id:?}"))),
            }
        })
    }

    async fn deregister(
        &self,
        request: Request<DeregisterRequest>,
    ) -> Result<Response<DeregisterReply>, Status> {
        let id = request.into_inner().lease_id;
        self.seen(|s| {
            s.live.remove(&id);
            s.deregistered.push(id);
        });
        Ok(Response::new(DeregisterReply {}))
    }
}

/// Polls `check` until it holds, for at most [`PATIENCE`].
async fn eventually<F, Fut>(what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        if tokio::time::Instant::now() > deadline {
            bail!("{what}: not within {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn me() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 7], 50051))
}

#[tokio::test]
async fn registers_with_labels_keeps_alive_and_deregisters_on_shutdown() -> Result<()> {
    let (registry, addr) = Scripted::start().await?;
    let registration = Registration::builder(format!("http://{addr}"), "attendees", me())
        .label("version", "v2")
        .ttl(Duration::from_millis(300))
        .start()?;
    let lease = tokio::time::timeout(PATIENCE, registration.registered()).await??;
    assert_eq!(lease.ttl, Duration::from_millis(300));
    assert_eq!(registration.lease(), Some(lease.clone()));
    let first = registry.seen(|s| s.registers[0].clone());
    assert_eq!(first.address, "10.0.0.7");
    assert_eq!(first.port, 50051);
    assert_eq!(first.ttl_ms, 300);
    assert_eq!(first.labels.get("version").map(String::as_str), Some("v2"));

    eventually("three keep-alives", || async {
        registry.seen(|s| s.keep_alives >= 3)
    })
    .await?;
    assert_eq!(
        registry.seen(|s| s.registers.len()),
        1,
        "one lease, renewed"
    );
    registration.shutdown().await?;
    assert_eq!(registry.seen(|s| s.deregistered.clone()), [lease.id]);
    Ok(())
}

#[tokio::test]
async fn a_lost_lease_is_registered_again() -> Result<()> {
    let (registry, addr) = Scripted::start().await?;
    let registration = Registration::builder(format!("http://{addr}"), "attendees", me())
        .ttl(Duration::from_millis(300))
        .start()?;
    let first = tokio::time::timeout(PATIENCE, registration.registered()).await??;
    // The control plane forgets every lease, as after a restart.
    registry.seen(|s| s.live.clear());
    eventually("registered again", || async {
        registry.seen(|s| s.registers.len() >= 2)
    })
    .await?;
    eventually("the new lease is held", || async {
        registration.lease().is_some_and(|l| l.id != first.id)
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn waits_out_a_control_plane_that_does_not_answer_yet() -> Result<()> {
    // Bound, so connections are accepted by the kernel, but not served:
    // every call times out until the registry starts serving.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let registration = Registration::builder(format!("http://{addr}"), "attendees", me())
        .ttl(Duration::from_millis(600))
        .timeout(Duration::from_millis(200))
        .start()?;
    eventually("reported unavailable", || async {
        matches!(
            registration.status(),
            RegistrationStatus::Unavailable(RegistrationError::Unavailable { .. })
        )
    })
    .await?;
    let registry = Scripted::default();
    registry.serve(listener);
    let lease = tokio::time::timeout(PATIENCE, registration.registered()).await??;
    assert_eq!(lease.ttl, Duration::from_millis(600));
    Ok(())
}

#[tokio::test]
async fn a_refusal_is_reported_and_bad_inputs_fail_at_start() -> Result<()> {
    let (_registry, addr) = Scripted::start().await?;
    let registration = Registration::builder(format!("http://{addr}"), "atendees", me()).start()?;
    let err = tokio::time::timeout(PATIENCE, registration.registered())
        .await?
        .unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::NotFound));
    assert!(err.to_string().contains("\"atendees\""), "{err}");
    assert!(err.to_string().contains("NOT_FOUND"), "{err}");

    let unspecified = SocketAddr::from(([0, 0, 0, 0], 50051));
    let err = Registration::builder(format!("http://{addr}"), "attendees", unspecified)
        .start()
        .unwrap_err();
    assert!(
        matches!(err, RegistrationError::UnusableAddress { .. }),
        "{err}"
    );
    let err = Registration::builder("not a uri", "attendees", me())
        .start()
        .unwrap_err();
    assert!(matches!(err, RegistrationError::InvalidUri { .. }), "{err}");
    Ok(())
}
