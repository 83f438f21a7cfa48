//! Layer application: the `layer.md` rules, the same tree through snapshots as applied
//! directly, and a malicious corpus that must never touch anything outside the target.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use wharf_layer::apply::{self, tree, Applier, ApplyError, ApplyOptions, Root, WhiteoutMode};
use wharf_spec::Digest;
use wharf_testkit::fixtures::LayerTar;
use wharf_testkit::tree::describe;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A target directory `root` with a sentinel directory `outside` beside it.
struct Scene {
    dir: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("root")).unwrap();
        fs::create_dir(dir.path().join("outside")).unwrap();
        fs::write(dir.path().join("outside/secret"), b"keep me").unwrap();
        Scene { dir }
    }
    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }
    fn outside_state(&self) -> BTreeMap<String, String> {
        let mut state = describe(&self.outside());
        // The sentinel's own mode and owner count too.
        state.insert(
            ".".into(),
            format!("{:?}", fs::metadata(self.outside()).unwrap().permissions()),
        );
        state
    }
}

fn apply_layers(root: &Path, layers: &[Vec<u8>]) -> Result<Vec<String>, ApplyError> {
    let mut applier = Applier::new(
        Root::open(root).unwrap(),
        ApplyOptions::for_this_process(WhiteoutMode::Apply),
    );
    for layer in layers {
        applier.begin_layer()?;
        apply::apply_tar(&layer[..], &mut applier, None)?;
    }
    Ok(applier.finish()?.iter().map(ToString::to_string).collect())
}

/// Each layer recorded into its own snapshot, then the snapshots merged into `root`.
fn apply_through_snapshots(base: &Path, root: &Path, layers: &[Vec<u8>]) {
    let mut merged = Applier::new(
        Root::open(root).unwrap(),
        ApplyOptions::for_this_process(WhiteoutMode::Apply),
    );
    for (i, layer) in layers.iter().enumerate() {
        let snap = base.join(format!("snap{i}"));
        fs::create_dir(&snap).unwrap();
        let mut record = Applier::new(
            Root::open(&snap).unwrap(),
            ApplyOptions::for_this_process(WhiteoutMode::Record),
        );
        apply::apply_tar(&layer[..], &mut record, None).unwrap();
        assert!(
            record.take_unresolved().is_empty(),
            "no cross-layer links here"
        );
        record.finish().unwrap();
        merged.begin_layer().unwrap();
        tree::apply_snapshot(&Root::open(&snap).unwrap(), &mut merged).unwrap();
    }
    merged.finish().unwrap();
}

fn line(tree: &BTreeMap<String, String>, path: &str) -> String {
    tree.get(path)
        .cloned()
        .unwrap_or_else(|| format!("<missing {path}>"))
}

/// A stack that exercises every rule: whiteouts, opaque markers before and after the
/// entries they keep, dir over dir, file over dir, symlink over file, duplicates.
fn rule_layers() -> Vec<Vec<u8>> {
    let l0 = LayerTar::new()
        .dir("etc")
        .file("etc/passwd", b"root:x:0:0")
        .file("etc/gone", b"x")
        .dir_mode("var", 0o755)
        .dir("var/cache")
        .file("var/cache/a", b"a")
        .file("var/cache/b", b"b")
        .dir("opt")
        .file("opt/old", b"old")
        .dir("data")
        .file("data/keep", b"lower")
        .file("replace-me", b"file")
        .dir("becomes-file")
        .file("becomes-file/child", b"c")
        .file("usr-bin-tool", b"tool")
        .finish();
    let l1 = LayerTar::new()
        .whiteout("etc/gone")
        .file("var/cache/new", b"new")
        .opaque("var/cache")
        .opaque("opt")
        .file("opt/fresh", b"fresh")
        .dir_mode("data", 0o700)
        .file("data/added", b"upper")
        .symlink("replace-me", "etc/passwd")
        .file("becomes-file", b"now a file")
        .file("dup", b"first")
        .file("dup", b"second wins")
        .file_mode("suid", b"#!", 0o4755)
        .dir_mode("tmp", 0o1777)
        .finish();
    vec![l0, l1]
}

