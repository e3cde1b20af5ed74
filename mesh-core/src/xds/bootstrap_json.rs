//! Reading gRPC's bootstrap JSON, with errors that name the field.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use super::bootstrap::{
    Bootstrap, BootstrapBuilder, ChannelCreds, FileWatcherProvider, Locality, XdsServer,
};
use super::error::BootstrapError;

type Obj = Map<String, Value>;

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Obj, BootstrapError> {
    v.as_object()
        .ok_or_else(|| BootstrapError::field(field, "must be a json object"))
}

fn string(obj: &Obj, key: &str, field: &str) -> Result<Option<String>, BootstrapError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(BootstrapError::field(
            format!("{field}{key}"),
            "must be a string",
        )),
    }
}

fn array<'a>(
    obj: &'a Obj,
    key: &str,
    field: &str,
) -> Result<Option<&'a Vec<Value>>, BootstrapError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(BootstrapError::field(
            format!("{field}{key}"),
            "must be a list",
        )),
    }
}

/// Parses the top-level object.
pub(crate) fn parse(v: &Value) -> Result<Bootstrap, BootstrapError> {
    let top = object(v, "(top level)")?;
    let servers = array(top, "xds_servers", "")?
        .ok_or_else(|| BootstrapError::field("xds_servers", "missing"))?;
    if servers.is_empty() {
        return Err(BootstrapError::field(
            "xds_servers",
            "must hold at least one server",
        ));
    }
    let mut builder = BootstrapBuilder::default();
    for (i, s) in servers.iter().enumerate() {
        builder = builder.xds_server(server(s, &format!("xds_servers[{i}]"))?);
    }
    if let Some(node) = top.get("node").filter(|n| !n.is_null()) {
        builder = read_node(builder, object(node, "node")?)?;
    }
    if array(top, "authorities", "")?.is_some_and(|a| !a.is_empty())
        || top
            .get("authorities")
            .and_then(Value::as_object)
            .is_some_and(|a| !a.is_empty())
    {
        return Err(BootstrapError::field(
            "authorities",
            "xds federation is not supported yet",
        ));
    }
    if let Some(t) = string(top, "client_default_listener_resource_name_template", "")?
        && t != "%s"
    {
        return Err(BootstrapError::field(
            "client_default_listener_resource_name_template",
            "templates other than \"%s\" are not supported yet",
        ));
    }
    if let Some(providers) = top.get("certificate_providers").filter(|p| !p.is_null()) {
        for (name, p) in object(providers, "certificate_providers")? {
            let field = format!("certificate_providers.{name}");
            builder = builder.certificate_provider(name, certificate_provider(p, &field)?);
        }
    }
    // `server_listener_resource_name_template`: servers subscribe by
    // address with istiod's template (`XdsClient::watch_inbound`); istio-agent
    // always writes it, so it is accepted and unused.
    builder.build()
}

/// One `certificate_providers` instance: gRFC A29's `file_watcher`.
fn certificate_provider(v: &Value, field: &str) -> Result<FileWatcherProvider, BootstrapError> {
    let obj = object(v, field)?;
    let plugin = string(obj, "plugin_name", &format!("{field}."))?
        .ok_or_else(|| BootstrapError::field(format!("{field}.plugin_name"), "missing"))?;
    if plugin != "file_watcher" {
        return Err(BootstrapError::field(
            format!("{field}.plugin_name"),
            format!("{plugin:?} is not supported; the supported plugin is \"file_watcher\""),
        ));
    }
    let config_field = format!("{field}.config");
    let config = object(
        obj.get("config")
            .ok_or_else(|| BootstrapError::field(&config_field, "missing"))?,
        &config_field,
    )?;
    let prefix = format!("{config_field}.");
    let path = |key: &str| -> Result<PathBuf, BootstrapError> {
        string(config, key, &prefix)?
            .map(PathBuf::from)
            .ok_or_else(|| BootstrapError::field(format!("{prefix}{key}"), "missing"))
    };
    let refresh_interval = match string(config, "refresh_interval", &prefix)? {
        None => FileWatcherProvider::DEFAULT_REFRESH_INTERVAL,
        Some(text) => json_duration(&text).ok_or_else(|| {
            BootstrapError::field(
                format!("{prefix}refresh_interval"),
                format!("{text:?} is not a duration such as \"600s\""),
            )
        })?,
    };
    Ok(FileWatcherProvider {
        certificate_file: path("certificate_file")?,
        private_key_file: path("private_key_file")?,
        ca_certificate_file: path("ca_certificate_file")?,
        refresh_interval,
    })
}

