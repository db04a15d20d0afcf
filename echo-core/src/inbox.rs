//! The inbox: how a task reaches the workers from a context that is not
//! one of them (another thread, or an interrupt handler on a core where a
//! worker runs).
//!
//! Such a context may have interrupted anything, including a worker in the
//! middle of a queue operation or of the allocator. So it must not
//! allocate, take a lock, or wait for progress of the code it interrupted.
//! The injectors fail all three (`inject.rs`); the inbox meets them:
//!
//! - It is an intrusive stack through the nodes themselves (the task
//!   header's `inbox_next` word): a push is one compare-and-swap on the
//!   head, retried only when another push or a take got in between, which
//!   never needs the interrupted code to move on.
//! - A node is in the inbox at most once. Its link word is null while it
//!   is out and non-null while it is in (the next node, or `END` at the
//!   bottom). A pusher claims the word (null to `END`) before linking the
//!   node; a pusher that finds it claimed already has nothing to do: the
//!   node that is in (or being linked by the code it interrupted) stands
//!   for both pushes.
//! - Workers take the whole stack with one swap (no single-node pops, so
//!   no ABA), reverse it to arrival order, and release each node's link
//!   word (back to null) after reading its successor. From then on the
//!   node may be pushed again.
//!
//! Unbounded, with no capacity to run out of: the link lives in the node.

use crate::sync::{AtomicPtr, Ordering};
use core::marker::PhantomData;
use core::ptr::{self, NonNull};

/// A node that can be in one inbox at a time.
///
/// # Safety
///
/// `link` returns the same word for the node's whole life, used by no one
/// but the inbox, null when the node is first made.
pub unsafe trait InboxNode: Sized {
    /// The node's link word.
    fn link(&self) -> &AtomicPtr<Self>;
}

/// The link word of a node that is in the inbox with no node below it.
fn end<T>() -> *mut T {
    ptr::without_provenance_mut(1)
}

/// What [`Inbox::push`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The node is now in the inbox; the inbox holds what the caller gave.
    Linked,
    /// The node was in the inbox already (or being pushed by the code this
    /// context interrupted): that membership serves this push too.
    AlreadyIn,
}

/// An intrusive multi-producer stack that consumers take whole.
pub struct Inbox<T: InboxNode> {
    head: AtomicPtr<T>,
}

impl<T: InboxNode> Inbox<T> {
    /// An empty inbox.
    pub fn new() -> Inbox<T> {
        Inbox {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Whether the inbox looks empty: one relaxed load, for the workers'
    /// scheduling points. A push that is not yet visible is seen by a later
    /// look (the pusher wakes a worker after pushing).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::Relaxed).is_null()
    }

    /// Pushes `node`, unless it is in already.
    ///
    /// # Safety
    ///
    /// `node` stays alive until a taker releases it (or, if `AlreadyIn`
    /// is returned, until the membership that was there is released).
    pub unsafe fn push(&self, node: NonNull<T>) -> Pushed {
        // SAFETY: the caller keeps the node alive.
        let link = unsafe { node.as_ref() }.link();
        // Acquire: a taker's release of the word (its last read of the
        // node's successor) happens before this push rewrites it.
        if link
            .compare_exchange(ptr::null_mut(), end(), Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Pushed::AlreadyIn;
        }
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let below = if head.is_null() { end() } else { head };
            // The word is ours (claimed above) until a taker reads it.
            link.store(below, Ordering::Relaxed);
            // Release: publishes the link word (and whatever the caller
            // wrote before pushing) to the taker's acquiring swap.
            match self.head.compare_exchange_weak(
                head,
                node.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Pushed::Linked,
                Err(actual) => head = actual,
            }
        }
    }

    /// Takes every node in the inbox, to be visited in the order they were
    /// pushed. Each node is released (may be pushed again) as the iterator
    /// hands it out.
    pub fn take_all(&self) -> Taken<T> {
        if self.is_empty() {
            return Taken::empty();
        }
        let top = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        // Reverse the stack in place: the swap made its links ours (no
        // pusher writes a claimed word, and no other taker can reach these
        // nodes), so rewriting them is private until each is released.
        let mut node = top;
        let mut reversed: *mut T = end();
        while !node.is_null() && node != end() {
            // SAFETY: a node in the inbox is alive (push's contract).
            let link = unsafe { &*node }.link();
            let below = link.load(Ordering::Relaxed);
            link.store(reversed, Ordering::Relaxed);
            reversed = node;
            node = below;
        }
        Taken {
            next: reversed,
            _nodes: PhantomData,
        }
    }
}

