//! Shutdown: tasks waiting on wakers nobody will fire and a task waiting
//! on a far timer are cancelled (each future dropped once, each handle
//! sees `Cancelled`), every worker leaves its loop, and a later spawn is
//! refused with the future handed back undropped.

use crate::util::{check, run_root, take_output, yield_now};
use crate::{Board, Failure};
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use echo_sched_core::{Config, Priority};
use portable_atomic::{AtomicU32, Ordering};

static DROPS: AtomicU32 = AtomicU32::new(0);

/// Counts its drop; `inner` decides when it completes.
struct Counted<F>(F);

impl<F: Future + Unpin> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<F> Drop for Counted<F> {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

pub(crate) fn run<B: Board>() -> Result<(), Failure> {
    DROPS.store(0, Ordering::SeqCst);
    let handles = run_root::<B, _, _>(Config::new(B::CORES), |s| async move {
        let mut handles = Vec::new();
        for &p in Priority::ALL.iter().cycle().take(5) {
            handles.push(s.spawn(Counted(core::future::pending::<()>()), p));
        }
        let far = alloc::boxed::Box::pin(s.sleep_until(B::now_nanos() + 10_000_000_000));
        handles.push(s.spawn(Counted(far), Priority::Normal));
        for _ in 0..4 {
            yield_now().await; // every task runs once and waits
        }
        check!(
            s.armed_timers() == 1,
            "{} timers armed, not 1",
            s.armed_timers()
        );
        check!(
            DROPS.load(Ordering::SeqCst) == 0,
            "a future was dropped before shutdown"
        );
        Ok(handles)
    })?;
    let drops = DROPS.load(Ordering::SeqCst);
    check!(drops == 6, "shutdown dropped {drops} futures, not 6");
    for handle in handles {
        let out = take_output(handle);
        check!(
            matches!(&out, Some(Err(e)) if e.is_cancelled()),
            "a waiting task ended with {out:?}, not cancelled"
        );
    }
    // After shutdown: refused, and the future comes back.
    let scheduler = B::scheduler(Config::new(B::CORES));
    scheduler.shutdown();
    match scheduler.try_spawn(Counted(core::future::ready(1)), Priority::High) {
        Ok(_) => return Err("a spawn after shutdown was accepted".into()),
        Err(refused) => {
            check!(refused.is_shutdown(), "refused for {:?}", refused.reason());
            let kept = refused.into_inner();
            check!(
                DROPS.load(Ordering::SeqCst) == 6,
                "the refused future was dropped"
            );
            drop(kept);
        }
    }
    check!(
        DROPS.load(Ordering::SeqCst) == 7,
        "the refused future was not handed back"
    );
    crate::println!(
        "  6 waiting tasks cancelled, each future dropped once; spawn after shutdown refused"
    );
    Ok(())
}
