//! The CA over gRPC: the real `serve` on 127.0.0.1 and a tonic client over
//! tokio-rustls that trusts the CA's root and checks the listener's SPIFFE
//! ID. Covers first issuance with a bootstrap token, renewal with the
//! issued certificate, and every way of being refused.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use mesh_ca::CertificateAuthority;
use mesh_identity::SpiffeId;
use mesh_identity::pb::certificate_service_client::CertificateServiceClient;
use mesh_identity::pb::{
    CreateCertificateRequest, CreateCertificateResponse, GetTrustBundleRequest,
};
use rcgen::{CertificateParams, KeyPair, SanType};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tonic::transport::{Endpoint, Uri};
use tonic::{Code, Request, Status};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

const TD: &str = "cluster.local";

fn id(sa: &str) -> SpiffeId {
    SpiffeId::new(TD, "default", sa).expect("valid spiffe id")
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A running CA; dropping `stop` shuts it down.
struct Running {
    _dir: tempfile::TempDir,
    ca: CertificateAuthority,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    server: JoinHandle<Result<(), mesh_ca::CaError>>,
}

async fn start() -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = CertificateAuthority::load_or_generate(dir.path(), TD).expect("ca starts");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(mesh_ca::serve(ca.clone(), listener, async {
        let _ = stopped.await;
    }));
    Running {
        _dir: dir,
        ca,
        addr,
        stop,
        server,
    }
}

/// Verifies the CA's listener as a workload would: chained to the bundle,
/// and exactly one SAN, the expected SPIFFE ID (no DNS name).
#[derive(Debug)]
struct SpiffeServerVerifier {
    roots: RootCertStore,
    expected: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let parsed = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        let (_, cert) = X509Certificate::from_der(end_entity.as_ref())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        let san = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .ok_or_else(|| rustls::Error::General("no san".into()))?;
        match san.value.general_names.as_slice() {
            [GeneralName::URI(uri)] if *uri == self.expected => Ok(ServerCertVerified::assertion()),
            other => Err(rustls::Error::General(format!("unexpected sans {other:?}"))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client certificate (chain PEM) and its key.
struct Identity {
    chain: Vec<String>,
    key: KeyPair,
}

async fn client(
    running: &Running,
    identity: Option<&Identity>,
) -> Result<CertificateServiceClient<tonic::transport::Channel>, tonic::transport::Error> {
    let mut roots = RootCertStore::empty();
    for pem in running.ca.trust_bundle().roots {
        roots
            .add(CertificateDer::from_pem_slice(pem.as_bytes()).expect("root pem"))
            .expect("usable root");
    }
    let verifier = SpiffeServerVerifier {
        roots,
        expected: running.ca.server_id().to_string(),
        provider: provider(),
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let chain = identity
                .chain
                .iter()
                .map(|p| CertificateDer::from_pem_slice(p.as_bytes()).expect("chain pem"))
                .collect();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key.serialize_der()));
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));
    let addr = running.addr;
    let channel = Endpoint::from_static("http://127.0.0.1")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let connector = connector.clone();
            async move {
                let tcp = TcpStream::connect(addr).await?;
                let name = ServerName::try_from("mesh-ca.invalid").expect("server name");
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await?;
    Ok(CertificateServiceClient::new(channel))
}

/// A CSR for `uri` and its key.
fn csr(uri: &str) -> (String, KeyPair) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![SanType::URI(uri.try_into().expect("uri"))];
    (
        params
            .serialize_request(&key)
            .expect("csr")
            .pem()
            .expect("csr pem"),
        key,
    )
}

fn request(csr: String, token: Option<&str>) -> Request<CreateCertificateRequest> {
    let mut request = Request::new(CreateCertificateRequest {
        csr,
        validity_duration: 0,
    });
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().expect("metadata value");
        request.metadata_mut().insert("authorization", value);
    }
    request
}

fn leaf_uri(response: &CreateCertificateResponse) -> String {
    let der = CertificateDer::from_pem_slice(response.cert_chain[0].as_bytes()).expect("leaf pem");
    let (_, cert) = X509Certificate::from_der(der.as_ref()).expect("leaf der");
    let san = cert
        .subject_alternative_name()
        .expect("san extension")
        .expect("a san");
    match san.value.general_names.as_slice() {
        [GeneralName::URI(uri)] => (*uri).to_owned(),
        other => panic!("unexpected sans {other:?}"),
    }
}

