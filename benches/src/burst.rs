//! burst_memory: what a long-running program's memory does across bursts
//! of work. Each round submits a batch of small tasks, each carrying a
//! `String` that the submitter made and the task drops (as a request's
//! data would be), awaits them all, then idles; the resident set is read
//! after each idle. A scheduler that gives back what a burst took stays
//! flat from round to round.
//!
//! Run it alone in a fresh process per peer (`compare` does): the resident
//! set is the whole process's.

use crate::peers::Peer;
use crate::sys;
use std::time::{Duration, Instant};

/// Rounds per run.
pub const ROUNDS: usize = 30;
/// Tasks per round.
pub const TASKS: usize = 100_000;
/// The idle pause after each round, before the resident set is read.
pub const IDLE: Duration = Duration::from_millis(400);

/// One round's readings, after its idle pause.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading {
    /// The process's resident set, in bytes.
    pub rss: u64,
    /// What the peer says it holds itself (Echo: `Metrics::slab_bytes`),
    /// if it says.
    pub own: Option<u64>,
    /// The burst's wall time, from the first submission to the last task
    /// awaited, in nanoseconds.
    pub nanos: u64,
}

/// Runs `rounds` bursts of `tasks` tasks on a fresh `P` with `workers`
/// workers; the readings after each round's idle pause (`own` asks the
/// peer what it holds).
pub fn burst_rounds<P: Peer>(
    workers: usize,
    rounds: usize,
    tasks: usize,
    own: impl Fn(&P) -> Option<u64>,
) -> Vec<Reading> {
    let peer = P::start(workers);
    let mut rss = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let futures: Vec<_> = (0..tasks)
            .map(|i| {
                let data = format!("request {round}/{i}");
                async move {
                    std::hint::black_box(data.len());
                    drop(data);
                }
            })
            .collect();
        let start = Instant::now();
        peer.run_batch(futures);
        let nanos = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        std::thread::sleep(IDLE);
        rss.push(Reading {
            rss: sys::rss_bytes().unwrap_or(0),
            own: own(&peer),
            nanos,
        });
    }
    peer.stop();
    rss
}