#[test]
fn layer_rules_follow_the_image_spec() {
    let scene = Scene::new();
    apply_layers(&scene.root(), &rule_layers()).unwrap();
    let t = describe(&scene.root());
    assert!(!t.contains_key("etc/gone"), "whiteout removes a lower file");
    assert!(
        t.contains_key("var/cache/new"),
        "an opaque marker after the entry keeps it"
    );
    assert!(!t.contains_key("var/cache/a") && !t.contains_key("var/cache/b"));
    assert!(t.contains_key("opt/fresh") && !t.contains_key("opt/old"));
    assert!(
        t.contains_key("data/keep"),
        "dir over dir keeps the lower children"
    );
    assert!(
        line(&t, "data").contains("mode=700"),
        "and takes the new attributes"
    );
    assert!(line(&t, "replace-me").starts_with("symlink -> etc/passwd"));
    assert!(line(&t, "becomes-file").starts_with("file 10 "));
    assert!(!t.contains_key("becomes-file/child"));
    assert_eq!(fs::read(scene.root().join("dup")).unwrap(), b"second wins");
    assert!(line(&t, "suid").contains("mode=4755"));
    assert!(line(&t, "tmp").contains("mode=1777"));
}

#[test]
fn snapshots_merged_give_the_same_tree_as_direct_application() {
    if !is_root() {
        eprintln!("skipping: snapshots need root (overlay whiteouts are device nodes)");
        return;
    }
    let mut layers = rule_layers();
    layers.push(
        LayerTar::new()
            .whiteout("data")
            .dir("data")
            .file("data/only", b"x")
            .opaque("etc")
            .owner(1000, 1000)
            .file_xattrs(
                "etc/conf",
                b"c",
                &[("user.note", b"hi"), ("trusted.t", b"v")],
            )
            .hardlink("etc/conf-link", "etc/conf")
            .fifo("pipe")
            .char_device("null", 1, 3)
            .finish(),
    );
    let scene = Scene::new();
    apply_layers(&scene.root(), &layers).unwrap();
    let merged = scene.dir.path().join("merged");
    fs::create_dir(&merged).unwrap();
    apply_through_snapshots(scene.dir.path(), &merged, &layers);
    assert_eq!(describe(&scene.root()), describe(&merged));
    let t = describe(&merged);
    assert!(line(&t, "etc/conf-link").contains("hardlink=etc/conf"));
    assert!(line(&t, "etc/conf").contains("owner=1000:1000"));
    assert!(line(&t, "etc/conf").contains("user.note"));
    assert!(!t.contains_key("etc/passwd"));
}

#[test]
fn hardlinks_long_names_and_missing_end_blocks_are_accepted() {
    let long = format!("deep/{}/file", "d".repeat(150));
    let layer = LayerTar::new()
        .file("a", b"shared")
        .hardlink("b", "a")
        .file(&long, b"long")
        .hardlink("deep/link-to-long", &long)
        .finish_without_end();
    let scene = Scene::new();
    apply_layers(&scene.root(), &[layer]).unwrap();
    let t = describe(&scene.root());
    assert!(line(&t, "b").contains("hardlink=a"));
    assert!(t.contains_key(&long));
    assert!(line(&t, "deep/link-to-long").contains(&format!("hardlink={long}")));
}

/// A layer as `umoci insert` ≤ 0.4.7 wrote it: its last file's content is its last byte.
fn unpadded_layer() -> Vec<u8> {
    let last = vec![b'z'; 700];
    let layer = LayerTar::new()
        .dir("etc")
        .file("etc/first", b"one")
        .file("etc/last", &last)
        .finish_unpadded(last.len());
    assert_eq!(layer.len(), 4 * 512 + 700, "no padding, no end blocks");
    layer
}

#[test]
fn a_layer_without_its_last_padding_applies_plain_and_gzipped() {
    let tar = unpadded_layer();
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&tar).unwrap();
        e.finish().unwrap()
    };
    // The diff_id covers the bytes as they are, not a repaired tar.
    let diff_id = Digest::sha256_of(&tar);
    for bytes in [&tar, &gz] {
        let scene = Scene::new();
        let mut applier = Applier::new(
            Root::open(&scene.root()).unwrap(),
            ApplyOptions::for_this_process(WhiteoutMode::Apply),
        );
        let applied = apply::apply_tar(&bytes[..], &mut applier, Some(&diff_id)).unwrap();
        applier.finish().unwrap();
        assert_eq!((applied.entries, applied.size), (3, tar.len() as u64));
        assert_eq!(fs::read(scene.root().join("etc/first")).unwrap(), b"one");
        assert_eq!(
            fs::read(scene.root().join("etc/last")).unwrap(),
            vec![b'z'; 700]
        );
        assert_eq!(
            wharf_layer::diff_id(&bytes[..]).unwrap().digest,
            diff_id,
            "the layer-size computation reads the same bytes"
        );
    }
}

