//! The task behind a [`super::Registration`]: register, keep the lease
//! alive, register again when it is lost, back off while the control plane
//! does not answer, and deregister when asked to stop.

use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::error::RegistrationError;
use super::handle::{Lease, RegistrationStatus};
use super::pb::registry_client::RegistryClient;
use super::pb::{DeregisterRequest, KeepAliveRequest, RegisterRequest};
use crate::xds::backoff::Backoff;

/// The TTL assumed when neither side says (the control plane's default).
const ASSUMED_TTL: Duration = Duration::from_secs(10);
/// The longest wait between attempts while the control plane is down.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The shortest wait between keep-alives, whatever the TTL.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// One registration's state.
pub(super) struct Task {
    client: RegistryClient<Channel>,
    request: RegisterRequest,
    uri: String,
    /// The TTL asked for, if any.
    ttl: Option<Duration>,
    status: watch::Sender<RegistrationStatus>,
    backoff: Backoff,
}

impl Task {
    pub(super) fn new(
        client: RegistryClient<Channel>,
        request: RegisterRequest,
        uri: String,
        ttl: Option<Duration>,
        status: watch::Sender<RegistrationStatus>,
    ) -> Self {
        // Retry soon enough that a short lease survives one lost call.
        let initial = (ttl.unwrap_or(ASSUMED_TTL) / 6)
            .clamp(Duration::from_millis(50), Duration::from_secs(1));
        Self {
            client,
            request,
            uri,
            ttl,
            status,
            backoff: Backoff::bounded(initial, MAX_BACKOFF),
        }
    }

    /// Runs until `stop` fires (then deregisters) or its sender is dropped
    /// (then abandons the lease to lapse).
    pub(super) async fn run(
        mut self,
        mut stop: oneshot::Receiver<()>,
    ) -> Result<(), RegistrationError> {
        let mut lease: Option<Lease> = None;
        let mut wait = Duration::ZERO;
        loop {
            tokio::select! {
                biased;
                stopped = &mut stop => match stopped {
                    Ok(()) => break,
                    Err(_) => return Ok(()),
                },
                () = tokio::time::sleep(wait) => {}
            }
            // A call in flight is not cut short by `stop`: it is bounded by
            // the channel's timeout, and its outcome decides what to undo.
            wait = match lease.take() {
                None => self.register(&mut lease).await,
                Some(held) => self.keep_alive(held, &mut lease).await,
            };
        }
        let result = match lease {
            Some(held) => self.deregister(held).await,
            None => Ok(()),
        };
        self.status.send_replace(RegistrationStatus::Stopped);
        result
    }

    /// Registers; returns how long to wait before the next call.
    async fn register(&mut self, lease: &mut Option<Lease>) -> Duration {
        match self.client.register(self.request.clone()).await {
            Ok(granted) => {
                let granted = granted.into_inner();
                let held = Lease {
                    ttl: self.granted_ttl(granted.ttl_ms),
                    id: granted.lease_id,
                };
                tracing::info!(
                    service = %self.request.service,
                    address = %self.request.address,
                    port = self.request.port,
                    lease = %held.id,
                    ttl = ?held.ttl,
                    "registered with the control plane"
                );
                self.backoff.reset();
                let next = keep_alive_interval(held.ttl);
                self.status
                    .send_replace(RegistrationStatus::Registered(held.clone()));
                *lease = Some(held);
                next
            }
            Err(status) => {
                let error = self.error(status);
                self.record("register", error)
            }
        }
    }

