//! The data plane's own clients (`XdsClient`s with a `Mesh` each), what
//! their policies must show, and waiting for every client to get there.

use std::time::{Duration, Instant};

use anyhow::bail;
use mesh::Mesh;
use mesh::policy::Policy;
use tokio::sync::{mpsc, watch};

use crate::EDITED;
use crate::mesh_yaml::{ENDPOINTS, PORT, host};

/// The name a client watches for service `i` (`host:port`, as an xDS
/// listener is named).
pub(crate) fn target(i: usize) -> String {
    format!("{}:{PORT}", host(i))
}

/// What a client's policy must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Goal {
    /// Every target's service, its endpoints and its route table.
    Complete,
    /// The edited service's route sends this weight to v1.
    Weight(u32),
}

fn satisfied(policy: &Policy, goal: Goal, targets: usize) -> bool {
    match goal {
        Goal::Complete => {
            policy.services().count() == targets
                && policy.route_tables().len() == targets
                && policy.services().all(|s| s.endpoints.len() == ENDPOINTS)
        }
        Goal::Weight(w) => policy
            .route_table(&host(EDITED))
            .and_then(|t| t.routes.first())
            .is_some_and(|r| {
                r.destinations
                    .iter()
                    .any(|d| d.destination.subset.as_deref() == Some("v1") && d.weight == w)
            }),
    }
}

/// Reports, once per goal, when `mesh`'s policy first satisfies it.
pub(crate) async fn observe(
    mesh: Mesh,
    targets: usize,
    mut goals: watch::Receiver<(u64, Goal)>,
    done: mpsc::UnboundedSender<(u64, Instant)>,
) {
    let mut versions = mesh.versions();
    let mut reported = 0;
    loop {
        versions.borrow_and_update();
        let (id, goal) = *goals.borrow_and_update();
        if id != reported && satisfied(mesh.snapshot().policy(), goal, targets) {
            reported = id;
            if done.send((id, Instant::now())).is_err() {
                return;
            }
        }
        tokio::select! {
            r = versions.changed() => if r.is_err() { return },
            r = goals.changed() => if r.is_err() { return },
        }
    }
}

/// Waits for every client's report of goal `id`; their times, sorted.
pub(crate) async fn all_reached(
    done: &mut mpsc::UnboundedReceiver<(u64, Instant)>,
    id: u64,
    clients: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<Instant>> {
    let mut times = Vec::with_capacity(clients);
    let wait = async {
        while times.len() < clients {
            match done.recv().await {
                Some((got, at)) if got == id => times.push(at),
                Some(_) => {}
                None => break,
            }
        }
    };
    if tokio::time::timeout(timeout, wait).await.is_err() {
        bail!(
            "only {} of {clients} clients got there within {timeout:?}",
            times.len()
        );
    }
    times.sort();
    Ok(times)
}
