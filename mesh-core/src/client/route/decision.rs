use std::sync::Arc;

use crate::client::retry::Budget;
use crate::mesh::Snapshot;
use crate::policy::{Destination, Route, RouteTable};

/// Which route and destination a request was given, and the snapshot that
/// decided. The route layer puts it in the request's extensions; the layers
/// inside it read their slice of policy from here, so a request sees one
/// policy from start to end however often the mesh is updated meanwhile.
#[derive(Clone, Debug)]
pub struct RouteDecision {
    snapshot: Arc<Snapshot>,
    table: usize,
    route: usize,
    destination: usize,
}

impl RouteDecision {
    pub(crate) fn new(
        snapshot: Arc<Snapshot>,
        table: usize,
        route: usize,
        destination: usize,
    ) -> Self {
        Self {
            snapshot,
            table,
            route,
            destination,
        }
    }

    /// The table, route and destination, as indices into the snapshot.
    pub(crate) fn indices(&self) -> (usize, usize, usize) {
        (self.table, self.route, self.destination)
    }

    /// The snapshot the decision was made on.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// The route table (the `VirtualService`).
    pub fn table(&self) -> &RouteTable {
        &self.snapshot.policy().route_tables()[self.table]
    }

    /// The route that matched.
    pub fn route(&self) -> &Route {
        &self.table().routes[self.route]
    }

    /// The destination chosen among the route's weighted destinations.
    pub fn destination(&self) -> &Destination {
        &self.route().destinations[self.destination].destination
    }

    /// The route's retry budget, if it retries.
    pub fn retry_budget(&self) -> Option<&Arc<Budget>> {
        self.snapshot.retry_budget(self.table, self.route)
    }
}
