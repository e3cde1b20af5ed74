//! Istio's `VirtualService`, read into a [`RouteTable`] named after it.

use super::matching::request_match;
use super::retry;
use super::walk::{Cx, Field, Shape, hosts};
use crate::policy::{Destination, Route, RouteTable, WeightedDestination};

const SPEC: Shape = Shape {
    supported: &["hosts", "http"],
    unsupported: &["gateways", "tcp", "tls", "exportTo"],
};

const HTTP_ROUTE: Shape = Shape {
    supported: &["name", "match", "route", "timeout", "retries"],
    unsupported: &[
        "redirect",
        "directResponse",
        "delegate",
        "rewrite",
        "fault",
        "mirror",
        "mirrors",
        "mirrorPercentage",
        "mirrorPercent",
        "corsPolicy",
        "headers",
    ],
};

const ROUTE_DESTINATION: Shape = Shape {
    supported: &["destination", "weight"],
    unsupported: &["headers"],
};

const DESTINATION: Shape = Shape {
    supported: &["host", "subset", "port"],
    unsupported: &[],
};

const PORT_SELECTOR: Shape = Shape {
    supported: &["number"],
    unsupported: &[],
};

/// A `VirtualService`: its route table, and where each route was written
/// (so policy errors about a route can point at it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct VirtualServiceSpec {
    pub(super) table: RouteTable,
    pub(super) routes: Vec<RouteSite>,
}

/// Where a route was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RouteSite {
    pub(super) name: String,
    pub(super) path: String,
    pub(super) line: u64,
}

/// Reads `spec` of the `VirtualService` called `name`.
pub(super) fn read(cx: &mut Cx, spec: &Field<'_>, name: &str) -> VirtualServiceSpec {
    let mut out = VirtualServiceSpec {
        table: RouteTable {
            name: name.to_owned(),
            hosts: Vec::new(),
            routes: Vec::new(),
        },
        routes: Vec::new(),
    };
    let Some(obj) = spec.object(cx, SPEC) else {
        return out;
    };
    if let Some(f) = obj.required(cx, "hosts") {
        out.table.hosts = hosts(cx, &f);
    }
    if let Some(http) = obj.required(cx, "http") {
        let routes = http.list(cx);
        if routes.is_empty() {
            cx.report(&http, "needs at least one route", None);
        }
        for (i, f) in routes.iter().enumerate() {
            let route = http_route(cx, f, name, i);
            out.routes.push(RouteSite {
                name: route.name.clone(),
                path: f.path.clone(),
                line: f.node.line,
            });
            out.table.routes.push(route);
        }
    }
    out
}

/// `http[i]`: one route.
fn http_route(cx: &mut Cx, field: &Field<'_>, vs: &str, i: usize) -> Route {
    let mut route = Route {
        name: format!("{vs}.http[{i}]"),
        matches: Vec::new(),
        destinations: Vec::new(),
        timeout: None,
        retry: None,
    };
    let Some(obj) = field.object(cx, HTTP_ROUTE) else {
        return route;
    };
    if let Some(name) = obj.get("name").and_then(|f| f.name(cx)) {
        route.name = name.to_owned();
    }
    if let Some(matches) = obj.get("match") {
        route.matches = matches
            .list(cx)
            .iter()
            .map(|m| request_match(cx, m))
            .collect();
    }
    if let Some(dests) = obj.required(cx, "route") {
        let dests = dests.list(cx);
        if dests.is_empty() {
            cx.report(field, "`route` needs at least one destination", None);
        }
        // Istio: a lone destination without a weight takes all traffic;
        // among several, a missing weight is 0.
        let default_weight = if dests.len() == 1 { 100 } else { 0 };
        route.destinations = dests
            .iter()
            .filter_map(|d| route_destination(cx, d, default_weight))
            .collect();
    }
    if let Some(f) = obj.get("timeout") {
        // `0s` turns the timeout off, as in Istio.
        route.timeout = f.duration(cx).filter(|d| !d.is_zero());
    }
    if let Some(f) = obj.get("retries") {
        route.retry = retry::read(cx, &f);
    }
    route
}

/// `route[j]`: a destination and its weight.
fn route_destination(
    cx: &mut Cx,
    field: &Field<'_>,
    default_weight: u32,
) -> Option<WeightedDestination> {
    let obj = field.object(cx, ROUTE_DESTINATION)?;
    let weight = match obj.get("weight") {
        Some(f) => f.u32(cx)?,
        None => default_weight,
    };
    let dest = obj.required(cx, "destination")?.object(cx, DESTINATION)?;
    let host = dest.required(cx, "host").and_then(|f| f.name(cx));
    let subset = dest.get("subset").and_then(|f| f.name(cx));
    let port = dest
        .get("port")
        .and_then(|f| f.object(cx, PORT_SELECTOR))
        .and_then(|p| p.required(cx, "number"))
        .and_then(|f| f.port(cx));
    let mut destination = Destination::new(host?);
    destination.subset = subset.map(str::to_owned);
    destination.port = port;
    Some(WeightedDestination {
        destination,
        weight,
    })
}
