//! The inbox (`internals::Inbox`): pushes from contexts outside the pool
//! racing each other and the workers' takes.
//!
//! A node stands for a task: every push that links it is an entry, and
//! every push that finds it in already is served by that entry. Checked
//! after a final take: each node was handed out by takes exactly as many
//! times as pushes linked it, never while it was still in, and every node
//! ends out of the inbox (its link word back to null), so it can be
//! pushed again.

use echo_sched_core::internals::{Inbox, InboxNode, Pushed};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering::SeqCst};
use loom::thread;
use std::ptr::{self, NonNull};

struct Node {
    id: usize,
    next: AtomicPtr<Node>,
    /// Pushes that linked this node.
    linked: AtomicUsize,
    /// Times a take handed this node out.
    taken: AtomicUsize,
}

// SAFETY: `next` is the node's own word, null at creation, and only the
// inbox uses it.
unsafe impl InboxNode for Node {
    fn link(&self) -> &AtomicPtr<Node> {
        &self.next
    }
}

struct World {
    inbox: Inbox<Node>,
    nodes: [Node; 2],
}

impl World {
    fn new() -> Arc<World> {
        let node = |id| Node {
            id,
            next: AtomicPtr::new(ptr::null_mut()),
            linked: AtomicUsize::new(0),
            taken: AtomicUsize::new(0),
        };
        Arc::new(World {
            inbox: Inbox::new(),
            nodes: [node(0), node(1)],
        })
    }

    fn push(&self, i: usize) -> Pushed {
        let node = &self.nodes[i];
        // SAFETY: the nodes live as long as the world.
        let pushed = unsafe { self.inbox.push(NonNull::from(node)) };
        if pushed == Pushed::Linked {
            node.linked.fetch_add(1, SeqCst);
        }
        pushed
    }

    fn take(&self) -> Vec<usize> {
        self.inbox
            .take_all()
            .map(|n| {
                // SAFETY: as above.
                let node = unsafe { n.as_ref() };
                node.taken.fetch_add(1, SeqCst);
                node.id
            })
            .collect()
    }

    /// Takes what is left, then checks the books.
    fn check(&self) {
        let rest = self.take();
        let mut seen = rest.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), rest.len(), "a take handed a node out twice");
        assert!(self.inbox.is_empty());
        for node in &self.nodes {
            assert_eq!(
                node.linked.load(SeqCst),
                node.taken.load(SeqCst),
                "node {}: linked and taken differ",
                node.id
            );
            assert!(
                node.next.load(SeqCst).is_null(),
                "node {} was left claimed",
                node.id
            );
        }
    }
}

/// Two contexts push the same node (an interrupt handler's wake racing the
/// push it interrupted) while a worker takes.
#[test]
fn the_same_node_pushed_twice_racing_a_take() {
    crate::model("inbox::the_same_node_pushed_twice_racing_a_take", || {
        let world = World::new();
        let w = world.clone();
        let a = thread::spawn(move || {
            w.push(0);
        });
        let w = world.clone();
        let b = thread::spawn(move || {
            w.push(0);
            w.push(1);
        });
        let taken = world.take();
        let mut ids = taken.clone();
        ids.dedup();
        assert_eq!(ids.len(), taken.len(), "a take handed a node out twice");
        a.join().unwrap();
        b.join().unwrap();
        world.check();
    });
}

/// A node is released by one take while pushed again: it either joins the
/// inbox again or was still in, never both, never lost.
#[test]
fn a_push_racing_the_release_of_the_same_node() {
    crate::model("inbox::a_push_racing_the_release_of_the_same_node", || {
        let world = World::new();
        assert_eq!(world.push(0), Pushed::Linked);
        assert_eq!(world.push(1), Pushed::Linked);
        let w = world.clone();
        let pusher = thread::spawn(move || {
            w.push(1);
            w.push(0);
        });
        let w = world.clone();
        let taker = thread::spawn(move || {
            w.take();
        });
        world.take();
        pusher.join().unwrap();
        taker.join().unwrap();
        world.check();
    });
}
