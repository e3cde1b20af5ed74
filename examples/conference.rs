//! The seed's conference system on the mesh, with no outside infrastructure:
//! `attendees` v1 and v2 and `sessions` v1 as real tonic servers on
//! 127.0.0.1, a caller, and five policy steps written in the Istio dialect
//! and hot-swapped while everything keeps running.
//!
//! ```text
//! cargo run --release --example conference
//! ```
//!
//! After each step it prints which version served how many requests, and it
//! exits 0 only if every step behaved as the policy says.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context as _, ensure};
use mesh::Mesh;
use mesh::conference::pb::ListRequest;
use mesh::conference::pb::attendees_client::AttendeesClient;
use mesh::conference::pb::sessions_client::SessionsClient;
use mesh::conference::{Faults, Running, serve_attendees, serve_sessions};
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
spec: {{address: 127.0.0.1, ports: {{grpc: {}}}, labels: {{app: attendees, version: v1}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: attendees-v2}}
spec: {{address: 127.0.0.1, ports: {{grpc: {}}}, labels: {{app: attendees, version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: sessions}}
spec:
  hosts: [sessions]
  ports: [{{number: 50052, name: grpc, protocol: GRPC}}]
  endpoints: [{{address: 127.0.0.1, ports: {{grpc: {}}}, labels: {{version: v1}}}}]
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
  http: [{route: [{destination: {host: attendees, subset: v1}}]}]
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

/// Loads `steps` on top of the workloads and subsets, and swaps it in.
fn apply(mesh: &Mesh, workloads: &str, step: &str) -> anyhow::Result<()> {
    let docs = [
        ("workloads.yaml".to_owned(), workloads.to_owned()),
        ("subsets.yaml".to_owned(), SUBSETS.to_owned()),
        ("step.yaml".to_owned(), step.to_owned()),
    ];
    let started = Instant::now();
    let policy = mesh::config::load_documents(&docs)?;
    let version = mesh.install(policy);
    println!(
        "  policy version {version} in force ({:?} to load, validate and swap)",
        started.elapsed()
    );
    Ok(())
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

    let mesh = Mesh::new(Policy::empty());
    let v2_faults = Faults::none();
    let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
    let v2 = serve_attendees(&mesh, "v2", v2_faults.clone()).await?;
    let sessions = serve_sessions(&mesh, "v1", "attendees:50051").await?;
    let workloads = workloads(&v1, &v2, &sessions);
    println!(
        "\nattendees v1 on {}, attendees v2 on {}, sessions v1 on {}",
        v1.addr, v2.addr, sessions.addr
    );
    let mut attendees = AttendeesClient::new(MeshChannel::new(&mesh, "attendees:50051")?);
    let mut sessions_client = SessionsClient::new(MeshChannel::new(&mesh, "sessions:50052")?);

    println!("\nStep 1: the seed's routing, corrected: everything to v1");
    apply(&mesh, &workloads, STEP1_SEED)?;
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
    apply(&mesh, &workloads, STEP2_BETA)?;
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
    apply(&mesh, &workloads, STEP3_CANARY)?;
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
    apply(&mesh, &workloads, STEP4_RETRIES)?;
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
    apply(&mesh, &workloads, STEP4_BUDGET)?;
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
    apply(
        &mesh,
        &workloads,
        &format!("{STEP1_SEED}---{STEP5_RATE_LIMIT}"),
    )?;
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
        "\nEvery step behaved as its policy says ({:?} in all).",
        started.elapsed()
    );
    Ok(())
}
