//! The gRPC `CertificateService`: authenticate the caller, then sign.

use mesh_identity::SpiffeId;
use mesh_identity::pb::certificate_service_server::{CertificateService, CertificateServiceServer};
use mesh_identity::pb::{
    CreateCertificateRequest, CreateCertificateResponse, GetTrustBundleRequest, TrustBundle,
};
use tonic::{Request, Response, Status};

use crate::tls::PeerConnectInfo;
use crate::{CaError, CertificateAuthority, requested_lifetime};

const NO_CREDENTIALS: &str =
    "present your current mesh certificate or a bootstrap token (authorization: Bearer …)";

/// The CA's gRPC service. The caller is whoever its verified client
/// certificate names (renewal), else whoever its
/// `authorization: Bearer <token>` names (first contact).
#[derive(Clone, Debug)]
pub struct CaService {
    ca: CertificateAuthority,
}

impl CaService {
    /// A service signing with `ca`.
    pub fn new(ca: CertificateAuthority) -> Self {
        Self { ca }
    }

    /// The service ready to add to a tonic router.
    pub fn into_server(self) -> CertificateServiceServer<Self> {
        CertificateServiceServer::new(self)
    }

    /// The caller's identity, or UNAUTHENTICATED.
    fn authenticate<T>(&self, request: &Request<T>) -> Result<SpiffeId, Status> {
        let certs = request
            .extensions()
            .get::<PeerConnectInfo>()
            .and_then(PeerConnectInfo::peer_certificates);
        if let Some(chain) = certs {
            return self
                .ca
                .authenticate_peer(chain)
                .map_err(|e| Status::unauthenticated(e.to_string()));
        }
        let Some(value) = request.metadata().get("authorization") else {
            return Err(Status::unauthenticated(NO_CREDENTIALS));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| {
                Status::unauthenticated(format!(
                    "the authorization metadata is not a bearer token; {NO_CREDENTIALS}"
                ))
            })?;
        self.ca
            .verify_token(token)
            .map_err(|e| Status::unauthenticated(e.to_string()))
    }
}

/// The gRPC status for a failed signing.
fn status(err: CaError) -> Status {
    match err {
        CaError::IdentityMismatch { .. } => Status::permission_denied(err.to_string()),
        CaError::MalformedCsr(_)
        | CaError::CsrSignature
        | CaError::UnsupportedKey
        | CaError::NegativeLifetime { .. }
        | CaError::NoIdentity
        | CaError::MultipleIdentities { .. }
        | CaError::InvalidIdentity(_)
        | CaError::WrongTrustDomain { .. } => Status::invalid_argument(err.to_string()),
        CaError::SignerExpired => Status::unavailable(err.to_string()),
        other => {
            tracing::error!(error = %other, "signing failed");
            Status::internal("the ca failed to sign; see the ca's log")
        }
    }
}

#[tonic::async_trait]
impl CertificateService for CaService {
    async fn create_certificate(
        &self,
        request: Request<CreateCertificateRequest>,
    ) -> Result<Response<CreateCertificateResponse>, Status> {
        let caller = self.authenticate(&request)?;
        let request = request.into_inner();
        let lifetime = requested_lifetime(request.validity_duration).map_err(status)?;
        let issued = self
            .ca
            .sign(&request.csr, &caller, lifetime)
            .map_err(status)?;
        Ok(Response::new(CreateCertificateResponse {
            cert_chain: issued.chain_pem,
            trust_bundle: Some(self.ca.trust_bundle()),
        }))
    }

    async fn get_trust_bundle(
        &self,
        _request: Request<GetTrustBundleRequest>,
    ) -> Result<Response<TrustBundle>, Status> {
        Ok(Response::new(self.ca.trust_bundle()))
    }
}
