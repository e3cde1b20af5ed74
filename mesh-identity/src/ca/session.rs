//! One renewal (key, CSR, `CreateCertificate`, checks, install) and the
//! loop that schedules them.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rcgen::string::Ia5String;
use rcgen::{CertificateParams, DistinguishedName, KeyPair, SanType};
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::sync::oneshot;
use tonic::metadata::MetadataValue;
use tonic::transport::Endpoint;

use super::CaClient;
use super::connector::{Connector, Dial};
use super::schedule::{renewal_time, retry_delay};
use crate::bundle::TrustBundle;
use crate::cert::WorkloadCert;
use crate::error::{IdentityError, chain};
use crate::identity::State;
use crate::pb::certificate_service_client::CertificateServiceClient;
use crate::pb::{CreateCertificateRequest, CreateCertificateResponse};
use crate::verifier::{Role, verify_peer};

/// Give up on one attempt (connect, handshake, RPC) after this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything needed to talk to the CA.
pub(super) struct Session<D> {
    client: CaClient,
    dial: D,
    tls: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    authorization: Option<MetadataValue<tonic::metadata::Ascii>>,
    /// The roots from `CaClient::ca_roots_pem`.
    ca_roots: TrustBundle,
    /// What the CA connection trusts: `ca_roots` plus the latest bundle.
    ca_bundle: Arc<ArcSwap<TrustBundle>>,
}

impl<D: Dial> Session<D> {
    pub(super) fn new(
        client: CaClient,
        dial: D,
        tls: Arc<ClientConfig>,
        server_name: ServerName<'static>,
        ca_roots: TrustBundle,
        ca_bundle: Arc<ArcSwap<TrustBundle>>,
    ) -> Result<Self, IdentityError> {
        let authorization = match &client.token {
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| IdentityError::InvalidToken)?,
            ),
            None => None,
        };
        Ok(Self {
            client,
            dial,
            tls,
            server_name,
            authorization,
            ca_roots,
            ca_bundle,
        })
    }

    /// One renewal attempt, bounded by [`ATTEMPT_TIMEOUT`].
    pub(super) async fn renew(&self, state: &State) -> Result<(), IdentityError> {
        let result = tokio::time::timeout(ATTEMPT_TIMEOUT, self.exchange(state)).await;
        state.attempted();
        result.unwrap_or_else(|_| {
            Err(IdentityError::CaUnreachable {
                address: self.client.address,
                reason: format!("no answer within {}s", ATTEMPT_TIMEOUT.as_secs()),
            })
        })
    }

    async fn exchange(&self, state: &State) -> Result<(), IdentityError> {
        let address = self.client.address;
        let (key, csr) = csr(&self.client.id)?;
        let has_valid_cert = state.current().is_ok();
        // A fresh connection per attempt, so the TLS handshake presents the
        // certificate that is current now (or none).
        let connector = Connector::new(
            self.dial.clone(),
            self.tls.clone(),
            self.server_name.clone(),
        );
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| unreachable(address, &e))?
            .connect_with_connector(connector)
            .await
            .map_err(|e| unreachable(address, &e))?;
        let mut request = tonic::Request::new(CreateCertificateRequest {
            csr,
            validity_duration: i64::try_from(self.client.lifetime.as_secs()).unwrap_or(i64::MAX),
        });
        if let (false, Some(value)) = (has_valid_cert, &self.authorization) {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        let response = CertificateServiceClient::new(channel)
            .create_certificate(request)
            .await
            .map_err(|status| match std::error::Error::source(&status) {
                Some(_) => unreachable(address, &status),
                None => IdentityError::CaRefused {
                    address,
                    code: status.code(),
                    message: status.message().to_owned(),
                },
            })?
            .into_inner();
        let (cert, bundle) = self
            .accept(response, key, state)
            .map_err(|reason| IdentityError::CaResponse { address, reason })?;
        if let Some(bundle) = bundle {
            self.ca_bundle
                .store(Arc::new(self.ca_roots.merged(&bundle)));
            state.set_bundle(bundle);
        }
        state.install(cert);
        Ok(())
    }

    /// Checks a response: a chain for our key and identity that the new (or
    /// current) bundle verifies for both TLS roles.
    fn accept(
        &self,
        response: CreateCertificateResponse,
        key: PrivateKeyDer<'static>,
        state: &State,
    ) -> Result<(WorkloadCert, Option<TrustBundle>), String> {
        let mut chain = Vec::new();
        for pem in &response.cert_chain {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                chain.push(cert.map_err(|e| format!("cert_chain: {e}"))?);
            }
        }
        let cert = WorkloadCert::new(chain, key).map_err(|e| e.to_string())?;
        if *cert.id() != self.client.id {
            return Err(format!(
                "it issued a certificate for {} but {} was asked for",
                cert.id(),
                self.client.id
            ));
        }
        let bundle = match response.trust_bundle {
            Some(pb) if !pb.roots.is_empty() => {
                let domain = if pb.trust_domain.is_empty() {
                    self.client.trust_domain.as_str()
                } else {
                    pb.trust_domain.as_str()
                };
                if domain != self.client.trust_domain {
                    return Err(format!(
                        "its trust bundle is for {domain:?}, not {:?}",
                        self.client.trust_domain
                    ));
                }
                let pem = pb.roots.join("\n");
                Some(TrustBundle::from_pem(domain, &pem).map_err(|e| e.to_string())?)
            }
            _ => None,
        };
        let check = bundle
            .clone()
            .unwrap_or_else(|| (**state.bundle.load()).clone());
        let now = state.clock.unix_now();
        for role in [Role::Client, Role::Server] {
            verify_peer(&check, cert.leaf(), &cert.chain()[1..], now, role)
                .map_err(|e| format!("the issued certificate does not verify: {e}"))?;
        }
        Ok((cert, bundle))
    }
}

