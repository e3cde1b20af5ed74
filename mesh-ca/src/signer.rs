//! The signing certificate and key, checked before the CA uses them: the
//! key matches, the certificate may sign certificates, is valid now, and
//! chains to a trusted root; and a probe certificate issued with it
//! verifies under the roots.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use mesh_identity::SpiffeId;
use rcgen::{Issuer, KeyPair, SubjectPublicKeyInfo};
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::CaError;
use crate::issue::{from_unix_secs, leaf};
use crate::trust::Roots;

/// Where the signer's parts came from, for error messages.
pub(crate) struct SignerFiles<'a> {
    /// The signing certificate.
    pub(crate) cert: &'a Path,
    /// Its private key.
    pub(crate) key: &'a Path,
    /// The chain from the signing certificate towards the root.
    pub(crate) chain: &'a Path,
    /// The trusted roots.
    pub(crate) roots: &'a Path,
}

/// A checked signing certificate and key.
pub(crate) struct Signer {
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
    /// Sent after each leaf: the signing certificate and the intermediates
    /// above it, without the root (empty when the signer is a root).
    chain: Vec<CertificateDer<'static>>,
    not_after: SystemTime,
}

fn parse<'a>(der: &'a CertificateDer<'_>, path: &Path) -> Result<X509Certificate<'a>, CaError> {
    X509Certificate::from_der(der.as_ref())
        .map(|(_, cert)| cert)
        .map_err(|e| CaError::BadCertificate {
            path: path.into(),
            reason: format!("not an x.509 certificate: {e}"),
        })
}

fn issued_by(child: &X509Certificate<'_>, parent: &X509Certificate<'_>) -> bool {
    child.issuer().as_raw() == parent.subject().as_raw()
        && child.verify_signature(Some(parent.public_key())).is_ok()
}

impl Signer {
    /// Checks and assembles a signer. `chain` starts with `cert` (or is
    /// empty when `cert` is itself one of `roots`).
    pub(crate) fn new(
        cert: CertificateDer<'static>,
        key: KeyPair,
        chain: Vec<CertificateDer<'static>>,
        roots: &Roots,
        trust_domain: &str,
        files: &SignerFiles<'_>,
    ) -> Result<Self, CaError> {
        let parsed = parse(&cert, files.cert)?;
        if key.public_key_raw() != parsed.public_key().subject_public_key.data.as_ref() {
            return Err(CaError::KeyMismatch {
                key: files.key.into(),
                cert: files.cert.into(),
            });
        }
        check_can_sign(&parsed, files.cert)?;
        let chain = if chain.is_empty() {
            vec![cert.clone()]
        } else {
            chain
        };
        if chain[0] != cert {
            return Err(broken(
                files.chain,
                "the first certificate must be the signing certificate (ca-cert.pem)",
            ));
        }
        let chain = chain_to_root(&chain, roots, files)?;
        let issuer = Issuer::from_ca_cert_der(&cert, key).map_err(|e| CaError::BadCertificate {
            path: files.cert.into(),
            reason: format!("cannot sign with this certificate: {e}"),
        })?;
        let signer = Self {
            issuer,
            not_after: from_unix_secs(parsed.validity().not_after.timestamp()),
            cert: cert.clone(),
            chain,
        };
        signer.probe(&parsed, roots, trust_domain, files)?;
        Ok(signer)
    }

