//! A per-worker parker: an atomic token in front of a mutex and condvar,
//! and, for a worker that waits inside the tokio reactor instead, a waker.
//!
//! `unpark` before `park` leaves a token that makes the next `park` return
//! at once, so a wake-up is never lost. The notifier releases the mutex
//! before it signals: signalling while holding it makes the woken worker
//! block on the mutex again (the cost is in `docs/DESIGN.md`, "Idle and
//! parking").
//!
//! States: `EMPTY`, `NOTIFIED` (a token), `PARKED` (blocked on the
//! condvar), `WAITING` (a waker is stored under the mutex: the worker
//! sleeps in the reactor, and `unpark` wakes that waker, which interrupts
//! the reactor's wait). The waker is stored before the state becomes
//! `WAITING`, both under the mutex, so an `unpark` that sees `WAITING`
//! finds it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

const EMPTY: u8 = 0;
const PARKED: u8 = 1;
const NOTIFIED: u8 = 2;
const WAITING: u8 = 3;

/// Blocks one thread until another unparks it.
#[derive(Default)]
pub(crate) struct Parker {
    state: AtomicU8,
    /// The waker of a reactor wait (`WAITING`).
    lock: Mutex<Option<Waker>>,
    cvar: Condvar,
}

impl Parker {
    fn lock(&self) -> MutexGuard<'_, Option<Waker>> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take_token(&self) -> bool {
        self.state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Blocks until a token is available, then consumes it.
    pub(crate) fn park(&self) {
        self.park_deadline(None);
    }

    /// Blocks until a token is available (then consumes it) or `deadline`
    /// passes.
    pub(crate) fn park_deadline(&self, deadline: Option<Instant>) {
        if self.take_token() {
            return;
        }
        let mut guard = self.lock();
        match self
            .state
            .compare_exchange(EMPTY, PARKED, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => {}
            Err(NOTIFIED) => {
                // Unparked between the fast path and the lock.
                self.state.swap(EMPTY, Ordering::Acquire);
                return;
            }
            Err(other) => unreachable!("parker in state {other} while parking"),
        }
        loop {
            guard = match deadline {
                None => self.cvar.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        // Timed out: back to EMPTY, unless a token came.
                        if self
                            .state
                            .compare_exchange(PARKED, EMPTY, Ordering::Relaxed, Ordering::Relaxed)
                            .is_err()
                        {
                            self.state.swap(EMPTY, Ordering::Acquire);
                        }
                        return;
                    }
                    self.cvar
                        .wait_timeout(guard, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            if self.take_token() {
                return;
            }
            // A spurious condvar wake-up, or a timeout checked above.
        }
    }

    /// For a wait inside the reactor: `Ready` (consuming the token) once
    /// unparked, else stores the waker that `unpark` will wake. End the
    /// wait with [`end_wait`](Parker::end_wait).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn poll_unparked(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.take_token() {
            return Poll::Ready(());
        }
        let mut waker = self.lock();
        match &*waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waker = Some(cx.waker().clone()),
        }
        match self
            .state
            .compare_exchange(EMPTY, WAITING, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) | Err(WAITING) => Poll::Pending,
            Err(NOTIFIED) => {
                self.state.swap(EMPTY, Ordering::Acquire);
                *waker = None;
                Poll::Ready(())
            }
            Err(other) => unreachable!("parker in state {other} while waiting"),
        }
    }

    /// Ends a reactor wait that its deadline ended (a token that arrives
    /// meanwhile stays for the next park).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn end_wait(&self) {
        let mut waker = self.lock();
        let _ = self
            .state
            .compare_exchange(WAITING, EMPTY, Ordering::Relaxed, Ordering::Relaxed);
        *waker = None;
    }

    /// Leaves a token, waking the thread if it is parked or waiting.
    pub(crate) fn unpark(&self) {
        match self.state.swap(NOTIFIED, Ordering::Release) {
            EMPTY | NOTIFIED => {}
            PARKED => {
                // The parker may be between its CAS to PARKED and `wait`;
                // taking the lock waits that out, so the signal cannot be
                // missed.
                drop(self.lock());
                self.cvar.notify_one();
            }
            WAITING => {
                let waker = self.lock().take();
                if let Some(w) = waker {
                    w.wake();
                }
            }
            other => unreachable!("parker in state {other} while unparking"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::task::Wake;
    use std::time::Duration;

    #[test]
    fn a_token_left_before_park_is_not_lost() {
        let p = Parker::default();
        p.unpark();
        p.park(); // returns at once
        p.unpark();
        p.unpark();
        p.park(); // one token, however many unparks
    }

    #[test]
    fn unpark_wakes_a_parked_thread() {
        let p = Arc::new(Parker::default());
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            for _ in 0..100 {
                p2.park();
            }
        });
        while !t.is_finished() {
            p.unpark();
            std::thread::sleep(Duration::from_micros(50));
        }
        t.join().unwrap();
    }

    #[test]
    fn a_deadline_ends_the_park_and_a_token_still_ends_it_first() {
        let p = Parker::default();
        let deadline = Instant::now() + Duration::from_millis(2);
        p.park_deadline(Some(deadline));
        assert!(Instant::now() >= deadline);
        p.unpark();
        p.park_deadline(Some(Instant::now() + Duration::from_secs(3600)));
    }

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn unpark_wakes_a_reactor_wait() {
        let p = Parker::default();
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(p.poll_unparked(&mut cx).is_pending());
        p.unpark();
        assert!(flag.0.load(Ordering::SeqCst), "the waker ran");
        assert!(p.poll_unparked(&mut cx).is_ready());
        // Ended by its deadline: a later token is kept.
        assert!(p.poll_unparked(&mut cx).is_pending());
        p.end_wait();
        p.unpark();
        assert!(p.poll_unparked(&mut cx).is_ready());
    }
}
