//! Helpers for protobuf's well-known types: durations, `Any`, `Struct`
//! metadata.

use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{ConfigSource, Metadata, config_source};
use envoy_types::pb::google::protobuf::{self as pbuf, Any, Struct, value::Kind as ValueKind};
use prost::{Message, Name};

use super::error::{FieldError, invalid, missing, not_yet};

/// A protobuf duration as a std one; negative or out-of-range is an error.
pub(crate) fn duration(d: &pbuf::Duration, field: &str) -> Result<Duration, FieldError> {
    if d.seconds < 0 || d.nanos < 0 || d.nanos >= 1_000_000_000 {
        return Err(invalid(field, "must be a non-negative duration"));
    }
    Ok(Duration::new(d.seconds as u64, d.nanos as u32))
}

/// A duration that must be set and positive.
pub(crate) fn positive_duration(
    d: Option<&pbuf::Duration>,
    field: &str,
) -> Result<Duration, FieldError> {
    let d = duration(d.ok_or_else(|| missing(field))?, field)?;
    if d.is_zero() {
        return Err(invalid(field, "must be positive"));
    }
    Ok(d)
}

/// Decodes `any` as `T`, checking its type URL.
pub(crate) fn unpack<T: Message + Name + Default>(any: &Any, field: &str) -> Result<T, FieldError> {
    if any.type_url != T::type_url() {
        return Err(invalid(
            field,
            format!("type_url {:?} is not {:?}", any.type_url, T::type_url()),
        ));
    }
    T::decode(any.value.as_slice())
        .map_err(|e| invalid(field, format!("cannot decode {}: {e}", T::full_name())))
}

/// The `Struct` under `filter_metadata[filter]`, if any.
pub(crate) fn filter_struct<'a>(
    metadata: Option<&'a Metadata>,
    filter: &str,
) -> Option<&'a Struct> {
    metadata?.filter_metadata.get(filter)
}

/// A number field of a `Struct`: `Ok(None)` when absent.
pub(crate) fn number(s: &Struct, key: &str, field: &str) -> Result<Option<f64>, FieldError> {
    match s.fields.get(key).and_then(|v| v.kind.as_ref()) {
        None => Ok(None),
        Some(ValueKind::NumberValue(n)) => Ok(Some(*n)),
        Some(_) => Err(invalid(format!("{field}.{key}"), "must be a number")),
    }
}

/// A string field of a `Struct`: `Ok(None)` when absent.
pub(crate) fn string<'a>(
    s: &'a Struct,
    key: &str,
    field: &str,
) -> Result<Option<&'a str>, FieldError> {
    match s.fields.get(key).and_then(|v| v.kind.as_ref()) {
        None => Ok(None),
        Some(ValueKind::StringValue(text)) => Ok(Some(text)),
        Some(_) => Err(invalid(format!("{field}.{key}"), "must be a string")),
    }
}

/// A `Struct` of strings as pairs; anything but a string is an error.
pub(crate) fn string_pairs(s: &Struct, field: &str) -> Result<Vec<(String, String)>, FieldError> {
    let mut out = Vec::with_capacity(s.fields.len());
    for (k, v) in &s.fields {
        match &v.kind {
            Some(ValueKind::StringValue(text)) => out.push((k.clone(), text.clone())),
            _ => return Err(invalid(format!("{field}.{k}"), "must be a string")),
        }
    }
    out.sort();
    Ok(out)
}

/// A `Struct` field holding a `Struct`: `Ok(None)` when absent.
pub(crate) fn sub_struct<'a>(
    s: &'a Struct,
    key: &str,
    field: &str,
) -> Result<Option<&'a Struct>, FieldError> {
    match s.fields.get(key).and_then(|v| v.kind.as_ref()) {
        None => Ok(None),
        Some(ValueKind::StructValue(inner)) => Ok(Some(inner)),
        Some(_) => Err(invalid(format!("{field}.{key}"), "must be a struct")),
    }
}

/// Checks that a config source is `ads` or `self`, as gRPC requires.
// `path` is deprecated, and still has to be named to be refused.
#[allow(deprecated)]
pub(crate) fn check_ads(source: Option<&ConfigSource>, field: &str) -> Result<(), FieldError> {
    let source = source.ok_or_else(|| missing(field))?;
    match &source.config_source_specifier {
        Some(config_source::ConfigSourceSpecifier::Ads(_))
        | Some(config_source::ConfigSourceSpecifier::Self_(_)) => Ok(()),
        None => Err(missing(format!("{field}.config_source_specifier"))),
        Some(other) => {
            let what = match other {
                config_source::ConfigSourceSpecifier::Path(_) => "path",
                config_source::ConfigSourceSpecifier::PathConfigSource(_) => "path_config_source",
                config_source::ConfigSourceSpecifier::ApiConfigSource(_) => "api_config_source",
                _ => "this config source",
            };
            Err(not_yet(
                format!("{field}.config_source_specifier"),
                format!("{what} (only ads and self)"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_convert_and_reject_negatives() {
        let d = pbuf::Duration {
            seconds: 1,
            nanos: 500_000_000,
        };
        assert_eq!(duration(&d, "t").unwrap(), Duration::from_millis(1500));
        let neg = pbuf::Duration {
            seconds: -1,
            nanos: 0,
        };
        assert_eq!(
            duration(&neg, "timeout").unwrap_err().to_string(),
            "timeout: must be a non-negative duration"
        );
        assert_eq!(
            positive_duration(None, "fill_interval")
                .unwrap_err()
                .to_string(),
            "fill_interval: missing"
        );
    }
}
