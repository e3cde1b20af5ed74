//! Test support (cargo feature `test-support`): a throwaway CA that issues
//! good and deliberately bad workload certificates.
//!
//! ```
//! use mesh_identity::testing::{LeafOptions, TestCa};
//! use mesh_identity::{Identity, SpiffeId};
//!
//! let ca = TestCa::new("cluster.local");
//! let id: SpiffeId = "spiffe://cluster.local/ns/default/sa/web".parse().unwrap();
//! let identity = Identity::fixed(ca.issue(&id), ca.bundle());
//! assert_eq!(identity.id(), id);
//!
//! // A certificate no mesh peer accepts, for rejection tests:
//! let expired = ca.leaf(LeafOptions::new(&id).expired());
//! let _server = expired.server_config(&[b"h2"]);
//! ```
//!
//! Everything here panics on failure (it is for tests) and uses fresh
//! ECDSA P-256 keys.

mod leaf;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::time::ASN1Time;

use crate::bundle::TrustBundle;
use crate::cert::WorkloadCert;
use crate::spiffe::SpiffeId;
use leaf::Start;
pub use leaf::{LeafOptions, TestLeaf, TlsUsage};

const HOUR: Duration = Duration::from_secs(3600);
/// Leaves start this long before "now", to tolerate clock skew.
const BACKDATE: Duration = Duration::from_secs(60);

/// A CA for one trust domain: a self-signed root, or an intermediate under
/// another `TestCa`'s root.
pub struct TestCa {
    trust_domain: String,
    root: CertificateDer<'static>,
    root_pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// Intermediates from this CA up to (not including) the root, PEM and DER.
    intermediates: Vec<(CertificateDer<'static>, String)>,
}

impl TestCa {
    /// A fresh root CA for `trust_domain`, valid from an hour ago for ten
    /// years.
    pub fn new(trust_domain: &str) -> TestCa {
        let key = KeyPair::generate().expect("generate a root key");
        let params = ca_params(&format!("mesh test root for {trust_domain}"));
        let cert = params.self_signed(&key).expect("self-sign the test root");
        TestCa {
            trust_domain: trust_domain.to_owned(),
            root: cert.der().clone(),
            root_pem: cert.pem(),
            issuer: Issuer::new(params, key),
            intermediates: Vec::new(),
        }
    }

    /// An intermediate CA signed by this one: its leaves chain through it
    /// to the same root, so [`bundle`](Self::bundle) is unchanged.
    pub fn intermediate(&self) -> TestCa {
        let key = KeyPair::generate().expect("generate an intermediate key");
        let params = ca_params(&format!("mesh test intermediate for {}", self.trust_domain));
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign the intermediate");
        let mut intermediates = vec![(cert.der().clone(), cert.pem())];
        intermediates.extend(self.intermediates.iter().cloned());
        TestCa {
            trust_domain: self.trust_domain.clone(),
            root: self.root.clone(),
            root_pem: self.root_pem.clone(),
            issuer: Issuer::new(params, key),
            intermediates,
        }
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    /// The root certificate (DER).
    pub fn root(&self) -> &CertificateDer<'static> {
        &self.root
    }

    /// The root certificate (PEM).
    pub fn root_pem(&self) -> &str {
        &self.root_pem
    }

    /// A trust bundle holding just this CA's root.
    pub fn bundle(&self) -> TrustBundle {
        TrustBundle::new(&self.trust_domain, vec![self.root.clone()]).expect("a valid test root")
    }

    /// The SPIFFE ID `spiffe://<trust domain>/ns/<namespace>/sa/<service_account>`.
    pub fn id(&self, namespace: &str, service_account: &str) -> SpiffeId {
        SpiffeId::new(&self.trust_domain, namespace, service_account).expect("a valid test ID")
    }

    /// A good workload certificate for `id`, valid for a day.
    pub fn issue(&self, id: &SpiffeId) -> WorkloadCert {
        self.leaf(LeafOptions::new(id))
            .workload_cert()
            .expect("a good test leaf is a usable workload certificate")
    }

    /// A leaf certificate shaped by `options` (possibly one no peer accepts).
    pub fn leaf(&self, options: LeafOptions) -> TestLeaf {
        let now = SystemTime::now();
        let not_before = match options.start {
            Start::Ago(d) => now - d,
            Start::In(d) => now + d,
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = options
            .uri_sans
            .iter()
            .map(|uri| SanType::URI(Ia5String::try_from(uri.as_str()).expect("an ASCII URI")))
            .collect();
        params.not_before = asn1_time(not_before).to_datetime();
        params.not_after = asn1_time(not_before + options.lifetime).to_datetime();
        params.use_authority_key_identifier_extension = true;
        params.is_ca = if options.ca {
            IsCa::Ca(BasicConstraints::Unconstrained)
        } else {
            IsCa::ExplicitNoCa
        };
        params.key_usages = if options.digital_signature {
            vec![KeyUsagePurpose::DigitalSignature]
        } else {
            vec![KeyUsagePurpose::KeyAgreement]
        };
        if options.ca {
            params.key_usages.push(KeyUsagePurpose::KeyCertSign);
        }
        params.extended_key_usages = options.tls_usage.purposes();
        let key = KeyPair::generate().expect("generate a leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign the test leaf");
        let mut chain = vec![cert.der().clone()];
        let mut chain_pem = cert.pem();
        for (der, pem) in &self.intermediates {
            chain.push(der.clone());
            chain_pem.push_str(pem);
        }
        TestLeaf {
            chain,
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            chain_pem,
            key_pem: key.serialize_pem(),
        }
    }

    /// Signs a PEM CSR as a mesh CA would, for whatever URI SANs it asks
    /// for (no authorization: this is a test CA), valid from a minute ago
    /// for `lifetime` (an hour if zero). Returns the chain PEMs, leaf first.
    pub fn sign_csr(&self, csr_pem: &str, lifetime: Duration) -> Result<Vec<String>, rcgen::Error> {
        self.sign_csr_at(csr_pem, SystemTime::now(), lifetime)
    }

    /// Like [`sign_csr`](Self::sign_csr), with `now` as the current time
    /// (for tests that move a clock).
    pub fn sign_csr_at(
        &self,
        csr_pem: &str,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<Vec<String>, rcgen::Error> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem)?;
        let lifetime = if lifetime.is_zero() { HOUR } else { lifetime };
        let not_before = now - BACKDATE;
        csr.params.not_before = asn1_time(not_before).to_datetime();
        csr.params.not_after = asn1_time(not_before + lifetime).to_datetime();
        csr.params.is_ca = IsCa::ExplicitNoCa;
        csr.params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        csr.params.extended_key_usages = TlsUsage::Both.purposes();
        csr.params.use_authority_key_identifier_extension = true;
        let cert = csr.signed_by(&self.issuer)?;
        let mut chain = vec![cert.pem()];
        chain.extend(self.intermediates.iter().map(|(_, pem)| pem.clone()));
        Ok(chain)
    }
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    // Unique names, so roots of one trust domain are told apart.
    name.push(
        DnType::CommonName,
        format!("{common_name} #{:08x}", fastrand::u32(..)),
    );
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = SystemTime::now();
    params.not_before = asn1_time(now - HOUR).to_datetime();
    params.not_after = asn1_time(now + 10 * 365 * 24 * HOUR).to_datetime();
    params
}

fn asn1_time(t: SystemTime) -> ASN1Time {
    let secs = t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    ASN1Time::from_timestamp(i64::try_from(secs).expect("a sane time"))
        .expect("a representable time")
}
