//! [`Registration`]: the handle to a running registration.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::builder::RegistrationBuilder;
use super::error::RegistrationError;
use crate::xds::Bootstrap;

/// A lease the control plane granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The lease's id.
    pub id: String,
    /// How long it lasts without a keep-alive.
    pub ttl: Duration,
}

/// Where a registration stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationStatus {
    /// Registering (at start, or again after the lease was lost).
    Pending,
    /// Registered, and the last keep-alive succeeded.
    Registered(Lease),
    /// The control plane refused the registration; retrying with backoff.
    Refused(RegistrationError),
    /// The control plane did not answer; retrying with backoff.
    Unavailable(RegistrationError),
    /// Stopped by [`Registration::shutdown`].
    Stopped,
}

/// A server's registration with the control plane, kept alive by a
/// background task. Start one with [`Registration::builder`] or
/// [`Registration::from_bootstrap`].
///
/// [`Registration::shutdown`] deregisters. Dropping the handle stops the
/// keep-alives without deregistering (the task is aborted): the endpoint
/// leaves its service when the lease lapses.
#[derive(Debug)]
pub struct Registration {
    status: watch::Receiver<RegistrationStatus>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), RegistrationError>>>,
}

impl Registration {
    /// Registers `addr` as an endpoint of `service` (the host declared in
    /// the control plane's configuration) with the control plane at
    /// `control_plane` (`http://host:port`, the control plane's xDS
    /// address).
    pub fn builder(
        control_plane: impl Into<String>,
        service: impl Into<String>,
        addr: SocketAddr,
    ) -> RegistrationBuilder {
        RegistrationBuilder::new(control_plane.into(), service.into(), addr)
    }

    /// As [`Registration::builder`], with the control plane of an xDS
    /// bootstrap (its primary server, which also serves the registry).
    pub fn from_bootstrap(
        bootstrap: &Bootstrap,
        service: impl Into<String>,
        addr: SocketAddr,
    ) -> RegistrationBuilder {
        // A built bootstrap always holds at least one server.
        let uri = bootstrap
            .servers()
            .first()
            .map(|s| s.endpoint_uri())
            .unwrap_or_default();
        Self::builder(uri, service, addr)
    }

    pub(super) fn new(
        status: watch::Receiver<RegistrationStatus>,
        stop: oneshot::Sender<()>,
        task: JoinHandle<Result<(), RegistrationError>>,
    ) -> Self {
        Self {
            status,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Where the registration stands now.
    pub fn status(&self) -> RegistrationStatus {
        self.status.borrow().clone()
    }

    /// The lease held, if the last call to the control plane confirmed it.
    pub fn lease(&self) -> Option<Lease> {
        match &*self.status.borrow() {
            RegistrationStatus::Registered(lease) => Some(lease.clone()),
            _ => None,
        }
    }

    /// Waits until the control plane grants a lease (`Ok`) or refuses the
    /// registration (`Err`, such as `NOT_FOUND` for a service the
    /// configuration does not declare). While the control plane does not
    /// answer it keeps waiting: wrap it in a timeout to bound the wait.
    pub async fn registered(&self) -> Result<Lease, RegistrationError> {
        let mut status = self.status.clone();
        loop {
            match &*status.borrow_and_update() {
                RegistrationStatus::Registered(lease) => return Ok(lease.clone()),
                RegistrationStatus::Refused(e) => return Err(e.clone()),
                RegistrationStatus::Stopped => return Err(RegistrationError::Stopped),
                RegistrationStatus::Pending | RegistrationStatus::Unavailable(_) => {}
            }
            if status.changed().await.is_err() {
                return Err(RegistrationError::Stopped);
            }
        }
    }

    /// Stops the keep-alives and deregisters, so the endpoint leaves its
    /// service now. Waits for a call in flight (at most the builder's
    /// timeout). An error means the control plane could not be told; the
    /// lease then lapses on its own.
    pub async fn shutdown(mut self) -> Result<(), RegistrationError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(|_| RegistrationError::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
