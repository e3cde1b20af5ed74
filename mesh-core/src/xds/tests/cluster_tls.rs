//! Cluster TLS (gRFC A29): what is read, and what is rejected.

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::{
    DataSource, Metadata, TransportSocket, data_source, transport_socket,
};
use envoy_types::pb::envoy::extensions::transport_sockets::raw_buffer::v3::RawBuffer;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateProviderPluginInstance, CertificateValidationContext, CommonTlsContext,
    TlsCertificate, UpstreamTlsContext,
    common_tls_context::{
        CertificateProviderInstance, CombinedCertificateValidationContext, ValidationContextType,
    },
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher, string_matcher::MatchPattern,
};
use envoy_types::pb::google::protobuf::Any;
use envoy_types::util::pack_any;

use super::fixtures::*;
use super::{Kind, rejected};
use crate::policy::{UpstreamTls, UpstreamTlsMode};
use crate::xds::Resources;

const C: &str = "outbound|50051||attendees";
const ID: &str = "spiffe://cluster.local/ns/default/sa/attendees";

fn exact(s: &str) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(MatchPattern::Exact(s.into())),
        ignore_case: false,
    }
}

/// What istiod sends proxyless gRPC for an `ISTIO_MUTUAL` destination.
#[allow(deprecated)]
pub(super) fn common(sans: Vec<StringMatcher>) -> CommonTlsContext {
    CommonTlsContext {
        tls_certificate_provider_instance: Some(CertificateProviderPluginInstance {
            instance_name: "default".into(),
            certificate_name: "default".into(),
        }),
        validation_context_type: Some(ValidationContextType::CombinedValidationContext(
            CombinedCertificateValidationContext {
                default_validation_context: Some(CertificateValidationContext {
                    match_subject_alt_names: sans,
                    ..Default::default()
                }),
                validation_context_certificate_provider_instance: Some(
                    CertificateProviderInstance {
                        instance_name: "default".into(),
                        certificate_name: "ROOTCA".into(),
                    },
                ),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

pub(super) fn socket(any: Any) -> TransportSocket {
    TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(any)),
    }
}

fn with_tls(ctx: UpstreamTlsContext) -> Cluster {
    Cluster {
        transport_socket: Some(socket(pack_any(ctx))),
        ..cluster(C, false)
    }
}

fn mutual(sans: Vec<StringMatcher>) -> Cluster {
    with_tls(UpstreamTlsContext {
        common_tls_context: Some(common(sans)),
        ..Default::default()
    })
}

fn with_mode(mut c: Cluster, mode: &str) -> Cluster {
    c.metadata = Some(Metadata {
        filter_metadata: [("mesh.rs".into(), string_struct(&[("tls_mode", mode)]))].into(),
        ..Default::default()
    });
    c
}

fn tls_of(c: Cluster) -> UpstreamTls {
    let mut r = Resources::new();
    r.insert(Kind::Cluster, &any(c))
        .unwrap_or_else(|e| panic!("{e}"));
    r.clusters[C].value.tls.clone()
}

#[test]
fn a_tls_socket_is_mutual_tls_with_its_sans_as_identities() {
    let tls = tls_of(mutual(vec![exact(ID)]));
    assert_eq!(tls, UpstreamTls::mutual([ID.parse().unwrap()]));
    // No SAN matchers: any identity the roots vouch for.
    assert_eq!(tls_of(mutual(vec![])), UpstreamTls::mutual([]));
    // Our metadata keeps AUTO (gRPC ignores it).
    let auto = tls_of(with_mode(mutual(vec![exact(ID)]), "AUTO"));
    assert_eq!(auto.mode, UpstreamTlsMode::Auto);
    assert_eq!(auto.identities, [ID.parse().unwrap()]);
}

#[test]
#[allow(deprecated)]
fn the_older_provider_fields_are_read_too() {
    let ctx = CommonTlsContext {
        tls_certificate_certificate_provider_instance: Some(CertificateProviderInstance {
            instance_name: "default".into(),
            certificate_name: "default".into(),
        }),
        validation_context_type: Some(ValidationContextType::ValidationContext(
            CertificateValidationContext {
                ca_certificate_provider_instance: Some(CertificateProviderPluginInstance {
                    instance_name: "default".into(),
                    certificate_name: "ROOTCA".into(),
                }),
                match_subject_alt_names: vec![exact(ID)],
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    let tls = tls_of(with_tls(UpstreamTlsContext {
        common_tls_context: Some(ctx),
        ..Default::default()
    }));
    assert_eq!(tls, UpstreamTls::mutual([ID.parse().unwrap()]));
}

#[test]
fn no_socket_is_auto_unless_the_metadata_says_disable() {
    assert_eq!(tls_of(cluster(C, false)), UpstreamTls::default());
    assert_eq!(
        tls_of(with_mode(cluster(C, false), "DISABLE")),
        UpstreamTls::disabled()
    );
    assert_eq!(
        rejected(Kind::Cluster, any(with_mode(mutual(vec![]), "DISABLE"))),
        "cluster \"outbound|50051||attendees\": metadata.filter_metadata[\"mesh.rs\"].tls_mode: DISABLE contradicts the cluster's transport_socket"
    );
    assert_eq!(
        rejected(Kind::Cluster, any(with_mode(cluster(C, false), "STRICT"))),
        "cluster \"outbound|50051||attendees\": metadata.filter_metadata[\"mesh.rs\"].tls_mode: \"STRICT\" is not a TLS mode (AUTO or DISABLE)"
    );
}

const SANS: &str = "transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_subject_alt_names";

fn nacked(c: Cluster) -> String {
    let err = rejected(Kind::Cluster, any(c));
    err.strip_prefix("cluster \"outbound|50051||attendees\": ")
        .unwrap_or_else(|| panic!("{err}"))
        .to_owned()
}

#[test]
fn only_exact_spiffe_sans_are_accepted() {
    let regex = StringMatcher {
        match_pattern: Some(MatchPattern::SafeRegex(RegexMatcher {
            regex: "spiffe://.*".into(),
            ..Default::default()
        })),
        ignore_case: false,
    };
    assert_eq!(
        nacked(mutual(vec![exact(ID), regex])),
        format!("{SANS}[1]: a regex SAN matcher (only exact SPIFFE IDs) is not supported yet")
    );
    let prefix = StringMatcher {
        match_pattern: Some(MatchPattern::Prefix("spiffe://cluster.local/".into())),
        ignore_case: false,
    };
    assert_eq!(
        nacked(mutual(vec![prefix])),
        format!("{SANS}[0]: a prefix SAN matcher (only exact SPIFFE IDs) is not supported yet")
    );
    let dns = nacked(mutual(vec![exact("attendees.default.svc")]));
    assert!(
        dns.starts_with(&format!(
            "{SANS}[0].exact: invalid SPIFFE ID \"attendees.default.svc\""
        )),
        "{dns}"
    );
}

#[test]
fn certificates_come_from_the_default_provider_instance_only() {
    let mut inline = common(vec![]);
    inline.tls_certificates = vec![TlsCertificate {
        certificate_chain: Some(DataSource {
            specifier: Some(data_source::Specifier::InlineString("PEM".into())),
            ..Default::default()
        }),
        ..Default::default()
    }];
    let ctx = |common| UpstreamTlsContext {
        common_tls_context: Some(common),
        ..Default::default()
    };
    assert_eq!(
        nacked(with_tls(ctx(inline))),
        "transport_socket.typed_config.common_tls_context.tls_certificates: inline certificates (name a certificate provider instance) is not supported"
    );
    let mut spire = common(vec![]);
    spire
        .tls_certificate_provider_instance
        .as_mut()
        .unwrap()
        .instance_name = "spire".into();
    assert_eq!(
        nacked(with_tls(ctx(spire))),
        "transport_socket.typed_config.common_tls_context.tls_certificate_provider_instance.instance_name: certificate provider instance \"spire\" (only \"default\") is not supported yet"
    );
    let mut no_cert = common(vec![]);
    no_cert.tls_certificate_provider_instance = None;
    assert_eq!(
        nacked(with_tls(ctx(no_cert))),
        "transport_socket.typed_config.common_tls_context.tls_certificate_provider_instance: TLS without a workload certificate (only mutual TLS) is not supported yet"
    );
    let mut no_roots = common(vec![]);
    no_roots.validation_context_type = None;
    assert_eq!(
        nacked(with_tls(ctx(no_roots))),
        "transport_socket.typed_config.common_tls_context.combined_validation_context.validation_context_certificate_provider_instance: missing"
    );
}

#[test]
fn sni_and_other_sockets_are_rejected() {
    let sni = with_tls(UpstreamTlsContext {
        common_tls_context: Some(common(vec![])),
        sni: "attendees".into(),
        ..Default::default()
    });
    assert_eq!(
        nacked(sni),
        "transport_socket.typed_config.sni: sni is not supported yet"
    );
    let raw = Cluster {
        transport_socket: Some(socket(pack_any(RawBuffer {}))),
        ..cluster(C, false)
    };
    assert!(
        nacked(raw).starts_with(
            "transport_socket.typed_config: type_url \"type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer\" is not"
        )
    );
}
