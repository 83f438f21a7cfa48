//! `wharf push` against a real CNCF distribution registry on 127.0.0.1, read back with
//! skopeo (and the Docker Engine when one answers).

use std::path::{Path, PathBuf};

use wharf_spec::Digest;
use wharf_testkit::proxy::FaultProxy;
use wharf_testkit::registry::Auth;
use wharf_testkit::registry_or_skip;

use crate::pull::Env;
use wharf_testkit::cli::{have_docker, have_tool, s};
use wharf_testkit::fixtures::{
    image, layer, multi_platform, named_index, write_image_layout, write_oci_layout, Image, Index,
    Layer,
};

/// A layer of incompressible bytes: over the client's 1 MiB "send whole" limit, so it is
/// streamed from the store file.
pub(crate) fn big_layer(len: usize, seed: u64) -> Layer {
    layer(&[("data.bin", &wharf_testkit::fixtures::data(len, seed))])
}

pub(crate) fn app_image(seed: u64) -> Image {
    image(
        &format!("app{seed}"),
        vec![
            big_layer(1_500_000, seed),
            layer(&[("etc/app", format!("seed {seed}").as_bytes())]),
        ],
    )
}

/// Loads `img` into the env's store as `name` (`NAME:TAG`).
pub(crate) fn load(env: &Env, img: &Image, name: &str) {
    let (repo, tag) = name.rsplit_once(':').unwrap();
    let dir = env
        .w
        .path(&format!("layout-{}", img.manifest.digest().hex()));
    write_image_layout(&dir, img, tag);
    env.ok(&["load", "-i", s(&dir), "-t", repo]);
}

/// The multi-platform fixture as an OCI layout tagged `1`.
pub(crate) fn multi_layout(env: &Env) -> (Index, PathBuf) {
    let idx = multi_platform();
    let dir = env.w.path("multi");
    let index = named_index(idx.descriptor(), "1");
    write_oci_layout(&dir, &idx.blobs(), &index);
    (idx, dir)
}

/// The last line of a push (or a copy to a registry) names `img` under `tag`.
pub(crate) fn assert_pushed(out: &str, tag: &str, img: &Image) {
    let last = format!(
        "{tag}: digest: {} size: {}\n",
        img.manifest.digest(),
        img.manifest.bytes().len()
    );
    assert!(out.ends_with(&last), "{out}");
}

