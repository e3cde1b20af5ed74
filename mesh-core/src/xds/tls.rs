//! TLS transport sockets (gRFC A29) -> what the model can say of them.
//!
//! Certificates come from a certificate provider instance (named in gRPC's
//! bootstrap `certificate_providers`); ours knows one, `default`, the one
//! istiod names. Only mutual TLS, only provider instances (no inline or SDS
//! certificates), and only exact SPIFFE IDs as SAN matchers are accepted.

use envoy_types::pb::envoy::config::core::v3::{TransportSocket, transport_socket::ConfigType};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, UpstreamTlsContext,
    common_tls_context::ValidationContextType,
};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use envoy_types::pb::google::protobuf::Any;
use mesh_identity::SpiffeId;

use super::error::{FieldError, invalid, missing, not_yet, unsupported};
use super::proto::unpack;

/// The only certificate provider instance the data plane knows.
pub(crate) const PROVIDER_INSTANCE: &str = "default";

/// A cluster's transport socket: the identities the servers may present
/// (any the roots vouch for when empty).
pub(crate) fn upstream(socket: &TransportSocket) -> Result<Vec<SpiffeId>, FieldError> {
    let ctx: UpstreamTlsContext = unpack(typed(socket)?, "typed_config")?;
    if !ctx.sni.is_empty() {
        return Err(not_yet("typed_config.sni", "sni"));
    }
    if ctx.auto_host_sni || ctx.auto_sni_san_validation {
        return Err(not_yet("typed_config.auto_host_sni", "automatic sni"));
    }
    let common = ctx
        .common_tls_context
        .as_ref()
        .ok_or_else(|| missing("typed_config.common_tls_context"))?;
    common_tls(common).map_err(|e| e.within("typed_config.common_tls_context"))
}

/// A server filter chain's transport socket: it must require a client
/// certificate (the model's servers do mutual TLS or none).
pub(crate) fn downstream(socket: &TransportSocket) -> Result<(), FieldError> {
    let ctx: DownstreamTlsContext = unpack(typed(socket)?, "typed_config")?;
    if !ctx.require_client_certificate.is_some_and(|b| b.value) {
        return Err(not_yet(
            "typed_config.require_client_certificate",
            "TLS without client certificates (only mutual TLS)",
        ));
    }
    if ctx.require_sni.is_some_and(|b| b.value) {
        return Err(not_yet("typed_config.require_sni", "requiring sni"));
    }
    let common = ctx
        .common_tls_context
        .as_ref()
        .ok_or_else(|| missing("typed_config.common_tls_context"))?;
    let sans = common_tls(common).map_err(|e| e.within("typed_config.common_tls_context"))?;
    if !sans.is_empty() {
        return Err(not_yet(
            "typed_config.common_tls_context.combined_validation_context.default_validation_context.match_subject_alt_names",
            "checking client SANs on a server (use an AuthorizationPolicy)",
        ));
    }
    Ok(())
}

fn typed(socket: &TransportSocket) -> Result<&Any, FieldError> {
    match &socket.config_type {
        Some(ConfigType::TypedConfig(any)) => Ok(any),
        None => Err(missing("typed_config")),
    }
}

