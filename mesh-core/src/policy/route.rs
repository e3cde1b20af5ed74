//! Routes: which requests go where, with what timeout and retries.

use std::time::Duration;

use super::{RequestMatch, RequestParts, RetryPolicy};

/// Where a routed request goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Destination {
    /// The destination service's host.
    pub host: String,
    /// The subset, or `None` for all of the service's endpoints.
    pub subset: Option<String>,
    /// The service port, where the service has several.
    pub port: Option<u16>,
}

impl Destination {
    /// A destination with no subset or port.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            subset: None,
            port: None,
        }
    }

    /// Narrows to a subset.
    pub fn subset(mut self, subset: impl Into<String>) -> Self {
        self.subset = Some(subset.into());
        self
    }
}

/// A destination with its share of traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedDestination {
    /// Where to send.
    pub destination: Destination,
    /// Relative weight among the route's destinations.
    pub weight: u32,
}

/// One route: conditions, destinations and behaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The route's name, used in metrics and errors (Istio's `http[].name`,
    /// or the position in the list where it has none).
    pub name: String,
    /// The route applies when any one of these matches (none means always).
    pub matches: Vec<RequestMatch>,
    /// Where matching requests go.
    pub destinations: Vec<WeightedDestination>,
    /// The time limit for the whole request, retries included.
    pub timeout: Option<Duration>,
    /// Retries, if any.
    pub retry: Option<RetryPolicy>,
}

impl Route {
    /// A route matching everything and sending it all to `destination`.
    ///
    /// ```
    /// use mesh_core::policy::{Destination, Route};
    /// let r = Route::to("default", Destination::new("attendees").subset("v1"));
    /// assert_eq!(r.destinations[0].weight, 100);
    /// ```
    pub fn to(name: impl Into<String>, destination: Destination) -> Self {
        Self {
            name: name.into(),
            matches: Vec::new(),
            destinations: vec![WeightedDestination {
                destination,
                weight: 100,
            }],
            timeout: None,
            retry: None,
        }
    }

    /// Adds a condition (alternatives are OR-ed).
    pub fn when(mut self, m: RequestMatch) -> Self {
        self.matches.push(m);
        self
    }

    /// Replaces the destinations with a weighted split.
    pub fn split(mut self, destinations: impl IntoIterator<Item = (Destination, u32)>) -> Self {
        self.destinations = destinations
            .into_iter()
            .map(|(destination, weight)| WeightedDestination {
                destination,
                weight,
            })
            .collect();
        self
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Whether the route applies to the request.
    pub fn matches(&self, req: &RequestParts<'_>) -> bool {
        self.matches.is_empty() || self.matches.iter().any(|m| m.matches(req))
    }
}

/// The ordered routes for one host (an Istio `VirtualService`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTable {
    /// The name of the resource that declared it.
    pub name: String,
    /// Hosts the table applies to.
    pub hosts: Vec<String>,
    /// Routes, first match wins.
    pub routes: Vec<Route>,
}
