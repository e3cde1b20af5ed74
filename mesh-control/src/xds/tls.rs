//! TLS transport sockets as istiod sends them to proxyless gRPC (gRFC A29):
//! certificates come from the client's own certificate provider instance
//! `default` (named in its bootstrap), never inline.

use envoy_types::pb::envoy::config::core::v3::{TransportSocket, transport_socket::ConfigType};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateProviderPluginInstance, CertificateValidationContext, CommonTlsContext,
    DownstreamTlsContext, UpstreamTlsContext,
    common_tls_context::{
        CertificateProviderInstance, CombinedCertificateValidationContext, ValidationContextType,
    },
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::google::protobuf::BoolValue;
use envoy_types::util::pack_any;
use mesh_identity::SpiffeId;

/// The transport socket's name gRPC expects.
pub const TLS_TRANSPORT_SOCKET: &str = "envoy.transport_sockets.tls";
/// The certificate provider instance every context names: the workload's
/// certificate and the mesh's roots both come from it.
pub const PROVIDER_INSTANCE: &str = "default";
/// istiod's certificate name for the workload certificate.
const IDENTITY_CERTIFICATE: &str = "default";
/// istiod's certificate name for the roots.
const ROOT_CERTIFICATE: &str = "ROOTCA";

/// The client side: mutual TLS, accepting a server that presents one of
/// `identities` (any identity the roots vouch for when empty).
pub fn upstream(identities: &[SpiffeId]) -> TransportSocket {
    socket(pack_any(UpstreamTlsContext {
        common_tls_context: Some(common(identities)),
        ..Default::default()
    }))
}

/// The server side: TLS that requires a client certificate (STRICT, and
/// the TLS chain of PERMISSIVE).
pub fn downstream() -> TransportSocket {
    socket(pack_any(DownstreamTlsContext {
        common_tls_context: Some(common(&[])),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    }))
}

fn socket(any: envoy_types::pb::google::protobuf::Any) -> TransportSocket {
    TransportSocket {
        name: TLS_TRANSPORT_SOCKET.to_owned(),
        config_type: Some(ConfigType::TypedConfig(any)),
    }
}

/// The certificate from `tls_certificate_provider_instance`; the roots
/// from the combined validation context's provider instance, as istiod
/// sends them (the field is deprecated in Envoy's API and is the one every
/// gRPC release reads).
#[allow(deprecated)]
fn common(identities: &[SpiffeId]) -> CommonTlsContext {
    let match_subject_alt_names = identities
        .iter()
        .map(|id| StringMatcher {
            match_pattern: Some(MatchPattern::Exact(id.to_string())),
            ignore_case: false,
        })
        .collect();
    CommonTlsContext {
        tls_certificate_provider_instance: Some(CertificateProviderPluginInstance {
            instance_name: PROVIDER_INSTANCE.to_owned(),
            certificate_name: IDENTITY_CERTIFICATE.to_owned(),
        }),
        validation_context_type: Some(ValidationContextType::CombinedValidationContext(
            CombinedCertificateValidationContext {
                default_validation_context: Some(CertificateValidationContext {
                    match_subject_alt_names,
                    ..Default::default()
                }),
                validation_context_certificate_provider_instance: Some(
                    CertificateProviderInstance {
                        instance_name: PROVIDER_INSTANCE.to_owned(),
                        certificate_name: ROOT_CERTIFICATE.to_owned(),
                    },
                ),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}
