//! Building the certificates the CA issues. The CA decides every field; a
//! CSR contributes only its public key and the (checked) SPIFFE ID.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesh_identity::SpiffeId;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::CertificateDer;
use x509_parser::time::ASN1Time;

use crate::CaError;
use crate::signer::Signer;

/// `N` bytes from the system's secure random number generator.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], CaError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CaError::Random)?;
    Ok(bytes)
}

/// A random, positive, 128-bit serial number.
fn random_serial() -> Result<SerialNumber, CaError> {
    let mut bytes = random_bytes::<16>()?;
    // Positive (top bit clear) and a full 16 bytes long (next bit set).
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

/// Seconds since the Unix epoch (0 for times before it).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `t` truncated to whole seconds, as a certificate records it.
pub(crate) fn whole_secs(t: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix_secs(t))
}

/// The inverse of [`unix_secs`] for a certificate's timestamp.
pub(crate) fn from_unix_secs(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

fn asn1_time(t: SystemTime) -> Result<ASN1Time, CaError> {
    let secs = i64::try_from(unix_secs(t)).unwrap_or(i64::MAX);
    ASN1Time::from_timestamp(secs)
        .map_err(|_| CaError::InvalidConfig("certificate validity out of range".into()))
}

fn set_validity(
    params: &mut CertificateParams,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<(), CaError> {
    params.not_before = asn1_time(not_before)?.to_datetime();
    params.not_after = asn1_time(not_after)?.to_datetime();
    Ok(())
}

/// A workload certificate for `id` over `public_key`: the URI SAN as the
/// only SAN (critical, as the subject is empty), keyUsage
/// digitalSignature + keyEncipherment (critical), extendedKeyUsage
/// serverAuth + clientAuth, CA:false, authority key identifier, random
/// serial.
pub(crate) fn leaf(
    signer: &Signer,
    public_key: &impl PublicKeyData,
    id: &SpiffeId,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<CertificateDer<'static>, CaError> {
    let uri = id
        .to_string()
        .try_into()
        .map_err(CaError::crypto("encode the spiffe id"))?;
    let mut params = CertificateParams::default();
    // An empty subject: rcgen then marks the SAN extension critical
    // (RFC 5280 4.2.1.6, SPIFFE X.509-SVID 4.3).
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial()?);
    set_validity(&mut params, not_before, not_after)?;
    let cert = params
        .signed_by(public_key, signer.issuer())
        .map_err(CaError::crypto("sign the certificate"))?;
    Ok(cert.der().clone())
}

/// How long a generated root lives.
pub(crate) const ROOT_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A new self-signed root: ECDSA P-256, CA:true, keyCertSign + cRLSign,
/// ten years, subject O=<trust domain>, CN=mesh root.
pub(crate) fn self_signed_root(
    trust_domain: &str,
    skew: Duration,
) -> Result<(CertificateDer<'static>, KeyPair), CaError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(CaError::crypto("generate the root key"))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, trust_domain);
    dn.push(DnType::CommonName, "mesh root");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial()?);
    let now = SystemTime::now();
    set_validity(&mut params, now - skew, now + ROOT_LIFETIME)?;
    let cert = params
        .self_signed(&key)
        .map_err(CaError::crypto("self-sign the root"))?;
    Ok((cert.der().clone(), key))
}
