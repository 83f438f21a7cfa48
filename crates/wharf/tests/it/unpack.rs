//! `wharf unpack` and `wharf export`: the merged root filesystem, compared with umoci's
//! (a real peer) on images built here with every tricky kind of layer; shared snapshots
//! in `inspect`, `system df` and `image prune`; bad input leaves nothing behind.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use wharf_spec::Digest;
use wharf_testkit::tree::describe;

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

/// Whether we run as root: the owner of a file we just made.
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = tempfile::NamedTempFile::new().unwrap();
    probe.as_file().metadata().unwrap().uid() == 0
}

/// Loads `img` into the store as `name:tag`.
fn load_as(w: &Wharf, img: &Image, name: &str, tag: &str) {
    let dir = w.path(&format!("layout-{name}-{tag}"));
    write_image_layout(&dir, img, tag);
    w.ok(&["load", "-i", s(&dir), "-t", name]);
}

/// Layers with whiteouts, opaque directories (marker before and after the entries it
/// keeps), hard links across layers, symlink replacements, mode and owner changes,
/// xattrs, empty directories, a fifo and a device node.
fn tricky_layers() -> Vec<Layer> {
    let base = LayerTar::new()
        .dir("etc")
        .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
        .file("etc/hostname", b"base\n")
        .dir("usr")
        .dir("usr/bin")
        .file_mode("usr/bin/tool", b"\x7fELF tool", 0o755)
        .dir("usr/lib")
        .file("usr/lib/libx.so", b"lib x")
        .dir("var")
        .dir("var/cache")
        .file("var/cache/one", b"1")
        .file("var/cache/two", b"2")
        .dir("opt")
        .dir("opt/app")
        .file("opt/app/old", b"old")
        .dir_mode("empty", 0o750)
        .file("will-be-link", b"a file first")
        .dir("will-be-file")
        .file("will-be-file/inner", b"inner")
        .owner(1000, 1000)
        .dir("home")
        .file("home/user-file", b"mine")
        .finish();
    let middle = LayerTar::new()
        .whiteout("etc/hostname")
        .file("var/cache/three", b"3")
        .opaque("var/cache")
        .opaque("opt/app")
        .file("opt/app/new", b"new")
        .hardlink("usr/bin/tool-link", "usr/bin/tool")
        .symlink("will-be-link", "etc/passwd")
        .file("will-be-file", b"a file now")
        .dir_mode("usr/lib", 0o700)
        .file_mode("usr/bin/suid", b"#!/bin/sh\n", 0o4755)
        .dir_mode("tmp", 0o1777)
        .owner(1234, 5678)
        .file_xattrs("etc/with-xattr", b"x", &[("user.comment", b"hello")])
        .owner(0, 0)
        .fifo("run-fifo")
        .finish();
    let top = LayerTar::new()
        .file_mode("etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n", 0o600)
        .whiteout("empty")
        .dir("empty2")
        .hardlink("etc/passwd-hardlink", "etc/passwd")
        .char_device("dev-null", 1, 3)
        .file("dup", b"first")
        .file("dup", b"second")
        .finish();
    vec![Layer::gzip(base), Layer::gzip(middle), Layer::gzip(top)]
}

pub fn umoci_rootfs(w: &Wharf, name: &str) -> std::path::PathBuf {
    let bundle = w.path(&format!("bundle-{}", name.replace([':', '/'], "-")));
    let image = format!("{}:docker.io/library/{name}", w.root().display());
    let mut args = vec!["unpack", "--image", &image];
    if !is_root() {
        args.push("--rootless");
    }
    let bundle_s = bundle.to_str().unwrap().to_string();
    args.push(&bundle_s);
    let out = Command::new("umoci").args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "umoci {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bundle.join("rootfs")
}

