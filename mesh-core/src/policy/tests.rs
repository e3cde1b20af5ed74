//! The policy builder's validation and lookups.

use super::*;

fn attendees() -> Service {
    Service::new("attendees")
        .endpoint(Endpoint::new("127.0.0.1:1".parse().unwrap()).label("version", "v1"))
        .endpoint(Endpoint::new("127.0.0.1:2".parse().unwrap()).label("version", "v2"))
        .subset("v1", [("version", "v1")])
        .subset("v2", [("version", "v2")])
}

#[test]
fn subsets_resolve_to_their_endpoints() {
    let p = Policy::builder().service(attendees()).build().unwrap();
    let v2 = p
        .endpoints(&Destination::new("attendees").subset("v2"))
        .unwrap();
    assert_eq!(v2.endpoints.len(), 1);
    assert_eq!(v2.endpoints[0].address.port(), 2);
    let all = p
        .endpoints(&Destination::new("attendees.default.svc.cluster.local"))
        .unwrap();
    assert_eq!(all.endpoints.len(), 2);
}

#[test]
fn ports_are_stripped_from_targets_including_ipv6() {
    assert_eq!(strip_port("attendees:50051"), "attendees");
    assert_eq!(strip_port("attendees"), "attendees");
    assert_eq!(strip_port("[::1]:8080"), "[::1]");
    assert_eq!(strip_port("[::1]"), "[::1]");
    assert_eq!(strip_port("attendees:"), "attendees");
    assert_eq!(strip_port("attendees:http"), "attendees:http");
    assert_eq!(strip_port("::1"), "::1");
    let p = Policy::builder()
        .service(Service::new("[::1]"))
        .build()
        .unwrap();
    assert!(p.route_table("[::1]:8080").is_some());
}

#[test]
fn a_host_finds_its_exact_table_before_a_short_name_match() {
    let table = |name: &str, host: &str| RouteTable {
        name: name.into(),
        hosts: vec![host.into()],
        routes: vec![Route::to(name, Destination::new("attendees"))],
    };
    let p = Policy::builder()
        .service(attendees())
        .route_table(table("short", "attendees"))
        .route_table(table("long", "attendees.prod.svc.cluster.local"))
        .build()
        .unwrap();
    let name = |host: &str| p.route_table(host).map(|t| t.name.clone());
    assert_eq!(
        name("attendees.prod.svc.cluster.local:80").as_deref(),
        Some("long")
    );
    assert_eq!(name("attendees:80").as_deref(), Some("short"));
    // No exact table: the first whose host is the same by short name.
    assert_eq!(
        name("attendees.staging.svc.cluster.local").as_deref(),
        Some("short")
    );
    assert_eq!(name("sessions"), None);
}

#[test]
fn a_service_without_routes_gets_a_default_route() {
    let p = Policy::builder().service(attendees()).build().unwrap();
    let t = p.route_table("attendees:50051").unwrap();
    assert_eq!(t.routes[0].destinations[0].destination.host, "attendees");
}

#[test]
fn to_builder_round_trips() {
    let p = Policy::builder()
        .service(attendees())
        .service(Service::new("sessions"))
        .routes(
            "attendees",
            [Route::to("r", Destination::new("attendees").subset("v1"))],
        )
        .build()
        .unwrap();
    assert_eq!(p.to_builder().build().unwrap(), p);
    assert_eq!(
        p.to_builder().tables.len(),
        1,
        "the implicit table is not copied"
    );
}

#[test]
fn unknown_subset_is_rejected_with_a_suggestion() {
    let err = Policy::builder()
        .service(attendees())
        .routes(
            "attendees",
            [Route::to("r", Destination::new("attendees").subset("v3"))],
        )
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("subset \"v3\""), "{err}");
    assert!(err.contains("did you mean"), "{err}");
}

#[test]
fn unknown_service_is_rejected() {
    let err = Policy::builder()
        .service(attendees())
        .routes("x", [Route::to("r", Destination::new("atendees"))])
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("did you mean \"attendees\""), "{err}");
}

#[test]
fn zero_weights_are_rejected() {
    let err = Policy::builder()
        .service(attendees())
        .routes(
            "attendees",
            [Route::to("r", Destination::new("attendees"))
                .split([(Destination::new("attendees"), 0)])],
        )
        .build()
        .unwrap_err();
    assert!(matches!(err, PolicyError::NoDestination { .. }));
}

#[test]
fn duplicate_hosts_are_rejected() {
    let err = Policy::builder()
        .service(attendees())
        .service(attendees())
        .build()
        .unwrap_err();
    assert!(matches!(err, PolicyError::DuplicateService { .. }));
}

#[test]
fn empty_rate_limit_is_rejected() {
    let err = Policy::builder()
        .rate_limit(LocalRateLimit {
            name: "rl".into(),
            host: "sessions".into(),
            path: None,
            bucket: TokenBucket::per_second(0, 1),
        })
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("tokensPerFill"), "{err}");
}
