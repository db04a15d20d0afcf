//! A timeline of what every worker did, for ui.perfetto.dev (feature
//! `recorder`).
//!
//! With [`SchedulerBuilder::timeline_capacity`](crate::SchedulerBuilder::timeline_capacity) set, each worker records
//! its polls (task, tier, start, duration), parks, steals, timer firings,
//! and the wakes and spawns it performs, into a bounded buffer of its own
//! that needs no lock (see echo-sched-core's `recorder` module).
//! [`Scheduler::timeline`](crate::Scheduler::timeline) copies them at any time, and [`ChromeTrace`]
//! writes the copy as a Chrome trace (JSON), which ui.perfetto.dev and
//! `chrome://tracing` open:
//!
//! - one track (thread) per worker, named `worker N`;
//! - each poll a slice named after its tier (`High`, `Normal`, `Low`),
//!   followed by the task's label if it has one ([`ChromeTrace::label`]),
//!   so Perfetto, which colors slices by name, gives each tier (or each
//!   tier and kind of task) one color; the `cname` field colors by tier
//!   in `chrome://tracing`;
//! - parks and timer firings as slices, steals as instant events;
//! - a flow arrow from a wake (or spawn) to the poll it caused.
//!
//! Why JSON and not Perfetto's protobuf format: the trace is written by a
//! few dozen lines with no dependency, it can be read and checked by any
//! JSON parser (tests/tests/timeline.rs does), and Perfetto opens it with
//! everything this needs (slices, instant events, flows, thread names).
//! The protobuf format would be smaller for long runs, but needs a
//! protobuf crate for a file that is written once per run.
//!
//! A wake is matched to a poll afterwards: a poll's cause is the first wake
//! of its task recorded after the start of that task's previous poll (the
//! wake that queued it; later ones found it queued already). Wakes made
//! off the workers are not recorded, so such a poll has no arrow.
//!
//! ```
//! use echo_std::{Priority, Scheduler};
//! use echo_std::timeline::ChromeTrace;
//!
//! let scheduler = Scheduler::builder().worker_count(2).timeline_capacity(4096).build()?;
//! let frame = scheduler.submit(async { echo_std::yield_now().await }, Priority::High);
//! scheduler.block_on(frame)?;
//! let timeline = scheduler.timeline();
//! let mut json = Vec::new();
//! ChromeTrace::new(&timeline).process_name("demo").write(&mut json)?;
//! assert!(String::from_utf8(json)?.contains("\"name\":\"High\""));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use echo_sched_core::{Priority, TaskId};
use std::collections::HashMap;
use std::io::{self, Write};

pub use echo_sched_core::{Timeline, TimelineEvent, WorkerTimeline};

/// Writes a [`Timeline`] as a Chrome trace (JSON) for ui.perfetto.dev.
#[derive(Debug)]
pub struct ChromeTrace<'a> {
    timeline: &'a Timeline,
    pid: u32,
    process_name: String,
    labels: HashMap<TaskId, String>,
}

impl<'a> ChromeTrace<'a> {
    /// A trace of `timeline`, as process 1 named `echo`.
    pub fn new(timeline: &'a Timeline) -> Self {
        ChromeTrace {
            timeline,
            pid: 1,
            process_name: "echo".into(),
            labels: HashMap::new(),
        }
    }

    /// The process id the tracks go under (to merge several traces into
    /// one view, give each its own).
    pub fn pid(mut self, pid: u32) -> Self {
        self.pid = pid;
        self
    }

    /// The name shown above the workers' tracks.
    pub fn process_name(mut self, name: impl Into<String>) -> Self {
        self.process_name = name.into();
        self
    }

    /// A label for every poll of `task`: after the tier in the slice's
    /// name, and in its arguments.
    pub fn label(mut self, task: TaskId, label: impl Into<String>) -> Self {
        self.labels.insert(task, label.into());
        self
    }

