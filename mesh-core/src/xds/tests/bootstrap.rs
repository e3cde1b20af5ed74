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
          "certificate_providers": {"default": {"plugin_name": "file_watcher", "config": {
            "certificate_file": "/var/lib/istio/data/cert-chain.pem",
            "private_key_file": "/var/lib/istio/data/key.pem",
            "ca_certificate_file": "/var/lib/istio/data/root-cert.pem",
            "refresh_interval": "900s"}}},
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
    let provider = b.certificate_provider("default").unwrap();
    assert_eq!(
        provider.certificate_file,
        std::path::Path::new("/var/lib/istio/data/cert-chain.pem")
    );
    assert_eq!(
        provider.refresh_interval,
        std::time::Duration::from_secs(900)
    );
}

/// A bootstrap whose `default` provider watches `dir`.
fn with_provider(dir: &std::path::Path, extra: &str) -> String {
    format!(
        r#"{{"xds_servers": [{{"server_uri": "127.0.0.1:15010", "channel_creds": [{{"type": "insecure"}}]}}],
            "certificate_providers": {{"default": {{"plugin_name": "file_watcher", "config": {{
              "certificate_file": "{0}/cert.pem", "private_key_file": "{0}/key.pem",
              "ca_certificate_file": "{0}/ca.pem"{extra}}}}}}}}}"#,
        dir.display()
    )
}

#[tokio::test]
async fn the_default_certificate_provider_gives_the_workload_its_identity() {
    use mesh_identity::testing::{LeafOptions, TestCa};
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("example.org");
    let id = ca.id("shop", "cart");
    let leaf = ca.leaf(LeafOptions::new(&id));
    std::fs::write(dir.path().join("cert.pem"), &leaf.chain_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &leaf.key_pem).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.root_pem()).unwrap();
    let b = Bootstrap::from_json(&with_provider(dir.path(), "")).unwrap();
    let identity = b.identity().unwrap();
    assert_eq!(identity.id(), id);
    assert_eq!(identity.trust_domain(), "example.org");

    std::fs::remove_file(dir.path().join("key.pem")).unwrap();
    let err = b.identity().unwrap_err().to_string();
    assert!(
        err.contains("certificate_providers.default") && err.contains("key.pem"),
        "{err}"
    );
}

#[test]
fn bad_certificate_providers_name_the_field() {
    let dir = std::path::Path::new("/nonexistent");
    assert!(
        err(&with_provider(dir, r#", "refresh_interval": "soon""#)).contains(
            "certificate_providers.default.config.refresh_interval: \"soon\" is not a duration"
        ),
    );
    let spiffe = r#"{"xds_servers": [{"server_uri": "x:1", "channel_creds": [{"type": "insecure"}]}],
        "certificate_providers": {"default": {"plugin_name": "spiffe", "config": {}}}}"#;
    assert_eq!(
        err(spiffe),
        "xds bootstrap: certificate_providers.default.plugin_name: \"spiffe\" is not supported; the supported plugin is \"file_watcher\""
    );
    let no_key = r#"{"xds_servers": [{"server_uri": "x:1", "channel_creds": [{"type": "insecure"}]}],
        "certificate_providers": {"default": {"plugin_name": "file_watcher", "config": {
          "certificate_file": "c", "ca_certificate_file": "r"}}}}"#;
    assert_eq!(
        err(no_key),
        "xds bootstrap: certificate_providers.default.config.private_key_file: missing"
    );
    let none = Bootstrap::from_json(
        r#"{"xds_servers": [{"server_uri": "x:1", "channel_creds": [{"type": "insecure"}]}]}"#,
    )
    .unwrap();
    assert!(
        none.identity()
            .unwrap_err()
            .to_string()
            .contains("add a file_watcher instance")
    );
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
