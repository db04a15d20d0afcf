//! The minimal embassy-executor embedding for the size figures: the
//! thread-mode executor, two spawns from static task pools.
#![no_std]
#![no_main]

use core::future::Future;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::{Context, Poll};
use echo_figures::{baseline_work, board};
use embassy_executor::Executor;
use embassy_executor::raw::TaskPool;

static RAN: AtomicU32 = AtomicU32::new(0);

/// A task that counts itself and, the second time, ends the firmware.
struct Count(u32);

impl Future for Count {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        let n = RAN.fetch_add(self.0, Ordering::Relaxed) + self.0;
        if n == 3 {
            board::exit(true);
        }
        Poll::Ready(())
    }
}

static FIRST: TaskPool<Count, 1> = TaskPool::new();
static SECOND: TaskPool<Count, 1> = TaskPool::new();

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    if !baseline_work() {
        board::exit(false)
    }
    static mut EXECUTOR: MaybeUninit<Executor> = MaybeUninit::uninit();
    let slot = &raw mut EXECUTOR;
    // SAFETY: `main` runs once, so this is the only reference to the
    // executor, which lives for the rest of the program.
    let executor: &'static mut Executor = unsafe { (*slot).write(Executor::new()) };
    executor.run(
        |spawner| match (FIRST.spawn(|| Count(1)), SECOND.spawn(|| Count(2))) {
            (Ok(a), Ok(b)) => {
                spawner.spawn(a);
                spawner.spawn(b);
            }
            _ => board::exit(false),
        },
    )
}
