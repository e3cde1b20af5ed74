//! The body of a `StreamAggregatedResources` response: each
//! [`Response`] as a gRPC message whose shared `resources` bytes go to
//! hyper as they are, then the status as trailers.
//!
//! tonic's server encoder hands each message a buffer to write into, so the
//! 3 MB of a large client's resources were copied into a fresh buffer per
//! stream; this body sends the chunks of [`Response::into_grpc_chunks`]
//! instead (h2 writes large DATA payloads straight from them).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::Stream;
use http::HeaderMap;
use http_body::{Body, Frame};
use tonic::{Code, Status};

use super::ResponseStream;

/// The responses of one stream, as HTTP/2 DATA frames, then its status as
/// trailers (`OK` when the stream ends, else the status that ended it).
pub(super) struct ResponseBody {
    responses: ResponseStream,
    /// Chunks of the message being sent.
    chunks: VecDeque<Bytes>,
    ended: bool,
}

impl ResponseBody {
    pub(super) fn new(responses: ResponseStream) -> Self {
        Self {
            responses,
            chunks: VecDeque::with_capacity(3),
            ended: false,
        }
    }

    /// The trailers ending the stream with `status`.
    fn end(&mut self, status: &Status) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        self.ended = true;
        let mut trailers = HeaderMap::new();
        match status.add_header(&mut trailers) {
            Ok(()) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            // Only a status whose own metadata is invalid as headers.
            Err(invalid) => Poll::Ready(Some(Err(invalid))),
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some(chunk) = self.chunks.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        if self.ended {
            return Poll::Ready(None);
        }
        match ready!(Pin::new(&mut self.responses).poll_next(cx)) {
            Some(Ok(response)) => match response.into_grpc_chunks() {
                Ok(chunks) => {
                    self.chunks.extend(chunks);
                    match self.chunks.pop_front() {
                        Some(chunk) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
                        // A message always has its five-byte prefix.
                        None => self.end(&Status::internal("an empty gRPC message")),
                    }
                }
                Err(status) => self.end(&status),
            },
            Some(Err(status)) => self.end(&status),
            None => self.end(&Status::new(Code::Ok, "")),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended && self.chunks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
    use http_body_util::BodyExt;
    use prost::Message;
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::ReceiverStream;

    use super::*;
    use crate::ads::response::{Resolved, Response};

    fn response(nonce: &str) -> Response {
        Response {
            version_info: "7".to_owned(),
            type_url: "type.googleapis.com/envoy.config.listener.v3.Listener",
            nonce: nonce.to_owned(),
            resources: Arc::new(Resolved::new(Vec::new())),
        }
    }

    /// The gRPC messages of `data`, decoded.
    fn messages(mut data: &[u8]) -> Vec<DiscoveryResponse> {
        let mut out = Vec::new();
        while !data.is_empty() {
            assert_eq!(data[0], 0, "not compressed");
            let len = u32::from_be_bytes(data[1..5].try_into().unwrap()) as usize;
            out.push(DiscoveryResponse::decode(&data[5..5 + len]).expect("a message"));
            data = &data[5 + len..];
        }
        out
    }

    async fn collect(items: Vec<Result<Response, Status>>) -> (Vec<DiscoveryResponse>, HeaderMap) {
        let (tx, rx) = mpsc::channel(items.len().max(1));
        for item in items {
            tx.send(item).await.unwrap();
        }
        drop(tx);
        let body = ResponseBody::new(ReceiverStream::new(rx));
        let collected = body.collect().await.expect("a body");
        let trailers = collected.trailers().cloned().expect("trailers");
        (messages(&collected.to_bytes()), trailers)
    }

    #[tokio::test]
    async fn responses_are_messages_and_the_end_is_status_ok() {
        let (messages, trailers) = collect(vec![Ok(response("1")), Ok(response("2"))]).await;
        let nonces: Vec<&str> = messages.iter().map(|m| m.nonce.as_str()).collect();
        assert_eq!(nonces, ["1", "2"]);
        assert_eq!(messages[0].version_info, "7");
        assert_eq!(trailers["grpc-status"], "0");
    }

    #[tokio::test]
    async fn a_failed_stream_ends_with_its_status() {
        let failed = Status::invalid_argument("no node in the first request");
        let (messages, trailers) = collect(vec![Ok(response("1")), Err(failed)]).await;
        assert_eq!(messages.len(), 1);
        let status = Status::from_header_map(&trailers).expect("a status");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "no node in the first request");
    }

    #[tokio::test]
    async fn nothing_follows_the_trailers() {
        let (tx, rx) = mpsc::channel(1);
        drop(tx);
        let mut body = ResponseBody::new(ReceiverStream::new(rx));
        assert!(!body.is_end_stream());
        let frame = body.frame().await.expect("trailers").expect("ok");
        assert!(frame.is_trailers());
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());
    }
}