#[test]
fn a_layer_cut_inside_a_header_or_a_files_content_is_an_error_naming_it() {
    let tar = unpadded_layer();
    // Cut 100 bytes before the end of the last file's content.
    let scene = Scene::new();
    let err = apply_layers(&scene.root(), &[tar[..tar.len() - 100].to_vec()]).unwrap_err();
    let text = format!(
        "{err}: {}",
        std::error::Error::source(&err)
            .map(ToString::to_string)
            .unwrap_or_default()
    );
    assert!(text.contains("etc/last"), "{text}");
    assert!(
        text.contains("ends inside an entry's content, 100 bytes short"),
        "{text}"
    );
    // Cut inside the header of the last file.
    let scene = Scene::new();
    let err = apply_layers(&scene.root(), &[tar[..3 * 512 + 200].to_vec()]).unwrap_err();
    assert!(
        err.to_string().contains("ends inside a tar header"),
        "{err}"
    );
}

#[test]
fn diff_id_is_checked_in_the_same_pass_and_gzip_zstd_plain_all_apply() {
    let tar = LayerTar::new().file("x", b"y").finish();
    let good = Digest::sha256_of(&tar);
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&tar).unwrap();
        e.finish().unwrap()
    };
    let zst = zstd::encode_all(&tar[..], 3).unwrap();
    for bytes in [&tar, &gz, &zst] {
        let scene = Scene::new();
        let mut applier = Applier::new(
            Root::open(&scene.root()).unwrap(),
            ApplyOptions::for_this_process(WhiteoutMode::Apply),
        );
        let applied = apply::apply_tar(&bytes[..], &mut applier, Some(&good)).unwrap();
        assert_eq!(applied.diff_id, good);
    }
    let scene = Scene::new();
    let mut applier = Applier::new(
        Root::open(&scene.root()).unwrap(),
        ApplyOptions::for_this_process(WhiteoutMode::Apply),
    );
    let wrong = Digest::sha256_of(b"other");
    let err = apply::apply_tar(&tar[..], &mut applier, Some(&wrong)).unwrap_err();
    assert!(matches!(err, ApplyError::DiffIdMismatch { .. }), "{err}");
    assert!(err.to_string().contains("the image config says"), "{err}");
}

/// One hostile case: layers, and the error text expected (`None`: applies cleanly).
struct Hostile {
    name: &'static str,
    layers: Vec<Vec<u8>>,
    error: Option<&'static str>,
}

