//! Crash consistency through the real binary: `kill -9` a `wharf load` or `wharf save` at
//! many points, then check that the store (or the output file) is still consistent and
//! that running the same command again finishes the job with nothing left over. Also two
//! loads at once sharing a base layer.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

/// Size of the big layer's one file: large enough that a load takes a while, small
/// enough to keep the tests quick.
const BIG: usize = 60 << 20;

/// Two images sharing a big base layer, built once for every test here.
struct Big {
    base: Layer,
    one: Image,
    two: Image,
}

fn big() -> &'static Big {
    static BIG_IMAGES: OnceLock<Big> = OnceLock::new();
    BIG_IMAGES.get_or_init(|| {
        // Incompressible, so gzip cannot shrink the layer.
        let bytes = data(BIG, 0x9E37_79B9_7F4A_7C15);
        let base = layer(&[("data/noise.bin", &bytes), ("etc/os-release", b"ID=big\n")]);
        let one = image("crash-one", vec![base.clone(), layer(&[("one", b"1")])]);
        let two = image("crash-two", vec![base.clone(), layer(&[("two", b"2")])]);
        Big { base, one, two }
    })
}

fn oci_archive_of(img: &Image, tag: &str) -> Vec<u8> {
    let index = named_index(img.manifest.descriptor(), tag);
    oci_archive(&img.blobs(), &index)
}

fn spawn(w: &Wharf, args: &[&str]) -> Child {
    w.command()
        .arg("--root")
        .arg(w.root())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// When to kill.
#[derive(Debug, Clone)]
enum At {
    /// This long after the start.
    After(Duration),
    /// Once a file this run writes under `dir` (relative to the test's temp dir, locks
    /// excepted) holds at least this many bytes. Files an earlier run left count only
    /// once they grow (a resumed partial ingest).
    Written(&'static str, u64),
    /// As soon as a file whose name ends so appears under `dir`.
    Appears(&'static str, String),
}

fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".lock"))
        .filter_map(|e| Some((e.path(), e.metadata().ok()?.len())))
        .collect()
}

fn reached(w: &Wharf, at: &At, started: Instant, before: &[(PathBuf, u64)]) -> bool {
    match at {
        At::After(d) => started.elapsed() >= *d,
        At::Written(dir, size) => files(&w.path(dir))
            .iter()
            .any(|(p, n)| n >= size && !before.iter().any(|(q, m)| q == p && m >= n)),
        At::Appears(dir, suffix) => files(&w.path(dir))
            .iter()
            .any(|(p, _)| p.to_string_lossy().ends_with(suffix.as_str())),
    }
}

