//! Reading gRPC's bootstrap JSON, with errors that name the field.

use serde_json::{Map, Value};

use super::bootstrap::{Bootstrap, BootstrapBuilder, ChannelCreds, Locality, XdsServer};
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
    // `certificate_providers` and `server_listener_resource_name_template`
    // serve features we do not have yet (xDS security, server listeners);
    // istio-agent always writes them, so they are accepted and unused.
    builder.build()
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
