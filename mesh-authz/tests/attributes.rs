//! Each request attribute a rule can match: principals, namespaces, hosts,
//! methods, paths, ports and `when` conditions other than headers.

mod common;

use common::*;
use http::Method;
use mesh_authz::{Condition, ConditionKey, Decision, Operation, Rule, Source};

fn from(source: Source) -> Rule {
    Rule {
        from: vec![source],
        ..Rule::default()
    }
}

fn when(key: ConditionKey, values: &[&str], not_values: &[&str]) -> Rule {
    Rule {
        when: vec![Condition {
            key,
            values: sm(values),
            not_values: sm(not_values),
        }],
        ..Rule::default()
    }
}

fn caller(principal: Option<&str>) -> Req {
    Req {
        principal: principal.map(str::to_owned),
        ..Req::default()
    }
}

/// Whether the DENY policy `rule` matches `req` (checked alone).
fn matches(rule: Rule, req: &Req) -> bool {
    let authz = authorizer(&[deny("p", vec![rule.clone()])]);
    let denied = !req.check(&authz).is_allowed();
    // An ALLOW policy with the same rule agrees, for attributes that are
    // never ambiguous.
    let authz = authorizer(&[allow("p", vec![rule])]);
    assert_eq!(req.check(&authz).is_allowed(), denied, "{req:?}");
    denied
}

const FRONTEND: Option<&str> = Some("cluster.local/ns/web/sa/frontend");
const SPIFFE_FRONTEND: Option<&str> = Some("spiffe://cluster.local/ns/web/sa/frontend");

#[test]
fn principals() {
    let principals = |p: &[&str]| {
        from(Source {
            principals: sm(p),
            ..Source::default()
        })
    };
    let rule = principals(&["cluster.local/ns/web/sa/frontend"]);
    assert!(matches(rule.clone(), &caller(FRONTEND)));
    assert!(matches(rule.clone(), &caller(SPIFFE_FRONTEND)));
    assert!(!matches(
        rule.clone(),
        &caller(Some("cluster.local/ns/web/sa/other"))
    ));
    assert!(!matches(rule, &caller(None)));
    assert!(matches(principals(&["*/sa/frontend"]), &caller(FRONTEND)));
    // `*` means "any authenticated caller".
    assert!(matches(principals(&["*"]), &caller(FRONTEND)));
    assert!(!matches(principals(&["*"]), &caller(None)));
}

#[test]
fn not_principals_match_plaintext_callers() {
    let rule = from(Source {
        not_principals: sm(&["cluster.local/ns/web/sa/frontend"]),
        ..Source::default()
    });
    assert!(!matches(rule.clone(), &caller(FRONTEND)));
    assert!(matches(
        rule.clone(),
        &caller(Some("cluster.local/ns/web/sa/x"))
    ));
    assert!(matches(rule, &caller(None)));
    // "Deny every unauthenticated caller", as Istio documents it.
    let rule = from(Source {
        not_principals: sm(&["*"]),
        ..Source::default()
    });
    assert!(matches(rule.clone(), &caller(None)));
    assert!(!matches(rule, &caller(FRONTEND)));
}

#[test]
fn namespaces_come_from_the_principal() {
    let rule = from(Source {
        namespaces: sm(&["web"]),
        ..Source::default()
    });
    assert!(matches(rule.clone(), &caller(FRONTEND)));
    assert!(matches(rule.clone(), &caller(SPIFFE_FRONTEND)));
    assert!(!matches(
        rule.clone(),
        &caller(Some("cluster.local/ns/webx/sa/frontend"))
    ));
    assert!(!matches(rule.clone(), &caller(Some("web"))));
    assert!(!matches(rule, &caller(None)));

    let rule = from(Source {
        not_namespaces: sm(&["web"]),
        ..Source::default()
    });
    assert!(!matches(rule.clone(), &caller(FRONTEND)));
    assert!(matches(
        rule.clone(),
        &caller(Some("cluster.local/ns/db/sa/x"))
    ));
    assert!(matches(rule, &caller(None)));
}

