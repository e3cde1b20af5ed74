//! What each supported field turns into.

use std::time::Duration;

use http::HeaderMap;
use mesh_core::policy::{
    Backoff, Destination, GrpcRetryOn, HeaderRule, HttpRetryOn, LoadBalancer, PolicyError,
    StringMatch,
};

use super::{ATTENDEES, fail, load, request, with_routes};

#[test]
fn header_and_regex_matches() {
    let policy = load(&with_routes(
        r#"  - name: beta
    match:
    - headers:
        X-User-Group: {exact: beta}
        x-debug: {}
      withoutHeaders:
        x-canary: {}
      uri: {regex: "/conference\\.Attendees/(Get|List)"}
      method: {exact: POST}
    route:
    - destination: {host: attendees, subset: v2}
  - route:
    - destination: {host: attendees, subset: v1}
"#,
    ));
    let table = policy.route_table("attendees").expect("table");
    let beta = &table.routes[0];
    assert_eq!(beta.name, "beta");
    let m = &beta.matches[0];
    assert_eq!(m.method, Some(StringMatch::Exact("POST".into())));
    let rules: Vec<(&str, &HeaderRule)> = m
        .headers
        .iter()
        .map(|h| (h.name.as_str(), &h.rule))
        .collect();
    assert_eq!(
        rules[0],
        (
            "x-user-group",
            &HeaderRule::Value(StringMatch::Exact("beta".into()))
        )
    );
    assert_eq!(rules[1], ("x-debug", &HeaderRule::Present));
    assert_eq!(rules[2], ("x-canary", &HeaderRule::Absent));

    let mut headers = HeaderMap::new();
    headers.insert("x-user-group", "beta".parse().expect("header"));
    headers.insert("x-debug", "1".parse().expect("header"));
    assert!(beta.matches(&request("/conference.Attendees/List", &headers)));
    assert!(
        !beta.matches(&request("/conference.Attendees/Delete", &headers)),
        "regex is anchored"
    );
    headers.insert("x-canary", "1".parse().expect("header"));
    assert!(!beta.matches(&request("/conference.Attendees/List", &headers)));
    assert_eq!(table.routes[1].name, "attendees.http[1]");
}

#[test]
fn present_is_explicit_presence() {
    let policy = load(&with_routes(
        "  - match: [{headers: {x-a: {present: true}, x-b: {present: false}}, withoutHeaders: {x-c: {present: true}}}]\n    route: [{destination: {host: attendees}}]\n",
    ));
    let rules: Vec<HeaderRule> = policy.route_table("attendees").expect("table").routes[0].matches
        [0]
    .headers
    .iter()
    .map(|h| h.rule.clone())
    .collect();
    assert_eq!(
        rules,
        [HeaderRule::Present, HeaderRule::Absent, HeaderRule::Absent]
    );
}

#[test]
fn weights_follow_istio() {
    let policy = load(&with_routes(
        r#"  - route:
    - destination: {host: attendees, subset: v1}
      weight: 90
    - destination: {host: attendees, subset: v2}
      weight: 10
  - route:
    - destination: {host: attendees, subset: v1, port: {number: 50051}}
"#,
    ));
    let routes = &policy.route_table("attendees").expect("table").routes;
    let weights: Vec<u32> = routes[0].destinations.iter().map(|d| d.weight).collect();
    assert_eq!(weights, [90, 10]);
    assert_eq!(
        routes[1].destinations[0].weight, 100,
        "a lone destination takes all"
    );
    assert_eq!(routes[1].destinations[0].destination.port, Some(50051));

    let err = fail(&with_routes(
        "  - route:\n    - destination: {host: attendees, subset: v1}\n    - destination: {host: attendees, subset: v2}\n",
    ));
    let text = err.to_string();
    assert!(
        text.contains(
            "spec.http[0]: route \"attendees.http[0]\" has no destination with a positive weight"
        ),
        "{text}"
    );
    assert!(matches!(
        err.problems()[0].policy,
        Some(PolicyError::NoDestination { .. })
    ));
}

