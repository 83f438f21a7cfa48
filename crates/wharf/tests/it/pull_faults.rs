//! `wharf pull` through the binary against registries that misbehave in ways a real one
//! will not on request: a connection cut in the middle of a layer, corrupted layer bytes.
//! A small fake registry serves an image built in code, honouring `Range`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use wharf_spec::{Digest, RawManifest};
use wharf_testkit::fake::{FakeServer, Reply, Request};
use wharf_testkit::fixtures::{
    data, image_from_layers, index_entry, index_of, random_image, Image, KeyOrder, Layer, LayerTar,
};

use wharf_testkit::cli::s;

use crate::pull::{layer_digest, short, Env};

/// How the fake registry treats one layer.
#[derive(Clone, Copy)]
enum Fault {
    /// The first full `GET` sends half the bytes, then closes the connection.
    CutOnce,
    /// Every `GET` sends the right length with one byte flipped.
    Corrupt,
    /// Every `GET` sends 1000 junk bytes before the blob, without a `Content-Length`.
    TooLong,
    /// A full `GET` sends the first half with one byte flipped, then closes the
    /// connection; a ranged one answers 404: the pull fails, its partial file is wrong.
    CorruptHalfThenGone,
    /// As `CorruptHalfThenGone` with the right bytes: a pull that stops mid-layer.
    HalfThenGone,
    /// Every `GET` sends the first half (a ranged one nothing), then hangs: a client
    /// stays mid-layer until it is killed.
    HalfThenHang,
    /// None: a registry that works.
    None,
}

/// A registry serving `img` as `app:v1` on 127.0.0.1, with `fault` applied to layer
/// `faulty`. Ranged requests (`bytes=N-`) get the rest of the blob.
struct FakeRegistry {
    server: FakeServer,
    // Serves the fake while the binary runs.
    _runtime: tokio::runtime::Runtime,
}

impl FakeRegistry {
    fn start(img: &Image, faulty: usize, fault: Fault) -> FakeRegistry {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let manifest = img.manifest.clone();
        // Every blob but the manifest, which is served as a manifest.
        let blobs: Vec<(Digest, Vec<u8>)> = img.blobs().into_iter().skip(1).collect();
        let faulty = img.layers[faulty].digest();
        let cut = Arc::new(AtomicBool::new(false));
        let handler = move |req: &Request| -> Reply {
            let path = req.path();
            if path == "/v2/" {
                return Reply::new(200);
            }
            if path.contains("/manifests/") {
                return Reply::new(200)
                    .header("Content-Type", manifest.media_type())
                    .header("Docker-Content-Digest", manifest.digest().to_string())
                    .body(manifest.bytes().to_vec());
            }
            let Some((digest, bytes)) = blobs
                .iter()
                .find(|(d, _)| path.ends_with(&format!("/blobs/{d}")))
            else {
                return Reply::new(404);
            };
            let mut body = bytes.clone();
            let len = body.len();
            let is_faulty = *digest == faulty;
            if is_faulty && matches!(fault, Fault::Corrupt) {
                body[len / 2] ^= 0xff;
            }
            if is_faulty && matches!(fault, Fault::TooLong) {
                let mut long = vec![b'<'; 1000];
                long.extend_from_slice(&body);
                return Reply::new(200).body(long).without_length();
            }
            if is_faulty && matches!(fault, Fault::HalfThenHang) {
                let sent = if req.header("range").is_some() {
                    0
                } else {
                    len / 2
                };
                let hang = std::time::Duration::from_secs(60);
                return Reply::new(200).body(body).stall_after(sent, hang);
            }
            if is_faulty && matches!(fault, Fault::CorruptHalfThenGone | Fault::HalfThenGone) {
                if req.header("range").is_some() {
                    return Reply::new(404);
                }
                if matches!(fault, Fault::CorruptHalfThenGone) {
                    body[len / 4] ^= 0xff;
                }
                return Reply::new(200).body(body).cut_after(len / 2);
            }
            if let Some(from) = req
                .header("range")
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<usize>().ok())
            {
                return Reply::new(206)
                    .header("Content-Range", format!("bytes {from}-{}/{len}", len - 1))
                    .body(body[from..].to_vec());
            }
            let reply = Reply::new(200).body(body);
            if *digest == faulty
                && matches!(fault, Fault::CutOnce)
                && !cut.swap(true, Ordering::SeqCst)
            {
                return reply.cut_after(len / 2);
            }
            reply
        };
        let server = runtime.block_on(FakeServer::start("127.0.0.1", handler));
        FakeRegistry {
            server,
            _runtime: runtime,
        }
    }

    fn name(&self) -> String {
        format!("{}/app:v1", self.server.host())
    }

    /// The `Range` headers of the `GET`s of `digest`'s blob.
    fn ranges(&self, digest: &Digest) -> Vec<Option<String>> {
        self.server
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path().ends_with(&format!("/blobs/{digest}")))
            .map(|r| r.header("range").map(str::to_string))
            .collect()
    }
}

