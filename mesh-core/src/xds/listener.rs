//! `Listener` -> the route configuration it names and its rate limits.
//!
//! gRPC's client-side listener: an `api_listener` holding an
//! `HttpConnectionManager` that points at a `RouteConfiguration` (over ADS,
//! or inline), with HTTP filters that end in the router.

use envoy_types::pb::envoy::config::core::v3::RuntimeFractionalPercent;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit as RateLimitProto;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager::RouteSpecifier,
    http_filter::ConfigType,
};
use envoy_types::pb::envoy::r#type::v3::fractional_percent::DenominatorType;
use prost::Name;

use super::error::{FieldError, invalid, missing, not_yet};
use super::inbound::{InboundConfig, inbound};
use super::names::{INBOUND_LISTENER_PREFIX, host_of};
use super::proto::{check_ads, positive_duration, unpack};
use super::route::{RouteConfig, route_config};
use crate::policy::{LocalRateLimit, Pattern, StringMatch, TokenBucket};

/// Where a listener's routes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RouteSource {
    /// A `RouteConfiguration` fetched over RDS, by name.
    Rds(String),
    /// A route configuration inside the listener.
    Inline(RouteConfig),
    /// None: a server's inbound listener, whose requests go to the server.
    NonForwarding,
}

/// What a listener says, in plain types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListenerConfig {
    /// The routes.
    pub(crate) route: RouteSource,
    /// Local rate limits, from `local_ratelimit` filters.
    pub(crate) rate_limits: Vec<LocalRateLimit>,
    /// What a server's inbound listener says of its security.
    pub(crate) inbound: Option<InboundConfig>,
}

/// The name prefix of our rate limit filters.
const RATE_LIMIT_FILTER: &str = "envoy.filters.http.local_ratelimit";

/// Translates a listener: a server's inbound listener by its name's
/// prefix, else a client's api listener.
pub(crate) fn listener(l: &Listener) -> Result<ListenerConfig, FieldError> {
    if l.name.starts_with(INBOUND_LISTENER_PREFIX) {
        return Ok(ListenerConfig {
            route: RouteSource::NonForwarding,
            rate_limits: Vec::new(),
            inbound: Some(inbound(l)?),
        });
    }
    let api = l.api_listener.as_ref().ok_or_else(|| {
        not_yet(
            "api_listener",
            "a listener without api_listener (server-side listeners)",
        )
    })?;
    let any = api
        .api_listener
        .as_ref()
        .ok_or_else(|| missing("api_listener.api_listener"))?;
    let hcm: HttpConnectionManager = unpack(any, "api_listener.api_listener")?;
    let route = match hcm.route_specifier {
        Some(RouteSpecifier::Rds(rds)) => {
            check_ads(rds.config_source.as_ref(), "api_listener.rds.config_source")?;
            if rds.route_config_name.is_empty() {
                return Err(missing("api_listener.rds.route_config_name"));
            }
            RouteSource::Rds(rds.route_config_name)
        }
        Some(RouteSpecifier::RouteConfig(rc)) => RouteSource::Inline(
            route_config(&rc).map_err(|e| e.within("api_listener.route_config"))?,
        ),
        Some(RouteSpecifier::ScopedRoutes(_)) => {
            return Err(not_yet("api_listener.route_specifier", "scoped_routes"));
        }
        None => return Err(missing("api_listener.route_specifier")),
    };
    let host = host_of(&l.name);
    let mut rate_limits = Vec::new();
    let last = hcm.http_filters.len().checked_sub(1);
    let mut router = false;
    for (i, f) in hcm.http_filters.iter().enumerate() {
        let field = format!("api_listener.http_filters[{i}]");
        match filter(f, &field, host)? {
            Filter::Router if Some(i) == last => router = true,
            Filter::Router => {
                return Err(invalid(field, "the router must be the last http filter"));
            }
            Filter::RateLimit(limit) => rate_limits.push(limit),
            Filter::Skip => {}
        }
    }
    if !router {
        return Err(invalid(
            "api_listener.http_filters",
            "the last filter must be envoy.filters.http.router",
        ));
    }
    Ok(ListenerConfig {
        route,
        rate_limits,
        inbound: None,
    })
}

/// What one HTTP filter contributes.
enum Filter {
    Router,
    RateLimit(LocalRateLimit),
    /// Disabled, optional and unknown, or a fault filter with no fault.
    Skip,
}

