//! Loading Istio-dialect YAML into a policy: what loads, and what every
//! kind of mistake says.

use std::path::{Path, PathBuf};

use http::{HeaderMap, Method};
use mesh_core::config::{ConfigError, load_path, load_str};
use mesh_core::policy::{Destination, Policy, RequestParts};

/// What each kind of mistake says.
#[path = "config_yaml/errors.rs"]
mod errors;
/// What each supported field turns into.
#[path = "config_yaml/loading.rs"]
mod loading;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A service with v1 and v2 endpoints and subsets, to route to.
const ATTENDEES: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: attendees}
spec:
  hosts: [attendees]
  ports: [{number: 50051, name: grpc}]
  endpoints:
  - {address: 127.0.0.1, ports: {grpc: 50061}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {grpc: 50062}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: attendees}
spec:
  host: attendees
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"#;

/// `ATTENDEES` plus a VirtualService whose `http` list is `http`
/// (indented as list items under `http:`).
fn with_routes(http: &str) -> String {
    format!(
        "{ATTENDEES}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata: {{name: attendees}}\nspec:\n  hosts: [attendees]\n  http:\n{http}"
    )
}

fn load(yaml: &str) -> Policy {
    load_str("test.yaml", yaml).unwrap_or_else(|e| panic!("should load, got:\n{e}"))
}

fn fail(yaml: &str) -> ConfigError {
    match load_str("test.yaml", yaml) {
        Ok(_) => panic!("should not load:\n{yaml}"),
        Err(e) => e,
    }
}

fn request<'a>(path: &'a str, headers: &'a HeaderMap) -> RequestParts<'a> {
    RequestParts {
        path,
        method: &Method::POST,
        authority: Some("attendees:50051"),
        headers,
    }
}

#[test]
fn the_seed_fails_naming_every_typo() {
    let err = load_path(&fixtures().join("seed/seed.yaml")).expect_err("the seed has typos");
    let text = err.to_string();
    assert!(text.contains("unknown apiVersion `networking.istio.io/v1apha3` (did you mean `networking.istio.io/v1alpha3`?)"), "{text}");
    assert!(text.contains("seed.yaml:12: VirtualService \"sessions\": spec.http[0].route[0].destination: unknown field `subnet` (did you mean `subset`?)"), "{text}");
    assert!(text.contains("VirtualService \"attendees\": spec.http[0].route[0].destination: unknown field `subnet`"), "{text}");
    assert!(
        text.contains(
            "DestinationRule \"attendees\": spec: unknown field `subnets` (did you mean `subsets`?)"
        ),
        "{text}"
    );
    // Two typos in each VirtualService, one in each DestinationRule.
    assert_eq!(err.problems().len(), 6, "{text}");
    let p = &err.problems()[1];
    assert_eq!(
        p.field.as_deref(),
        Some("spec.http[0].route[0].destination")
    );
    assert_eq!(p.hint.as_deref(), Some("did you mean `subset`?"));
    assert_eq!(
        p.resource.as_ref().map(|r| r.name.as_str()),
        Some("sessions")
    );
}

#[test]
fn the_corrected_seed_routes_attendees_to_v1() {
    let policy = load_path(&fixtures().join("conference")).unwrap_or_else(|e| panic!("{e}"));
    let table = policy.route_table("attendees").expect("a table");
    assert_eq!(table.name, "attendees");
    assert_eq!(table.routes.len(), 1);
    let route = &table.routes[0];
    assert_eq!(route.name, "attendees.http[0]");
    assert!(route.matches.is_empty());
    assert_eq!(route.destinations.len(), 1);
    assert_eq!(route.destinations[0].weight, 100);
    assert_eq!(
        route.destinations[0].destination,
        Destination::new("attendees").subset("v1")
    );

    let v1 = policy
        .endpoints(&Destination::new("attendees").subset("v1"))
        .expect("v1");
    let addrs: Vec<String> = v1.endpoints.iter().map(|e| e.address.to_string()).collect();
    assert_eq!(addrs, ["127.0.0.1:50061"]);
    let all = policy
        .endpoints(&Destination::new("attendees"))
        .expect("all");
    assert_eq!(all.endpoints.len(), 2, "both WorkloadEntries are selected");
    let sessions = policy
        .endpoints(&Destination::new("sessions").subset("v1"))
        .expect("sessions");
    assert_eq!(sessions.endpoints[0].address.to_string(), "127.0.0.1:50071");
    let svc = policy.service("attendees").expect("service");
    assert_eq!(svc.ports[0].number, 50051);
    assert_eq!(svc.ports[0].name.as_deref(), Some("grpc"));
}

#[test]
fn a_directory_loads_every_yaml_file_and_names_the_right_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.yaml"), ATTENDEES).expect("write");
    std::fs::write(dir.path().join("b.yml"), "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec: {hosts: [attendees], http: [{route: [{destination: {host: attendees, subnet: v1}}]}]}\n").expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not: yaml: at: all").expect("write");
    let err = load_path(dir.path()).expect_err("b.yml has a typo");
    assert_eq!(err.problems().len(), 1, "{err}");
    assert!(err.problems()[0].file.ends_with("b.yml"), "{err}");

    std::fs::write(dir.path().join("b.yml"), "# nothing yet\n").expect("write");
    let policy = load_path(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policy.services().count(), 1);
}

#[test]
fn an_empty_directory_is_an_empty_policy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = load_path(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policy.services().count(), 0);
    assert!(policy.route_tables().is_empty());
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let err = load_path(Path::new("/nonexistent/mesh.yaml")).expect_err("missing");
    assert!(
        err.to_string()
            .starts_with("/nonexistent/mesh.yaml: cannot read: "),
        "{err}"
    );
}
