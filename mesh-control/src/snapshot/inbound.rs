//! The servers' inbound listeners in a snapshot: one listener per
//! workload, named and addressed for each server when it asks.
//!
//! A server's inbound listener is its workload's listener under its own
//! name and address, so an address's listener changes when its
//! workload's does, or when the address changes workload. Its version
//! follows both: the snapshot version of the later of the two changes.
//! An address no endpoint has gets [`nobody`]'s listener under a version
//! with [`ADDRESSLESS`] set, so that an address which loses its last
//! endpoint is always sent its new listener: without the mark, the
//! versions of its old and new listeners could be equal (every template
//! of the first snapshot has version 1) while the listeners differ.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use envoy_types::pb::envoy::config::listener::v3::Listener;
use mesh_authz::Workload;

use super::{Item, any_of};
use crate::xds::inbound::{self, Inbound, nobody};

/// Set in the version of an inbound listener for an address no endpoint
/// has (see the module's documentation). Snapshot versions count up from
/// 1 by one per change and never reach it.
const ADDRESSLESS: u64 = 1 << 63;

/// One workload's inbound listener and the snapshot version of its last
/// change.
#[derive(Debug)]
struct Template {
    version: u64,
    listener: Listener,
}

/// An endpoint address's workload's listener, and the snapshot version at
/// which it or the address's workload last changed.
#[derive(Clone, Debug)]
struct Addressed {
    template: Arc<Template>,
    version: u64,
}

/// The inbound listeners of one snapshot.
#[derive(Clone, Debug, Default)]
pub(super) struct InboundListeners {
    templates: BTreeMap<Arc<Workload>, Arc<Template>>,
    addresses: BTreeMap<SocketAddr, Addressed>,
}

impl InboundListeners {
    /// The inbound listeners after `self` for `now`, built for snapshot
    /// `version`: what did not change keeps its version (and is shared).
    pub(super) fn next(&self, now: Inbound, version: u64) -> Self {
        let templates: BTreeMap<Arc<Workload>, Arc<Template>> = now
            .templates
            .into_iter()
            .map(|(workload, listener)| {
                let template = match self.templates.get(&workload) {
                    Some(old) if old.listener == listener => old.clone(),
                    _ => Arc::new(Template { version, listener }),
                };
                (workload, template)
            })
            .collect();
        let addresses = now
            .addresses
            .into_iter()
            .filter_map(|(addr, workload)| {
                let template = templates.get(&workload)?.clone();
                let version = match self.addresses.get(&addr) {
                    Some(old) if Arc::ptr_eq(&old.template, &template) => old.version,
                    _ => version,
                };
                Some((addr, Addressed { template, version }))
            })
            .collect();
        Self {
            templates,
            addresses,
        }
    }

