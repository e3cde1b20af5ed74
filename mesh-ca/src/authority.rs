//! The certificate authority: its key material (live-swappable), the
//! signing of workload certificates, and bootstrap tokens.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use mesh_identity::SpiffeId;
use mesh_identity::pb::TrustBundle;
use rcgen::PublicKeyData;
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::time::ASN1Time;

use crate::csr::VerifiedCsr;
use crate::identity::{cert_uri_sans, single_spiffe_id};
use crate::issue::{leaf, random_bytes, unix_secs, whole_secs};
use crate::pem::{cert_pem, read_certs, read_key};
use crate::signer::{Signer, SignerFiles};
use crate::store::{CaDir, ROOT_CERT, ROOT_KEY, read_token_key};
use crate::token::TokenKey;
use crate::trust::Roots;
use crate::{CaConfig, CaError};

/// Operator-provided CA material, under istiod's "plugged-in certs" names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaFiles {
    /// `ca-cert.pem`: the signing certificate, a root or an intermediate.
    pub ca_cert: PathBuf,
    /// `ca-key.pem`: its private key (PKCS#8).
    pub ca_key: PathBuf,
    /// `cert-chain.pem`: the signing certificate up to, not including, the
    /// root (may be just the signing certificate).
    pub cert_chain: PathBuf,
    /// `root-cert.pem`: the roots to trust; may hold several.
    pub root_cert: PathBuf,
    /// A 32-byte bootstrap token key. Without one, a random key is made at
    /// start: tokens then die with the process and differ per replica.
    pub token_key: Option<PathBuf>,
}

impl CaFiles {
    /// The four istiod file names in `dir`, and `token-key` if that file
    /// exists (so that every replica, and `mesh-control token`, sign
    /// bootstrap tokens with the same key).
    pub fn in_dir(dir: &Path) -> Self {
        let token_key = dir.join("token-key");
        Self {
            ca_cert: dir.join("ca-cert.pem"),
            ca_key: dir.join("ca-key.pem"),
            cert_chain: dir.join("cert-chain.pem"),
            root_cert: dir.join("root-cert.pem"),
            token_key: token_key.exists().then_some(token_key),
        }
    }
}

/// A signed certificate chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCert {
    /// PEM, the leaf first, then any intermediates; never the root.
    pub chain_pem: Vec<String>,
    /// When the leaf expires.
    pub not_after: SystemTime,
}

/// The signer and the roots in force; replaced whole on rotation.
pub(crate) struct State {
    pub(crate) signer: Arc<Signer>,
    pub(crate) roots: Roots,
    /// Bumped on every change, so the TLS listener knows to rebuild.
    pub(crate) generation: u64,
}

/// Where the key material lives.
pub(crate) enum Storage {
    /// The CA's own directory: rotation is persisted there.
    Dir(CaDir),
    /// Operator files: the operator rotates them.
    Files,
}

pub(crate) struct Shared {
    pub(crate) trust_domain: String,
    server_id: SpiffeId,
    pub(crate) state: ArcSwap<State>,
    token_key: TokenKey,
    pub(crate) storage: Storage,
    /// Serializes rotations (read, modify, persist, swap).
    pub(crate) rotation: Mutex<()>,
}

