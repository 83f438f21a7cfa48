//! `wharf append`: layers from directories and tar files on top of an image or `scratch`,
//! read back by skopeo and umoci (the store is an OCI layout), run by the Docker Engine,
//! reproducible under `SOURCE_DATE_EPOCH`, and bad input refused with nothing stored.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

pub const EPOCH: &str = "1700000000";
pub const EPOCH_TIME: &str = "2023-11-14T22:13:20Z";

/// Runs wharf with `SOURCE_DATE_EPOCH` set; asserts success and returns stdout.
pub fn ok_at_epoch(w: &Wharf, args: &[&str]) -> String {
    let out = w
        .cmd(args)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "wharf {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn peer(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `wharf inspect REF`'s one document.
pub fn inspect(w: &Wharf, reference: &str) -> Value {
    let mut docs: Value = serde_json::from_str(&w.ok(&["inspect", reference])).unwrap();
    docs[0].take()
}

/// Loads the fixture image (two gzip layers, Env and Cmd) as `name`.
pub fn load_base(w: &Wharf, name: &str) -> Image {
    let img = image_on(&base_layer(), "base");
    let archive = w.write(&format!("{name}.tar"), &docker_archive(&[(&img, &[name])]));
    w.ok(&["load", "-i", s(&archive)]);
    img
}

/// A tree with a setuid binary, a private file, a symlink, a hard link and an empty dir.
fn app_tree(root: &Path, marker: &str) {
    fs::create_dir_all(root.join("app/bin")).unwrap();
    fs::create_dir_all(root.join("app/empty")).unwrap();
    fs::write(
        root.join("app/bin/run"),
        format!("#!/bin/sh\necho {marker}\n"),
    )
    .unwrap();
    fs::set_permissions(root.join("app/bin/run"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::hard_link(root.join("app/bin/run"), root.join("app/bin/run-again")).unwrap();
    std::os::unix::fs::symlink("bin/run", root.join("app/start")).unwrap();
    fs::write(root.join("app/secret"), "s3cret\n").unwrap();
    fs::set_permissions(root.join("app/secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(root.join("marker"), format!("{marker}\n")).unwrap();
}

/// The manifest of an inspected image, as stored.
pub fn manifest_of(w: &Wharf, doc: &Value) -> Value {
    let digest = doc["Descriptor"]["digest"].as_str().unwrap();
    let path = w
        .root()
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// The config blob of an inspected image, as stored.
pub fn config_of(w: &Wharf, doc: &Value) -> Value {
    let id = doc["Id"].as_str().unwrap().trim_start_matches("sha256:");
    serde_json::from_slice(&fs::read(w.root().join("blobs/sha256").join(id)).unwrap()).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn append_adds_a_layer_with_history_and_is_reproducible() {
    let w = Wharf::new();
    let base = load_base(&w, "base:1");
    let input = w.path("input");
    app_tree(&input, "one");

    let id = ok_at_epoch(&w, &["append", "base:1", s(&input), "-t", "app:1"]);
    let doc = inspect(&w, "app:1");
    assert_eq!(id, format!("{}\n", doc["Id"].as_str().unwrap()));
    let layers = strings(&doc["RootFS"]["Layers"]);
    assert_eq!(layers.len(), 3);
    assert_eq!(&layers[..2], base.diff_ids().as_slice());
    assert_eq!(doc["Created"], EPOCH_TIME);
    // The base's runtime config is carried over.
    assert_eq!(doc["Config"]["Cmd"], serde_json::json!(["base"]));

    let config = config_of(&w, &doc);
    let last = config["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        last,
        serde_json::json!({"created": EPOCH_TIME, "created_by": "wharf append input"})
    );

    // Same input, same epoch: same image, in another store too.
    let w2 = Wharf::new();
    load_base(&w2, "base:1");
    let again = ok_at_epoch(&w2, &["append", "base:1", s(&input), "-t", "app:1"]);
    assert_eq!(again, id);
    assert_eq!(
        inspect(&w2, "app:1")["Descriptor"],
        inspect(&w, "app:1")["Descriptor"]
    );
    // One byte of content changed: another layer, another image.
    fs::write(input.join("marker"), "two\n").unwrap();
    let other = ok_at_epoch(&w2, &["append", "base:1", s(&input), "-t", "app:2"]);
    assert_ne!(other, id);
    assert!(w.ok(&["fsck"]).contains("clean"));
    assert!(w2.ok(&["fsck"]).contains("clean"));
}

#[test]
fn skopeo_and_umoci_read_an_appended_image() {
    if !have_tool("skopeo") || !have_tool("umoci") {
        return;
    }
    let w = Wharf::new();
    load_base(&w, "base:1");
    let input = w.path("input");
    app_tree(&input, "umoci");
    ok_at_epoch(
        &w,
        &[
            "append",
            "base:1",
            s(&input),
            "--owner",
            "1000:1001",
            "-t",
            "app:1",
        ],
    );
    let root = w.root();
    let doc: Value = serde_json::from_str(&peer(
        "skopeo",
        &[
            "--insecure-policy",
            "inspect",
            &format!("oci:{}:docker.io/library/app:1", s(&root)),
        ],
    ))
    .unwrap();
    assert_eq!(doc["Layers"].as_array().unwrap().len(), 3);
    assert_eq!(doc["Created"], EPOCH_TIME);

    let bundle = w.path("bundle");
    peer(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:docker.io/library/app:1", s(&root)),
            s(&bundle),
        ],
    );
    let rootfs = bundle.join("rootfs");
    // The base's files and the new layer's, as built.
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/os-release")).unwrap(),
        "ID=test\n"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("marker")).unwrap(),
        "umoci\n"
    );
    let run = fs::symlink_metadata(rootfs.join("app/bin/run")).unwrap();
    assert_eq!(run.mode() & 0o7777, 0o4755);
    assert_eq!((run.uid(), run.gid()), (1000, 1001));
    let again = fs::symlink_metadata(rootfs.join("app/bin/run-again")).unwrap();
    assert_eq!(again.ino(), run.ino(), "a hard link stays a hard link");
    assert_eq!(
        fs::symlink_metadata(rootfs.join("app/secret"))
            .unwrap()
            .mode()
            & 0o7777,
        0o600
    );
    assert_eq!(
        fs::read_link(rootfs.join("app/start")).unwrap(),
        Path::new("bin/run")
    );
    assert!(rootfs.join("app/empty").is_dir());
}

#[test]
fn scratch_zstd_and_tar_files() {
    let w = Wharf::new();
    let input = w.path("input");
    app_tree(&input, "zstd");
    let tarball = w.write("extra.tar", &tar_of(&[("extra/file", b"from a tar")]));
    ok_at_epoch(
        &w,
        &[
            "append",
            "scratch",
            s(&input),
            s(&tarball),
            "--platform",
            "linux/arm64",
            "--compression",
            "zstd",
            "-t",
            "fromscratch:1",
        ],
    );
    let doc = inspect(&w, "fromscratch:1");
    assert_eq!(doc["Architecture"], "arm64");
    assert_eq!(doc["Os"], "linux");
    assert_eq!(doc["Created"], EPOCH_TIME);
    let layers = strings(&doc["RootFS"]["Layers"]);
    assert_eq!(layers.len(), 2);
    // A tar file's entries are the layer's, byte for byte.
    assert_eq!(
        layers[1],
        wharf_spec::Digest::sha256_of(&tar_of(&[("extra/file", b"from a tar")])).to_string()
    );
    let manifest = manifest_of(&w, &doc);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
    }
    assert!(w.ok(&["fsck"]).contains("clean"));
}

#[test]
fn bad_input_is_refused_and_nothing_is_stored() {
    let w = Wharf::new();
    load_base(&w, "base:1");
    let input = w.path("input");
    app_tree(&input, "bad");
    let not_tar = w.write("notes.txt", b"just some words, not a tar archive");
    let before = w.state();
    let missing = w.path("missing");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "missing path",
            vec!["append", "base:1", s(&missing), "-t", "x:1"],
        ),
        (
            "unknown base",
            vec!["append", "nosuch:1", s(&input), "-t", "x:1"],
        ),
        (
            "not a tar",
            vec!["append", "base:1", s(&input), s(&not_tar), "-t", "x:1"],
        ),
        (
            "bad owner",
            vec![
                "append",
                "base:1",
                s(&input),
                "--owner",
                "root",
                "-t",
                "x:1",
            ],
        ),
        (
            "digest as name",
            vec![
                "append",
                "base:1",
                s(&input),
                "-t",
                "x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ],
        ),
        (
            "bad platform",
            vec![
                "append",
                "scratch",
                s(&input),
                "--platform",
                "linux/",
                "-t",
                "x:1",
            ],
        ),
    ];
    let report = refused_and_nothing_stored(&w, &before, &cases);
    w.settings().bind(|| insta::assert_snapshot!(report));
}

/// Runs each `(name, args)` case: it must fail with nothing on stdout and leave the store
/// as `before` with no staging debris. Returns every case's stderr, for a snapshot.
pub fn refused_and_nothing_stored(
    w: &Wharf,
    before: &StoreState,
    cases: &[(&str, Vec<&str>)],
) -> String {
    let mut report = String::new();
    for (name, args) in cases {
        let out = w.run(args);
        assert_ne!(out.code, 0, "{name}: {}", out.stdout);
        assert!(out.stdout.is_empty(), "{name}: {}", out.stdout);
        report += &format!("--- {name}\n{}", out.stderr);
        assert_eq!(w.state(), *before, "{name}");
        assert!(
            w.staging_debris().is_empty(),
            "{name}: {:?}",
            w.staging_debris()
        );
    }
    report
}

/// A static busybox (Debian's busybox-static) to build runnable images from; None (the
/// test skips) when it is missing, unless interop tests are required.
pub fn static_busybox() -> Option<&'static Path> {
    let busybox = Path::new("/bin/busybox");
    if busybox.exists() {
        return Some(busybox);
    }
    if std::env::var("WHARF_REQUIRE_INTEROP").is_ok_and(|v| v == "1") {
        panic!("`/bin/busybox` (Debian's busybox-static) is required (WHARF_REQUIRE_INTEROP=1)");
    }
    eprintln!("skipping: no static `/bin/busybox` to build a runnable image from");
    None
}

/// The static busybox when a Docker Engine answers too; None: the test skips.
pub fn docker_and_busybox() -> Option<&'static Path> {
    if !have_tool("docker") || !have_docker() {
        return None;
    }
    static_busybox()
}

