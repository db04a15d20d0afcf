//! Runs `wrk`, the HTTP load generator, as a process of its own and reads
//! its report.
//!
//! wrk keeps each of its connections busy in a closed loop: a connection
//! sends its next request as soon as the previous response arrives. With
//! `--latency` it prints the latency distribution, of which we keep the
//! 50th, 90th and 99th percentiles.

use std::io;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What one wrk run measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WrkReport {
    /// Requests completed per second over the run.
    pub requests_per_sec: f64,
    /// Requests completed.
    pub requests: u64,
    /// Median latency.
    pub p50: Duration,
    /// 90th percentile latency.
    pub p90: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Socket errors and responses other than 2xx/3xx.
    pub errors: u64,
}

/// How wrk loads the server.
#[derive(Clone, Debug)]
pub struct WrkLoad {
    /// The URL every request asks for.
    pub url: String,
    /// Open connections, each in a closed loop.
    pub connections: usize,
    /// wrk's threads.
    pub threads: usize,
    /// How long the load lasts.
    pub duration: Duration,
}

/// Whether a `wrk` can be run.
pub fn available() -> bool {
    // `wrk --version` prints its version and exits with status 1: running
    // at all is what counts.
    Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

impl WrkLoad {
    /// Starts wrk; [`finish`](WrkLoad::finish) waits for its report.
    pub fn start(&self) -> io::Result<Child> {
        Command::new("wrk")
            .arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{}s", self.duration.as_secs().max(1)))
            .arg("--latency")
            .arg(&self.url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }

    /// Waits for a wrk started by [`start`](WrkLoad::start) and parses its
    /// report.
    pub fn finish(child: Child) -> io::Result<WrkReport> {
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "wrk failed: {}{}",
                text,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        parse(&text).ok_or_else(|| io::Error::other(format!("unreadable wrk report: {text}")))
    }

    /// Runs wrk to the end.
    pub fn run(&self) -> io::Result<WrkReport> {
        WrkLoad::finish(self.start()?)
    }
}

/// Reads wrk's `--latency` report; `None` if a line it needs is missing.
pub fn parse(report: &str) -> Option<WrkReport> {
    let mut r = WrkReport::default();
    let (mut p50, mut p90, mut p99, mut rate, mut count) = (None, None, None, None, None);
    for line in report.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => p50 = duration(v),
            ["90%", v] => p90 = duration(v),
            ["99%", v] => p99 = duration(v),
            ["Requests/sec:", v] => rate = v.parse().ok(),
            [n, "requests", "in", ..] => count = n.parse().ok(),
            ["Socket", "errors:", rest @ ..] => {
                // connect N, read N, write N, timeout N
                r.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => r.errors += n.parse::<u64>().ok()?,
            _ => {}
        }
    }
    r.p50 = p50?;
    r.p90 = p90?;
    r.p99 = p99?;
    r.requests_per_sec = rate?;
    r.requests = count?;
    Some(r)
}

/// A wrk duration: `636.00us`, `1.20ms`, `2.00s`.
fn duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (value, unit) = text.split_at(split);
    let value: f64 = value.parse().ok()?;
    let seconds = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "\
Running 5s test @ http://127.0.0.1:40000/hello
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  310.00us   9.87ms   81.20%
    Req/Sec    62.10k     3.01k   66.00k    70.00%
  Latency Distribution
     50%  636.00us
     75%    1.10ms
     90%    1.50ms
     99%    2.00s
  309125 requests in 5.00s, 26.83MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  61823.45
Transfer/sec:      5.37MB
";

    #[test]
    fn reads_rate_count_percentiles_and_errors() {
        let r = parse(REPORT).expect("a full report");
        assert_eq!(r.requests, 309_125);
        assert!((r.requests_per_sec - 61_823.45).abs() < 1e-6);
        assert_eq!(r.p50, Duration::from_micros(636));
        assert_eq!(r.p90, Duration::from_micros(1500));
        assert_eq!(r.p99, Duration::from_secs(2));
        assert_eq!(r.errors, 7);
    }

    #[test]
    fn a_report_without_percentiles_is_unreadable() {
        let cut: String = REPORT
            .lines()
            .filter(|l| !l.contains("99%"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(parse(&cut), None);
    }
}
