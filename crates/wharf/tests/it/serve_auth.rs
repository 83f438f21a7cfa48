//! `wharf serve` configured from a file, behind auth (bearer tokens it issues itself) and
//! TLS, with real clients: `wharf login` + `wharf pull`, skopeo with credentials and
//! certificates, and `docker login`/`push` when a Docker Engine answers.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::pull::Env;
use crate::serve::{blob_files, layout, run, skopeo_push, skopeo_reads_back, Server};
use wharf_testkit::cli::*;

pub(crate) const ALICE: (&str, &str) = ("alice", "alice-Secret-8k2");
pub(crate) const BOB: (&str, &str) = ("bob", "bob-Secret-5j1");

/// `htpasswd` in `w`: bcrypt entries for alice and bob.
pub(crate) fn htpasswd(w: &Wharf) -> PathBuf {
    let lines: Vec<String> = [ALICE, BOB]
        .iter()
        .map(|(u, p)| format!("{u}:{}", bcrypt::hash(p, 4).unwrap()))
        .collect();
    w.write("htpasswd", lines.join("\n").as_bytes())
}

/// An htpasswd file for alice and bob and a config: alice may do everything, bob may pull
/// `team/**`, anonymous callers nothing. `extra` is appended (TLS, say).
fn auth_config(w: &Wharf, extra: &str) -> PathBuf {
    htpasswd(w);
    w.write("token.key", b"0123456789abcdef0123456789abcdef-wharf-test");
    let registry = w.path("registry");
    w.write(
        "registry.toml",
        format!(
            r#"root = "{}"
[auth]
htpasswd = "htpasswd"
[auth.token]
key = "token.key"
[[auth.rules]]
users = ["alice"]
repositories = ["**"]
actions = ["*"]
[[auth.rules]]
users = ["bob"]
repositories = ["team/**"]
actions = ["pull"]
{extra}"#,
            s(&registry)
        )
        .as_bytes(),
    )
}

