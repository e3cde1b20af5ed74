//! Reading a certificate signing request: its public key and the URI SANs
//! it asks for, after checking its self-signature (proof that the requester
//! holds the private key).
//!
//! rcgen's `CertificateSigningRequestParams::from_pem` verifies the
//! signature too, but it rejects any extension it does not model; the CA
//! ignores everything but the key and the URI SAN, so it parses with
//! x509-parser directly.

use rcgen::SubjectPublicKeyInfo;
use rustls_pki_types::CertificateSigningRequestDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::CaError;
use crate::identity::uri_sans;

/// A CSR whose self-signature verified.
#[derive(Debug)]
pub(crate) struct VerifiedCsr {
    /// The key to certify.
    pub(crate) public_key: SubjectPublicKeyInfo,
    /// The URI SANs asked for.
    pub(crate) uris: Vec<String>,
}

impl VerifiedCsr {
    /// Parses a PEM CSR and verifies its signature.
    pub(crate) fn from_pem(pem: &str) -> Result<Self, CaError> {
        let der = CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| CaError::MalformedCsr(format!("no csr pem block ({e})")))?;
        let (rest, csr) = X509CertificationRequest::from_der(der.as_ref())
            .map_err(|e| CaError::MalformedCsr(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CaError::MalformedCsr("trailing bytes after the csr".into()));
        }
        csr.verify_signature().map_err(|_| CaError::CsrSignature)?;
        let info = &csr.certification_request_info;
        let public_key = SubjectPublicKeyInfo::from_der(info.subject_pki.raw)
            .map_err(|_| CaError::UnsupportedKey)?;
        let uris = csr.requested_extensions().map(uri_sans).unwrap_or_default();
        Ok(Self { public_key, uris })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, SanType};

    fn csr_pem(uris: &[&str]) -> String {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.subject_alt_names = uris
            .iter()
            .map(|u| SanType::URI((*u).try_into().unwrap()))
            .collect();
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    #[test]
    fn reads_key_and_uris() {
        let csr = VerifiedCsr::from_pem(&csr_pem(&["spiffe://td/ns/a/sa/b"])).unwrap();
        assert_eq!(csr.uris, vec!["spiffe://td/ns/a/sa/b".to_owned()]);
        assert!(
            VerifiedCsr::from_pem(&csr_pem(&[]))
                .unwrap()
                .uris
                .is_empty()
        );
    }

    #[test]
    fn rejects_garbage() {
        let err = VerifiedCsr::from_pem("hello").unwrap_err().to_string();
        assert!(err.starts_with("malformed csr"), "{err}");
    }
}
