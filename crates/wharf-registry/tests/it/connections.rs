//! The registry on a real socket (`serve_with` in this process), spoken to by raw HTTP/1.1
//! clients: what happens to a connection after an early answer, slow and many clients,
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wharf_registry::{Gate, Registry, Serving};

/// A registry served on 127.0.0.1 until dropped.
pub struct Live {
    pub addr: SocketAddr,
    /// Where `/metrics` is served when it has a listener of its own.
    pub metrics_addr: Option<SocketAddr>,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Live {
    pub async fn start(gate: Gate, serving: Serving) -> Live {
        Live::start_with_metrics(gate, serving, false).await
    }

    /// With `metrics_apart`, `/metrics` on a listener of its own (`metrics-addr`).
    pub async fn start_with_metrics(gate: Gate, serving: Serving, metrics_apart: bool) -> Live {
        let dir = tempfile::tempdir().unwrap();
        let registry = Arc::new(Registry::open(&dir.path().join("registry")).await.unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = match metrics_apart {
            true => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
            false => None,
        };
        let metrics_addr = metrics.as_ref().map(|l| l.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(wharf_registry::serve_with_metrics(
            listener,
            metrics,
            registry,
            gate,
            serving,
            async move {
                let _ = stopped.await;
            },
        ));
        Live {
            addr,
            metrics_addr,
            _dir: dir,
            stop: Some(stop),
            done: Some(done),
        }
    }

    pub async fn open() -> Live {
        Live::start(Gate::open(), quiet()).await
    }

    /// Asks the server to stop (as SIGTERM does).
    pub fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.shut_down();
        if let Some(done) = self.done.take() {
            done.abort();
        }
    }
}

pub fn quiet() -> Serving {
    Serving {
        access_log: false,
        ..Serving::default()
    }
}

/// One response read off a keep-alive connection: status, head (lower-cased), body.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    }
}

/// Reads exactly one response (by its `Content-Length`) from `stream`.
pub async fn read_answer(stream: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<Answer> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the connection closed after {:?}",
                    String::from_utf8_lossy(&head)
                ),
            ));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut answer = Answer {
        status,
        head,
        body: Vec::new(),
    };
    let length: usize = answer
        .header("content-length")
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    answer.body = vec![0; length];
    stream.read_exact(&mut answer.body).await?;
    Ok(answer)
}

/// Sends a request head (and a body, written while the answer is read, so that a server
/// answering early never deadlocks the test) and reads the answer.
pub async fn exchange(stream: &mut TcpStream, head: &str, body: &[u8]) -> std::io::Result<Answer> {
    let (mut reader, mut writer) = stream.split();
    let send = async {
        writer.write_all(head.as_bytes()).await?;
        writer.write_all(body).await?;
        writer.flush().await
    };
    let (sent, answer) = tokio::join!(send, read_answer(&mut reader));
    let answer = answer?;
    // A write refused after the answer came is the server closing, which the answer says.
    if let Err(e) = sent {
        if answer.header("connection").as_deref() != Some("close") {
            return Err(e);
        }
    }
    Ok(answer)
}

fn start_upload(host: &SocketAddr) -> String {
    format!(
        "POST /v2/team/app/blobs/uploads/ HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"
    )
}

/// The reproduction: an out-of-order chunk is refused (416) before its body is
/// read; the next request on the same keep-alive connection is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_chunk_leaves_the_connection_usable() {
    let live = Live::open().await;
    let host = live.addr;
    let mut stream = TcpStream::connect(host).await.unwrap();
    let started = exchange(&mut stream, &start_upload(&host), b"")
        .await
        .unwrap();
    assert_eq!(started.status, 202, "{}", started.head);
    let location = started.header("location").unwrap();
    let chunk = vec![7u8; 1 << 20];
    let patch = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Range: 1048576-2097151\r\nContent-Length: {}\r\n\r\n",
        chunk.len()
    );
    for _ in 0..3 {
        let refused = exchange(&mut stream, &patch, &chunk).await.unwrap();
        assert_eq!(refused.status, 416, "{}", refused.head);
        let next = exchange(&mut stream, &start_upload(&host), b"")
            .await
            .expect("the next request on the connection is answered");
        assert_eq!(next.status, 202, "{}", next.head);
    }
}

/// A registry behind Basic auth (user `alice`, password `secret`).
async fn with_auth() -> (Live, tempfile::TempDir) {
    with_auth_and_metrics(false).await
}

async fn with_auth_and_metrics(metrics_apart: bool) -> (Live, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("secret", 4).unwrap();
    std::fs::write(dir.path().join("htpasswd"), format!("alice:{hash}\n")).unwrap();
    let config_path = dir.path().join("registry.toml");
    std::fs::write(&config_path, "[auth]\nhtpasswd = \"htpasswd\"\n").unwrap();
    let config = wharf_registry::Config::load(&config_path).unwrap();
    let auth = wharf_registry::auth::Auth::from_config(config.auth.as_ref().unwrap()).unwrap();
    (
        Live::start_with_metrics(
            Gate::new(Some(auth), false, "127.0.0.1:5000".parse().unwrap()).unwrap(),
            quiet(),
            metrics_apart,
        )
        .await,
        dir,
    )
}