#[test]
fn timeouts_and_retries_with_every_retry_on_name() {
    let policy = load(&with_routes(
        r#"  - timeout: 1.5s
    retries:
      attempts: 3
      perTryTimeout: 200ms
      retryOn: "5xx,gateway-error,connect-failure,reset,retriable-4xx,refused-stream,retriable-status-codes,cancelled,deadline-exceeded,internal,resource-exhausted,unavailable"
    route:
    - destination: {host: attendees}
  - timeout: 0s
    retries: {attempts: 0}
    route:
    - destination: {host: attendees}
"#,
    ));
    let routes = &policy.route_table("attendees").expect("table").routes;
    assert_eq!(routes[0].timeout, Some(Duration::from_millis(1500)));
    let retry = routes[0].retry.as_ref().expect("retries");
    assert_eq!(retry.attempts, 3);
    assert_eq!(retry.per_try_timeout, Some(Duration::from_millis(200)));
    use HttpRetryOn::*;
    assert_eq!(
        retry.http_on,
        [
            ServerError,
            GatewayError,
            ConnectFailure,
            Reset,
            Retriable4xx,
            Unavailable503
        ]
    );
    use GrpcRetryOn::*;
    assert_eq!(
        retry.grpc_on,
        [
            Cancelled,
            DeadlineExceeded,
            Internal,
            ResourceExhausted,
            Unavailable
        ]
    );
    assert_eq!(retry.backoff, Backoff::default());
    assert_eq!(routes[1].timeout, None, "0s turns the timeout off");
    assert_eq!(routes[1].retry, None, "attempts: 0 turns retries off");
}

#[test]
fn backoff_and_budget_extensions() {
    let policy = load(&with_routes(
        r#"  - retries:
      attempts: 2
      backoff: {baseInterval: 50ms, maxInterval: 1s}
      budget: {retryRatio: 0.5, minRetriesPerSecond: 3}
    route: [{destination: {host: attendees}}]
  - retries: {backoff: 10ms}
    route: [{destination: {host: attendees}}]
"#,
    ));
    let routes = &policy.route_table("attendees").expect("table").routes;
    let retry = routes[0].retry.as_ref().expect("retries");
    assert_eq!(
        retry.backoff,
        Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_secs(1)
        }
    );
    assert_eq!(retry.budget.ratio.get(), 0.5);
    assert_eq!(retry.budget.min_per_second, 3);
    let istio = routes[1].retry.as_ref().expect("retries");
    assert_eq!(istio.attempts, 2, "Istio's default");
    assert_eq!(
        istio.backoff,
        Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(100)
        }
    );

    let err = fail(&with_routes(
        "  - retries: {backoff: {baseInterval: 1s, maxInterval: 10ms}}\n    route: [{destination: {host: attendees}}]\n",
    ));
    assert!(
        err.to_string().contains(
            "spec.http[0].retries.backoff.maxInterval: must be at least the base interval"
        ),
        "{err}"
    );
}

#[test]
fn local_rate_limit() {
    let policy = load(
        r#"
apiVersion: policy.mesh.rs/v1alpha1
kind: LocalRateLimit
metadata: {name: sessions-limit}
spec:
  host: sessions
  tokenBucket: {maxTokens: 10, tokensPerFill: 5, fillInterval: 1s}
  match: {uri: {prefix: /conference.Sessions/}}
---
apiVersion: policy.mesh.rs/v1alpha1
kind: LocalRateLimit
metadata: {name: attendees-limit}
spec:
  host: attendees
  tokenBucket: {maxTokens: 100, fillInterval: 100ms}
"#,
    );
    let limits = policy.rate_limits();
    assert_eq!(limits.len(), 2);
    assert_eq!(limits[0].name, "sessions-limit");
    assert_eq!(limits[0].host, "sessions");
    assert_eq!(
        limits[0].path,
        Some(StringMatch::Prefix("/conference.Sessions/".into()))
    );
    assert_eq!(
        (
            limits[0].bucket.max_tokens,
            limits[0].bucket.tokens_per_fill
        ),
        (10, 5)
    );
    assert_eq!(limits[0].bucket.fill_interval, Duration::from_secs(1));
    assert_eq!(limits[1].path, None);
    assert_eq!(limits[1].bucket.tokens_per_fill, 1, "Envoy's default");

    let err = fail(
        "apiVersion: policy.mesh.rs/v1alpha1\nkind: LocalRateLimit\nmetadata: {name: zero}\n\
         spec: {host: s, tokenBucket: {maxTokens: 0, fillInterval: 1s}}\n",
    );
    assert!(err.to_string().contains("test.yaml:1: LocalRateLimit \"zero\": spec.tokenBucket: rate limit \"zero\": maxTokens must be at least 1"), "{err}");
}

