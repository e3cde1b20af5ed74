//! Keeps request deadlines from waking the runtime's timer driver.
//!
//! Tokio's time driver notes, each time a thread parks on it, the earliest
//! timer it must wake for. Registering a timer earlier than that, or any
//! timer when none was pending, unparks the driver: an eventfd write, and
//! often a wake of an idle thread that then finds nothing to do
//! (tokio-rs/tokio#5207). A request's deadline timer is almost always
//! cancelled long before it fires, so at moderate rates no timer is pending
//! when a thread parks, and every request paid that wake: once for the
//! client's deadline, once more for the `grpc-timeout` the server enforces.
//!
//! While deadlines are being set, one task per runtime keeps a timer armed
//! at most [`PERIOD`] ahead. Every deadline at least that far away is then
//! later than the driver's next wake, and registers without waking it. The
//! task ends after a period with no deadline, so an idle process is not
//! woken; the next deadline starts it again. It is only an optimisation:
//! when it is not running, deadlines work as before.
//!
//! On a runtime without timers (built without `enable_time`), tokio
//! panics when the anchor makes its timer. The server engages the anchor
//! for an inbound `grpc-timeout` without making a timer itself, so that can
//! happen: the panic is caught (tokio's panic hook still prints its message,
//! once) and the anchor stays off for that runtime.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::runtime::{Handle, Id};

/// How far ahead the anchor's timer is kept, and how long the anchor
/// outlives the last deadline. Deadlines closer than this gain nothing
/// (their timer is earlier than the anchor's) and lose nothing. The anchor
/// wakes its runtime this often while deadlines are being set: a few times
/// a second, against the thousands of wakes it saves.
pub(crate) const PERIOD: Duration = Duration::from_millis(100);

/// One runtime's anchor.
#[derive(Debug, Default)]
struct Anchor {
    /// Whether a deadline was set since the anchor last looked.
    busy: AtomicBool,
    /// Whether the anchor's task is running.
    running: AtomicBool,
    /// Whether the runtime has no timers, so no anchor.
    disabled: AtomicBool,
}

thread_local! {
    /// The anchor of the runtime this thread last set a deadline on. A
    /// worker thread belongs to one runtime; a thread that blocks on
    /// several may mark another runtime's anchor, which costs that
    /// runtime's wakes, never a deadline.
    static LOCAL: RefCell<Option<Arc<Anchor>>> = const { RefCell::new(None) };
}

/// Every runtime's anchor, so that the threads of one runtime share one.
static ANCHORS: Mutex<Vec<(Id, Weak<Anchor>)>> = Mutex::new(Vec::new());

/// Notes that a timer firing `remaining` from now is about to be set on
/// the current runtime, and keeps the runtime's anchor running if that
/// saves a wake. Does nothing outside a runtime.
pub(crate) fn hold_for(remaining: Duration) {
    if remaining < PERIOD {
        return;
    }
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        if let Some(anchor) = local.as_ref()
            && (anchor.running.load(Ordering::Relaxed) || anchor.disabled.load(Ordering::Relaxed))
        {
            // Read before writing: the flag's cache line is shared by every
            // thread, and is written once a period, not once a request.
            if !anchor.busy.load(Ordering::Relaxed) {
                anchor.busy.store(true, Ordering::Relaxed);
            }
            return;
        }
        if let Ok(runtime) = Handle::try_current() {
            *local = Some(start(&runtime));
        }
    });
}

/// Finds or makes the runtime's anchor, and starts its task unless it is
/// running.
fn start(runtime: &Handle) -> Arc<Anchor> {
    let anchor = {
        let mut anchors = ANCHORS.lock().unwrap_or_else(PoisonError::into_inner);
        anchors.retain(|(_, a)| a.strong_count() > 0);
        let found = anchors
            .iter()
            .find(|(id, _)| *id == runtime.id())
            .and_then(|(_, a)| a.upgrade());
        found.unwrap_or_else(|| {
            let anchor = Arc::new(Anchor::default());
            anchors.push((runtime.id(), Arc::downgrade(&anchor)));
            anchor
        })
    };
    anchor.busy.store(true, Ordering::Relaxed);
    if !anchor.disabled.load(Ordering::Relaxed)
        && anchor
            .running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    {
        match std::panic::catch_unwind(|| tokio::time::sleep(PERIOD)) {
            // The guard goes into the future now, so that a task dropped
            // before its first poll (its runtime shutting down) still
            // marks the anchor stopped.
            Ok(first) => drop(runtime.spawn(keep_armed(Stopped(anchor.clone()), first))),
            Err(_) => {
                tracing::debug!("the runtime has no timers: no timer anchor");
                anchor.disabled.store(true, Ordering::Relaxed);
                anchor.running.store(false, Ordering::Release);
            }
        }
    }
    anchor
}

/// Marks the anchor stopped however its task ends, including with its
/// runtime.
struct Stopped(Arc<Anchor>);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

/// The anchor's task: a timer at most [`PERIOD`] ahead (`first`, then
/// the same one reset) for as long as deadlines keep being set.
async fn keep_armed(anchor: Stopped, first: tokio::time::Sleep) {
    let mut timer = std::pin::pin!(first);
    loop {
        timer.as_mut().await;
        if !anchor.0.busy.swap(false, Ordering::Relaxed) {
            return;
        }
        timer.as_mut().reset(tokio::time::Instant::now() + PERIOD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> bool {
        LOCAL.with(|l| {
            l.borrow()
                .as_ref()
                .is_some_and(|a| a.running.load(Ordering::Acquire))
        })
    }

    /// Lets the anchor's task run after the clock moved.
    async fn settle() {
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn runs_while_deadlines_are_set_and_stops_a_period_after() {
        hold_for(Duration::from_secs(5));
        settle().await;
        assert!(running());
        // Deadlines keep coming: it keeps running past several periods.
        for _ in 0..3 {
            tokio::time::advance(PERIOD).await;
            settle().await;
            hold_for(Duration::from_secs(5));
            assert!(running());
        }
        // One period sees the last deadline, the next sees none.
        tokio::time::advance(PERIOD).await;
        settle().await;
        assert!(running());
        tokio::time::advance(PERIOD).await;
        settle().await;
        assert!(!running());
        // The next deadline starts it again.
        hold_for(Duration::from_secs(5));
        assert!(running());
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_closer_than_a_period_do_not_start_it() {
        hold_for(PERIOD / 2);
        settle().await;
        assert!(!running());
    }

    #[test]
    fn a_runtime_without_timers_gets_none_and_no_panic() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            hold_for(Duration::from_secs(5));
            hold_for(Duration::from_secs(5));
        });
        assert!(!running());
        let disabled = LOCAL.with(|l| {
            l.borrow()
                .as_ref()
                .is_some_and(|a| a.disabled.load(Ordering::Relaxed))
        });
        assert!(disabled, "marked so that it is not tried again");
    }

    #[test]
    fn outside_a_runtime_it_does_nothing() {
        hold_for(Duration::from_secs(5));
        assert!(!running());
    }

    #[test]
    fn each_runtime_has_its_own_and_it_stops_with_its_runtime() {
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        first.block_on(async { hold_for(Duration::from_secs(5)) });
        assert!(running());
        drop(first);
        // The runtime's end ended the task.
        assert!(!running());
        let second = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        second.block_on(async { hold_for(Duration::from_secs(5)) });
        assert!(running());
    }
}
