//! Listener: an `api_listener` holding an HttpConnectionManager that
//! fetches its routes over ADS, with the service's local rate limits (each
//! `is_optional`) before the router.

use envoy_types::pb::envoy::config::core::v3::RuntimeFractionalPercent;
use envoy_types::pb::envoy::config::listener::v3::{ApiListener, Listener};
use envoy_types::pb::envoy::extensions::common::ratelimit::v3::{
    LocalRateLimitDescriptor, rate_limit_descriptor::Entry,
};
use envoy_types::pb::envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit as LocalRateLimitFilter;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager::RouteSpecifier,
    http_filter::ConfigType,
};
use envoy_types::pb::envoy::r#type::v3::{
    FractionalPercent, TokenBucket as PbTokenBucket, fractional_percent::DenominatorType,
};
use envoy_types::util::pack_any;
use mesh_core::policy::{LocalRateLimit, Policy, Service, StringMatch};

use super::proto::{ads_config_source, duration, u32_value};
use super::{host_of, route_config_name};

/// The router filter's name; always the last filter.
pub const ROUTER_FILTER: &str = "envoy.filters.http.router";
/// The local rate limit filter's name, before `/<policy name>`.
pub const RATE_LIMIT_FILTER: &str = "envoy.filters.http.local_ratelimit";

/// The listener for `name` (any spelling of a declared service, with or
/// without a port), or `None` when its host names no declared service.
pub fn for_name(policy: &Policy, name: &str) -> Option<Listener> {
    let service = policy.service(host_of(name))?;
    Some(build(policy, service, name))
}

/// The listener named `name` for `service`. Only its name depends on
/// `name`: every spelling of a service gets the same content.
pub fn build(policy: &Policy, service: &Service, name: &str) -> Listener {
    let mut http_filters: Vec<HttpFilter> = policy
        .rate_limits()
        .iter()
        .filter(|l| {
            policy
                .service(&l.host)
                .is_some_and(|s| s.host == service.host)
        })
        .map(rate_limit_filter)
        .collect();
    http_filters.push(HttpFilter {
        name: ROUTER_FILTER.to_owned(),
        config_type: Some(ConfigType::TypedConfig(pack_any(Router::default()))),
        ..Default::default()
    });
    let hcm = HttpConnectionManager {
        stat_prefix: service.host.clone(),
        route_specifier: Some(RouteSpecifier::Rds(Rds {
            config_source: Some(ads_config_source()),
            route_config_name: route_config_name(service),
        })),
        http_filters,
        ..Default::default()
    };
    Listener {
        name: name.to_owned(),
        api_listener: Some(ApiListener {
            api_listener: Some(pack_any(hcm)),
        }),
        ..Default::default()
    }
}

/// One local rate limit as an optional HTTP filter.
fn rate_limit_filter(limit: &LocalRateLimit) -> HttpFilter {
    let bucket = PbTokenBucket {
        max_tokens: limit.bucket.max_tokens,
        tokens_per_fill: Some(u32_value(limit.bucket.tokens_per_fill)),
        fill_interval: Some(duration(limit.bucket.fill_interval)),
    };
    let descriptors = limit
        .path
        .as_ref()
        .map(|path| {
            let (key, value) = match path {
                StringMatch::Exact(s) => ("path_exact", s.as_str()),
                StringMatch::Prefix(s) => ("path_prefix", s.as_str()),
                StringMatch::Regex(p) => ("path_regex", p.as_str()),
            };
            vec![LocalRateLimitDescriptor {
                entries: vec![Entry {
                    key: key.to_owned(),
                    value: value.to_owned(),
                }],
                // Envoy requires a bucket on each descriptor; it is the same.
                token_bucket: Some(bucket),
                ..Default::default()
            }]
        })
        .unwrap_or_default();
    let config = LocalRateLimitFilter {
        stat_prefix: limit.name.clone(),
        token_bucket: Some(bucket),
        filter_enabled: Some(all_of("local_rate_limit_enabled")),
        filter_enforced: Some(all_of("local_rate_limit_enforced")),
        descriptors,
        ..Default::default()
    };
    HttpFilter {
        name: format!("{RATE_LIMIT_FILTER}/{}", limit.name),
        is_optional: true,
        config_type: Some(ConfigType::TypedConfig(pack_any(config))),
        ..Default::default()
    }
}

/// 100 %, under a runtime key Envoy would let an operator override.
fn all_of(runtime_key: &str) -> RuntimeFractionalPercent {
    RuntimeFractionalPercent {
        default_value: Some(FractionalPercent {
            numerator: 100,
            denominator: DenominatorType::Hundred as i32,
        }),
        runtime_key: runtime_key.to_owned(),
    }
}
