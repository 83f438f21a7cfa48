//! A TCP proxy in front of a real server that counts the bytes clients send and can cut
//! one connection after a given number of them: "the connection dropped mid-upload"
//! against a real registry, which no registry does on request.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

pub struct FaultProxy {
    /// `127.0.0.1:PORT`: use it as the registry's domain.
    pub host: String,
    state: Arc<State>,
}

struct State {
    upstream: String,
    /// Client-to-server bytes over every connection.
    sent: AtomicU64,
    /// Cut the connection that carries the byte past this total (once).
    cut_after: Option<u64>,
    cut_done: AtomicBool,
    cuts: AtomicU32,
    stop: AtomicBool,
}

impl FaultProxy {
    /// Forwards to `upstream` (`127.0.0.1:PORT`); with `cut_after`, the connection carrying
    /// the client's byte number `cut_after` is closed both ways right there, once.
    pub fn start(upstream: &str, cut_after: Option<u64>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let host = listener.local_addr().unwrap().to_string();
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            sent: AtomicU64::new(0),
            cut_after,
            cut_done: AtomicBool::new(false),
            cuts: AtomicU32::new(0),
            stop: AtomicBool::new(false),
        });
        let accept_state = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accept_state.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let state = accept_state.clone();
                std::thread::spawn(move || relay(client, state));
            }
        });
        FaultProxy { host, state }
    }

    /// Bytes clients sent through the proxy so far.
    pub fn bytes_sent(&self) -> u64 {
        self.state.sent.load(Ordering::SeqCst)
    }

    /// Connections cut so far (0 or 1).
    pub fn cuts(&self) -> u32 {
        self.state.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.host);
    }
}

fn relay(client: TcpStream, state: Arc<State>) {
    let Ok(server) = TcpStream::connect(&state.upstream) else {
        return;
    };
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let (mut server_read, mut client_write) = (server, client);
    let killers = (client_read.try_clone().ok(), server_write.try_clone().ok());
    // Server to client: plain copy until either side closes.
    let down = std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_read, &mut client_write);
        let _ = client_write.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match client_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let before = state.sent.fetch_add(n as u64, Ordering::SeqCst);
        if let Some(limit) = state.cut_after {
            if before + n as u64 > limit && !state.cut_done.swap(true, Ordering::SeqCst) {
                let keep = limit.saturating_sub(before) as usize;
                let _ = server_write.write_all(&buf[..keep]);
                state.cuts.fetch_add(1, Ordering::SeqCst);
                if let (Some(c), Some(s)) = &killers {
                    let _ = c.shutdown(Shutdown::Both);
                    let _ = s.shutdown(Shutdown::Both);
                }
                break;
            }
        }
        if server_write.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = server_write.shutdown(Shutdown::Write);
    let _ = down.join();
}
