//! The demo's configuration: the seed's YAML, where the workloads run, and
//! the six policy steps, in the Istio dialect.

use mesh::conference::Running;

/// The seed's YAML exactly as the notes have it, typos included.
pub(crate) const SEED: &str = include_str!("../../mesh-core/tests/fixtures/seed/seed.yaml");

/// Where the services run: generated, since the ports are the OS's choice.
pub(crate) fn workloads(v1: &Running, v2: &Running, sessions: &Running) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: attendees}}
spec:
  hosts: [attendees]
  ports: [{{number: 50051, name: grpc, protocol: GRPC}}]
  workloadSelector: {{labels: {{app: attendees}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: attendees-v1}}
spec:
  address: 127.0.0.1
  ports: {{grpc: {}}}
  labels: {{app: attendees, version: v1}}
  serviceAccount: attendees
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: attendees-v2}}
spec:
  address: 127.0.0.1
  ports: {{grpc: {}}}
  labels: {{app: attendees, version: v2}}
  serviceAccount: attendees
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: sessions}}
spec:
  hosts: [sessions]
  ports: [{{number: 50052, name: grpc, protocol: GRPC}}]
  endpoints:
  - address: 127.0.0.1
    ports: {{grpc: {}}}
    labels: {{app: sessions, version: v1}}
    serviceAccount: sessions
---
# Mutual TLS for every workload of the mesh.
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {{name: default, namespace: istio-system}}
spec:
  mtls: {{mode: STRICT}}
"#,
        v1.addr.port(),
        v2.addr.port(),
        sessions.addr.port()
    )
}

/// The seed's DestinationRules and `sessions` routing, corrected.
pub(crate) const SUBSETS: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: attendees}
spec:
  host: attendees
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: sessions}
spec:
  host: sessions
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: sessions}
spec:
  hosts: [sessions]
  http: [{route: [{destination: {host: sessions, subset: v1}}]}]
"#;

pub(crate) const STEP1_SEED: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: attendees}
spec:
  hosts: [attendees]
  http: [{name: seed, route: [{destination: {host: attendees, subset: v1}}]}]
"#;

pub(crate) const STEP2_BETA: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: attendees}
spec:
  hosts: [attendees]
  http:
  - name: beta-users
    match: [{headers: {x-user-group: {exact: beta}}}]
    route: [{destination: {host: attendees, subset: v2}}]
  - name: everyone-else
    route: [{destination: {host: attendees, subset: v1}}]
"#;

pub(crate) const STEP3_CANARY: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: attendees}
spec:
  hosts: [attendees]
  http:
  - name: canary
    route:
    - {destination: {host: attendees, subset: v1}, weight: 80}
    - {destination: {host: attendees, subset: v2}, weight: 20}
"#;

/// Half to v2, which fails; failures are retried. Retries are budgeted: at
/// most half as many as requests here, plus ten a second.
pub(crate) const STEP4_RETRIES: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: attendees}
spec:
  hosts: [attendees]
  http:
  - name: half-and-half
    route:
    - {destination: {host: attendees, subset: v1}, weight: 50}
    - {destination: {host: attendees, subset: v2}, weight: 50}
    retries:
      attempts: 3
      retryOn: unavailable
      backoff: {baseInterval: 1ms, maxInterval: 10ms}
      budget: {retryRatio: 0.5, minRetriesPerSecond: 10}
"#;

/// The same split with a tight budget: retries at most 20 % of requests and
/// no floor, so a v2 that fails everything cannot multiply the load.
pub(crate) const STEP4_BUDGET: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: attendees}
spec:
  hosts: [attendees]
  http:
  - name: half-and-half-budgeted
    route:
    - {destination: {host: attendees, subset: v1}, weight: 50}
    - {destination: {host: attendees, subset: v2}, weight: 50}
    retries:
      attempts: 3
      retryOn: unavailable
      backoff: {baseInterval: 1ms, maxInterval: 10ms}
      budget: {retryRatio: 0.2, minRetriesPerSecond: 0}
"#;

pub(crate) const STEP5_RATE_LIMIT: &str = r#"
apiVersion: policy.mesh.rs/v1alpha1
kind: LocalRateLimit
metadata: {name: sessions-limit}
spec:
  host: sessions
  tokenBucket: {maxTokens: 10, tokensPerFill: 10, fillInterval: 1s}
"#;

/// `sessions` may still list `attendees`, but not purge them.
pub(crate) const STEP6_DENY_PURGE: &str = r#"
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: sessions-may-not-purge}
spec:
  selector: {matchLabels: {app: attendees}}
  action: DENY
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/sessions]}}]
    to: [{operation: {paths: [/conference.Attendees/Purge]}}]
"#;
