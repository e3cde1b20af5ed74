//! What each kind of mistake says, word for word where it matters.

use super::{ATTENDEES, fail, with_routes};
use mesh_core::policy::PolicyError;

#[test]
fn bad_yaml_names_the_file_and_line() {
    let err = fail(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: [a, b\n  x: 1\n",
    );
    let p = err.first().expect("a problem");
    assert_eq!(p.file, "test.yaml");
    assert!(p.line.is_some());
    assert!(
        err.to_string().starts_with(&format!(
            "test.yaml:{}: invalid YAML: ",
            p.line.unwrap_or(0)
        )),
        "{err}"
    );
}

#[test]
fn unknown_kind_and_api_version_suggest_the_nearest() {
    let err = fail(
        "apiVersion: networking.istio.io/v1\nkind: VirtualServce\nmetadata: {name: a}\nspec: {}\n",
    );
    assert!(err.to_string().contains("test.yaml:2: VirtualServce \"a\": kind: unknown kind `VirtualServce` (did you mean `VirtualService`?)"), "{err}");
    let err =
        fail("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: a}\nspec: {}\n");
    assert!(
        err.to_string()
            .contains("kind `Gateway` is not supported yet"),
        "{err}"
    );
    let err = fail(
        "apiVersion: policy.mesh.rs/v1alpha1\nkind: ServiceEntry\nmetadata: {name: a}\nspec: {hosts: [a], ports: [{number: 1}]}\n",
    );
    assert!(err.to_string().contains("apiVersion: kind `ServiceEntry` is not served by apiVersion `policy.mesh.rs/v1alpha1` (use `networking.istio.io/v1`)"), "{err}");
}

#[test]
fn unknown_field_at_depth_has_the_full_path() {
    let err = fail(&with_routes(
        "  - retries: {atempts: 3}\n    route: [{destination: {host: attendees}}]\n",
    ));
    assert!(
        err.to_string()
            .contains("spec.http[0].retries: unknown field `atempts` (did you mean `attempts`?)"),
        "{err}"
    );
}

#[test]
fn missing_required_field() {
    let err = fail(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  http: [{route: [{destination: {host: a}}]}]\n",
    );
    assert!(
        err.to_string()
            .contains("VirtualService \"a\": spec: missing required field `hosts`"),
        "{err}"
    );
}

#[test]
fn wrong_type() {
    let err = fail(&with_routes(
        "  - route:\n    - destination: {host: attendees}\n      weight: \"abc\"\n",
    ));
    assert!(
        err.to_string().contains(
            "spec.http[0].route[0].weight: expected an integer, found the string \"abc\""
        ),
        "{err}"
    );
}

#[test]
fn bad_duration() {
    let err = fail(&with_routes(
        "  - timeout: 5 parsecs\n    route: [{destination: {host: attendees}}]\n",
    ));
    assert!(
        err.to_string().contains(
            "spec.http[0].timeout: invalid duration \"5 parsecs\" (write a number and a unit"
        ),
        "{err}"
    );
}

#[test]
fn bad_regex() {
    let err = fail(&with_routes(
        "  - match: [{uri: {regex: \"/a(\"}}]\n    route: [{destination: {host: attendees}}]\n",
    ));
    let text = err.to_string();
    assert!(
        text.contains("spec.http[0].match[0].uri.regex: invalid regular expression \"/a(\": "),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn unknown_retry_on_name_suggests_the_nearest() {
    let err = fail(&with_routes(
        "  - retries: {retryOn: \"5xx,conect-failure\"}\n    route: [{destination: {host: attendees}}]\n",
    ));
    assert!(err.to_string().contains("spec.http[0].retries.retryOn: unknown retry condition `conect-failure` (did you mean `connect-failure`?)"), "{err}");
}

#[test]
fn unsupported_istio_fields_say_so() {
    let err = fail(&with_routes(
        "  - fault: {abort: {httpStatus: 503}}\n    route: [{destination: {host: attendees}}]\n",
    ));
    assert!(
        err.to_string()
            .contains("VirtualService \"attendees\": spec.http[0].fault: not supported yet"),
        "{err}"
    );
}

#[test]
fn dns_is_not_supported() {
    let err = fail(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a}\nspec:\n  hosts: [a]\n  resolution: DNS\n  ports: [{number: 80}]\n  endpoints: [{address: a.example.com}]\n",
    );
    let text = err.to_string();
    assert!(
        text.contains("spec.resolution: `DNS` is not supported yet"),
        "{text}"
    );
    assert!(text.contains("spec.endpoints[0].address: `a.example.com` is not an IP address; DNS resolution is not supported yet"), "{text}");
}

#[test]
fn route_to_an_unknown_subset_names_the_file_and_virtual_service() {
    let err = fail(&with_routes(
        "  - route: [{destination: {host: attendees, subset: v3}}]\n",
    ));
    let p = err.first().expect("a problem");
    assert_eq!(p.file, "test.yaml");
    assert_eq!(
        p.resource.as_ref().map(ToString::to_string).as_deref(),
        Some("VirtualService \"attendees\"")
    );
    assert_eq!(p.field.as_deref(), Some("spec.http[0]"));
    assert!(matches!(p.policy, Some(PolicyError::UnknownSubset { .. })));
    let text = err.to_string();
    assert!(text.contains("VirtualService \"attendees\": spec.http[0]: route \"attendees.http[0]\" sends to subset \"v3\""), "{text}");
    let err = fail(&with_routes(
        "  - route: [{destination: {host: atendees}}]\n",
    ));
    assert!(
        err.to_string()
            .contains("unknown service \"atendees\" (did you mean \"attendees\"?)"),
        "{err}"
    );
}

#[test]
fn errors_from_every_document_are_reported_together() {
    let yaml = format!(
        "{}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: b}}\nspec: {{hosts: [b], htp: []}}\n",
        with_routes("  - timeout: forever\n    route: [{destination: {host: attendees}}]\n")
    );
    let err = fail(&yaml);
    assert_eq!(err.problems().len(), 3, "{err}");
    assert_eq!(err.to_string().lines().count(), 3);
}

#[test]
fn duplicates_are_rejected() {
    let err = fail(&format!("{ATTENDEES}---\n{ATTENDEES}"));
    assert!(err.to_string().contains("ServiceEntry \"attendees\": metadata.name: is declared twice; the first is at test.yaml:2"), "{err}");
}

#[test]
fn two_virtual_services_for_one_host_name_the_second() {
    let yaml = format!(
        "{}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: again}}\n\
         spec: {{hosts: [attendees], http: [{{route: [{{destination: {{host: attendees}}}}]}}]}}\n",
        with_routes("  - route: [{destination: {host: attendees}}]\n")
    );
    let err = fail(&yaml);
    let p = err.first().expect("a problem");
    assert_eq!(p.resource.as_ref().map(|r| r.name.as_str()), Some("again"));
    assert!(matches!(
        p.policy,
        Some(PolicyError::DuplicateRouteHost { .. })
    ));
    assert!(
        err.to_string()
            .contains("VirtualService \"again\": spec.hosts: host \"attendees\" is routed by both"),
        "{err}"
    );
}
