//! The CA client against an in-test CA: bootstrap with a token, renewal
//! with the current certificate, outages, expiry, and errors.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::fake_ca::{Call, FakeCa, TOKEN};
use crate::clock::Clock;
use crate::testing::TestCa;
use crate::{CaClient, Identity, IdentityError, SpiffeId, ca};

const HOUR: Duration = Duration::from_secs(3600);

fn workload(ca: &TestCa) -> SpiffeId {
    ca.id("default", "web")
}

#[tokio::test]
async fn the_first_certificate_comes_over_tcp_with_the_bootstrap_token() {
    let ca = Arc::new(TestCa::new("cluster.local"));
    let fake = FakeCa::new(ca.clone(), Clock::System);
    let address = fake.serve_tcp().await;
    let client = CaClient::new(address, ca.root_pem(), workload(&ca))
        .with_token(TOKEN)
        .with_ca_identity(fake.id.clone())
        .with_lifetime(HOUR);
    let identity = Identity::from_ca(client).await.unwrap();

    assert_eq!(
        fake.calls(),
        [Call {
            client: None,
            authorization: Some(format!("Bearer {TOKEN}")),
        }]
    );
    let cert = identity.current().unwrap();
    assert_eq!(cert.id(), &workload(&ca));
    assert_eq!(identity.id(), workload(&ca));
    assert_eq!(identity.trust_domain(), "cluster.local");
    assert_eq!(*identity.rotations().borrow(), 1);
    assert_eq!(identity.bundle().roots(), [ca.root().clone()]);
    let lifetime = cert.not_after().duration_since(cert.not_before()).unwrap();
    assert_eq!(lifetime, HOUR);
}

#[tokio::test]
async fn a_refusal_carries_the_grpc_status_and_the_ca_address() {
    let ca = Arc::new(TestCa::new("cluster.local"));
    let fake = FakeCa::new(ca.clone(), Clock::System);
    let address = fake.serve_tcp().await;
    let client = CaClient::new(address, ca.root_pem(), workload(&ca));
    let err = Identity::from_ca(client).await.unwrap_err();
    assert!(matches!(err, IdentityError::CaRefused { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the certificate authority at {address} refused: Unauthenticated: present a valid workload certificate or a bootstrap token"
        )
    );
}

#[tokio::test]
async fn an_unreachable_ca_is_an_error_naming_it() {
    let ca = TestCa::new("cluster.local");
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let client = CaClient::new(address, ca.root_pem(), workload(&ca)).with_token(TOKEN);
    let err = Identity::from_ca(client).await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "cannot reach the certificate authority at {address}: "
        )),
        "{err}"
    );
}

#[tokio::test]
async fn a_ca_presenting_another_identity_is_not_trusted() {
    let ca = Arc::new(TestCa::new("cluster.local"));
    let fake = FakeCa::new(ca.clone(), Clock::System);
    let address = fake.serve_tcp().await;
    let impostor_check = ca.id("mesh-system", "real-ca");
    let client = CaClient::new(address, ca.root_pem(), workload(&ca))
        .with_token(TOKEN)
        .with_ca_identity(impostor_check);
    let err = Identity::from_ca(client).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "certificate identity is spiffe://cluster.local/ns/mesh-system/sa/ca but spiffe://cluster.local/ns/mesh-system/sa/real-ca was expected"
        ),
        "{err}"
    );
    assert!(
        fake.calls().is_empty(),
        "no request reaches an untrusted CA"
    );
}

