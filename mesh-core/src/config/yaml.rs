//! YAML text to [`Node`]s: plain values that remember the line they were
//! written on, so every later error can point at it.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A YAML value and the line it starts on (0 when unknown).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Node {
    pub(super) value: Value,
    pub(super) line: u64,
}

/// A YAML value, with no schema applied yet.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in the order written (duplicate keys are a syntax error).
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// How the value reads in an error: `found the string "abc"`.
    pub(super) fn describe(&self) -> String {
        match self {
            Value::Null => "nothing".to_owned(),
            Value::Bool(b) => format!("the boolean `{b}`"),
            Value::Int(n) => format!("the number {n}"),
            Value::Float(x) => format!("the number {x:?}"),
            Value::Str(s) => format!("the string {s:?}"),
            Value::Seq(_) => "a list".to_owned(),
            Value::Map(_) => "a map".to_owned(),
        }
    }
}

/// Bad YAML: where, and what the parser said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub(super) line: Option<u64>,
    pub(super) message: String,
}

/// Parses every document of a `---`-separated YAML stream. Empty documents
/// (nothing, or only comments) are skipped.
pub(super) fn parse_documents(text: &str) -> Result<Vec<Node>, SyntaxError> {
    // YAML 1.2 booleans only: `kind: Y` or `version: on` must stay strings.
    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
    };
    serde_saphyr::from_multiple_with_options::<Node>(text, options).map_err(|e| {
        let location = e.location().filter(|l| l.line() > 0);
        let mut message = e.without_snippet().to_string();
        if let Some(l) = location {
            // The parser appends the position; we print the line up front.
            let suffix = format!(" at line {}, column {}", l.line(), l.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = format!("{stripped} (column {})", l.column());
            }
        }
        SyntaxError {
            line: location.map(|l| l.line()),
            message,
        }
    })
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(d)?;
        Ok(Node {
            value: spanned.value,
            line: spanned.referenced.line(),
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_remember_their_lines() {
        let docs =
            parse_documents("# c\na: 1\nb:\n  - x\n---\n---\nkind: Y\n").expect("valid YAML");
        assert_eq!(docs.len(), 2, "the empty document is skipped");
        let Value::Map(entries) = &docs[0].value else {
            panic!("not a map: {:?}", docs[0]);
        };
        assert_eq!(entries[1].0.line, 3);
        let Value::Map(second) = &docs[1].value else {
            panic!("not a map");
        };
        assert_eq!(
            second[0].1.value,
            Value::Str("Y".into()),
            "YAML 1.1 booleans stay strings"
        );
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let err = parse_documents("a: 1\nb:\n  c: [1, 2\n  d: 3\n").expect_err("bad YAML");
        assert_eq!(err.line, Some(4));
        assert!(!err.message.contains("at line"), "{}", err.message);
    }
}
