//! The tests, in the order they run. Each is a `fn() -> Result` over the
//! board; the harness in `lib.rs` runs them and checks the heap after.

mod footprint;
mod heap;
mod irq_wakes;
mod priorities;
mod shutdown;
mod spawn_join;
mod steals;
mod storm;
mod timers;

use crate::{Board, Test};

/// Every test; `steals` needs two cores and is left out on one. The storm
/// and the heap come last: on a core whose wake path is not
/// interrupt-safe the storm hangs, and on one that aborts when the slab
/// cannot get memory the heap test ends the run.
pub(crate) fn all<B: Board>() -> alloc::vec::Vec<Test<B>> {
    let mut tests = alloc::vec![
        Test::new("footprint", footprint::run::<B>),
        Test::new("spawn_join", spawn_join::run::<B>),
        Test::new("priorities", priorities::run::<B>),
        Test::new("timers", timers::run::<B>),
        Test::new("irq_wakes", irq_wakes::run::<B>),
        Test::new("shutdown", shutdown::run::<B>),
    ];
    if B::CORES >= 2 {
        tests.push(Test::new("steals", steals::run::<B>));
    }
    tests.push(Test::new("storm", storm::run::<B>));
    tests.push(Test::new("heap", heap::run::<B>));
    tests
}
