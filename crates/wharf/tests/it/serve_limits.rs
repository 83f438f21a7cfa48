//! `wharf serve` against slow, many and stubborn clients, and where it listens: the
//! header deadline, the body's minimum rate, the connection caps, the shutdown deadline,
//! the `--addr` forms.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::serve::Server;
use crate::serve_auth::{header_value, http};
use wharf_testkit::cli::*;

/// A connection to `host` from the loopback address `from` (any of 127.0.0.0/8), so that
/// a test can be several clients.
fn connect_from(from: &str, host: &str) -> TcpStream {
    let target: SocketAddr = host.parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let source: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&source.into()).unwrap();
    socket.connect(&target.into()).unwrap();
    socket.into()
}

/// Writes `bytes` one at a time, `every` apart, until done or the server closes.
fn trickle(mut stream: TcpStream, bytes: Vec<u8>, every: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for byte in bytes {
            if stream.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(every);
        }
    })
}

/// How long until the server closes `stream` (reads and discards what it says), or None
/// when it is still open after `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(start.elapsed())
            }
            Err(_) => return None,
        }
    }
}

/// Starts an upload and sends the head of a 100,000-byte PATCH to it: the session's
/// location and the connection, on which the body is still to come.
fn start_patch(host: &str) -> (String, TcpStream) {
    let (status, head, _) = http(host, "POST", "/v2/slow/app/blobs/uploads/", &[], b"");
    assert_eq!(status, 202, "{head}");
    let location = header_value(&head, "Location");
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "PATCH {location} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"
    )
    .unwrap();
    (location, stream)
}

/// A GET of `/v2/` on an open keep-alive connection: the status.
fn get_base(stream: &mut TcpStream, host: &str) -> u16 {
    write!(stream, "GET /v2/ HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "the answer is cut");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let length: usize = header_value(&head, "Content-Length").parse().unwrap();
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Headers trickled a byte every 200 ms (the idle timeout never fires) are cut at the
/// header deadline.
#[test]
fn a_header_trickler_is_cut_at_the_header_deadline() {
    let w = Wharf::new();
    let config = w.write(
        "registry.toml",
        b"header-timeout = \"1s\"\nclient-timeout = \"60s\"\n",
    );
    let server = Server::start_with(&["--root", s(&w.path("registry")), "--config", s(&config)]);
    let mut stream = TcpStream::connect(&server.host).unwrap();
    let _writer = trickle(
        stream.try_clone().unwrap(),
        b"GET /v2/ HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
        Duration::from_millis(200),
    );
    let cut = closed_within(&mut stream, Duration::from_secs(8));
    assert!(
        cut.is_some_and(|after| after < Duration::from_secs(5)),
        "cut after {cut:?}"
    );
    assert_eq!(http(&server.host, "GET", "/v2/", &[], b"").0, 200);
    assert!(server.stop().success());
}

/// A body trickled a byte every 50 ms falls below `body-min-rate` and is cut once the
/// grace (`client-timeout`) is over; the upload session stays.
#[test]
fn a_body_below_the_minimum_rate_is_cut() {
    let w = Wharf::new();
    let config = w.write(
        "registry.toml",
        b"client-timeout = \"1s\"\nbody-min-rate = 1000\n",
    );
    let server = Server::start_with(&["--root", s(&w.path("registry")), "--config", s(&config)]);
    let host = server.host.clone();
    let (location, mut stream) = start_patch(&host);
    let _writer = trickle(
        stream.try_clone().unwrap(),
        vec![7u8; 400],
        Duration::from_millis(50),
    );
    let cut = closed_within(&mut stream, Duration::from_secs(12));
    assert!(
        cut.is_some_and(|after| after < Duration::from_secs(6)),
        "cut after {cut:?}"
    );
    let (status, head, _) = http(&host, "GET", &location, &[], b"");
    assert_eq!(status, 204, "the session is still there: {head}");
    assert!(server.stop().success());
}

/// Over `max-connections-per-client` a client's new connection is closed at once; other
/// clients are served. Over `max-connections` every new connection is closed at once,
/// and the connections already open keep working.
#[test]
fn connection_caps_refuse_new_connections_and_keep_the_open_ones() {
    let w = Wharf::new();
    let config = w.write(
        "registry.toml",
        b"max-connections = 4\nmax-connections-per-client = 3\nclient-timeout = \"60s\"\n",
    );
    let server = Server::start_with(&["--root", s(&w.path("registry")), "--config", s(&config)]);
    let host = server.host.clone();
    // Three slow clients on 127.0.0.1, each sending half a request.
    let slow: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut stream = connect_from("127.0.0.1", &host);
            write!(stream, "GET /v2/ HTTP/1.1\r\nHo").unwrap();
            stream
        })
        .collect();
    // A fourth from the same address is closed at once.
    let mut fourth = connect_from("127.0.0.1", &host);
    let _ = write!(fourth, "GET /v2/ HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let closed = closed_within(&mut fourth, Duration::from_secs(5));
    assert!(
        closed.is_some_and(|after| after < Duration::from_secs(2)),
        "{closed:?}"
    );
    // Another client is served, and keeps its connection.
    let mut other = connect_from("127.0.0.2", &host);
    assert_eq!(get_base(&mut other, &host), 200);
    // That is four: a fifth connection, from anywhere, is closed at once.
    let mut fifth = connect_from("127.0.0.3", &host);
    let closed = closed_within(&mut fifth, Duration::from_secs(5));
    assert!(
        closed.is_some_and(|after| after < Duration::from_secs(2)),
        "{closed:?}"
    );
    // The open connection still works; once the slow ones go, new ones are served again.
    assert_eq!(get_base(&mut other, &host), 200);
    drop(slow);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = connect_from("127.0.0.1", &host);
        let _ = write!(
            again,
            "GET /v2/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        );
        let mut answer = String::new();
        let _ = again.read_to_string(&mut answer);
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "never served again: {answer:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = server.log.clone();
    assert!(server.stop().success());
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("max-connections"),
        "the refusal is logged: {log}"
    );
}

/// SIGTERM while a client trickles an upload: requests in flight get
/// `--shutdown-timeout`, then the connection is dropped and the process exits.
#[test]
fn sigterm_exits_after_the_shutdown_timeout_despite_a_trickling_client() {
    let w = Wharf::new();
    let server =
        Server::start_with(&["--root", s(&w.path("registry")), "--shutdown-timeout", "1s"]);
    let host = server.host.clone();
    let (_, stream) = start_patch(&host);
    let _writer = trickle(stream, vec![7u8; 100_000], Duration::from_millis(20));
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log.clone();
    let asked = Instant::now();
    assert!(server.stop().success());
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(5), "exited after {took:?}");
    assert!(
        took >= Duration::from_millis(900),
        "exited after {took:?}, before the deadline"
    );
    let log = log.lock().unwrap().clone();
    assert!(log.contains("shutdown timeout"), "{log}");
}