fn filter(f: &HttpFilter, field: &str, host: &str) -> Result<Filter, FieldError> {
    if f.disabled {
        return Ok(Filter::Skip);
    }
    let skip_optional = |what: String| {
        if f.is_optional {
            tracing::debug!(filter = %f.name, "skipping optional http filter: {what}");
            Ok(Filter::Skip)
        } else {
            Err(not_yet(
                field,
                format!("{what} (hint: mark it is_optional if clients may skip it)"),
            ))
        }
    };
    let any = match &f.config_type {
        Some(ConfigType::TypedConfig(any)) => any,
        Some(ConfigType::ConfigDiscovery(_)) => {
            return skip_optional(format!("http filter {:?} with config_discovery", f.name));
        }
        None => return skip_optional(format!("http filter {:?} without typed_config", f.name)),
    };
    let typed = format!("{field}.typed_config");
    if any.type_url == Router::type_url() {
        unpack::<Router>(any, &typed)?;
        return Ok(Filter::Router);
    }
    if any.type_url == RateLimitProto::type_url() {
        let proto: RateLimitProto = unpack(any, &typed)?;
        return rate_limit(&f.name, &proto, host)
            .map(Filter::RateLimit)
            .map_err(|e| e.within(&typed));
    }
    if any.type_url == HttpFault::type_url() {
        let fault: HttpFault = unpack(any, &typed)?;
        // istiod always sends a fault filter; one that injects nothing is a
        // no-op we can honour.
        if fault.delay.is_none() && fault.abort.is_none() {
            return Ok(Filter::Skip);
        }
        return skip_optional("fault injection".to_owned());
    }
    skip_optional(format!("http filter {:?} ({})", f.name, any.type_url))
}

/// Our `local_ratelimit` convention (docs/xds-mapping.md, "Rate limits").
fn rate_limit(filter: &str, p: &RateLimitProto, host: &str) -> Result<LocalRateLimit, FieldError> {
    let name = filter
        .strip_prefix(RATE_LIMIT_FILTER)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|n| !n.is_empty())
        .unwrap_or(if p.stat_prefix.is_empty() {
            filter
        } else {
            &p.stat_prefix
        });
    let tb = p
        .token_bucket
        .as_ref()
        .ok_or_else(|| missing("token_bucket"))?;
    if tb.max_tokens == 0 {
        return Err(invalid("token_bucket.max_tokens", "must be at least 1"));
    }
    let tokens_per_fill = tb.tokens_per_fill.as_ref().map_or(1, |v| v.value);
    if tokens_per_fill == 0 {
        return Err(invalid(
            "token_bucket.tokens_per_fill",
            "must be at least 1",
        ));
    }
    let fill_interval = positive_duration(tb.fill_interval.as_ref(), "token_bucket.fill_interval")?;
    whole(p.filter_enabled.as_ref(), "filter_enabled")?;
    whole(p.filter_enforced.as_ref(), "filter_enforced")?;
    if p.local_rate_limit_per_downstream_connection {
        return Err(not_yet(
            "local_rate_limit_per_downstream_connection",
            "a limit per connection",
        ));
    }
    if !p.rate_limits.is_empty() {
        return Err(not_yet("rate_limits", "descriptor actions"));
    }
    let path = match p.descriptors.as_slice() {
        [] => None,
        [d] => {
            if d.token_bucket.is_some() {
                return Err(not_yet(
                    "descriptors[0].token_bucket",
                    "a bucket per descriptor",
                ));
            }
            let [entry] = d.entries.as_slice() else {
                return Err(not_yet("descriptors[0].entries", "more than one entry"));
            };
            let pattern = |s: &str| {
                Pattern::new(s)
                    .map_err(|e| invalid("descriptors[0].entries[0].value", e.to_string()))
            };
            Some(match entry.key.as_str() {
                "path_exact" => StringMatch::Exact(entry.value.clone()),
                "path_prefix" => StringMatch::Prefix(entry.value.clone()),
                "path_regex" => StringMatch::Regex(pattern(&entry.value)?),
                other => {
                    return Err(not_yet(
                        "descriptors[0].entries[0].key",
                        format!("{other:?} (only path_exact, path_prefix, path_regex)"),
                    ));
                }
            })
        }
        _ => return Err(not_yet("descriptors", "more than one descriptor")),
    };
    Ok(LocalRateLimit {
        name: name.to_owned(),
        host: host.to_owned(),
        path,
        bucket: TokenBucket {
            max_tokens: tb.max_tokens,
            tokens_per_fill,
            fill_interval,
        },
    })
}

/// A runtime fraction that must be 100 % (partial enforcement is not in
/// the model).
fn whole(p: Option<&RuntimeFractionalPercent>, field: &str) -> Result<(), FieldError> {
    let fp = p
        .and_then(|p| p.default_value.as_ref())
        .ok_or_else(|| missing(format!("{field}.default_value")))?;
    let full = match DenominatorType::try_from(fp.denominator) {
        Ok(DenominatorType::Hundred) => 100,
        Ok(DenominatorType::TenThousand) => 10_000,
        Ok(DenominatorType::Million) => 1_000_000,
        Err(_) => {
            return Err(invalid(
                format!("{field}.default_value.denominator"),
                "unknown",
            ));
        }
    };
    if fp.numerator != full {
        return Err(not_yet(field, "a share below 100 %"));
    }
    Ok(())
}