/// A protobuf JSON duration: seconds with an optional fraction, then `s`.
fn json_duration(text: &str) -> Option<Duration> {
    let secs: f64 = text.strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

fn server(v: &Value, field: &str) -> Result<XdsServer, BootstrapError> {
    let obj = object(v, field)?;
    let prefix = format!("{field}.");
    let uri = string(obj, "server_uri", &prefix)?
        .filter(|u| !u.is_empty())
        .ok_or_else(|| BootstrapError::field(format!("{field}.server_uri"), "missing"))?;
    let creds = array(obj, "channel_creds", &prefix)?
        .ok_or_else(|| BootstrapError::field(format!("{field}.channel_creds"), "missing"))?;
    let mut types = Vec::with_capacity(creds.len());
    for (j, c) in creds.iter().enumerate() {
        let cf = format!("{field}.channel_creds[{j}]");
        let t = string(object(c, &cf)?, "type", &format!("{cf}."))?
            .ok_or_else(|| BootstrapError::field(format!("{cf}.type"), "missing"))?;
        types.push(t);
    }
    // gRPC uses the first type it supports.
    if !types.iter().any(|t| t == "insecure") {
        return Err(BootstrapError::field(
            format!("{field}.channel_creds"),
            format!(
                "no supported type in {types:?}: only \"insecure\" is supported (tls and google_default are not supported yet)"
            ),
        ));
    }
    let mut features = Vec::new();
    for (j, f) in array(obj, "server_features", &prefix)?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let s = f.as_str().ok_or_else(|| {
            BootstrapError::field(format!("{field}.server_features[{j}]"), "must be a string")
        })?;
        features.push(s.to_owned());
    }
    Ok(XdsServer {
        uri,
        creds: ChannelCreds::Insecure,
        features,
    })
}

fn read_node(mut b: BootstrapBuilder, node: &Obj) -> Result<BootstrapBuilder, BootstrapError> {
    if let Some(id) = string(node, "id", "node.")? {
        b = b.node_id(id);
    }
    if let Some(cluster) = string(node, "cluster", "node.")? {
        b = b.node_cluster(cluster);
    }
    if let Some(meta) = node.get("metadata").filter(|m| !m.is_null()) {
        for (k, v) in object(meta, "node.metadata")? {
            b = b.node_metadata(k.clone(), v.clone());
        }
    }
    if let Some(loc) = node.get("locality").filter(|l| !l.is_null()) {
        let loc = object(loc, "node.locality")?;
        let get = |k| string(loc, k, "node.locality.").map(Option::unwrap_or_default);
        b = b.locality(Locality {
            region: get("region")?,
            zone: get("zone")?,
            sub_zone: get("sub_zone")?,
        });
    }
    Ok(b)
}

/// The node as sent in the first request of a stream.
pub(crate) fn node_proto(
    node: &super::bootstrap::Node,
) -> envoy_types::pb::envoy::config::core::v3::Node {
    use envoy_types::pb::envoy::config::core::v3 as core;
    core::Node {
        id: node.id.clone(),
        cluster: node.cluster.clone(),
        metadata: (!node.metadata.is_empty()).then(|| to_struct(&node.metadata)),
        locality: node.locality.as_ref().map(|l| core::Locality {
            region: l.region.clone(),
            zone: l.zone.clone(),
            sub_zone: l.sub_zone.clone(),
        }),
        user_agent_name: "mesh-rs".into(),
        user_agent_version_type: Some(core::node::UserAgentVersionType::UserAgentVersion(
            env!("CARGO_PKG_VERSION").into(),
        )),
        client_features: vec!["envoy.lb.does_not_support_overprovisioning".into()],
        ..Default::default()
    }
}

fn to_struct(map: &Obj) -> envoy_types::pb::google::protobuf::Struct {
    envoy_types::pb::google::protobuf::Struct {
        fields: map.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
    }
}

fn to_value(v: &Value) -> envoy_types::pb::google::protobuf::Value {
    use envoy_types::pb::google::protobuf::{ListValue, value::Kind};
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(ListValue {
            values: a.iter().map(to_value).collect(),
        }),
        Value::Object(o) => Kind::StructValue(to_struct(o)),
    };
    envoy_types::pb::google::protobuf::Value { kind: Some(kind) }
}
