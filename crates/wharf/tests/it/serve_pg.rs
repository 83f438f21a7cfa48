//! `wharf serve` replicas: two processes on different ports sharing one `--root` and one
//! PostgreSQL database (a private server per test), with skopeo and `wharf pull` as clients
//! and `wharf registry gc` beside them. Skips when skopeo or PostgreSQL is missing.

use sha2::{Digest as _, Sha256};
use wharf_testkit::postgres::Postgres;

use crate::serve::{layout, run, skopeo_push, Server};
use crate::serve_auth::http;
use wharf_testkit::cli::*;

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_else(|| panic!("no `{name}` in {head}"))
}

/// `wharf registry gc` on `root` with the database from `$WHARF_REGISTRY_DATABASE`.
fn gc(root: &std::path::Path, database: &str, extra: &[&str]) -> std::process::Output {
    let mut cmd = wharf_testkit::cli::isolated(root);
    cmd.args(["registry", "gc", "--grace-period", "0"])
        .args(extra)
        .env("WHARF_REGISTRY_ROOT", root)
        .env("WHARF_REGISTRY_DATABASE", database);
    cmd.output().unwrap()
}

#[test]
fn replicas_share_a_root_and_a_postgres_database() {
    if !have_tool("skopeo") {
        return;
    }
    let Some(pg) = Postgres::start() else {
        return;
    };
    let url = pg.new_database();
    let w = Wharf::new();
    let root = w.path("registry");
    // A short grace: what clients read is protected from every GC for that long.
    let config = w.write("registry.toml", b"[gc]\ngrace-period = \"1s\"\n");
    let serve = [
        "--root",
        s(&root),
        "--database",
        &url,
        "--config",
        s(&config),
    ];
    let a = Server::start_with(&serve);
    let b = Server::start_with(&serve);

    // Pushed to A, read from B: skopeo sees the exact manifest, wharf pulls the image.
    let (src, img) = layout(&w, "app");
    skopeo_push(&src, &format!("docker://{}/team/app:v1", a.host));
    let raw = run(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--raw",
            &format!("docker://{}/team/app:v1", b.host),
        ],
    );
    assert_eq!(raw.as_bytes(), img.manifest.bytes());
    let remote = format!("{}/team/app:v1", b.host);
    w.ok(&["pull", &remote]);
    let images = w.ok(&["images", "--no-trunc"]);
    assert!(images.contains(&img.id()), "{images}");

    // A chunked upload started on A and finished on B.
    let blob: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let digest = format!("sha256:{:x}", Sha256::digest(&blob));
    let (status, head, _) = http(&a.host, "POST", "/v2/team/up/blobs/uploads/", &[], b"");
    assert_eq!(status, 202, "{head}");
    let location = header(&head, "location").to_string();
    let (first, rest) = blob.split_at(100_000);
    let range = format!("0-{}", first.len() - 1);
    let chunk = [
        ("content-type", "application/octet-stream"),
        ("content-range", range.as_str()),
    ];
    let (status, head, _) = http(&a.host, "PATCH", &location, &chunk, first);
    assert_eq!(status, 202, "{head}");
    assert_eq!(header(&head, "range"), "0-99999");
    let (status, head, _) = http(&b.host, "GET", &location, &[], b"");
    assert_eq!(status, 204, "{head}");
    assert_eq!(header(&head, "range"), "0-99999");
    let range = format!("{}-{}", first.len(), blob.len() - 1);
    let chunk = [
        ("content-type", "application/octet-stream"),
        ("content-range", range.as_str()),
    ];
    let (status, head, _) = http(&b.host, "PATCH", &location, &chunk, rest);
    assert_eq!(status, 202, "{head}");
    let sep = if location.contains('?') { '&' } else { '?' };
    let (status, head, _) = http(
        &b.host,
        "PUT",
        &format!("{location}{sep}digest={digest}"),
        &[],
        b"",
    );
    assert_eq!(status, 201, "{head}");
    let (status, _, body) = http(
        &a.host,
        "GET",
        &format!("/v2/team/up/blobs/{digest}"),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert!(
        body == blob,
        "replica A serves other bytes than were uploaded"
    );

    // Untagged on B; `wharf registry gc` with the database URL collects it for both.
    let manifest_path = format!("/v2/team/app/manifests/{}", img.manifest.digest());
    let (status, head, _) = http(&b.host, "DELETE", "/v2/team/app/manifests/v1", &[], b"");
    assert_eq!(status, 202, "{head}");
    // Past the servers' grace since the last read (in whole seconds).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = gc(&root, &url, &["--delete-untagged"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("Removed 1 manifest, "), "{stdout}");
    for host in [&a.host, &b.host] {
        assert_eq!(http(host, "GET", &manifest_path, &[], b"").0, 404);
        assert_eq!(http(host, "GET", "/v2/", &[], b"").0, 200);
    }
    let left = std::fs::read_dir(root.join("blobs/sha256")).map_or(0, |d| d.count());
    assert_eq!(left, 0, "every blob was unreferenced");
    // No registry.db: the metadata is in PostgreSQL only.
    assert!(!root.join("registry.db").exists());

    let (log_a, log_b) = (a.log.lock().unwrap().clone(), b.log.lock().unwrap().clone());
    assert!(a.stop().success());
    assert!(b.stop().success());
    for log in [log_a, log_b] {
        assert!(
            !log.contains(&pg.password),
            "the password leaked into a log: {log}"
        );
    }
}

