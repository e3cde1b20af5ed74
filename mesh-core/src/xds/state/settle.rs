//! Make before break: which resources are in force, target by target.

use super::{Resources, State, TargetStatus};

impl State {
    /// Recomputes the resources in force, make before break (as gRPC's
    /// XdsDependencyManager, gRFC A74): a target whose configuration has
    /// settled (everything its routes name has arrived or is known absent,
    /// or the target failed) uses what is held now; one still waiting for
    /// clusters or endpoints keeps what it used when it last settled, so a
    /// new route never sends traffic to clusters whose endpoints are not
    /// here yet. A target that never settled uses what has arrived.
    /// Returns whether they changed.
    pub(crate) fn settle(&mut self) -> bool {
        let mut now = Resources::new();
        let mut waiting = Vec::new();
        for target in &self.targets {
            let pending = self.status(target) == TargetStatus::Pending;
            if pending && self.settled.contains_key(target) {
                waiting.push(target);
                continue;
            }
            let view = self.resources.view(target);
            now.fill_from(&view);
            if !pending {
                self.settled.insert(target.clone(), view);
            }
        }
        // The settled targets come first: where a waiting one shares a
        // resource with them, the newer version stays.
        for old in waiting.into_iter().filter_map(|t| self.settled.get(t)) {
            now.fill_from(old);
        }
        let changed = now != self.in_force;
        self.in_force = now;
        changed
    }

    /// The resources in force: what the policy is built from.
    pub(crate) fn in_force(&self) -> &Resources {
        &self.in_force
    }
}
