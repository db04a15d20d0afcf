//! The one way interrupt handlers reach a test: the host's handlers call
//! [`dispatch`], which runs the hook the running test installed.
//!
//! The hook is a plain `fn()` kept in an atomic word (0: none), so a
//! handler finds it with one load, takes no lock and allocates nothing.

use core::sync::atomic::{AtomicUsize, Ordering};

static HOOK: AtomicUsize = AtomicUsize::new(0);

/// Makes `hook` the handlers' work until [`clear`].
pub fn set(hook: fn()) {
    HOOK.store(hook as usize, Ordering::SeqCst);
}

/// Removes the hook: handlers do nothing from now on.
pub fn clear() {
    HOOK.store(0, Ordering::SeqCst);
}

/// Called by the host's test interrupt handlers: runs the hook, if any.
pub fn dispatch() {
    let hook = HOOK.load(Ordering::SeqCst);
    if hook != 0 {
        // SAFETY: the only non-zero values stored are `fn()` pointers
        // (`set`), and a function pointer round-trips through `usize`.
        let hook: fn() = unsafe { core::mem::transmute::<usize, fn()>(hook) };
        hook();
    }
}
