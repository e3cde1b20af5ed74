//! Runs the futures hyper's HTTP/2 client starts for each request inside
//! the task that drives their connection, instead of spawning a task for
//! each.
//!
//! hyper's client hands its executor one future per connection (the
//! HTTP/2 connection itself) and two per request (one sends the request
//! body, one waits for the response and hands it to the caller). Spawned
//! on a multi-threaded tokio runtime, each request's two tasks start on the
//! worker running the connection's task, and the second wakes a parked
//! worker to take the first, which then races the connection's task for
//! the same stream. At 1000 requests/s that was 2.3 wake-ups of a parked
//! worker per request through the mesh's gRPC client, against bare
//! tonic's 1.9; polled here, it is 1.0, and the client runs about 8800
//! fewer instructions per request (`BENCHMARKS.md`, "Seventh round").
//!
//! Each future has its own waker (a [`FuturesUnordered`]), so a wake-up
//! polls only the future it is for. A connection's work is serialised by
//! h2 (one lock per connection) anyway. The cost: a request body is polled
//! in the connection's task, so a body that does heavy work to produce
//! its data delays the connection's other requests meanwhile.
//!
//! On a busy connection the driver yields once before each round, so that
//! the requests of callers already woken go out together: under a closed
//! loop of 16 callers that took the client from about 0.9 of bare tonic's
//! throughput to about 1.2 (`BENCHMARKS.md`, "Ninth round").

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::task::AtomicWaker;

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// How many times one poll of the driver goes round before it lets other
/// tasks run: a connection kept busy by its own futures still yields.
const ROUNDS_PER_POLL: usize = 32;

/// A connection running more futures than this (itself, and one or two
/// per request in flight: hyper's response future, and its body's while
/// that is being sent) is busy enough that its driver lets the tasks
/// already woken run before each round (see [`Driver::yielded`]).
const BUSY_ABOVE: usize = 4;

/// What the executor and the futures' wakers share with the driver.
#[derive(Default)]
struct Handoff {
    /// Futures handed over but not yet picked up.
    pending: Mutex<Vec<Task>>,
    /// The driver's task.
    driver: AtomicWaker,
    /// Set while the driver is being polled: a future handed over or
    /// woken meanwhile is seen before the poll ends, so the driver's task
    /// is not woken (tokio polls a task woken while it runs again, for
    /// nothing, and may wake a parked worker to do so).
    polling: AtomicBool,
    /// Something was handed over or woken while the driver was polling.
    rerun: AtomicBool,
}

impl Handoff {
    /// Moves what was handed over into `running`, through `spare` (kept
    /// by the driver so that the list's allocation is reused).
    fn take_into(&self, running: &mut FuturesUnordered<Task>, spare: &mut Vec<Task>) {
        std::mem::swap(
            &mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner),
            spare,
        );
        running.extend(spare.drain(..));
    }
}

impl Wake for Handoff {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Paired with the driver's stores and re-check after a poll:
        // either it sees `rerun`, or this sees that it stopped polling.
        self.rerun.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.driver.wake();
        }
    }
}

/// The executor for one HTTP/2 client connection: what it is given runs
/// in the task that drives the connection (see [`ConnectionTasks::drive`]).
#[derive(Clone, Default)]
pub(crate) struct ConnectionTasks {
    handoff: Arc<Handoff>,
}

impl ConnectionTasks {
    /// The future to spawn in place of `connection`: it polls the
    /// connection and every future handed to this executor (before or
    /// after), each when woken, and ends when all have ended.
    pub(crate) fn drive<C>(&self, connection: C) -> Driver
    where
        C: Future<Output = ()> + Send + 'static,
    {
        let running = FuturesUnordered::new();
        running.push(Box::pin(connection) as Task);
        Driver {
            handoff: self.handoff.clone(),
            waker: Waker::from(self.handoff.clone()),
            running,
            spare: Vec::new(),
            yielded: false,
        }
    }
}

