//! Echo's own timers: [`sleep`], [`sleep_until`], [`interval`] and
//! [`timeout`], in tokio's shapes, with or without the `tokio` feature.
//!
//! The deadlines are kept by the scheduler's core, in timing wheels (one
//! per worker, one for timers armed off the pool) whose entries live
//! inside these futures: arming and cancelling (dropping) a timer cost
//! O(1) and allocate nothing, so 100,000 idle timers cost memory (a few
//! dozen bytes each), not CPU. A worker arms and cancels its timers in its
//! own wheel, so timers on different workers never contend, and a
//! [`timeout`] arms nothing until its future is first pending. Busy
//! workers fire expired timers at their scheduling points; when every
//! worker is idle, one of them sleeps until the earliest deadline on a
//! precise parker (with the `tokio` feature it waits in the reactor, which
//! a `timerfd` wakes on time on Linux; elsewhere it switches to the
//! precise parker for the last 3 ms, because tokio's timer and
//! `epoll_wait` count whole milliseconds). A task woken by a timer takes
//! the local path of the worker that fired it: High work goes to the High
//! injector, so a High timer under a Normal flood fires within one poll
//! plus a wake-up.
//!
//! A timer is created on the scheduler of the calling thread (a task, or
//! inside [`Scheduler::block_on`](crate::Scheduler::block_on)), and
//! completes never before its deadline. A timer that is due still yields
//! once when the task has spent its cooperative budget (see
//! [`consume_budget`](crate::task::consume_budget)).
//!
//! ```
//! use echo_std::time::{self, Duration, Instant};
//! use echo_std::{Priority, Scheduler};
//!
//! let scheduler = Scheduler::builder().worker_count(1).build()?;
//! let task = scheduler.submit(async {
//!     let start = Instant::now();
//!     time::sleep(Duration::from_millis(5)).await;
//!     let mut ticks = time::interval(Duration::from_millis(2));
//!     let first = ticks.tick().await; // at once
//!     let second = ticks.tick().await;
//!     let late = time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
//!     (start.elapsed(), second - first, late.is_err())
//! }, Priority::High);
//! let (slept, period, timed_out) = scheduler.block_on(task)?;
//! assert!(slept >= Duration::from_millis(5));
//! assert_eq!(period, Duration::from_millis(2));
//! assert!(timed_out);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::context;
use crate::host::StdPlatform;
use echo_sched_core::Platform;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
pub use std::time::{Duration, Instant};

/// A far deadline standing for "never" when `now + duration` overflows.
fn far_future() -> Instant {
    // About 30 years, as tokio does.
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

/// Waits until `duration` has passed.
///
/// # Panics
///
/// When called outside a scheduler's context (a task, or
/// [`Scheduler::block_on`](crate::Scheduler::block_on)).
///
/// ```
/// # let scheduler = echo_std::Scheduler::builder().worker_count(1).build().unwrap();
/// use echo_std::time::{sleep, Duration, Instant};
/// scheduler.block_on(async {
///     let start = Instant::now();
///     sleep(Duration::from_millis(3)).await;
///     assert!(start.elapsed() >= Duration::from_millis(3));
/// });
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    let deadline = now.checked_add(duration).unwrap_or_else(far_future);
    context::with_core(|core| {
        let nanos = core
            .platform()
            .now_nanos()
            .saturating_add(nanos_of(deadline - now));
        Sleep {
            inner: core.sleep_until(nanos),
            deadline,
        }
    })
}

/// A duration in nanoseconds, saturating.
fn nanos_of(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Waits until `deadline`.
///
/// # Panics
///
/// As [`sleep`].
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    context::with_core(|core| Sleep {
        inner: core.sleep_until(core.platform().nanos_at(deadline)),
        deadline,
    })
}

/// The future of [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    inner: echo_sched_core::Sleep<StdPlatform>,
    deadline: Instant,
}

impl Sleep {
    /// When it completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether it has completed.
    pub fn is_elapsed(&self) -> bool {
        self.inner.is_elapsed()
    }

    /// Moves the deadline (also after completion, re-arming the timer).
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        // SAFETY: `inner` is pinned structurally: it is never moved out of
        // a pinned `Sleep`, which is `!Unpin` because `inner` is.
        let this = unsafe { self.get_unchecked_mut() };
        this.deadline = deadline;
        let nanos = this.inner.scheduler().platform().nanos_at(deadline);
        // SAFETY: as above.
        unsafe { Pin::new_unchecked(&mut this.inner) }.reset(nanos);
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: structural pinning of `inner`, as in `reset`.
        let this = unsafe { self.get_unchecked_mut() };
        loop {
            // SAFETY: as above.
            let mut inner = unsafe { Pin::new_unchecked(&mut this.inner) };
            if inner.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The core's clock (the TSC, scaled) may be a hair ahead of
            // `Instant`: never complete before the deadline by `Instant`.
            let now = Instant::now();
            if now >= this.deadline {
                return Poll::Ready(());
            }
            let platform = inner.scheduler().platform();
            let rest = (this.deadline - now).as_nanos() as u64;
            let nanos = platform.now_nanos().saturating_add(rest.max(1));
            inner.reset(nanos);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}

/// What an [`Interval`] does when a tick was missed (it completes later
/// than its deadline plus the period).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissedTickBehavior {
    /// Tick at once, as often as needed to catch up with the schedule
    /// (the default, as in tokio).
    #[default]
    Burst,
    /// Restart the schedule: the next tick is one period after now.
    Delay,
    /// Skip the missed ticks: the next tick is the next one on the
    /// schedule after now.
    Skip,
}

