//! Small builders for the protobuf pieces every resource uses.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ApiVersion, ConfigSource, config_source::ConfigSourceSpecifier,
};
use envoy_types::pb::google::protobuf::{self as pbuf, Struct, UInt32Value, Value, value::Kind};

/// `ConfigSource { ads {}, resource_api_version: V3 }`: fetch over the same
/// ADS stream.
pub(crate) fn ads_config_source() -> ConfigSource {
    ConfigSource {
        resource_api_version: ApiVersion::V3 as i32,
        config_source_specifier: Some(ConfigSourceSpecifier::Ads(AggregatedConfigSource {})),
        ..Default::default()
    }
}

/// A protobuf `Duration`.
pub(crate) fn duration(d: Duration) -> pbuf::Duration {
    pbuf::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // Always below 1e9, so it fits.
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf `UInt32Value`.
pub(crate) fn u32_value(value: u32) -> UInt32Value {
    UInt32Value { value }
}

/// A string `Value`.
pub(crate) fn string_value(s: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    }
}

/// A number `Value`.
pub(crate) fn number_value(n: f64) -> Value {
    Value {
        kind: Some(Kind::NumberValue(n)),
    }
}

/// A `Struct` of strings.
pub(crate) fn string_struct(map: &BTreeMap<String, String>) -> Struct {
    Struct {
        fields: map
            .iter()
            .map(|(k, v)| (k.clone(), string_value(v)))
            .collect::<HashMap<_, _>>(),
    }
}

/// A `Value` holding a `Struct`.
pub(crate) fn struct_value(s: Struct) -> Value {
    Value {
        kind: Some(Kind::StructValue(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_keep_their_nanoseconds() {
        let d = duration(Duration::from_millis(1500));
        assert_eq!((d.seconds, d.nanos), (1, 500_000_000));
    }
}
