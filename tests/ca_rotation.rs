//! Rotating the mesh root under continuous mutual-TLS traffic, with short
//! certificate lifetimes: add the new root to the bundle, make it the
//! signer once workloads trust it, retire the old one once they have
//! renewed under the new one. No request fails at any step.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mesh::Mesh;
use mesh::conference::Faults;
use mesh::identity::Identity;
use mesh::policy::{MtlsMode, UpstreamTls};
use support::identity::{attendees_in, ca_client, plane_with_ca, spiffe, to_attendees};
use support::{client, list};
use tokio::sync::watch;

/// Waits (bounded) until `identity` has installed `n` more certificates.
async fn renewed(identity: &Identity, n: u64) {
    let mut rotations = identity.rotations();
    let target = *rotations.borrow_and_update() + n;
    tokio::time::timeout(Duration::from_secs(30), async {
        while *rotations.borrow_and_update() < target {
            rotations.changed().await.expect("identity alive");
        }
    })
    .await
    .expect("renewed within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_rotates_under_load_without_a_failed_request() {
    let (plane, _dir) = plane_with_ca().await;
    let ca = plane.ca().expect("the CA is on").clone();
    let lifetime = Duration::from_secs(2);
    let server_id = Identity::from_ca(ca_client(&plane, "attendees", lifetime))
        .await
        .expect("server certificate");
    let client_id = Identity::from_ca(ca_client(&plane, "sessions", lifetime))
        .await
        .expect("client certificate");

    let server = attendees_in(MtlsMode::Strict, server_id.clone(), Faults::none()).await;
    let client_mesh = Mesh::new(to_attendees(
        server.addr,
        UpstreamTls::mutual([spiffe("attendees")]),
    ));
    client_mesh.set_identity(client_id.clone());

    // Continuous load, with a fresh channel (so fresh handshakes) every
    // 20 requests, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let (failures_tx, failures) = watch::channel(Vec::<String>::new());
    let load = tokio::spawn({
        let (stop, ok) = (stop.clone(), ok.clone());
        async move {
            while !stop.load(Ordering::SeqCst) {
                let mut c = client(&client_mesh);
                for _ in 0..20 {
                    match list(&mut c).await {
                        Ok(_) => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(s) => failures_tx.send_modify(|f| f.push(format!("{s:?}"))),
                    }
                }
            }
        }
    });

    ca.add_root().expect("a new root joins the bundle");
    renewed(&server_id, 2).await;
    renewed(&client_id, 2).await;
    assert_eq!(
        server_id.bundle().roots().len(),
        2,
        "the workloads trust both roots"
    );
    assert_eq!(client_id.bundle().roots().len(), 2);

    ca.rotate_root().expect("the new root signs");
    renewed(&server_id, 2).await;
    renewed(&client_id, 2).await;

    ca.retire_roots_except_current()
        .expect("the old root is retired");
    renewed(&server_id, 2).await;
    renewed(&client_id, 2).await;
    assert_eq!(
        server_id.bundle().roots().len(),
        1,
        "only the new root is left"
    );
    assert_eq!(client_id.bundle().roots().len(), 1);

    stop.store(true, Ordering::SeqCst);
    load.await.expect("load task");
    let failures = failures.borrow().clone();
    let ok = ok.load(Ordering::SeqCst);
    assert!(
        failures.is_empty(),
        "{} failed of {}: {:?}",
        failures.len(),
        ok,
        failures.first()
    );
    assert!(ok > 100, "only {ok} requests went through");
}