/// Runs `wharf ARGS` and kills it with SIGKILL once `at` is reached. Returns whether the
/// kill landed (false: the command had already finished, successfully).
fn kill_at(w: &Wharf, args: &[&str], at: &At) -> bool {
    let before = match at {
        At::Written(dir, _) => files(&w.path(dir)),
        _ => Vec::new(),
    };
    let mut child = spawn(w, args);
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            assert!(status.success(), "wharf {args:?} failed: {stderr}");
            return false;
        }
        if reached(w, at, started, &before) {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            return true;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "wharf {args:?} never reached {at:?}"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// After a crash the store may hold debris (abandoned temp files, blobs published by a
/// commit that did not get to rewrite `index.json`), never damage: nothing corrupt,
/// missing or unreadable, and it still answers.
fn assert_consistent(w: &Wharf, context: &str) {
    let out = w.run(&["fsck"]);
    eprintln!("{context}: {}", out.stdout.replace('\n', " | "));
    for line in out.stdout.lines().skip(1) {
        assert!(
            line.starts_with("stray file ")
                || line.starts_with("orphaned blob ")
                || line.contains(" resumable partial download")
                || line.contains(" left by an interrupted command")
                || line == "the store is clean",
            "{context}: fsck found damage: {line}\n{}",
            out.stdout
        );
    }
    w.ok(&["images"]);
}

fn assert_clean(w: &Wharf) {
    let out = w.ok(&["fsck"]);
    assert!(out.ends_with("the store is clean\n"), "fsck: {out}");
    let staging: Vec<_> = ["store/.wharf/tmp", "store/.wharf/ingest"]
        .iter()
        .flat_map(|d| files(&w.path(d)))
        .collect();
    assert!(staging.is_empty(), "left in staging: {staging:?}");
}

fn assert_loaded(w: &Wharf, name: &str, img: &Image) {
    let ids = w.ok(&["images", "-q", "--no-trunc", name]);
    assert_eq!(ids, format!("{}\n", img.id()), "`wharf images {name}`");
    let doc: serde_json::Value = serde_json::from_str(&w.ok(&["inspect", name])).unwrap();
    assert_eq!(
        doc[0]["RootFS"]["Layers"],
        serde_json::json!(img.diff_ids()),
        "{name}"
    );
}

/// Kills one load at each point in turn (each attempt resuming what the last left), checks
/// the store after every kill, then loads to the end: a clean store holding the image.
fn crash_and_reload(w: &Wharf, args: &[&str], name: &str, img: &Image, points: &[At]) {
    let mut landed = 0;
    for at in points {
        if kill_at(w, args, at) {
            landed += 1;
            assert_consistent(w, &format!("after a kill at {at:?}"));
        }
    }
    assert!(
        landed >= points.len() / 2,
        "only {landed} of {} kills landed mid-load",
        points.len()
    );
    w.ok(args);
    assert_clean(w);
    assert_loaded(w, name, img);
}

const INGEST: &str = "store/.wharf/ingest";
const TMP: &str = "store/.wharf/tmp";
const BLOBS: &str = "store/blobs/sha256";

#[test]
fn kill_during_oci_archive_load_then_load_again() {
    let big = big();
    let w = Wharf::new();
    let archive = w.write("one.oci.tar", &oci_archive_of(&big.one, "1"));
    // Blobs with known digests are ingested as resumable partials: each attempt carries
    // on from where the killed one stopped.
    crash_and_reload(
        &w,
        &["load", "-i", s(&archive), "-t", "crash-oci"],
        "crash-oci:1",
        &big.one,
        &[
            At::After(Duration::from_millis(5)),
            At::After(Duration::from_millis(30)),
            At::Written(INGEST, 1 << 20),
            At::Written(INGEST, 20 << 20),
            At::Written(INGEST, 45 << 20),
            // The big layer verified, not yet committed.
            At::Appears(INGEST, format!("{}.verified", big.base.digest().hex())),
            // Published into `blobs/`, `index.json` not yet rewritten.
            At::Appears(BLOBS, big.base.digest().hex().into()),
        ],
    );
}

#[test]
fn kill_during_docker_archive_load_then_load_again() {
    let big = big();
    let w = Wharf::new();
    let archive = w.write(
        "one.docker.tar",
        &docker_archive(&[(&big.one, &["crash-docker:1"])]),
    );
    // Legacy layer tars are named by no digest: they are written to temp files.
    crash_and_reload(
        &w,
        &["load", "-i", s(&archive)],
        "crash-docker:1",
        &big.one,
        &[
            At::After(Duration::from_millis(5)),
            At::After(Duration::from_millis(30)),
            At::Written(TMP, 1 << 20),
            At::Written(TMP, 30 << 20),
            At::Written(TMP, 55 << 20),
            At::Appears(BLOBS, big.base.diff_id().hex().into()),
            At::After(Duration::from_millis(100)),
        ],
    );
}

/// `wharf save -o FILE` killed at any point leaves no FILE (or the previous FILE intact),
/// only its hidden temp file beside it (`.NAME.PID-N.tmp`, from `wharf_fs::AtomicFile`).
#[test]
fn kill_during_save_leaves_no_partial_output() {
    let big = big();
    let w = Wharf::new();
    let archive = w.write("one.oci.tar", &oci_archive_of(&big.one, "1"));
    w.ok(&["load", "-i", s(&archive), "-t", "crash-save"]);
    let out_dir = w.path("out");
    std::fs::create_dir(&out_dir).unwrap();
    const OUT: &str = "out";
    for format in ["docker", "oci"] {
        let file = out_dir.join(format!("image.{format}.tar"));
        let args = ["save", "--format", format, "-o", s(&file), "crash-save:1"];
        let points = [
            At::After(Duration::from_millis(5)),
            At::Written(OUT, 1),
            At::Written(OUT, 10 << 20),
            At::Written(OUT, 40 << 20),
            At::Written(OUT, 60 << 20),
        ];
        let mut landed = 0;
        for at in &points {
            landed += usize::from(kill_at(&w, &args, at));
            assert!(
                !file.exists(),
                "{format}: a kill at {at:?} left `{}`",
                file.display()
            );
            assert_only_save_temps(&out_dir, None);
        }
        assert!(landed >= 3, "{format}: only {landed} kills landed");
        // A complete save, then killed saves over it: the old file stays whole.
        w.ok(&args);
        let whole = std::fs::read(&file).unwrap();
        for at in [At::Written(OUT, 2 << 20), At::Written(OUT, 30 << 20)] {
            kill_at(&w, &args, &at);
            assert_eq!(std::fs::read(&file).unwrap(), whole, "{format}: {at:?}");
            assert_only_save_temps(&out_dir, Some(&file));
        }
        // And the archive is good: a fresh store loads it.
        let w2 = Wharf::new();
        w2.ok(&["load", "-i", s(&file)]);
        assert_loaded(&w2, "crash-save:1", &big.one);
        // Saving never touched the store.
        assert_clean(&w);
        for (path, _) in files(&out_dir) {
            std::fs::remove_file(path).unwrap();
        }
    }
}

fn assert_only_save_temps(dir: &Path, finished: Option<&Path>) {
    for (path, _) in files(dir) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            (name.starts_with(".image.") && name.ends_with(".tmp"))
                || Some(path.as_path()) == finished,
            "unexpected `{name}` beside the output"
        );
    }
}