#[test]
fn a_wrong_database_password_is_an_error_that_never_shows_it() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let url = pg.new_database();
    let wrong = url.replace(&pg.password, "not-the-Secret-123");
    let w = Wharf::new();
    let root = w.path("registry");
    let out = w
        .command()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--root",
            s(&root),
            "--database",
            &wrong,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("not-the-Secret-123"), "{stderr}");
    assert!(
        stderr.contains(&format!("postgres://wharf:***@127.0.0.1:{}/", pg.port)),
        "{stderr}"
    );
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );

    // GC refuses a root no registry made, before connecting.
    let out = gc(&w.path("elsewhere"), &url, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no registry at"), "{stderr}");
    std::fs::create_dir_all(root.join("uploads")).unwrap();
    let out = gc(&root, &wrong, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(!stderr.contains("not-the-Secret-123"), "{stderr}");
    assert!(stderr.contains("wharf:***@"), "{stderr}");

    // Not a PostgreSQL URL: refused before anything connects, still without the password.
    let out = gc(&root, "mysql://u:hunter2@db/x", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not a PostgreSQL URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn the_database_setting_follows_flag_then_variable_then_file() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let right = pg.new_database();
    let wrong = right.replace(&pg.password, "wrong-password");
    let w = Wharf::new();
    let root = w.path("registry");
    std::fs::create_dir_all(root.join("uploads")).unwrap();
    let config = w.write(
        "registry.toml",
        format!("root = \"{}\"\ndatabase = \"{wrong}\"\n", s(&root)).as_bytes(),
    );
    let gc = |env: Option<&str>, flag: Option<&str>| {
        let mut cmd = w.command();
        cmd.args(["registry", "gc", "--config", s(&config)]);
        if let Some(url) = env {
            cmd.env("WHARF_REGISTRY_DATABASE", url);
        }
        if let Some(url) = flag {
            cmd.args(["--database", url]);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("wrong-password"), "{stderr}");
        (out.status.success(), stderr)
    };
    let (ok, stderr) = gc(None, None);
    assert!(
        !ok && stderr.contains("password authentication failed"),
        "{stderr}"
    );
    assert!(gc(Some(&right), None).0, "the variable overrides the file");
    assert!(
        gc(Some(&wrong), Some(&right)).0,
        "the flag overrides the variable"
    );
    assert!(
        !gc(Some(&right), Some(&wrong)).0,
        "the flag overrides the variable"
    );
}