#[test]
fn a_source_needs_all_its_fields_and_any_source_will_do() {
    let web_not_admin = Source {
        namespaces: sm(&["web"]),
        not_principals: sm(&["*/sa/admin"]),
        ..Source::default()
    };
    let rule = from(web_not_admin.clone());
    assert!(matches(rule.clone(), &caller(FRONTEND)));
    assert!(!matches(
        rule,
        &caller(Some("cluster.local/ns/web/sa/admin"))
    ));
    let db = Source {
        namespaces: sm(&["db"]),
        ..Source::default()
    };
    let rule = Rule {
        from: vec![web_not_admin, db],
        ..Rule::default()
    };
    assert!(matches(
        rule.clone(),
        &caller(Some("cluster.local/ns/db/sa/admin"))
    ));
    assert!(!matches(rule, &caller(Some("cluster.local/ns/ops/sa/x"))));
}

fn host(host: &str) -> Req {
    Req {
        host: host.into(),
        ..Req::default()
    }
}

#[test]
fn hosts_ignore_port_and_case() {
    let rule = to(Operation {
        hosts: sm(&["api.example.com", "*.internal"]),
        ..Operation::default()
    });
    for h in [
        "api.example.com",
        "API.Example.COM",
        "api.example.com:8443",
        "api.example.com.",
        "db.internal:5432",
    ] {
        assert!(matches(rule.clone(), &host(h)), "{h}");
    }
    for h in ["example.com", "api.example.com.evil", "internal", ""] {
        assert!(!matches(rule.clone(), &host(h)), "{h}");
    }
    let rule = to(Operation {
        not_hosts: sm(&["admin.example.com"]),
        ..Operation::default()
    });
    assert!(!matches(rule.clone(), &host("ADMIN.example.com:80")));
    assert!(matches(rule, &host("api.example.com")));
}

fn method(method: Method) -> Req {
    Req {
        method,
        ..Req::default()
    }
}

#[test]
fn methods() {
    let rule = to(Operation {
        methods: sm(&["GET", "HEAD"]),
        ..Operation::default()
    });
    assert!(matches(rule.clone(), &method(Method::GET)));
    assert!(!matches(rule.clone(), &method(Method::POST)));
    // Methods are case-sensitive; `get` is not `GET` to a router either.
    assert!(!matches(rule, &method(Method::from_bytes(b"get").unwrap())));
    let rule = to(Operation {
        not_methods: sm(&["POST"]),
        ..Operation::default()
    });
    assert!(!matches(rule.clone(), &method(Method::POST)));
    assert!(matches(rule, &method(Method::DELETE)));
}

#[test]
fn paths_are_case_sensitive_and_exclude_the_query() {
    let rule = paths(&["/api/*", "/health"]);
    assert!(matches(rule.clone(), &Req::path("/api/v1")));
    assert!(matches(rule.clone(), &Req::path("/health")));
    assert!(!matches(rule.clone(), &Req::path("/API/v1")));
    assert!(!matches(rule, &Req::path("/healthz")));
    let rule = to(Operation {
        not_paths: sm(&["/public/*"]),
        ..Operation::default()
    });
    assert!(matches(rule.clone(), &Req::path("/private")));
    assert!(!matches(rule, &Req::path("/public/x")));
}

fn port(port: u16) -> Req {
    Req {
        port,
        ..Req::default()
    }
}

#[test]
fn ports() {
    let rule = to(Operation {
        ports: vec![8080, 9090],
        ..Operation::default()
    });
    assert!(matches(rule.clone(), &port(8080)));
    assert!(!matches(rule, &port(8081)));
    let rule = to(Operation {
        not_ports: vec![15000],
        ..Operation::default()
    });
    assert!(!matches(rule.clone(), &port(15000)));
    assert!(matches(rule, &port(8080)));
}

