//! Unit tests of the translation, the rebuilt policy, the protocol state
//! and the bootstrap.

#[path = "../../../tests/support/xds_fixtures.rs"]
mod fixtures;

mod bootstrap;
mod cluster_tls;
mod inbound;
mod policy;
mod settle;
mod state;
mod translate;

use envoy_types::pb::google::protobuf::Any;

use super::{Kind, ResourceError, Resources};

/// The error `any` is rejected with.
fn rejected(kind: Kind, any: Any) -> String {
    Resources::new()
        .insert(kind, &any)
        .map(|name| panic!("{name} was accepted"))
        .unwrap_err()
        .to_string()
}

/// Resources holding every `Any` (all must be good).
fn holding(anys: &[Any]) -> Resources {
    let mut r = Resources::new();
    for a in anys {
        let kind = Kind::from_type_url(&a.type_url).unwrap();
        r.insert(kind, a)
            .unwrap_or_else(|e: ResourceError| panic!("{e}"));
    }
    r
}
