//! The CA's own directory (self-generated roots): `root-cert.pem` (every
//! trusted root, the signing root first), `root-key.pem` (the signing
//! root's key, mode 0600) and `token-key` (32 random bytes, mode 0600).
//! Files are replaced atomically (write a temporary file, then rename).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::KeyPair;
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::CaError;
use crate::issue::{random_bytes, self_signed_root};
use crate::pem::{cert_pem, read, read_certs, read_key};

/// The trusted roots, signing root first.
pub(crate) const ROOT_CERT: &str = "root-cert.pem";
/// The signing root's private key.
pub(crate) const ROOT_KEY: &str = "root-key.pem";
/// The bootstrap token key.
pub(crate) const TOKEN_KEY: &str = "token-key";
/// The key of a root added to the bundle that does not sign yet.
pub(crate) const NEXT_ROOT_KEY: &str = "next-root-key.pem";

/// The CA's directory.
#[derive(Debug)]
pub(crate) struct CaDir {
    dir: PathBuf,
}

impl CaDir {
    /// Opens the directory, creating it (mode 0700) if needed.
    pub(crate) fn open(dir: &Path) -> Result<Self, CaError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| CaError::io("creating", dir, e))?;
        Ok(Self { dir: dir.into() })
    }

    /// A file in the directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The roots, the signing root and its key: loaded, or generated and
    /// saved on first start.
    pub(crate) fn load_or_generate_roots(
        &self,
        trust_domain: &str,
        skew: Duration,
    ) -> Result<
        (
            Vec<CertificateDer<'static>>,
            CertificateDer<'static>,
            KeyPair,
        ),
        CaError,
    > {
        let (cert_path, key_path) = (self.path(ROOT_CERT), self.path(ROOT_KEY));
        match (cert_path.exists(), key_path.exists()) {
            (false, false) => {
                let (cert, key) = self_signed_root(trust_domain, skew)?;
                let roots = vec![cert.clone()];
                self.save(&roots, Some(&key))?;
                tracing::info!(dir = %self.dir.display(), "generated a new mesh root");
                Ok((roots, cert, key))
            }
            (true, false) => Err(CaError::IncompleteDir {
                present: cert_path,
                missing: key_path,
            }),
            (false, true) => Err(CaError::IncompleteDir {
                present: key_path,
                missing: cert_path,
            }),
            (true, true) => {
                warn_if_readable_by_others(&key_path);
                let roots = read_certs(&cert_path)?;
                let key = read_key(&key_path)?;
                let signer = roots
                    .iter()
                    .find(|root| key_matches(root, &key))
                    .cloned()
                    .ok_or(CaError::KeyMismatch {
                        key: key_path,
                        cert: cert_path,
                    })?;
                Ok((roots, signer, key))
            }
        }
    }

    /// The token key: loaded, or generated and saved.
    pub(crate) fn load_or_generate_token_key(&self) -> Result<[u8; 32], CaError> {
        let path = self.path(TOKEN_KEY);
        if path.exists() {
            warn_if_readable_by_others(&path);
            return read_token_key(&path);
        }
        let secret = random_bytes::<32>()?;
        write_atomic(&path, &secret, true)?;
        Ok(secret)
    }

    /// Keeps the key of a root that is trusted but does not sign yet.
    pub(crate) fn save_next_key(&self, key: &KeyPair) -> Result<(), CaError> {
        write_atomic(
            &self.path(NEXT_ROOT_KEY),
            key.serialize_pem().as_bytes(),
            true,
        )
    }

    /// The key of the root waiting to sign, if one was added.
    pub(crate) fn next_key(&self) -> Result<Option<KeyPair>, CaError> {
        let path = self.path(NEXT_ROOT_KEY);
        if !path.exists() {
            return Ok(None);
        }
        warn_if_readable_by_others(&path);
        crate::pem::read_key(&path).map(Some)
    }

    /// Forgets the waiting root's key once it signs.
    pub(crate) fn remove_next_key(&self) -> Result<(), CaError> {
        let path = self.path(NEXT_ROOT_KEY);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(CaError::io("removing", &path, e))
            }
            _ => Ok(()),
        }
    }

    /// Saves the root bundle and, if given, the signing key. The bundle is
    /// written first: a crash in between leaves the old key with its root
    /// still in the bundle, which loads fine.
    pub(crate) fn save(
        &self,
        roots: &[CertificateDer<'_>],
        key: Option<&KeyPair>,
    ) -> Result<(), CaError> {
        let bundle: String = roots.iter().map(cert_pem).collect();
        write_atomic(&self.path(ROOT_CERT), bundle.as_bytes(), false)?;
        if let Some(key) = key {
            write_atomic(&self.path(ROOT_KEY), key.serialize_pem().as_bytes(), true)?;
        }
        Ok(())
    }
}

/// Whether `key` is the key of certificate `cert`.
pub(crate) fn key_matches(cert: &CertificateDer<'_>, key: &KeyPair) -> bool {
    X509Certificate::from_der(cert.as_ref())
        .is_ok_and(|(_, c)| c.public_key().subject_public_key.data.as_ref() == key.public_key_raw())
}

/// Reads a 32-byte token key file.
pub(crate) fn read_token_key(path: &Path) -> Result<[u8; 32], CaError> {
    let bytes = read(path)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| CaError::BadTokenKey {
        path: path.into(),
        reason: format!("expected 32 bytes, found {}", bytes.len()),
    })
}

/// Replaces `path` atomically; `private` files get mode 0600.
fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), CaError> {
    let tmp = path.with_extension("tmp");
    // A leftover temporary file may have looser permissions: start afresh.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(CaError::io("removing", &tmp, e));
        }
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, if private { 0o600 } else { 0o644 });
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(&tmp)
        .map_err(|e| CaError::io("writing", &tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| CaError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CaError::io("replacing", path, e))
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                "secret file is readable by group or others; chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