#[test]
fn unpack_matches_umoci_on_tricky_layers() {
    if !have_tool("umoci") {
        return;
    }
    let w = Wharf::new();
    let img = image("tricky", tricky_layers());
    load_as(&w, &img, "tricky", "1");
    let dir = w.path("rootfs");
    let out = w.ok(&["unpack", "tricky:1", s(&dir)]);
    assert!(out.contains("3 layers"), "{out}");
    let ours = describe(&dir);
    let theirs = describe(&umoci_rootfs(&w, "tricky:1"));
    assert_eq!(ours, theirs, "wharf (left) and umoci (right) differ");
    // The tree has what the layers say (so both tools are not just equally empty).
    assert!(ours["usr/bin/tool-link"].contains("hardlink=usr/bin/tool"));
    assert!(!ours.contains_key("etc/hostname") && !ours.contains_key("var/cache/one"));
    assert!(ours.contains_key("var/cache/three") && ours.contains_key("home/user-file"));
    assert!(ours["etc/with-xattr"].contains("user.comment"));
    if is_root() {
        assert!(ours["etc/with-xattr"].contains("owner=1234:5678"));
        assert!(ours["dev-null"].starts_with("char 1:3"));
        // Linked from the snapshots: same tree.
        let linked = w.path("linked");
        w.ok(&["unpack", "--link", "tricky:1", s(&linked)]);
        assert_eq!(describe(&linked), theirs);
    }
}

#[test]
fn snapshots_are_shared_reported_and_pruned() {
    if !is_root() {
        eprintln!("skipping: snapshots need root");
        return;
    }
    let w = Wharf::new();
    let layers = tricky_layers();
    let a = image("a", layers.clone());
    let b = image("b", vec![layers[0].clone(), layer(&[("b-only", b"b")])]);
    load_as(&w, &a, "a", "1");
    load_as(&w, &b, "b", "1");
    // The base layer, which b shares, is snapshotted by a's unpack; a's own layers are
    // extracted straight into its target. b's unpack then copies the base.
    let out = w.ok(&["unpack", "a:1", s(&w.path("a"))]);
    assert!(out.contains("3 extracted, 0 from snapshots"), "{out}");
    assert_eq!(snapshot_count(&w), 1, "only the shared layer");
    let out = w.ok(&["unpack", "b:1", s(&w.path("b"))]);
    assert!(out.contains("1 extracted, 1 from snapshots"), "{out}");
    assert_eq!(snapshot_count(&w), 1, "b's own layer is nobody else's");
    assert_eq!(
        describe(&w.path("b")),
        describe(&unpacked_without_snapshots(&w, "b:1"))
    );
    // `--snapshots` keeps every layer, for later unpacks and an overlay `LowerDir`.
    let out = w.ok(&["unpack", "--snapshots", "a:1", s(&w.path("a2"))]);
    assert!(out.contains("2 extracted, 1 from snapshots"), "{out}");
    assert_eq!(describe(&w.path("a2")), describe(&w.path("a")));

    let doc: Value = serde_json::from_str(&w.ok(&["image", "inspect", "a:1"])).unwrap();
    let driver = &doc[0]["GraphDriver"];
    assert_eq!(driver["Name"], "overlay");
    let lower: Vec<&str> = driver["Data"]["LowerDir"]
        .as_str()
        .unwrap()
        .split(':')
        .collect();
    assert_eq!(lower.len(), 3);
    let chain = wharf_layer::chain_id(&[a.layers[0].diff_id()]).unwrap();
    assert!(
        lower[2].ends_with(&format!("{}/fs", chain.hex())),
        "bottom layer last: {lower:?}"
    );
    assert!(lower.iter().all(|d| Path::new(d).is_dir()));

    let df = w.ok(&["system", "df"]);
    assert!(df.contains("Snapshots: 3 unpacked layers"), "{df}");

    w.ok(&["rmi", "a:1"]);
    let pruned = w.ok(&["image", "prune"]);
    assert!(pruned.contains("Deleted Snapshots:"), "{pruned}");
    assert_eq!(pruned.matches("deleted: sha256:").count(), 2, "{pruned}");
    assert!(
        Path::new(lower[2]).is_dir(),
        "b still uses the base snapshot"
    );
    assert!(!Path::new(lower[0]).exists());
    assert!(w.ok(&["fsck"]).contains("clean"));
}

