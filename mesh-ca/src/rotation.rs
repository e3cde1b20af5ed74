//! Root rotation without dropping traffic: a new root becomes the signer
//! while the old roots stay in the trust bundle, until the operator
//! retires them. See the crate docs for the procedure.

use std::sync::Arc;

use crate::authority::{State, Storage};
use crate::issue::self_signed_root;
use crate::signer::{Signer, SignerFiles};
use crate::store::{CaDir, ROOT_CERT, ROOT_KEY};
use crate::trust::Roots;
use crate::{CaError, CertificateAuthority};

impl CertificateAuthority {
    fn own_dir(&self) -> Result<&CaDir, CaError> {
        match &self.shared.storage {
            Storage::Dir(dir) => Ok(dir),
            Storage::Files => Err(CaError::RotationUnsupported),
        }
    }

    /// Generates a new root and makes it the signer. The old roots stay in
    /// the trust bundle, so certificates they issued keep verifying. Both
    /// are persisted (`root-cert.pem` holds every root, new first;
    /// `root-key.pem` the new key). Only for a CA created with
    /// [`load_or_generate`](Self::load_or_generate).
    pub fn rotate_root(&self) -> Result<(), CaError> {
        let dir = self.own_dir()?;
        let _rotating = self
            .shared
            .rotation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = self.state();
        let (cert, key) = self_signed_root(self.trust_domain(), self.config.clock_skew())?;
        let mut certs = vec![cert.clone()];
        certs.extend(old.roots.certs().iter().cloned());
        let (cert_path, key_path) = (dir.path(ROOT_CERT), dir.path(ROOT_KEY));
        let files = SignerFiles {
            cert: &cert_path,
            key: &key_path,
            chain: &cert_path,
            roots: &cert_path,
        };
        let roots = Roots::new(certs.clone(), &cert_path)?;
        let signer = Signer::new(cert, key, Vec::new(), &roots, self.trust_domain(), &files)?;
        dir.save(&certs, Some(signer.issuer().key()))?;
        self.shared.state.store(Arc::new(State {
            signer: Arc::new(signer),
            roots,
            generation: old.generation + 1,
        }));
        tracing::info!(
            roots = certs.len(),
            "rotated the mesh root: new certificates chain to the new root; retire the old roots once every workload has renewed"
        );
        Ok(())
    }

    /// Drops every root but the signing one from the trust bundle (and from
    /// `root-cert.pem`). Certificates issued under a retired root stop
    /// verifying: call this only once workloads have renewed.
    pub fn retire_roots_except_current(&self) -> Result<(), CaError> {
        let dir = self.own_dir()?;
        let _rotating = self
            .shared
            .rotation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let old = self.state();
        if old.roots.certs().len() <= 1 {
            return Ok(());
        }
        let certs = vec![old.signer.cert().clone()];
        let roots = Roots::new(certs.clone(), &dir.path(ROOT_CERT))?;
        dir.save(&certs, None)?;
        let retired = old.roots.certs().len() - 1;
        self.shared.state.store(Arc::new(State {
            signer: old.signer.clone(),
            roots,
            generation: old.generation + 1,
        }));
        tracing::info!(retired, "retired old mesh roots");
        Ok(())
    }
}