#[test]
fn an_operation_needs_all_its_fields() {
    let rule = to(Operation {
        methods: sm(&["POST"]),
        paths: sm(&["/admin/*"]),
        ports: vec![8080],
        ..Operation::default()
    });
    let req = Req {
        method: Method::POST,
        path: "/admin/x".into(),
        ..Req::default()
    };
    assert!(matches(rule.clone(), &req));
    assert!(!matches(
        rule.clone(),
        &Req {
            port: 1,
            ..req.clone()
        }
    ));
    assert!(!matches(
        rule.clone(),
        &Req {
            method: Method::GET,
            ..req.clone()
        }
    ));
    assert!(!matches(
        rule,
        &Req {
            path: "/x".into(),
            ..req
        }
    ));
}

#[test]
fn from_to_and_when_must_all_match() {
    let mut rule = paths(&["/admin"]);
    rule.from = vec![Source {
        namespaces: sm(&["ops"]),
        ..Source::default()
    }];
    rule.when = when(ConditionKey::DestinationPort, &["8080"], &[]).when;
    let ops = Req {
        principal: Some("cluster.local/ns/ops/sa/x".into()),
        path: "/admin".into(),
        ..Req::default()
    };
    assert!(matches(rule.clone(), &ops));
    assert!(!matches(
        rule.clone(),
        &Req {
            port: 9090,
            ..ops.clone()
        }
    ));
    assert!(!matches(
        rule.clone(),
        &Req {
            path: "/x".into(),
            ..ops.clone()
        }
    ));
    assert!(!matches(
        rule,
        &Req {
            principal: None,
            ..ops
        }
    ));
}

#[test]
fn source_and_port_conditions() {
    let rule = when(ConditionKey::SourcePrincipal, &["*/sa/frontend"], &[]);
    assert!(matches(rule.clone(), &caller(FRONTEND)));
    assert!(!matches(rule, &caller(None)));
    let rule = when(ConditionKey::SourcePrincipal, &[], &["*/sa/frontend"]);
    assert!(!matches(rule.clone(), &caller(FRONTEND)));
    assert!(matches(rule, &caller(None)));

    let rule = when(ConditionKey::SourceNamespace, &["web", "db"], &[]);
    assert!(matches(rule.clone(), &caller(FRONTEND)));
    assert!(!matches(rule, &caller(None)));
    let rule = when(ConditionKey::SourceNamespace, &[], &["web"]);
    assert!(!matches(rule.clone(), &caller(FRONTEND)));
    assert!(matches(rule, &caller(None)));

    let rule = when(ConditionKey::DestinationPort, &["80*"], &["8081"]);
    assert!(matches(rule.clone(), &port(8080)));
    assert!(matches(rule.clone(), &port(80)));
    assert!(!matches(rule.clone(), &port(8081)));
    assert!(!matches(rule, &port(9090)));
}

#[test]
fn the_allow_path_is_allowed() {
    // A realistic mix: callers from `web` may call the Attendees service.
    let authz = authorizer(&[
        deny("deny-admin", vec![paths(&["/admin/*"])]),
        allow(
            "web-attendees",
            vec![Rule {
                from: vec![Source {
                    namespaces: sm(&["web"]),
                    ..Source::default()
                }],
                to: vec![Operation {
                    methods: sm(&["POST"]),
                    paths: sm(&["/attendees.Attendees/*"]),
                    ..Operation::default()
                }],
                ..Rule::default()
            }],
        ),
    ]);
    let req = Req {
        method: Method::POST,
        path: "/attendees.Attendees/List".into(),
        ..Req::default()
    };
    assert_eq!(req.check(&authz), Decision::Allow);
    assert_eq!(
        Req {
            principal: None,
            ..req
        }
        .check(&authz),
        no_allow("default/web-attendees")
    );
}
