//! `wharf commit BASE DIR`: the changes from BASE's filesystem to an edited unpack of it
//! become one layer (whiteouts for deletions, nothing unchanged), which unpacks back to
//! DIR with wharf and umoci, reads with skopeo, is reproducible under
//! `SOURCE_DATE_EPOCH`, and bad input is refused with nothing stored.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use wharf_testkit::tree::describe;

use crate::append::{config_of, inspect, manifest_of, ok_at_epoch, peer, EPOCH_TIME};
use crate::unpack::umoci_rootfs;
use wharf_testkit::cli::*;

/// The base image's input: a few directories, files and a symlink.
fn base_tree(root: &Path) {
    for dir in ["etc", "opt/tool/lib", "usr/bin", "var/log"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::write(root.join("etc/keep"), "unchanged\n").unwrap();
    fs::write(root.join("etc/change"), "old\n").unwrap();
    fs::write(root.join("etc/gone"), "deleted soon\n").unwrap();
    fs::write(root.join("etc/chmod"), "mode changes\n").unwrap();
    fs::set_permissions(root.join("etc/chmod"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(root.join("opt/tool/lib/a.so"), "a library\n").unwrap();
    fs::write(root.join("usr/bin/tool"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(root.join("usr/bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(root.join("var/log/old.log"), "log\n").unwrap();
    std::os::unix::fs::symlink("../usr/bin/tool", root.join("etc/tool")).unwrap();
}

/// `base:1` (the base tree on scratch, at the test epoch) unpacked into `rootfs`.
fn base_and_rootfs(w: &Wharf) -> PathBuf {
    let input = w.path("input");
    base_tree(&input);
    ok_at_epoch(w, &["append", "scratch", s(&input), "-t", "base:1"]);
    let rootfs = w.path("rootfs");
    w.ok(&["unpack", "-q", "base:1", s(&rootfs)]);
    rootfs
}

/// What a container might do: add, modify, delete a file and a directory, chmod, and
/// add a symlink.
fn edit(rootfs: &Path) {
    fs::create_dir_all(rootfs.join("srv")).unwrap();
    fs::write(rootfs.join("srv/new"), "added\n").unwrap();
    fs::write(rootfs.join("etc/change"), "new, and longer\n").unwrap();
    fs::remove_file(rootfs.join("etc/gone")).unwrap();
    fs::remove_dir_all(rootfs.join("opt/tool")).unwrap();
    fs::set_permissions(rootfs.join("etc/chmod"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("keep", rootfs.join("etc/link")).unwrap();
}

/// The top layer of image `reference`: (name, uid, gid, content) of every entry.
fn top_layer(w: &Wharf, reference: &str) -> Vec<(String, u64, u64, String)> {
    let manifest = manifest_of(w, &inspect(w, reference));
    let top = manifest["layers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let digest = top["digest"].as_str().unwrap();
    let blob = fs::File::open(
        w.root()
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:")),
    )
    .unwrap();
    let (_, decoded) = wharf_layer::decompress(blob).unwrap();
    let mut archive = tar::Archive::new(decoded);
    let mut entries = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        let header = entry.header();
        entries.push((
            entry.path().unwrap().to_string_lossy().into_owned(),
            header.uid().unwrap(),
            header.gid().unwrap(),
            content,
        ));
    }
    entries
}

fn names(entries: &[(String, u64, u64, String)]) -> Vec<&str> {
    entries.iter().map(|e| e.0.as_str()).collect()
}

#[test]
fn commit_layers_exactly_the_changes_and_unpacks_to_dir() {
    let w = Wharf::new();
    let rootfs = base_and_rootfs(&w);

    // Nothing changed yet: an empty layer, as `docker commit` makes.
    ok_at_epoch(&w, &["commit", "base:1", s(&rootfs), "-t", "same:1"]);
    assert!(top_layer(&w, "same:1").is_empty());

    edit(&rootfs);
    let id = ok_at_epoch(&w, &["commit", "base:1", s(&rootfs), "-t", "new:1"]);
    let doc = inspect(&w, "new:1");
    assert_eq!(id, format!("{}\n", doc["Id"].as_str().unwrap()));
    assert_eq!(doc["Created"], EPOCH_TIME);
    let base = inspect(&w, "base:1");
    let layers = doc["RootFS"]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0], base["RootFS"]["Layers"][0]);
    let history = config_of(&w, &doc)["history"].clone();
    assert_eq!(
        history.as_array().unwrap().last().unwrap(),
        &json!({"created": EPOCH_TIME, "created_by": "wharf commit rootfs"})
    );

    // Exactly the changes: changed directories (their times), the files, whiteouts;
    // nothing of `etc/keep`, `usr/` or `var/`.
    let entries = top_layer(&w, "new:1");
    assert_eq!(
        names(&entries),
        [
            "etc/",
            "etc/change",
            "etc/chmod",
            "etc/.wh.gone",
            "etc/link",
            "opt/",
            "opt/.wh.tool",
            "srv/",
            "srv/new",
        ]
    );
    assert_eq!(entries[1].3, "new, and longer\n");
    assert_eq!(entries[8].3, "added\n");

    let out = w.path("out");
    w.ok(&["unpack", "-q", "new:1", s(&out)]);
    let tree = describe(&out);
    assert_eq!(tree, describe(&rootfs), "unpacked (left) and DIR (right)");
    // The tree is the edited one, not just equally empty.
    assert!(!tree.contains_key("etc/gone") && !tree.contains_key("opt/tool"));
    assert!(tree["etc/chmod"].contains("mode=600"));
    assert_eq!(
        tree["etc/link"].split(' ').take(3).collect::<Vec<_>>(),
        ["symlink", "->", "keep"]
    );
    assert!(tree.contains_key("srv/new") && tree.contains_key("var/log/old.log"));

    // On top of a two-layer image whose lower layer's files were whited out: a file
    // comes back, one goes again, a directory becomes a file.
    fs::write(out.join("etc/gone"), "back\n").unwrap();
    fs::remove_file(out.join("srv/new")).unwrap();
    fs::remove_dir_all(out.join("var/log")).unwrap();
    fs::write(out.join("var/log"), "a file now\n").unwrap();
    ok_at_epoch(&w, &["commit", "new:1", s(&out), "-t", "newer:1"]);
    assert_eq!(
        names(&top_layer(&w, "newer:1")),
        ["etc/", "etc/gone", "srv/", "srv/.wh.new", "var/", "var/log"]
    );
    let again = w.path("again");
    w.ok(&["unpack", "-q", "newer:1", s(&again)]);
    assert_eq!(describe(&again), describe(&out));
    assert_eq!(
        inspect(&w, "newer:1")["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    assert!(w.ok(&["fsck"]).contains("clean"));
    assert!(w.staging_debris().is_empty(), "{:?}", w.staging_debris());
}

#[test]
fn skopeo_and_umoci_read_a_committed_image() {
    if !have_tool("skopeo") || !have_tool("umoci") {
        return;
    }
    let w = Wharf::new();
    let rootfs = base_and_rootfs(&w);
    edit(&rootfs);
    ok_at_epoch(&w, &["commit", "base:1", s(&rootfs), "-t", "new:1"]);
    let doc: Value = serde_json::from_str(&peer(
        "skopeo",
        &[
            "--insecure-policy",
            "inspect",
            &format!("oci:{}:docker.io/library/new:1", s(&w.root())),
        ],
    ))
    .unwrap();
    assert_eq!(doc["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(doc["Created"], EPOCH_TIME);
    let theirs = describe(&umoci_rootfs(&w, "new:1"));
    assert_eq!(describe(&rootfs), theirs, "DIR (left) and umoci (right)");
}

#[test]
fn commit_is_reproducible_with_source_date_epoch() {
    let digest_in_fresh_store = |args: &[&str]| {
        let w = Wharf::new();
        let rootfs = base_and_rootfs(&w);
        edit(&rootfs);
        let mut full = vec!["commit", "base:1", s(&rootfs), "-t", "new:1"];
        full.extend_from_slice(args);
        let id = ok_at_epoch(&w, &full);
        // Committing the same DIR again in the same store: the same image.
        full[4] = "again:1";
        assert_eq!(ok_at_epoch(&w, &full), id);
        let doc = inspect(&w, "new:1");
        assert_eq!(inspect(&w, "again:1")["Descriptor"], doc["Descriptor"]);
        let entries = top_layer(&w, "new:1");
        (doc["Descriptor"].clone(), manifest_of(&w, &doc), entries)
    };
    let (gzip, _, _) = digest_in_fresh_store(&[]);
    let (gzip_again, _, _) = digest_in_fresh_store(&[]);
    assert_eq!(gzip, gzip_again, "two stores, two edits of DIR, one image");

    let zstd_args = ["--compression", "zstd", "--owner", "0:0"];
    let (zstd, manifest, entries) = digest_in_fresh_store(&zstd_args);
    assert_eq!(digest_in_fresh_store(&zstd_args).0, zstd);
    // `--dest-compress`, as `copy` and `push` name it, is the same option.
    let named_as_copy = ["--dest-compress", "zstd", "--owner", "0:0"];
    assert_eq!(digest_in_fresh_store(&named_as_copy).0, zstd);
    assert_ne!(zstd["digest"], gzip["digest"]);
    assert_eq!(
        manifest["layers"][1]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert!(entries.iter().all(|e| (e.1, e.2) == (0, 0)), "{entries:?}");
    assert_eq!(entries.len(), 9);
}

#[test]
fn commit_bad_input_is_refused_and_nothing_is_stored() {
    let w = Wharf::new();
    let rootfs = base_and_rootfs(&w);
    let file = w.write("a-file", b"not a directory");
    let missing = w.path("missing");
    let before = w.state();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "missing dir",
            vec!["commit", "base:1", s(&missing), "-t", "x:1"],
        ),
        (
            "dir is a file",
            vec!["commit", "base:1", s(&file), "-t", "x:1"],
        ),
        (
            "unknown base",
            vec!["commit", "nosuch:1", s(&rootfs), "-t", "x:1"],
        ),
        (
            "bad owner",
            vec!["commit", "base:1", s(&rootfs), "--owner", "0", "-t", "x:1"],
        ),
    ];
    let report = crate::append::refused_and_nothing_stored(&w, &before, &cases);
    w.settings().bind(|| insta::assert_snapshot!(report));
    // The DIR was only read.
    assert_eq!(
        fs::symlink_metadata(rootfs.join("etc/chmod"))
            .unwrap()
            .mode()
            & 0o7777,
        0o644
    );
}

/// The Docker Engine runs a committed image and honours its whiteouts: a busybox root
/// (the host's static busybox), unpacked, edited, committed.
#[test]
fn docker_runs_a_committed_image() {
    let Some(busybox) = crate::append::docker_and_busybox() else {
        return;
    };
    let w = Wharf::new();
    let input = w.path("busybox-root");
    fs::create_dir_all(input.join("bin")).unwrap();
    fs::create_dir_all(input.join("etc")).unwrap();
    fs::copy(busybox, input.join("bin/busybox")).unwrap();
    fs::write(input.join("etc/gone"), "in the base only\n").unwrap();
    w.ok(&[
        "append",
        "scratch",
        s(&input),
        "--platform",
        "linux/amd64",
        "-t",
        "bb:1",
    ]);
    let rootfs = w.path("rootfs");
    w.ok(&["unpack", "-q", "bb:1", s(&rootfs)]);
    let pid = std::process::id();
    fs::write(rootfs.join("marker"), format!("committed by wharf {pid}\n")).unwrap();
    fs::remove_file(rootfs.join("etc/gone")).unwrap();
    let name = format!("wharf-it-commit-{pid}:1");
    let _cleanup = crate::append::RemoveDockerImage(name.clone());
    w.ok(&["commit", "bb:1", s(&rootfs), "-t", &name]);

    let archive = w.path("for-docker.tar");
    w.ok(&["save", "-o", s(&archive), &name]);
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", &name])
        .output();
    peer("docker", &["load", "-i", s(&archive)]);
    let out = peer(
        "docker",
        &[
            "run",
            "--rm",
            "--network",
            "none",
            &name,
            "/bin/busybox",
            "sh",
            "-c",
            "cat /marker; /bin/busybox ls -A /etc | /bin/busybox grep -v -e hostname -e hosts -e resolv.conf -e mtab; true",
        ],
    );
    assert_eq!(out, format!("committed by wharf {pid}\n"));
}
