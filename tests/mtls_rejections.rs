//! A STRICT mesh server refuses every unacceptable client certificate at
//! the handshake, with the reason in the error, and serves the next good
//! caller. (mesh-identity's own tests cover each case in both directions;
//! these go through the mesh's acceptor as a server uses it.)

mod support;

use std::time::Duration;

use mesh::Mesh;
use mesh::core::protocol::Protocol;
use mesh::core::server::ServerLayer;
use mesh::identity::Identity;
use mesh::identity::testing::{LeafOptions, TestCa, TlsUsage};
use mesh::policy::MtlsMode;
use rustls_pki_types::ServerName;
use support::identity::peer_policy;
use tokio::net::{TcpListener, TcpStream};

fn strict_mesh(ca: &TestCa) -> Mesh {
    let mesh = Mesh::new(peer_policy(MtlsMode::Strict));
    mesh.set_identity(Identity::fixed(
        ca.issue(&ca.id("default", "attendees")),
        ca.bundle(),
    ));
    mesh
}

#[tokio::test]
async fn every_unacceptable_client_certificate_is_refused_with_its_reason() {
    let ca = TestCa::new("cluster.local");
    let foreign = TestCa::new("cluster.local");
    let mesh = strict_mesh(&ca);
    let acceptor = ServerLayer::new(&mesh, "attendees", Protocol::Grpc).acceptor(&[b"h2"]);
    let peer = ca.id("default", "sessions");
    let cases = [
        (
            "another trust domain",
            ca.leaf(LeafOptions::new(&peer).uri_san("spiffe://other.local/ns/default/sa/sessions")),
            "trust domain \"other.local\"",
        ),
        (
            "two URI SANs",
            ca.leaf(
                LeafOptions::new(&peer).extra_uri_san("spiffe://cluster.local/ns/default/sa/admin"),
            ),
            "has 2 URI SANs",
        ),
        (
            "no URI SAN",
            ca.leaf(LeafOptions::new(&peer).no_uri_san()),
            "has no URI SAN",
        ),
        (
            "expired",
            ca.leaf(LeafOptions::new(&peer).expired()),
            "certificate expired at",
        ),
        (
            "not yet valid",
            ca.leaf(LeafOptions::new(&peer).not_yet_valid()),
            "not valid before",
        ),
        (
            "no TLS client key usage",
            ca.leaf(LeafOptions::new(&peer).tls_usage(TlsUsage::ServerOnly)),
            "extendedKeyUsage does not include clientAuth",
        ),
        (
            "a CA as the leaf",
            ca.leaf(LeafOptions::new(&peer).ca()),
            "a CA certificate was presented as the leaf",
        ),
        (
            "another CA's certificate",
            foreign.leaf(LeafOptions::new(&peer)),
            "unknown issuer",
        ),
    ];
    for (case, leaf, needle) in cases {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = leaf.client_config(&ca.bundle(), &[b"h2"]);
        let client = tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.expect("connect");
            let connector = tokio_rustls::TlsConnector::from(config);
            let name = ServerName::IpAddress(addr.ip().into());
            match connector.connect(name, tcp).await {
                // TLS 1.3 reports a refused client certificate on the
                // first read after the handshake.
                Ok(mut tls) => {
                    use tokio::io::AsyncReadExt;
                    let mut buf = [0u8; 1];
                    tls.read(&mut buf).await.map(|_| ())
                }
                Err(e) => Err(e),
            }
        });
        let (tcp, _) = listener.accept().await.expect("accept");
        let err = acceptor
            .accept(tcp)
            .await
            .expect_err(&format!("{case}: must be refused"));
        let message = format!("{err}");
        assert!(message.contains("TLS handshake with"), "{case}: {message}");
        assert!(message.contains(needle), "{case}: {message}");
        let seen_by_client = tokio::time::timeout(Duration::from_secs(10), client)
            .await
            .expect("client finishes")
            .expect("client task");
        assert!(
            seen_by_client.is_err(),
            "{case}: the client must see the refusal"
        );
    }

    // And a good caller is still served.
    let good = ca.leaf(LeafOptions::new(&peer));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = good.client_config(&ca.bundle(), &[b"h2"]);
    let client = tokio::spawn(async move {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tokio_rustls::TlsConnector::from(config)
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await
    });
    let (tcp, _) = listener.accept().await.expect("accept");
    let accepted = acceptor
        .accept(tcp)
        .await
        .expect("a good certificate is accepted");
    assert_eq!(
        accepted.info().peer.as_deref().map(ToString::to_string),
        Some(peer.to_string())
    );
    assert!(client.await.expect("client task").is_ok());
}
