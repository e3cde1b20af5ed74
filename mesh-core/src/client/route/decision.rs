use std::sync::Arc;

use crate::client::deadline::RequestDeadline;
use crate::client::retry::Budget;
use crate::mesh::Snapshot;
use crate::policy::{Destination, Route, RouteTable};

/// Which route and destination a request was given, and the snapshot that
/// decided. The route layer puts it in the request's extensions; the layers
/// inside it read their slice of policy from here, so a request sees one
/// policy from start to end however often the mesh is updated meanwhile.
///
/// It is the mesh's only request extension: the deadline layer writes the
/// request's deadline into it rather than adding an extension of its own
/// (each extension is a heap allocation per request), and the retry layer
/// carries it, with the head, into every attempt.
#[derive(Clone, Debug)]
pub struct RouteDecision {
    snapshot: Arc<Snapshot>,
    table: usize,
    route: usize,
    destination: usize,
    deadline: Option<RequestDeadline>,
    report_served_by: bool,
}

impl RouteDecision {
    pub(crate) fn new(
        snapshot: Arc<Snapshot>,
        table: usize,
        route: usize,
        destination: usize,
        report_served_by: bool,
    ) -> Self {
        Self {
            snapshot,
            table,
            route,
            destination,
            deadline: None,
            report_served_by,
        }
    }

    /// When the request must be finished, once the deadline layer has
    /// decided (`None` before it, or when no deadline applies).
    pub fn deadline(&self) -> Option<&RequestDeadline> {
        self.deadline.as_ref()
    }

    pub(crate) fn set_deadline(&mut self, deadline: RequestDeadline) {
        self.deadline = Some(deadline);
    }

    /// Whether the caller asked for [`ServedBy`](crate::client::balance::ServedBy)
    /// on the response (with a [`ReportServedBy`](crate::client::balance::ReportServedBy)
    /// request extension).
    pub fn reports_served_by(&self) -> bool {
        self.report_served_by
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
