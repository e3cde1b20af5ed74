//! `PeerAuthentication`: both API versions, and each mistake.

use super::*;

#[test]
fn peer_authentications_load_in_both_api_versions() {
    let policy = load(
        r#"apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: STRICT}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: cart, namespace: shop}
spec:
  selector: {matchLabels: {app: cart}}
  mtls: {mode: PERMISSIVE}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: legacy}
spec: {mtls: {mode: DISABLE}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: inherit, namespace: shop}
spec: {mtls: {mode: UNSET}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: nothing, namespace: web}
spec: {}
"#,
    );
    let security = policy.security();
    assert_eq!(security.root_namespace, "istio-system");
    let pa = |name: &str, namespace: &str, selector: Option<Labels>, mode| PeerAuthentication {
        name: name.into(),
        namespace: namespace.into(),
        selector,
        mode,
    };
    assert_eq!(
        security.peer_authentications,
        [
            pa("default", "istio-system", None, Some(MtlsMode::Strict)),
            pa(
                "cart",
                "shop",
                Some(labels(&[("app", "cart")])),
                Some(MtlsMode::Permissive)
            ),
            pa("legacy", "default", None, Some(MtlsMode::Disable)),
            pa("inherit", "shop", None, None),
            pa("nothing", "web", None, None),
        ]
    );
    assert!(security.authorization_policies.is_empty());
}

#[test]
fn a_misspelt_mtls_mode_suggests_the_right_one() {
    fails_with(
        "apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata: {name: default}\nspec:\n  mtls:\n    mode: STRIKT\n",
        "mesh.yaml:6: PeerAuthentication \"default\": spec.mtls.mode: unknown mTLS mode `STRIKT` \
         (did you mean `STRICT`?)",
    );
}

#[test]
fn port_level_mtls_is_not_supported_yet() {
    fails_with(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default}\nspec:\n  mtls: {mode: STRICT}\n  portLevelMtls:\n    8080: {mode: DISABLE}\n",
        "mesh.yaml:6: PeerAuthentication \"default\": spec.portLevelMtls: not supported yet",
    );
}

#[test]
fn security_kinds_need_a_security_api_version() {
    let err = fail(
        "apiVersion: networking.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: a}\nspec: {}\n",
    );
    assert!(
        err.to_string().contains(
            "apiVersion: kind `PeerAuthentication` is not served by apiVersion \
             `networking.istio.io/v1` (use `security.istio.io/v1`)"
        ),
        "{err}"
    );
}
