//! Istio-style authorization for the mesh.
//!
//! This crate holds Istio's security policy model as plain types and the
//! server-side decision, with no dependency on the rest of the mesh:
//!
//! - [`AuthorizationPolicy`] and its parts ([`Rule`], [`Source`],
//!   [`Operation`], [`Condition`], [`StringMatch`]);
//! - [`Authorizer`]: the policies that apply to one [`Workload`], checking
//!   each request's [`RequestAttrs`] into a [`Decision`];
//! - [`PeerAuthentication`] and [`effective_mtls`]: the mTLS mode a
//!   workload's server runs in;
//! - [`path::normalize`]: the canonical request path that is authorized and
//!   then handed to the application.
//!
//! The semantics are Istio's. Where a request is ambiguous (a repeated
//! header) the decision fails closed: DENY policies read it generously,
//! ALLOW policies strictly.
//!
//! ```
//! use mesh_authz::{Action, AuthorizationPolicy, Authorizer, RequestAttrs, Rule, Workload};
//! use mesh_authz::path::normalize;
//!
//! // An ALLOW policy with no rules denies everything.
//! let lockdown = AuthorizationPolicy {
//!     name: "lockdown".into(),
//!     namespace: "istio-system".into(),
//!     selector: None,
//!     action: Action::Allow,
//!     rules: vec![],
//! };
//! let workload = Workload { namespace: "shop".into(), ..Workload::default() };
//! let authz = Authorizer::new(&[lockdown], &workload, "istio-system");
//!
//! let path = normalize("/shop.Cart/Add")?;
//! let headers = http::HeaderMap::new();
//! let decision = authz.check(&RequestAttrs {
//!     principal: None,
//!     host: "cart",
//!     method: &http::Method::POST,
//!     path: &path.path,
//!     port: 8080,
//!     headers: &headers,
//! });
//! assert_eq!(
//!     decision.to_string(),
//!     "no ALLOW policy matched (applicable: istio-system/lockdown)"
//! );
//! # Ok::<(), mesh_authz::path::PathError>(())
//! ```

mod authorizer;
mod condition;
mod evaluate;
mod model;
pub mod path;
mod peer_authn;
mod request;
mod string_match;

pub use authorizer::{Authorizer, Decision, DenyReason};
pub use condition::{Condition, ConditionKey, ConditionKeyError, SUPPORTED_KEYS};
pub use model::{
    Action, AuthorizationPolicy, Labels, Operation, Rule, Source, Workload, applies_to,
};
pub use peer_authn::{MtlsMode, PeerAuthentication, effective_mtls};
pub use request::RequestAttrs;
pub use string_match::{StringMatch, StringMatchError};
