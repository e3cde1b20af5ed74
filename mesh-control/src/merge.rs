//! Registered endpoints merged into the policy loaded from YAML.
//!
//! The merged policy is the loaded one's builder with the registered
//! endpoints added to their services, built (validated) again.

use mesh_core::policy::{Endpoint, Policy, PolicyError};

/// A registered endpoint of the service whose declared host is `host`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Registered {
    /// The service's host as declared.
    pub(crate) host: String,
    /// The endpoint.
    pub(crate) endpoint: Endpoint,
}

/// `base` with the registered endpoints added to their services. An
/// endpoint whose service is gone, or whose address the service already
/// lists, is left out.
pub(crate) fn merge(base: &Policy, registered: &[Registered]) -> Result<Policy, PolicyError> {
    base.to_builder()
        .map_services(|mut service| {
            for r in registered.iter().filter(|r| r.host == service.host) {
                if !service
                    .endpoints
                    .iter()
                    .any(|e| e.address == r.endpoint.address)
                {
                    service.endpoints.push(r.endpoint.clone());
                }
            }
            service
        })
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::policy::{Destination, Route, Service};

    fn base() -> Policy {
        Policy::builder()
            .service(
                Service::new("attendees")
                    .port(50051, Some("grpc"))
                    .endpoint(
                        Endpoint::new("10.0.0.1:50051".parse().unwrap()).label("version", "v1"),
                    )
                    .subset("v2", [("version", "v2")]),
            )
            .service(Service::new("sessions"))
            .routes(
                "sessions",
                [Route::to("all", Destination::new("attendees").subset("v2"))],
            )
            .build()
            .unwrap()
    }

    #[test]
    fn nothing_registered_rebuilds_the_same_policy() {
        let p = base();
        assert_eq!(merge(&p, &[]).unwrap(), p);
    }

    #[test]
    fn registered_endpoints_join_their_service_and_its_subsets() {
        let reg = Registered {
            host: "attendees".into(),
            endpoint: Endpoint::new("10.0.0.2:50051".parse().unwrap()).label("version", "v2"),
        };
        let p = merge(&base(), &[reg.clone(), reg]).unwrap();
        let v2 = p
            .endpoints(&Destination::new("attendees").subset("v2"))
            .unwrap();
        assert_eq!(v2.endpoints.len(), 1, "deduplicated by address");
        assert_eq!(p.service("attendees").unwrap().endpoints.len(), 2);
        assert_eq!(p.route_tables().len(), 2);
    }
}