    /// Writes the trace: a JSON object with a `traceEvents` array.
    ///
    /// # Errors
    ///
    /// What writing to `out` returns.
    pub fn write(&self, out: impl Write) -> io::Result<()> {
        let mut out = io::BufWriter::new(out);
        let t0 = self.timeline.started_nanos;
        let pid = self.pid;
        let flows = Flows::match_wakes(self.timeline);
        write!(out, "{{\"displayTimeUnit\":\"ns\",\"traceEvents\":[")?;
        write!(
            out,
            "\n{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{pid},\"tid\":0,\"args\":{{\"name\":{}}}}}",
            json_str(&self.process_name)
        )?;
        for (w, worker) in self.timeline.workers.iter().enumerate() {
            let tid = w + 1;
            write!(
                out,
                ",\n{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"name\":\"worker {w}\"}}}}"
            )?;
            for (i, event) in worker.events.iter().enumerate() {
                match *event {
                    TimelineEvent::Poll {
                        task,
                        tier,
                        start,
                        nanos,
                    } => {
                        let (name, label) = match self.labels.get(&task) {
                            Some(l) => (
                                json_str(&format!("{} {l}", tier_name(tier))),
                                format!(",\"label\":{}", json_str(l)),
                            ),
                            None => (format!("\"{}\"", tier_name(tier)), String::new()),
                        };
                        write!(
                            out,
                            ",\n{{\"ph\":\"X\",\"cat\":\"poll\",\"name\":{name},\"cname\":\"{}\",\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"dur\":{},\"args\":{{\"task\":{}{label}}}}}",
                            color(tier),
                            micros(start.saturating_sub(t0)),
                            micros(nanos),
                            task.as_u64(),
                        )?;
                        if let Some(flow) = flows.into_poll.get(&(w, i)) {
                            write!(
                                out,
                                ",\n{{\"ph\":\"f\",\"bp\":\"e\",\"cat\":\"wake\",\"name\":\"wake\",\"id\":{flow},\"pid\":{pid},\"tid\":{tid},\"ts\":{}}}",
                                micros(start.saturating_sub(t0)),
                            )?;
                        }
                    }
                    TimelineEvent::Park { start, nanos } => write!(
                        out,
                        ",\n{{\"ph\":\"X\",\"cat\":\"idle\",\"name\":\"park\",\"cname\":\"grey\",\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"dur\":{}}}",
                        micros(start.saturating_sub(t0)),
                        micros(nanos),
                    )?,
                    TimelineEvent::TimerFire { start, nanos } => write!(
                        out,
                        ",\n{{\"ph\":\"X\",\"cat\":\"timers\",\"name\":\"timers\",\"cname\":\"yellow\",\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"dur\":{}}}",
                        micros(start.saturating_sub(t0)),
                        micros(nanos),
                    )?,
                    TimelineEvent::Steal {
                        at,
                        victim,
                        tier,
                        count,
                    } => write!(
                        out,
                        ",\n{{\"ph\":\"i\",\"s\":\"t\",\"cat\":\"steal\",\"name\":\"steal\",\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"args\":{{\"victim\":{victim},\"tier\":\"{}\",\"count\":{count}}}}}",
                        micros(at.saturating_sub(t0)),
                        tier_name(tier),
                    )?,
                    TimelineEvent::Wake { at, .. } | TimelineEvent::Spawn { at, .. } => {
                        if let Some(flow) = flows.from_wake.get(&(w, i)) {
                            write!(
                                out,
                                ",\n{{\"ph\":\"s\",\"cat\":\"wake\",\"name\":\"wake\",\"id\":{flow},\"pid\":{pid},\"tid\":{tid},\"ts\":{}}}",
                                micros(at.saturating_sub(t0)),
                            )?;
                        }
                    }
                    _ => {}
                }
            }
        }
        writeln!(out, "\n]}}")?;
        out.flush()
    }
}