    /// Renews `held`; on success puts it back into `lease`.
    async fn keep_alive(&mut self, held: Lease, lease: &mut Option<Lease>) -> Duration {
        let request = KeepAliveRequest {
            lease_id: held.id.clone(),
        };
        match self.client.keep_alive(request).await {
            Ok(renewed) => {
                let renewed = Lease {
                    ttl: self.granted_ttl(renewed.into_inner().ttl_ms),
                    id: held.id,
                };
                self.backoff.reset();
                let next = keep_alive_interval(renewed.ttl);
                self.status.send_if_modified(|s| {
                    let fresh = RegistrationStatus::Registered(renewed.clone());
                    let changed = *s != fresh;
                    *s = fresh;
                    changed
                });
                *lease = Some(renewed);
                next
            }
            Err(status) if status.code() == Code::NotFound => {
                // It lapsed, or the control plane restarted: register again.
                tracing::info!(
                    service = %self.request.service,
                    lease = %held.id,
                    "lease lost; registering again"
                );
                self.status.send_replace(RegistrationStatus::Pending);
                Duration::ZERO
            }
            Err(status) => {
                let error = self.error(status);
                // Unreachable: the lease may still be alive; try it again.
                // Refused otherwise: start over with a new registration.
                if !error.is_refusal() {
                    *lease = Some(held);
                }
                self.record("keep alive", error)
            }
        }
    }

    /// Deregisters `held`; a lease that is already gone is fine.
    async fn deregister(&mut self, held: Lease) -> Result<(), RegistrationError> {
        let request = DeregisterRequest {
            lease_id: held.id.clone(),
        };
        match self.client.deregister(request).await {
            Ok(_) => {
                tracing::info!(service = %self.request.service, lease = %held.id, "deregistered");
                Ok(())
            }
            Err(status) if status.code() == Code::NotFound => Ok(()),
            Err(status) => Err(self.error(status)),
        }
    }

    /// Records a failed call; returns the backoff before the next one.
    fn record(&mut self, call: &str, error: RegistrationError) -> Duration {
        let wait = self.backoff.next_delay();
        tracing::warn!(service = %self.request.service, retry_in = ?wait, "registry {call} failed: {error}");
        self.status.send_replace(if error.is_refusal() {
            RegistrationStatus::Refused(error)
        } else {
            RegistrationStatus::Unavailable(error)
        });
        wait
    }

    /// A refusal (the control plane answered no) or an unreachable
    /// control plane (anything that may pass on its own).
    fn error(&self, status: Status) -> RegistrationError {
        let code = status.code();
        match code {
            Code::Unimplemented => RegistrationError::Refused {
                service: self.request.service.clone(),
                code,
                message: format!(
                    "{} does not serve mesh.registry.v1.Registry (is it the mesh control plane?)",
                    self.uri
                ),
            },
            Code::NotFound
            | Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::PermissionDenied
            | Code::Unauthenticated
            | Code::AlreadyExists
            | Code::OutOfRange => RegistrationError::Refused {
                service: self.request.service.clone(),
                code,
                message: status.message().to_owned(),
            },
            _ => RegistrationError::Unavailable {
                uri: self.uri.clone(),
                code,
                message: describe(&status),
            },
        }
    }

    /// The TTL granted: the control plane's answer, else what was asked.
    fn granted_ttl(&self, ttl_ms: u64) -> Duration {
        if ttl_ms > 0 {
            Duration::from_millis(ttl_ms)
        } else {
            self.ttl.unwrap_or(ASSUMED_TTL)
        }
    }
}

/// About a third of the TTL, jittered by +-15 % so that many workloads
/// that started together do not renew together.
fn keep_alive_interval(ttl: Duration) -> Duration {
    let jitter = 0.85 + 0.3 * fastrand::f64();
    (ttl / 3).mul_f64(jitter).max(MIN_INTERVAL)
}

/// A status's message, with its source's when it has one (transport
/// errors say little on their own).
fn describe(status: &Status) -> String {
    let mut text = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&s);
        }
        source = e.source();
    }
    if text.is_empty() {
        text = "no answer".to_owned();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alives_go_at_about_a_third_of_the_ttl() {
        for _ in 0..100 {
            let d = keep_alive_interval(Duration::from_millis(3000));
            assert!(
                d >= Duration::from_millis(850) && d <= Duration::from_millis(1150),
                "{d:?}"
            );
        }
        assert_eq!(keep_alive_interval(Duration::ZERO), MIN_INTERVAL);
    }
}
