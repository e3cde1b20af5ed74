//! One request's pending metrics sample: taken by the response future,
//! handed to the body, recorded exactly once.

use http::{HeaderMap, Response};
use tokio::time::Instant;

use std::sync::Arc;

use super::{ClientLabels, MetricsBody, Series, ServerLabels, Status};
use crate::mesh::Mesh;
use crate::protocol::{Outcome, Protocol, grpc_code_name, grpc_status};

/// Where the sample goes.
#[derive(Debug)]
pub(crate) enum Sink {
    /// The client families.
    Client(Arc<Series<ClientLabels>>),
    /// The server families.
    Server(Arc<Series<ServerLabels>>),
}

/// A request not yet recorded. Every way of finishing consumes it, so a
/// request is recorded once.
#[derive(Debug)]
pub(crate) struct Recorder {
    mesh: Mesh,
    sink: Sink,
    protocol: Protocol,
    start: Instant,
    /// The final status, once the response headers tell it; `None` before
    /// the response and while a gRPC status is still to come in trailers.
    status: Option<Status>,
}

impl Recorder {
    /// Starts timing a request now.
    pub(crate) fn start(mesh: Mesh, sink: Sink, protocol: Protocol) -> Self {
        Self {
            mesh,
            sink,
            protocol,
            start: Instant::now(),
            status: None,
        }
    }

    /// The response headers came: note the status they tell, if they do.
    /// Notes the response head (if there is a recorder still: there is
    /// none when a future is polled after completion) and hands the rest of
    /// the recording to the response body. Client and server alike.
    pub(crate) fn wrap<B>(
        mut recorder: Option<Self>,
        res: Response<B>,
    ) -> Response<MetricsBody<B>> {
        if let Some(r) = &mut recorder {
            r.on_response(&res);
        }
        res.map(|body| MetricsBody::new(body, recorder))
    }

    fn on_response<B>(&mut self, res: &Response<B>) {
        self.status = match self.protocol.classify(res) {
            Outcome::Http(s) => Some(Status::Http(s.as_u16())),
            Outcome::Grpc(code) => Some(Status::Name(grpc_code_name(code))),
            Outcome::GrpcInTrailers => None,
        };
    }

    /// The trailers came (always the last frame): the gRPC status is there
    /// unless the headers had it.
    pub(crate) fn on_trailers(self, trailers: &HeaderMap) {
        let status = self.status.unwrap_or_else(|| {
            Status::Name(grpc_status(trailers).map_or("UNKNOWN", grpc_code_name))
        });
        self.finish(status);
    }

    /// The body ended without trailers; a gRPC response that promised its
    /// status in them never gave one, which gRPC reads as `UNKNOWN`.
    pub(crate) fn on_end(self) {
        let status = self.status.unwrap_or(Status::Name("UNKNOWN"));
        self.finish(status);
    }

    /// The body failed. An HTTP response keeps its status; a gRPC one whose
    /// status was to come in trailers ends `UNKNOWN`, as a gRPC client
    /// reports a broken stream.
    pub(crate) fn on_body_error(self) {
        self.on_end();
    }

    /// Dropped before the end: the caller gave up. gRPC reads it as
    /// `CANCELLED` unless the status is already known; HTTP keeps its
    /// status, or `cancelled` if there was no response yet.
    pub(crate) fn on_drop(self) {
        let status = self.status.unwrap_or(match self.protocol {
            Protocol::Grpc => Status::Name("CANCELLED"),
            Protocol::Http => Status::Name("cancelled"),
        });
        self.finish(status);
    }

    /// Finishes with `status` decided by the caller (an error before any
    /// response).
    pub(crate) fn finish(self, status: Status) {
        let seconds = self.start.elapsed().as_secs_f64();
        let metrics = self.mesh.metrics();
        match self.sink {
            Sink::Client(series) => metrics.record_client(&series, status, seconds),
            Sink::Server(series) => metrics.record_server(&series, status, seconds),
        }
    }
}
