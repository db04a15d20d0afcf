//! A light HTTP/1.1 client that times single requests: one keep-alive
//! connection, one request at a time with a pause between them, on a plain
//! blocking socket (no runtime of its own to share the CPUs with the
//! server's).
//!
//! It understands just what the bench server sends: a status line,
//! headers with `content-length`, and a body of that length.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One keep-alive connection to an HTTP/1.1 server.
pub struct Probe {
    stream: TcpStream,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl Probe {
    /// Connects to `addr`; every request will ask for `path`.
    pub fn connect(addr: SocketAddr, path: &str) -> io::Result<Probe> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        // A server that stops answering ends the probe instead of hanging it.
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
        Ok(Probe {
            stream,
            request,
            buf: Vec::with_capacity(1024),
        })
    }

    /// Sends one request and reads its whole response; the status code and
    /// the body.
    pub fn get(&mut self) -> io::Result<(u16, Vec<u8>)> {
        self.stream.write_all(&self.request)?;
        self.buf.clear();
        let mut chunk = [0u8; 1024];
        loop {
            if let Some((status, head_len, body_len)) = head(&self.buf)? {
                while self.buf.len() < head_len + body_len {
                    self.fill(&mut chunk)?;
                }
                let body = self.buf[head_len..head_len + body_len].to_vec();
                return Ok((status, body));
            }
            self.fill(&mut chunk)?;
        }
    }

    fn fill(&mut self, chunk: &mut [u8]) -> io::Result<()> {
        let n = self.stream.read(chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Times requests, one every `interval` after the previous response,
    /// for `duration`; each one's time from sending to the last byte of
    /// its answer. Fails if any answer is not `200 OK`.
    pub fn time_requests(
        &mut self,
        interval: Duration,
        duration: Duration,
    ) -> io::Result<Vec<Duration>> {
        let end = Instant::now() + duration;
        let mut times = Vec::new();
        while Instant::now() < end {
            let sent = Instant::now();
            let (status, _) = self.get()?;
            times.push(sent.elapsed());
            if status != 200 {
                return Err(io::Error::other(format!("probe answered {status}")));
            }
            // Zero: a closed loop, the next request at once.
            if !interval.is_zero() {
                std::thread::sleep(interval);
            }
        }
        Ok(times)
    }
}

/// Parses a response head once it is complete in `buf`: the status, the
/// head's length and the body's (from `content-length`).
fn head(buf: &[u8]) -> io::Result<Option<(u16, usize, usize)>> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| bad("head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let body_len = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .ok_or_else(|| bad("no content-length"))?;
    Ok(Some((status, end + 4, body_len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_is_read_only_once_complete() {
        let response = b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\ndate: x\r\n\r\nnot found";
        assert_eq!(head(&response[..30]).unwrap(), None);
        assert_eq!(head(response).unwrap(), Some((404, response.len() - 9, 9)));
        assert!(head(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }
}