/// `skopeo inspect --raw`: the manifest bytes as the registry serves them.
pub(crate) fn skopeo_raw(reference: &str) -> Vec<u8> {
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `skopeo copy docker://REF oci:DIR:x`: every blob fetched and verified by skopeo.
pub(crate) fn skopeo_fetch(reference: &str, dir: &Path) {
    let out = std::process::Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:x", dir.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Requests in the access log that carry blob bytes (`PATCH`, or `PUT` on an upload).
pub(crate) fn upload_requests(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("/blobs/uploads/"))
        .filter(|l| l.contains("\"PATCH ") || l.contains("\"PUT "))
        .count()
}

fn short(d: &Digest) -> String {
    d.hex()[..12].to_string()
}

#[test]
fn push_reads_back_with_skopeo_then_exists_then_mounts() {
    let registry = registry_or_skip!(Auth::None);
    if !have_tool("skopeo") {
        return;
    }
    let host = registry.host.as_str();
    let env = Env::new();
    let img = app_image(1);
    load(&env, &img, "app:v1");

    let out = env.ok(&[
        "push",
        "--max-concurrent-uploads",
        "1",
        "app:v1",
        &format!("{host}/team/app:v1"),
    ]);
    assert!(
        out.starts_with(&format!(
            "The push refers to repository [{host}/team/app]\n"
        )),
        "{out}"
    );
    for l in &img.layers {
        assert!(
            out.contains(&format!("{}: Pushed\n", short(&l.digest()))),
            "{out}"
        );
    }
    assert!(
        out.ends_with(&format!(
            "v1: digest: {} size: {}\n",
            img.manifest.digest(),
            img.manifest.bytes().len()
        )),
        "{out}"
    );
    insta::with_settings!({filters => vec![
        (r"127\.0\.0\.1:\d+", "[REGISTRY]"),
        (r"sha256:[0-9a-f]{64}", "[DIGEST]"),
        (r"\b[0-9a-f]{12}\b", "[LAYER]"),
    ]}, {
        insta::assert_snapshot!(out);
    });

    // skopeo reads the same manifest bytes and verifies every blob.
    let raw = skopeo_raw(&format!("{host}/team/app:v1"));
    assert_eq!(&Digest::sha256_of(&raw), img.manifest.digest());
    skopeo_fetch(&format!("{host}/team/app:v1"), &env.w.path("skopeo-oci"));

    // Again: every layer exists, and no byte of a blob is uploaded.
    let before = registry.log();
    let again = env.ok(&["push", "app:v1", &format!("{host}/team/app:v1")]);
    for l in &img.layers {
        assert!(
            again.contains(&format!("{}: Layer already exists\n", short(&l.digest()))),
            "{again}"
        );
    }
    assert!(!again.contains("Pushed"), "{again}");
    let since = registry.log()[before.len()..].to_string();
    assert_eq!(upload_requests(&since), 0, "{since}");

    // Another repository of the same registry: mounted, not uploaded.
    let before = registry.log();
    let other = env.ok(&["push", "app:v1", &format!("{host}/other:v2")]);
    for l in &img.layers {
        assert!(
            other.contains(&format!("{}: Mounted from team/app\n", short(&l.digest()))),
            "{other}"
        );
    }
    assert!(other.ends_with(&format!(
        "v2: digest: {} size: {}\n",
        img.manifest.digest(),
        img.manifest.bytes().len()
    )));
    let since = registry.log()[before.len()..].to_string();
    assert_eq!(upload_requests(&since), 0, "{since}");
    assert!(since.contains("mount="), "{since}");
    assert_eq!(
        &Digest::sha256_of(&skopeo_raw(&format!("{host}/other:v2"))),
        img.manifest.digest()
    );
    assert!(env.ok(&["fsck"]).contains("clean"));
}

#[test]
fn a_pull_teaches_where_blobs_are_so_a_push_mounts() {
    push_after_pull_mounts(2, None);
}

/// A stale blob-info record (the blob's last known place is gone) costs one declined
/// mount; the next place remembered is tried, and the layer is still mounted.
#[test]
fn a_declined_mount_tries_the_next_known_repository() {
    push_after_pull_mounts(3, Some("gone/away"));
}

/// Pushes an image to `upstream`, pulls it into a fresh store (which records where its
/// blobs are), optionally records `stale` as the most recent place of every layer, then
/// pushes it to another repository: every layer is mounted from `upstream`, nothing is
/// uploaded, and a `stale` repository was asked first.
fn push_after_pull_mounts(seed: u64, stale: Option<&str>) {
    let registry = registry_or_skip!(Auth::None);
    let host = registry.host.as_str();
    let img = app_image(seed);
    let first = Env::new();
    load(&first, &img, "src:1");
    first.ok(&["push", "src:1", &format!("{host}/upstream:1")]);

    let env = Env::new();
    env.ok(&["pull", &format!("{host}/upstream:1")]);
    if let Some(stale) = stale {
        let info_path = env.w.root().join(".wharf/blob-info.json");
        let mut info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&info_path).unwrap()).unwrap();
        for l in &img.layers {
            let places = info["blobs"][l.digest().to_string()]
                .as_array_mut()
                .unwrap();
            places.insert(
                0,
                serde_json::json!({"registry": host, "repository": stale, "seen": u32::MAX}),
            );
        }
        std::fs::write(&info_path, serde_json::to_vec(&info).unwrap()).unwrap();
    }

    let before = registry.log();
    let out = env.ok(&[
        "push",
        &format!("{host}/upstream:1"),
        &format!("{host}/mine:1"),
    ]);
    for l in &img.layers {
        assert!(
            out.contains(&format!("{}: Mounted from upstream\n", short(&l.digest()))),
            "{out}"
        );
    }
    let since = registry.log()[before.len()..].to_string();
    if let Some(stale) = stale {
        let encoded = stale.replace('/', "%2F");
        assert!(
            since.contains(&format!("from={encoded}")) || since.contains(&format!("from={stale}")),
            "{since}"
        );
    }
    assert_eq!(upload_requests(&since), 0, "{since}");
}

