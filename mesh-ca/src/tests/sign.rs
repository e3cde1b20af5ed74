use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls_pki_types::CertificateSigningRequestDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_X509_EXT_SUBJECT_ALT_NAME;

use super::{ca, chain, csr, der, id, signed_by, x509};
use crate::CaError;
use crate::issue::unix_secs;

const A: &str = "spiffe://cluster.local/ns/default/sa/a";

#[test]
fn signs_a_spiffe_leaf_the_ca_way() {
    let (_dir, ca) = ca();
    let issued = ca.sign(&csr(&[A]), &id("a"), None).unwrap();
    assert_eq!(
        issued.chain_pem.len(),
        1,
        "a root-signed leaf has no intermediates"
    );
    let leaf_der = der(&issued.chain_pem[0]);
    let root_der = der(&ca.trust_bundle().roots[0]);
    let leaf = x509(&leaf_der);

    // Chained to the root: issuer name, signature, authority key id.
    assert!(signed_by(&leaf_der, &root_der));
    let root = x509(&root_der);
    let aki = leaf
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.clone(),
            _ => None,
        })
        .expect("authority key identifier");
    let ski = root
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.clone()),
            _ => None,
        })
        .expect("root subject key identifier");
    assert_eq!(aki.0, ski.0);

    // Exactly one SAN, the URI, critical (empty subject).
    assert!(leaf.subject().as_raw().len() <= 2, "empty subject");
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert!(san.critical);
    assert!(matches!(san.value.general_names.as_slice(), [GeneralName::URI(u)] if u == &A));
    let san_exts = leaf
        .iter_extensions()
        .filter(|e| e.oid == OID_X509_EXT_SUBJECT_ALT_NAME)
        .count();
    assert_eq!(san_exts, 1);

    let ku = leaf.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    assert!(ku.value.digital_signature() && ku.value.key_encipherment());
    assert!(!ku.value.key_cert_sign());
    let eku = leaf.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.server_auth && eku.value.client_auth);
    assert!(!leaf.basic_constraints().unwrap().unwrap().value.ca);

    // Lifetime: the default hour, backdated by the skew.
    let now = unix_secs(SystemTime::now()) as i64;
    let validity = leaf.validity();
    assert!((validity.not_after.timestamp() - (now + 3600)).abs() <= 5);
    assert!((validity.not_before.timestamp() - (now - 60)).abs() <= 5);
    assert_eq!(
        unix_secs(issued.not_after) as i64,
        validity.not_after.timestamp()
    );

    // And webpki (what peers run) accepts it as this identity.
    assert_eq!(
        ca.authenticate_peer(&chain(&issued.chain_pem)).unwrap(),
        id("a")
    );
}

#[test]
fn ignores_everything_else_in_the_csr() {
    let (_dir, ca) = ca();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "evil");
    params.subject_alt_names = vec![
        SanType::URI(A.try_into().unwrap()),
        SanType::DnsName("bank.example".try_into().unwrap()),
    ];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    let issued = ca.sign(&pem, &id("a"), None).unwrap();
    let leaf_der = der(&issued.chain_pem[0]);
    let leaf = x509(&leaf_der);
    assert!(!leaf.subject().to_string().contains("evil"));
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert_eq!(san.value.general_names.len(), 1);
    assert!(!leaf.basic_constraints().unwrap().unwrap().value.ca);
    assert!(!leaf.key_usage().unwrap().unwrap().value.key_cert_sign());
    // The certified key is the CSR's.
    assert_eq!(
        leaf.public_key().subject_public_key.data.as_ref(),
        key.public_key_raw()
    );
}

#[test]
fn refuses_someone_elses_identity() {
    let (_dir, ca) = ca();
    let err = ca
        .sign(
            &csr(&["spiffe://cluster.local/ns/default/sa/b"]),
            &id("a"),
            None,
        )
        .unwrap_err();
    assert!(matches!(err, CaError::IdentityMismatch { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "csr asks for spiffe://cluster.local/ns/default/sa/b but the caller is spiffe://cluster.local/ns/default/sa/a"
    );
}

#[test]
fn wants_exactly_one_uri_san_in_the_trust_domain() {
    let (_dir, ca) = ca();
    let two = csr(&[A, "spiffe://cluster.local/ns/default/sa/b"]);
    let err = ca.sign(&two, &id("a"), None).unwrap_err();
    assert!(matches!(err, CaError::MultipleIdentities { .. }), "{err}");
    let err = ca.sign(&csr(&[]), &id("a"), None).unwrap_err();
    assert!(matches!(err, CaError::NoIdentity), "{err}");
    let err = ca
        .sign(
            &csr(&["spiffe://other.org/ns/default/sa/a"]),
            &id("a"),
            None,
        )
        .unwrap_err();
    assert!(matches!(err, CaError::WrongTrustDomain { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("not in trust domain \"cluster.local\""),
        "{err}"
    );
    let err = ca
        .sign(&csr(&["https://a.example"]), &id("a"), None)
        .unwrap_err();
    assert!(matches!(err, CaError::InvalidIdentity(_)), "{err}");
}

#[test]
fn rejects_a_tampered_csr() {
    let (_dir, ca) = ca();
    // A CSR for sa/aaaa, rewritten to ask for sa/bbbb: the self-signature
    // no longer covers the request.
    let pem = csr(&["spiffe://cluster.local/ns/default/sa/aaaa"]);
    let mut bytes = CertificateSigningRequestDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec();
    let at = bytes.windows(7).position(|w| w == b"sa/aaaa").unwrap();
    bytes[at + 3..at + 7].copy_from_slice(b"bbbb");
    let tampered = crate::pem::encode("CERTIFICATE REQUEST", &bytes);
    let err = ca.sign(&tampered, &id("bbbb"), None).unwrap_err();
    assert!(matches!(err, CaError::CsrSignature), "{err}");
    let err = ca.sign("not a csr", &id("a"), None).unwrap_err();
    assert!(matches!(err, CaError::MalformedCsr(_)), "{err}");
}

#[test]
fn caps_the_lifetime_at_the_maximum() {
    let (_dir, ca) = ca();
    let ten_years = Duration::from_secs(10 * 365 * 86400);
    let issued = ca.sign(&csr(&[A]), &id("a"), Some(ten_years)).unwrap();
    let lifetime = issued.not_after.duration_since(SystemTime::now()).unwrap();
    assert!(lifetime <= Duration::from_secs(86400), "{lifetime:?}");
    assert!(lifetime > Duration::from_secs(86400 - 10), "{lifetime:?}");
    let short = ca
        .sign(&csr(&[A]), &id("a"), Some(Duration::from_secs(300)))
        .unwrap();
    let lifetime = short.not_after.duration_since(SystemTime::now()).unwrap();
    assert!(lifetime <= Duration::from_secs(300), "{lifetime:?}");
    let err = crate::requested_lifetime(-1).unwrap_err();
    assert!(
        matches!(err, CaError::NegativeLifetime { seconds: -1 }),
        "{err}"
    );
}

#[test]
fn config_changes_lifetimes() {
    let (_dir, ca) = ca();
    let ca = ca
        .with_config(
            crate::CaConfig::default()
                .with_default_lifetime(Duration::from_secs(600))
                .with_max_lifetime(Duration::from_secs(1200)),
        )
        .unwrap();
    let issued = ca.sign(&csr(&[A]), &id("a"), None).unwrap();
    let lifetime = issued.not_after.duration_since(SystemTime::now()).unwrap();
    assert!(lifetime <= Duration::from_secs(600) && lifetime > Duration::from_secs(590));
}
