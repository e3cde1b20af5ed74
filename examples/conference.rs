//! The seed's conference system on the mesh, with no outside infrastructure:
//! `attendees` v1 and v2 and `sessions` v1 as real tonic servers on
//! 127.0.0.1, a caller, an embedded control plane (`mesh-control`) watching a
//! config directory, and six policy steps written there in the Istio dialect.
//! The services hear each step over xDS and switch while they keep serving.
//!
//! Every workload gets its SPIFFE identity from the control plane's CA, and
//! every call is mutual TLS (a mesh-wide STRICT `PeerAuthentication`); the
//! last step adds an `AuthorizationPolicy` that denies `sessions` the
//! administrative `Purge` of `attendees` while its normal calls go on.
//!
//! ```text
//! cargo run --release --example conference
//! ```
//!
//! After each step it prints which version served how many requests, and it
//! exits 0 only if every step behaved as the policy says.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use mesh::Mesh;
use mesh::conference::pb::ListRequest;
use mesh::conference::pb::attendees_client::AttendeesClient;
use mesh::conference::pb::sessions_client::SessionsClient;
use mesh::conference::{Faults, Running, serve_attendees, serve_sessions};
use mesh::core::xds::{Bootstrap, XdsClient};
use mesh::identity::{CaClient, Identity, SpiffeId};
use mesh::policy::Policy;
use mesh::tonic::MeshChannel;

/// The seed's YAML exactly as the notes have it, typos included.
const SEED: &str = include_str!("../mesh-core/tests/fixtures/seed/seed.yaml");

/// Where the services run: generated, since the ports are the OS's choice.
fn workloads(v1: &Running, v2: &Running, sessions: &Running) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: attendees}}
spec:
  hosts: [attendees]
  ports: [{{number: 50051, name: grpc, protocol: GRPC}}]
  workloadSelector: {{labels: {{app: attendees}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: attendees-v1}}
spec:
  address: 127.0.0.1
  ports: {{grpc: {}}}
  labels: {{app: attendees, version: v1}}
  serviceAccount: attendees
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: attendees-v2}}
spec:
  address: 127.0.0.1
  ports: {{grpc: {}}}
  labels: {{app: attendees, version: v2}}
  serviceAccount: attendees
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: sessions}}
spec:
  hosts: [sessions]
  ports: [{{number: 50052, name: grpc, protocol: GRPC}}]
  endpoints:
  - address: 127.0.0.1
    ports: {{grpc: {}}}
    labels: {{app: sessions, version: v1}}
    serviceAccount: sessions
---
# Mutual TLS for every workload of the mesh.
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: default, namespace: istio-system}}
spec:
  mtls: {{mode: STRICT}}
"#,
        v1.addr.port(),
        v2.addr.port(),
        sessions.addr.port()
    )
}

/// The seed's DestinationRules and `sessions` routing, corrected.
const SUBSETS: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: attendees}
spec:
  host: attendees
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: sessions}
spec:
  host: sessions
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: sessions}
spec:
  hosts: [sessions]
  http: [{route: [{destination: {host: sessions, subset: v1}}]}]
"#;

const STEP1_SEED: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: attendees}
spec:
  hosts: [attendees]
  http: [{name: seed, route: [{destination: {host: attendees, subset: v1}}]}]
"#;

const STEP2_BETA: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: attendees}
spec:
  hosts: [attendees]
  http:
  - name: beta-users
    match: [{headers: {x-user-group: {exact: beta}}}]
    route: [{destination: {host: attendees, subset: v2}}]
  - name: everyone-else
    route: [{destination: {host: attendees, subset: v1}}]
"#;

const STEP3_CANARY: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: attendees}
spec:
  hosts: [attendees]
  http:
  - name: canary
    route:
    - {destination: {host: attendees, subset: v1}, weight: 80}
    - {destination: {host: attendees, subset: v2}, weight: 20}
"#;

/// Half to v2, which fails; failures are retried. Retries are budgeted: at
/// most half as many as requests here, plus ten a second.
const STEP4_RETRIES: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: attendees}
spec:
  hosts: [attendees]
  http:
  - name: half-and-half
    route:
    - {destination: {host: attendees, subset: v1}, weight: 50}
    - {destination: {host: attendees, subset: v2}, weight: 50}
    retries:
      attempts: 3
      retryOn: unavailable
      backoff: {baseInterval: 1ms, maxInterval: 10ms}
      budget: {retryRatio: 0.5, minRetriesPerSecond: 10}
"#;

