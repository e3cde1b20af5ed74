use crate::xds::{Bootstrap, BootstrapError, ChannelCreds};

fn err(json: &str) -> String {
    Bootstrap::from_json(json).unwrap_err().to_string()
}

#[test]
fn reads_grpc_bootstrap() {
    let b = Bootstrap::from_json(
        r#"{
          "xds_servers": [
            {"server_uri": "istiod.istio-system.svc:15010", "channel_creds": [{"type": "insecure"}],
             "server_features": ["xds_v3"]},
            {"server_uri": "dns:///backup:15010", "channel_creds": [{"type": "tls"}, {"type": "insecure"}]}
          ],
          "node": {"id": "sidecar~10.0.0.1~a.default~default.svc.cluster.local", "cluster": "attendees",
                   "metadata": {"GENERATOR": "grpc", "NAMESPACE": "default"},
                   "locality": {"zone": "z1"}},
          "certificate_providers": {"default": {"plugin_name": "file_watcher", "config": {}}},
          "server_listener_resource_name_template": "xds.istio.io/grpc/lds/inbound/%s"
        }"#,
    )
    .unwrap();
    assert_eq!(b.servers().len(), 2);
    assert_eq!(
        b.servers()[0].endpoint_uri(),
        "http://istiod.istio-system.svc:15010"
    );
    assert!(b.servers()[0].has_feature("xds_v3"));
    assert_eq!(b.servers()[1].endpoint_uri(), "http://backup:15010");
    assert_eq!(b.servers()[1].creds, ChannelCreds::Insecure);
    assert_eq!(b.node().cluster, "attendees");
    assert_eq!(b.node().metadata["GENERATOR"], "grpc");
    assert_eq!(b.node().locality.as_ref().unwrap().zone, "z1");
    let node = crate::xds::bootstrap_json::node_proto(b.node());
    assert!(node.metadata.unwrap().fields.contains_key("NAMESPACE"));
}

#[test]
fn bad_bootstraps_name_the_field() {
    assert_eq!(err("{}"), "xds bootstrap: xds_servers: missing");
    assert_eq!(
        err(r#"{"xds_servers": []}"#),
        "xds bootstrap: xds_servers: must hold at least one server"
    );
    assert_eq!(
        err(r#"{"xds_servers": [{"channel_creds": [{"type": "insecure"}]}]}"#),
        "xds bootstrap: xds_servers[0].server_uri: missing"
    );
    assert_eq!(
        err(r#"{"xds_servers": [{"server_uri": "a:1"}]}"#),
        "xds bootstrap: xds_servers[0].channel_creds: missing"
    );
    assert_eq!(
        err(r#"{"xds_servers": [{"server_uri": "a:1", "channel_creds": [{"type": "tls"}]}]}"#),
        "xds bootstrap: xds_servers[0].channel_creds: no supported type in [\"tls\"]: only \"insecure\" is supported (tls and google_default are not supported yet)"
    );
    assert_eq!(
        err(r#"{"xds_servers": [{"server_uri": 7, "channel_creds": []}]}"#),
        "xds bootstrap: xds_servers[0].server_uri: must be a string"
    );
    assert_eq!(
        err(
            r#"{"xds_servers": [{"server_uri": "a:1", "channel_creds": [{"type": "insecure"}]}], "node": {"id": 1}}"#
        ),
        "xds bootstrap: node.id: must be a string"
    );
    assert!(err("not json").starts_with("xds bootstrap: not valid json"));
    assert_eq!(
        Bootstrap::builder().build().unwrap_err().to_string(),
        "xds bootstrap: xds_servers: must hold at least one server"
    );
}

#[test]
fn the_environment_names_a_file_or_holds_the_json() {
    let json =
        r#"{"xds_servers": [{"server_uri": "a:1", "channel_creds": [{"type": "insecure"}]}]}"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bootstrap.json");
    std::fs::write(&path, json).unwrap();
    let file = path.display().to_string();
    let b = Bootstrap::from_lookup(|k| (k == "GRPC_XDS_BOOTSTRAP").then(|| file.clone())).unwrap();
    assert_eq!(b.servers()[0].uri, "a:1");
    let b = Bootstrap::from_lookup(|k| (k == "GRPC_XDS_BOOTSTRAP_CONFIG").then(|| json.to_owned()))
        .unwrap();
    assert_eq!(b.servers()[0].uri, "a:1");
    assert!(matches!(
        Bootstrap::from_lookup(|_| None),
        Err(BootstrapError::NotConfigured)
    ));
    let missing = Bootstrap::from_lookup(|k| {
        (k == "GRPC_XDS_BOOTSTRAP").then(|| "/nonexistent/b.json".into())
    });
    assert!(
        missing
            .unwrap_err()
            .to_string()
            .starts_with("xds bootstrap: cannot read \"/nonexistent/b.json\"")
    );
}