/// Builds `name` with wharf alone: a busybox root appended on `scratch`, a marker file
/// appended on top, the entrypoint set with `mutate` to print the marker. Runs `wharf`
/// through `wharf` (any harness's command builder).
pub fn busybox_marker_image(
    dir: &Path,
    busybox: &Path,
    marker: &str,
    name: &str,
    wharf: &dyn Fn(&[&str]) -> String,
) {
    let rootfs = dir.join("busybox-root");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    let marker_dir = dir.join("marker");
    fs::create_dir_all(&marker_dir).unwrap();
    fs::write(marker_dir.join("marker"), marker).unwrap();
    wharf(&[
        "append",
        "scratch",
        s(&rootfs),
        "--platform",
        "linux/amd64",
        "-t",
        "bb:1",
    ]);
    wharf(&["append", "bb:1", s(&marker_dir), "-t", "marked:1"]);
    wharf(&[
        "mutate",
        "marked:1",
        "--entrypoint",
        r#"["/bin/busybox","cat"]"#,
        "--cmd",
        r#"["/marker"]"#,
        "-t",
        name,
    ]);
}

/// Docker runs what `append` made, loaded from `wharf save` in both formats.
#[test]
fn docker_runs_an_appended_image() {
    let Some(busybox) = docker_and_busybox() else {
        return;
    };
    let w = Wharf::new();
    let pid = std::process::id();
    let marker = format!("appended by wharf {pid}\n");
    let name = format!("wharf-it-append-{pid}:1");
    let _cleanup = RemoveDockerImage(name.clone());
    busybox_marker_image(&w.path("bb"), busybox, &marker, &name, &|args| w.ok(args));
    for format in ["docker", "oci"] {
        let archive = w.path(&format!("for-docker.{format}.tar"));
        w.ok(&["save", "--format", format, "-o", s(&archive), &name]);
        let _ = Command::new("docker").args(["rmi", "-f", &name]).output();
        peer("docker", &["load", "-i", s(&archive)]);
        let out = peer("docker", &["run", "--rm", "--network", "none", &name]);
        assert_eq!(out, marker, "{format}");
    }
}

