//! Walking a [`Node`] tree with a schema in hand: typed getters that know
//! their field path and record every problem in a [`Cx`] instead of
//! stopping at the first.
//!
//! Getters return `None` (or a default) after recording a problem, so
//! parsing carries on and finds the next one; a resource with any recorded
//! problem is dropped as a whole, so those placeholder values never reach a
//! policy.

use std::time::Duration;

use super::duration::parse_duration;
use super::error::did_you_mean;
use super::yaml::{Node, Value};
use crate::policy::Labels;

/// A problem inside one document, before it knows its file and resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Issue {
    pub(super) field: Option<String>,
    pub(super) line: u64,
    pub(super) message: String,
    pub(super) hint: Option<String>,
}

/// Collects the problems of one document.
#[derive(Debug, Default)]
pub(super) struct Cx {
    pub(super) issues: Vec<Issue>,
}

impl Cx {
    /// Records a problem at `at`.
    pub(super) fn report(
        &mut self,
        at: &Field<'_>,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        self.issues.push(Issue {
            field: (!at.path.is_empty()).then(|| at.path.clone()),
            line: at.node.line,
            message: message.into(),
            hint,
        });
    }
}

/// The names a map may hold: those we read, and those Istio defines that we
/// do not support yet (an error, never silently ignored).
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub(super) supported: &'static [&'static str],
    pub(super) unsupported: &'static [&'static str],
}

/// A node and its path from the document root (`spec.http[0].route`).
#[derive(Debug, Clone)]
pub(super) struct Field<'a> {
    pub(super) node: &'a Node,
    pub(super) path: String,
}

impl<'a> Field<'a> {
    /// The document root.
    pub(super) fn root(node: &'a Node) -> Self {
        Self {
            node,
            path: String::new(),
        }
    }

    fn key(&self, key: &str, node: &'a Node) -> Field<'a> {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        Field { node, path }
    }

    fn expected(&self, cx: &mut Cx, what: &str) {
        cx.report(
            self,
            format!("expected {what}, found {}", self.node.value.describe()),
            None,
        );
    }

    /// A string.
    pub(super) fn str(&self, cx: &mut Cx) -> Option<&'a str> {
        match &self.node.value {
            Value::Str(s) => Some(s),
            _ => {
                self.expected(cx, "a string");
                None
            }
        }
    }

    /// A non-empty string.
    pub(super) fn name(&self, cx: &mut Cx) -> Option<&'a str> {
        let s = self.str(cx)?;
        if s.is_empty() {
            cx.report(self, "must not be empty", None);
            return None;
        }
        Some(s)
    }

    /// An integer in `[min, max]`.
    pub(super) fn int(&self, cx: &mut Cx, min: i128, max: i128) -> Option<i128> {
        match self.node.value {
            Value::Int(n) if (min..=max).contains(&n) => Some(n),
            Value::Int(n) => {
                cx.report(
                    self,
                    format!("{n} is out of range: must be between {min} and {max}"),
                    None,
                );
                None
            }
            _ => {
                self.expected(cx, "an integer");
                None
            }
        }
    }

    /// A non-negative 32-bit integer.
    pub(super) fn u32(&self, cx: &mut Cx) -> Option<u32> {
        self.int(cx, 0, u32::MAX.into())
            .and_then(|n| u32::try_from(n).ok())
    }

    /// A port number, 1 to 65535.
    pub(super) fn port(&self, cx: &mut Cx) -> Option<u16> {
        self.int(cx, 1, u16::MAX.into())
            .and_then(|n| u16::try_from(n).ok())
    }

    /// A number (integer or not).
    pub(super) fn number(&self, cx: &mut Cx) -> Option<f64> {
        match self.node.value {
            // Close enough for a ratio, which is all this reads.
            Value::Int(n) => Some(n as f64),
            Value::Float(x) => Some(x),
            _ => {
                self.expected(cx, "a number");
                None
            }
        }
    }

    /// A boolean.
    pub(super) fn bool(&self, cx: &mut Cx) -> Option<bool> {
        match self.node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.expected(cx, "`true` or `false`");
                None
            }
        }
    }

    /// A duration in Istio's notation (`1.5s`, `200ms`, `1m30s`).
    pub(super) fn duration(&self, cx: &mut Cx) -> Option<Duration> {
        let Value::Str(s) = &self.node.value else {
            self.expected(cx, "a duration such as `1.5s` or `200ms`");
            return None;
        };
        let parsed = parse_duration(s);
        if parsed.is_none() {
            cx.report(
                self,
                format!("invalid duration {s:?}"),
                Some(
                    "write a number and a unit (h, m, s, ms, us, ns), as in `1.5s` or `200ms`"
                        .into(),
                ),
            );
        }
        parsed
    }

    /// One of a fixed set of names, such as an enum's: the value of the
    /// `supported` entry written, "not supported yet" (with `hint`) for an
    /// `unsupported` name, and otherwise "unknown" with the nearest name.
    /// `what` names the field in messages (`mode`, `action`).
    pub(super) fn choice<T: Copy>(
        &self,
        cx: &mut Cx,
        what: &str,
        supported: &[(&str, T)],
        unsupported: &[&str],
        hint: Option<&str>,
    ) -> Option<T> {
        let value = self.str(cx)?;
        if let Some((_, v)) = supported.iter().find(|(name, _)| *name == value) {
            return Some(*v);
        }
        if unsupported.contains(&value) {
            cx.report(
                self,
                format!("{what} `{value}` is not supported yet"),
                hint.map(str::to_owned),
            );
        } else {
            let all = supported
                .iter()
                .map(|(n, _)| *n)
                .chain(unsupported.iter().copied());
            cx.report(
                self,
                format!("unknown {what} `{value}`"),
                did_you_mean(value, all),
            );
        }
        None
    }

    /// The items of a list, each with its path.
    pub(super) fn list(&self, cx: &mut Cx) -> Vec<Field<'a>> {
        match &self.node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, node)| Field {
                    node,
                    path: format!("{}[{i}]", self.path),
                })
                .collect(),
            _ => {
                self.expected(cx, "a list");
                Vec::new()
            }
        }
    }

    /// The entries of a map with free-form keys (labels, headers, ports).
    pub(super) fn entries(&self, cx: &mut Cx) -> Vec<(&'a str, Field<'a>)> {
        let Value::Map(entries) = &self.node.value else {
            self.expected(cx, "a map");
            return Vec::new();
        };
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            match &k.value {
                Value::Str(key) => out.push((key.as_str(), self.key(key, v))),
                other => cx.report(
                    &Field {
                        node: k,
                        path: self.path.clone(),
                    },
                    format!("keys must be strings, found {}", other.describe()),
                    None,
                ),
            }
        }
        out
    }

    /// A map of strings to strings (labels, selectors).
    pub(super) fn labels(&self, cx: &mut Cx) -> Labels {
        let mut labels = Labels::new();
        for (k, v) in self.entries(cx) {
            if let Value::Str(s) = &v.node.value {
                labels.insert(k.to_owned(), s.clone());
            } else {
                cx.report(
                    &v,
                    format!("expected a string, found {}", v.node.value.describe()),
                    Some("quote label values, as in `version: \"1.0\"`".into()),
                );
            }
        }
        labels
    }

    /// A map with a known set of fields. Unknown fields are reported with
    /// the nearest valid name, and Istio fields we do not support yet with
    /// "not supported yet".
    pub(super) fn object(&self, cx: &mut Cx, shape: Shape) -> Option<Obj<'a>> {
        let entries = self.entries(cx);
        if !matches!(self.node.value, Value::Map(_)) {
            return None;
        }
        for (key, field) in &entries {
            if shape.supported.contains(key) {
                continue;
            }
            if shape.unsupported.contains(key) {
                // At the key's line: a block value starts on the next one.
                let at = Field {
                    node: key_node(self.node, key).unwrap_or(field.node),
                    path: field.path.clone(),
                };
                cx.report(&at, "not supported yet", None);
                continue;
            }
            let all = shape.supported.iter().chain(shape.unsupported).copied();
            cx.report(
                &Field {
                    node: key_node(self.node, key).unwrap_or(self.node),
                    path: self.path.clone(),
                },
                format!("unknown field `{key}`"),
                did_you_mean(key, all),
            );
        }
        Some(Obj {
            field: self.clone(),
            entries,
        })
    }
}

