//! PEM in and out, and reading the CA's files with errors that name them.

use std::path::Path;

use base64::Engine as _;
use rcgen::KeyPair;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::CaError;

/// Encodes DER as a PEM block with the given label (64-column base64).
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A certificate as PEM.
pub(crate) fn cert_pem(der: &CertificateDer<'_>) -> String {
    encode("CERTIFICATE", der)
}

/// Reads a whole file.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, CaError> {
    std::fs::read(path).map_err(|e| CaError::io("reading", path, e))
}

/// All certificates in a PEM file; at least one.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaError::BadCertificate {
            path: path.into(),
            reason: format!("not valid pem: {e}"),
        })?;
    if certs.is_empty() {
        return Err(CaError::BadCertificate {
            path: path.into(),
            reason: "no \"CERTIFICATE\" pem block found".into(),
        });
    }
    Ok(certs)
}

/// The private key in a PEM file, as a signing key.
pub(crate) fn read_key(path: &Path) -> Result<KeyPair, CaError> {
    let bytes = read(path)?;
    let bad = |reason: String| CaError::BadKey {
        path: path.into(),
        reason,
    };
    let key = PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| bad(format!("no private key pem block found ({e})")))?;
    if !matches!(key, PrivateKeyDer::Pkcs8(_)) {
        return Err(bad(
            "the key must be pkcs#8 (\"PRIVATE KEY\"); convert it with `openssl pkcs8 -topk8 -nocrypt`"
                .into(),
        ));
    }
    KeyPair::try_from(&key).map_err(|e| bad(format!("unusable private key: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_pem_that_parses_back() {
        let der: Vec<u8> = (0..=255u8).cycle().take(200).collect();
        let pem = encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        let back = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(back.as_ref(), der.as_slice());
    }
}
