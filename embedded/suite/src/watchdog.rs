//! A progress watchdog for tests that could hang the chip (the interrupt
//! storm): the test feeds it while it makes progress, and the host calls
//! [`check`] from a periodic interrupt of the highest priority. A test that
//! stops feeding it for two checks in a row is reported as hung and the
//! host exits with a failure, instead of running into the script's
//! timeout with no word of where it stopped.

use core::sync::atomic::{AtomicU32, Ordering};

/// The test's progress; 0 means no test is watched.
static FED: AtomicU32 = AtomicU32::new(0);
/// What `check` saw last, and how many checks in a row it stayed.
static SEEN: AtomicU32 = AtomicU32::new(0);
static STALLED: AtomicU32 = AtomicU32::new(0);

/// Starts watching a test.
pub fn start() {
    STALLED.store(0, Ordering::SeqCst);
    FED.store(1, Ordering::SeqCst);
}

/// Records progress. Only the watched test's main context feeds it.
pub fn feed() {
    let fed = FED.load(Ordering::Relaxed);
    if fed != 0 {
        FED.store(fed.wrapping_add(1).max(1), Ordering::Relaxed);
    }
}

/// Stops watching.
pub fn stop() {
    FED.store(0, Ordering::SeqCst);
}

/// Called periodically by the host from its highest-priority interrupt:
/// true once the watched test has made no progress for two calls.
pub fn check() -> bool {
    let fed = FED.load(Ordering::SeqCst);
    if fed == 0 {
        return false;
    }
    if fed == SEEN.load(Ordering::Relaxed) {
        let stalled = STALLED.load(Ordering::Relaxed) + 1;
        STALLED.store(stalled, Ordering::Relaxed);
        stalled >= 2
    } else {
        SEEN.store(fed, Ordering::Relaxed);
        STALLED.store(0, Ordering::Relaxed);
        false
    }
}
