use tower_layer::Layer;

use super::Deadline;
use crate::protocol::Protocol;

/// Wraps a client in [`Deadline`].
#[derive(Clone, Copy, Debug)]
pub struct DeadlineLayer {
    protocol: Protocol,
}

impl DeadlineLayer {
    /// Enforces deadlines; for gRPC, a `grpc-timeout` set by the caller
    /// counts too.
    pub fn new(protocol: Protocol) -> Self {
        Self { protocol }
    }
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            protocol: self.protocol,
        }
    }
}
