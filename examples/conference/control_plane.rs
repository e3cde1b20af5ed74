//! The embedded control plane: its config directory, its CA, and the
//! data plane's subscription to it.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use mesh::Mesh;
use mesh::core::xds::{Bootstrap, XdsClient};
use mesh::identity::{CaClient, Identity, SpiffeId};
use mesh::policy::Policy;

/// The control plane's config directory, and a mesh subscribed to it.
pub(crate) struct ControlPlane {
    dir: tempfile::TempDir,
    /// The data plane's view, shared by every workload.
    pub(crate) mesh: Mesh,
    plane: mesh_control::Running,
    /// The data plane's subscription.
    pub(crate) xds: XdsClient,
}

impl ControlPlane {
    /// Starts `mesh-control` on 127.0.0.1 over an empty directory, and the
    /// data plane's xDS client.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir(dir.path().join("config"))?;
        let plane = mesh_control::ControlPlane::builder()
            .config_dir(dir.path().join("config"))
            .listen("127.0.0.1:0")
            .ca_dir(dir.path().join("ca"))
            .ca_listen("127.0.0.1:0")
            .start()
            .await?;
        let bootstrap = Bootstrap::builder()
            .server(format!("http://{}", plane.xds_addr()))
            .node_id("conference-demo")
            .build()?;
        let mesh = Mesh::new(Policy::empty());
        let xds = XdsClient::builder(bootstrap)
            .watch("attendees:50051")
            .watch("sessions:50052")
            .start(mesh.clone());
        println!(
            "mesh-control serving xDS on {} and its CA on {}",
            plane.xds_addr(),
            plane.ca_addr().context("the CA is on")?
        );
        Ok(Self {
            dir,
            mesh,
            plane,
            xds,
        })
    }

    /// A view of the mesh for workload `service_account`, with its identity
    /// from the CA: a key made here, a certificate for it signed by the CA
    /// on presenting a bootstrap token.
    pub(crate) async fn workload(&self, service_account: &str) -> anyhow::Result<Mesh> {
        let ca = self.plane.ca().context("the CA is on")?;
        let id = SpiffeId::new(ca.trust_domain(), "default", service_account)?;
        let token = ca.bootstrap_token(&id, Duration::from_secs(600));
        let client = CaClient::new(
            self.plane.ca_addr().context("the CA listens")?,
            ca.trust_bundle().roots.join("\n"),
            id,
        )
        .with_token(token);
        let identity = Identity::from_ca(client).await?;
        let cert = identity.current()?;
        let valid_for = cert
            .not_after()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        println!(
            "  {:<16} is {} (certificate valid for {} min, renewed at half-life)",
            service_account,
            identity.id(),
            valid_for.as_secs().div_ceil(60)
        );
        Ok(self.mesh.with_identity(identity))
    }

    /// Writes `yaml` as `name` in the config directory (to a temp file,
    /// then renamed, so the watcher never sees half a file).
    pub(crate) fn write(&self, name: &str, yaml: &str) -> anyhow::Result<()> {
        let config = self.dir.path().join("config");
        let tmp = config.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, yaml)?;
        std::fs::rename(&tmp, config.join(name))?;
        Ok(())
    }

    /// Writes a step and waits until the clients' policy shows it.
    pub(crate) async fn apply(
        &self,
        step: &str,
        arrived: impl Fn(&Policy) -> bool,
    ) -> anyhow::Result<()> {
        let mut versions = self.mesh.versions();
        let started = Instant::now();
        self.write("step.yaml", step)?;
        while !arrived(self.mesh.snapshot().policy()) {
            tokio::time::timeout(Duration::from_secs(10), versions.changed())
                .await
                .context("the step did not reach the clients within 10 s")??;
        }
        println!(
            "  written to {}/config/step.yaml; reached the clients over xDS in {:?}",
            self.dir.path().display(),
            started.elapsed()
        );
        Ok(())
    }
}
