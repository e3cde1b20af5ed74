//! hyper adapters for the mesh: [`MeshClient`], a tower service that sends
//! plain HTTP requests to one service through the mesh (HTTP/1.1 or h2c),
//! and [`MeshServerLayer`], the inbound stack for hyper servers.
//!
//! HTTP responses are classified by status: retry policies retry 503 (and,
//! with [`HttpRetryOn::ServerError`](mesh_core::policy::HttpRetryOn), any
//! 5xx), and 5xx responses count as failures in metrics.
//!
//! ```no_run
//! use std::convert::Infallible;
//!
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use mesh_core::Mesh;
//! use mesh_core::policy::{Destination, Endpoint, Policy, Route, Service};
//! use mesh_hyper::{MeshClient, MeshServerLayer, serve};
//! use tower::Layer;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! // Server side: rate limits, trace extraction, metrics.
//! let server_mesh = Mesh::new(Policy::empty());
//! let app = tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
//!     Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"v1"))))
//! });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let server = MeshServerLayer::new(&server_mesh, "attendees").layer(app);
//! tokio::spawn(serve(listener, server, std::future::pending()));
//!
//! // Client side: routes, retries, balances and traces every request.
//! let policy = Policy::builder()
//!     .service(
//!         Service::new("attendees")
//!             .endpoint(Endpoint::new(addr).label("version", "v1"))
//!             .subset("v1", [("version", "v1")]),
//!     )
//!     .routes("attendees", [Route::to("all", Destination::new("attendees").subset("v1"))])
//!     .build()?;
//! let mesh = Mesh::new(policy);
//! let client = MeshClient::new(&mesh, "attendees:8080")?;
//! let res = client.request(http::Request::get("/users").body(Full::new(Bytes::new()))?).await;
//! assert_eq!(res.into_body().collect().await?.to_bytes(), "v1");
//! # Ok(())
//! # }
//! ```
//!
//! A server can register itself with the control plane (with labels such
//! as `version: v2`) and keep its lease alive:
//! [`MeshServerLayer::registration`], or [`Registration`] directly.

mod client;
mod connector;
mod server;

pub use client::{InvalidTarget, MeshClient, RequestBody, ResponseBody};
pub use connector::{HttpVersion, HyperConnector, HyperEndpoint};
pub use mesh_core::registration::{
    Registration, RegistrationBuilder, RegistrationError, RegistrationStatus,
};
pub use mesh_core::transport::ConnectSettings;
pub use server::{MeshServerLayer, serve};