/// Early answers of other kinds (401 before auth, 404 for an unknown session, 413 for a
/// manifest over the limit) leave the connection usable too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refusals_of_every_kind_leave_the_connection_usable() {
    let chunk = vec![1u8; 1 << 20];
    let (live, _dir) = with_auth().await;
    let host = live.addr;
    let mut stream = TcpStream::connect(host).await.unwrap();
    for _ in 0..2 {
        let head = format!(
            "PATCH /v2/team/app/blobs/uploads/x HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
            chunk.len()
        );
        let refused = exchange(&mut stream, &head, &chunk).await.unwrap();
        assert_eq!(refused.status, 401, "{}", refused.head);
        assert_eq!(refused.header("connection"), None, "{}", refused.head);
    }
    let next = exchange(&mut stream, &start_upload(&host), b"")
        .await
        .expect("answered after two refusals");
    assert_eq!(next.status, 401, "{}", next.head);

    let live = Live::open().await;
    let host = live.addr;
    let mut stream = TcpStream::connect(host).await.unwrap();
    let head = format!(
        "PATCH /v2/team/app/blobs/uploads/5f3d2c1e-0000-4000-8000-000000000000 HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
        chunk.len()
    );
    let refused = exchange(&mut stream, &head, &chunk).await.unwrap();
    assert_eq!(refused.status, 404, "{}", refused.head);
    let manifest = vec![b' '; 5 << 20];
    let head = format!(
        "PUT /v2/team/app/manifests/v1 HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\n\r\n",
        manifest.len()
    );
    let refused = exchange(&mut stream, &head, &manifest).await.unwrap();
    assert_eq!(refused.status, 413, "{}", refused.head);
    let next = exchange(&mut stream, &start_upload(&host), b"")
        .await
        .expect("answered after a 404 and a 413");
    assert_eq!(next.status, 202, "{}", next.head);
}

/// A body too long to read and discard gets its answer with `Connection: close`, and a
/// client that sends all of it before reading still reads that answer (no reset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_too_long_to_discard_closes_the_connection_after_the_answer() {
    let live = Live::open().await;
    let host = live.addr;
    let mut stream = TcpStream::connect(host).await.unwrap();
    let manifest = vec![b' '; 12 << 20];
    let head = format!(
        "PUT /v2/team/app/manifests/v1 HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\n\r\n",
        manifest.len()
    );
    // Everything first, the answer after, as a naive client does.
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&manifest).await.unwrap();
    let refused = read_answer(&mut stream).await.unwrap();
    assert_eq!(refused.status, 413, "{}", refused.head);
    assert_eq!(refused.header("connection").as_deref(), Some("close"));
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    assert!(rest.is_empty(), "nothing after the answer");
}

/// A GET on a new connection: status and body.
async fn get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let authorization = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{authorization}\r\n");
    let answer = exchange(&mut stream, &head, b"").await.unwrap();
    (
        answer.status,
        String::from_utf8_lossy(&answer.body).into_owned(),
    )
}

const ALICE: &str = "Basic YWxpY2U6c2VjcmV0";

/// With auth on, `/metrics` on the registry's listener answers identified callers only
/// (anonymous ones get the challenge); `/healthz` stays open. Without auth it is open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_an_identity_when_auth_is_on() {
    let (live, _dir) = with_auth().await;
    let (status, _) = get(live.addr, "/metrics", None).await;
    assert_eq!(status, 401);
    let (status, _) = get(live.addr, "/metrics", Some("Basic YWxpY2U6d3Jvbmc=")).await;
    assert_eq!(status, 401, "a wrong password");
    let (status, text) = get(live.addr, "/metrics", Some(ALICE)).await;
    assert_eq!(status, 200);
    assert!(text.contains("wharf_http_requests_total"), "{text}");
    assert_eq!(get(live.addr, "/healthz", None).await.0, 200);

    let live = Live::open().await;
    let (status, text) = get(live.addr, "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(text.contains("wharf_http_requests_total"), "{text}");
}

/// With `metrics-addr`, `/metrics` is served there, to anyone (it is meant to be a
/// private address), and no longer on the registry's listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_addr_serves_metrics_apart() {
    let (live, _dir) = with_auth_and_metrics(true).await;
    let metrics = live.metrics_addr.unwrap();
    assert_eq!(get(live.addr, "/v2/", Some(ALICE)).await.0, 200);
    let (status, text) = get(metrics, "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("wharf_http_requests_total{route=\"base\",method=\"GET\",status=\"200\"} 1"),
        "counts the registry's requests: {text}"
    );
    assert_eq!(get(live.addr, "/metrics", Some(ALICE)).await.0, 404);
    assert_eq!(get(live.addr, "/metrics", None).await.0, 404);
    assert_eq!(
        get(metrics, "/v2/", None).await.0,
        404,
        "only metrics there"
    );
    assert_eq!(get(live.addr, "/healthz", None).await.0, 200);
}
