use std::time::Duration;

use super::{ca, id};
use crate::CaError;

#[test]
fn a_token_round_trips() {
    let (_dir, ca) = ca();
    let token = ca.bootstrap_token(&id("a"), Duration::from_secs(600));
    assert!(token.starts_with("mesh1."));
    assert_eq!(ca.verify_token(&token).unwrap(), id("a"));
}

#[test]
fn a_tampered_token_is_rejected() {
    let (_dir, ca) = ca();
    let token = ca.bootstrap_token(&id("a"), Duration::from_secs(600));
    let other = ca.bootstrap_token(&id("admin"), Duration::from_secs(600));
    let (_, mac) = token.rsplit_once('.').unwrap();
    let (head, _) = other.rsplit_once('.').unwrap();
    let err = ca.verify_token(&format!("{head}.{mac}")).unwrap_err();
    assert!(matches!(err, CaError::TokenSignature), "{err}");
    assert!(err.to_string().contains("does not verify"), "{err}");
    let err = ca.verify_token("Bearer nonsense").unwrap_err();
    assert!(matches!(err, CaError::MalformedToken(_)), "{err}");
    assert!(!err.to_string().contains("nonsense"), "{err}");
}

#[test]
fn an_expired_token_is_rejected() {
    let (_dir, ca) = ca();
    let token = ca.bootstrap_token(&id("a"), Duration::ZERO);
    let err = ca.verify_token(&token).unwrap_err();
    assert!(matches!(err, CaError::TokenExpired { .. }), "{err}");
    assert!(err.to_string().contains("expired"), "{err}");
}

#[test]
fn another_cas_token_is_rejected() {
    let (_dir, ca) = ca();
    let (_other_dir, other) = super::ca();
    let token = other.bootstrap_token(&id("a"), Duration::from_secs(600));
    let err = ca.verify_token(&token).unwrap_err();
    assert!(matches!(err, CaError::TokenSignature), "{err}");
}

#[test]
fn a_token_for_another_trust_domain_is_rejected() {
    let (_dir, ca) = ca();
    let foreign = mesh_identity::SpiffeId::new("other.org", "default", "a").unwrap();
    let token = ca.bootstrap_token(&foreign, Duration::from_secs(600));
    let err = ca.verify_token(&token).unwrap_err();
    assert!(matches!(err, CaError::WrongTrustDomain { .. }), "{err}");
}
