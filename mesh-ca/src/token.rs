//! Bootstrap tokens: how a workload proves who it is on first contact,
//! before it holds a mesh certificate (the role a Kubernetes service
//! account token plays for istiod).
//!
//! A token is self-verifying: `mesh1.<payload>.<mac>`, both parts
//! base64url without padding. The payload is
//! `<trust-domain>/ns/<namespace>/sa/<service-account>/exp/<unix-seconds>`;
//! the MAC is HMAC-SHA256 under the CA's token key over `mesh1.<payload>`.
//! No state is kept: a token is valid until it expires.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mesh_identity::SpiffeId;
use ring::hmac;

use crate::CaError;
use crate::issue::unix_secs;

const PREFIX: &str = "mesh1";

/// The HMAC key tokens are minted and checked with.
pub(crate) struct TokenKey(hmac::Key);

impl TokenKey {
    /// A key from 32 secret bytes.
    pub(crate) fn new(secret: &[u8; 32]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// A token for `id` that expires at `expires` (Unix seconds).
    pub(crate) fn mint(&self, id: &SpiffeId, expires: u64) -> String {
        let payload = URL_SAFE_NO_PAD.encode(format!("{}/exp/{expires}", id.principal()));
        let signed = format!("{PREFIX}.{payload}");
        let mac = hmac::sign(&self.0, signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))
    }

    /// A token for `id` valid for `ttl` from now.
    pub(crate) fn mint_for(&self, id: &SpiffeId, ttl: Duration) -> String {
        self.mint(
            id,
            unix_secs(SystemTime::now()).saturating_add(ttl.as_secs()),
        )
    }

    /// The identity a token speaks for, if its MAC verifies (in constant
    /// time) and it has not expired at `now` (Unix seconds). Errors never
    /// echo the token.
    pub(crate) fn verify(&self, token: &str, now: u64) -> Result<SpiffeId, CaError> {
        let malformed = CaError::MalformedToken;
        let mut parts = token.split('.');
        let (Some(prefix), Some(payload_b64), Some(mac_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected mesh1.<payload>.<mac>"));
        };
        if prefix != PREFIX {
            return Err(malformed("unknown token version (expected mesh1)"));
        }
        let mac = URL_SAFE_NO_PAD
            .decode(mac_b64)
            .map_err(|_| malformed("the mac is not base64url"))?;
        let signed_len = prefix.len() + 1 + payload_b64.len();
        hmac::verify(&self.0, &token.as_bytes()[..signed_len], &mac)
            .map_err(|_| CaError::TokenSignature)?;
        // Authentic from here on: the CA wrote the payload.
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .ok()
            .and_then(|p| String::from_utf8(p).ok())
            .ok_or(malformed("the payload is not base64url text"))?;
        let (principal, expires) = payload
            .rsplit_once("/exp/")
            .ok_or(malformed("the payload has no expiry"))?;
        let expires: u64 = expires
            .parse()
            .map_err(|_| malformed("the expiry is not a number"))?;
        let id: SpiffeId = format!("spiffe://{principal}")
            .parse()
            .map_err(|_| malformed("the payload holds no valid identity"))?;
        if now >= expires {
            return Err(CaError::TokenExpired {
                id,
                ago_secs: now - expires,
            });
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> SpiffeId {
        SpiffeId::new("cluster.local", "default", "attendees").unwrap()
    }

    #[test]
    fn round_trips() {
        let key = TokenKey::new(&[7; 32]);
        let token = key.mint(&id(), 1_000);
        assert!(token.starts_with("mesh1."));
        assert_eq!(key.verify(&token, 999).unwrap(), id());
    }

    #[test]
    fn tampered_payload_fails_the_mac() {
        let key = TokenKey::new(&[7; 32]);
        let token = key.mint(&id(), 1_000);
        let other = key.mint(
            &SpiffeId::new("cluster.local", "default", "admin").unwrap(),
            1_000,
        );
        // Splice another token's payload in front of this token's MAC.
        let mac = token.rsplit('.').next().unwrap();
        let payload = other.split('.').nth(1).unwrap();
        let forged = format!("mesh1.{payload}.{mac}");
        assert!(matches!(
            key.verify(&forged, 0),
            Err(CaError::TokenSignature)
        ));
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(key.verify(&flipped, 0).is_err());
    }

    #[test]
    fn expired_and_malformed_tokens_say_why_without_echoing() {
        let key = TokenKey::new(&[7; 32]);
        let token = key.mint(&id(), 1_000);
        let err = key.verify(&token, 1_030).unwrap_err().to_string();
        assert!(err.contains("expired 30 s ago"), "{err}");
        assert!(
            err.contains("spiffe://cluster.local/ns/default/sa/attendees"),
            "{err}"
        );
        assert!(!err.contains(&token), "{err}");
        for bad in [
            "",
            "mesh1",
            "mesh1.a",
            "mesh2.a.b",
            "mesh1.a.b.c",
            "mesh1.a.!!",
        ] {
            let err = key.verify(bad, 0).unwrap_err();
            assert!(matches!(err, CaError::MalformedToken(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn another_key_rejects() {
        let token = TokenKey::new(&[7; 32]).mint(&id(), 1_000);
        let err = TokenKey::new(&[8; 32]).verify(&token, 0).unwrap_err();
        assert!(matches!(err, CaError::TokenSignature), "{err}");
    }
}