/// The mesh's certificate authority. Cheap to clone; clones share the key
/// material, and a root rotation is seen by all of them at once.
#[derive(Clone)]
pub struct CertificateAuthority {
    pub(crate) shared: Arc<Shared>,
    pub(crate) config: CaConfig,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("trust_domain", &self.shared.trust_domain)
            .field("roots", &self.shared.state.load().roots.certs().len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The CA listener's identity; fails for an invalid trust domain.
fn server_id_in(trust_domain: &str) -> Result<SpiffeId, CaError> {
    SpiffeId::new(trust_domain, "mesh-system", "mesh-control").map_err(|_| {
        CaError::InvalidTrustDomain {
            trust_domain: trust_domain.into(),
        }
    })
}

impl CertificateAuthority {
    /// Loads the CA from `dir`, or on first start generates a self-signed
    /// root (ECDSA P-256, ten years, O=`trust_domain`, CN=mesh root) and a
    /// token key there: `root-cert.pem`, `root-key.pem` and `token-key`
    /// (secrets mode 0600).
    pub fn load_or_generate(dir: &Path, trust_domain: &str) -> Result<Self, CaError> {
        let server_id = server_id_in(trust_domain)?;
        let config = CaConfig::default();
        let dir = CaDir::open(dir)?;
        let (roots, cert, key) = dir.load_or_generate_roots(trust_domain, config.clock_skew())?;
        let token = dir.load_or_generate_token_key()?;
        let (cert_path, key_path) = (dir.path(ROOT_CERT), dir.path(ROOT_KEY));
        let files = SignerFiles {
            cert: &cert_path,
            key: &key_path,
            chain: &cert_path,
            roots: &cert_path,
        };
        let roots = Roots::new(roots, &cert_path)?;
        let signer = Signer::new(cert, key, Vec::new(), &roots, trust_domain, &files)?;
        let storage = Storage::Dir(dir);
        Ok(Self::assemble(
            server_id, signer, roots, &token, storage, config,
        ))
    }

    /// A CA signing with operator-provided material. Checks that the key
    /// matches the certificate, that the certificate is a CA with
    /// keyCertSign, and that it chains to a root in `root_cert`; errors
    /// name the file to fix.
    pub fn from_files(files: CaFiles, trust_domain: &str) -> Result<Self, CaError> {
        let server_id = server_id_in(trust_domain)?;
        let roots = Roots::new(read_certs(&files.root_cert)?, &files.root_cert)?;
        let mut certs = read_certs(&files.ca_cert)?;
        if certs.len() != 1 {
            return Err(CaError::BadCertificate {
                path: files.ca_cert.clone(),
                reason: format!(
                    "holds {} certificates; keep only the signing certificate here and its chain in cert-chain.pem",
                    certs.len()
                ),
            });
        }
        let cert = certs.remove(0);
        let key = read_key(&files.ca_key)?;
        let chain = read_certs(&files.cert_chain)?;
        let token = match &files.token_key {
            Some(path) => read_token_key(path)?,
            None => {
                tracing::info!(
                    "no token key file configured: bootstrap tokens are valid only for this process"
                );
                random_bytes::<32>()?
            }
        };
        let signer_files = SignerFiles {
            cert: &files.ca_cert,
            key: &files.ca_key,
            chain: &files.cert_chain,
            roots: &files.root_cert,
        };
        let signer = Signer::new(cert, key, chain, &roots, trust_domain, &signer_files)?;
        let config = CaConfig::default();
        Ok(Self::assemble(
            server_id,
            signer,
            roots,
            &token,
            Storage::Files,
            config,
        ))
    }

    fn assemble(
        server_id: SpiffeId,
        signer: Signer,
        roots: Roots,
        token: &[u8; 32],
        storage: Storage,
        config: CaConfig,
    ) -> Self {
        let state = State {
            signer: Arc::new(signer),
            roots,
            generation: 0,
        };
        Self {
            shared: Arc::new(Shared {
                trust_domain: server_id.trust_domain().to_owned(),
                server_id,
                state: ArcSwap::from_pointee(state),
                token_key: TokenKey::new(token),
                storage,
                rotation: Mutex::new(()),
            }),
            config,
        }
    }

    /// This handle with other certificate lifetimes (clones made before
    /// keep theirs).
    pub fn with_config(mut self, config: CaConfig) -> Result<Self, CaError> {
        config.validate()?;
        self.config = config;
        Ok(self)
    }

    /// The lifetimes in force.
    pub fn config(&self) -> &CaConfig {
        &self.config
    }

    /// The trust domain the CA signs for, e.g. `cluster.local`.
    pub fn trust_domain(&self) -> &str {
        &self.shared.trust_domain
    }

    /// The identity of the CA's own TLS listener:
    /// `spiffe://<trust-domain>/ns/mesh-system/sa/mesh-control`.
    pub fn server_id(&self) -> SpiffeId {
        self.shared.server_id.clone()
    }

    /// Every root workloads must trust, PEM (several during a rotation).
    pub fn trust_bundle(&self) -> TrustBundle {
        TrustBundle {
            trust_domain: self.trust_domain().to_owned(),
            roots: self.shared.state.load().roots.pem().to_vec(),
        }
    }

    pub(crate) fn state(&self) -> Arc<State> {
        self.shared.state.load_full()
    }

    /// Signs a workload certificate from a PEM CSR for `caller`. The CSR's
    /// self-signature must verify and its only URI SAN must be `caller`'s
    /// SPIFFE ID in this trust domain; everything else in it is ignored.
    /// `requested` is capped at the maximum lifetime; `None` or zero means
    /// the default.
    pub fn sign(
        &self,
        csr_pem: &str,
        caller: &SpiffeId,
        requested: Option<Duration>,
    ) -> Result<IssuedCert, CaError> {
        let csr = VerifiedCsr::from_pem(csr_pem)?;
        let asked = single_spiffe_id(&csr.uris, self.trust_domain())?;
        if &asked != caller {
            return Err(CaError::IdentityMismatch {
                asked: Box::new(asked),
                caller: Box::new(caller.clone()),
            });
        }
        let (chain, not_after) =
            self.issue(&csr.public_key, &asked, self.config.lifetime_for(requested))?;
        tracing::info!(id = %asked, not_after = %display_time(not_after), "issued a workload certificate");
        Ok(IssuedCert {
            chain_pem: chain.iter().map(cert_pem).collect(),
            not_after,
        })
    }

    /// Issues a chain (leaf first, no root) for `id` over `public_key`.
    pub(crate) fn issue(
        &self,
        public_key: &impl PublicKeyData,
        id: &SpiffeId,
        lifetime: Duration,
    ) -> Result<(Vec<CertificateDer<'static>>, SystemTime), CaError> {
        let state = self.state();
        let now = SystemTime::now();
        // Whole seconds, as in the certificate; never past the signer.
        let signer_expiry = state.signer.not_after();
        let not_after = now
            .checked_add(lifetime)
            .map_or(signer_expiry, whole_secs)
            .min(signer_expiry);
        if not_after <= now {
            return Err(CaError::SignerExpired);
        }
        let not_before = now.checked_sub(self.config.clock_skew()).unwrap_or(now);
        let leaf = leaf(&state.signer, public_key, id, not_before, not_after)?;
        let mut chain = vec![leaf];
        chain.extend(state.signer.chain().iter().cloned());
        Ok((chain, not_after))
    }

    /// The identity of a TLS peer: its chain (leaf first) must verify
    /// under the current roots now, and the leaf must carry exactly one
    /// URI SAN, a SPIFFE ID in this trust domain.
    pub fn authenticate_peer(&self, chain: &[CertificateDer<'_>]) -> Result<SpiffeId, CaError> {
        self.state().roots.verify_client(chain)?;
        let leaf = chain
            .first()
            .and_then(|der| X509Certificate::from_der(der.as_ref()).ok())
            .ok_or_else(|| CaError::PeerCertificate("unparseable certificate".into()))?;
        single_spiffe_id(&cert_uri_sans(&leaf.1), self.trust_domain())
    }

    /// A bootstrap token for `id`, valid for `ttl` (whole seconds): an
    /// HMAC-SHA256 under this CA's token key, so only this CA (or one
    /// sharing its `token-key`) accepts it.
    pub fn bootstrap_token(&self, id: &SpiffeId, ttl: Duration) -> String {
        self.shared.token_key.mint_for(id, ttl)
    }

    /// The identity a bootstrap token speaks for, if it verifies, has not
    /// expired and names this trust domain.
    pub fn verify_token(&self, token: &str) -> Result<SpiffeId, CaError> {
        let id = self
            .shared
            .token_key
            .verify(token, unix_secs(SystemTime::now()))?;
        if id.trust_domain() != self.trust_domain() {
            return Err(CaError::WrongTrustDomain {
                id,
                trust_domain: self.trust_domain().to_owned(),
            });
        }
        Ok(id)
    }
}

/// A time as certificates print it, for logs.
pub(crate) fn display_time(t: SystemTime) -> String {
    let secs = i64::try_from(unix_secs(t)).unwrap_or(i64::MAX);
    ASN1Time::from_timestamp(secs).map_or_else(|_| format!("{secs} (unix)"), |t| t.to_string())
}