/// A fresh ECDSA P-256 key and a PEM CSR whose only SAN is `id`'s URI.
fn csr(id: &crate::SpiffeId) -> Result<(PrivateKeyDer<'static>, String), IdentityError> {
    let fail = |e: rcgen::Error| IdentityError::Csr {
        id: id.clone(),
        reason: e.to_string(),
    };
    let key = KeyPair::generate().map_err(fail)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = vec![SanType::URI(Ia5String::try_from(id.to_string()).map_err(
        |e| IdentityError::Csr {
            id: id.clone(),
            reason: e.to_string(),
        },
    )?)];
    let csr = params
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(fail)?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((der, csr))
}

fn unreachable(
    address: std::net::SocketAddr,
    err: &(dyn std::error::Error + 'static),
) -> IdentityError {
    IdentityError::CaUnreachable {
        address,
        reason: chain(err),
    }
}

/// Renews at half the lifetime, retries with backoff, and stops when
/// `stop` resolves (the last `Identity` clone is gone).
pub(super) async fn rotate<D: Dial>(
    session: Session<D>,
    state: Arc<State>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut failures = 0u32;
    let mut delay = until_renewal(&state);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(delay) => {}
        }
        let result = tokio::select! {
            _ = &mut stop => return,
            result = session.renew(&state) => result,
        };
        delay = match result {
            Ok(()) => {
                failures = 0;
                until_renewal(&state)
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let not_after = state.latest().map(|cert| cert.not_after());
                let delay = retry_delay(failures, fastrand::f64(), state.clock.now(), not_after);
                let expired = state.current().is_err();
                tracing::warn!(
                    error = %chain(&e),
                    retry_in = ?delay,
                    expired,
                    "renewing the workload certificate failed; keeping the current one"
                );
                delay
            }
        };
    }
}

fn until_renewal(state: &State) -> Duration {
    match state.latest() {
        // Called right after a certificate is installed, so "now" is when
        // it arrived.
        Some(cert) => state.clock.until(renewal_time(
            cert.not_before(),
            cert.not_after(),
            state.clock.now(),
            fastrand::f64(),
        )),
        None => Duration::ZERO,
    }
}