/// The same split with a tight budget: retries at most 20 % of requests and
/// no floor, so a v2 that fails everything cannot multiply the load.
const STEP4_BUDGET: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: attendees}
spec:
  hosts: [attendees]
  http:
  - name: half-and-half-budgeted
    route:
    - {destination: {host: attendees, subset: v1}, weight: 50}
    - {destination: {host: attendees, subset: v2}, weight: 50}
    retries:
      attempts: 3
      retryOn: unavailable
      backoff: {baseInterval: 1ms, maxInterval: 10ms}
      budget: {retryRatio: 0.2, minRetriesPerSecond: 0}
"#;

const STEP5_RATE_LIMIT: &str = r#"
apiVersion: policy.mesh.rs/v1alpha1
kind: LocalRateLimit
metadata: {name: sessions-limit}
spec:
  host: sessions
  tokenBucket: {maxTokens: 10, tokensPerFill: 10, fillInterval: 1s}
"#;

/// `sessions` may still list `attendees`, but not purge them.
const STEP6_DENY_PURGE: &str = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: sessions-may-not-purge}
spec:
  selector: {matchLabels: {app: attendees}}
  action: DENY
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/sessions]}}]
    to: [{operation: {paths: [/conference.Attendees/Purge]}}]
"#;

/// The control plane's config directory, and a mesh subscribed to it.
struct ControlPlane {
    dir: tempfile::TempDir,
    mesh: Mesh,
    plane: mesh_control::Running,
    xds: XdsClient,
}