/// The certificate and roots must both come from the `default` instance;
/// returns the SAN matchers as identities.
// The provider instance fields istiod sends are deprecated in Envoy's API
// and still the ones gRPC reads.
#[allow(deprecated)]
fn common_tls(c: &CommonTlsContext) -> Result<Vec<SpiffeId>, FieldError> {
    if !c.tls_certificates.is_empty() {
        return Err(unsupported(
            "tls_certificates",
            "inline certificates (name a certificate provider instance)",
        ));
    }
    if !c.tls_certificate_sds_secret_configs.is_empty() {
        return Err(not_yet("tls_certificate_sds_secret_configs", "sds"));
    }
    if c.tls_certificate_certificate_provider.is_some() {
        return Err(not_yet(
            "tls_certificate_certificate_provider",
            "certificate provider plugins in xds (name an instance)",
        ));
    }
    if c.custom_handshaker.is_some() || c.custom_tls_certificate_selector.is_some() {
        return Err(not_yet("custom_handshaker", "custom handshakers"));
    }
    let mut identity = false;
    if let Some(p) = &c.tls_certificate_provider_instance {
        instance(
            &p.instance_name,
            "tls_certificate_provider_instance.instance_name",
        )?;
        identity = true;
    }
    if let Some(p) = &c.tls_certificate_certificate_provider_instance {
        instance(
            &p.instance_name,
            "tls_certificate_certificate_provider_instance.instance_name",
        )?;
        identity = true;
    }
    if !identity {
        return Err(FieldError::new(
            "tls_certificate_provider_instance",
            super::error::Problem::NotYet(
                "TLS without a workload certificate (only mutual TLS)".into(),
            ),
        ));
    }
    let (roots, sans) = match &c.validation_context_type {
        None => (false, Vec::new()),
        Some(ValidationContextType::ValidationContext(v)) => {
            validation(v).map_err(|e| e.within("validation_context"))?
        }
        Some(ValidationContextType::CombinedValidationContext(cv)) => {
            let field = "combined_validation_context";
            if cv.validation_context_sds_secret_config.is_some() {
                return Err(not_yet(
                    format!("{field}.validation_context_sds_secret_config"),
                    "sds",
                ));
            }
            if cv.validation_context_certificate_provider.is_some() {
                return Err(not_yet(
                    format!("{field}.validation_context_certificate_provider"),
                    "certificate provider plugins in xds (name an instance)",
                ));
            }
            let mut roots = false;
            if let Some(p) = &cv.validation_context_certificate_provider_instance {
                instance(
                    &p.instance_name,
                    &format!(
                        "{field}.validation_context_certificate_provider_instance.instance_name"
                    ),
                )?;
                roots = true;
            }
            let (more, sans) = match &cv.default_validation_context {
                Some(v) => validation(v)
                    .map_err(|e| e.within(&format!("{field}.default_validation_context")))?,
                None => (false, Vec::new()),
            };
            (roots || more, sans)
        }
        Some(ValidationContextType::ValidationContextCertificateProviderInstance(p)) => {
            instance(
                &p.instance_name,
                "validation_context_certificate_provider_instance.instance_name",
            )?;
            (true, Vec::new())
        }
        Some(ValidationContextType::ValidationContextSdsSecretConfig(_)) => {
            return Err(not_yet("validation_context_sds_secret_config", "sds"));
        }
        Some(ValidationContextType::ValidationContextCertificateProvider(_)) => {
            return Err(not_yet(
                "validation_context_certificate_provider",
                "certificate provider plugins in xds (name an instance)",
            ));
        }
    };
    if !roots {
        return Err(missing(
            "combined_validation_context.validation_context_certificate_provider_instance",
        ));
    }
    Ok(sans)
}

/// A validation context: whether it names the roots' provider instance,
/// and its SAN matchers.
// `match_subject_alt_names` is deprecated in Envoy's API; istiod and gRPC
// use it.
#[allow(deprecated)]
fn validation(v: &CertificateValidationContext) -> Result<(bool, Vec<SpiffeId>), FieldError> {
    if v.trusted_ca.is_some() {
        return Err(unsupported(
            "trusted_ca",
            "inline roots (name a certificate provider instance)",
        ));
    }
    let unsupported_fields = [
        ("system_root_certs", v.system_root_certs.is_some()),
        ("watched_directory", v.watched_directory.is_some()),
        (
            "verify_certificate_spki",
            !v.verify_certificate_spki.is_empty(),
        ),
        (
            "verify_certificate_hash",
            !v.verify_certificate_hash.is_empty(),
        ),
        ("crl", v.crl.is_some()),
        (
            "custom_validator_config",
            v.custom_validator_config.is_some(),
        ),
        (
            "match_typed_subject_alt_names",
            !v.match_typed_subject_alt_names.is_empty(),
        ),
    ];
    if let Some((field, _)) = unsupported_fields.iter().find(|(_, set)| *set) {
        return Err(not_yet(*field, *field));
    }
    let mut roots = false;
    if let Some(p) = &v.ca_certificate_provider_instance {
        instance(
            &p.instance_name,
            "ca_certificate_provider_instance.instance_name",
        )?;
        roots = true;
    }
    let mut sans = Vec::with_capacity(v.match_subject_alt_names.len());
    for (i, m) in v.match_subject_alt_names.iter().enumerate() {
        let field = format!("match_subject_alt_names[{i}]");
        let what = match &m.match_pattern {
            Some(MatchPattern::Exact(s)) if !m.ignore_case => {
                let id = s
                    .parse::<SpiffeId>()
                    .map_err(|e| invalid(format!("{field}.exact"), e.to_string()))?;
                sans.push(id);
                continue;
            }
            Some(MatchPattern::Exact(_)) => "an exact SAN matcher ignoring case",
            Some(MatchPattern::Prefix(_)) => "a prefix SAN matcher",
            Some(MatchPattern::Suffix(_)) => "a suffix SAN matcher",
            Some(MatchPattern::SafeRegex(_)) => "a regex SAN matcher",
            Some(MatchPattern::Contains(_)) => "a contains SAN matcher",
            Some(MatchPattern::Custom(_)) => "a custom SAN matcher",
            None => return Err(missing(format!("{field}.match_pattern"))),
        };
        return Err(not_yet(field, format!("{what} (only exact SPIFFE IDs)")));
    }
    Ok((roots, sans))
}

/// Only the `default` instance exists.
fn instance(name: &str, field: &str) -> Result<(), FieldError> {
    if name == PROVIDER_INSTANCE {
        return Ok(());
    }
    Err(not_yet(
        field,
        format!("certificate provider instance {name:?} (only \"{PROVIDER_INSTANCE}\")"),
    ))
}