fn key_node<'a>(map: &'a Node, key: &str) -> Option<&'a Node> {
    let Value::Map(entries) = &map.value else {
        return None;
    };
    entries
        .iter()
        .map(|(k, _)| k)
        .find(|k| matches!(&k.value, Value::Str(s) if s == key))
}

/// A map whose keys were checked against a [`Shape`].
#[derive(Debug, Clone)]
pub(super) struct Obj<'a> {
    pub(super) field: Field<'a>,
    entries: Vec<(&'a str, Field<'a>)>,
}

impl<'a> Obj<'a> {
    /// The field, if present and not null.
    pub(super) fn get(&self, key: &str) -> Option<Field<'a>> {
        self.entries
            .iter()
            .find(|(k, f)| *k == key && f.node.value != Value::Null)
            .map(|(_, f)| f.clone())
    }

    /// The field, or a "missing required field" problem.
    pub(super) fn required(&self, cx: &mut Cx, key: &str) -> Option<Field<'a>> {
        let field = self.get(key);
        if field.is_none() {
            cx.report(&self.field, format!("missing required field `{key}`"), None);
        }
        field
    }

    /// Whether the field is present and not null.
    pub(super) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// `hosts`: a non-empty list of host names. Wildcards are not supported.
pub(super) fn hosts(cx: &mut Cx, field: &Field<'_>) -> Vec<String> {
    let items = field.list(cx);
    if items.is_empty() && matches!(field.node.value, Value::Seq(_)) {
        cx.report(field, "needs at least one host", None);
    }
    let mut hosts = Vec::with_capacity(items.len());
    for item in items {
        let Some(host) = item.name(cx) else { continue };
        if host.contains('*') {
            cx.report(
                &item,
                format!("wildcard host `{host}` is not supported yet"),
                None,
            );
        } else if host.contains('/') || host.contains(':') {
            cx.report(
                &item,
                format!("`{host}` is not a host name"),
                Some("write the host alone, without a scheme, port or path".into()),
            );
        } else {
            hosts.push(host.to_owned());
        }
    }
    hosts
}

const WORKLOAD_SELECTOR: Shape = Shape {
    supported: &["matchLabels"],
    unsupported: &[],
};

/// A security policy's `selector: {matchLabels: {...}}`; `{}` (or no
/// `matchLabels`) is an empty selector, which selects every workload.
pub(super) fn workload_selector(cx: &mut Cx, field: &Field<'_>) -> Option<Labels> {
    let obj = field.object(cx, WORKLOAD_SELECTOR)?;
    Some(
        obj.get("matchLabels")
            .map(|f| f.labels(cx))
            .unwrap_or_default(),
    )
}
