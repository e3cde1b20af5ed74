//! Mutual TLS between tonic services with certificates from a real
//! mesh-control CA: the handshake, the caller's identity reaching the
//! handler, and each way a connection is refused.

mod support;

use mesh::Mesh;
use mesh::conference::Faults;
use mesh::policy::{MtlsMode, UpstreamTls};
use support::identity::{attendees_in, identity, plane_with_ca, spiffe, to_attendees};
use support::{client, list};
use tonic::Code;

#[tokio::test]
async fn strict_mutual_tls_between_tonic_services_hands_the_caller_identity_to_the_handler() {
    let (plane, _dir) = plane_with_ca().await;
    let server = attendees_in(
        MtlsMode::Strict,
        identity(&plane, "attendees").await,
        Faults::none(),
    )
    .await;

    let client_mesh = Mesh::new(to_attendees(
        server.addr,
        UpstreamTls::mutual([spiffe("attendees")]),
    ));
    client_mesh.set_identity(identity(&plane, "sessions").await);
    let reply = list(&mut client(&client_mesh))
        .await
        .expect("call succeeds");
    assert_eq!(reply.caller, spiffe("sessions").to_string());
    assert_eq!(reply.version, "v1");
}

#[tokio::test]
async fn plaintext_to_a_strict_server_is_unauthenticated_and_names_the_policy() {
    let (plane, _dir) = plane_with_ca().await;
    let server = attendees_in(
        MtlsMode::Strict,
        identity(&plane, "attendees").await,
        Faults::none(),
    )
    .await;

    // No identity and the default (auto) TLS mode: the client speaks
    // plaintext, as a workload outside the mesh would.
    let client_mesh = Mesh::new(to_attendees(server.addr, UpstreamTls::default()));
    let status = list(&mut client(&client_mesh)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status
            .message()
            .contains("PeerAuthentication istio-system/default requires mutual TLS"),
        "{status:?}"
    );
    assert!(status.message().contains("plaintext"), "{status:?}");
    assert_eq!(
        server.served.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the handler never ran"
    );
}

#[tokio::test]
async fn permissive_takes_mutual_tls_and_plaintext_callers() {
    let (plane, _dir) = plane_with_ca().await;
    let server = attendees_in(
        MtlsMode::Permissive,
        identity(&plane, "attendees").await,
        Faults::none(),
    )
    .await;

    let plain = Mesh::new(to_attendees(server.addr, UpstreamTls::default()));
    let reply = list(&mut client(&plain)).await.expect("plaintext is taken");
    assert_eq!(reply.caller, "", "a plaintext caller has no identity");

    let mutual = Mesh::new(to_attendees(server.addr, UpstreamTls::default()));
    mutual.set_identity(identity(&plane, "sessions").await);
    let reply = list(&mut client(&mutual))
        .await
        .expect("mutual TLS is taken");
    assert_eq!(reply.caller, spiffe("sessions").to_string());
}

#[tokio::test]
async fn disable_serves_plaintext_even_to_a_workload_with_an_identity() {
    let (plane, _dir) = plane_with_ca().await;
    let server = attendees_in(
        MtlsMode::Disable,
        identity(&plane, "attendees").await,
        Faults::none(),
    )
    .await;

    let client_mesh = Mesh::new(to_attendees(server.addr, UpstreamTls::disabled()));
    client_mesh.set_identity(identity(&plane, "sessions").await);
    let reply = list(&mut client(&client_mesh))
        .await
        .expect("plaintext works");
    assert_eq!(reply.caller, "");
}

#[tokio::test]
async fn a_server_presenting_another_identity_is_refused_by_the_client() {
    let (plane, _dir) = plane_with_ca().await;
    let server = attendees_in(
        MtlsMode::Strict,
        identity(&plane, "attendees").await,
        Faults::none(),
    )
    .await;

    let client_mesh = Mesh::new(to_attendees(
        server.addr,
        UpstreamTls::mutual([spiffe("payments")]),
    ));
    client_mesh.set_identity(identity(&plane, "sessions").await);
    let status = list(&mut client(&client_mesh)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let want = format!(
        "endpoint presented {} but attendees is served by {}",
        spiffe("attendees"),
        spiffe("payments")
    );
    assert!(status.message().contains(&want), "{status:?}");
}

#[tokio::test]
async fn a_client_required_to_use_mutual_tls_without_an_identity_says_so() {
    let client_mesh = Mesh::new(to_attendees(
        "127.0.0.1:9".parse().expect("address"),
        UpstreamTls::mutual([]),
    ));
    let status = list(&mut client(&client_mesh)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .contains("attendees requires mutual TLS (DestinationRule tls.mode ISTIO_MUTUAL) but this workload has no identity"),
        "{status:?}"
    );
}