fn snapshot_count(w: &Wharf) -> usize {
    std::fs::read_dir(w.root().join(".wharf/snapshots"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// `image` unpacked by a store that shares none of its layers: every layer extracted
/// straight into the target.
fn unpacked_without_snapshots(w: &Wharf, image: &str) -> std::path::PathBuf {
    let archive = w.path("alone.tar");
    w.ok(&["save", "-o", s(&archive), image]);
    let alone = Wharf::new();
    alone.ok(&["load", "-i", s(&archive)]);
    let dir = w.path("alone");
    let out = alone.ok(&["unpack", image, s(&dir)]);
    assert!(out.contains("extracted, 0 from snapshots"), "{out}");
    assert_eq!(
        snapshot_count(&alone),
        0,
        "a one-off unpack keeps no snapshot"
    );
    dir
}

/// Without root, a directory whose mode locks its owner out (`0555`, `0500`) still gets
/// its later entries, from the same and from upper layers, and ends with its own mode,
/// as umoci's rootless unpack does. Run as `nobody` (needs root to switch, and runuser).
#[test]
fn unprivileged_unpack_fills_read_only_directories() {
    if !is_root() || !have_tool("runuser") {
        eprintln!("skipping: needs root and runuser to run wharf as another user");
        return;
    }
    let base = LayerTar::new()
        .dir_mode("ro", 0o555)
        .file("ro/first", b"1")
        .dir_mode("ro/locked", 0o500)
        .file("ro/locked/deep", b"deep")
        .finish();
    let upper = LayerTar::new()
        .file("ro/second", b"2")
        .whiteout("ro/first")
        .file("ro/locked/deeper", b"deeper")
        .finish();
    let img = image("ro", vec![Layer::gzip(base), Layer::gzip(upper)]);
    // A world-writable scratch directory nobody can use, under a traversable parent.
    let w = Wharf::new();
    let shared = w.path("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let mut dir = shared.clone();
    while dir != Path::new("/") {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        if mode & 0o001 == 0 {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode | 0o711)).unwrap();
        }
        dir = dir.parent().unwrap().to_path_buf();
    }
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let layout = shared.join("layout");
    write_image_layout(&layout, &img, "1");
    std::process::Command::new("chmod")
        .args(["-R", "a+rX", s(&layout)])
        .status()
        .unwrap();
    let store = shared.join("store");
    let target = shared.join("rootfs");
    // The binary too, where nobody can reach it: the checkout may sit in a private
    // directory (`mktemp -d` makes them 0700). A hard link costs nothing; across
    // filesystems, a copy.
    let binary = shared.join("wharf");
    let built = assert_cmd::cargo::cargo_bin("wharf");
    if std::fs::hard_link(&built, &binary).is_err() {
        std::fs::copy(&built, &binary).unwrap();
    }
    let as_nobody = |args: &[&str]| {
        let out = std::process::Command::new("runuser")
            .args(["-u", "nobody", "--"])
            .arg(&binary)
            .arg("--root")
            .arg(&store)
            .args(args)
            .env("HOME", &shared)
            .env_remove("WHARF_ROOT")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "wharf {args:?} as nobody: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    as_nobody(&["load", "-i", s(&layout), "-t", "ro"]);
    as_nobody(&["unpack", "ro:1", s(&target)]);
    let tree = describe(&target);
    let mode = |path: &str| {
        std::fs::symlink_metadata(target.join(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("ro"), 0o555, "{tree:?}");
    assert_eq!(mode("ro/locked"), 0o500, "{tree:?}");
    assert!(
        tree.contains_key("ro/second") && tree.contains_key("ro/locked/deeper"),
        "{tree:?}"
    );
    assert!(tree.contains_key("ro/locked/deep"), "{tree:?}");
    assert!(!tree.contains_key("ro/first"), "{tree:?}");
}

/// Snapshots are not fsynced; each records the boot it was written in, and one from
/// another boot (a machine crash may have lost its pages) is extracted again rather than
/// trusted.
#[test]
fn a_snapshot_from_an_earlier_boot_is_extracted_again() {
    if !is_root() {
        eprintln!("skipping: snapshots need root");
        return;
    }
    let w = Wharf::new();
    let a = image("a", tricky_layers());
    load_as(&w, &a, "a", "1");
    let first = w.path("first");
    w.ok(&["unpack", "--snapshots", "a:1", s(&first)]);
    let snapshots: Vec<_> = std::fs::read_dir(w.root().join(".wharf/snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(snapshots.len(), 3);
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    for snapshot in &snapshots {
        assert_eq!(
            std::fs::read_to_string(snapshot.join("boot-id")).unwrap(),
            boot.trim()
        );
        // What a power cut can leave: the names, but files emptied, from another boot.
        std::fs::write(
            snapshot.join("boot-id"),
            "00000000-0000-0000-0000-000000000000",
        )
        .unwrap();
        for entry in walkdir_files(&snapshot.join("fs")) {
            std::fs::write(entry, b"").unwrap();
        }
    }
    let doc: Value = serde_json::from_str(&w.ok(&["image", "inspect", "a:1"])).unwrap();
    assert!(
        doc[0]["GraphDriver"]["Data"].is_null(),
        "an untrusted snapshot is not offered as a LowerDir: {}",
        doc[0]["GraphDriver"]
    );

    let again = w.path("again");
    let out = w.ok(&["unpack", "--snapshots", "a:1", s(&again)]);
    assert!(out.contains("3 extracted, 0 from snapshots"), "{out}");
    assert_eq!(describe(&again), describe(&first));
    for snapshot in &snapshots {
        assert_eq!(
            std::fs::read_to_string(snapshot.join("boot-id")).unwrap(),
            boot.trim()
        );
    }
    assert!(w.ok(&["fsck"]).contains("clean"));
}

/// Every regular file under `dir`.
fn walkdir_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            out.extend(walkdir_files(&entry.path()));
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    out
}

#[test]
fn a_wrong_diff_id_fails_and_creates_nothing() {
    let w = Wharf::new();
    let good = tricky_layers();
    let img = image("bad", good.clone());
    // The config claims another diff_id for the top layer.
    let config = String::from_utf8(img.config).unwrap();
    let wrong = Digest::sha256_of(b"something else").to_string();
    let config = config
        .replace(&good[2].diff_id().to_string(), &wrong)
        .into_bytes();
    let img = Image::new(config, img.layers, KeyOrder::Sorted);
    load_as_unchecked(&w, &img, "bad", "1");
    let dir = w.path("rootfs");
    let err = w.fails(&["unpack", "bad:1", s(&dir)]);
    assert!(err.contains("does not match the image config"), "{err}");
    assert!(!dir.exists(), "no target after a failed unpack");
    assert_no_staging_left(&w);
}

/// `load` checks diff_ids itself; a bad one gets into the store through the layout that
/// umoci and skopeo share, as a damaged or hostile store would have it.
fn load_as_unchecked(w: &Wharf, img: &Image, name: &str, tag: &str) {
    load_as(
        w,
        &image("placeholder", vec![layer(&[("p", b"p")])]),
        "placeholder",
        "1",
    );
    let root = w.root();
    for (digest, bytes) in img.blobs() {
        fs::write(root.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
    }
    let mut index: Value =
        serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
    let mut d = img.manifest.descriptor();
    d.set_annotation(
        "org.opencontainers.image.ref.name",
        format!("docker.io/library/{name}:{tag}"),
    );
    let d = serde_json::to_value(d).unwrap();
    index["manifests"].as_array_mut().unwrap().push(d);
    fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

#[test]
fn a_non_empty_target_is_refused() {
    let w = Wharf::new();
    load_as(&w, &image("x", vec![layer(&[("f", b"x")])]), "x", "1");
    let dir = w.path("full");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("keep"), b"mine").unwrap();
    let err = w.fails(&["unpack", "x:1", s(&dir)]);
    assert!(err.contains("is not empty"), "{err}");
    assert_eq!(fs::read(dir.join("keep")).unwrap(), b"mine");
    // An empty directory is fine.
    let empty = w.path("empty");
    fs::create_dir(&empty).unwrap();
    w.ok(&["unpack", "-q", "x:1", s(&empty)]);
    assert_eq!(fs::read(empty.join("f")).unwrap(), b"x");
}

#[test]
fn export_writes_the_merged_tree_as_one_tar() {
    let w = Wharf::new();
    let img = image("e", tricky_layers());
    load_as(&w, &img, "e", "1");
    let dir = w.path("rootfs");
    w.ok(&["unpack", "e:1", s(&dir)]);
    let file = w.path("e.tar");
    w.ok(&["export", "e:1", "-o", s(&file)]);
    let again = w.path("again");
    fs::create_dir(&again).unwrap();
    let mut applier = wharf_layer::apply::Applier::new(
        wharf_layer::apply::Root::open(&again).unwrap(),
        wharf_layer::apply::ApplyOptions::for_this_process(wharf_layer::apply::WhiteoutMode::Apply),
    );
    wharf_layer::apply::apply_tar(fs::File::open(&file).unwrap(), &mut applier, None).unwrap();
    applier.finish().unwrap();
    assert_eq!(describe(&again), describe(&dir));
    // To standard output too.
    let out = w.cmd(&["export", "e:1"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len() as u64, fs::metadata(&file).unwrap().len());
}

/// `umoci insert` ≤ 0.4.7 wrote layers that end right after the last file's content (no
/// padding, no end-of-archive blocks); Docker and umoci read them, so does wharf.
#[test]
fn a_layer_without_its_last_padding_unpacks_and_a_cut_one_does_not() {
    let w = Wharf::new();
    let last = vec![b'u'; 700];
    let unpadded = LayerTar::new()
        .dir("opt")
        .file("opt/first", b"1")
        .file("opt/last", &last)
        .finish_unpadded(last.len());
    load_as(
        &w,
        &image("umoci", vec![Layer::gzip(unpadded.clone())]),
        "umoci",
        "1",
    );
    let dir = w.path("rootfs");
    w.ok(&["unpack", "-q", "umoci:1", s(&dir)]);
    assert_eq!(fs::read(dir.join("opt/last")).unwrap(), last);
    assert_eq!(fs::read(dir.join("opt/first")).unwrap(), b"1");
    // Both gzip'd (above) and plain.
    let plain = image("plain", vec![Layer::plain(unpadded.clone())]);
    load_as(&w, &plain, "plain", "1");
    let dir = w.path("rootfs-plain");
    w.ok(&["unpack", "-q", "plain:1", s(&dir)]);
    assert_eq!(fs::read(dir.join("opt/last")).unwrap(), last);

    // Cut inside the last file's content: an error that says so.
    let cut = unpadded[..unpadded.len() - 10].to_vec();
    load_as_unchecked(&w, &image("cut", vec![Layer::gzip(cut)]), "cut", "1");
    let err = w.fails(&["unpack", "cut:1", s(&w.path("rootfs-cut"))]);
    assert!(err.contains("opt/last"), "{err}");
    assert!(err.contains("ends inside an entry's content"), "{err}");
}

/// umoci 0.4.7 itself writes such a layer (`umoci insert`), and wharf loads and unpacks it.
#[test]
fn a_layer_inserted_by_umoci_loads_and_unpacks() {
    if !have_tool("umoci") {
        return;
    }
    let w = Wharf::new();
    let layout = w.path("umoci-layout");
    let image = format!("{}:t", layout.display());
    let src = w.path("umoci-src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("data"), vec![b'd'; 700]).unwrap();
    let umoci = |args: &[&str]| {
        let out = Command::new("umoci").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "umoci {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    umoci(&["init", "--layout", s(&layout)]);
    umoci(&["new", "--image", &image]);
    let file = src.join("data");
    let mut insert = vec!["insert"];
    if !is_root() {
        insert.push("--rootless");
    }
    insert.extend(["--image", &image, s(&file), "/data"]);
    umoci(&insert);
    w.ok(&["load", "-i", s(&layout), "-t", "inserted"]);
    let dir = w.path("rootfs-inserted");
    w.ok(&["unpack", "-q", "inserted:t", s(&dir)]);
    assert_eq!(fs::read(dir.join("data")).unwrap(), vec![b'd'; 700]);
}

/// A store image whose index nests another index (index → index → manifest) resolves to
/// the host platform's image, as a pull does.
#[test]
fn a_stored_nested_index_inspects_and_unpacks() {
    let w = Wharf::new();
    let multi = multi_platform();
    let outer = index_of(vec![multi.descriptor()], KeyOrder::Sorted);
    let mut blobs = multi.blobs();
    blobs.push((outer.digest().clone(), outer.bytes().to_vec()));
    let dir = w.path("nested-layout");
    write_oci_layout(&dir, &blobs, &named_index(outer.descriptor(), "1"));
    w.ok(&["load", "-i", s(&dir), "-t", "nested"]);
    let amd = &multi.images[0].0;
    let doc: Value = serde_json::from_str(&w.ok(&["inspect", "nested:1"])).unwrap();
    assert_eq!(doc[0]["Id"], amd.id(), "{doc}");
    let rootfs = w.path("rootfs-nested");
    w.ok(&["unpack", "-q", "nested:1", s(&rootfs)]);
    assert_eq!(fs::read(rootfs.join("arch")).unwrap(), b"amd64");
}

/// `unpack --no-store` streams the tricky image straight from a registry (distribution),
/// an OCI layout and a gzipped docker-archive: the same tree as umoci's unpack of it,
/// and nothing enters the store; without `--no-store`, the registry's image is kept.
#[test]
fn a_streamed_unpack_matches_umoci_from_every_kind_of_source() {
    let registry = wharf_testkit::registry_or_skip!(wharf_testkit::registry::Auth::None);
    if !have_tool("umoci") {
        return;
    }
    let w = Wharf::new();
    let img = image("tricky", tricky_layers());
    load_as(&w, &img, "tricky", "1");
    let theirs = describe(&umoci_rootfs(&w, "tricky:1"));
    let remote = format!("{}/it-unpack/tricky:1", registry.host);
    w.ok(&["push", "tricky:1", &remote]);
    let archive = w.path("tricky.docker.tar");
    w.ok(&["save", "-o", s(&archive), "tricky:1"]);
    let gzipped = w.path("tricky.docker.tar.gz");
    fs::write(&gzipped, gzip(&fs::read(&archive).unwrap())).unwrap();
    w.ok(&["rmi", "tricky:1"]);
    let store_before = w.state();
    let sources = [
        format!("docker://{remote}"),
        format!("oci:{}:1", s(&w.path("layout-tricky-1"))),
        format!("docker-archive:{}", s(&gzipped)),
    ];
    for (i, source) in sources.iter().enumerate() {
        let dir = w.path(&format!("streamed-{i}"));
        let out = w.ok(&["unpack", "--no-store", source, s(&dir)]);
        assert!(out.contains("3 layers, streamed"), "{out}");
        assert_eq!(
            describe(&dir),
            theirs,
            "{source}: wharf (left), umoci (right)"
        );
    }
    assert_eq!(w.state(), store_before, "a streamed unpack stores nothing");

    // Without `--no-store`, a registry image is pulled as it is unpacked: one download,
    // and the store then holds it (checked by fsck) and unpacks it the same.
    let kept = w.path("kept");
    let out = w.ok(&["unpack", &format!("docker://{remote}"), s(&kept)]);
    assert!(out.contains("streamed; kept as"), "{out}");
    assert_eq!(describe(&kept), theirs);
    assert!(w.ok(&["fsck"]).ends_with("the store is clean\n"));
    let again = w.path("again");
    w.ok(&["unpack", &remote, s(&again)]);
    assert_eq!(describe(&again), theirs);

    // `pull --unpack DIR` is the same single download.
    w.ok(&["rmi", &remote]);
    let pulled = w.path("pulled");
    let out = w.ok(&["pull", "--unpack", s(&pulled), &remote]);
    assert!(out.contains("streamed; kept as"), "{out}");
    assert_eq!(describe(&pulled), theirs);
    w.ok(&["inspect", &remote]);
    assert!(w.ok(&["fsck"]).ends_with("the store is clean\n"));
}

/// A layer whose bytes do not match its digest stops a streamed unpack: no target, no
/// staging directory left beside it.
#[test]
fn a_streamed_unpack_of_a_corrupt_layer_creates_nothing() {
    let w = Wharf::new();
    let img = image("bad", tricky_layers());
    let layout = w.path("layout");
    write_image_layout(&layout, &img, "1");
    let top = img.layers[2].digest();
    let path = layout.join("blobs/sha256").join(top.hex());
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&path, bytes).unwrap();
    let dir = w.path("rootfs");
    let err = w.fails(&[
        "unpack",
        "--no-store",
        &format!("oci:{}:1", s(&layout)),
        s(&dir),
    ]);
    assert!(
        err.contains(&format!("blob `{top}`")) && err.contains("does not match its digest"),
        "{err}"
    );
    assert!(!dir.exists(), "no target after a failed unpack");
    assert_no_staging_left(&w);
    let refused = w.fails(&["unpack", &format!("oci:{}:1", s(&layout)), s(&dir)]);
    assert!(refused.contains("with `--no-store`"), "{refused}");
}

/// No `wharf-unpack` staging directory is left in the test's directory.
fn assert_no_staging_left(w: &Wharf) {
    let leftovers: Vec<_> = fs::read_dir(w.path(""))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("wharf-unpack"))
        .collect();
    assert!(leftovers.is_empty(), "no staging left: {leftovers:?}");
}

/// `--link` and `--snapshots` need the store's snapshots: from a registry they are refused
/// before anything is fetched, with what to do instead.
#[test]
fn snapshot_options_from_a_registry_are_refused_with_a_hint() {
    let w = Wharf::new();
    for flag in ["--link", "--snapshots"] {
        let err = w.fails(&[
            "unpack",
            flag,
            &format!("docker://{}/app:1", wharf_testkit::DEAD_HOST),
            s(&w.path("rootfs")),
        ]);
        assert!(err.contains("pull it first"), "{err}");
        assert!(!w.path("rootfs").exists());
    }
}