fn hostile_corpus(outside: &Path) -> Vec<Hostile> {
    let out = outside.to_str().unwrap();
    vec![
        Hostile {
            name: "dot-dot name",
            layers: vec![LayerTar::new().raw_file("../outside/pwned", b"x").finish()],
            error: Some("climbs out of the root"),
        },
        Hostile {
            name: "dot-dot in the middle",
            layers: vec![LayerTar::new()
                .raw_file("a/../../outside/pwned", b"x")
                .finish()],
            error: Some("climbs out of the root"),
        },
        Hostile {
            name: "absolute name lands inside",
            layers: vec![LayerTar::new()
                .raw_file(&format!("{out}/pwned"), b"x")
                .finish()],
            error: None,
        },
        Hostile {
            name: "symlink to outside, then a file through it (same layer)",
            layers: vec![LayerTar::new()
                .symlink("evil", out)
                .file("evil/pwned", b"x")
                .finish()],
            error: Some("is a symlink to nothing inside the root"),
        },
        Hostile {
            name: "relative symlink climbing out, then a file through it (next layer)",
            layers: vec![
                LayerTar::new().symlink("evil", "../outside").finish(),
                LayerTar::new().file("evil/pwned", b"x").finish(),
            ],
            error: Some("is a symlink to nothing inside the root"),
        },
        Hostile {
            name: "symlink to outside file, then the same name as a file",
            layers: vec![
                LayerTar::new()
                    .symlink("f", &format!("{out}/secret"))
                    .finish(),
                LayerTar::new().file("f", b"replaced").finish(),
            ],
            error: None,
        },
        Hostile {
            name: "symlink to outside dir, then a directory entry chmods it",
            layers: vec![
                LayerTar::new().symlink("d", out).finish(),
                LayerTar::new().dir_mode("d", 0o777).finish(),
            ],
            error: None,
        },
        Hostile {
            name: "hard link to a dot-dot path",
            layers: vec![LayerTar::new()
                .raw_hardlink("h", "../outside/secret")
                .finish()],
            error: Some("hard link's target climbs out of the root"),
        },
        Hostile {
            name: "hard link to an absolute host path",
            layers: vec![LayerTar::new()
                .raw_hardlink("h", &format!("{out}/secret"))
                .finish()],
            error: Some("does not exist"),
        },
        Hostile {
            name: "hard link through a symlink to outside",
            layers: vec![LayerTar::new()
                .symlink("s", out)
                .raw_hardlink("h", "s/secret")
                .finish()],
            error: Some("does not exist"),
        },
        Hostile {
            name: "whiteout through a symlink to outside",
            layers: vec![
                LayerTar::new().symlink("s", out).finish(),
                LayerTar::new().whiteout("s/secret").finish(),
            ],
            error: None,
        },
        Hostile {
            name: "opaque directory through a symlink to outside",
            layers: vec![
                LayerTar::new().symlink("s", out).finish(),
                LayerTar::new().opaque("s").finish(),
            ],
            error: None,
        },
        Hostile {
            name: "symlink chain climbing out",
            layers: vec![LayerTar::new()
                .symlink("a", "b/../../..")
                .dir("b")
                .symlink("c", "a/outside")
                .file("c/pwned", b"x")
                .finish()],
            error: Some("is a symlink to nothing inside the root"),
        },
        Hostile {
            name: "whiteout naming dot-dot",
            layers: vec![LayerTar::new().raw_file("dir/.wh...", b"").finish()],
            error: Some("a whiteout that names no file"),
        },
    ]
}

#[test]
fn malicious_layers_never_touch_anything_outside_the_target() {
    for case in hostile_corpus(&Scene::new().outside()) {
        let scene = Scene::new();
        // The corpus names the real sentinel path of this scene.
        let case = hostile_corpus(&scene.outside())
            .into_iter()
            .find(|c| c.name == case.name)
            .unwrap();
        let before = scene.outside_state();
        let result = apply_layers(&scene.root(), &case.layers);
        assert_eq!(
            scene.outside_state(),
            before,
            "{}: the outside changed",
            case.name
        );
        match (case.error, result) {
            (None, Ok(_)) => {}
            (Some(want), Err(e)) => assert!(
                e.to_string().contains(want),
                "{}: error `{e}` should say `{want}`",
                case.name
            ),
            (want, got) => panic!("{}: expected {want:?}, got {got:?}", case.name),
        }
        if is_root() {
            // The same layers as snapshots, merged: equally harmless.
            let snaps = scene.dir.path().join("snaps");
            fs::create_dir(&snaps).unwrap();
            for (i, layer) in case.layers.iter().enumerate() {
                let snap = snaps.join(i.to_string());
                fs::create_dir(&snap).unwrap();
                let mut record = Applier::new(
                    Root::open(&snap).unwrap(),
                    ApplyOptions::for_this_process(WhiteoutMode::Record),
                );
                let _ = apply::apply_tar(&layer[..], &mut record, None);
            }
            assert_eq!(
                scene.outside_state(),
                before,
                "{} (snapshots): the outside changed",
                case.name
            );
        }
    }
}

#[test]
fn the_absolute_name_lands_inside_the_root() {
    let scene = Scene::new();
    let name = format!("{}/pwned", scene.outside().display());
    apply_layers(
        &scene.root(),
        &[LayerTar::new().raw_file(&name, b"x").finish()],
    )
    .unwrap();
    let inside = scene.root().join(name.trim_start_matches('/'));
    assert_eq!(fs::read(inside).unwrap(), b"x");
}

#[test]
fn export_writes_the_tree_back_as_a_tar_that_applies_to_the_same_tree() {
    let scene = Scene::new();
    let layers = rule_layers();
    apply_layers(&scene.root(), &layers).unwrap();
    let (tar, count) =
        apply::export::write_tree(&Root::open(&scene.root()).unwrap(), Vec::new()).unwrap();
    assert!(count > 10);
    let again = scene.dir.path().join("again");
    fs::create_dir(&again).unwrap();
    apply_layers(&again, &[tar]).unwrap();
    assert_eq!(describe(&scene.root()), describe(&again));
}
