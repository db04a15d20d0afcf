//! The OS floor of `http_flood`'s probe: a bare thread that answers `/ui`
//! on a socket of its own, with no runtime, probed alongside the server
//! under the same flood.
//!
//! Its latency is what any server gets on the machine at hand: the probe's
//! own thread and the responder's must both be given a CPU while wrk and
//! the server's workers want them too. A server's `/ui` tail can only be
//! told apart from the operating system's by comparing it with this one.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;

/// The response to every request.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

/// Starts a responder thread for one connection and returns its address.
/// The thread answers each request (anything ending in an empty line) and
/// ends when the connection closes.
pub fn start() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::Builder::new()
        .name("bare-responder".into())
        .spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                let _ = serve(stream);
            }
        })?;
    Ok(addr)
}

fn serve(mut stream: std::net::TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut pending = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        pending.extend_from_slice(&chunk[..n]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            stream.write_all(RESPONSE)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Probe;

    #[test]
    fn it_answers_every_request_on_its_connection() {
        let mut probe = Probe::connect(start().unwrap(), "/ui").unwrap();
        for _ in 0..3 {
            assert_eq!(probe.get().unwrap(), (200, b"ok".to_vec()));
        }
    }
}
