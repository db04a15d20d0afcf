//! Small helpers the tests share.

use crate::{Board, Failure};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use echo_sched_core::{Config, JoinError, JoinHandle, Priority, Scheduler};

/// Fails the test with a message unless `cond` holds.
macro_rules! check {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Err(alloc::format!($($msg)*));
        }
    };
}
pub(crate) use check;

/// Gives the worker back once: the task is queued again at once.
pub(crate) fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    core::future::poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

/// The output of a finished task, read without blocking; `None` if it has
/// not finished.
pub(crate) fn take_output<T>(mut handle: JoinHandle<T>) -> Option<Result<T, JoinError>> {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut handle).poll(&mut cx) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

/// Runs a test body as the root task of a new scheduler with `config`:
/// the body's future runs at Normal, the scheduler shuts down when it
/// returns, and its result comes back once every worker has left.
pub(crate) fn run_root<B, T, Fut>(
    config: Config,
    body: impl FnOnce(Scheduler<B::Platform>) -> Fut,
) -> Result<T, Failure>
where
    B: Board,
    T: Send + 'static,
    Fut: Future<Output = Result<T, Failure>> + Send + 'static,
{
    let scheduler = B::scheduler(config);
    let future = body(scheduler.clone());
    let s = scheduler.clone();
    let root = scheduler.spawn(
        async move {
            let result = future.await;
            s.shutdown();
            result
        },
        Priority::Normal,
    );
    B::run(&scheduler);
    check!(
        scheduler.is_terminated(),
        "the workers left before shutdown finished"
    );
    match take_output(root) {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(alloc::format!("the test's root task failed: {e:?}")),
        None => Err("the workers left with the root task unfinished".into()),
    }
}

/// Parks and unparks so far: the core's own counts (every entry into its
/// park, whether or not the platform then slept) where the build counts
/// statistics, else the host's count of its `park`/`park_until` and
/// `unpark` calls (`Board::parks_and_unparks`).
pub(crate) fn parks_and_unparks<B: Board>(s: &Scheduler<B::Platform>) -> (usize, usize) {
    if echo_sched_core::Metrics::COUNTED {
        let m = s.metrics();
        (m.parks, m.unparks)
    } else {
        B::parks_and_unparks()
    }
}

/// Busy work the optimizer cannot remove: about `n` loop iterations.
pub(crate) fn spin(n: u32) {
    for i in 0..n {
        core::hint::black_box(i);
    }
}
