//! `wharf pull` against a real CNCF distribution registry started on 127.0.0.1, holding
//! images built in code and pushed with wharf-client.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;
use wharf_spec::Digest;
use wharf_testkit::fixtures::{
    client, image_from_layers, index, push_image, push_index, random_image, reference, Image, Layer,
};
use wharf_testkit::registry::{Auth, Registry};
use wharf_testkit::registry_or_skip;

use wharf_testkit::cli::Wharf;

pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The binary with a store and configs of its own ([`Wharf::command`]): no login or
/// setting of the machine's leaks in.
pub(crate) struct Env {
    pub w: Wharf,
}

impl Env {
    pub fn new() -> Env {
        Env { w: Wharf::new() }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        self.w.cmd(args)
    }

    /// Runs with `stdin`; returns (success, stdout, stderr).
    pub fn run(&self, args: &[&str], stdin: &str) -> (bool, String, String) {
        let out = self.cmd(args).write_stdin(stdin).output().unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.w.ok(args)
    }

    pub fn fails(&self, args: &[&str]) -> String {
        self.w.fails(args)
    }

    /// Where `login` writes and `pull` reads Docker's credentials.
    pub fn docker_config(&self) -> std::path::PathBuf {
        self.w.path("docker/config.json")
    }

    pub fn inspect(&self, name: &str) -> Value {
        let out: Value = serde_json::from_str(&self.ok(&["image", "inspect", name])).unwrap();
        out[0].clone()
    }
}

pub(crate) fn push(registry: &Registry, name: &str, img: &Image) -> Digest {
    block_on(push_image(&client(), &reference(&registry.host, name), img)).digest
}

pub(crate) fn short(d: &Digest) -> &str {
    &d.hex()[..12]
}

pub(crate) fn layer_digest(img: &Image, i: usize) -> Digest {
    img.layers[i].digest()
}

/// Bytes the registry sent for `digest`'s blob with `status`, from its access log: one
/// line per request, `"GET /v2/…/blobs/sha256:… HTTP/1.1" STATUS BYTES …`.
pub(crate) fn blob_bytes_served(log: &str, digest: &Digest, status: &str) -> u64 {
    let needle = format!("/blobs/{digest} ");
    log.lines()
        .filter(|l| l.contains("\"GET ") && l.contains(&needle))
        .filter_map(|l| {
            let after = l.split("HTTP/1.1\" ").nth(1)?;
            let mut fields = after.split_whitespace();
            (fields.next()? == status).then_some(())?;
            fields.next()?.parse::<u64>().ok()
        })
        .sum()
}

fn manifest_requests(log: &str) -> usize {
    log.lines().filter(|l| l.contains("/manifests/")).count()
}

#[test]
fn pull_by_tag_then_again_then_by_digest() {
    let registry = registry_or_skip!(Auth::None);
    let img = random_image("linux/amd64", &[3000, 5000], 1);
    let digest = push(&registry, "app:v1", &img);
    let host = registry.host.as_str();
    let env = Env::new();

    let before = manifest_requests(&registry.log());
    let first = env.ok(&["pull", &format!("{host}/app:v1")]);
    assert!(first.starts_with("v1: Pulling from app\n"), "{first}");
    // Nothing stored under the name: no `HEAD` to ask whether it is up to date, one `GET`.
    let log = registry.log();
    assert_eq!(manifest_requests(&log) - before, 1, "{log}");
    assert!(
        !log.lines().any(|l| l.contains("HEAD /v2/app/manifests/")),
        "{log}"
    );
    for i in 0..2 {
        let id = short(&layer_digest(&img, i)).to_string();
        for line in ["Pulling fs layer", "Download complete", "Pull complete"] {
            assert!(first.contains(&format!("{id}: {line}\n")), "{first}");
        }
    }
    assert!(first.ends_with(&format!(
        "Digest: {digest}\nStatus: Downloaded newer image for {host}/app:v1\n{host}/app:v1\n"
    )));
    // Pulled, so the registry knows it by digest (Docker's `RepoDigests`).
    let doc = env.inspect(&format!("{host}/app:v1"));
    assert_eq!(
        doc["RepoDigests"],
        serde_json::json!([format!("{host}/app@{digest}")])
    );

    let before = manifest_requests(&registry.log());
    let again = env.ok(&["pull", &format!("{host}/app:v1")]);
    assert_eq!(
        again,
        format!(
            "v1: Pulling from app\nDigest: {digest}\nStatus: Image is up to date for {host}/app:v1\n{host}/app:v1\n"
        )
    );
    let log = registry.log();
    assert_eq!(manifest_requests(&log) - before, 1, "one HEAD");
    assert!(
        log.lines().any(|l| l.contains("HEAD /v2/app/manifests/")),
        "{log}"
    );

    // By digest, with every blob in the store already: up to date, without asking the
    // registry anything.
    let by_digest = format!("{host}/app@{digest}");
    let before = registry.log().len();
    let out = env.ok(&["pull", &by_digest]);
    assert!(
        out.ends_with(&format!(
            "Digest: {digest}\nStatus: Image is up to date for {by_digest}\n{by_digest}\n"
        )),
        "{out}"
    );
    assert!(!out.contains("Pull complete"), "{out}");
    let since = registry.log()[before..].to_string();
    assert!(!since.contains("/v2/"), "no request: {since}");
    let quiet = env.ok(&["pull", "-q", &format!("{host}/app:ignored@{digest}")]);
    assert_eq!(quiet, format!("{by_digest}\n"));

    let doc = env.inspect(&by_digest);
    assert_eq!(doc["RepoDigests"], serde_json::json!([by_digest]));
    assert_eq!(
        doc["RepoTags"],
        serde_json::json!([format!("{host}/app:v1")])
    );
    // The tag of the same repository names the image: one row, as in Docker.
    let images = env.ok(&["images", "--digests"]);
    assert_eq!(images.lines().count(), 2, "{images}");
    assert!(
        !images.contains("<none>") && images.contains("v1") && images.contains(&digest.to_string()),
        "{images}"
    );
    let fsck = env.cmd(&["fsck"]).output().unwrap();
    assert!(fsck.status.success());
    // Without the tag, the name by digest is a `<none>` row.
    env.ok(&["rmi", &format!("{host}/app:v1")]);
    let images = env.ok(&["images"]);
    assert_eq!(images.lines().count(), 2, "{images}");
    assert!(images.contains(&format!("{host}/app   <none>")), "{images}");
}

