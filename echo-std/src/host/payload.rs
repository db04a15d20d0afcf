//! Dropping a caught panic's payload without letting a panicking `Drop`
//! out.
//!
//! The core has the same loop (`Schedule::drop_payload` in echo-core's
//! `task/schedule.rs`), but as a method of a crate-private trait, so
//! echo-std keeps this one copy for the threads it runs itself.

use echo_sched_core::PanicPayload;
use std::panic::AssertUnwindSafe;

/// How many nested panicking payloads are dropped before the next one is
/// leaked instead.
const MAX_NESTED: usize = 16;

/// Drops a caught panic's payload on this thread, containing a panic of
/// that drop and of the drops of the payloads it panics with, at any depth
/// (a payload still panicking after 16 levels is leaked, not dropped).
pub(crate) fn drop_payload(mut payload: PanicPayload) {
    for _ in 0..MAX_NESTED {
        match std::panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(next) => payload = next,
        }
    }
    std::mem::forget(payload);
}
