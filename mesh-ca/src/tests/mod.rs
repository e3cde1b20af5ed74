//! Unit tests of the CA through its public API, checking the issued
//! certificates field by field with x509-parser.

mod files;
mod rotation;
mod sign;
mod tokens;

use mesh_identity::SpiffeId;
use rcgen::{CertificateParams, KeyPair, SanType};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tempfile::TempDir;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::CertificateAuthority;

pub(crate) const TD: &str = "cluster.local";

pub(crate) fn id(sa: &str) -> SpiffeId {
    SpiffeId::new(TD, "default", sa).unwrap()
}

/// A fresh CA in a temporary directory.
pub(crate) fn ca() -> (TempDir, CertificateAuthority) {
    let dir = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::load_or_generate(dir.path(), TD).unwrap();
    (dir, ca)
}

/// A CSR (PEM) asking for `uris`.
pub(crate) fn csr(uris: &[&str]) -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = uris
        .iter()
        .map(|u| SanType::URI((*u).try_into().unwrap()))
        .collect();
    params.serialize_request(&key).unwrap().pem().unwrap()
}

pub(crate) fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

pub(crate) fn x509<'a>(der: &'a CertificateDer<'_>) -> X509Certificate<'a> {
    X509Certificate::from_der(der.as_ref()).unwrap().1
}

/// `child` names `parent` as issuer and `parent`'s key verifies it.
pub(crate) fn signed_by(child: &CertificateDer<'_>, parent: &CertificateDer<'_>) -> bool {
    let (child, parent) = (x509(child), x509(parent));
    child.issuer().as_raw() == parent.subject().as_raw()
        && child.verify_signature(Some(parent.public_key())).is_ok()
}

/// The chain (DER) of an issued certificate.
pub(crate) fn chain(pems: &[String]) -> Vec<CertificateDer<'static>> {
    pems.iter().map(|p| der(p)).collect()
}