/// The same image pushed by wharf to a real distribution registry, pulled by
/// `docker pull` and run.
#[test]
fn docker_pulls_and_runs_an_appended_image_wharf_pushed() {
    let registry = wharf_testkit::registry_or_skip!(wharf_testkit::registry::Auth::None);
    let Some(busybox) = docker_and_busybox() else {
        return;
    };
    let w = Wharf::new();
    let pid = std::process::id();
    let marker = format!("pushed by wharf {pid}\n");
    let remote = format!("{}/it-append/marker:{pid}", registry.host);
    let _cleanup = RemoveDockerImage(remote.clone());
    busybox_marker_image(&w.path("bb"), busybox, &marker, "runnable:1", &|args| {
        w.ok(args)
    });
    let pushed = w.ok(&["push", "runnable:1", &remote]);
    assert!(
        pushed.contains(&format!("{pid}: digest: sha256:")),
        "{pushed}"
    );
    let pulled = peer("docker", &["pull", &remote]);
    let digest = pushed
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap();
    assert!(pulled.contains(digest), "{pulled}");
    let out = peer("docker", &["run", "--rm", "--network", "none", &remote]);
    assert_eq!(out, marker);
}

pub struct RemoveDockerImage(pub String);

impl Drop for RemoveDockerImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

