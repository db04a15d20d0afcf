//! Waiting for something that gives no signal (a thread to finish, the
//! live tasks to reach zero) by sleeping in naps that double from 50 µs up
//! to 1 ms: quick to notice an early finish, cheap over a long wait.

use std::thread;
use std::time::{Duration, Instant};

/// The first nap.
const FIRST_NAP: Duration = Duration::from_micros(50);
/// The longest nap: how late a long wait may notice its end.
const MAX_NAP: Duration = Duration::from_millis(1);

/// Calls `check` until it gives a value, napping between calls, and
/// returns that value; or `None` once `deadline` has passed (`None`: no
/// deadline). `check` is called at least once, and a nap never runs past
/// the deadline.
pub(crate) fn wait_until<T>(
    deadline: Option<Instant>,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let mut nap = FIRST_NAP;
    loop {
        if let Some(done) = check() {
            return Some(done);
        }
        let now = Instant::now();
        let left = match deadline {
            Some(d) if now >= d => return None,
            Some(d) => d - now,
            None => Duration::MAX,
        };
        thread::sleep(nap.min(left));
        nap = (nap * 2).min(MAX_NAP);
    }
}
