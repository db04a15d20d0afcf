//! `EchoTimer`: hyper's `Timer` on Echo's timers.
//!
//! hyper asks its timer for header-read timeouts, keep-alive pings and a
//! client pool's idle expiry. Echo's timers (`echo_std::time`) count
//! microseconds and fire on the worker that finds them due, so a High
//! connection's timeout wakes it within a poll plus a wake-up, like any
//! other High timer.

use crate::time::Sleep;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A `hyper::rt::Timer` on Echo's timers ([`echo_std::time`](crate::time)).
///
/// Its sleeps are made on the scheduler of the calling thread: hyper makes
/// them inside the connection or request it serves, which on Echo is a
/// task. Making one on a thread that belongs to no scheduler panics, as
/// [`time::sleep`](crate::time::sleep) does.
///
/// ```
/// use echo_std::hyper::EchoTimer;
/// use echo_std::{Priority, Scheduler};
/// use hyper::rt::Timer;
/// use std::time::{Duration, Instant};
///
/// let scheduler = Scheduler::builder().worker_count(1).build()?;
/// let slept = scheduler.block_on(async {
///     let start = Instant::now();
///     EchoTimer::new().sleep(Duration::from_millis(2)).await;
///     start.elapsed()
/// });
/// assert!(slept >= Duration::from_millis(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct EchoTimer {
    _private: (),
}

impl EchoTimer {
    /// The timer.
    pub fn new() -> EchoTimer {
        EchoTimer { _private: () }
    }
}

impl ::hyper::rt::Timer for EchoTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(EchoSleep(crate::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(EchoSleep(crate::time::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn ::hyper::rt::Sleep>>, new_deadline: Instant) {
        // Moving an Echo timer re-links it in the wheel; anything else is
        // replaced.
        match sleep.as_mut().downcast_mut_pin::<EchoSleep>() {
            Some(echo) => echo.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// An Echo [`Sleep`] as a `hyper::rt::Sleep`.
struct EchoSleep(Sleep);

impl EchoSleep {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.inner().reset(deadline);
    }

    fn inner(self: Pin<&mut Self>) -> Pin<&mut Sleep> {
        // SAFETY: the field is pinned structurally: never moved out of a
        // pinned `EchoSleep`, which has no `Drop` of its own.
        unsafe { self.map_unchecked_mut(|s| &mut s.0) }
    }
}

impl Future for EchoSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.inner().poll(cx)
    }
}

impl ::hyper::rt::Sleep for EchoSleep {}
