//! Root rotation without dropping traffic, in three steps: a new root joins
//! the trust bundle; once workloads have it, it becomes the signer; once
//! they have renewed under it, the old roots are retired. See the crate
//! docs for the procedure.

use std::sync::Arc;

use crate::authority::{State, Storage};
use crate::issue::self_signed_root;
use crate::signer::{Signer, SignerFiles};
use crate::store::{CaDir, ROOT_CERT, ROOT_KEY};
use crate::trust::Roots;
use crate::{CaError, CertificateAuthority};

impl CertificateAuthority {
    /// Serialises rotations; the request path never takes it.
    fn rotating(&self) -> std::sync::MutexGuard<'_, ()> {
        self.shared
            .rotation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes `signer` and `roots` current, one generation after `old`.
    fn install(&self, signer: Arc<Signer>, roots: Roots, old: &State) {
        self.shared.state.store(Arc::new(State {
            signer,
            roots,
            generation: old.generation + 1,
        }));
    }

    fn own_dir(&self) -> Result<&CaDir, CaError> {
        match &self.shared.storage {
            Storage::Dir(dir) => Ok(dir),
            Storage::Files => Err(CaError::RotationUnsupported),
        }
    }

    /// Step 1: generates a new root and adds it to the trust bundle,
    /// without signing with it yet, so that workloads learn to trust it
    /// (they fetch the bundle at every renewal) before any certificate
    /// chains to it. Persisted: the root in `root-cert.pem` after the
    /// signing one, its key in `next-root-key.pem`. Adding again while a
    /// root waits does nothing. Only for a CA created with
    /// [`load_or_generate`](Self::load_or_generate).
    pub fn add_root(&self) -> Result<(), CaError> {
        let dir = self.own_dir()?;
        let _rotating = self.rotating();
        if dir.next_key()?.is_some() {
            return Ok(());
        }
        let old = self.state();
        let (cert, key) = self_signed_root(self.trust_domain(), self.config.clock_skew())?;
        let mut certs: Vec<_> = old.roots.certs().to_vec();
        certs.push(cert);
        let roots = Roots::new(certs.clone(), &dir.path(ROOT_CERT))?;
        // The key first: a crash in between leaves a key with no root,
        // which the next `add_root` replaces, never a root with no key.
        dir.save_next_key(&key)?;
        dir.save(&certs, None)?;
        self.install(old.signer.clone(), roots, &old);
        tracing::info!(
            roots = certs.len(),
            "added a new mesh root to the trust bundle; make it the signer with rotate_root once every workload has renewed"
        );
        Ok(())
    }

    /// Step 2: makes the root added by [`add_root`](Self::add_root) the
    /// signer. The old roots stay in the bundle, so certificates they
    /// issued keep verifying until they are renewed. Persisted:
    /// `root-cert.pem` holds every root, the signer first; `root-key.pem`
    /// its key.
    pub fn rotate_root(&self) -> Result<(), CaError> {
        let dir = self.own_dir()?;
        let _rotating = self.rotating();
        let key = dir.next_key()?.ok_or(CaError::NoNewRoot)?;
        let old = self.state();
        let (cert_path, key_path) = (dir.path(ROOT_CERT), dir.path(ROOT_KEY));
        let cert = old
            .roots
            .certs()
            .iter()
            .find(|root| crate::store::key_matches(root, &key))
            .cloned()
            .ok_or(CaError::KeyMismatch {
                key: dir.path(crate::store::NEXT_ROOT_KEY),
                cert: cert_path.clone(),
            })?;
        let mut certs = vec![cert.clone()];
        certs.extend(old.roots.certs().iter().filter(|c| **c != cert).cloned());
        let files = SignerFiles {
            cert: &cert_path,
            key: &key_path,
            chain: &cert_path,
            roots: &cert_path,
        };
        let roots = Roots::new(certs.clone(), &cert_path)?;
        let signer = Signer::new(cert, key, Vec::new(), &roots, self.trust_domain(), &files)?;
        dir.save(&certs, Some(signer.issuer().key()))?;
        dir.remove_next_key()?;
        self.install(Arc::new(signer), roots, &old);
        tracing::info!(
            roots = certs.len(),
            "the new mesh root signs: retire the old roots once every workload has renewed"
        );
        Ok(())
    }

    /// Step 3: drops every root but the signing one from the trust bundle
    /// (and from `root-cert.pem`), including one added and not yet
    /// signing. Certificates issued under a retired root stop verifying:
    /// call this only once workloads have renewed.
    pub fn retire_roots_except_current(&self) -> Result<(), CaError> {
        let dir = self.own_dir()?;
        let _rotating = self.rotating();
        let old = self.state();
        if old.roots.certs().len() <= 1 {
            return Ok(());
        }
        let certs = vec![old.signer.cert().clone()];
        let roots = Roots::new(certs.clone(), &dir.path(ROOT_CERT))?;
        dir.save(&certs, None)?;
        let retired = old.roots.certs().len() - 1;
        dir.remove_next_key()?;
        self.install(old.signer.clone(), roots, &old);
        tracing::info!(retired, "retired old mesh roots");
        Ok(())
    }
}
