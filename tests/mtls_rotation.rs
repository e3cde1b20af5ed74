//! Certificate rotation under continuous load, with short lifetimes from a
//! real mesh-control CA: no request fails while both sides rotate. With
//! the CA gone, serving goes on until the certificate expires, then fails
//! closed with an error that says so.

mod support;

use std::time::Duration;

use mesh::Mesh;
use mesh::conference::Faults;
use mesh::identity::Identity;
use mesh::policy::{MtlsMode, UpstreamTls};
use support::identity::{attendees_in, ca_client, plane_with_ca, spiffe, to_attendees};
use support::{assert_eventually, client, list};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_rotate_under_continuous_load_and_no_request_fails() {
    let (plane, _dir) = plane_with_ca().await;
    let lifetime = Duration::from_secs(2);
    let server_id = Identity::from_ca(ca_client(&plane, "attendees", lifetime))
        .await
        .expect("server certificate");
    let client_id = Identity::from_ca(ca_client(&plane, "sessions", lifetime))
        .await
        .expect("client certificate");
    let mut server_rotations = server_id.rotations();
    let mut client_rotations = client_id.rotations();
    let (server_start, client_start) = (*server_rotations.borrow(), *client_rotations.borrow());

    let server = attendees_in(MtlsMode::Strict, server_id, Faults::none()).await;
    let client_mesh = Mesh::new(to_attendees(
        server.addr,
        UpstreamTls::mutual([spiffe("attendees")]),
    ));
    client_mesh.set_identity(client_id);

    let (mut ok, mut failed, mut channels) = (0u64, Vec::new(), 0u64);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // Until each side has rotated three times; a fresh channel now and then
    // makes fresh connections, so handshakes happen throughout.
    while *server_rotations.borrow_and_update() < server_start + 3
        || *client_rotations.borrow_and_update() < client_start + 3
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no three rotations within 30 s"
        );
        let mut c = client(&client_mesh);
        channels += 1;
        for _ in 0..20 {
            match list(&mut c).await {
                Ok(reply) => {
                    assert_eq!(reply.caller, spiffe("sessions").to_string());
                    ok += 1;
                }
                Err(status) => failed.push(status),
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        ok + failed.len() as u64,
        failed.first()
    );
    assert!(
        ok > 0 && channels > 3,
        "{ok} requests over {channels} channels"
    );
    eprintln!("{ok} requests over {channels} channels, no failures");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_ca_gone_serving_goes_on_until_expiry_then_fails_closed() {
    let (plane, _dir) = plane_with_ca().await;
    let lifetime = Duration::from_secs(3);
    let server_id = Identity::from_ca(ca_client(&plane, "attendees", Duration::from_secs(3600)))
        .await
        .expect("server certificate");
    let client_id = Identity::from_ca(ca_client(&plane, "sessions", lifetime))
        .await
        .expect("client certificate");
    let server = attendees_in(MtlsMode::Strict, server_id, Faults::none()).await;
    let client_mesh = Mesh::new(to_attendees(
        server.addr,
        UpstreamTls::mutual([spiffe("attendees")]),
    ));
    client_mesh.set_identity(client_id.clone());
    let mut c = client(&client_mesh);
    list(&mut c).await.expect("served while the CA is up");

    plane.shutdown().await.expect("the control plane stops");
    // The CA is gone; the current certificate still serves.
    list(&mut c)
        .await
        .expect("served while the certificate is valid");
    list(&mut client(&client_mesh))
        .await
        .expect("new connections too, while the certificate is valid");

    assert_eventually("the client certificate expires", || {
        let expired = client_id.current().is_err();
        async move { expired }
    })
    .await;
    for mut c in [c, client(&client_mesh)] {
        let status = list(&mut c).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(status.message().contains("expired"), "{status:?}");
        assert!(
            status.message().contains(&spiffe("sessions").to_string()),
            "{status:?}"
        );
    }
}
