//! Loading the security kinds: `PeerAuthentication`, `AuthorizationPolicy`,
//! `DestinationRule` TLS modes and the identities of a service's endpoints,
//! and what each mistake in them says.

use mesh_authz::StringMatch;
use mesh_core::config::{ConfigError, LoadOptions, load_str, load_str_with};
use mesh_core::policy::{
    Action, AuthorizationPolicy, Condition, ConditionKey, Labels, MtlsMode, Operation,
    PeerAuthentication, Policy, Rule, Source, UpstreamTls, UpstreamTlsMode,
};
use mesh_identity::SpiffeId;

fn load(yaml: &str) -> Policy {
    load_str("mesh.yaml", yaml).unwrap_or_else(|e| panic!("should load, got:\n{e}"))
}

fn fail(yaml: &str) -> ConfigError {
    match load_str("mesh.yaml", yaml) {
        Ok(_) => panic!("should not load:\n{yaml}"),
        Err(e) => e,
    }
}

/// Asserts that loading `yaml` fails with exactly one problem, printed as
/// `expected`.
fn fails_with(yaml: &str, expected: &str) {
    let err = fail(yaml);
    assert_eq!(err.to_string(), expected, "\n{yaml}");
    assert_eq!(err.problems().len(), 1);
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn exact(s: &str) -> StringMatch {
    StringMatch::Exact(s.to_owned())
}

fn id(s: &str) -> SpiffeId {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// An `AuthorizationPolicy` named `policy` in namespace `shop` whose spec
/// is `spec` (indented by two spaces, starting on line 5).
fn authz(spec: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n\
         metadata: {{name: policy, namespace: shop}}\nspec:\n{spec}"
    )
}

fn authz_policies(yaml: &str) -> Vec<AuthorizationPolicy> {
    load(yaml).security().authorization_policies.clone()
}

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
fn an_authorization_policy_loads_every_supported_field() {
    let policies = authz_policies(&authz(
        r#"  selector:
    matchLabels: {app: cart}
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/web/sa/frontend", "cluster.local/ns/web/*"]
        notPrincipals: ["*/sa/admin"]
    - source:
        namespaces: [web]
        notNamespaces: ["kube-*"]
    to:
    - operation:
        hosts: ["cart", "*.shop.svc.cluster.local"]
        notHosts: [internal]
        methods: [POST]
        notMethods: [DELETE]
        paths: ["/shop.Cart/*"]
        notPaths: ["/shop.Cart/Admin"]
        ports: ["8080", 9090]
        notPorts: ["15000"]
    when:
    - key: request.headers[X-User]
      values: ["*"]
    - key: source.principal
      notValues: ["cluster.local/ns/web/sa/bot"]
    - key: destination.port
      values: ["8080"]
"#,
    ));
    let expected = AuthorizationPolicy {
        name: "policy".into(),
        namespace: "shop".into(),
        selector: Some(labels(&[("app", "cart")])),
        action: Action::Deny,
        rules: vec![Rule {
            from: vec![
                Source {
                    principals: vec![
                        exact("cluster.local/ns/web/sa/frontend"),
                        StringMatch::Prefix("cluster.local/ns/web/".into()),
                    ],
                    not_principals: vec![StringMatch::Suffix("/sa/admin".into())],
                    ..Source::default()
                },
                Source {
                    namespaces: vec![exact("web")],
                    not_namespaces: vec![StringMatch::Prefix("kube-".into())],
                    ..Source::default()
                },
            ],
            to: vec![Operation {
                hosts: vec![
                    exact("cart"),
                    StringMatch::Suffix(".shop.svc.cluster.local".into()),
                ],
                not_hosts: vec![exact("internal")],
                methods: vec![exact("POST")],
                not_methods: vec![exact("DELETE")],
                paths: vec![StringMatch::Prefix("/shop.Cart/".into())],
                not_paths: vec![exact("/shop.Cart/Admin")],
                ports: vec![8080, 9090],
                not_ports: vec![15000],
            }],
            when: vec![
                Condition {
                    key: ConditionKey::RequestHeader(http::HeaderName::from_static("x-user")),
                    values: vec![StringMatch::Presence],
                    not_values: vec![],
                },
                Condition {
                    key: ConditionKey::SourcePrincipal,
                    values: vec![],
                    not_values: vec![exact("cluster.local/ns/web/sa/bot")],
                },
                Condition {
                    key: ConditionKey::DestinationPort,
                    values: vec![exact("8080")],
                    not_values: vec![],
                },
            ],
        }],
    };
    assert_eq!(policies, [expected]);
}

#[test]
fn absent_and_empty_rules_are_no_rules_and_an_empty_rule_matches_everything() {
    let no_rules = AuthorizationPolicy {
        name: "policy".into(),
        namespace: "shop".into(),
        selector: None,
        action: Action::Allow,
        rules: vec![],
    };
    // No `rules`: an ALLOW policy that denies everything.
    assert_eq!(
        authz_policies(&authz("  {}\n")),
        std::slice::from_ref(&no_rules)
    );
    assert_eq!(
        authz_policies(&authz("  action: ALLOW\n")),
        std::slice::from_ref(&no_rules)
    );
    // `rules: []` means the same.
    assert_eq!(
        authz_policies(&authz("  rules: []\n")),
        std::slice::from_ref(&no_rules)
    );
    // `rules: [{}]`: one rule that matches every request.
    let allow_all = AuthorizationPolicy {
        rules: vec![Rule::default()],
        ..no_rules.clone()
    };
    assert_eq!(authz_policies(&authz("  rules: [{}]\n")), [allow_all]);
    // An empty selector is kept as written (it selects every workload).
    let policies = authz_policies(&authz("  selector: {}\n  rules: [{when: []}]\n"));
    assert_eq!(policies[0].selector, Some(Labels::new()));
    assert_eq!(policies[0].rules, [Rule::default()]);
}

#[test]
fn deny_needs_a_rule() {
    fails_with(
        &authz("  action: DENY\n"),
        "mesh.yaml:5: AuthorizationPolicy \"policy\": spec.action: a DENY policy with no rules \
         denies nothing (add an empty rule `{}` to deny every request)",
    );
    fails_with(
        &authz("  action: DENY\n  rules: []\n"),
        "mesh.yaml:6: AuthorizationPolicy \"policy\": spec.rules: a DENY policy with no rules \
         denies nothing (add an empty rule `{}` to deny every request)",
    );
    let policies = authz_policies(&authz("  action: DENY\n  rules: [{}]\n"));
    assert_eq!(policies[0].rules, [Rule::default()]);
}

#[test]
fn a_misspelt_source_field_suggests_the_right_one() {
    fails_with(
        &authz("  rules:\n  - from:\n    - source:\n        notPrinciples: [a]\n"),
        "mesh.yaml:8: AuthorizationPolicy \"policy\": spec.rules[0].from[0].source: \
         unknown field `notPrinciples` (did you mean `notPrincipals`?)",
    );
}

#[test]
fn unsupported_sources_and_targets_say_so() {
    fails_with(
        &authz("  rules:\n  - from:\n    - source:\n        ipBlocks: [10.0.0.0/8]\n"),
        "mesh.yaml:8: AuthorizationPolicy \"policy\": spec.rules[0].from[0].source.ipBlocks: \
         not supported yet",
    );
    fails_with(
        &authz("  rules:\n  - from:\n    - source: {requestPrincipals: [\"*\"]}\n"),
        "mesh.yaml:7: AuthorizationPolicy \"policy\": \
         spec.rules[0].from[0].source.requestPrincipals: not supported yet",
    );
    fails_with(
        &authz("  targetRefs: [{kind: Service, name: cart}]\n  rules: [{}]\n"),
        "mesh.yaml:5: AuthorizationPolicy \"policy\": spec.targetRefs: not supported yet",
    );
}

#[test]
fn audit_and_custom_actions_are_not_supported_yet() {
    fails_with(
        &authz("  action: AUDIT\n  rules: [{}]\n"),
        "mesh.yaml:5: AuthorizationPolicy \"policy\": spec.action: action `AUDIT` is not \
         supported yet",
    );
    let err = fail(&authz("  action: CUSTOM\n  rules: [{}]\n"));
    assert!(
        err.to_string()
            .contains("spec.action: action `CUSTOM` is not supported yet"),
        "{err}"
    );
    fails_with(
        &authz("  action: DENNY\n  rules: [{}]\n"),
        "mesh.yaml:5: AuthorizationPolicy \"policy\": spec.action: unknown action `DENNY` \
         (did you mean `DENY`?)",
    );
}

#[test]
fn a_bad_condition_key_names_the_supported_ones() {
    let err = fail(&authz(
        "  rules:\n  - when:\n    - key: source.ip\n      values: [10.0.0.1]\n",
    ));
    let text = err.to_string();
    assert!(
        text.starts_with(
            "mesh.yaml:7: AuthorizationPolicy \"policy\": spec.rules[0].when[0].key: \
             unsupported condition key \"source.ip\"; supported keys: "
        ),
        "{text}"
    );
    assert!(text.contains("source.principal"), "{text}");
    assert_eq!(err.problems().len(), 1, "{text}");

    let err = fail(&authz(
        "  rules:\n  - when:\n    - key: source.principals\n      values: [a]\n",
    ));
    assert!(
        err.to_string()
            .ends_with("(did you mean `source.principal`?)"),
        "{err}"
    );
    let err = fail(&authz(
        "  rules:\n  - when:\n    - key: \"request.headers[x y]\"\n      values: [a]\n",
    ));
    assert!(
        err.to_string()
            .contains("spec.rules[0].when[0].key: invalid header name \"x y\" in condition key"),
        "{err}"
    );
    fails_with(
        &authz("  rules:\n  - when:\n    - key: source.namespace\n"),
        "mesh.yaml:7: AuthorizationPolicy \"policy\": spec.rules[0].when[0]: \
         set at least one of `values` or `notValues`",
    );
}

#[test]
fn ports_must_be_numbers() {
    fails_with(
        &authz("  rules:\n  - to:\n    - operation:\n        ports: [\"http\"]\n"),
        "mesh.yaml:8: AuthorizationPolicy \"policy\": spec.rules[0].to[0].operation.ports[0]: \
         \"http\" is not a port number (write a number from 1 to 65535, as in \"8080\")",
    );
    let err = fail(&authz(
        "  rules:\n  - to:\n    - operation:\n        notPorts: [\"70000\", 0, \"-1\"]\n",
    ));
    assert_eq!(err.problems().len(), 3, "{err}");
    assert!(
        err.to_string()
            .contains("spec.rules[0].to[0].operation.notPorts[1]: 0 is out of range"),
        "{err}"
    );
}

#[test]
fn string_matches_reject_inner_wildcards_and_spiffe_principals() {
    fails_with(
        &authz("  rules:\n  - to:\n    - operation:\n        paths: [\"/a/*/b\"]\n"),
        "mesh.yaml:8: AuthorizationPolicy \"policy\": spec.rules[0].to[0].operation.paths[0]: \
         unsupported wildcard in \"/a/*/b\": only a single leading `*` (suffix), trailing `*` \
         (prefix) or a lone `*` (presence) is supported",
    );
    fails_with(
        &authz(
            "  rules:\n  - from:\n    - source:\n        principals: [spiffe://cluster.local/ns/a/sa/b]\n",
        ),
        "mesh.yaml:8: AuthorizationPolicy \"policy\": spec.rules[0].from[0].source.principals[0]: \
         principals are written without `spiffe://` (write `cluster.local/ns/a/sa/b`)",
    );
    let err = fail(&authz(
        "  rules:\n  - from:\n    - source:\n        namespaces: [\"\"]\n",
    ));
    assert!(
        err.to_string()
            .contains("source.namespaces[0]: must not be empty"),
        "{err}"
    );
}

#[test]
fn empty_from_to_source_and_operation_are_errors() {
    let err = fail(&authz(
        "  rules:\n  - from: []\n    to: []\n  - from: [{source: {}}]\n    to: [{operation: {}}]\n  - from: [{}]\n",
    ));
    let text = err.to_string();
    for expected in [
        "mesh.yaml:6: AuthorizationPolicy \"policy\": spec.rules[0].from: must not be empty \
         (leave it out to match any source)",
        "spec.rules[0].to: must not be empty (leave it out to match any operation)",
        "spec.rules[1].from[0].source: must not be empty",
        "spec.rules[1].to[0].operation: must not be empty",
        "spec.rules[2].from[0]: missing required field `source`",
    ] {
        assert!(text.contains(expected), "{expected}\n---\n{text}");
    }
    assert_eq!(err.problems().len(), 5, "{text}");
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

#[test]
fn bad_load_options_are_reported() {
    let options = LoadOptions::new().trust_domain("Not Valid");
    let err = load_str_with("mesh.yaml", "", &options).expect_err("bad trust domain");
    assert!(
        err.to_string()
            .starts_with("load options: trust domain \"Not Valid\" cannot be used"),
        "{err}"
    );
}
