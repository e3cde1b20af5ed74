//! Root rotation, failing closed on expiry, and loading certificates and
//! bundles from PEM.

use std::sync::Arc;
use std::time::Duration;

use super::{ALPN, assert_rejected, handshake};
use crate::clock::Clock;
use crate::identity::State;
use crate::testing::{LeafOptions, TestCa};
use crate::{ClientAuth, Identity, IdentityError, TrustBundle, WorkloadCert};

#[tokio::test]
async fn a_bundle_with_old_and_new_roots_accepts_leaves_from_both() {
    let old = TestCa::new("cluster.local");
    let new = TestCa::new("cluster.local");
    let both = format!("{}{}", old.root_pem(), new.root_pem());
    let bundle = TrustBundle::from_pem("cluster.local", &both).unwrap();
    assert_eq!(bundle.roots().len(), 2);
    let server = Identity::fixed(new.issue(&new.id("default", "server")), bundle.clone());
    let config = server.server_config(ClientAuth::Required, ALPN);
    for ca in [&old, &new] {
        let client = Identity::fixed(ca.issue(&ca.id("default", "client")), bundle.clone());
        let (s, c) = handshake(config.clone(), client.client_config(ALPN)).await;
        assert_eq!((s, c), (Ok(Some(client.id())), Ok(Some(server.id()))));
    }

    // Once the old root is gone from the bundle, its leaves are rejected by
    // the same config: verifiers read the live bundle.
    server.state().set_bundle(new.bundle());
    let stale = Identity::fixed(old.issue(&old.id("default", "client")), bundle);
    let (s, _) = handshake(config, stale.client_config(ALPN)).await;
    assert_rejected(&s, "unknown issuer");
}

#[tokio::test]
async fn an_expired_fixed_certificate_fails_closed() {
    let ca = TestCa::new("cluster.local");
    let id = ca.id("default", "web");
    let expired = ca
        .leaf(LeafOptions::new(&id).expired())
        .workload_cert()
        .unwrap();
    let identity = Identity::fixed(expired, ca.bundle());
    let err = identity.current().unwrap_err();
    assert!(matches!(err, IdentityError::Expired { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(
            "workload certificate for spiffe://cluster.local/ns/default/sa/web expired at "
        ) && message.ends_with("; refusing mutual TLS (fail closed) until a new one arrives"),
        "{message}"
    );

    let peer = Identity::fixed(ca.issue(&ca.id("default", "peer")), ca.bundle());
    // As a server it has no certificate to offer.
    let (s, c) = handshake(
        identity.server_config(ClientAuth::Required, ALPN),
        peer.client_config(ALPN),
    )
    .await;
    assert_rejected(&s, "no server certificate chain resolved");
    assert!(c.is_err());
    // As a client it presents none, so a strict server refuses it.
    let (s, c) = handshake(
        peer.server_config(ClientAuth::Required, ALPN),
        identity.client_config(ALPN),
    )
    .await;
    assert_rejected(&s, "peer sent no certificates");
    assert!(c.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_certificate_that_expires_under_a_live_config_fails_closed() {
    let ca = TestCa::new("cluster.local");
    let cert =
        ca.leaf(LeafOptions::new(&ca.id("default", "web")).lifetime(Duration::from_secs(120)));
    let cert = cert.workload_cert().unwrap();
    let state = State::new(cert.id().clone(), ca.bundle(), Some(cert), Clock::tokio());
    let identity = Identity::from_state(Arc::new(state));
    let peer = Identity::fixed(ca.issue(&ca.id("default", "peer")), ca.bundle());
    let config = identity.server_config(ClientAuth::Required, ALPN);

    let (s, c) = handshake(config.clone(), peer.client_config(ALPN)).await;
    assert_eq!((s, c), (Ok(Some(peer.id())), Ok(Some(identity.id()))));

    tokio::time::advance(Duration::from_secs(120)).await;
    assert!(matches!(
        identity.current(),
        Err(IdentityError::Expired { .. })
    ));
    let (s, _) = handshake(config, peer.client_config(ALPN)).await;
    assert_rejected(&s, "no server certificate chain resolved");
}

#[test]
fn a_certificate_not_valid_yet_is_not_used() {
    let ca = TestCa::new("cluster.local");
    let early = ca.leaf(LeafOptions::new(&ca.id("default", "web")).not_yet_valid());
    let identity = Identity::fixed(early.workload_cert().unwrap(), ca.bundle());
    let err = identity.current().unwrap_err();
    assert!(matches!(err, IdentityError::NotYetValid { .. }), "{err:?}");
    assert!(err.to_string().contains("is not valid before"), "{err}");
}

#[test]
fn pem_errors_say_what_is_wrong() {
    let ca = TestCa::new("cluster.local");
    let leaf = ca.leaf(LeafOptions::new(&ca.id("default", "web")));
    let other = ca.leaf(LeafOptions::new(&ca.id("default", "other")));

    let err = WorkloadCert::from_pem("", &leaf.key_pem)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "invalid certificate chain: no CERTIFICATE block found; expected PEM `-----BEGIN CERTIFICATE-----` blocks"
    );
    let err = WorkloadCert::from_pem(&leaf.chain_pem, "")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("invalid private key: "), "{err}");
    let err = WorkloadCert::from_pem(&leaf.chain_pem, &other.key_pem)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the private key is unusable: ") && err.contains("expected the PKCS#8"),
        "{err}"
    );
    let no_san = ca.leaf(LeafOptions::new(&ca.id("default", "web")).no_uri_san());
    let err = WorkloadCert::from_pem(&no_san.chain_pem, &no_san.key_pem)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("the workload certificate is unusable: certificate has no URI SAN"),
        "{err}"
    );

    let err = TrustBundle::from_pem("cluster.local", "garbage")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid trust bundle: no CERTIFICATE block found"),
        "{err}"
    );
    let err = TrustBundle::from_pem("Cluster.Local", ca.root_pem())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("invalid trust domain \"Cluster.Local\""),
        "{err}"
    );
    let err = TrustBundle::new("cluster.local", leaf.chain.clone());
    assert!(err.is_ok(), "any parsable certificate can be an anchor");
}

#[test]
fn merged_bundles_drop_duplicates() {
    let a = TestCa::new("cluster.local");
    let b = TestCa::new("cluster.local");
    let merged = a.bundle().merged(&b.bundle()).merged(&a.bundle());
    assert_eq!(merged.roots(), [a.root().clone(), b.root().clone()]);
    assert_eq!(merged.trust_domain(), "cluster.local");
}
