//! Istio's `AuthorizationPolicy` (`security.istio.io`): who may call what
//! on the selected workloads.

use mesh_authz::{
    Action, AuthorizationPolicy, Condition, ConditionKey, ConditionKeyError, Operation, Rule,
    SUPPORTED_KEYS, Source, StringMatch,
};

use super::error::did_you_mean;
use super::walk::{Cx, Field, Obj, Shape, workload_selector};
use super::yaml::Value;

const SPEC: Shape = Shape {
    supported: &["selector", "action", "rules"],
    unsupported: &["targetRef", "targetRefs", "provider"],
};

const RULE: Shape = Shape {
    supported: &["from", "to", "when"],
    unsupported: &[],
};

const FROM: Shape = Shape {
    supported: &["source"],
    unsupported: &[],
};

const SOURCE: Shape = Shape {
    supported: &["principals", "notPrincipals", "namespaces", "notNamespaces"],
    unsupported: &[
        "requestPrincipals",
        "notRequestPrincipals",
        "ipBlocks",
        "notIpBlocks",
        "remoteIpBlocks",
        "notRemoteIpBlocks",
        "serviceAccounts",
        "notServiceAccounts",
    ],
};

const TO: Shape = Shape {
    supported: &["operation"],
    unsupported: &[],
};

const OPERATION: Shape = Shape {
    supported: &[
        "hosts",
        "notHosts",
        "methods",
        "notMethods",
        "paths",
        "notPaths",
        "ports",
        "notPorts",
    ],
    unsupported: &[],
};

const CONDITION: Shape = Shape {
    supported: &["key", "values", "notValues"],
    unsupported: &[],
};

const ACTIONS: &[(&str, Action)] = &[("ALLOW", Action::Allow), ("DENY", Action::Deny)];

const ACTIONS_UNSUPPORTED: &[&str] = &["AUDIT", "CUSTOM"];

/// Reads an `AuthorizationPolicy`'s `spec`; `name` and `namespace` are its
/// metadata. `action` defaults to `ALLOW`. No `rules` and `rules: []` both
/// mean no rules (an ALLOW policy that denies everything); a rule `{}`
/// matches every request.
pub(super) fn read(
    cx: &mut Cx,
    spec: &Field<'_>,
    name: &str,
    namespace: &str,
) -> AuthorizationPolicy {
    let mut out = AuthorizationPolicy {
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        selector: None,
        action: Action::Allow,
        rules: Vec::new(),
    };
    let Some(obj) = spec.object(cx, SPEC) else {
        return out;
    };
    out.selector = obj.get("selector").and_then(|f| workload_selector(cx, &f));
    let action = obj.get("action");
    if let Some(f) = &action
        && let Some(a) = f.choice(cx, "action", ACTIONS, ACTIONS_UNSUPPORTED, None)
    {
        out.action = a;
    }
    let rules = obj.get("rules");
    if let Some(f) = &rules {
        out.rules = f.list(cx).iter().map(|item| rule(cx, item)).collect();
    }
    let rules_ok = rules
        .as_ref()
        .is_none_or(|f| matches!(f.node.value, Value::Seq(_)));
    if out.action == Action::Deny
        && out.rules.is_empty()
        && rules_ok
        && let Some(at) = rules.as_ref().or(action.as_ref())
    {
        // As Istio's validation: such a policy would never apply.
        cx.report(
            at,
            "a DENY policy with no rules denies nothing",
            Some("add an empty rule `{}` to deny every request".into()),
        );
    }
    out
}

fn rule(cx: &mut Cx, field: &Field<'_>) -> Rule {
    let mut out = Rule::default();
    let Some(obj) = field.object(cx, RULE) else {
        return out;
    };
    if let Some(f) = obj.get("from") {
        out.from = non_empty_list(cx, &f, "source")
            .iter()
            .filter_map(|item| source(cx, item))
            .collect();
    }
    if let Some(f) = obj.get("to") {
        out.to = non_empty_list(cx, &f, "operation")
            .iter()
            .filter_map(|item| operation(cx, item))
            .collect();
    }
    if let Some(f) = obj.get("when") {
        out.when = f
            .list(cx)
            .iter()
            .filter_map(|item| condition(cx, item))
            .collect();
    }
    out
}

/// `from` and `to`: an empty list is rejected, as Istio does, rather than
/// read as "any".
fn non_empty_list<'a>(cx: &mut Cx, field: &Field<'a>, what: &str) -> Vec<Field<'a>> {
    let items = field.list(cx);
    if items.is_empty() && matches!(field.node.value, Value::Seq(_)) {
        cx.report(
            field,
            "must not be empty",
            Some(format!("leave it out to match any {what}")),
        );
    }
    items
}

