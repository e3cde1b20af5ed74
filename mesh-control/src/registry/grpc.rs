//! The registry's gRPC service.

use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response, Status};

use super::pb::registry_server::{Registry, RegistryServer};
use super::pb::{DeregisterReply, DeregisterRequest, KeepAliveRequest, Lease, RegisterRequest};
use crate::error::RegistryError;
use crate::store::Store;

/// Serves `mesh.registry.v1.Registry` over the control plane's state.
#[derive(Clone, Debug)]
pub struct RegistryService {
    store: Arc<Store>,
}

impl RegistryService {
    pub(crate) fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// The tonic service.
    pub fn into_server(self) -> RegistryServer<Self> {
        RegistryServer::new(self)
    }
}

fn status(e: RegistryError) -> Status {
    let message = e.to_string();
    match e {
        RegistryError::UnknownService { .. } | RegistryError::UnknownLease { .. } => {
            Status::not_found(message)
        }
        RegistryError::NotReady => Status::unavailable(message),
        RegistryError::BadAddress { .. } | RegistryError::BadPort { .. } => {
            Status::invalid_argument(message)
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[tonic::async_trait]
impl Registry for RegistryService {
    async fn register(&self, request: Request<RegisterRequest>) -> Result<Response<Lease>, Status> {
        let r = request.into_inner();
        let ttl = (r.ttl_ms > 0).then(|| Duration::from_millis(r.ttl_ms));
        let (lease_id, ttl) = self
            .store
            .register(
                &r.service,
                &r.address,
                r.port,
                r.labels.into_iter().collect(),
                ttl,
            )
            .map_err(status)?;
        Ok(Response::new(Lease {
            lease_id,
            ttl_ms: millis(ttl),
        }))
    }

    async fn keep_alive(
        &self,
        request: Request<KeepAliveRequest>,
    ) -> Result<Response<Lease>, Status> {
        let lease_id = request.into_inner().lease_id;
        let ttl = self.store.keep_alive(&lease_id).map_err(status)?;
        Ok(Response::new(Lease {
            lease_id,
            ttl_ms: millis(ttl),
        }))
    }

    async fn deregister(
        &self,
        request: Request<DeregisterRequest>,
    ) -> Result<Response<DeregisterReply>, Status> {
        self.store
            .deregister(&request.into_inner().lease_id)
            .map_err(status)?;
        Ok(Response::new(DeregisterReply {}))
    }
}