impl<F> hyper::rt::Executor<F> for ConnectionTasks
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, future: F) {
        self.handoff
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::pin(future));
        self.handoff.wake_by_ref();
    }
}

/// A connection and the futures of its executor, polled by one task.
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Driver {
    handoff: Arc<Handoff>,
    /// Given to the futures instead of the task's own waker (see
    /// [`Handoff::polling`]).
    waker: Waker,
    running: FuturesUnordered<Task>,
    spare: Vec<Task>,
    /// Whether the driver has gone to the back of the run queue since its
    /// last round.
    ///
    /// Woken on a busy connection, by a caller's new request or by the
    /// socket, it goes there once before doing the work: the callers
    /// already woken (by the responses its last round read) then send
    /// their next requests first, which go out in one write, and the
    /// socket has more responses to read by the time it does. Running
    /// at once instead (tokio puts a task woken by the running one next in
    /// line), it wrote about one request per `writev`. On a quiet
    /// connection it runs at once: a task that yields makes tokio wake a
    /// parked worker, which at low rates costs more than it batches.
    yielded: bool,
}

impl Future for Driver {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let handoff = &*this.handoff;
        handoff.driver.register(cx.waker());
        if !this.yielded && this.running.len() > BUSY_ABOVE {
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.yielded = false;
        let mut inner = Context::from_waker(&this.waker);
        handoff.polling.store(true, Ordering::SeqCst);
        for _ in 0..ROUNDS_PER_POLL {
            handoff.rerun.store(false, Ordering::SeqCst);
            handoff.take_into(&mut this.running, &mut this.spare);
            // Each `Ready(Some)` is one future finished, and there may be
            // more ready; `Ready(None)` is none left.
            while let Poll::Ready(Some(())) = this.running.poll_next_unpin(&mut inner) {}
            if !handoff.rerun.load(Ordering::SeqCst) {
                handoff.polling.store(false, Ordering::SeqCst);
                // Handed over or woken from another thread just now?
                if !handoff.rerun.load(Ordering::SeqCst) {
                    // The connection is one of the futures: once all have
                    // ended, nothing is left to hand over more (hyper does
                    // so only from the connection and its requests).
                    return if this.running.is_empty() {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    };
                }
                handoff.polling.store(true, Ordering::SeqCst);
            }
            // Woken again meanwhile: go round again, unless the task has
            // spent its tokio budget, after which tokio's resources answer
            // `Pending` (waking it) until it yields; going round would only
            // spin.
            if !tokio::task::coop::has_budget_remaining() {
                break;
            }
        }
        // Still busy: let other tasks run, and come back (to work: this
        // was the yield).
        handoff.polling.store(false, Ordering::SeqCst);
        this.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use hyper::rt::Executor;
    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test]
    async fn the_connection_and_what_it_hands_over_run_in_the_driver() {
        let tasks = ConnectionTasks::default();
        let ran = Arc::new(AtomicUsize::new(0));
        // Handed over before the driver exists, as hyper does with the
        // HTTP/2 connection during the handshake.
        let (release, released) = oneshot::channel::<()>();
        let counter = ran.clone();
        tasks.execute(async move {
            let _ = released.await;
            counter.fetch_add(1, Ordering::SeqCst);
        });
        // The connection hands over a future that hands over another, as
        // hyper's does with each request's two futures, then ends when
        // told to.
        let (close, closed) = oneshot::channel::<()>();
        let (executor, counter) = (tasks.clone(), ran.clone());
        let connection = async move {
            let nested = executor.clone();
            executor.execute(async move {
                nested.execute(async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                });
            });
            let _ = closed.await;
        };
        let driver = tokio::spawn(tasks.drive(connection));
        drop(tasks);
        for _ in 0..3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(ran.load(Ordering::SeqCst), 1, "the nested future ran");
        close.send(()).expect("the connection waits");
        tokio::task::yield_now().await;
        assert!(!driver.is_finished(), "the first future still waits");
        release.send(()).expect("the first future waits");
        driver.await.expect("the driver ends");
        assert_eq!(ran.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_future_handed_over_from_another_task_wakes_the_driver() {
        let tasks = ConnectionTasks::default();
        let (close, closed) = oneshot::channel::<()>();
        let driver = tokio::spawn(tasks.drive(async move {
            let _ = closed.await;
        }));
        tokio::task::yield_now().await;
        let (done, ran) = oneshot::channel::<()>();
        tasks.execute(async move {
            let _ = done.send(());
        });
        ran.await.expect("the future ran");
        close.send(()).expect("the connection waits");
        driver.await.expect("the driver ends");
    }

    /// Counts its wake-ups: the driver's task, as tokio would see it.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Never ends; counts its polls.
    fn pending(polls: &Arc<AtomicUsize>) -> impl Future<Output = ()> + Send + 'static {
        let polls = polls.clone();
        std::future::poll_fn(move |_| {
            polls.fetch_add(1, Ordering::SeqCst);
            Poll::Pending
        })
    }

