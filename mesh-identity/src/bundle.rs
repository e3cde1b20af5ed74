//! The roots a workload trusts for its trust domain.

use std::fmt;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor};

use crate::error::IdentityError;
use crate::spiffe::valid_trust_domain;

/// The root certificates of one trust domain. More than one root is
/// normal while a root rotates: leaves issued under either are accepted.
#[derive(Clone)]
pub struct TrustBundle {
    trust_domain: String,
    roots: Vec<CertificateDer<'static>>,
    anchors: Vec<TrustAnchor<'static>>,
}

impl TrustBundle {
    /// A bundle of DER roots for `trust_domain`.
    pub fn new(
        trust_domain: &str,
        roots: Vec<CertificateDer<'static>>,
    ) -> Result<Self, IdentityError> {
        if !valid_trust_domain(trust_domain) {
            return Err(IdentityError::InvalidTrustDomain {
                trust_domain: trust_domain.to_owned(),
            });
        }
        if roots.is_empty() {
            return Err(no_roots("no root certificates given".into()));
        }
        let anchors = roots
            .iter()
            .enumerate()
            .map(|(i, root)| {
                webpki::anchor_from_trusted_cert(root)
                    .map(|anchor| anchor.to_owned())
                    .map_err(|e| {
                        no_roots(format!("root #{} is not a usable trust anchor: {e}", i + 1))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            trust_domain: trust_domain.to_owned(),
            roots,
            anchors,
        })
    }

    /// A bundle from PEM text holding one or more `CERTIFICATE` blocks.
    pub fn from_pem(trust_domain: &str, pem: &str) -> Result<Self, IdentityError> {
        let roots = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| no_roots(e.to_string()))?;
        if roots.is_empty() {
            return Err(no_roots("no CERTIFICATE block found".into()));
        }
        Self::new(trust_domain, roots)
    }

    /// The trust domain these roots speak for, e.g. `cluster.local`.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The root certificates (DER).
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    /// The roots as webpki trust anchors.
    pub(crate) fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// This bundle with the roots of `other` added (duplicates dropped).
    /// The trust domain stays this bundle's.
    pub fn merged(&self, other: &TrustBundle) -> TrustBundle {
        let mut merged = self.clone();
        for (root, anchor) in other.roots.iter().zip(&other.anchors) {
            if !merged.roots.contains(root) {
                merged.roots.push(root.clone());
                merged.anchors.push(anchor.clone());
            }
        }
        merged
    }
}

fn no_roots(reason: String) -> IdentityError {
    IdentityError::Pem {
        what: "trust bundle",
        label: "CERTIFICATE",
        reason,
    }
}

impl PartialEq for TrustBundle {
    fn eq(&self, other: &Self) -> bool {
        self.trust_domain == other.trust_domain && self.roots == other.roots
    }
}

impl Eq for TrustBundle {}

impl fmt::Debug for TrustBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustBundle")
            .field("trust_domain", &self.trust_domain)
            .field("roots", &self.roots.len())
            .finish()
    }
}