/// `--addr` takes `localhost:PORT` and `:PORT` (every interface), refuses anything else
/// naming the forms it takes, and a registry that cannot listen leaves no data directory.
#[test]
fn addr_forms_and_a_failed_bind_leaves_no_data_directory() {
    let w = Wharf::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let root = w.path("fresh-registry");
    let out = w.fails(&[
        "serve",
        "--root",
        s(&root),
        "--addr",
        &format!("127.0.0.1:{port}"),
    ]);
    assert!(
        out.contains(&format!("cannot listen on `127.0.0.1:{port}`")),
        "{out}"
    );
    assert!(
        out.contains("hint: another process listens on that port"),
        "{out}"
    );
    assert!(!root.exists(), "a failed bind created `{}`", root.display());

    let out = w.fails(&["serve", "--root", s(&root), "--addr", "5000"]);
    assert!(
        out.contains("`5000` is not an address to listen on"),
        "{out}"
    );
    assert!(
        out.contains("`localhost:5000`") && out.contains("`:PORT`"),
        "{out}"
    );
    assert!(!root.exists());

    for (addr, shown) in [("localhost:0", "127.0.0.1:"), (":0", ":")] {
        let (_serving, line) = spawn_serve(&["--root", s(&root), "--addr", addr]);
        let listening = listening_on(&line, "listening on http://");
        assert!(listening.contains(shown), "{addr}: {line}");
        let port = listening.rsplit(':').next().unwrap();
        let (status, _, _) = http(&format!("127.0.0.1:{port}"), "GET", "/v2/", &[], b"");
        assert_eq!(status, 200, "{addr}");
    }
}

/// A `wharf serve` process, killed when dropped (also when a test fails).
struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `wharf serve ARGS` (no `WHARF_*` variable inherited) and its first line on stderr.
/// The rest of stderr is closed, as when whoever read the log went away: the server must
/// go on serving (its access log lines are lost, not its requests).
fn spawn_serve(args: &[&str]) -> (Serving, String) {
    let mut command = wharf_testkit::cli::isolated(&std::env::temp_dir().join("wharf-no-home"));
    command.arg("serve").args(args);
    let mut child = command
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    (Serving(child), line)
}

/// The `HOST:PORT` after `prefix` in the listening line.
fn listening_on(line: &str, prefix: &str) -> String {
    line.split(prefix)
        .nth(1)
        .unwrap_or_else(|| panic!("no `{prefix}` in {line}"))
        .split(|c: char| c.is_whitespace() || c == '/' || c == ')')
        .next()
        .unwrap()
        .to_string()
}

/// `--metrics-addr` serves `/metrics` on its own port, named by the listening line, and
/// takes it off the registry's.
#[test]
fn metrics_addr_serves_metrics_on_its_own_port() {
    let w = Wharf::new();
    let (_serving, line) = spawn_serve(&[
        "--root",
        s(&w.path("registry")),
        "--addr",
        "127.0.0.1:0",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let registry = listening_on(&line, "listening on http://");
    let metrics = listening_on(&line, "metrics on http://");
    assert_ne!(registry, metrics, "{line}");
    let (status, _, body) = http(&metrics, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200, "{line}");
    assert!(String::from_utf8_lossy(&body).contains("wharf_http_requests_total"));
    assert_eq!(http(&registry, "GET", "/metrics", &[], b"").0, 404);
    assert_eq!(http(&registry, "GET", "/v2/", &[], b"").0, 200);
}
