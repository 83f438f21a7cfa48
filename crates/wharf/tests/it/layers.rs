//! `wharf layers`, `diff`, `ls` and `cat` on images of known contents, read from OCI
//! layouts (the library's tests read every other kind of source): the rendered tables,
//! the CI gates' exit codes, and the files' bytes.

use serde_json::Value;
use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

/// [`wasteful_image`] rebuilt with changes: content, mode, owner, a link target, a file added and
/// one removed, another command.
fn rebuilt() -> Image {
    let first = LayerTar::new()
        .file("big", &[7; 100_000])
        .dir("dir")
        .file("dir/a", &[1; 10])
        .file("dir/b", &[2; 20])
        .file_mode("keep", b"keep!", 0o600)
        .hardlink("hl", "keep")
        .symlink("sl", "dir/c")
        .finish();
    let second = LayerTar::new()
        .whiteout("big")
        .dir("dir")
        .opaque("dir")
        .file("dir/c", &[4; 30])
        .owner(1000, 1000)
        .file("new", b"1234567")
        .file("extra", b"more")
        .finish();
    image("other", vec![Layer::gzip(first), Layer::gzip(second)])
}

fn layout(w: &Wharf, name: &str, image: &Image) -> String {
    let dir = w.path(name);
    write_image_layout(&dir, image, "1");
    format!("oci:{}:1", s(&dir))
}

#[test]
fn layers_shows_what_each_layer_does_and_gates_on_waste() {
    let w = Wharf::new();
    let app = layout(&w, "app", &wasteful_image());
    let table = w.ok(&["layers", &app]);
    w.settings().bind(|| insta::assert_snapshot!(table));

    let json: Value = serde_json::from_str(&w.ok(&["layers", &app, "--format", "json"])).unwrap();
    assert_eq!(json["wasted_bytes"], 100_042);
    assert_eq!(json["files_bytes"], 100_085);
    assert_eq!(json["layers"][1]["removed"], 3);
    assert_eq!(json["layers"][1]["identical_bytes"], 5);

    // Efficiency is 100072 / 200115 = 50.007%; waste is 100042 bytes.
    w.ok(&[
        "layers",
        &app,
        "--fail-on-waste",
        "101kB",
        "--min-efficiency",
        "0.5",
    ]);
    let out = w.run(&["layers", &app, "--fail-on-waste", "100kB"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the image wastes 100042 bytes, over the 100000 allowed"),
        "{}",
        out.stderr
    );
    let out = w.run(&["layers", &app, "--min-efficiency", "51%"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("efficiency is 50.0%, under the 51.0% required"),
        "{}",
        out.stderr
    );
    let bad = w.fails(&["layers", &app, "--min-efficiency", "1.5"]);
    assert!(bad.contains("`1.5` is not between 0 and 1"), "{bad}");
}

#[test]
fn diff_lists_files_config_and_shared_layers() {
    let w = Wharf::new();
    let a = layout(&w, "a", &wasteful_image());
    let b = layout(&w, "b", &rebuilt());
    let out = w.ok(&["diff", &a, &b]);
    w.settings().bind(|| insta::assert_snapshot!(out));
    let json: Value = serde_json::from_str(&w.ok(&["diff", &a, &b, "--format", "json"])).unwrap();
    let changed: Vec<(&str, &str)> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["change"].as_str().unwrap()))
        .collect();
    assert_eq!(
        changed,
        vec![
            ("/dir/c", "changed"),
            ("/extra", "added"),
            ("/keep", "changed"),
            ("/new", "changed"),
            ("/sl", "changed"),
        ]
    );
    // An image compared with itself differs in nothing.
    let same: Value = serde_json::from_str(&w.ok(&["diff", &a, &a, "--format", "json"])).unwrap();
    assert_eq!(same["files"], serde_json::json!([]));
    assert_eq!(same["config"], serde_json::json!([]));
    assert_eq!(same["layers"]["same_blob"].as_array().unwrap().len(), 3);
}

#[test]
fn ls_and_cat_read_the_merged_filesystem() {
    let w = Wharf::new();
    let app = layout(&w, "app", &wasteful_image());
    let listing = w.ok(&["ls", &app]);
    w.settings().bind(|| insta::assert_snapshot!(listing));
    assert_eq!(
        w.ok(&["ls", &app, "/dir"]).lines().count(),
        2,
        "dir and dir/c"
    );
    assert_eq!(w.ok(&["cat", &app, "/keep"]), "keep!");
    assert_eq!(w.ok(&["cat", &app, "/hl"]), "keep!", "a hard link");
    assert_eq!(w.ok(&["cat", &app, "new"]), "12345678", "the top layer's");
    let gone = w.fails(&["cat", &app, "/sl"]);
    assert!(gone.contains("`/dir/a` is not in the image"), "{gone}");
    let dir = w.fails(&["cat", &app, "/dir"]);
    assert!(dir.contains("`/dir` is a directory"), "{dir}");
    let missing = w.fails(&["ls", &app, "/nothere"]);
    assert!(
        missing.contains("`/nothere` is not in the image"),
        "{missing}"
    );
}