/// Two loads at once of archives sharing a big base layer: both succeed, the base is
/// stored once, the store is clean. Once with OCI archives (blobs named by digest, one
/// writer per digest), once with docker-archives (layers hashed as they arrive).
#[test]
fn concurrent_loads_share_the_base_layer() {
    let big = big();
    for kind in ["oci", "docker"] {
        let w = Wharf::new();
        let (a, b) = if kind == "oci" {
            (
                w.write("one.tar", &oci_archive_of(&big.one, "1")),
                w.write("two.tar", &oci_archive_of(&big.two, "2")),
            )
        } else {
            (
                w.write("one.tar", &docker_archive(&[(&big.one, &["crash-pair:1"])])),
                w.write("two.tar", &docker_archive(&[(&big.two, &["crash-pair:2"])])),
            )
        };
        let mut one = spawn(&w, &["load", "-i", s(&a), "-t", "crash-pair"]);
        let mut two = spawn(&w, &["load", "-i", s(&b), "-t", "crash-pair"]);
        for (child, what) in [(&mut one, "one"), (&mut two, "two")] {
            let status = child.wait().unwrap();
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            assert!(status.success(), "{kind}: load of {what} failed: {stderr}");
        }
        assert_clean(&w);
        assert_loaded(&w, "crash-pair:1", &big.one);
        assert_loaded(&w, "crash-pair:2", &big.two);
        let base = if kind == "oci" {
            big.base.digest()
        } else {
            big.base.diff_id()
        };
        let stored: Vec<String> = files(&w.path(BLOBS))
            .into_iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            stored.iter().filter(|n| *n == base.hex()).count(),
            1,
            "{kind}: {stored:?}"
        );
        // Base, two top layers, two configs, two manifests: nothing twice.
        assert_eq!(stored.len(), 7, "{kind}: {stored:?}");
    }
}
