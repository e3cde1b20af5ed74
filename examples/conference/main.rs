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
use std::time::Instant;

use anyhow::{Context as _, ensure};
use mesh::conference::pb::ListRequest;
use mesh::conference::pb::attendees_client::AttendeesClient;
use mesh::conference::pb::sessions_client::SessionsClient;
use mesh::conference::{Faults, serve_attendees, serve_sessions};
use mesh::policy::Policy;
use mesh::tonic::MeshChannel;

mod control_plane;
mod steps;

use control_plane::ControlPlane;
use steps::{
    SEED, STEP1_SEED, STEP2_BETA, STEP3_CANARY, STEP4_BUDGET, STEP4_RETRIES, STEP5_RATE_LIMIT,
    STEP6_DENY_PURGE, SUBSETS, workloads,
};

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