#[test]
fn a_shared_base_layer_already_exists() {
    let registry = registry_or_skip!(Auth::None);
    let base_layer = Layer::random(20_000, 77);
    let base = image_from_layers("linux/amd64", vec![base_layer.clone()], 70);
    let app = image_from_layers(
        "linux/amd64",
        vec![base_layer, Layer::random(9_000, 78)],
        71,
    );
    push(&registry, "base:1", &base);
    push(&registry, "app:2", &app);
    let host = registry.host.as_str();
    let env = Env::new();
    env.ok(&["pull", &format!("{host}/base:1")]);
    let before = registry.log();

    let out = env.ok(&["pull", &format!("{host}/app:2")]);
    let log = registry.log();
    let since = &log[before.len()..];
    assert_eq!(blob_bytes_served(since, &layer_digest(&app, 0), "200"), 0);
    assert_eq!(
        blob_bytes_served(since, &layer_digest(&app, 1), "200"),
        9_000
    );
    insta::with_settings!({filters => vec![(r"127\.0\.0\.1:\d+", "[REGISTRY]")]}, {
        insta::assert_snapshot!(out);
    });
}

/// One download slot: the layers are fetched largest first (the pull lasts at least as
/// long as its largest download), whatever their order in the manifest.
#[test]
fn the_largest_layers_download_first() {
    let registry = registry_or_skip!(Auth::None);
    let layers = vec![
        Layer::random(3_000, 81),
        Layer::random(60_000, 82),
        Layer::random(20_000, 83),
    ];
    let app = image_from_layers("linux/amd64", layers, 80);
    push(&registry, "sizes:1", &app);
    let env = Env::new();
    let before = registry.log().len();
    let name = format!("{}/sizes:1", registry.host);
    env.ok(&["pull", "--max-concurrent-downloads", "1", &name]);
    let since = registry.log()[before..].to_string();
    let served_at = |i: usize| {
        since
            .find(&format!("/blobs/{} ", layer_digest(&app, i)))
            .unwrap_or_else(|| panic!("layer {i} was not fetched: {since}"))
    };
    assert!(served_at(1) < served_at(2), "{since}");
    assert!(served_at(2) < served_at(0), "{since}");
}

