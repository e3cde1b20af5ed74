//! `AuthorizationPolicy`: every supported field, and each mistake.

use super::*;

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