#[test]
fn load_balancers() {
    let policy = load(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: attendees}
spec:
  hosts: [attendees]
  ports: [{number: 50051, name: grpc, targetPort: 9000}]
  endpoints: [{address: "::1", labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: attendees}
spec:
  host: attendees.default.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
"#,
    );
    let all = policy
        .endpoints(&Destination::new("attendees"))
        .expect("all");
    assert_eq!(all.load_balancer, LoadBalancer::RoundRobin);
    assert_eq!(
        all.endpoints[0].address.to_string(),
        "[::1]:9000",
        "targetPort"
    );
    let v1 = policy
        .endpoints(&Destination::new("attendees").subset("v1"))
        .expect("v1");
    assert_eq!(v1.load_balancer, LoadBalancer::PeakEwma);

    let err = fail(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec:\n  host: a\n  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n",
    );
    assert!(
        err.to_string().contains(
            "spec.trafficPolicy.loadBalancer.simple: load balancer `RANDOM` is not supported yet"
        ),
        "{err}"
    );
    let err = fail(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec:\n  host: a\n  trafficPolicy: {loadBalancer: {consistentHash: {}}}\n",
    );
    assert!(
        err.to_string()
            .contains("spec.trafficPolicy.loadBalancer.consistentHash: not supported yet"),
        "{err}"
    );
    let err = fail(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec:\n  host: a\n  trafficPolicy: {loadBalancer: {simple: round_robin}}\n",
    );
    assert!(
        err.to_string()
            .contains("unknown load balancer `round_robin` (did you mean `ROUND_ROBIN`?)"),
        "{err}"
    );
}

#[test]
fn every_networking_api_version_loads() {
    for version in ["v1alpha3", "v1beta1", "v1"] {
        let yaml = ATTENDEES.replace(
            "networking.istio.io/v1\n",
            &format!("networking.istio.io/{version}\n"),
        );
        assert!(yaml.contains(version));
        let policy = load(&yaml);
        assert_eq!(policy.services().count(), 1, "{version}");
    }
}

#[test]
fn a_destination_rule_without_a_service_entry_makes_an_empty_service() {
    let policy = load(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: s}\nspec: {host: sessions, subsets: [{name: v1, labels: {version: v1}}]}\n",
    );
    let v1 = policy
        .endpoints(&Destination::new("sessions").subset("v1"))
        .expect("subset");
    assert!(v1.endpoints.is_empty());
}

#[test]
fn workload_selectors_stay_in_their_namespace() {
    let policy = load(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: attendees, namespace: conf}
spec:
  hosts: [attendees.conf.svc.cluster.local]
  ports: [{number: 50051, name: grpc}, {number: 9090, name: metrics}]
  workloadSelector: {labels: {app: attendees}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: here, namespace: conf}
spec: {address: 10.0.0.1, labels: {app: attendees}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: elsewhere}
spec: {address: 10.0.0.2, labels: {app: attendees}}
"#,
    );
    let all = policy
        .endpoints(&Destination::new("attendees.conf.svc.cluster.local"))
        .expect("endpoints");
    let addrs: Vec<String> = all
        .endpoints
        .iter()
        .map(|e| e.address.to_string())
        .collect();
    assert_eq!(addrs, ["10.0.0.1:50051"], "first port, same namespace only");
    let ports: Vec<u16> = policy
        .service("attendees.conf.svc.cluster.local")
        .expect("service")
        .ports
        .iter()
        .map(|p| p.number)
        .collect();
    assert_eq!(ports, [50051, 9090]);
}