impl ControlPlane {
    /// Starts `mesh-control` on 127.0.0.1 over an empty directory, and the
    /// data plane's xDS client.
    async fn start() -> anyhow::Result<Self> {
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
    async fn workload(&self, service_account: &str) -> anyhow::Result<Mesh> {
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
    fn write(&self, name: &str, yaml: &str) -> anyhow::Result<()> {
        let config = self.dir.path().join("config");
        let tmp = config.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, yaml)?;
        std::fs::rename(&tmp, config.join(name))?;
        Ok(())
    }

    /// Writes a step and waits until the clients' policy shows it.
    async fn apply(&self, step: &str, arrived: impl Fn(&Policy) -> bool) -> anyhow::Result<()> {
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

/// Whether the first route for `attendees` is named `name`.
fn attendees_route_is(name: &'static str) -> impl Fn(&Policy) -> bool {
    move |p| {
        p.route_table("attendees")
            .and_then(|t| t.routes.first())
            .is_some_and(|r| r.name == name)
    }
}

/// Requests per version, printed as a table.
#[derive(Default)]
struct Tally {
    rows: BTreeMap<String, BTreeMap<String, u32>>,
}

impl Tally {
    fn add(&mut self, row: &str, column: &str) {
        *self
            .rows
            .entry(row.to_owned())
            .or_default()
            .entry(column.to_owned())
            .or_default() += 1;
    }

    fn get(&self, row: &str, column: &str) -> u32 {
        self.rows
            .get(row)
            .and_then(|r| r.get(column))
            .copied()
            .unwrap_or(0)
    }

    fn print(&self, columns: &[&str]) {
        print!("  {:<14}", "");
        columns.iter().for_each(|c| print!("{c:>20}"));
        println!();
        for (row, counts) in &self.rows {
            print!("  {row:<14}");
            for c in columns {
                print!("{:>20}", counts.get(*c).copied().unwrap_or(0));
            }
            println!();
        }
    }
}

async fn call_attendees(
    client: &mut AttendeesClient<MeshChannel>,
    group: Option<&str>,
) -> Result<String, tonic::Status> {
    let mut req = tonic::Request::new(ListRequest {
        conference: "rustconf".into(),
    });
    if let Some(g) = group {
        req.metadata_mut().insert(
            "x-user-group",
            g.parse()
                .map_err(|_| tonic::Status::internal("bad group"))?,
        );
    }
    Ok(client.list(req).await?.into_inner().version)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    println!("The seed's YAML, as written:");
    let refusal = mesh::config::load_str("seed.yaml", SEED)
        .err()
        .context("the seed's YAML has typos and must be refused")?;
    for line in refusal.to_string().lines() {
        println!("  refused: {line}");
    }
    let msg = refusal.to_string();
    ensure!(msg.contains("did you mean `subset`?") && msg.contains("networking.istio.io/v1alpha3"));

    let plane = ControlPlane::start().await?;
    println!("\nIdentities from the mesh CA:");
    let attendees_mesh = plane.workload("attendees").await?;
    let sessions_mesh = plane.workload("sessions").await?;
    let caller = plane.workload("conference-demo").await?;
    let (v1_faults, v2_faults) = (Faults::none(), Faults::none());
    let v1 = serve_attendees(&attendees_mesh, "v1", v1_faults.clone()).await?;
    let v2 = serve_attendees(&attendees_mesh, "v2", v2_faults.clone()).await?;
    let sessions = serve_sessions(&sessions_mesh, "v1", "attendees:50051").await?;
    // Each server subscribes to its inbound listener: its mTLS mode and
    // authorization policies.
    for server in [&v1, &v2, &sessions] {
        plane.xds.watch_inbound(server.addr);
    }
    plane.write("workloads.yaml", &workloads(&v1, &v2, &sessions))?;
    plane.write("subsets.yaml", SUBSETS)?;
    println!(
        "\nattendees v1 on {}, attendees v2 on {}, sessions v1 on {}",
        v1.addr, v2.addr, sessions.addr
    );
    let mut attendees = AttendeesClient::new(MeshChannel::new(&caller, "attendees:50051")?);
    let mut sessions_client = SessionsClient::new(MeshChannel::new(&caller, "sessions:50052")?);

    println!("\nStep 1: the seed's routing, corrected: everything to v1");
    plane.apply(STEP1_SEED, attendees_route_is("seed")).await?;
    let mut t = Tally::default();
    for _ in 0..200 {
        t.add("attendees", &call_attendees(&mut attendees, None).await?);
    }
    let reply = sessions_client
        .list(ListRequest::default())
        .await?
        .into_inner();
    t.add("sessions", &reply.version);
    t.add("sessions->att", &reply.downstream_version);
    t.print(&["v1", "v2"]);
    println!(
        "  one trace across caller -> sessions -> attendees: {} = {}",
        reply.trace_id, reply.downstream_trace_id
    );
    println!(
        "  mutual TLS on both hops: sessions saw {}, attendees saw {}",
        reply.caller, reply.downstream_caller
    );
    ensure!(
        reply.caller.ends_with("/sa/conference-demo")
            && reply.downstream_caller.ends_with("/sa/sessions"),
        "step 1: the servers did not see the callers' identities"
    );
    let outsider = AttendeesClient::new(MeshChannel::new(&plane.mesh, "attendees:50051")?)
        .list(ListRequest::default())
        .await
        .err()
        .context("step 1: a caller without an identity must be refused")?;
    println!(
        "  a caller with no identity: {:?}: {}",
        outsider.code(),
        outsider.message()
    );
    ensure!(
        outsider.code() == tonic::Code::Unauthenticated,
        "step 1: STRICT let a plaintext caller through"
    );
    ensure!(
        t.get("attendees", "v1") == 200,
        "step 1: not all requests went to v1"
    );
    ensure!(
        reply.downstream_version == "v1",
        "step 1: sessions reached attendees {}",
        reply.downstream_version
    );
    ensure!(
        !reply.trace_id.is_empty() && reply.trace_id == reply.downstream_trace_id,
        "step 1: the trace broke between hops"
    );

    println!("\nStep 2: `x-user-group: beta` to v2, everyone else to v1");
    plane
        .apply(STEP2_BETA, attendees_route_is("beta-users"))
        .await?;
    let mut t = Tally::default();
    for i in 0..200 {
        let group = if i % 2 == 0 { "beta" } else { "regular" };
        t.add(group, &call_attendees(&mut attendees, Some(group)).await?);
    }
    t.print(&["v1", "v2"]);
    ensure!(
        t.get("beta", "v2") == 100 && t.get("regular", "v1") == 100,
        "step 2: header routing is off"
    );

    println!("\nStep 3: a weighted canary, 80/20");
    plane
        .apply(STEP3_CANARY, attendees_route_is("canary"))
        .await?;
    let mut t = Tally::default();
    for _ in 0..1000 {
        t.add("attendees", &call_attendees(&mut attendees, None).await?);
    }
    t.print(&["v1", "v2"]);
    let to_v2 = t.get("attendees", "v2");
    // ±5 percentage points around 200 of 1000: about four standard deviations.
    ensure!(
        (150..=250).contains(&to_v2),
        "step 3: v2 got {to_v2} of 1000, not about 200"
    );

    println!("\nStep 4: v2 fails every other request; retries hide it");
    plane
        .apply(STEP4_RETRIES, attendees_route_is("half-and-half"))
        .await?;
    v2_faults.fail_one_in(2);
    let mut t = Tally::default();
    let seen_before = v2_faults.requests_seen();
    for _ in 0..400 {
        match call_attendees(&mut attendees, None).await {
            Ok(v) => t.add("succeeded", &v),
            Err(s) => t.add("failed", &format!("{:?}", s.code())),
        }
    }
    t.print(&["v1", "v2", "Unavailable"]);
    let failed = t.get("failed", "Unavailable");
    println!(
        "  v2 saw {} attempts; the caller saw {failed} failures",
        v2_faults.requests_seen() - seen_before
    );
    ensure!(
        failed == 0,
        "step 4: {failed} failures got past the retries"
    );

    println!("  ... now v2 fails everything, under a budget of 20 % extra load");
    plane
        .apply(STEP4_BUDGET, attendees_route_is("half-and-half-budgeted"))
        .await?;
    v2_faults.fail_one_in(1);
    let before_v1 = v1.served.load(std::sync::atomic::Ordering::SeqCst);
    let seen_before = v2_faults.requests_seen();
    let mut t = Tally::default();
    let n = 1000;
    for _ in 0..n {
        match call_attendees(&mut attendees, None).await {
            Ok(v) => t.add("succeeded", &v),
            Err(s) => t.add("failed", &format!("{:?}", s.code())),
        }
    }
    t.print(&["v1", "v2", "Unavailable"]);
    let served_v1 = v1.served.load(std::sync::atomic::Ordering::SeqCst) - before_v1;
    let v2_attempts = v2_faults.requests_seen() - seen_before;
    // Every attempt beyond the n requests is a retry.
    let retries = served_v1 + v2_attempts - n;
    println!(
        "  {n} requests cost {retries} retries ({:.0} % extra load)",
        retries as f64 * 100.0 / n as f64
    );
    ensure!(
        retries as f64 <= 0.2 * n as f64 + 20.0,
        "step 4: the budget let {retries} retries through"
    );
    ensure!(
        t.get("failed", "Unavailable") > 0,
        "step 4: with the budget spent, failures must show"
    );
    v2_faults.fail_one_in(0);

    println!("\nStep 5: a rate limit on sessions: 10 requests a second, bursts of 10");
    plane
        .apply(&format!("{STEP1_SEED}---{STEP5_RATE_LIMIT}"), |p| {
            !p.rate_limits().is_empty()
        })
        .await?;
    let mut t = Tally::default();
    for _ in 0..50 {
        match sessions_client.list(ListRequest::default()).await {
            Ok(r) => t.add("sessions", &format!("OK ({})", r.into_inner().version)),
            Err(s) => {
                ensure!(
                    s.message() == "rate limited by sessions-limit",
                    "step 5: unexpected error {s}"
                );
                t.add("sessions", &format!("{:?}", s.code()));
            }
        }
    }
    t.print(&["OK (v1)", "ResourceExhausted"]);
    let limited = t.get("sessions", "ResourceExhausted");
    ensure!(
        limited > 0 && limited < 50,
        "step 5: {limited} of 50 refused"
    );

    println!(
        "\nStep 6: an AuthorizationPolicy: sessions may not purge attendees, and may still list them"
    );
    plane
        .apply(&format!("{STEP1_SEED}---{STEP6_DENY_PURGE}"), |p| {
            p.inbound(v1.addr)
                .is_some_and(|s| !s.authorization_policies.is_empty())
                && p.rate_limits().is_empty()
        })
        .await?;
    let mut t = Tally::default();
    for _ in 0..20 {
        let listed = sessions_client.list(ListRequest::default()).await;
        t.add("list", if listed.is_ok() { "OK" } else { "refused" });
        match sessions_client
            .purge_attendees(ListRequest::default())
            .await
        {
            Ok(_) => t.add("purge", "OK"),
            Err(s) => {
                ensure!(
                    s.code() == tonic::Code::PermissionDenied
                        && s.message().contains("default/sessions-may-not-purge"),
                    "step 6: unexpected error {s}"
                );
                t.add("purge", "PermissionDenied");
            }
        }
    }
    t.print(&["OK", "PermissionDenied"]);
    let denied = sessions_client
        .purge_attendees(ListRequest::default())
        .await
        .err()
        .context("step 6: the purge must be denied")?;
    println!("  attendees answered sessions: {}", denied.message());
    let purged = v1_faults.purges_seen() + v2_faults.purges_seen();
    ensure!(
        t.get("list", "OK") == 20 && t.get("purge", "PermissionDenied") == 20 && purged == 0,
        "step 6: lists {} of 20, denied purges {} of 20, purges that ran {purged}",
        t.get("list", "OK"),
        t.get("purge", "PermissionDenied")
    );
    attendees.purge(ListRequest::default()).await?;
    println!("  the operator (conference-demo) may still purge: OK");

    println!(
        "\nEvery step behaved as its policy says ({:?} in all).",
        started.elapsed()
    );
    Ok(())
}