#[test]
fn a_connection_dropped_mid_upload_resumes_and_completes() {
    let registry = registry_or_skip!(Auth::None);
    let proxy = FaultProxy::start(&registry.host, Some(700_000));
    let env = Env::new();
    let img = app_image(3);
    load(&env, &img, "app:v1");
    let out = env
        .cmd(&["push", "app:v1", &format!("{}/app:v1", proxy.host)])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(proxy.cuts(), 1, "the proxy cut one connection");
    assert!(stderr.contains("continuing from byte"), "{stderr}");
    eprintln!("{stderr}");
    assert!(
        stdout.contains(&format!("{}: Pushed\n", short(&img.layers[0].digest()))),
        "{stdout}"
    );
    // The registry has the image, every blob intact: a fresh pull verifies each one.
    let check = Env::new();
    check.ok(&["pull", &format!("{}/app:v1", registry.host)]);
    assert!(check.ok(&["fsck"]).contains("clean"));
    assert_eq!(
        check.inspect(&format!("{}/app:v1", registry.host))["Id"],
        serde_json::json!(img.id())
    );
}

#[test]
fn chunked_uploads_land_byte_identical() {
    let registry = registry_or_skip!(Auth::None);
    let host = registry.host.as_str();
    let env = Env::new();
    let img = app_image(4);
    load(&env, &img, "app:v1");
    env.ok(&[
        "push",
        "--chunk-size",
        "262144",
        "app:v1",
        &format!("{host}/chunked:v1"),
    ]);
    let log = registry.log();
    let patches = log.lines().filter(|l| l.contains("\"PATCH ")).count();
    assert!(patches >= 5, "1.5 MB in 256 KiB chunks: {patches} PATCHes");
    let check = Env::new();
    check.ok(&["pull", &format!("{host}/chunked:v1")]);
    assert!(check.ok(&["fsck"]).contains("clean"));
}

#[test]
fn all_platforms_pushes_the_index_children_first() {
    let registry = registry_or_skip!(Auth::None);
    if !have_tool("skopeo") {
        return;
    }
    let host = registry.host.as_str();
    let env = Env::new();
    let (idx, dir) = multi_layout(&env);
    env.ok(&["load", "-i", s(&dir), "-t", "multi"]);
    let out = env.ok(&[
        "push",
        "--all-platforms",
        "multi:1",
        &format!("{host}/multi:1"),
    ]);
    assert!(
        out.ends_with(&format!(
            "1: digest: {} size: {}\n",
            idx.digest(),
            idx.manifest.bytes().len()
        )),
        "{out}"
    );
    assert_eq!(
        Digest::sha256_of(&skopeo_raw(&format!("{host}/multi:1"))),
        idx.digest()
    );
    // Each platform's manifest is there by digest.
    for (img, _) in &idx.images {
        let raw = skopeo_raw(&format!("{host}/multi@{}", img.manifest.digest()));
        assert_eq!(raw, img.manifest.bytes());
    }
    // Without the flag only the host's platform goes, under the tag.
    let single = env.ok(&[
        "push",
        "--platform",
        "linux/arm64",
        "multi:1",
        &format!("{host}/single:1"),
    ]);
    assert_pushed(&single, "1", &idx.images[1].0);
}

