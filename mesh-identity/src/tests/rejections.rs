//! Every way a peer certificate is rejected, each with its message, from
//! the server's side (client certificate) and the client's (server
//! certificate).

use super::{ALPN, Side, assert_rejected, handshake};
use crate::testing::{LeafOptions, TestCa, TestLeaf, TlsUsage};
use crate::{ClientAuth, Identity, SpiffeId};

struct Mesh {
    ca: TestCa,
    me: Identity,
}

impl Mesh {
    fn new() -> Self {
        let ca = TestCa::new("cluster.local");
        let me = Identity::fixed(ca.issue(&ca.id("default", "me")), ca.bundle());
        Self { ca, me }
    }

    fn peer(&self) -> SpiffeId {
        self.ca.id("default", "peer")
    }

    /// Our server, facing a client that presents `leaf`: what our server saw.
    async fn server_sees(&self, leaf: &TestLeaf) -> Side {
        let (server, client) = handshake(
            self.me.server_config(ClientAuth::Required, ALPN),
            leaf.client_config(&self.ca.bundle(), ALPN),
        )
        .await;
        assert!(client.is_err(), "the client must learn it was rejected");
        server
    }

    /// Our client, facing a server that presents `leaf`: what our client saw.
    async fn client_sees(&self, leaf: &TestLeaf) -> Side {
        let (server, client) =
            handshake(leaf.server_config(ALPN), self.me.client_config(ALPN)).await;
        assert!(server.is_err(), "the server must learn it was rejected");
        client
    }

    async fn rejected_both_ways(&self, leaf: &TestLeaf, needle: &str) {
        assert_rejected(&self.server_sees(leaf).await, needle);
        assert_rejected(&self.client_sees(leaf).await, needle);
    }
}

#[tokio::test]
async fn a_certificate_from_another_trust_domain() {
    let mesh = Mesh::new();
    let other = TestCa::new("other.local");
    let leaf = other.leaf(LeafOptions::new(&other.id("default", "peer")));
    mesh.rejected_both_ways(
        &leaf,
        "certificate identity spiffe://other.local/ns/default/sa/peer is in trust domain \"other.local\" but only \"cluster.local\" is trusted",
    )
    .await;
    // Even when our own CA signed it.
    let misissued = mesh.ca.leaf(LeafOptions::new(&other.id("default", "peer")));
    mesh.rejected_both_ways(&misissued, "is in trust domain \"other.local\"")
        .await;
}

#[tokio::test]
async fn a_certificate_with_two_uri_sans() {
    let mesh = Mesh::new();
    let leaf = mesh.ca.leaf(
        LeafOptions::new(&mesh.peer()).extra_uri_san("spiffe://cluster.local/ns/default/sa/admin"),
    );
    mesh.rejected_both_ways(
        &leaf,
        "certificate has 2 URI SANs; a workload certificate must carry exactly one, its SPIFFE ID",
    )
    .await;
}

#[tokio::test]
async fn a_certificate_without_a_uri_san() {
    let mesh = Mesh::new();
    let leaf = mesh.ca.leaf(LeafOptions::new(&mesh.peer()).no_uri_san());
    mesh.rejected_both_ways(
        &leaf,
        "certificate has no URI SAN; a workload certificate must carry its SPIFFE ID as its only URI SAN",
    )
    .await;
}

#[tokio::test]
async fn a_uri_san_that_is_not_a_spiffe_id() {
    let mesh = Mesh::new();
    let leaf = mesh
        .ca
        .leaf(LeafOptions::new(&mesh.peer()).uri_san("https://cluster.local/web"));
    mesh.rejected_both_ways(
        &leaf,
        "certificate URI SAN is not a mesh SPIFFE ID: invalid SPIFFE ID \"https://cluster.local/web\": it must start with spiffe://",
    )
    .await;
}

#[tokio::test]
async fn an_expired_certificate() {
    let mesh = Mesh::new();
    let leaf = mesh.ca.leaf(LeafOptions::new(&mesh.peer()).expired());
    mesh.rejected_both_ways(&leaf, "certificate expired at")
        .await;
    mesh.rejected_both_ways(&leaf, "the peer must renew it")
        .await;
}

#[tokio::test]
async fn a_certificate_not_valid_yet() {
    let mesh = Mesh::new();
    let leaf = mesh.ca.leaf(LeafOptions::new(&mesh.peer()).not_yet_valid());
    mesh.rejected_both_ways(&leaf, "certificate is not valid before")
        .await;
    mesh.rejected_both_ways(&leaf, "check the clocks of both workloads")
        .await;
}

#[tokio::test]
async fn a_certificate_from_an_unknown_issuer() {
    let mesh = Mesh::new();
    let stranger = TestCa::new("cluster.local");
    let leaf = stranger.leaf(LeafOptions::new(&mesh.peer()));
    mesh.rejected_both_ways(
        &leaf,
        "certificate was not issued by a root in the trust bundle of \"cluster.local\" (unknown issuer)",
    )
    .await;
}

#[tokio::test]
async fn a_ca_certificate_used_as_a_leaf() {
    let mesh = Mesh::new();
    let leaf = mesh.ca.leaf(LeafOptions::new(&mesh.peer()).ca());
    mesh.rejected_both_ways(
        &leaf,
        "a CA certificate was presented as the leaf (basicConstraints CA:TRUE)",
    )
    .await;
}

#[tokio::test]
async fn a_leaf_without_the_tls_key_usage_for_its_role() {
    let mesh = Mesh::new();
    let server_only = mesh
        .ca
        .leaf(LeafOptions::new(&mesh.peer()).tls_usage(TlsUsage::ServerOnly));
    assert_rejected(
        &mesh.server_sees(&server_only).await,
        "certificate extendedKeyUsage does not include clientAuth",
    );
    let client_only = mesh
        .ca
        .leaf(LeafOptions::new(&mesh.peer()).tls_usage(TlsUsage::ClientOnly));
    assert_rejected(
        &mesh.client_sees(&client_only).await,
        "certificate extendedKeyUsage does not include serverAuth",
    );
    let neither = mesh
        .ca
        .leaf(LeafOptions::new(&mesh.peer()).tls_usage(TlsUsage::Neither));
    mesh.rejected_both_ways(&neither, "extendedKeyUsage does not include")
        .await;
}

#[tokio::test]
async fn a_leaf_whose_key_usage_lacks_digital_signature() {
    let mesh = Mesh::new();
    let leaf = mesh
        .ca
        .leaf(LeafOptions::new(&mesh.peer()).without_digital_signature());
    mesh.rejected_both_ways(&leaf, "certificate keyUsage lacks digitalSignature")
        .await;
}

#[tokio::test]
async fn a_leaf_without_extended_key_usage_is_accepted() {
    let mesh = Mesh::new();
    let leaf = mesh
        .ca
        .leaf(LeafOptions::new(&mesh.peer()).tls_usage(TlsUsage::Unspecified));
    let peer = Identity::fixed(leaf.workload_cert().unwrap(), mesh.ca.bundle());
    let (s, c) = handshake(
        mesh.me.server_config(ClientAuth::Required, ALPN),
        peer.client_config(ALPN),
    )
    .await;
    assert_eq!((s, c), (Ok(Some(mesh.peer())), Ok(Some(mesh.me.id()))));
}
