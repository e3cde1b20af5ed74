use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use super::{TD, chain, csr, der, id, signed_by, x509};
use crate::{CaError, CaFiles, CertificateAuthority};

const A: &str = "spiffe://cluster.local/ns/default/sa/a";

#[test]
fn generates_a_root_once_and_loads_it_after() {
    let dir = tempfile::tempdir().unwrap();
    let first = CertificateAuthority::load_or_generate(dir.path(), TD).unwrap();
    let bundle = first.trust_bundle();
    assert_eq!(bundle.trust_domain, TD);
    assert_eq!(bundle.roots.len(), 1);
    let root_der = der(&bundle.roots[0]);
    let root = x509(&root_der);
    let subject = root.subject().to_string();
    assert!(
        subject.contains("O=cluster.local") && subject.contains("CN=mesh root"),
        "{subject}"
    );
    assert!(root.basic_constraints().unwrap().unwrap().value.ca);
    let ku = root.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    let years = (root.validity().not_after.timestamp() - root.validity().not_before.timestamp())
        / (365 * 86400);
    assert_eq!(years, 10);
    #[cfg(unix)]
    for secret in ["root-key.pem", "token-key"] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join(secret))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{secret}");
    }
    let token = first.bootstrap_token(&id("a"), std::time::Duration::from_secs(60));

    let second = CertificateAuthority::load_or_generate(dir.path(), TD).unwrap();
    assert_eq!(second.trust_bundle(), bundle, "the same root");
    assert_eq!(
        second.verify_token(&token).unwrap(),
        id("a"),
        "the same token key"
    );
    let issued = second.sign(&csr(&[A]), &id("a"), None).unwrap();
    assert!(signed_by(&der(&issued.chain_pem[0]), &root_der));
}

#[test]
fn a_half_present_directory_is_an_error_naming_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    CertificateAuthority::load_or_generate(dir.path(), TD).unwrap();
    std::fs::remove_file(dir.path().join("root-key.pem")).unwrap();
    let err = CertificateAuthority::load_or_generate(dir.path(), TD).unwrap_err();
    assert!(matches!(err, CaError::IncompleteDir { .. }), "{err}");
    assert!(err.to_string().contains("root-key.pem does not"), "{err}");
    let err = CertificateAuthority::load_or_generate(dir.path(), "Not A Domain").unwrap_err();
    assert!(matches!(err, CaError::InvalidTrustDomain { .. }), "{err}");
}

/// An operator's root and an intermediate under it.
struct OperatorPki {
    root_pem: String,
    inter_pem: String,
    inter_key: KeyPair,
    root_issuer: Issuer<'static, KeyPair>,
}

fn ca_params(cn: &str, path_len: Option<u8>) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "operator");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(path_len.map_or(
        BasicConstraints::Unconstrained,
        BasicConstraints::Constrained,
    ));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

fn operator_pki() -> OperatorPki {
    let root_key = KeyPair::generate().unwrap();
    let root_params = ca_params("operator root", None);
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, root_key);
    let inter_key = KeyPair::generate().unwrap();
    let inter = ca_params("operator intermediate", Some(0))
        .signed_by(&inter_key, &root_issuer)
        .unwrap();
    OperatorPki {
        root_pem: root.pem(),
        inter_pem: inter.pem(),
        inter_key,
        root_issuer,
    }
}

fn write(dir: &Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).unwrap();
}

/// Plugged-in files: the intermediate signs, the operator root is trusted.
fn plug(dir: &Path, pki: &OperatorPki) -> CaFiles {
    write(dir, "ca-cert.pem", &pki.inter_pem);
    write(dir, "ca-key.pem", &pki.inter_key.serialize_pem());
    write(dir, "cert-chain.pem", &pki.inter_pem);
    write(dir, "root-cert.pem", &pki.root_pem);
    CaFiles::in_dir(dir)
}

