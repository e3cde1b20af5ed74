//! Builders shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use mesh_authz::{
    Action, AuthorizationPolicy, Authorizer, Decision, DenyReason, Labels, Operation, RequestAttrs,
    Rule, StringMatch, Workload,
};

pub const ROOT: &str = "istio-system";

/// Parses Istio string matches.
pub fn sm(patterns: &[&str]) -> Vec<StringMatch> {
    patterns
        .iter()
        .map(|p| StringMatch::parse(p).expect("a valid string match"))
        .collect()
}

/// The protected workload: `default`, labelled `app=api`.
pub fn workload() -> Workload {
    Workload {
        namespace: "default".into(),
        labels: Labels::from([("app".into(), "api".into())]),
    }
}

pub fn policy(name: &str, action: Action, rules: Vec<Rule>) -> AuthorizationPolicy {
    AuthorizationPolicy {
        name: name.into(),
        namespace: "default".into(),
        selector: None,
        action,
        rules,
    }
}

pub fn allow(name: &str, rules: Vec<Rule>) -> AuthorizationPolicy {
    policy(name, Action::Allow, rules)
}

pub fn deny(name: &str, rules: Vec<Rule>) -> AuthorizationPolicy {
    policy(name, Action::Deny, rules)
}

/// A rule with only a `to` operation.
pub fn to(op: Operation) -> Rule {
    Rule {
        to: vec![op],
        ..Rule::default()
    }
}

/// A rule matching these paths.
pub fn paths(patterns: &[&str]) -> Rule {
    to(Operation {
        paths: sm(patterns),
        ..Operation::default()
    })
}

pub fn authorizer(policies: &[AuthorizationPolicy]) -> Authorizer {
    Authorizer::new(policies, &workload(), ROOT)
}

/// An owned request, borrowed into `RequestAttrs` to check.
#[derive(Clone, Debug)]
pub struct Req {
    pub principal: Option<String>,
    pub host: String,
    pub method: Method,
    pub path: String,
    pub port: u16,
    pub headers: HeaderMap,
}

impl Default for Req {
    fn default() -> Self {
        Req {
            principal: Some("cluster.local/ns/web/sa/frontend".into()),
            host: "api.default.svc.cluster.local:8080".into(),
            method: Method::GET,
            path: "/".into(),
            port: 8080,
            headers: HeaderMap::new(),
        }
    }
}

impl Req {
    pub fn path(path: &str) -> Self {
        Req {
            path: path.into(),
            ..Req::default()
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("a valid header value"),
        );
        self
    }

    pub fn check(&self, authz: &Authorizer) -> Decision {
        authz.check(&RequestAttrs {
            principal: self.principal.as_deref(),
            host: &self.host,
            method: &self.method,
            path: &self.path,
            port: self.port,
            headers: &self.headers,
        })
    }
}

pub fn denied_by(policy: &str) -> Decision {
    Decision::Deny {
        policy: policy.into(),
        reason: DenyReason::DenyPolicyMatched,
    }
}

pub fn no_allow(applicable: &str) -> Decision {
    Decision::Deny {
        policy: applicable.into(),
        reason: DenyReason::NoAllowMatched,
    }
}
