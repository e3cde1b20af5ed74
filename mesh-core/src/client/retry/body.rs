//! Request bodies that can be sent again.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::BoxError;

/// Bodies larger than this are sent once and never retried, so a retry
/// policy cannot make the mesh hold large uploads in memory.
pub const MAX_REPLAY_BYTES: usize = 64 * 1024;

/// A request body read in full, ready to be sent once per attempt.
///
/// Request trailers are rare, so they are boxed: this body and
/// [`RetryBody`] travel by value through every layer and into the
/// transport's per-request task, and a `HeaderMap` inline would make each
/// of them 88 bytes larger.
#[derive(Clone, Debug, Default)]
pub struct Buffered {
    data: Bytes,
    trailers: Option<Box<HeaderMap>>,
    /// Whether the caller's body said its exact size (see
    /// [`RetryBody::Replay`]).
    exact: bool,
}

impl Buffered {
    /// A body for one attempt.
    pub fn replay<B>(&self) -> RetryBody<B> {
        RetryBody::Replay {
            data: (!self.data.is_empty()).then(|| self.data.clone()),
            trailers: self.trailers.clone(),
            exact: self.exact,
        }
    }
}

/// What [`buffer`] made of a body.
#[derive(Debug)]
pub enum Buffering<B> {
    /// The whole body, within [`MAX_REPLAY_BYTES`]: retries are possible.
    Complete(Buffered),
    /// The body was not all there yet, or is too large: it is sent once.
    Streaming(RetryBody<B>),
}

/// Reads what `body` has ready *now*, without waiting.
///
/// A unary gRPC request or a plain HTTP request with a full body is ready
/// at once, so it can be replayed; a streaming body that is still being
/// produced is passed on as it is, since waiting for it to finish could
/// deadlock a bidirectional stream whose client waits for the server.
pub fn buffer<B>(mut body: B) -> Buffering<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let exact = body.size_hint().exact().is_some();
    // The first chunk apart: a unary request is one chunk, and needs no
    // `Vec` (nor copy) to be kept.
    let mut first: Option<Bytes> = None;
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut size = 0usize;
    let mut trailers = None;
    let done = loop {
        if body.is_end_stream() {
            break true;
        }
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(None) => break true,
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    size += data.len();
                    match &first {
                        None => first = Some(data),
                        Some(_) => chunks.push(data),
                    }
                    if size > MAX_REPLAY_BYTES {
                        break false;
                    }
                }
                Err(frame) => {
                    trailers = frame.into_trailers().ok().map(Box::new);
                    break true;
                }
            },
            Poll::Ready(Some(Err(e))) => {
                return Buffering::Streaming(RetryBody::Failed {
                    error: Some(e.into()),
                });
            }
            Poll::Pending => break false,
        }
    };
    let data = match (first, chunks.is_empty()) {
        (None, _) => Bytes::new(),
        (Some(first), true) => first,
        (Some(first), false) => {
            let mut joined = BytesMut::with_capacity(size);
            joined.extend_from_slice(&first);
            chunks.iter().for_each(|c| joined.extend_from_slice(c));
            joined.freeze()
        }
    };
    if done {
        Buffering::Complete(Buffered {
            data,
            trailers,
            exact,
        })
    } else {
        Buffering::Streaming(RetryBody::Streaming {
            prefix: (!data.is_empty()).then_some(data),
            rest: body,
        })
    }
}