#[test]
fn an_operator_intermediate_issues_chains_up_to_the_operator_root() {
    let dir = tempfile::tempdir().unwrap();
    let pki = operator_pki();
    let ca = CertificateAuthority::from_files(plug(dir.path(), &pki), TD).unwrap();
    assert_eq!(ca.trust_bundle().roots.len(), 1);
    let issued = ca.sign(&csr(&[A]), &id("a"), None).unwrap();
    assert_eq!(issued.chain_pem.len(), 2, "leaf, intermediate");
    let chain = chain(&issued.chain_pem);
    let root = der(&ca.trust_bundle().roots[0]);
    assert!(
        signed_by(&chain[0], &chain[1]),
        "leaf under the intermediate"
    );
    assert!(signed_by(&chain[1], &root), "intermediate under the root");
    assert_eq!(chain[1], der(&pki.inter_pem));
    assert_eq!(ca.authenticate_peer(&chain).unwrap(), id("a"));
    // Operator material is the operator's to rotate.
    assert!(matches!(
        ca.rotate_root(),
        Err(CaError::RotationUnsupported)
    ));
}

#[test]
fn a_chain_file_that_includes_the_root_is_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let pki = operator_pki();
    let files = plug(dir.path(), &pki);
    write(
        dir.path(),
        "cert-chain.pem",
        &format!("{}{}", pki.inter_pem, pki.root_pem),
    );
    let ca = CertificateAuthority::from_files(files, TD).unwrap();
    let issued = ca.sign(&csr(&[A]), &id("a"), None).unwrap();
    assert_eq!(issued.chain_pem.len(), 2, "the root is not sent");
}

#[test]
fn a_root_can_sign_directly() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate().unwrap();
    let root = ca_params("operator root", None).self_signed(&key).unwrap();
    for name in ["ca-cert.pem", "cert-chain.pem", "root-cert.pem"] {
        write(dir.path(), name, &root.pem());
    }
    write(dir.path(), "ca-key.pem", &key.serialize_pem());
    let ca = CertificateAuthority::from_files(CaFiles::in_dir(dir.path()), TD).unwrap();
    let issued = ca.sign(&csr(&[A]), &id("a"), None).unwrap();
    assert_eq!(issued.chain_pem.len(), 1);
}

#[test]
fn a_mismatched_key_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = operator_pki();
    let files = plug(dir.path(), &pki);
    write(
        dir.path(),
        "ca-key.pem",
        &KeyPair::generate().unwrap().serialize_pem(),
    );
    let err = CertificateAuthority::from_files(files, TD).unwrap_err();
    assert!(matches!(err, CaError::KeyMismatch { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("ca-key.pem does not match the certificate in"),
        "{msg}"
    );
    assert!(msg.contains("ca-cert.pem"), "{msg}");
}

#[test]
fn a_leaf_cannot_be_the_signer() {
    let dir = tempfile::tempdir().unwrap();
    let pki = operator_pki();
    let files = plug(dir.path(), &pki);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::ExplicitNoCa;
    let leaf = params.signed_by(&key, &pki.root_issuer).unwrap();
    write(dir.path(), "ca-cert.pem", &leaf.pem());
    write(dir.path(), "cert-chain.pem", &leaf.pem());
    write(dir.path(), "ca-key.pem", &key.serialize_pem());
    let err = CertificateAuthority::from_files(files, TD).unwrap_err();
    assert!(matches!(err, CaError::NotACa { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("ca-cert.pem: the signing certificate is not a ca"),
        "{err}"
    );
}

#[test]
fn a_signer_outside_the_roots_is_an_error_naming_the_roots() {
    let dir = tempfile::tempdir().unwrap();
    let pki = operator_pki();
    let files = plug(dir.path(), &pki);
    write(dir.path(), "root-cert.pem", &operator_pki().root_pem);
    let err = CertificateAuthority::from_files(files, TD).unwrap_err();
    assert!(matches!(err, CaError::BrokenChain { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("root-cert.pem: no root here signed"),
        "{err}"
    );
}

#[test]
fn missing_and_garbage_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let pki = operator_pki();
    let files = plug(dir.path(), &pki);
    std::fs::remove_file(dir.path().join("cert-chain.pem")).unwrap();
    let err = CertificateAuthority::from_files(files.clone(), TD).unwrap_err();
    assert!(err.to_string().starts_with("reading "), "{err}");
    assert!(err.to_string().contains("cert-chain.pem"), "{err}");
    write(dir.path(), "cert-chain.pem", &pki.inter_pem);
    write(dir.path(), "ca-key.pem", "hello");
    let err = CertificateAuthority::from_files(files, TD).unwrap_err();
    assert!(matches!(err, CaError::BadKey { .. }), "{err}");
    assert!(err.to_string().contains("ca-key.pem"), "{err}");
}