#[test]
fn a_connection_cut_mid_layer_resumes_with_range() {
    const SIZE: usize = 3 << 20;
    let img = random_image("linux/amd64", &[5_000, SIZE], 61);
    let registry = FakeRegistry::start(&img, 1, Fault::CutOnce);
    let env = Env::new();

    let out = env.ok(&["pull", &registry.name()]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    let layer = layer_digest(&img, 1);
    let ranges = registry.ranges(&layer);
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], None);
    assert_eq!(
        ranges[1].as_deref(),
        Some(format!("bytes={}-", SIZE / 2).as_str()),
        "the second request asks for the rest only"
    );
    assert!(env.w.blob_files().contains(&layer.hex().to_string()));
    let fsck = env.cmd(&["fsck"]).output().unwrap();
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    assert!(
        env.w.staging_debris().is_empty(),
        "{:?}",
        env.w.staging_debris()
    );
}

#[test]
fn corrupted_layer_bytes_are_refused_and_nothing_is_kept() {
    let img = random_image("linux/amd64", &[4_000, 300_000], 62);
    let registry = FakeRegistry::start(&img, 1, Fault::Corrupt);
    let env = Env::new();
    let layer = layer_digest(&img, 1);

    let (ok, stdout, stderr) = env.run(&["pull", &registry.name()], "");
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains(&format!(
            "blob `{layer}` from registry `{}` does not match its digest",
            registry.server.host()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: nothing of that layer was kept"),
        "{stderr}"
    );
    assert!(!stdout.contains(&format!("{}: Pull complete", short(&layer))));
    assert!(!env.w.blob_files().contains(&layer.hex().to_string()));
    assert_eq!(env.ok(&["images", "-q"]), "", "the image is not named");
    assert!(
        env.w.staging_debris().is_empty(),
        "{:?}",
        env.w.staging_debris()
    );
    let fsck = env.cmd(&["fsck"]).output().unwrap();
    assert!(
        fsck.status.success(),
        "{}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
}

/// A pull that left a wrong partial file: the first half of layer 1, one byte flipped.
fn with_bad_partial(img: &Image) -> Env {
    let env = Env::new();
    let bad = FakeRegistry::start(img, 1, Fault::CorruptHalfThenGone);
    env.fails(&["pull", &bad.name()]);
    assert_eq!(
        env.w.staging_debris().len(),
        1,
        "{:?}",
        env.w.staging_debris()
    );
    env
}

#[test]
fn a_resumed_layer_that_mismatches_is_fetched_again_from_byte_0() {
    const SIZE: usize = 400_000;
    let img = random_image("linux/amd64", &[3_000, SIZE], 63);
    let layer = layer_digest(&img, 1);
    let env = with_bad_partial(&img);

    let good = FakeRegistry::start(&img, 1, Fault::None);
    let out = env.ok(&["pull", &good.name()]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert_eq!(
        good.ranges(&layer),
        vec![Some(format!("bytes={}-", SIZE / 2)), None],
        "the resume from the partial, then exactly one full GET"
    );
    assert!(env.w.blob_files().contains(&layer.hex().to_string()));
    assert!(
        env.w.staging_debris().is_empty(),
        "{:?}",
        env.w.staging_debris()
    );
}

#[test]
fn a_registry_that_keeps_sending_wrong_bytes_is_still_called_corrupt() {
    const SIZE: usize = 200_000;
    let img = random_image("linux/amd64", &[3_000, SIZE], 64);
    let layer = layer_digest(&img, 1);
    let env = with_bad_partial(&img);

    let corrupt = FakeRegistry::start(&img, 1, Fault::Corrupt);
    let err = env.fails(&["pull", &corrupt.name()]);
    assert!(
        err.contains(&format!(
            "blob `{layer}` from registry `{}` does not match its digest",
            corrupt.server.host()
        )),
        "{err}"
    );
    assert_eq!(
        corrupt.ranges(&layer),
        vec![Some(format!("bytes={}-", SIZE / 2)), None],
        "one retry from byte 0, no more"
    );
    assert!(
        env.w.staging_debris().is_empty(),
        "{:?}",
        env.w.staging_debris()
    );
}

#[test]
fn a_response_longer_than_the_layer_leaves_no_partial_behind() {
    let img = random_image("linux/amd64", &[3_000, 300_000], 65);
    let layer = layer_digest(&img, 1);
    let env = Env::new();
    let long = FakeRegistry::start(&img, 1, Fault::TooLong);
    let err = env.fails(&["pull", &long.name()]);
    assert!(err.contains(&layer.to_string()), "{err}");
    assert!(
        env.w.staging_debris().is_empty(),
        "{:?}",
        env.w.staging_debris()
    );

    let good = FakeRegistry::start(&img, 1, Fault::None);
    env.ok(&["pull", &good.name()]);
    assert_eq!(
        good.ranges(&layer),
        vec![None],
        "nothing left to resume from"
    );
    assert!(env.w.blob_files().contains(&layer.hex().to_string()));
}

/// An interrupted pull leaves a resumable partial download: `fsck` reports it as expected
/// state (exit 0), `fsck --repair` keeps it (exit 0), `image prune` removes it.
#[test]
fn fsck_after_an_interrupted_pull_reports_the_resumable_download_and_exits_0() {
    const SIZE: usize = 300_000;
    let img = random_image("linux/amd64", &[SIZE], 66);
    let layer = layer_digest(&img, 0);
    let env = Env::new();
    let gone = FakeRegistry::start(&img, 0, Fault::HalfThenGone);
    env.fails(&["pull", &gone.name()]);
    assert_eq!(
        env.w.staging_debris().len(),
        1,
        "{:?}",
        env.w.staging_debris()
    );

    let out = env.w.run(&["fsck"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stderr, "");
    env.w
        .settings()
        .bind(|| insta::assert_snapshot!(out.stdout));
    let out = env.w.run(&["fsck", "--repair"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("1 resumable partial download ("),
        "{}",
        out.stdout
    );
    assert_eq!(env.w.staging_debris().len(), 1, "repair keeps it");

    env.ok(&["image", "prune", "-f"]);
    assert!(
        env.w.staging_debris().is_empty(),
        "{:?}",
        env.w.staging_debris()
    );
    let out = env.w.run(&["fsck"]);
    assert_eq!(out.code, 0);
    assert!(!out.stdout.contains("resumable"), "{}", out.stdout);

    // Nothing left to resume: the next pull starts at byte 0.
    let good = FakeRegistry::start(&img, 0, Fault::None);
    env.ok(&["pull", &good.name()]);
    assert_eq!(good.ranges(&layer), vec![None]);
}

/// A registry serving `app:v1` as `top` and every document and blob by digest.
fn serve_documents(
    top: RawManifest,
    documents: Vec<RawManifest>,
    blobs: Vec<Vec<u8>>,
) -> FakeRegistry {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let handler = move |req: &Request| -> Reply {
        let path = req.path();
        if path == "/v2/" {
            return Reply::new(200);
        }
        let document = |m: &RawManifest| {
            Reply::new(200)
                .header("Content-Type", m.media_type())
                .header("Docker-Content-Digest", m.digest().to_string())
                .body(m.bytes().to_vec())
        };
        if path.ends_with("/manifests/v1") {
            return document(&top);
        }
        if let Some(m) = documents
            .iter()
            .find(|m| path.ends_with(&format!("/manifests/{}", m.digest())))
        {
            return document(m);
        }
        match blobs
            .iter()
            .find(|b| path.ends_with(&format!("/blobs/{}", Digest::sha256_of(b))))
        {
            Some(b) => Reply::new(200).body(b.clone()),
            None => Reply::new(404),
        }
    };
    let server = runtime.block_on(FakeServer::start("127.0.0.1", handler));
    FakeRegistry {
        server,
        _runtime: runtime,
    }
}

/// An index entry for `m` with `platform`.
fn entry(m: &RawManifest, platform: &str) -> wharf_spec::Descriptor {
    index_entry(m, &wharf_spec::Platform::parse(platform).unwrap())
}

/// index → index → manifest: the pull follows the nested index to the platform's image,
/// and the store's copy inspects and unpacks.
#[test]
fn a_nested_index_is_followed_to_the_platforms_image() {
    let amd = image_from_layers(
        "linux/amd64",
        vec![Layer::plain(
            LayerTar::new()
                .file("hello", b"from the nested index")
                .finish(),
        )],
        70,
    );
    let arm = random_image("linux/arm64", &[1000], 71);
    let nested = index_of(
        vec![entry(&amd.manifest, "linux/amd64")],
        KeyOrder::Declared,
    );
    let top = index_of(
        vec![
            entry(&nested, "linux/amd64"),
            entry(&arm.manifest, "linux/arm64"),
        ],
        KeyOrder::Declared,
    );
    let mut blobs = vec![amd.config.clone(), arm.config.clone()];
    blobs.extend(amd.layers.iter().chain(&arm.layers).map(|l| l.blob.clone()));
    let registry = serve_documents(
        top,
        vec![nested.clone(), amd.manifest.clone(), arm.manifest.clone()],
        blobs,
    );
    let env = Env::new();
    let out = env.ok(&["pull", "--platform", "linux/amd64", &registry.name()]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    let doc = env.inspect(&registry.name());
    assert_eq!(doc["Architecture"], "amd64", "{doc}");
    let dir = env.w.path("rootfs");
    env.ok(&["unpack", "-q", &registry.name(), s(&dir)]);
    assert_eq!(
        std::fs::read(dir.join("hello")).unwrap(),
        b"from the nested index"
    );

    // A platform found nowhere: the error lists what the indexes really hold.
    let err = env.fails(&["pull", "--platform", "linux/s390x", &registry.name()]);
    assert!(
        err.contains(
            "has no manifest for platform `linux/s390x`; it has: `linux/arm64`, `linux/amd64`"
        ),
        "{err}"
    );
}

/// An entry that claims a platform its nested index does not hold is never listed as
/// having it.
#[test]
fn a_nested_index_without_the_platform_it_claims_is_named_by_what_it_holds() {
    let arm = random_image("linux/arm64", &[1000], 72);
    let nested = index_of(
        vec![entry(&arm.manifest, "linux/arm64")],
        KeyOrder::Declared,
    );
    let top = index_of(vec![entry(&nested, "linux/amd64")], KeyOrder::Declared);
    let registry = serve_documents(top, vec![nested, arm.manifest.clone()], vec![]);
    let env = Env::new();
    let err = env.fails(&["pull", "--platform", "linux/amd64", &registry.name()]);
    assert!(
        err.contains("has no manifest for platform `linux/amd64`; it has: `linux/arm64`"),
        "{err}"
    );
}

/// Nesting is followed only so deep: the error names the index where it stopped.
#[test]
fn indexes_nested_too_deep_are_named() {
    let amd = random_image("linux/amd64", &[1000], 73);
    let mut documents = vec![amd.manifest.clone()];
    let mut inner = index_of(
        vec![entry(&amd.manifest, "linux/amd64")],
        KeyOrder::Declared,
    );
    documents.push(inner.clone());
    let mut chain = vec![inner.digest().clone()];
    for _ in 0..4 {
        inner = index_of(vec![entry(&inner, "linux/amd64")], KeyOrder::Declared);
        documents.push(inner.clone());
        chain.push(inner.digest().clone());
    }
    let registry = serve_documents(inner, documents, vec![]);
    let env = Env::new();
    let err = env.fails(&["pull", "--platform", "linux/amd64", &registry.name()]);
    // Five indexes: the top one and three below it are read, the fifth is not.
    assert!(
        err.contains(&format!(
            "index `{}` is nested more than 4 indexes deep",
            chain[0]
        )),
        "{err}"
    );
}

/// `kill -9` in the middle of a streamed unpack (`unpack docker://`, a layer half
/// downloaded): nothing appears at DIR, and the rerun resumes the layer from its partial,
/// gives the tree the store's own unpack gives, and leaves a clean store with no staging
/// directory beside DIR.
#[test]
fn a_streamed_unpack_killed_mid_layer_finishes_on_rerun() {
    const SIZE: usize = 2 << 20;
    // Real tars: a base, one large file that does not compress, a small change on top.
    let file = |path: &str, len: usize, seed: u64| {
        Layer::gzip(LayerTar::new().file(path, &data(len, seed)).finish())
    };
    let layers = vec![
        file("etc/base", 20_000, 1),
        file("usr/big", SIZE, 2),
        file("etc/top", 30_000, 3),
    ];
    let img = image_from_layers("linux/amd64", layers, 67);
    let layer = layer_digest(&img, 1);
    let env = Env::new();
    let hung = FakeRegistry::start(&img, 1, Fault::HalfThenHang);
    let dir = env.w.path("rootfs");
    let mut child = env
        .w
        .command()
        .arg("--root")
        .arg(env.w.root())
        .args(["unpack", &format!("docker://{}", hung.name()), s(&dir)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once a good part of the half layer has reached the store's partial file
    // (the ingest writes through a buffer).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let partial_size = || -> u64 {
        let ingest = env.w.root().join(".wharf/ingest");
        std::fs::read_dir(ingest)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().ends_with(".lock"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0)
    };
    while partial_size() < (SIZE / 4) as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the layer never reached the store: {} bytes, {:?}",
            partial_size(),
            env.w.staging_debris()
        );
        assert!(child.try_wait().unwrap().is_none(), "unpack ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!dir.exists(), "nothing at DIR after the kill");

    let good = FakeRegistry::start(&img, 1, Fault::None);
    env.ok(&["unpack", &format!("docker://{}", good.name()), s(&dir)]);
    let ranges = good.ranges(&layer);
    assert_eq!(
        ranges.len(),
        1,
        "the layer is fetched once more, from the partial: {ranges:?}"
    );
    let from: u64 = ranges[0]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a ranged GET, not {ranges:?}"));
    assert!(from >= (SIZE / 4) as u64, "resumed at {from}");

    let again = env.w.path("again");
    env.ok(&["unpack", &good.name(), s(&again)]);
    assert_eq!(
        wharf_testkit::tree::describe(&dir),
        wharf_testkit::tree::describe(&again)
    );
    assert!(env.ok(&["fsck"]).ends_with("the store is clean\n"));
    let staging: Vec<_> = std::fs::read_dir(env.w.path(""))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("wharf-unpack"))
        .collect();
    assert!(staging.is_empty(), "no staging left: {staging:?}");
}