    #[tokio::test]
    async fn a_busy_connection_yields_once_before_its_round_and_a_quiet_one_does_not() {
        let tasks = ConnectionTasks::default();
        let polls = Arc::new(AtomicUsize::new(0));
        let mut driver = tasks.drive(pending(&polls));
        let task = Arc::new(CountingWaker::default());
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let mut poll = |driver: &mut Driver| Pin::new(driver).poll(&mut cx);

        // Quiet: what is handed over runs in the same poll.
        tasks.execute(pending(&polls));
        assert!(poll(&mut driver).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 2, "both futures polled");
        assert_eq!(task.0.load(Ordering::SeqCst), 0);

        // Then busy: more futures than `BUSY_ABOVE` running. The poll that
        // picks them up is still quiet's.
        for _ in 0..BUSY_ABOVE {
            tasks.execute(pending(&polls));
        }
        assert!(poll(&mut driver).is_pending());
        let all = 2 + BUSY_ABOVE;
        assert_eq!(polls.load(Ordering::SeqCst), all);
        // Each time it is woken now (here by one more future handed over),
        // it first yields, waking itself, and does the round when polled
        // again.
        for round in 1..=2 {
            let wakes = task.0.load(Ordering::SeqCst);
            tasks.execute(pending(&polls));
            assert_eq!(task.0.load(Ordering::SeqCst), wakes + 1, "handed over");
            assert!(poll(&mut driver).is_pending());
            assert_eq!(polls.load(Ordering::SeqCst), all + round - 1, "yielded");
            assert_eq!(task.0.load(Ordering::SeqCst), wakes + 2, "woke itself");
            assert!(poll(&mut driver).is_pending());
            assert_eq!(polls.load(Ordering::SeqCst), all + round, "the round");
        }
    }

    #[tokio::test]
    async fn a_future_that_keeps_waking_itself_does_not_hold_the_thread() {
        let polls = Arc::new(AtomicUsize::new(0));
        let counter = polls.clone();
        let tasks = ConnectionTasks::default();
        // Always ready to be polled again, never done: as a future whose
        // tokio resources answer `Pending` once its budget is spent.
        let busy = std::future::poll_fn(move |cx| {
            counter.fetch_add(1, Ordering::SeqCst);
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        });
        // How many times one poll of the driver polls that future, at most.
        let most = Arc::new(AtomicUsize::new(0));
        let (seen, mut driver) = (most.clone(), tasks.drive(busy));
        let driving = tokio::spawn(std::future::poll_fn(move |cx| {
            let before = polls.load(Ordering::SeqCst);
            let polled = Pin::new(&mut driver).poll(cx);
            let during = polls.load(Ordering::SeqCst) - before;
            seen.fetch_max(during, Ordering::SeqCst);
            polled
        }));
        // The test runs again only if the driver yields (one thread).
        tokio::task::yield_now().await;
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=ROUNDS_PER_POLL).contains(&most),
            "{most} polls in one poll of the driver"
        );
        driving.abort();
    }
}