#[test]
fn bad_destinations_are_clear_errors() {
    let env = Env::new();
    let err = env.fails(&["push", "nope:1", "127.0.0.1:1/x:1"]);
    assert!(
        err.contains("No such image") && err.contains("nope:1"),
        "{err}"
    );
    let img = app_image(5);
    load(&env, &img, "app:v1");
    let err = env.fails(&["push", "app:v1", "Bad Name"]);
    assert!(err.contains("invalid destination `Bad Name`"), "{err}");
    let err = env.fails(&[
        "push",
        "app:v1",
        &format!("{}/x:1", wharf_testkit::DEAD_HOST),
    ]);
    assert!(err.contains("cannot push `app:v1`"), "{err}");
}

#[test]
fn docker_pulls_what_wharf_pushed_and_wharf_pulls_what_docker_pushed() {
    let registry = registry_or_skip!(Auth::None);
    if !have_docker() {
        return;
    }
    let host = registry.host.as_str();
    let env = Env::new();
    let img = app_image(6);
    load(&env, &img, "app:v1");
    env.ok(&["push", "app:v1", &format!("{host}/fromwharf:v1")]);
    let docker = |args: &[&str]| {
        let out = std::process::Command::new("docker")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let pulled = docker(&["pull", &format!("{host}/fromwharf:v1")]);
    assert!(
        pulled.contains(&img.manifest.digest().to_string()),
        "{pulled}"
    );
    docker(&[
        "tag",
        &format!("{host}/fromwharf:v1"),
        &format!("{host}/fromdocker:v1"),
    ]);
    docker(&["push", &format!("{host}/fromdocker:v1")]);
    let check = Env::new();
    check.ok(&["pull", &format!("{host}/fromdocker:v1")]);
    assert_eq!(
        check.inspect(&format!("{host}/fromdocker:v1"))["Id"],
        serde_json::json!(img.id())
    );
    let _ = std::process::Command::new("docker")
        .args([
            "rmi",
            &format!("{host}/fromwharf:v1"),
            &format!("{host}/fromdocker:v1"),
        ])
        .output();
}

/// `wharf serve` on a free port, killed on drop.
struct WharfRegistry(std::process::Child, String);

impl WharfRegistry {
    fn start(root: &Path) -> WharfRegistry {
        let port = wharf_testkit::registry::free_port();
        let host = format!("127.0.0.1:{port}");
        let child = wharf_testkit::cli::isolated(root)
            .args(["serve", "--addr", &host, "--root", s(root)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "wharf serve did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        WharfRegistry(child, host)
    }
}

impl Drop for WharfRegistry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Against a registry that keeps the chunks it acknowledged (wharf's own), a chunked
/// upload cut off mid-chunk continues from the registry's offset, not from zero.
#[test]
fn a_chunked_upload_cut_off_resumes_from_the_registry_offset() {
    let env = Env::new();
    let server = WharfRegistry::start(&env.w.path("registry"));
    // Past the first chunk: wharf serve asks for chunks of at least 1 MiB
    // (`OCI-Chunk-Min-Length`), which the client honours over `--chunk-size`.
    let proxy = FaultProxy::start(&server.1, Some(1_300_000));
    let img = app_image(7);
    load(&env, &img, "app:v1");
    let out = env
        .cmd(&[
            "push",
            "--chunk-size",
            "262144",
            "app:v1",
            &format!("{}/app:v1", proxy.host),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(proxy.cuts(), 1);
    let offset: u64 = stderr
        .split("continuing from byte ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no resume reported: {stderr}"));
    assert!(
        offset > 0 && offset.is_multiple_of(262_144),
        "resumed at {offset}: {stderr}"
    );
    let check = Env::new();
    check.ok(&["pull", &format!("{}/app:v1", server.1)]);
    assert!(check.ok(&["fsck"]).contains("clean"));
}
