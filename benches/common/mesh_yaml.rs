//! The synthetic mesh the control-plane benchmarks share
//! (`benches/xds.rs`, `benches/control_plane/main.rs`): services of
//! [`ENDPOINTS`] endpoints each, with two subsets and a weighted route.

/// Endpoints per service.
pub(crate) const ENDPOINTS: usize = 10;
/// The port every service is called on.
pub(crate) const PORT: u16 = 50051;

/// Service `i`'s host name.
pub(crate) fn host(i: usize) -> String {
    format!("svc-{i:04}")
}

/// One service's YAML: a ServiceEntry with its endpoints (half v1, half
/// v2, on distinct ports of 127.0.0.1), a DestinationRule with the two
/// subsets, and a VirtualService sending `v1_weight` percent to v1.
pub(crate) fn service_yaml(i: usize, v1_weight: u32) -> String {
    let h = host(i);
    let mut endpoints = String::new();
    for j in 0..ENDPOINTS {
        let port = 20_000 + i * ENDPOINTS + j;
        let version = if j % 2 == 0 { "v1" } else { "v2" };
        endpoints.push_str(&format!(
            "  - {{address: 127.0.0.1, ports: {{grpc: {port}}}, labels: {{version: {version}}}}}\n"
        ));
    }
    let v2_weight = 100 - v1_weight;
    format!(
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {h}}}
spec:
  hosts: [{h}]
  ports: [{{number: {PORT}, name: grpc, protocol: GRPC}}]
  endpoints:
{endpoints}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {h}}}
spec:
  host: {h}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {h}}}
spec:
  hosts: [{h}]
  http:
  - name: split
    route:
    - {{destination: {{host: {h}, subset: v1}}, weight: {v1_weight}}}
    - {{destination: {{host: {h}, subset: v2}}, weight: {v2_weight}}}
"
    )
}