/// Runs a program; returns (success, stdout + stderr).
fn attempt(program: &str, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A GET with optional `Authorization`: (status, body).
fn http_get_auth(host: &str, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

pub(crate) fn basic((user, password): (&str, &str)) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[test]
fn config_file_errors_name_the_key_and_line() {
    let w = Wharf::new();
    let bad = w.write(
        "bad.toml",
        b"addr = \"127.0.0.1:0\"\n\n[gc]\nintervall = \"1h\"\n",
    );
    let stderr = w.fails(&["serve", "--config", s(&bad)]);
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(stderr.contains("unknown field `intervall`"), "{stderr}");
    assert!(stderr.contains(s(&bad)), "{stderr}");
    let stderr = w.fails(&["serve", "--config", s(&w.path("missing.toml"))]);
    assert!(stderr.contains("cannot read the config file"), "{stderr}");
    let htpasswd = w.write("htpasswd", b"carol:{SHA}not-bcrypt\n");
    let cfg = w.write(
        "plain.toml",
        format!("[auth]\nhtpasswd = \"{}\"\n", s(&htpasswd)).as_bytes(),
    );
    let stderr = w.fails(&["serve", "--config", s(&cfg)]);
    assert!(
        stderr.contains("line 1") && stderr.contains("htpasswd -B"),
        "{stderr}"
    );
    // Token auth on all interfaces: no address to announce as the realm, so it must be
    // configured (checked before anything binds or is created).
    w.write(
        "users",
        format!("alice:{}\n", bcrypt::hash("pw", 4).unwrap()).as_bytes(),
    );
    let cfg = w.write(
        "all.toml",
        format!(
            "addr = \"0.0.0.0:0\"\nroot = \"{}\"\n[auth]\nhtpasswd = \"users\"\n[auth.token]\n",
            s(&w.path("never-made"))
        )
        .as_bytes(),
    );
    let stderr = w.fails(&["serve", "--config", s(&cfg)]);
    assert!(
        stderr.contains("`0.0.0.0:0` listens on all interfaces"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: set `realm` in `[auth.token]`"),
        "{stderr}"
    );
    assert!(!w.path("never-made").exists());
}

#[test]
fn flags_and_variables_override_the_config_file() {
    let w = Wharf::new();
    let cfg = w.write(
        "registry.toml",
        b"root = \"from-config\"\naddr = \"127.0.0.1:0\"\n",
    );
    // The config's root, relative to the file.
    let server = Server::start_with(&["--config", s(&cfg)]);
    assert_eq!(http_get_auth(&server.host, "/v2/", None).0, 200);
    assert!(server.stop().success());
    assert!(w.path("from-config/registry.db").exists());
    // `--root` wins over the file.
    let server = Server::start_with(&["--config", s(&cfg), "--root", s(&w.path("from-flag"))]);
    assert!(server.stop().success());
    assert!(w.path("from-flag/registry.db").exists());
}

#[test]
fn real_clients_log_in_and_are_refused_by_the_rules() {
    if !have_tool("skopeo") {
        return;
    }
    let w = Wharf::new();
    let cfg = auth_config(&w, "");
    let server = Server::start_with(&["--config", s(&cfg)]);
    let host = server.host.clone();
    let (src, img) = layout(&w, "authed");
    let source = format!("oci:{}:v1", s(&src));
    let remote = format!("docker://{host}/team/app:v1");
    let creds = |(u, p): (&str, &str)| format!("{u}:{p}");

    // Push: anonymous, a wrong password, and bob (pull only) are refused; alice pushes.
    let (ok, text) = attempt(
        "skopeo",
        &["copy", "--dest-tls-verify=false", &source, &remote],
    );
    assert!(!ok, "anonymous push: {text}");
    let wrong = creds((ALICE.0, "wrong"));
    let (ok, text) = attempt(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &wrong,
            &source,
            &remote,
        ],
    );
    assert!(!ok, "wrong password push: {text}");
    let (ok, text) = attempt(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds(BOB),
            &source,
            &remote,
        ],
    );
    assert!(!ok, "bob's push: {text}");
    assert!(text.to_lowercase().contains("denied"), "{text}");
    run(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds(ALICE),
            &source,
            &remote,
        ],
    );

    // Pull: bob may; anonymous may not; a wrong password may not.
    let out = w.path("out");
    run(
        "skopeo",
        &[
            "copy",
            "--src-tls-verify=false",
            "--src-creds",
            &creds(BOB),
            &remote,
            &format!("oci:{}:v1", s(&out)),
        ],
    );
    assert_eq!(blob_files(&out), blob_files(&src));
    let (ok, text) = attempt(
        "skopeo",
        &["inspect", "--tls-verify=false", "--raw", &remote],
    );
    assert!(!ok, "anonymous pull: {text}");
    let (ok, text) = attempt(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--raw",
            "--creds",
            &wrong,
            &remote,
        ],
    );
    assert!(!ok, "wrong password pull: {text}");

    // wharf login + pull as bob; login with a wrong password fails and stores nothing.
    let env = Env::new();
    let (ok, _, stderr) = env.run(
        &["login", &host, "-u", ALICE.0, "--password-stdin"],
        "wrong\n",
    );
    assert!(!ok && stderr.contains("unauthorized"), "{stderr}");
    assert!(!env.w.path("docker/config.json").exists());
    let (ok, _, stderr) = env.run(&["pull", &format!("{host}/team/app:v1")], "");
    assert!(!ok, "anonymous wharf pull: {stderr}");
    let (ok, stdout, stderr) = env.run(
        &["login", &host, "-u", BOB.0, "--password-stdin"],
        &format!("{}\n", BOB.1),
    );
    assert!(ok, "{stdout}{stderr}");
    let stdout = env.ok(&["pull", &format!("{host}/team/app:v1")]);
    assert!(
        stdout.contains(&img.manifest.digest().to_string()),
        "{stdout}"
    );

    // Delete: bob may not; alice may.
    let (ok, text) = attempt(
        "skopeo",
        &[
            "delete",
            "--tls-verify=false",
            "--creds",
            &creds(BOB),
            &remote,
        ],
    );
    assert!(!ok, "bob's delete: {text}");

    // Catalog: bob's token for `registry:catalog:*` lists only what he may read.
    run(
        "skopeo",
        &[
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds(ALICE),
            &source,
            &format!("docker://{host}/secret/app:v1"),
        ],
    );
    let catalog_for = |who: (&str, &str)| {
        let (status, body) = http_get_auth(
            &host,
            "/token?service=wharf&scope=registry:catalog:*",
            Some(&basic(who)),
        );
        assert_eq!(status, 200, "{body}");
        let token: serde_json::Value = serde_json::from_str(&body).unwrap();
        let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
        let (status, body) = http_get_auth(&host, "/v2/_catalog", Some(&bearer));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["repositories"].clone()
    };
    assert_eq!(catalog_for(BOB), serde_json::json!(["team/app"]));
    assert_eq!(
        catalog_for(ALICE),
        serde_json::json!(["secret/app", "team/app"])
    );
    assert_eq!(http_get_auth(&host, "/v2/_catalog", None).0, 401);

    run(
        "skopeo",
        &[
            "delete",
            "--tls-verify=false",
            "--creds",
            &creds(ALICE),
            &remote,
        ],
    );
    let (ok, _) = attempt(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            &creds(ALICE),
            &remote,
        ],
    );
    assert!(!ok, "deleted");

    if have_docker() {
        docker_logs_in_and_pushes(&w, &host, &src);
    }
}