/// Ticks every `period`; the first tick completes at once.
///
/// # Panics
///
/// If `period` is zero, or outside a scheduler's context (as [`sleep`]).
///
/// ```
/// # let scheduler = echo_std::Scheduler::builder().worker_count(1).build().unwrap();
/// use echo_std::time::{interval, Duration};
/// scheduler.block_on(async {
///     let mut every = interval(Duration::from_millis(2));
///     let first = every.tick().await;
///     let second = every.tick().await;
///     assert_eq!(second - first, Duration::from_millis(2));
/// });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first time at `start`.
///
/// # Panics
///
/// As [`interval`].
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        period > Duration::ZERO,
        "echo: interval period must be non-zero"
    );
    Interval {
        sleep: Box::pin(sleep_until(start)),
        period,
        missed: MissedTickBehavior::Burst,
    }
}

/// A periodic timer: see [`interval`].
#[derive(Debug)]
pub struct Interval {
    /// Boxed so that `tick` can take `&mut self`: the timer's entry must
    /// not move while armed.
    sleep: Pin<Box<Sleep>>,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick: its scheduled instant once due.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.sleep.deadline();
        let now = Instant::now();
        let next = match self.missed {
            _ if now < scheduled + self.period => scheduled + self.period,
            MissedTickBehavior::Burst => scheduled + self.period,
            MissedTickBehavior::Delay => now + self.period,
            MissedTickBehavior::Skip => {
                let behind = (now - scheduled).as_nanos() / self.period.as_nanos();
                scheduled + self.period * (behind as u32 + 1)
            }
        };
        self.sleep.as_mut().reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.sleep.as_mut().reset(Instant::now() + self.period);
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// What happens to missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets what happens to missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

/// Runs `future` for at most `duration`: `Err(Elapsed)` if it has not
/// completed by then (the future is dropped with the `Timeout`).
///
/// The duration counts from this call, on the scheduler's clock (the one
/// its timers keep; on x86-64 the calibrated TSC, which may run a few
/// parts in 100,000 apart from `Instant`). No timer is armed until
/// `future` is first polled pending: a timeout around a future that is
/// ready at once costs a clock read and no more.
///
/// # Panics
///
/// As [`sleep`], and when it is first polled pending on a thread outside
/// every scheduler's context (the timer is armed there).
///
/// ```
/// # let scheduler = echo_std::Scheduler::builder().worker_count(1).build().unwrap();
/// use echo_std::time::{timeout, Duration};
/// scheduler.block_on(async {
///     assert_eq!(timeout(Duration::from_secs(1), async { 5 }).await, Ok(5));
///     let never = std::future::pending::<()>();
///     assert!(timeout(Duration::from_millis(1), never).await.is_err());
/// });
/// ```
#[track_caller]
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    let deadline = context::with_core(|core| {
        let platform = core.platform();
        Deadline::Nanos {
            at: platform.now_nanos().saturating_add(nanos_of(duration)),
            origin: platform.origin(),
        }
    });
    Timeout {
        future: future.into_future(),
        deadline,
        sleep: None,
    }
}

/// Runs `future` until `deadline` at most: see [`timeout`].
///
/// # Panics
///
/// When it is first polled pending on a thread outside every scheduler's
/// context (the timer is armed there).
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        future: future.into_future(),
        deadline: Deadline::At(deadline),
        sleep: None,
    }
}

/// When a [`Timeout`] ends, until its timer is armed.
#[derive(Clone, Copy, Debug)]
enum Deadline {
    /// Nanoseconds on the clock of the scheduler whose clock started at
    /// `origin` (`StdPlatform::origin`, which tells schedulers' clocks
    /// apart).
    Nanos { at: u64, origin: Instant },
    /// An instant.
    At(Instant),
}

impl Deadline {
    /// The timer for this deadline, on the calling thread's scheduler.
    #[track_caller]
    fn sleep(self) -> echo_sched_core::Sleep<StdPlatform> {
        context::with_core(|core| {
            let platform = core.platform();
            let nanos = match self {
                Deadline::Nanos { at, origin } if origin == platform.origin() => at,
                // Made on another scheduler (its clock counts from another
                // origin): through `Instant`.
                Deadline::Nanos { at, origin } => platform.nanos_at(
                    origin
                        .checked_add(Duration::from_nanos(at))
                        .unwrap_or_else(far_future),
                ),
                Deadline::At(deadline) => platform.nanos_at(deadline),
            };
            core.sleep_until(nanos)
        })
    }
}

/// The future of [`timeout`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Timeout<F> {
    future: F,
    deadline: Deadline,
    /// The timer, made by the first poll that finds `future` pending.
    sleep: Option<echo_sched_core::Sleep<StdPlatform>>,
}

impl<F> Timeout<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The wrapped future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// The wrapped future, unwrapped.
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` and the timer inside `sleep` are pinned
        // structurally: neither is moved out of a pinned `Timeout` (which is
        // `!Unpin` through `Sleep`); `sleep` is only ever set from `None`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Poll::Ready(out) = future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        let deadline = this.deadline;
        let sleep = this.sleep.get_or_insert_with(|| deadline.sleep());
        // SAFETY: as above.
        let sleep = unsafe { Pin::new_unchecked(sleep) };
        sleep.poll(cx).map(|()| Err(Elapsed(())))
    }
}

/// The error of a [`timeout`] whose deadline passed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}
