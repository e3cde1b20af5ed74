//! Policy updates under continuous load: traffic moves, nothing fails, and
//! an invalid update changes nothing.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mesh::Mesh;
use mesh::conference::{Faults, serve_attendees};
use mesh::policy::{Destination, Policy, Route};
use support::{all_to, assert_eventually, attendees_policy, client, list};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaps_under_load_fail_no_request() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
    let v2 = serve_attendees(&mesh, "v2", Faults::none()).await?;
    mesh.update(attendees_policy(v1.addr, v2.addr, vec![all_to("v1")]))?;

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::new();
    for _ in 0..4 {
        let (mesh, stop, failures) = (mesh.clone(), stop.clone(), failures.clone());
        callers.push(tokio::spawn(async move {
            let mut c = client(&mesh);
            // Bounded, so a bug cannot spin forever.
            for _ in 0..100_000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Err(e) = list(&mut c).await {
                    eprintln!("failed during swap: {e}");
                    failures.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    // Swap back and forth while the callers run, waiting each time until
    // the new subset has actually served requests.
    for (i, subset) in ["v2", "v1", "v2", "v1", "v2"].into_iter().enumerate() {
        let (target, other) = if subset == "v1" {
            (&v1, &v2)
        } else {
            (&v2, &v1)
        };
        mesh.update(attendees_policy(v1.addr, v2.addr, vec![all_to(subset)]))?;
        let before = target.served.load(Ordering::SeqCst);
        assert_eventually(&format!("swap {i}: {subset} serves"), || async {
            target.served.load(Ordering::SeqCst) > before + 20
        })
        .await;
        // Once the new policy is in force, the other subset gets nothing
        // more (in-flight requests on the old snapshot may still finish).
        let other_then = other.served.load(Ordering::SeqCst);
        let target_then = target.served.load(Ordering::SeqCst);
        assert_eventually("more traffic on the new subset", || async {
            target.served.load(Ordering::SeqCst) > target_then + 50
        })
        .await;
        assert!(
            other.served.load(Ordering::SeqCst) <= other_then + 4,
            "{subset}: old subset still served"
        );
    }
    stop.store(true, Ordering::SeqCst);
    for c in callers {
        c.await?;
    }
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    Ok(())
}

#[tokio::test]
async fn an_invalid_update_is_refused_and_the_running_policy_stays() -> anyhow::Result<()> {
    let mesh = Mesh::new(Policy::empty());
    let v1 = serve_attendees(&mesh, "v1", Faults::none()).await?;
    let v2 = serve_attendees(&mesh, "v2", Faults::none()).await?;
    mesh.update(attendees_policy(v1.addr, v2.addr, vec![all_to("v1")]))?;
    let version = mesh.snapshot().version();
    let typo = Route::to("typo", Destination::new("attendees").subset("v9"));
    let err = mesh
        .update(attendees_policy(v1.addr, v2.addr, vec![typo]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("subset \"v9\""), "{err}");
    assert_eq!(mesh.snapshot().version(), version);
    assert_eq!(list(&mut client(&mesh)).await?.version, "v1");
    Ok(())
}
