//! `wharf serve` as a process, with real clients: skopeo, `wharf pull`, the Docker Engine.
//! Each test skips when its peer is missing (fails under `WHARF_REQUIRE_INTEROP=1`).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

/// A `wharf serve` child on a free 127.0.0.1 port (it binds `:0` and names the port).
pub(crate) struct Server {
    child: Child,
    pub host: String,
    pub log: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(root: &Path) -> Server {
        Server::start_with(&["--root", s(root)])
    }

    /// `wharf serve --addr 127.0.0.1:0 ARGS...`, with no `WHARF_*` variable inherited.
    pub fn start_with(args: &[&str]) -> Server {
        let mut command = wharf_testkit::cli::isolated(&std::env::temp_dir().join("wharf-no-home"));
        command.args(["serve", "--addr", "127.0.0.1:0"]).args(args);
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let host = loop {
            line.clear();
            if stderr.read_line(&mut line).unwrap() == 0 {
                panic!("wharf serve exited before listening: {:?}", child.wait());
            }
            if let Some(rest) = line
                .split("listening on http://")
                .nth(1)
                .or_else(|| line.split("listening on https://").nth(1))
            {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut rest = String::new();
            for line in stderr.lines().map_while(Result::ok) {
                rest.push_str(&line);
                rest.push('\n');
                *sink.lock().unwrap() = rest.clone();
            }
        });
        Server { child, host, log }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "wharf serve ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare HTTP/1.1 GET: (status, whole response text).
fn http_get(host: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, text)
}

pub(crate) fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An OCI layout holding one image tagged `v1` (and its blobs, for comparison).
pub(crate) fn layout(w: &Wharf, name: &str) -> (std::path::PathBuf, Image) {
    let img = image_on(&base_layer(), name);
    let dir = w.path(name);
    write_image_layout(&dir, &img, "v1");
    (dir, img)
}

/// skopeo copies the layout's `v1` to `remote` (`docker://...`, plain HTTP).
pub(crate) fn skopeo_push(src: &Path, remote: &str) {
    run(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", s(src)),
            remote,
        ],
    );
}

/// skopeo copies `remote` back into the layout `out`: the same blob files as the layout
/// `src`, and the manifest's exact bytes.
pub(crate) fn skopeo_reads_back(remote: &str, src: &Path, out: &Path, manifest: &[u8]) {
    run(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            remote,
            &format!("oci:{}:v1", s(out)),
        ],
    );
    assert_eq!(blob_files(out), blob_files(src));
    let raw = run(
        "skopeo",
        &["inspect", "--tls-verify=false", "--raw", remote],
    );
    assert_eq!(raw.as_bytes(), manifest);
}

pub(crate) fn blob_files(layout: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        out.push((
            entry.file_name().to_string_lossy().into_owned(),
            std::fs::read(entry.path()).unwrap(),
        ));
    }
    out.sort();
    out
}

#[test]
fn serves_the_api_and_stops_on_sigterm() {
    let w = Wharf::new();
    let server = Server::start(&w.path("registry"));
    let (status, text) = http_get(&server.host, "/v2/");
    assert_eq!(status, 200);
    assert!(text
        .to_lowercase()
        .contains("docker-distribution-api-version: registry/2.0"));
    assert_eq!(http_get(&server.host, "/healthz").0, 200);
    let (status, text) = http_get(&server.host, "/v2/../x/tags/list");
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("NAME_INVALID"));
    let log = server.log.clone();
    assert!(server.stop().success());
    // Access logs name the requests.
    assert!(
        log.lock().unwrap().contains("/healthz"),
        "{}",
        log.lock().unwrap()
    );
}

#[test]
fn skopeo_copies_into_wharf_serve_and_back_byte_identical() {
    if !have_tool("skopeo") {
        return;
    }
    let w = Wharf::new();
    let server = Server::start(&w.path("registry"));
    let (src, img) = layout(&w, "app");
    let remote = format!("docker://{}/team/app:v1", server.host);
    skopeo_push(&src, &remote);
    skopeo_reads_back(&remote, &src, &w.path("out"), img.manifest.bytes());

    // A multi-platform index with `--all`: the index digest survives the round trip.
    let multi = multi_platform();
    let mdir = w.path("multi");
    let index = named_index(multi.descriptor(), "m");
    write_oci_layout(&mdir, &multi.blobs(), &index);
    let remote = format!("docker://{}/team/multi:m", server.host);
    run(
        "skopeo",
        &[
            "copy",
            "--all",
            "--dest-tls-verify=false",
            &format!("oci:{}:m", s(&mdir)),
            &remote,
        ],
    );
    let mout = w.path("mout");
    run(
        "skopeo",
        &[
            "copy",
            "--all",
            "--src-tls-verify=false",
            &remote,
            &format!("oci:{}:m", s(&mout)),
        ],
    );
    assert_eq!(blob_files(&mout), blob_files(&mdir));
    let tags = run(
        "skopeo",
        &[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{}/team/app", server.host),
        ],
    );
    assert!(tags.contains("\"v1\""), "{tags}");
}

#[test]
fn wharf_pulls_from_wharf_serve() {
    if !have_tool("skopeo") {
        return;
    }
    let w = Wharf::new();
    let server = Server::start(&w.path("registry"));
    let (src, img) = layout(&w, "pulled");
    let remote = format!("{}/team/pulled:v1", server.host);
    skopeo_push(&src, &format!("docker://{remote}"));
    w.ok(&["pull", &remote]);
    let images = w.ok(&["images", "--no-trunc"]);
    assert!(
        images.contains(&format!("{}/team/pulled", server.host)),
        "{images}"
    );
    assert!(images.contains(&img.id()), "{images}");
    assert!(w.ok(&["fsck"]).contains("clean"));
}

#[test]
fn docker_pushes_to_and_pulls_from_wharf_serve() {
    if !have_docker() {
        return;
    }
    let w = Wharf::new();
    let server = Server::start(&w.path("registry"));
    let (src, _) = layout(&w, "dockerized");
    w.ok(&["load", "-i", s(&src), "-t", "wharf-serve-docker"]);
    let archive = w.path("image.tar");
    w.ok(&["save", "-o", s(&archive), "wharf-serve-docker:v1"]);
    run("docker", &["load", "-i", s(&archive)]);
    let remote = format!("{}/wharf-serve-test/docker:v1", server.host);
    run("docker", &["tag", "wharf-serve-docker:v1", &remote]);
    run("docker", &["push", &remote]);
    let id = run(
        "docker",
        &["image", "inspect", "--format", "{{.Id}}", &remote],
    );
    run("docker", &["rmi", &remote, "wharf-serve-docker:v1"]);
    run("docker", &["pull", &remote]);
    assert_eq!(
        run(
            "docker",
            &["image", "inspect", "--format", "{{.Id}}", &remote]
        ),
        id
    );
    run("docker", &["rmi", &remote]);
}