    /// Issues a throwaway certificate and checks that it verifies under
    /// the roots exactly as a workload's peers will check it.
    fn probe(
        &self,
        parsed: &X509Certificate<'_>,
        roots: &Roots,
        trust_domain: &str,
        files: &SignerFiles<'_>,
    ) -> Result<(), CaError> {
        let spki = SubjectPublicKeyInfo::from_der(parsed.public_key().raw).map_err(|e| {
            CaError::BadCertificate {
                path: files.cert.into(),
                reason: format!("unsupported public key: {e}"),
            }
        })?;
        let id = SpiffeId::new(trust_domain, "mesh-system", "ca-probe").map_err(|_| {
            CaError::InvalidTrustDomain {
                trust_domain: trust_domain.into(),
            }
        })?;
        let now = SystemTime::now();
        let probe = leaf(
            self,
            &spki,
            &id,
            now - Duration::from_secs(60),
            now + Duration::from_secs(60),
        )?;
        let issuer_name_matches = X509Certificate::from_der(probe.as_ref())
            .is_ok_and(|(_, p)| p.issuer().as_raw() == parsed.subject().as_raw());
        if !issuer_name_matches {
            return Err(CaError::BadCertificate {
                path: files.cert.into(),
                reason: "its subject name cannot be reproduced exactly (repeated or multi-valued attributes); issue the signing certificate with a plain subject such as O=<org>, CN=<name>".into(),
            });
        }
        let mut chain = vec![probe];
        chain.extend(self.chain.iter().cloned());
        roots.verify_client(&chain).map_err(|e| {
            broken(
                files.roots,
                &format!("certificates issued with this ca would not verify: {e}"),
            )
        })
    }

    /// The rcgen issuer (name, key identifier, key).
    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    /// The signing certificate.
    pub(crate) fn cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The certificates sent after a leaf (root excluded).
    pub(crate) fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// When the signing certificate expires; no leaf outlives it.
    pub(crate) fn not_after(&self) -> SystemTime {
        self.not_after
    }
}

fn broken(path: &Path, reason: &str) -> CaError {
    CaError::BrokenChain {
        path: PathBuf::from(path),
        reason: reason.to_owned(),
    }
}

fn check_can_sign(cert: &X509Certificate<'_>, path: &Path) -> Result<(), CaError> {
    let not_a_ca = |reason| CaError::NotACa {
        path: path.into(),
        reason,
    };
    match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => {}
        Ok(_) => return Err(not_a_ca("is not a ca (basicConstraints CA:true missing)")),
        Err(_) => return Err(not_a_ca("has a malformed basicConstraints extension")),
    }
    match cert.key_usage() {
        Ok(Some(ku)) if ku.value.key_cert_sign() => {}
        Ok(_) => return Err(not_a_ca("lacks keyUsage keyCertSign")),
        Err(_) => return Err(not_a_ca("has a malformed keyUsage extension")),
    }
    let validity = cert.validity();
    if !validity.is_valid() {
        let now = SystemTime::now();
        let reason = if from_unix_secs(validity.not_after.timestamp()) < now {
            format!("expired at {}", validity.not_after)
        } else {
            format!("is not valid before {}", validity.not_before)
        };
        return Err(CaError::SignerNotValid {
            path: path.into(),
            reason,
        });
    }
    Ok(())
}

/// Walks `chain` up to a root in `roots`, checking every link; returns the
/// part to send after leaves (up to, not including, the root).
fn chain_to_root(
    chain: &[CertificateDer<'static>],
    roots: &Roots,
    files: &SignerFiles<'_>,
) -> Result<Vec<CertificateDer<'static>>, CaError> {
    let parsed = chain
        .iter()
        .map(|c| parse(c, files.chain))
        .collect::<Result<Vec<_>, _>>()?;
    let parsed_roots = roots
        .certs()
        .iter()
        .map(|c| parse(c, files.roots))
        .collect::<Result<Vec<_>, _>>()?;
    let mut send = Vec::new();
    for (i, cert) in parsed.iter().enumerate() {
        if roots.certs().contains(&chain[i]) {
            return Ok(send);
        }
        send.push(chain[i].clone());
        if let Some(next) = parsed.get(i + 1) {
            if !issued_by(cert, next) {
                return Err(broken(
                    files.chain,
                    &format!(
                        "\"{}\" is not signed by the next certificate \"{}\"; order the file from the signing certificate up to the root",
                        cert.subject(),
                        next.subject()
                    ),
                ));
            }
        } else if parsed_roots.iter().any(|root| issued_by(cert, root)) {
            return Ok(send);
        } else {
            return Err(broken(
                files.roots,
                &format!(
                    "no root here signed \"{}\" (issuer \"{}\"); add the root that issued the signing certificate",
                    cert.subject(),
                    cert.issuer()
                ),
            ));
        }
    }
    Ok(send)
}