fn source(cx: &mut Cx, field: &Field<'_>) -> Option<Source> {
    let from = field.object(cx, FROM)?;
    let f = from.required(cx, "source")?;
    let obj = f.object(cx, SOURCE)?;
    if is_empty_map(&f) {
        cx.report(
            &f,
            "must not be empty",
            Some("leave the `from` entry out to match any source".into()),
        );
    }
    Some(Source {
        principals: principals(cx, &obj, "principals"),
        not_principals: principals(cx, &obj, "notPrincipals"),
        namespaces: matches(cx, &obj, "namespaces"),
        not_namespaces: matches(cx, &obj, "notNamespaces"),
    })
}

/// `{}`: a `source` or `operation` that constrains nothing, which Istio
/// rejects.
fn is_empty_map(field: &Field<'_>) -> bool {
    matches!(&field.node.value, Value::Map(entries) if entries.is_empty())
}

fn operation(cx: &mut Cx, field: &Field<'_>) -> Option<Operation> {
    let to = field.object(cx, TO)?;
    let f = to.required(cx, "operation")?;
    let obj = f.object(cx, OPERATION)?;
    if is_empty_map(&f) {
        cx.report(
            &f,
            "must not be empty",
            Some("leave the `to` entry out to match any operation".into()),
        );
    }
    Some(Operation {
        hosts: matches(cx, &obj, "hosts"),
        not_hosts: matches(cx, &obj, "notHosts"),
        methods: matches(cx, &obj, "methods"),
        not_methods: matches(cx, &obj, "notMethods"),
        paths: matches(cx, &obj, "paths"),
        not_paths: matches(cx, &obj, "notPaths"),
        ports: ports(cx, &obj, "ports"),
        not_ports: ports(cx, &obj, "notPorts"),
    })
}

fn condition(cx: &mut Cx, field: &Field<'_>) -> Option<Condition> {
    let obj = field.object(cx, CONDITION)?;
    let key = obj.required(cx, "key").and_then(|f| {
        let text = f.name(cx)?;
        ConditionKey::parse(text)
            .map_err(|e| {
                let hint = match e {
                    ConditionKeyError::Unsupported { .. } => {
                        did_you_mean(text, SUPPORTED_KEYS.iter().copied())
                    }
                    _ => None,
                };
                cx.report(&f, e.to_string(), hint);
            })
            .ok()
    });
    let (values, not_values) = if key == Some(ConditionKey::SourcePrincipal) {
        (
            principals(cx, &obj, "values"),
            principals(cx, &obj, "notValues"),
        )
    } else {
        (matches(cx, &obj, "values"), matches(cx, &obj, "notValues"))
    };
    let written = |k: &str| {
        obj.get(k)
            .is_some_and(|f| !matches!(&f.node.value, Value::Seq(items) if items.is_empty()))
    };
    if !written("values") && !written("notValues") {
        cx.report(field, "set at least one of `values` or `notValues`", None);
    }
    Some(Condition {
        key: key?,
        values,
        not_values,
    })
}

/// A list of Istio string matches (`abc`, `abc*`, `*abc`, `*`).
fn matches(cx: &mut Cx, obj: &Obj<'_>, key: &str) -> Vec<StringMatch> {
    let Some(field) = obj.get(key) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in field.list(cx) {
        let Some(text) = item.name(cx) else { continue };
        match StringMatch::parse(text) {
            Ok(m) => out.push(m),
            Err(e) => cx.report(&item, e.to_string(), None),
        }
    }
    out
}

/// Principals, which Istio writes without `spiffe://`: with it, the match
/// would silently never succeed.
fn principals(cx: &mut Cx, obj: &Obj<'_>, key: &str) -> Vec<StringMatch> {
    if let Some(field) = obj.get(key)
        && let Value::Seq(_) = field.node.value
    {
        for item in field.list(cx) {
            if let Value::Str(text) = &item.node.value
                && let Some(rest) = text.strip_prefix("spiffe://")
            {
                cx.report(
                    &item,
                    "principals are written without `spiffe://`",
                    Some(format!("write `{rest}`")),
                );
            }
        }
    }
    matches(cx, obj, key)
}

/// Ports, which Istio writes as strings (`"8080"`); numbers are taken too.
fn ports(cx: &mut Cx, obj: &Obj<'_>, key: &str) -> Vec<u16> {
    let Some(field) = obj.get(key) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in field.list(cx) {
        let port = match &item.node.value {
            Value::Int(_) => item.port(cx),
            Value::Str(text) => {
                let port = text
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| text.parse::<u16>().ok())
                    .flatten()
                    .filter(|p| *p > 0);
                if port.is_none() {
                    cx.report(
                        &item,
                        format!("{text:?} is not a port number"),
                        Some("write a number from 1 to 65535, as in \"8080\"".into()),
                    );
                }
                port
            }
            other => {
                cx.report(
                    &item,
                    format!("expected a port number, found {}", other.describe()),
                    None,
                );
                None
            }
        };
        out.extend(port);
    }
    out
}