/// `docker login` with a wrong then the right password, then push (bob: denied; alice: ok).
fn docker_logs_in_and_pushes(w: &Wharf, host: &str, src: &Path) {
    let config = w.path("docker-cli");
    std::fs::create_dir_all(&config).unwrap();
    let docker = |args: &[&str], stdin: &str| {
        let mut child = std::process::Command::new("docker")
            .env("DOCKER_CONFIG", &config)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    w.ok(&["load", "-i", s(src), "-t", "wharf-serve-auth"]);
    let archive = w.path("docker.tar");
    w.ok(&["save", "-o", s(&archive), "wharf-serve-auth:v1"]);
    let (ok, text) = docker(&["load", "-i", s(&archive)], "");
    assert!(ok, "{text}");
    let remote = format!("{host}/team/docker:v1");
    let (ok, text) = docker(&["tag", "wharf-serve-auth:v1", &remote], "");
    assert!(ok, "{text}");
    let (ok, text) = docker(
        &["login", host, "-u", ALICE.0, "--password-stdin"],
        "wrong\n",
    );
    assert!(!ok, "docker login with a wrong password: {text}");
    let (ok, text) = docker(
        &["login", host, "-u", BOB.0, "--password-stdin"],
        &format!("{}\n", BOB.1),
    );
    assert!(ok, "{text}");
    let (ok, text) = docker(&["push", &remote], "");
    assert!(!ok && text.contains("denied"), "bob's docker push: {text}");
    let (ok, text) = docker(
        &["login", host, "-u", ALICE.0, "--password-stdin"],
        &format!("{}\n", ALICE.1),
    );
    assert!(ok, "{text}");
    let (ok, text) = docker(&["push", &remote], "");
    assert!(ok, "alice's docker push: {text}");
    let _ = docker(&["rmi", &remote, "wharf-serve-auth:v1"], "");
}

/// A self-signed certificate for 127.0.0.1 and localhost: (cert file, key file).
fn certificate(w: &Wharf) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params.is_ca = rcgen::IsCa::NoCa;
    let cert = params.self_signed(&key).unwrap();
    (
        w.write("cert.pem", cert.pem().as_bytes()),
        w.write("key.pem", key.serialize_pem().as_bytes()),
    )
}

