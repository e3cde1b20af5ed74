//! Response bodies: the destination's, or one the mesh wrote itself.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::BoxError;

pin_project! {
    /// A response body from the destination, or the mesh's own reply.
    // pin-project-lite takes no attributes on fields; each variant's doc
    // says what its field holds.
    #[allow(missing_docs)]
    #[project = MeshBodyProj]
    #[derive(Debug)]
    pub enum MeshBody<B> {
        /// The destination's body, passed through.
        Upstream { #[pin] inner: B },
        /// A body the mesh wrote (an error message, or nothing).
        Local { data: Option<Bytes> },
    }
}

impl<B> MeshBody<B> {
    /// Wraps the destination's body.
    pub fn upstream(inner: B) -> Self {
        MeshBody::Upstream { inner }
    }

    /// A body holding `data`.
    pub fn local(data: Bytes) -> Self {
        MeshBody::Local { data: Some(data) }
    }

    /// An empty body.
    pub fn empty() -> Self {
        MeshBody::Local { data: None }
    }
}

impl<B> Body for MeshBody<B>
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
            MeshBodyProj::Upstream { inner } => inner.poll_frame(cx).map_err(Into::into),
            MeshBodyProj::Local { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            MeshBody::Upstream { inner } => inner.is_end_stream(),
            MeshBody::Local { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MeshBody::Upstream { inner } => inner.size_hint(),
            MeshBody::Local { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    #[tokio::test]
    async fn local_and_upstream_bodies_read_fully() {
        let b: MeshBody<Full<Bytes>> = MeshBody::local(Bytes::from_static(b"no route"));
        assert_eq!(b.size_hint().exact(), Some(8));
        assert_eq!(b.collect().await.unwrap().to_bytes(), "no route");
        let b = MeshBody::upstream(Full::new(Bytes::from_static(b"hi")));
        assert_eq!(b.collect().await.unwrap().to_bytes(), "hi");
        let b: MeshBody<Full<Bytes>> = MeshBody::empty();
        assert!(b.is_end_stream());
    }
}
