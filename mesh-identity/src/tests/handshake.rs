//! Successful mutual TLS between workloads, and what each side learns.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ClientConfig;
use tokio::net::{TcpListener, TcpStream};

use super::{ALPN, assert_rejected, connect_one, handshake, serve_one};
use crate::testing::{LeafOptions, TestCa};
use crate::tls::provider;
use crate::verifier::PeerVerifier;
use crate::{ClientAuth, Identity, TrustBundle, peer_identity};

fn pair(ca: &TestCa) -> (Identity, Identity) {
    let server = ca.id("default", "server");
    let client = ca.id("default", "client");
    (
        Identity::fixed(ca.issue(&server), ca.bundle()),
        Identity::fixed(ca.issue(&client), ca.bundle()),
    )
}

/// A client that verifies servers like a mesh client but has no
/// certificate of its own (a permissive-mode caller).
fn anonymous_client(bundle: &TrustBundle) -> Arc<ClientConfig> {
    let verifier = PeerVerifier::new(Arc::new(ArcSwap::from_pointee(bundle.clone())), None, true);
    Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth(),
    )
}

#[tokio::test]
async fn mutual_tls_over_tcp_each_side_sees_the_other() {
    let ca = TestCa::new("cluster.local");
    let (server, client) = pair(&ca);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server_config = server.server_config(ClientAuth::Required, ALPN);
    let client_config = client.client_config(ALPN);
    let accept = async {
        let (stream, _) = listener.accept().await.unwrap();
        serve_one(server_config, stream).await
    };
    let connect = async {
        let stream = TcpStream::connect(address).await.unwrap();
        connect_one(client_config, stream).await
    };
    let (server_saw, client_saw) = tokio::join!(accept, connect);
    assert_eq!(server_saw, Ok(Some(client.id())));
    assert_eq!(client_saw, Ok(Some(server.id())));
}

#[tokio::test]
async fn a_chain_through_an_intermediate_verifies() {
    let ca = TestCa::new("cluster.local");
    let intermediate = ca.intermediate();
    let id = ca.id("default", "leaf");
    let leafy = Identity::fixed(intermediate.issue(&id), ca.bundle());
    assert_eq!(leafy.current().unwrap().chain().len(), 2);
    let (server, client) = pair(&ca);
    let (s, c) = handshake(
        leafy.server_config(ClientAuth::Required, ALPN),
        client.client_config(ALPN),
    )
    .await;
    assert_eq!((s, c), (Ok(Some(client.id())), Ok(Some(id.clone()))));
    let (s, c) = handshake(
        server.server_config(ClientAuth::Required, ALPN),
        leafy.client_config(ALPN),
    )
    .await;
    assert_eq!((s, c), (Ok(Some(id)), Ok(Some(server.id()))));
}

#[tokio::test]
async fn tls12_handshakes_verify_too() {
    let ca = TestCa::new("cluster.local");
    let (server, client) = pair(&ca);
    let leaf = ca.leaf(LeafOptions::new(&client.id()));
    let verifier = PeerVerifier::new(server.state().bundle.clone(), None, true);
    let tls12 = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(leaf.chain.clone(), leaf.key.clone_key())
        .unwrap();
    let (s, c) = handshake(
        server.server_config(ClientAuth::Required, ALPN),
        Arc::new(tls12),
    )
    .await;
    assert_eq!((s, c), (Ok(Some(client.id())), Ok(Some(server.id()))));
}

#[tokio::test]
async fn optional_client_auth_admits_a_client_without_a_certificate() {
    let ca = TestCa::new("cluster.local");
    let (server, _) = pair(&ca);
    let (s, c) = handshake(
        server.server_config(ClientAuth::Optional, ALPN),
        anonymous_client(&ca.bundle()),
    )
    .await;
    assert_eq!(
        s,
        Ok(None),
        "no PeerIdentity for a client without a certificate"
    );
    assert_eq!(c, Ok(Some(server.id())));
}

#[tokio::test]
async fn optional_client_auth_still_verifies_a_presented_certificate() {
    let ca = TestCa::new("cluster.local");
    let (server, client) = pair(&ca);
    let expired = ca.leaf(LeafOptions::new(&client.id()).expired());
    let (s, c) = handshake(
        server.server_config(ClientAuth::Optional, ALPN),
        expired.client_config(&ca.bundle(), ALPN),
    )
    .await;
    assert_rejected(&s, "certificate expired at");
    assert!(c.is_err());
}

#[tokio::test]
async fn required_client_auth_rejects_a_client_without_a_certificate() {
    let ca = TestCa::new("cluster.local");
    let (server, _) = pair(&ca);
    let (s, c) = handshake(
        server.server_config(ClientAuth::Required, ALPN),
        anonymous_client(&ca.bundle()),
    )
    .await;
    assert_rejected(&s, "peer sent no certificates");
    assert!(c.is_err());
}

#[tokio::test]
async fn a_client_expecting_one_server_rejects_another() {
    let ca = TestCa::new("cluster.local");
    let (server, client) = pair(&ca);
    let wanted = ca.id("default", "someone-else");
    let (_, c) = handshake(
        server.server_config(ClientAuth::Required, ALPN),
        client.client_config_expecting(wanted, ALPN),
    )
    .await;
    assert_rejected(
        &c,
        "certificate identity is spiffe://cluster.local/ns/default/sa/server but spiffe://cluster.local/ns/default/sa/someone-else was expected",
    );
    let (_, c) = handshake(
        server.server_config(ClientAuth::Required, ALPN),
        client.client_config_expecting(server.id(), ALPN),
    )
    .await;
    assert_eq!(c, Ok(Some(server.id())));
}

#[test]
fn peer_identity_reads_the_leaf_and_needs_one() {
    let ca = TestCa::new("cluster.local");
    let id = ca.id("ns1", "sa1");
    let cert = ca.issue(&id);
    assert_eq!(peer_identity(cert.chain()).unwrap(), id);
    assert_eq!(
        peer_identity(&[]).unwrap_err().to_string(),
        "no certificate presented; mutual TLS requires a workload certificate"
    );
}