/// docker-archives through the copy engine with Docker at both ends: an image copied
/// from a registry straight into a docker-archive (layers decompressed on the way) is
/// what `docker load` runs, and what `docker save` writes (plain, or gzipped as people
/// ship it) copies back to a registry with its layers compressed, for `docker pull`.
#[test]
fn docker_runs_images_copied_through_docker_archives() {
    let registry = wharf_testkit::registry_or_skip!(wharf_testkit::registry::Auth::None);
    let Some(busybox) = docker_and_busybox() else {
        return;
    };
    let w = Wharf::new();
    let pid = std::process::id();
    let marker = format!("copied by wharf {pid}\n");
    let local = format!("wharf-it-copied-{pid}:1");
    let pushed = format!("{}/it-copy/marker:{pid}", registry.host);
    let back = format!("{}/it-copy/back:{pid}", registry.host);
    let (_a, _b) = (
        RemoveDockerImage(local.clone()),
        RemoveDockerImage(back.clone()),
    );
    busybox_marker_image(&w.path("bb"), busybox, &marker, "runnable:1", &|args| {
        w.ok(args)
    });
    w.ok(&["push", "runnable:1", &pushed]);

    let archive = w.path("from-registry.tar");
    let to_archive = format!("docker-archive:{}:{local}", s(&archive));
    w.ok(&["copy", &format!("docker://{pushed}"), &to_archive]);
    peer("docker", &["load", "-i", s(&archive)]);
    let out = peer("docker", &["run", "--rm", "--network", "none", &local]);
    assert_eq!(out, marker);

    let saved = w.path("docker-saved.tar");
    peer("docker", &["save", "-o", s(&saved), &local]);
    let gzipped = w.path("docker-saved.tar.gz");
    fs::write(&gzipped, gzip(&fs::read(&saved).unwrap())).unwrap();
    for (archive, tag) in [(&saved, "plain"), (&gzipped, "gzipped")] {
        let destination = format!("{back}-{tag}");
        let _c = RemoveDockerImage(destination.clone());
        w.ok(&[
            "copy",
            &format!("docker-archive:{}:{local}", s(archive)),
            &format!("docker://{destination}"),
        ]);
        peer("docker", &["pull", &destination]);
        let out = peer(
            "docker",
            &["run", "--rm", "--network", "none", &destination],
        );
        assert_eq!(out, marker, "{tag}");
        let manifest: Value =
            serde_json::from_slice(&crate::push::skopeo_raw(&destination)).unwrap();
        for layer in manifest["layers"].as_array().unwrap() {
            assert_eq!(
                layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
                "layers go out compressed: {manifest}"
            );
        }
    }
}