#[test]
fn serves_tls_to_wharf_and_skopeo() {
    if !have_tool("skopeo") {
        return;
    }
    let w = Wharf::new();
    let (cert, key) = certificate(&w);
    let server = Server::start_with(&[
        "--root",
        s(&w.path("registry")),
        "--tls-cert",
        s(&cert),
        "--tls-key",
        s(&key),
    ]);
    let host = server.host.clone();
    // skopeo verifies the certificate against the CA in `--cert-dir`.
    let certs = w.path("certs.d");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&cert, certs.join("ca.crt")).unwrap();
    let (src, img) = layout(&w, "tls");
    run(
        "skopeo",
        &[
            "copy",
            "--dest-cert-dir",
            s(&certs),
            &format!("oci:{}:v1", s(&src)),
            &format!("docker://{host}/tls/app:v1"),
        ],
    );
    // Without the CA, verification fails: this is really TLS.
    let (ok, text) = attempt(
        "skopeo",
        &["inspect", "--raw", &format!("docker://{host}/tls/app:v1")],
    );
    assert!(!ok && text.contains("certificate"), "{text}");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    // The server may reject the non-TLS bytes and close before the write completes
    // (EPIPE); either way no HTTP answer may come back.
    let _ = write!(stream, "GET /v2/ HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap_or(0);
    assert!(!String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // wharf pull with the CA.
    let env = Env::new();
    let stdout = env.ok(&["pull", "--ca-cert", s(&cert), &format!("{host}/tls/app:v1")]);
    assert!(
        stdout.contains(&img.manifest.digest().to_string()),
        "{stdout}"
    );
    assert!(server.stop().success());
}

#[test]
fn registry_gc_removes_untagged_images_beside_a_running_server() {
    if !have_tool("skopeo") {
        return;
    }
    let w = Wharf::new();
    let root = w.path("registry");
    let server = Server::start(&root);
    let host = server.host.clone();
    let (src, _) = layout(&w, "collected");
    let remote = format!("docker://{host}/gc/app:v1");
    skopeo_push(&src, &remote);
    // Untag it: with `--delete-untagged` the image and its blobs are garbage.
    let (status, _) = {
        let mut stream = std::net::TcpStream::connect(&host).unwrap();
        write!(
            stream,
            "DELETE /v2/gc/app/manifests/v1 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        (text.split_whitespace().nth(1).unwrap().to_string(), text)
    };
    assert_eq!(status, "202");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let gc = |extra: &[&str]| {
        let mut args = vec!["registry", "gc", "--grace-period", "0"];
        args.extend_from_slice(extra);
        // The registry's root from its own variable (the store's `--root` is not it).
        let mut cmd = wharf_testkit::cli::isolated(&root);
        cmd.args(&args).env("WHARF_REGISTRY_ROOT", &root);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let layers = std::fs::read_dir(root.join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(
        gc(&[]),
        "Removed 0 manifests, 0 blob links, 0 blobs (0B), 0 orphaned files, 0 upload sessions\n"
    );
    let dry = gc(&["--delete-untagged", "--dry-run"]);
    assert!(dry.starts_with("Would remove 1 manifest, "), "{dry}");
    assert_eq!(
        std::fs::read_dir(root.join("blobs/sha256"))
            .unwrap()
            .count(),
        layers
    );
    let out = gc(&["--delete-untagged"]);
    assert!(
        out.starts_with(&format!(
            "Removed 1 manifest, {layers} blob links, {layers} blobs ("
        )),
        "{out}"
    );
    assert_eq!(
        std::fs::read_dir(root.join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
    // The server goes on serving.
    assert_eq!(http_get_auth(&host, "/v2/", None).0, 200);
    let stderr = w.fails(&["registry", "gc"]);
    assert!(stderr.contains("no registry at"), "{stderr}");
    assert!(server.stop().success());
}

/// A blob a client was told exists (HEAD 200 from `wharf serve`) survives a `wharf registry
/// gc --grace-period 0` started beside it: the server's grace period (1h) protects it. A
/// blob nobody asked about is collected.
#[test]
fn registry_gc_keeps_a_blob_the_server_just_confirmed() {
    let w = Wharf::new();
    let root = w.path("registry");
    let server = Server::start(&root);
    let host = server.host.clone();
    let push = |bytes: &[u8]| {
        let digest = wharf_spec::Digest::sha256_of(bytes).to_string();
        let path = format!("/v2/kept/app/blobs/uploads/?digest={digest}");
        assert_eq!(http(&host, "POST", &path, &[], bytes).0, 201);
        format!("/v2/kept/app/blobs/{digest}")
    };
    let confirmed = push(b"a layer the client asked about");
    let unasked = push(b"a layer nobody asked about");
    assert_eq!(http(&host, "HEAD", &confirmed, &[], b"").0, 200);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = wharf_testkit::cli::isolated(&root)
        .args(["registry", "gc", "--grace-period", "0"])
        .env("WHARF_REGISTRY_ROOT", &root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("Removed 0 manifests, 1 blob link, 1 blob ("),
        "{stdout}"
    );
    let (status, _, body) = http(&host, "GET", &confirmed, &[], b"");
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"a layer the client asked about"[..])
    );
    assert_eq!(http(&host, "HEAD", &unasked, &[], b"").0, 404);
    assert!(server.stop().success());
}

/// One raw HTTP/1.1 request: (status, head, body).
pub(crate) fn http(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

pub(crate) fn header_value(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no `{name}` in {head}"))
}

#[test]
fn kill_9_during_uploads_keeps_committed_content_and_resumable_sessions() {
    if !have_tool("skopeo") {
        return;
    }
    let w = Wharf::new();
    let root = w.path("registry");
    let server = Server::start(&root);
    let host = server.host.clone();
    let (src, img) = layout(&w, "durable");
    let remote = format!("docker://{host}/crash/app:v1");
    skopeo_push(&src, &remote);

    // An upload with one acknowledged chunk, then a chunk that is cut off mid-body.
    let blob: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let (status, head, _) = http(&host, "POST", "/v2/crash/big/blobs/uploads/", &[], b"");
    assert_eq!(status, 202);
    let location = header_value(&head, "location");
    let (status, _, _) = http(
        &host,
        "PATCH",
        &location,
        &[("Content-Range", "0-99999")],
        &blob[..100_000],
    );
    assert_eq!(status, 202);
    let mut cut = std::net::TcpStream::connect(&host).unwrap();
    write!(
        cut,
        "PATCH {location} HTTP/1.1\r\nHost: {host}\r\nContent-Range: 100000-199999\r\nContent-Length: 100000\r\n\r\n"
    )
    .unwrap();
    cut.write_all(&blob[100_000..150_000]).unwrap();
    cut.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(server); // SIGKILL
    drop(cut);

    let server = Server::start(&root);
    let host = server.host.clone();
    let remote = format!("docker://{host}/crash/app:v1");
    // Committed content is intact, byte for byte.
    skopeo_reads_back(&remote, &src, &w.path("after"), img.manifest.bytes());
    // The session resumes from its last acknowledged byte and completes.
    let (status, head, _) = http(&host, "GET", &location, &[], b"");
    assert_eq!(status, 204, "{head}");
    assert_eq!(header_value(&head, "range"), "0-99999");
    let (status, head, _) = http(
        &host,
        "PATCH",
        &location,
        &[("Content-Range", "100000-199999")],
        &blob[100_000..200_000],
    );
    assert_eq!(status, 202, "{head}");
    let digest = format!("sha256:{:x}", <sha2::Sha256 as sha2::Digest>::digest(&blob));
    let (status, head, _) = http(
        &host,
        "PUT",
        &format!("{location}?digest={digest}"),
        &[("Content-Range", "200000-299999")],
        &blob[200_000..],
    );
    assert_eq!(status, 201, "{head}");
    let (status, _, body) = http(
        &host,
        "GET",
        &format!("/v2/crash/big/blobs/{digest}"),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert!(body == blob, "the resumed blob reads back whole");
    assert!(server.stop().success());
}

/// Slow and silent clients time out (`--client-timeout`): headers that never finish, an
/// upload body that stops, an idle keep-alive connection; a slow client that keeps
/// moving is served.
#[test]
fn stalled_clients_time_out_and_slow_moving_ones_are_served() {
    use std::time::{Duration, Instant};
    let w = Wharf::new();
    let server = Server::start_with(&["--root", s(&w.path("registry")), "--client-timeout", "1s"]);
    let host = server.host.clone();
    // Waits for the server to close `stream`; returns how long that took.
    let closed_after = |mut stream: std::net::TcpStream| {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let start = Instant::now();
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
        (start.elapsed(), String::from_utf8_lossy(&sink).into_owned())
    };

    // Headers that stop half way.
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    write!(stream, "GET /v2/ HTTP/1.1\r\nHo").unwrap();
    let (waited, answer) = closed_after(stream);
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert!(!answer.contains("200 OK"), "{answer}");

    // An idle keep-alive connection after one answered request.
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    write!(stream, "GET /v2/ HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let (waited, answer) = closed_after(stream);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");

    // An upload body that stops: the connection goes, the session stays.
    let (status, head, _) = http(&host, "POST", "/v2/slow/app/blobs/uploads/", &[], b"");
    assert_eq!(status, 202, "{head}");
    let location = header_value(&head, "Location");
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    write!(
        stream,
        "PATCH {location} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
    )
    .unwrap();
    stream.write_all(&[7u8; 100]).unwrap();
    let (waited, answer) = closed_after(stream);
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert!(!answer.contains(" 202 "), "{answer}");
    let (status, head, _) = http(&host, "GET", &location, &[], b"");
    assert_eq!(status, 204, "the session is still there: {head}");

    // Slow but moving: a header byte every 300 ms, 2.4 s in all, is served.
    let mut stream = std::net::TcpStream::connect(&host).unwrap();
    let request = format!("GET /v2/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let (first, rest) = request.split_at(request.len() - 8);
    stream.write_all(first.as_bytes()).unwrap();
    for byte in rest.bytes() {
        std::thread::sleep(Duration::from_millis(300));
        stream.write_all(&[byte]).unwrap();
    }
    let (_, answer) = closed_after(stream);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let out = w.fails(&["serve", "--client-timeout", "soon"]);
    assert!(out.contains("`--client-timeout`"), "{out}");
    assert!(server.stop().success());
}

/// The access log is on by default (a line per request on stderr) and off with
/// `--access-log false` or `access-log = false` in the config file.
#[test]
fn the_access_log_can_be_switched_off() {
    let w = Wharf::new();
    let root = w.path("registry");
    let logged = |args: &[&str]| {
        let mut all = vec!["--root", s(&root)];
        all.extend_from_slice(args);
        let server = Server::start_with(&all);
        assert_eq!(http_get_auth(&server.host, "/v2/", None).0, 200);
        let log = server.log.clone();
        assert!(server.stop().success());
        let text = log.lock().unwrap().clone();
        text
    };
    let on = logged(&[]);
    assert!(on.contains("uri=/v2/"), "{on}");
    assert!(
        !on.contains('\u{1b}'),
        "no colour codes off a terminal: {on:?}"
    );
    let off = logged(&["--access-log", "false"]);
    assert!(!off.contains("uri=/v2/"), "{off}");
    assert!(off.contains("wharf serve: stopped"), "{off}");
    let config = w.write("quiet.toml", b"access-log = false\n");
    let off = logged(&["--config", s(&config)]);
    assert!(!off.contains("uri=/v2/"), "{off}");
}
