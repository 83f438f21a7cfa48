//! `wharf fsck`: corrupt, missing and orphaned blobs are found, and `--repair` removes
//! what is broken.

use std::os::unix::fs::PermissionsExt;

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

fn store() -> (Wharf, Image) {
    let w = Wharf::new();
    let app = image_on(&base_layer(), "app");
    let dir = w.path("layout");
    write_image_layout(&dir, &app, "app:1");
    w.ok(&["load", "-i", s(&dir)]);
    (w, app)
}

fn blob_path(w: &Wharf, digest: &wharf_spec::Digest) -> std::path::PathBuf {
    w.root().join("blobs/sha256").join(digest.hex())
}

fn flip_a_byte(path: &std::path::Path) {
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    perms.set_mode(0o644);
    std::fs::set_permissions(path, perms).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn clean_store() {
    let (w, _) = store();
    let out = w.run(&["fsck"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert!(
        out.stdout.starts_with("checked 4 blobs ("),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with("the store is clean\n"),
        "{}",
        out.stdout
    );
    assert_eq!(out.stderr, "");
}

#[test]
fn corrupt_layer_is_named_and_repair_removes_it() {
    let (w, app) = store();
    let layer = app.layers[1].digest();
    flip_a_byte(&blob_path(&w, &layer));
    let out = w.run(&["fsck"]);
    assert_ne!(out.code, 0);
    w.settings().bind(|| insta::assert_snapshot!(out.stdout));
    assert!(
        out.stdout.contains(&format!("corrupt blob `{layer}`")),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("--repair"), "{}", out.stderr);
    // Nothing else is reported.
    assert_eq!(out.stdout.matches("blob `").count(), 1, "{}", out.stdout);

    let out = w.run(&["fsck", "--repair"]);
    assert_ne!(out.code, 0, "a repair that loses a blob is not clean");
    assert!(!blob_path(&w, &layer).exists());
    assert_eq!(w.blob_files().len(), 3);
    // What remains: the image lacks a layer, which a reload brings back.
    let out = w.run(&["fsck"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stdout.contains(&format!("missing blob `{layer}`")),
        "{}",
        out.stdout
    );
    w.ok(&["load", "-i", s(&w.path("layout"))]);
    assert!(w.ok(&["fsck"]).ends_with("the store is clean\n"));
}

#[test]
fn missing_blob_is_reported() {
    let (w, app) = store();
    let config = app.config_digest();
    std::fs::remove_file(blob_path(&w, &config)).unwrap();
    let out = w.run(&["fsck"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stdout.contains(&format!("missing blob `{config}`")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&app.manifest.digest().to_string()),
        "{}",
        out.stdout
    );
}

#[test]
fn orphaned_blob_is_reported_and_repaired() {
    let (w, _) = store();
    let bytes = b"nothing references me".to_vec();
    let digest = wharf_spec::Digest::sha256_of(&bytes);
    std::fs::write(blob_path(&w, &digest), &bytes).unwrap();
    let out = w.run(&["fsck"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stdout.contains(&format!("orphaned blob `{digest}`")),
        "{}",
        out.stdout
    );
    // Everything it found, it repaired: exit 0, and the next check is clean.
    let out = w.run(&["fsck", "--repair"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.ends_with("repaired: the store is clean now\n"),
        "{}",
        out.stdout
    );
    assert!(!blob_path(&w, &digest).exists());
    assert!(w.ok(&["fsck"]).ends_with("the store is clean\n"));
}

#[test]
fn an_image_broken_by_repair_does_not_hide_the_others_and_can_be_removed() {
    let (w, app) = store();
    let other = image("other", vec![layer(&[("other", b"other")])]);
    w.ok(&[
        "load",
        "-i",
        s(&w.write("other.tar", &docker_archive(&[(&other, &["other:1"])]))),
    ]);
    flip_a_byte(&blob_path(&w, &other.config_digest()));
    w.run(&["fsck", "--repair"]);
    assert!(!blob_path(&w, &other.config_digest()).exists());

    let out = w.run(&["images"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    assert!(rows[0].starts_with("app "), "{}", out.stdout);
    assert!(out.stderr.contains("`other:1`"), "{}", out.stderr);
    assert_eq!(
        w.ok(&["images", "-q", "app"]),
        format!("{}\n", &app.id()[7..19])
    );

    let out = w.ok(&["rmi", "other:1"]);
    assert!(out.starts_with("Untagged: other:1\nDeleted: "), "{out}");
    assert!(w.ok(&["fsck"]).ends_with("the store is clean\n"));
    assert_eq!(w.run(&["images"]).stderr, "");
}