/// Issues a certificate for `sa` with a bootstrap token.
async fn bootstrap(running: &Running, sa: &str) -> Identity {
    let token = running
        .ca
        .bootstrap_token(&id(sa), Duration::from_secs(600));
    let (csr, key) = csr(&id(sa).to_string());
    let mut client = client(running, None).await.expect("connect");
    let response = client
        .create_certificate(request(csr, Some(&token)))
        .await
        .expect("issued with a token")
        .into_inner();
    Identity {
        chain: response.cert_chain,
        key,
    }
}

fn assert_status(result: Result<impl std::fmt::Debug, Status>, code: Code, needle: &str) {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(needle), "{status:?}");
}

#[tokio::test]
async fn first_issue_with_a_token_then_renewal_with_the_certificate() {
    let running = start().await;
    let token = running
        .ca
        .bootstrap_token(&id("a"), Duration::from_secs(600));
    let (first_csr, first_key) = csr(&id("a").to_string());
    let mut anonymous = client(&running, None).await.unwrap();
    let first = anonymous
        .create_certificate(request(first_csr, Some(&token)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.cert_chain.len(), 1);
    assert_eq!(leaf_uri(&first), id("a").to_string());
    let bundle = first.trust_bundle.clone().unwrap();
    assert_eq!(bundle, running.ca.trust_bundle());

    // Renewal: present the issued certificate, no token.
    let current = Identity {
        chain: first.cert_chain,
        key: first_key,
    };
    let mut renewing = client(&running, Some(&current)).await.unwrap();
    let (renew_csr, _) = csr(&id("a").to_string());
    let renewed = renewing
        .create_certificate(request(renew_csr, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leaf_uri(&renewed), id("a").to_string());

    // The certificate speaks for sa/a only.
    let (other_csr, _) = csr(&id("b").to_string());
    let denied = renewing.create_certificate(request(other_csr, None)).await;
    assert_status(denied, Code::PermissionDenied, "but the caller is");

    // The trust bundle is public.
    let bundle = anonymous
        .get_trust_bundle(GetTrustBundleRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bundle.trust_domain, TD);

    running.stop.send(()).unwrap();
    running.server.await.unwrap().unwrap();
}

#[tokio::test]
async fn refusals_carry_the_right_code_and_a_useful_message() {
    let running = start().await;
    let mut anonymous = client(&running, None).await.unwrap();

    let (csr_a, _) = csr(&id("a").to_string());
    let none = anonymous
        .create_certificate(request(csr_a.clone(), None))
        .await;
    assert_status(
        none,
        Code::Unauthenticated,
        "present your current mesh certificate or a bootstrap token",
    );

    let token_a = running
        .ca
        .bootstrap_token(&id("a"), Duration::from_secs(600));
    let (csr_b, _) = csr(&id("b").to_string());
    let mismatch = anonymous
        .create_certificate(request(csr_b, Some(&token_a)))
        .await;
    assert_status(
        mismatch,
        Code::PermissionDenied,
        "csr asks for spiffe://cluster.local/ns/default/sa/b but the caller is spiffe://cluster.local/ns/default/sa/a",
    );

    let forged = format!("{token_a}x");
    let bad_token = anonymous
        .create_certificate(request(csr_a.clone(), Some(&forged)))
        .await;
    assert_status(bad_token, Code::Unauthenticated, "bootstrap token");

    let garbage = anonymous
        .create_certificate(request("not a csr".into(), Some(&token_a)))
        .await;
    assert_status(garbage, Code::InvalidArgument, "malformed csr");

    let mut negative = request(csr_a, Some(&token_a));
    negative.get_mut().validity_duration = -5;
    let negative = anonymous.create_certificate(negative).await;
    assert_status(negative, Code::InvalidArgument, "negative");
}

#[tokio::test]
async fn a_certificate_from_a_foreign_ca_is_no_identity() {
    let running = start().await;
    let foreign = start().await;
    let outsider = bootstrap(&foreign, "a").await;

    // Even with a valid token alongside, the foreign certificate fails the
    // handshake: it is never taken as the caller's identity.
    let token = running
        .ca
        .bootstrap_token(&id("a"), Duration::from_secs(600));
    let (csr_a, _) = csr(&id("a").to_string());
    let result = match client(&running, Some(&outsider)).await {
        Ok(mut client) => client
            .create_certificate(request(csr_a.clone(), Some(&token)))
            .await
            .map(|_| ()),
        Err(e) => Err(Status::unavailable(e.to_string())),
    };
    assert!(
        result.is_err(),
        "a foreign certificate must not be accepted"
    );

    // The server keeps serving after the failed handshake.
    let mut client = client(&running, None).await.unwrap();
    let issued = client
        .create_certificate(request(csr_a, Some(&token)))
        .await;
    assert!(issued.is_ok(), "{issued:?}");
}