impl<T: InboxNode> Default for Inbox<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The nodes one [`Inbox::take_all`] took, oldest first.
pub struct Taken<T: InboxNode> {
    next: *mut T,
    _nodes: PhantomData<NonNull<T>>,
}

impl<T: InboxNode> Taken<T> {
    fn empty() -> Taken<T> {
        Taken {
            next: end(),
            _nodes: PhantomData,
        }
    }
}

impl<T: InboxNode> Iterator for Taken<T> {
    type Item = NonNull<T>;

    fn next(&mut self) -> Option<NonNull<T>> {
        let node = NonNull::new(self.next).filter(|n| n.as_ptr() != end())?;
        // SAFETY: a taken node is alive until its holder is done with it.
        let link = unsafe { node.as_ref() }.link();
        self.next = link.load(Ordering::Relaxed);
        // Release: this read of the successor happens before a new push
        // claims and rewrites the word.
        link.store(ptr::null_mut(), Ordering::Release);
        Some(node)
    }
}

impl<T: InboxNode> Drop for Taken<T> {
    fn drop(&mut self) {
        // Nodes not handed out would stay claimed forever.
        debug_assert!(
            self.next.is_null() || self.next == end(),
            "an inbox take was dropped before it handed out every node"
        );
    }
}

#[cfg(all(test, not(echo_loom)))]
mod tests {
    use super::*;

    struct Node {
        id: usize,
        next: AtomicPtr<Node>,
    }

    // SAFETY: `next` is the node's own word, null at creation, used only
    // by the inbox.
    unsafe impl InboxNode for Node {
        fn link(&self) -> &AtomicPtr<Node> {
            &self.next
        }
    }

    fn nodes(n: usize) -> Vec<Node> {
        (0..n)
            .map(|id| Node {
                id,
                next: AtomicPtr::new(ptr::null_mut()),
            })
            .collect()
    }

    use alloc::vec::Vec;

    #[test]
    fn takes_in_push_order_and_releases_each_node() {
        let ns = nodes(4);
        let inbox = Inbox::new();
        assert!(inbox.is_empty());
        for n in &ns {
            // SAFETY: the nodes outlive the inbox's use of them.
            assert_eq!(unsafe { inbox.push(NonNull::from(n)) }, Pushed::Linked);
        }
        assert!(!inbox.is_empty());
        let ids: Vec<usize> = inbox
            .take_all()
            // SAFETY: taken nodes are alive.
            .map(|n| unsafe { n.as_ref() }.id)
            .collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        assert!(inbox.is_empty());
        assert!(ns.iter().all(|n| n.next.load(Ordering::Relaxed).is_null()));
    }

    #[test]
    fn a_node_is_in_at_most_once_and_can_come_back_after_a_take() {
        let ns = nodes(2);
        let inbox = Inbox::new();
        // SAFETY: as above.
        unsafe {
            assert_eq!(inbox.push(NonNull::from(&ns[0])), Pushed::Linked);
            assert_eq!(inbox.push(NonNull::from(&ns[0])), Pushed::AlreadyIn);
            assert_eq!(inbox.push(NonNull::from(&ns[1])), Pushed::Linked);
        }
        let mut taken = inbox.take_all();
        let first = taken.next().unwrap();
        // Released as soon as it is handed out, while the rest is pending.
        // SAFETY: as above.
        assert_eq!(unsafe { inbox.push(first) }, Pushed::Linked);
        // SAFETY: as above.
        assert_eq!(taken.next().map(|n| unsafe { n.as_ref() }.id), Some(1));
        assert!(taken.next().is_none());
        let again: Vec<usize> = inbox
            .take_all()
            // SAFETY: as above.
            .map(|n| unsafe { n.as_ref() }.id)
            .collect();
        assert_eq!(again, [0]);
    }

    #[test]
    fn an_empty_take_hands_out_nothing() {
        let inbox: Inbox<Node> = Inbox::new();
        assert!(inbox.take_all().next().is_none());
    }
}
