//! The identities of a service's endpoints and `DestinationRule` TLS
//! modes, and each mistake.

use super::*;

/// A `ServiceEntry` for `cart` in namespace `shop` selecting two
/// `WorkloadEntry`s, with `subjectAltNames` and a `DestinationRule` whose
/// `trafficPolicy` is `traffic_policy`.
fn cart(subject_alt_names: &str, traffic_policy: &str) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: cart, namespace: shop}}
spec:
  hosts: [cart]
  ports: [{{number: 8080, name: http}}]
  workloadSelector: {{labels: {{app: cart}}}}
  subjectAltNames: {subject_alt_names}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: cart-1, namespace: shop}}
spec: {{address: 10.0.0.1, labels: {{app: cart}}, serviceAccount: cart}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: cart-2, namespace: shop}}
spec: {{address: 10.0.0.2, labels: {{app: cart}}, serviceAccount: cart}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: other, namespace: shop}}
spec: {{address: 10.0.0.3, labels: {{app: other}}, serviceAccount: other}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: cart, namespace: shop}}
spec:
  host: cart
  trafficPolicy: {traffic_policy}
"#
    )
}

#[test]
fn identities_come_from_subject_alt_names_and_service_accounts() {
    let yaml = cart(
        "[spiffe://cluster.local/ns/shop/sa/cart, spiffe://other.domain/ns/a/sa/b]",
        "{tls: {mode: ISTIO_MUTUAL}}",
    );
    let policy = load(&yaml);
    let svc = policy.service("cart").expect("cart");
    assert_eq!(
        svc.tls,
        UpstreamTls {
            mode: UpstreamTlsMode::Mutual,
            // Deduplicated, sorted; `other` is not selected.
            identities: vec![
                id("spiffe://cluster.local/ns/shop/sa/cart"),
                id("spiffe://other.domain/ns/a/sa/b"),
            ],
        }
    );

    // The trust domain and root namespace come from the options.
    let options = LoadOptions::new()
        .trust_domain("corp.example")
        .root_namespace("mesh-root");
    let policy =
        load_str_with("mesh.yaml", &cart("[]", "{}"), &options).unwrap_or_else(|e| panic!("{e}"));
    let svc = policy.service("cart").expect("cart");
    assert_eq!(svc.tls.mode, UpstreamTlsMode::Auto);
    assert_eq!(
        svc.tls.identities,
        [id("spiffe://corp.example/ns/shop/sa/cart")]
    );
    assert_eq!(policy.security().root_namespace, "mesh-root");
}

#[test]
fn inline_endpoints_take_the_service_entrys_namespace() {
    let policy = load(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a}\nspec:\n  hosts: [a]\n  ports: [{number: 80}]\n  endpoints: [{address: 10.0.0.1, serviceAccount: web}]\n",
    );
    let svc = policy.service("a").expect("a");
    assert_eq!(
        svc.tls,
        UpstreamTls {
            mode: UpstreamTlsMode::Auto,
            identities: vec![id("spiffe://cluster.local/ns/default/sa/web")],
        }
    );
}

#[test]
fn tls_modes() {
    let mode = |tp: &str| {
        load(&cart("[]", tp))
            .service("cart")
            .expect("cart")
            .tls
            .mode
    };
    assert_eq!(mode("{tls: {mode: ISTIO_MUTUAL}}"), UpstreamTlsMode::Mutual);
    assert_eq!(mode("{tls: {mode: DISABLE}}"), UpstreamTlsMode::Disable);
    assert_eq!(
        mode("{loadBalancer: {simple: ROUND_ROBIN}}"),
        UpstreamTlsMode::Auto
    );
    // A DestinationRule with no ServiceEntry still sets the mode.
    let policy = load(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a, trafficPolicy: {tls: {mode: DISABLE}}}\n",
    );
    assert_eq!(policy.service("a").expect("a").tls, UpstreamTls::disabled());
}

#[test]
fn tls_with_certificate_files_is_not_supported_yet() {
    let err = fail(&cart("[]", "\n    tls: {mode: SIMPLE}"));
    assert_eq!(
        err.to_string(),
        "mesh.yaml:31: DestinationRule \"cart\": spec.trafficPolicy.tls.mode: TLS mode `SIMPLE` \
         is not supported yet (certificates from files are not supported; use `ISTIO_MUTUAL` \
         for the mesh's own)"
    );
    let err = fail(&cart(
        "[]",
        "{tls: {mode: MUTUAL, clientCertificate: /c.pem}}",
    ));
    let text = err.to_string();
    assert!(
        text.contains("TLS mode `MUTUAL` is not supported yet"),
        "{text}"
    );
    assert!(
        text.contains("spec.trafficPolicy.tls.clientCertificate: not supported yet"),
        "{text}"
    );
    let err = fail(&cart("[]", "{tls: {mode: ISTIO_MUTAL}}"));
    assert!(
        err.to_string()
            .contains("unknown TLS mode `ISTIO_MUTAL` (did you mean `ISTIO_MUTUAL`?)"),
        "{err}"
    );
    let err = fail(&cart("[]", "{tls: {}}"));
    assert!(
        err.to_string()
            .contains("spec.trafficPolicy.tls: missing required field `mode`"),
        "{err}"
    );
}

#[test]
fn subset_tls_is_not_supported_yet() {
    let yaml = format!(
        "{}  subsets:\n  - name: v1\n    labels: {{app: cart}}\n    trafficPolicy:\n      tls: {{mode: DISABLE}}\n",
        cart("[]", "{}")
    );
    fails_with(
        &yaml,
        "mesh.yaml:35: DestinationRule \"cart\": spec.subsets[0].trafficPolicy.tls: per-subset \
         `tls` is not supported yet (set `tls` in the DestinationRule's top-level `trafficPolicy`)",
    );
}

#[test]
fn a_bad_spiffe_id_names_the_entry() {
    let err = fail(&cart(
        "\n  - spiffe://cluster.local/ns/shop/sa/cart\n  - cart.shop.svc.cluster.local",
        "{}",
    ));
    assert_eq!(
        err.to_string(),
        "mesh.yaml:10: ServiceEntry \"cart\": spec.subjectAltNames[1]: invalid SPIFFE ID \
         \"cart.shop.svc.cluster.local\": it must start with spiffe:// (only SPIFFE IDs are \
         supported, as in `spiffe://cluster.local/ns/shop/sa/<service account>`)"
    );
    let err = fail(&cart("[spiffe://cluster.local/ns/shop]", "{}"));
    assert!(
        err.to_string().contains(
            "mesh.yaml:8: ServiceEntry \"cart\": spec.subjectAltNames[0]: invalid SPIFFE ID \
             \"spiffe://cluster.local/ns/shop\": expected spiffe://"
        ),
        "{err}"
    );
}

#[test]
fn a_bad_service_account_names_the_workload_entry() {
    let yaml = cart("[]", "{}").replace("serviceAccount: other", "serviceAccount: \"a b\"");
    let err = fail(&yaml);
    assert!(
        err.to_string().starts_with(
            "mesh.yaml:23: WorkloadEntry \"other\": spec.serviceAccount: invalid SPIFFE ID \
             \"spiffe://cluster.local/ns/shop/sa/a b\""
        ),
        "{err}"
    );
}