#[test]
fn platforms_of_an_index() {
    let registry = registry_or_skip!(Auth::None);
    let amd64 = random_image("linux/amd64", &[2000], 21);
    let arm64 = random_image("linux/arm64/v8", &[2500], 22);
    let host = registry.host.as_str();
    let index = block_on(push_index(
        &client(),
        &reference(host, "multi:1"),
        &index(&[("linux/amd64", &amd64), ("linux/arm64/v8", &arm64)]),
    ));
    let name = format!("{host}/multi:1");

    let env = Env::new();
    env.ok(&["pull", "--platform", "linux/arm64", &name]);
    let doc = env.inspect(&name);
    assert_eq!(doc["Architecture"], "arm64");
    assert_eq!(doc["Descriptor"]["platform"]["architecture"], "arm64");
    let repo_digest = format!("{host}/multi@{}", arm64.manifest.digest());
    assert_eq!(doc["RepoDigests"], serde_json::json!([repo_digest]));
    // The same platform again is up to date; another platform is not.
    let again = env.ok(&["pull", "--platform", "linux/arm64", &name]);
    assert!(again.contains("Image is up to date"), "{again}");
    // So is the index by digest, for the platform pulled, without a request.
    let index_digest = index.digest.to_string();
    let by_index_digest = format!("{host}/multi@{index_digest}");
    let before = registry.log().len();
    let again = env.ok(&["pull", "--platform", "linux/arm64", &by_index_digest]);
    assert!(
        again.contains(&format!(
            "Status: Image is up to date for {by_index_digest}"
        )),
        "{again}"
    );
    assert!(!registry.log()[before..].contains("/v2/"));
    assert_eq!(env.inspect(&by_index_digest)["Architecture"], "arm64");

    let host_arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    let env = Env::new();
    env.ok(&["pull", &name]);
    assert_eq!(env.inspect(&name)["Architecture"], host_arch);

    let env = Env::new();
    env.ok(&["pull", "--all-platforms", &name]);
    let doc = env.inspect(&name);
    assert!(doc["Descriptor"]["mediaType"]
        .as_str()
        .unwrap()
        .contains("index"));
    let again = env.ok(&["pull", "--all-platforms", &name]);
    assert!(again.contains("Image is up to date"), "{again}");

    let err = env.fails(&["pull", "--platform", "linux/s390x", &name]);
    assert!(err.contains("linux/s390x"), "{err}");
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm64"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn unknown_repository_or_tag_is_a_clear_error() {
    let registry = registry_or_skip!(Auth::None);
    push(&registry, "app:v1", &random_image("linux/amd64", &[100], 3));
    let host = registry.host.as_str();
    let env = Env::new();
    let err = env.fails(&["pull", &format!("{host}/app:nope")]);
    assert!(
        err.contains("not found") && err.contains("app:nope"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    let err = env.fails(&["pull", &format!("{host}/nothing-here")]);
    assert!(err.contains("not found"), "{err}");
    let images = env.ok(&["images", "-q"]);
    assert_eq!(images, "", "a failed pull names nothing");
}

/// A `.partial` ingest file of `digest` in the store, if there is one.
fn partial(root: &std::path::Path, digest: &Digest) -> PathBuf {
    root.join(".wharf/ingest")
        .join(format!("sha256-{}.partial", digest.hex()))
}

#[test]
fn kill_9_during_a_large_layer_then_pull_again_resumes() {
    let registry = registry_or_skip!(Auth::None);
    const SIZE: usize = 40 << 20;
    let img = random_image("linux/amd64", &[SIZE], 9);
    push(&registry, "big:1", &img);
    let layer = layer_digest(&img, 0);
    let name = format!("{}/big:1", registry.host);
    let env = Env::new();
    let root = env.w.root();

    // The registry is fast: try a few times to catch the download in the middle.
    let mut interrupted_at = None;
    for _ in 0..5 {
        let mut child = env
            .w
            .command()
            .arg("--root")
            .arg(&root)
            .args(["pull", &name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let len = std::fs::metadata(partial(&root, &layer)).map_or(0, |m| m.len());
            if len >= 2 << 20 {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                interrupted_at = Some(std::fs::metadata(partial(&root, &layer)).unwrap().len());
                break;
            }
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        if interrupted_at.is_some_and(|n| n < SIZE as u64) {
            break;
        }
        interrupted_at = None;
        // Start over from an empty store for the next attempt.
        std::fs::remove_dir_all(&root).unwrap();
    }
    let Some(offset) = interrupted_at else {
        panic!("the pull always finished before it could be killed");
    };
    assert!(offset > 0 && offset < SIZE as u64);

    let before = registry.log();
    let out = env.ok(&["pull", &name]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    let since = &registry.log()[before.len()..];
    // The killed run's request may be logged late, so only the ranged (206) answers count.
    let served = blob_bytes_served(since, &layer, "206");
    assert_eq!(served, SIZE as u64 - offset, "only the rest is transferred");
    let fsck = env.cmd(&["fsck"]).output().unwrap();
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    assert!(!partial(&root, &layer).exists());
}