/// Flow ids, keyed by (worker, event index): the wakes that caused a poll,
/// and the polls a wake caused.
struct Flows {
    from_wake: HashMap<(usize, usize), usize>,
    into_poll: HashMap<(usize, usize), usize>,
}

impl Flows {
    /// For each task, each poll is matched with the first wake of that
    /// task recorded after the start of its previous poll, and before its
    /// own start.
    fn match_wakes(timeline: &Timeline) -> Flows {
        // Per task: (time, is_poll, worker, index), in time order.
        let mut by_task: HashMap<TaskId, Vec<(u64, bool, usize, usize)>> = HashMap::new();
        for (w, worker) in timeline.workers.iter().enumerate() {
            for (i, event) in worker.events.iter().enumerate() {
                match *event {
                    TimelineEvent::Poll { task, start, .. } => {
                        by_task.entry(task).or_default().push((start, true, w, i))
                    }
                    TimelineEvent::Wake { task, at, .. }
                    | TimelineEvent::Spawn { task, at, .. } => {
                        by_task.entry(task).or_default().push((at, false, w, i))
                    }
                    _ => {}
                }
            }
        }
        let mut flows = Flows {
            from_wake: HashMap::new(),
            into_poll: HashMap::new(),
        };
        let mut next_id = 1;
        for events in by_task.values_mut() {
            events.sort_unstable();
            let mut pending: Option<(usize, usize)> = None;
            for &(_, is_poll, w, i) in events.iter() {
                if is_poll {
                    if let Some(wake) = pending.take() {
                        flows.from_wake.insert(wake, next_id);
                        flows.into_poll.insert((w, i), next_id);
                        next_id += 1;
                    }
                } else if pending.is_none() {
                    pending = Some((w, i));
                }
            }
        }
        flows
    }
}

/// Nanoseconds as microseconds with three decimals (exact).
fn micros(nanos: u64) -> String {
    format!("{}.{:03}", nanos / 1000, nanos % 1000)
}

/// The name of a tier's poll slices.
fn tier_name(tier: Priority) -> &'static str {
    match tier {
        Priority::High => "High",
        Priority::Normal => "Normal",
        Priority::Low => "Low",
    }
}

/// The `chrome://tracing` color of a tier's polls.
fn color(tier: Priority) -> &'static str {
    match tier {
        Priority::High => "terrible",
        Priority::Normal => "good",
        Priority::Low => "thread_state_iowait",
    }
}

/// `s` as a JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_times_are_valid_json() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
        assert_eq!(micros(1_234_567), "1234.567");
        assert_eq!(micros(5), "0.005");
    }

    #[test]
    fn a_poll_is_matched_with_the_first_wake_since_the_last_poll() {
        let task = TaskId::from_u64(9);
        let poll = |start| TimelineEvent::Poll {
            task,
            tier: Priority::Normal,
            start,
            nanos: 1,
        };
        let wake = |at| TimelineEvent::Wake {
            task,
            tier: Priority::Normal,
            at,
        };
        let timeline = Timeline {
            started_nanos: 0,
            workers: vec![
                WorkerTimeline {
                    events: vec![poll(10), wake(12), wake(13), poll(20)],
                    dropped: 0,
                },
                WorkerTimeline {
                    events: vec![wake(25), poll(30)],
                    dropped: 0,
                },
            ],
        };
        let flows = Flows::match_wakes(&timeline);
        // The first poll had no recorded wake; the second is caused by the
        // wake at 12 (13 found it queued), the third by the wake at 25.
        assert_eq!(flows.into_poll.len(), 2);
        assert!(!flows.into_poll.contains_key(&(0, 0)));
        assert_eq!(flows.from_wake[&(0, 1)], flows.into_poll[&(0, 3)]);
        assert_eq!(flows.from_wake[&(1, 0)], flows.into_poll[&(1, 1)]);
        assert!(!flows.from_wake.contains_key(&(0, 2)));
    }
}
