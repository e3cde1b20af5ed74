//! One stream type for plaintext and TLS connections, on either side.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connection that is plaintext or TLS, decided when it was opened.
///
/// The TLS streams are boxed, so that the type is as small as a TCP
/// stream (48 bytes instead of 1.2 KB). It is small for hyper's sake: its
/// HTTP/2 client spawns two tasks per request whose future is an enum with
/// the connection's own task as one variant, so the stream's size is part
/// of every request's task, and was copied several times per request.
#[derive(Debug)]
pub enum MeshStream {
    /// Plaintext TCP.
    Plain(TcpStream),
    /// TLS we accepted (server side).
    ServerTls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    /// TLS we initiated (client side).
    ClientTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for MeshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MeshStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MeshStream::ServerTls(s) => Pin::new(s).poll_read(cx, buf),
            MeshStream::ClientTls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MeshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MeshStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MeshStream::ServerTls(s) => Pin::new(s).poll_write(cx, buf),
            MeshStream::ClientTls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MeshStream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MeshStream::ServerTls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MeshStream::ClientTls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MeshStream::Plain(s) => s.is_write_vectored(),
            MeshStream::ServerTls(s) => s.is_write_vectored(),
            MeshStream::ClientTls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MeshStream::Plain(s) => Pin::new(s).poll_flush(cx),
            MeshStream::ServerTls(s) => Pin::new(s).poll_flush(cx),
            MeshStream::ClientTls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MeshStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MeshStream::ServerTls(s) => Pin::new(s).poll_shutdown(cx),
            MeshStream::ClientTls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl hyper_util::client::legacy::connect::Connection for MeshStream {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

#[cfg(test)]
mod tests {
    use super::MeshStream;

    /// hyper's HTTP/2 client copies the stream's size with every request's
    /// tasks (see [`MeshStream`]): it must stay about a TCP stream's.
    #[test]
    fn is_about_as_small_as_a_tcp_stream() {
        let tcp = std::mem::size_of::<tokio::net::TcpStream>();
        assert!(
            std::mem::size_of::<MeshStream>() <= tcp + 8,
            "MeshStream is {} bytes, a TcpStream {tcp}",
            std::mem::size_of::<MeshStream>()
        );
    }
}
