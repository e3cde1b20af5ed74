//! What the control plane's CA grants a workload and what it refuses,
//! through the workload's own CA client: a lifetime past the maximum is
//! capped; a certificate for another identity, a forged token and no
//! credentials at all are refused with the CA's reason.

mod support;

use std::time::{Duration, SystemTime};

use mesh::identity::{Identity, IdentityError};
use support::identity::{ca_client, plane_with_ca, spiffe};

#[tokio::test]
async fn an_absurd_lifetime_is_capped_at_the_cas_maximum() {
    let (plane, _dir) = plane_with_ca().await;
    let ten_years = Duration::from_secs(10 * 365 * 24 * 3600);
    let identity = Identity::from_ca(ca_client(&plane, "attendees", ten_years))
        .await
        .expect("issued, with a shorter lifetime");
    let max = plane.ca().expect("the CA is on").config().max_lifetime();
    let not_after = identity.current().expect("valid").not_after();
    assert!(
        not_after <= SystemTime::now() + max,
        "the certificate runs past the CA's maximum of {max:?}"
    );
}

#[tokio::test]
async fn a_certificate_for_someone_elses_identity_is_refused() {
    let (plane, _dir) = plane_with_ca().await;
    // A token for `sessions`, asking for `attendees`.
    let mut client = ca_client(&plane, "sessions", Duration::from_secs(3600));
    client.id = spiffe("attendees");
    let err = Identity::from_ca(client).await.unwrap_err();
    match &err {
        IdentityError::CaRefused { code, message, .. } => {
            assert_eq!(*code, tonic::Code::PermissionDenied, "{err}");
            assert!(
                message.contains(&format!(
                    "asks for {} but the caller is {}",
                    spiffe("attendees"),
                    spiffe("sessions")
                )),
                "{err}"
            );
        }
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test]
async fn a_forged_token_or_none_at_all_is_unauthenticated() {
    let (plane, _dir) = plane_with_ca().await;
    let mut forged = ca_client(&plane, "attendees", Duration::from_secs(3600));
    forged.token = forged.token.map(|t| format!("{t}x"));
    let mut none = ca_client(&plane, "attendees", Duration::from_secs(3600));
    none.token = None;
    for (case, client) in [("forged", forged), ("none", none)] {
        let err = Identity::from_ca(client).await.unwrap_err();
        assert!(
            matches!(
                &err,
                IdentityError::CaRefused {
                    code: tonic::Code::Unauthenticated,
                    ..
                }
            ),
            "{case}: {err}"
        );
    }
}
