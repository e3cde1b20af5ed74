use std::sync::Arc;

use tower_layer::Layer;

use super::ClientTrace;

/// Wraps a client in [`ClientTrace`] for one target service.
#[derive(Clone, Debug)]
pub struct ClientTraceLayer {
    target: Arc<str>,
}

impl ClientTraceLayer {
    /// Traces requests to `target` (the name recorded in the span).
    pub fn new(target: &str) -> Self {
        Self {
            target: target.into(),
        }
    }
}

impl<S> Layer<S> for ClientTraceLayer {
    type Service = ClientTrace<S>;

    fn layer(&self, inner: S) -> ClientTrace<S> {
        ClientTrace {
            inner,
            target: self.target.clone(),
        }
    }
}
