//! Loading the security kinds: `PeerAuthentication`, `AuthorizationPolicy`,
//! `DestinationRule` TLS modes and the identities of a service's endpoints,
//! and what each mistake in them says.

use mesh_authz::StringMatch;
use mesh_core::config::{ConfigError, LoadOptions, load_str, load_str_with};
use mesh_core::policy::{
    Action, AuthorizationPolicy, Condition, ConditionKey, Labels, MtlsMode, Operation,
    PeerAuthentication, Policy, Rule, Source, UpstreamTls, UpstreamTlsMode,
};
use mesh_identity::SpiffeId;

fn load(yaml: &str) -> Policy {
    load_str("mesh.yaml", yaml).unwrap_or_else(|e| panic!("should load, got:\n{e}"))
}

fn fail(yaml: &str) -> ConfigError {
    match load_str("mesh.yaml", yaml) {
        Ok(_) => panic!("should not load:\n{yaml}"),
        Err(e) => e,
    }
}

/// Asserts that loading `yaml` fails with exactly one problem, printed as
/// `expected`.
fn fails_with(yaml: &str, expected: &str) {
    let err = fail(yaml);
    assert_eq!(err.to_string(), expected, "\n{yaml}");
    assert_eq!(err.problems().len(), 1);
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn exact(s: &str) -> StringMatch {
    StringMatch::Exact(s.to_owned())
}

fn id(s: &str) -> SpiffeId {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

mod authorization;
mod peer_authentication;
mod upstream;

#[test]
fn bad_load_options_are_reported() {
    let options = LoadOptions::new().trust_domain("Not Valid");
    let err = load_str_with("mesh.yaml", "", &options).expect_err("bad trust domain");
    assert!(
        err.to_string()
            .starts_with("load options: trust domain \"Not Valid\" cannot be used"),
        "{err}"
    );
}
