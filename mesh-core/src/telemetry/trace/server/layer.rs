use std::sync::Arc;

use tower_layer::Layer;

use super::ServerTrace;

/// Wraps a server in [`ServerTrace`] for one service.
#[derive(Clone, Debug)]
pub struct ServerTraceLayer {
    service: Arc<str>,
}

impl ServerTraceLayer {
    /// Traces requests to `service` (the name recorded in the span).
    pub fn new(service: &str) -> Self {
        Self {
            service: service.into(),
        }
    }
}

impl<S> Layer<S> for ServerTraceLayer {
    type Service = ServerTrace<S>;

    fn layer(&self, inner: S) -> ServerTrace<S> {
        ServerTrace {
            inner,
            service: self.service.clone(),
        }
    }
}
