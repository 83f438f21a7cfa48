//! A tiny HTTP/1.1 server for what a real registry will not do on request: fail, redirect,
//! ignore ranges, cut connections, lie about digests — and for issuing tokens to the real
//! registry. One request per connection; every request is recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Every value of a query parameter, percent-decoded.
    pub fn query(&self, name: &str) -> Vec<String> {
        match self.target.split_once('?') {
            Some((_, query)) => params(query, name),
            None => Vec::new(),
        }
    }

    /// Every value of a field of an `application/x-www-form-urlencoded` body.
    pub fn form(&self, name: &str) -> Vec<String> {
        params(&String::from_utf8_lossy(&self.body), name)
    }
}

fn params(text: &str, name: &str) -> Vec<String> {
    text.split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| decode(v))
        .collect()
}

fn decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send only this many body bytes (with the full `Content-Length`), then close.
    pub cut_after: Option<usize>,
    /// Send no `Content-Length` of our own (a HEAD reply sets its own).
    pub own_length: bool,
    /// After `cut_after` bytes, keep the connection open, sending nothing, for this long
    /// (a registry that hangs mid-blob) instead of closing it.
    pub stall: Option<std::time::Duration>,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            cut_after: None,
            own_length: false,
            stall: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        if name.eq_ignore_ascii_case("content-length") {
            self.own_length = true;
        }
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    /// No `Content-Length`: the body ends when the connection closes.
    pub fn without_length(mut self) -> Reply {
        self.own_length = true;
        self
    }

    pub fn cut_after(mut self, n: usize) -> Reply {
        self.cut_after = Some(n);
        self
    }

    /// Sends `n` body bytes, then nothing for `time` (the client hangs mid-blob).
    pub fn stall_after(mut self, n: usize, time: std::time::Duration) -> Reply {
        self.cut_after = Some(n);
        self.stall = Some(time);
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

pub struct FakeServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    task: JoinHandle<()>,
}

impl FakeServer {
    pub async fn start(
        ip: &str,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> FakeServer {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind fake server");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = requests.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, handler, log).await;
                });
            }
        });
        FakeServer {
            addr,
            requests,
            task,
        }
    }

    /// `IP:PORT`, a reference domain.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    handler: Arc<Handler>,
    log: Arc<Mutex<Vec<Request>>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Ok(());
        }
        // A TLS ClientHello (a client trying HTTPS first): not spoken here.
        if head.is_empty() && byte[0] == 0x16 {
            return Ok(());
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Ok(());
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut request = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    request.body = vec![0u8; length.min(1 << 20)];
    stream.read_exact(&mut request.body).await?;
    log.lock().unwrap().push(request.clone());
    let reply = handler(&request);

    let mut out = format!("HTTP/1.1 {} Fake\r\nConnection: close\r\n", reply.status);
    for (n, v) in &reply.headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    if !reply.own_length {
        out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes()).await?;
    if request.method != "HEAD" {
        let n = reply
            .cut_after
            .unwrap_or(reply.body.len())
            .min(reply.body.len());
        stream.write_all(&reply.body[..n]).await?;
        if let Some(time) = reply.stall {
            stream.flush().await?;
            tokio::time::sleep(time).await;
        }
    }
    stream.flush().await?;
    stream.shutdown().await?;
    Ok(())
}
