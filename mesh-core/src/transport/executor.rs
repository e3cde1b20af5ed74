//! The executor the mesh gives hyper's servers: tokio's, with each task
//! boxed.

use std::future::Future;

/// Spawns hyper's tasks on the current tokio runtime, each future boxed.
///
/// hyper's HTTP/2 server spawns a task per request holding the service's
/// future, and its client two per request whose future is an enum that
/// can also hold the whole connection (its codec, buffers and HPACK
/// tables, well over a kilobyte). Spawned as they are, such futures are
/// copied into the task and moved several times more on the way, and once
/// more when the task finishes. Boxed, only a pointer moves, for one
/// allocation per task: callgrind counted about 3100 fewer instructions of
/// copying per request through the mesh's client when it still spawned
/// hyper's client tasks this way, 1700 fewer in all. tonic's own `Channel`
/// boxes hyper's tasks the same way. `mesh_hyper::serve` uses it; the
/// mesh's HTTP/2 client now runs its connections' futures in the
/// connection's own task instead.
///
/// ```
/// use hyper::client::conn::http2;
/// use mesh_core::transport::BoxedExecutor;
///
/// let builder = http2::Builder::new(BoxedExecutor);
/// # let _ = builder;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct BoxedExecutor;

impl<F> hyper::rt::Executor<F> for BoxedExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(Box::pin(future));
    }
}