    /// The inbound listener named `name`, or `None` when `name` is not an
    /// inbound listener name with an address.
    pub(super) fn resolve(&self, name: String) -> Option<Item> {
        let addr = inbound::address_of(&name)?;
        let (template, version) = match self.addresses.get(&addr) {
            Some(at) => (&at.template, at.version),
            None => {
                let template = self.templates.get(&nobody())?;
                (template, template.version | ADDRESSLESS)
            }
        };
        let listener = inbound::for_address(&template.listener, &name)?;
        Some(Item {
            any: any_of(&listener),
            name,
            version,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use mesh_authz::{Action, AuthorizationPolicy, Rule};
    use mesh_core::policy::{Endpoint, Policy, Service};
    use prost::Message;

    use super::*;
    use crate::snapshot::{Interest, Snapshot};
    use crate::xds::LISTENER_TYPE;

    const A: &str = "10.0.0.1:50051";
    const B: &str = "10.0.0.2:50051";

    /// `services`, and a policy that denies everything to `app: web`, so
    /// that `web`'s inbound listener differs from every other workload's.
    fn policy(services: Vec<Service>) -> Arc<Policy> {
        let deny_web = AuthorizationPolicy {
            name: "deny-web".into(),
            namespace: "default".into(),
            selector: Some([("app".to_owned(), "web".to_owned())].into()),
            action: Action::Deny,
            rules: vec![Rule::default()],
        };
        let mut b = Policy::builder().authorization_policy(deny_web);
        for s in services {
            b = b.service(s);
        }
        Arc::new(b.build().expect("a valid policy"))
    }

    fn labelled(addr: &str, app: &str) -> Endpoint {
        Endpoint::new(addr.parse().expect("an address")).label("app", app)
    }

    /// The inbound listeners of `addrs` in `snapshot`: version and content.
    fn listeners(snapshot: &Snapshot, addrs: &[&str]) -> Vec<(u64, Listener)> {
        let names: BTreeSet<String> = addrs
            .iter()
            .map(|a| inbound::name(a.parse().expect("an address")))
            .collect();
        let interest = Interest {
            wildcard: false,
            names,
        };
        snapshot
            .resolve(LISTENER_TYPE, &interest)
            .into_iter()
            .map(|i| {
                let l = Listener::decode(i.any.value.as_slice()).expect("a listener");
                (i.version, l)
            })
            .collect()
    }

    /// The inbound listener of [`A`] in `snapshot`: version and content.
    fn at_a(snapshot: &Snapshot) -> (u64, Listener) {
        let [one] = <[_; 1]>::try_from(listeners(snapshot, &[A])).expect("one listener");
        one
    }

    /// `web` at [`A`] and `api` at [`B`].
    fn web_at_a_api_at_b() -> Arc<Policy> {
        policy(vec![
            Service::new("web").endpoint(labelled(A, "web")),
            Service::new("api").endpoint(labelled(B, "api")),
        ])
    }

    #[test]
    fn addresses_of_one_workload_share_its_listener_under_their_own_names() {
        let p = policy(vec![
            Service::new("web")
                .endpoint(labelled(A, "web"))
                .endpoint(labelled(B, "web")),
        ]);
        let snap = Snapshot::initial().next(p.clone());
        assert_eq!(snap.inbound.templates.len(), 2, "web's and nobody's");
        let [(_, a), (_, b)] = <[_; 2]>::try_from(listeners(&snap, &[A, B])).expect("two");
        assert_eq!(a.name, inbound::name(A.parse().expect("an address")));
        assert_eq!(b.name, inbound::name(B.parse().expect("an address")));
        assert_eq!(
            a,
            inbound::for_name(&p, &a.name, Default::default()).expect("built alone"),
            "the same listener as one built for that address alone"
        );
    }

    #[test]
    fn an_address_changing_workload_or_losing_its_endpoint_gets_a_new_version() {
        let first = Snapshot::initial().next(web_at_a_api_at_b());
        let (v1, l1) = at_a(&first);

        // A now serves `api`'s workload: a listener built before, new to A.
        let api_at_a = policy(vec![
            Service::new("web").endpoint(labelled(B, "web")),
            Service::new("api").endpoint(labelled(A, "api")),
        ]);
        let second = first.next(api_at_a);
        let (v2, l2) = at_a(&second);
        assert_ne!(v1, v2);
        assert_ne!(l1, l2, "web's listener denies, api's does not");

        // A loses its endpoint: nobody's listener, under another version
        // although nobody's listener dates from the first snapshot.
        let gone = policy(vec![Service::new("web").endpoint(labelled(B, "web"))]);
        let third = second.next(gone.clone());
        let (v3, l3) = at_a(&third);
        assert_ne!(v3, v2);
        assert_eq!(
            first.inbound.templates[&nobody()].version,
            third.inbound.templates[&nobody()].version,
            "nobody's listener has not changed since the first snapshot"
        );
        assert_ne!(v3, v1);
        assert_eq!(
            l3,
            inbound::for_name(&gone, &l3.name, Default::default()).expect("built alone")
        );

        // The same straight from the first snapshot, where A's old
        // listener and nobody's were both built: their versions were equal
        // before the address-less mark, and the server kept web's policy.
        let straight = first.next(gone.clone());
        assert_ne!(at_a(&straight).0, v1);

        // Nothing changed: every version stays.
        let fourth = third.next(gone);
        assert_eq!(at_a(&fourth).0, v3);
    }

    #[test]
    fn an_unchanged_workload_keeps_its_listener_and_version() {
        let first = Snapshot::initial().next(web_at_a_api_at_b());
        // `api` moves to another address; `web` at A is untouched.
        let after = policy(vec![
            Service::new("web").endpoint(labelled(A, "web")),
            Service::new("api").endpoint(labelled("10.0.0.3:50051", "api")),
        ]);
        let second = first.next(after);
        assert_eq!(at_a(&first), at_a(&second));
        let addr = A.parse().expect("an address");
        assert!(Arc::ptr_eq(
            &first.inbound.addresses[&addr].template,
            &second.inbound.addresses[&addr].template
        ));
    }
}
