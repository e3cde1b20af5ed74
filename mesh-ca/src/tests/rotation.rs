use super::{TD, ca, chain, csr, der, id, signed_by};
use crate::CertificateAuthority;

const A: &str = "spiffe://cluster.local/ns/default/sa/a";

#[test]
fn rotation_adds_a_root_and_retiring_drops_the_old_one() {
    let (dir, ca) = ca();
    let before = ca.sign(&csr(&[A]), &id("a"), None).unwrap();
    let old_root = der(&ca.trust_bundle().roots[0]);

    ca.add_root().unwrap();
    ca.rotate_root().unwrap();
    let bundle = ca.trust_bundle();
    assert_eq!(bundle.roots.len(), 2);
    let new_root = der(&bundle.roots[0]);
    assert_ne!(new_root, old_root);
    assert_eq!(
        der(&bundle.roots[1]),
        old_root,
        "the old root stays trusted"
    );

    let after = ca.sign(&csr(&[A]), &id("a"), None).unwrap();
    assert!(signed_by(&der(&after.chain_pem[0]), &new_root));
    assert!(!signed_by(&der(&after.chain_pem[0]), &old_root));
    // Both generations verify under the bundle.
    assert_eq!(
        ca.authenticate_peer(&chain(&before.chain_pem)).unwrap(),
        id("a")
    );
    assert_eq!(
        ca.authenticate_peer(&chain(&after.chain_pem)).unwrap(),
        id("a")
    );

    // A restart picks up the rotated state.
    let restarted = CertificateAuthority::load_or_generate(dir.path(), TD).unwrap();
    assert_eq!(restarted.trust_bundle(), bundle);
    let again = restarted.sign(&csr(&[A]), &id("a"), None).unwrap();
    assert!(signed_by(&der(&again.chain_pem[0]), &new_root));

    ca.retire_roots_except_current().unwrap();
    let bundle = ca.trust_bundle();
    assert_eq!(bundle.roots.len(), 1);
    assert_eq!(der(&bundle.roots[0]), new_root);
    assert!(ca.authenticate_peer(&chain(&before.chain_pem)).is_err());
    assert_eq!(
        ca.authenticate_peer(&chain(&after.chain_pem)).unwrap(),
        id("a")
    );
    let restarted = CertificateAuthority::load_or_generate(dir.path(), TD).unwrap();
    assert_eq!(restarted.trust_bundle(), bundle);

    // Retiring with nothing to retire is a no-op.
    ca.retire_roots_except_current().unwrap();
    assert_eq!(ca.trust_bundle().roots.len(), 1);
}

#[test]
fn clones_see_a_rotation() {
    let (_dir, ca) = ca();
    let clone = ca.clone();
    ca.add_root().unwrap();
    ca.rotate_root().unwrap();
    assert_eq!(clone.trust_bundle().roots.len(), 2);
}

#[test]
fn an_added_root_is_trusted_before_it_signs() {
    let (dir, ca) = ca();
    assert!(matches!(ca.rotate_root(), Err(crate::CaError::NoNewRoot)));
    let old_root = der(&ca.trust_bundle().roots[0]);

    ca.add_root().unwrap();
    let bundle = ca.trust_bundle();
    assert_eq!(bundle.roots.len(), 2, "the new root is in the bundle");
    assert_eq!(der(&bundle.roots[0]), old_root, "the signer stays first");
    let new_root = der(&bundle.roots[1]);
    let leaf = ca.sign(&csr(&[A]), &id("a"), None).unwrap();
    assert!(
        signed_by(&der(&leaf.chain_pem[0]), &old_root),
        "the old root still signs"
    );
    ca.add_root().unwrap();
    assert_eq!(
        ca.trust_bundle(),
        bundle,
        "adding again while one waits does nothing"
    );

    // The waiting root survives a restart, and then takes over.
    let restarted = CertificateAuthority::load_or_generate(dir.path(), TD).unwrap();
    assert_eq!(restarted.trust_bundle(), bundle);
    restarted.rotate_root().unwrap();
    let after = restarted.sign(&csr(&[A]), &id("a"), None).unwrap();
    assert!(signed_by(&der(&after.chain_pem[0]), &new_root));
    assert_eq!(der(&restarted.trust_bundle().roots[0]), new_root);
    assert!(matches!(
        restarted.rotate_root(),
        Err(crate::CaError::NoNewRoot)
    ));
}
