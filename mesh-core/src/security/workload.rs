//! The security policy of the workload a server serves, worked out once
//! per policy snapshot and shared by every connection and request.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use mesh_authz::{Authorizer, MtlsMode, Workload, effective_mtls};

use crate::mesh::{Mesh, Snapshot};

/// Who a server is, for selecting the policies that apply to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadPolicy {
    /// The namespace; when `None`, the namespace of the mesh's identity,
    /// or `default`.
    pub namespace: Option<String>,
    /// Labels policies select on (`app: attendees`, `version: v1`).
    pub labels: mesh_authz::Labels,
}

/// What the policies say for one workload under one snapshot.
#[derive(Debug)]
pub(crate) struct WorkloadSecurity {
    /// The snapshot version this was worked out for.
    pub(crate) version: u64,
    /// The server address it was worked out for, when a control plane
    /// sent that address its own security (an inbound listener).
    pub(crate) inbound: Option<SocketAddr>,
    /// The effective mutual TLS mode.
    pub(crate) mode: MtlsMode,
    /// The `PeerAuthentication` (`ns/name`) that decided the mode, if any.
    pub(crate) mode_policy: Option<String>,
    /// The authorization policies that apply, ready to check requests.
    pub(crate) authorizer: Authorizer,
}

/// Caches [`WorkloadSecurity`] per snapshot; lock-free on the request path.
#[derive(Debug)]
pub(crate) struct SecurityCache {
    workload: WorkloadPolicy,
    current: ArcSwapOption<WorkloadSecurity>,
}

impl SecurityCache {
    pub(crate) fn new(workload: WorkloadPolicy) -> Self {
        Self {
            workload,
            current: ArcSwapOption::empty(),
        }
    }

    /// The workload's security under `snapshot` for a connection to
    /// `local` (the server's own address), worked out on the first request
    /// after each policy update. A control plane's security for that
    /// address takes the place of the policy's own selection.
    pub(crate) fn get(
        &self,
        mesh: &Mesh,
        snapshot: &Snapshot,
        local: Option<SocketAddr>,
    ) -> Arc<WorkloadSecurity> {
        let inbound = local.and_then(|addr| Some((addr, snapshot.policy().inbound(addr)?)));
        if let Some(cached) = self.current.load_full()
            && cached.version == snapshot.version()
            && cached.inbound == inbound.map(|(addr, _)| addr)
        {
            return cached;
        }
        if let Some((addr, chosen)) = inbound {
            let fresh = Arc::new(WorkloadSecurity {
                version: snapshot.version(),
                inbound: Some(addr),
                mode: chosen.mode,
                mode_policy: chosen.mode_policy.clone(),
                authorizer: Authorizer::selected(&chosen.authorization_policies),
            });
            self.current.store(Some(fresh.clone()));
            return fresh;
        }
        let workload = self.resolve(mesh);
        let security = snapshot.policy().security();
        let (mode, mode_policy) = effective_mtls(
            &security.peer_authentications,
            &workload,
            &security.root_namespace,
        );
        let authorizer = Authorizer::new(
            &security.authorization_policies,
            &workload,
            &security.root_namespace,
        );
        let fresh = Arc::new(WorkloadSecurity {
            version: snapshot.version(),
            inbound: None,
            mode,
            mode_policy,
            authorizer,
        });
        self.current.store(Some(fresh.clone()));
        fresh
    }

    /// The workload with its namespace filled in.
    fn resolve(&self, mesh: &Mesh) -> Workload {
        let namespace = self.workload.namespace.clone().unwrap_or_else(|| {
            mesh.identity()
                .map_or_else(|| "default".to_owned(), |id| id.id().namespace().to_owned())
        });
        Workload {
            namespace,
            labels: self.workload.labels.clone(),
        }
    }
}
