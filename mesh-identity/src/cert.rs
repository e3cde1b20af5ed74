//! A workload certificate: chain, private key, SPIFFE ID and validity,
//! with the rustls `CertifiedKey` built once.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::IdentityError;
use crate::leaf::Leaf;
use crate::spiffe::SpiffeId;
use crate::tls::provider;

/// A workload certificate and its private key.
///
/// The identity is read from the leaf's single URI SAN. Construction does
/// not check the validity period: [`Identity::current`](crate::Identity::current)
/// does, on every use.
pub struct WorkloadCert {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    id: SpiffeId,
    not_before: SystemTime,
    not_after: SystemTime,
    certified: Arc<CertifiedKey>,
}

impl WorkloadCert {
    /// A certificate from its chain (leaf first, then intermediates; the
    /// root may be left out) and the leaf's private key.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, IdentityError> {
        let leaf = chain.first().ok_or_else(|| IdentityError::Pem {
            what: "certificate chain",
            label: "CERTIFICATE",
            reason: "the chain is empty".into(),
        })?;
        let parsed = Leaf::parse(leaf).map_err(IdentityError::Certificate)?;
        let id = parsed.spiffe_id().map_err(IdentityError::Certificate)?;
        let certified = CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider())
            .map_err(|e| IdentityError::PrivateKey {
                reason: e.to_string(),
            })?;
        Ok(Self {
            chain,
            key,
            id,
            not_before: parsed.not_before,
            not_after: parsed.not_after,
            certified: Arc::new(certified),
        })
    }

    /// A certificate from PEM: `chain_pem` holds the leaf first, then any
    /// intermediates; `key_pem` holds the leaf's private key.
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<Self, IdentityError> {
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| IdentityError::Pem {
                what: "certificate chain",
                label: "CERTIFICATE",
                reason: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(IdentityError::Pem {
                what: "certificate chain",
                label: "CERTIFICATE",
                reason: "no CERTIFICATE block found".into(),
            });
        }
        let key =
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| IdentityError::Pem {
                what: "private key",
                label: "PRIVATE KEY",
                reason: e.to_string(),
            })?;
        Self::new(chain, key)
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// The leaf's private key.
    pub fn private_key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// The SPIFFE ID the certificate carries.
    pub fn id(&self) -> &SpiffeId {
        &self.id
    }

    /// The start of the validity period (`notBefore`).
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// The end of the validity period (`notAfter`, inclusive).
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The chain and signing key, ready for rustls.
    pub fn certified_key(&self) -> &Arc<CertifiedKey> {
        &self.certified
    }

    /// Whether the certificate is valid at `now`.
    pub fn is_valid_at(&self, now: SystemTime) -> bool {
        self.check_validity(now).is_ok()
    }

    /// `Ok` when valid at `now`, else [`IdentityError::Expired`] or
    /// [`IdentityError::NotYetValid`].
    pub fn check_validity(&self, now: SystemTime) -> Result<(), IdentityError> {
        if now > self.not_after {
            Err(IdentityError::Expired {
                id: self.id.clone(),
                expired_at: self.not_after,
            })
        } else if now < self.not_before {
            Err(IdentityError::NotYetValid {
                id: self.id.clone(),
                not_before: self.not_before,
            })
        } else {
            Ok(())
        }
    }
}

impl Clone for WorkloadCert {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            id: self.id.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            certified: self.certified.clone(),
        }
    }
}

// Never prints the private key.
impl fmt::Debug for WorkloadCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadCert")
            .field("id", &self.id.to_string())
            .field("chain", &self.chain.len())
            .field(
                "not_before",
                &humantime::format_rfc3339_seconds(self.not_before),
            )
            .field(
                "not_after",
                &humantime::format_rfc3339_seconds(self.not_after),
            )
            .finish_non_exhaustive()
    }
}

impl PartialEq for WorkloadCert {
    fn eq(&self, other: &Self) -> bool {
        self.chain == other.chain
    }
}
