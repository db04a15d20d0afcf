//! The pooled task slab: size-classed pages with owner-only free lists and
//! an atomic remote-free list per page.
//!
//! Every task lives in a *page*. Small tasks share 64 KiB pages of one size
//! class, aligned to 64 KiB so that a task finds its page (and through it
//! its scheduler) from its own address; a task too large or too aligned for
//! the classes gets a page of its own (a *large* page, kept on a locked
//! list), with the task at a fixed offset after the page header.
//!
//! Each page belongs to one `Heap`: a worker's, or one of the shards
//! that serve threads outside the pool. Only the owner allocates from a
//! page and only the owner touches its local free list, so a worker
//! allocates and frees its own tasks with no atomic instruction. A task
//! freed on any other thread is pushed onto the page's remote-free list
//! with a CAS; the owner takes that list whole with one swap (never popping
//! single nodes, so there is no ABA), when its current page runs out or
//! when it trims before parking.
//!
//! Invariants:
//! - `own` fields are touched only by the owner (or by the shutdown walk,
//!   which runs when no owner is active).
//! - A free slot keeps its task's last state word (COMPLETE, zero
//!   references) at offset 0; the free-list link lives at `LINK_OFFSET`,
//!   the next word, over the task's vtable pointer (the task header
//!   asserts that its vtable pointer is there). So the shutdown walk can
//!   read the state of any slot below `bump` that is not on a free list.
//! - Each page holds one strong reference to its scheduler (`KeepAlive`),
//!   so a waker that outlives the scheduler's handles still finds it.
//! - Page return policy: a class keeps its current page; any other page
//!   that empties (its last slot freed locally, or its owner collected the
//!   remote frees that empty it) goes to the heap's spare list, which any
//!   class reuses, and which holds at most `MAX_SPARES` pages: beyond that,
//!   pages go back to the pool at once, and a chunk whose pages are all
//!   back goes to the platform. A worker trims (collects remote frees,
//!   returns emptied pages) whenever it parks.
//! - No memory is a refusal, never an abort: a page the pool (or, for a
//!   large page, the global allocator) cannot give makes the allocation
//!   return `None` with the heap unchanged, and the slab's own lists grow
//!   with `try_reserve`.
//! - After shutdown a page still holding tasks is *orphaned*: its remote
//!   word becomes the `orphaned()` mark and a count of live slots; the free
//!   that takes the count to zero returns the page.
//!
//! One concept per file: `layout` (size classes, page layout, where the
//! free link goes), `page` (a page, its free lists and `free_remote`),
//! `pool` (chunked page memory, from the host's `Platform::alloc_chunk`),
//! `heap` (an owner's pages, spares, trim), `orphan` (detaching a heap
//! after shutdown), `large` (large pages).

mod heap;
mod large;
mod layout;
mod orphan;
mod page;
mod pool;

pub use heap::Heap;
pub use large::{LARGE_OWNER, LargeList, release_page};
pub use layout::{LINK_OFFSET, PAGE_BYTES, class_for, large_offset};
pub use page::{KeepAlive, Page, free_remote};
// Named outside the slab only by the runtime's pool setup and
// `crate::internals`.
pub use pool::{ChunkSource, PagePool};
#[cfg(any(echo_loom, fuzzing, feature = "internals"))]
pub use {layout::CLASS_SIZES, page::Slot, pool::CHUNK_PAGES};
