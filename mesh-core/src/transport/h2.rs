//! HTTP/2 endpoints: one multiplexed connection per address, used without
//! a lock or a `Buffer` on the request path.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::TrySendError;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::TokioIo;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::connection_tasks::ConnectionTasks;
use super::{ConnectSettings, Connector, connect};
use crate::error::{BoxError, MeshError};
use crate::security::upstream::UpstreamSecurity;

/// Connects to endpoints over HTTP/2 with prior knowledge (h2c), as gRPC
/// does.
#[derive(Clone, Copy, Debug, Default)]
pub struct Http2Connector {
    settings: ConnectSettings,
}

impl Http2Connector {
    /// A connector with the given settings.
    pub fn new(settings: ConnectSettings) -> Self {
        Self { settings }
    }
}

impl<B> Connector<B> for Http2Connector
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Body = Incoming;
    type Endpoint = Http2Endpoint<B>;

    fn endpoint(&self, addr: SocketAddr, security: UpstreamSecurity) -> Http2Endpoint<B> {
        Http2Endpoint {
            shared: Arc::new(Shared {
                addr,
                settings: self.settings,
                security,
                sender: ArcSwapOption::empty(),
                connecting: tokio::sync::Mutex::new(()),
            }),
        }
    }
}

struct Shared<B> {
    addr: SocketAddr,
    settings: ConnectSettings,
    security: UpstreamSecurity,
    /// The open connection, if any. Read on every request without a lock.
    sender: ArcSwapOption<Open<B>>,
    /// Makes sure only one task connects at a time; taken only when there
    /// is no open connection.
    connecting: tokio::sync::Mutex<()>,
}

/// An open connection, and when it must stop being used: a mutual TLS
/// connection lives no longer than the certificate it was opened with, so
/// an expired workload certificate fails closed on connections already
/// open, not only on new ones.
struct Open<B> {
    sender: SendRequest<B>,
    valid_until: Option<SystemTime>,
}

/// One address's HTTP/2 connection, opened on first use and reopened when
/// it breaks.
pub struct Http2Endpoint<B> {
    shared: Arc<Shared<B>>,
}

impl<B> Clone for Http2Endpoint<B> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<B> fmt::Debug for Http2Endpoint<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http2Endpoint")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

impl<B> Shared<B>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    /// The open connection, or `None` if there is none or it has closed.
    fn open(&self) -> Option<SendRequest<B>> {
        let guard = self.sender.load();
        guard
            .as_ref()
            .filter(|o| !o.sender.is_closed())
            .filter(|o| o.valid_until.is_none_or(|t| SystemTime::now() < t))
            .map(|o| o.sender.clone())
    }

    /// The open connection, connecting first if needed.
    ///
    /// Connecting (TCP, TLS and the HTTP/2 handshake) is a future of
    /// several kilobytes; boxed, and only when there is no connection, it
    /// stays out of every request's future, which would otherwise be that
    /// large and copied in full on every request.
    async fn sender(&self) -> Result<SendRequest<B>, MeshError> {
        match self.open() {
            Some(s) => Ok(s),
            None => Box::pin(self.connect()).await,
        }
    }

    /// Opens the connection, unless another task did meanwhile.
    async fn connect(&self) -> Result<SendRequest<B>, MeshError> {
        let _one_at_a_time = self.connecting.lock().await;
        // Another task may have connected while this one waited.
        if let Some(s) = self.open() {
            return Ok(s);
        }
        let valid_until = self.security.valid_until();
        let stream = connect(self.addr, self.settings, &self.security, &[b"h2"]).await?;
        // hyper's tasks for this connection (the HTTP/2 connection, and
        // two per request) run in the connection's own task.
        let tasks = ConnectionTasks::default();
        let (sender, conn) = http2::Builder::new(tasks.clone())
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| MeshError::Connect {
                endpoint: self.addr,
                source: e.into(),
            })?;
        let addr = self.addr;
        tokio::spawn(tasks.drive(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%addr, error = %e, "connection closed with an error");
            }
        }));
        tracing::debug!(%addr, "connected");
        self.sender.store(Some(Arc::new(Open {
            sender: sender.clone(),
            valid_until,
        })));
        Ok(sender)
    }
}

impl<B> Service<Request<B>> for Http2Endpoint<B>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Incoming>;
    type Error = MeshError;
    type Future = Responding;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), MeshError>> {
        // Connecting happens in `call`, so that a slow or failed connect is
        // one request's error, not a stuck client.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        // The usual case, an open connection: the request is queued on it
        // now, and the future only waits for the response. It is boxed on
        // every request, so it is kept small: the rare paths (connecting,
        // sending again) are futures of their own, boxed when taken.
        if let Some(mut sender) = shared.open() {
            return Box::pin(Sent {
                sent: sender.try_send_request(req),
                shared,
                resend: None,
            });
        }
        Box::pin(async move {
            let mut sender = shared.sender().await?;
            match sender.try_send_request(req).await {
                Ok(res) => Ok(res),
                Err(e) => shared.resend(e).await,
            }
        })
    }
}

/// The endpoint's response: boxed, as hyper's own futures cannot be named.
type Responding = Pin<Box<dyn Future<Output = Result<Response<Incoming>, MeshError>> + Send>>;

pin_project! {
    /// A request queued on an open connection, waiting for its response;
    /// written out rather than an `async` block, which would keep hyper's
    /// future twice (as captured, and as awaited).
    struct Sent<F, B> {
        #[pin]
        sent: F,
        shared: Arc<Shared<B>>,
        // Set if the connection closed before the request was written.
        resend: Option<Responding>,
    }
}

impl<F, B> Future for Sent<F, B>
where
    F: Future<Output = Result<Response<Incoming>, TrySendError<Request<B>>>>,
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Incoming>, MeshError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(resend) = this.resend {
            return resend.as_mut().poll(cx);
        }
        match ready!(this.sent.poll(cx)) {
            Ok(res) => Poll::Ready(Ok(res)),
            Err(e) => {
                let shared = this.shared.clone();
                let resend = this
                    .resend
                    .insert(Box::pin(async move { shared.resend(e).await }));
                resend.as_mut().poll(cx)
            }
        }
    }
}

impl<B> Shared<B>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    /// After a failed send: if the connection closed before the request
    /// was written, nothing reached the endpoint, so reconnect and send it
    /// once more; otherwise the error is the request's.
    async fn resend(
        &self,
        mut e: TrySendError<Request<B>>,
    ) -> Result<Response<Incoming>, MeshError> {
        let addr = self.addr;
        match e.take_message() {
            Some(req) => {
                let mut sender = self.sender().await?;
                sender
                    .send_request(req)
                    .await
                    .map_err(|e| MeshError::Transport {
                        endpoint: addr,
                        source: e.into(),
                    })
            }
            None => Err(MeshError::Transport {
                endpoint: addr,
                source: e.into_error().into(),
            }),
        }
    }
}