#[tokio::test]
async fn configuration_errors_are_caught_before_dialing() {
    let ca = TestCa::new("cluster.local");
    let address = "127.0.0.1:9".parse().unwrap();
    let mut client = CaClient::new(address, ca.root_pem(), workload(&ca));
    client.trust_domain = "other.local".into();
    let err = Identity::from_ca(client).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "the requested SPIFFE ID is for trust domain \"cluster.local\" but this workload is configured for \"other.local\"; fix the trust domain or the requested SPIFFE ID"
    );
    let client = CaClient::new(address, ca.root_pem(), workload(&ca)).with_token("bad\ntoken");
    let err = Identity::from_ca(client).await.unwrap_err();
    assert!(matches!(err, IdentityError::InvalidToken), "{err:?}");
    let client = CaClient::new(address, "", workload(&ca));
    let err = Identity::from_ca(client).await.unwrap_err().to_string();
    assert!(err.starts_with("invalid trust bundle"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn renews_with_its_certificate_rides_out_an_outage_then_fails_closed() {
    let clock = Clock::tokio();
    let ca = Arc::new(TestCa::new("cluster.local"));
    let fake = FakeCa::new(ca.clone(), clock.clone());
    let dial = fake.serve_in_memory();
    let client = CaClient::new("127.0.0.1:1".parse().unwrap(), ca.root_pem(), workload(&ca))
        .with_token(TOKEN)
        .with_ca_identity(fake.id.clone())
        .with_lifetime(HOUR);
    let start = Instant::now();
    let identity = ca::start(client, dial.clone(), clock).await.unwrap();
    let first = identity.current().unwrap();
    let mut rotations = identity.rotations();
    let mut attempts = identity.attempts();

    // Renewal at half the remaining lifetime ± 10%, counted from arrival:
    // the certificate was backdated by a minute, so 59 of its 60 minutes
    // remain when it arrives at `start`.
    rotations.wait_for(|n| *n >= 2).await.unwrap();
    let at = start.elapsed();
    let remaining = HOUR - Duration::from_secs(60);
    assert!(
        // A second of slack above for the CA round trip before arrival.
        at >= remaining.mul_f64(0.45) && at <= remaining.mul_f64(0.55) + Duration::from_secs(1),
        "renewed {at:?} after arrival, {remaining:?} before expiry"
    );
    let second = identity.current().unwrap();
    assert_ne!(second.leaf(), first.leaf());
    let calls = fake.calls();
    assert_eq!(
        calls[1],
        Call {
            client: Some(workload(&ca)),
            authorization: None,
        },
        "renewal authenticates with the current certificate, not the token"
    );

    // The CA goes down: renewals fail and are retried, the current
    // certificate stays in use.
    dial.set_up(false);
    let seen = *attempts.borrow_and_update();
    attempts.wait_for(|n| *n >= seen + 4).await.unwrap();
    assert_eq!(*rotations.borrow(), 2);
    assert_eq!(identity.current().unwrap().leaf(), second.leaf());

    // Retries continue until the certificate expires; then mutual TLS fails
    // closed.
    while identity.current().is_ok() {
        attempts.changed().await.unwrap();
    }
    let err = identity.current().unwrap_err();
    assert!(matches!(err, IdentityError::Expired { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("refusing mutual TLS (fail closed)")
    );

    // The CA comes back: with no valid certificate, the token is used again.
    dial.set_up(true);
    rotations.wait_for(|n| *n >= 3).await.unwrap();
    assert!(identity.current().is_ok());
    assert_eq!(
        fake.calls().last(),
        Some(&Call {
            client: None,
            authorization: Some(format!("Bearer {TOKEN}")),
        })
    );
}

#[tokio::test(start_paused = true)]
async fn the_rotation_task_stops_when_the_identity_is_dropped() {
    let clock = Clock::tokio();
    let ca = Arc::new(TestCa::new("cluster.local"));
    let fake = FakeCa::new(ca.clone(), clock.clone());
    let dial = fake.serve_in_memory();
    let client = CaClient::new("127.0.0.1:1".parse().unwrap(), ca.root_pem(), workload(&ca))
        .with_token(TOKEN)
        .with_lifetime(HOUR);
    let identity = ca::start(client, dial, clock).await.unwrap();
    let state = Arc::downgrade(identity.state());
    let config = identity.client_config(&[b"h2"]);
    drop(identity);
    tokio::time::sleep(10 * HOUR).await;
    assert_eq!(
        fake.calls().len(),
        1,
        "no renewal after the identity is gone"
    );
    // The config still holds the state (serving until expiry), the task not.
    assert_eq!(state.strong_count(), 1);
    drop(config);
    assert_eq!(state.strong_count(), 0);
}