pin_project! {
    /// The request body the layers below the retry layer send.
    // pin-project-lite takes no attributes on fields; each variant's doc
    // says what its fields hold.
    #[allow(missing_docs)]
    #[project = Proj]
    #[derive(Debug)]
    pub enum RetryBody<B> {
        /// A buffered body, sent again for each attempt. Its size is
        /// given as exact only if the caller's body gave it (`exact`):
        /// hyper turns an exact size into `content-length`, which a
        /// caller's gRPC request does not carry, and the mesh does not
        /// add headers the caller did not send.
        Replay { data: Option<Bytes>, trailers: Option<Box<HeaderMap>>, exact: bool },
        /// The caller's body: what was read while trying to buffer it
        /// (`prefix`), then the rest as it comes.
        Streaming { prefix: Option<Bytes>, #[pin] rest: B },
        /// Reading the body failed while trying to buffer it.
        Failed { error: Option<BoxError> },
    }
}

impl<B> RetryBody<B> {
    /// Passes `body` through untouched (no retry policy).
    pub fn streaming(body: B) -> Self {
        RetryBody::Streaming {
            prefix: None,
            rest: body,
        }
    }
}

impl<B> Body for RetryBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            Proj::Replay { data, trailers, .. } => Poll::Ready(
                data.take()
                    .map(Frame::data)
                    .or_else(|| trailers.take().map(|t| Frame::trailers(*t)))
                    .map(Ok),
            ),
            Proj::Streaming { prefix, rest } => match prefix.take() {
                Some(p) => Poll::Ready(Some(Ok(Frame::data(p)))),
                None => rest.poll_frame(cx).map_err(Into::into),
            },
            Proj::Failed { error } => Poll::Ready(error.take().map(Err)),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RetryBody::Replay { data, trailers, .. } => data.is_none() && trailers.is_none(),
            RetryBody::Streaming { prefix, rest } => prefix.is_none() && rest.is_end_stream(),
            RetryBody::Failed { error } => error.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RetryBody::Replay { data, exact, .. } => {
                let len = data.as_ref().map_or(0, |d| d.len() as u64);
                if *exact {
                    SizeHint::with_exact(len)
                } else {
                    let mut hint = SizeHint::new();
                    hint.set_lower(len);
                    hint
                }
            }
            RetryBody::Streaming { prefix, rest } => {
                let extra = prefix.as_ref().map_or(0, |p| p.len() as u64);
                let inner = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower() + extra);
                if let Some(upper) = inner.upper() {
                    hint.set_upper(upper + extra);
                }
                hint
            }
            RetryBody::Failed { .. } => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    #[tokio::test]
    async fn a_full_body_replays_each_time() {
        let Buffering::Complete(b) = buffer(Full::new(Bytes::from_static(b"hello"))) else {
            panic!("a full body is ready at once");
        };
        for _ in 0..3 {
            let body: RetryBody<Full<Bytes>> = b.replay();
            assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
        }
    }

    #[tokio::test]
    async fn a_replay_gives_its_size_as_exact_only_if_the_callers_body_did() {
        let Buffering::Complete(full) = buffer(Full::new(Bytes::from_static(b"hello"))) else {
            panic!("a full body is ready at once");
        };
        let replay: RetryBody<Full<Bytes>> = full.replay();
        assert_eq!(replay.size_hint().exact(), Some(5));

        // A body of unknown size that is all there, as tonic's for a
        // unary call: no exact size, so hyper adds no `content-length`.
        let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(Frame::data(
            Bytes::from_static(b"hello"),
        ))]);
        let Buffering::Complete(unknown_size) = buffer(StreamBody::new(chunks)) else {
            panic!("a finished stream is ready at once");
        };
        let replay: RetryBody<Full<Bytes>> = unknown_size.replay();
        let hint = replay.size_hint();
        assert_eq!((hint.lower(), hint.upper()), (5, None));
        assert_eq!(replay.collect().await.unwrap().to_bytes(), "hello");
    }

    #[tokio::test]
    async fn a_body_still_streaming_is_passed_on_whole() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
        tx.send(Ok(Frame::data(Bytes::from_static(b"a"))))
            .await
            .unwrap();
        let stream = tokio_stream_from(rx);
        let Buffering::Streaming(body) = buffer(StreamBody::new(stream)) else {
            panic!("an open stream cannot be buffered");
        };
        tx.send(Ok(Frame::data(Bytes::from_static(b"b"))))
            .await
            .unwrap();
        drop(tx);
        assert_eq!(body.collect().await.unwrap().to_bytes(), "ab");
    }

    #[tokio::test]
    async fn an_oversized_body_is_not_buffered_but_arrives_intact() {
        let big = Bytes::from(vec![7u8; MAX_REPLAY_BYTES + 1]);
        let Buffering::Streaming(body) = buffer(Full::new(big.clone())) else {
            panic!("too large to replay");
        };
        assert_eq!(body.collect().await.unwrap().to_bytes(), big);
    }

    fn tokio_stream_from<T>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures_util::Stream<Item = T> + Unpin {
        Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
    }
}
