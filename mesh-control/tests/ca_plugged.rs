//! The control plane's CA with an operator's intermediate (istiod's
//! plugged-in certificates): workloads get chains up to the operator's
//! root, and a bad file stops the start with an error naming it.

use std::path::Path;

use mesh_control::ControlPlane;
use mesh_identity::{CaClient, Identity, SpiffeId};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "operator");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// Writes an operator root and an intermediate under it in istiod's names;
/// returns the root's PEM.
fn plug(dir: &Path) -> anyhow::Result<String> {
    let root_key = KeyPair::generate()?;
    let root_params = ca_params("operator root");
    let root = root_params.self_signed(&root_key)?;
    let issuer = Issuer::new(root_params, root_key);
    let inter_key = KeyPair::generate()?;
    let inter = ca_params("operator intermediate").signed_by(&inter_key, &issuer)?;
    std::fs::write(dir.join("ca-cert.pem"), inter.pem())?;
    std::fs::write(dir.join("ca-key.pem"), inter_key.serialize_pem())?;
    std::fs::write(dir.join("cert-chain.pem"), inter.pem())?;
    std::fs::write(dir.join("root-cert.pem"), root.pem())?;
    std::fs::write(dir.join("token-key"), [7u8; 32])?;
    Ok(root.pem())
}

#[tokio::test]
async fn workloads_get_chains_up_to_the_operators_root() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("config"))?;
    std::fs::create_dir(dir.path().join("cacerts"))?;
    let root_pem = plug(&dir.path().join("cacerts"))?;
    let plane = ControlPlane::builder()
        .config_dir(dir.path().join("config"))
        .listen("127.0.0.1:0")
        .ca_plugged_certs(dir.path().join("cacerts"))
        .ca_listen("127.0.0.1:0")
        .start()
        .await?;
    let ca = plane.ca().expect("the CA is on");
    assert_eq!(ca.trust_bundle().roots, vec![root_pem.clone()]);
    let id = SpiffeId::new("cluster.local", "default", "attendees")?;
    let token = ca.bootstrap_token(&id, std::time::Duration::from_secs(60));
    let addr = plane.ca_addr().expect("the CA listens");
    let identity =
        Identity::from_ca(CaClient::new(addr, root_pem, id.clone()).with_token(token)).await?;
    let cert = identity.current()?;
    assert_eq!(cert.id(), &id);
    assert_eq!(
        cert.chain().len(),
        2,
        "leaf and the operator's intermediate"
    );
    plane.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_key_that_does_not_match_stops_the_start_naming_the_files() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("config"))?;
    let cacerts = dir.path().join("cacerts");
    std::fs::create_dir(&cacerts)?;
    plug(&cacerts)?;
    std::fs::write(
        cacerts.join("ca-key.pem"),
        KeyPair::generate()?.serialize_pem(),
    )?;
    let err = ControlPlane::builder()
        .config_dir(dir.path().join("config"))
        .listen("127.0.0.1:0")
        .ca_plugged_certs(&cacerts)
        .ca_listen("127.0.0.1:0")
        .start()
        .await
        .expect_err("a mismatched key must stop the start")
        .to_string();
    assert!(
        err.contains("ca-key.pem") && err.contains("ca-cert.pem"),
        "{err}"
    );
    Ok(())
}
