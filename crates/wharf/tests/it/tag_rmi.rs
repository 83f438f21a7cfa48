//! `wharf tag` and `wharf rmi`: names move, images go when nothing names them, shared
//! blobs stay.

use serde_json::Value;

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

/// Loads `images` from one docker-archive.
fn load(w: &Wharf, images: &[(&Image, &[&str])]) {
    w.ok(&[
        "load",
        "-i",
        s(&w.write("images.tar", &docker_archive(images))),
    ]);
}

fn inspect(w: &Wharf, image: &str) -> Value {
    let docs: Value = serde_json::from_str(&w.ok(&["inspect", image])).unwrap();
    docs[0].clone()
}

fn repo_tags(w: &Wharf, image: &str) -> Vec<String> {
    serde_json::from_value(inspect(w, image)["RepoTags"].clone()).unwrap()
}

/// The blobs of a docker-archive-loaded image: manifest (wharf's), config, layers.
fn blobs_of(w: &Wharf, image: &str) -> Vec<String> {
    let doc = inspect(w, image);
    let mut out = vec![
        doc["Descriptor"]["digest"].as_str().unwrap().to_string(),
        doc["Id"].as_str().unwrap().to_string(),
    ];
    // Docker-archive layers are stored uncompressed: their digests are the diff_ids.
    for l in doc["RootFS"]["Layers"].as_array().unwrap() {
        out.push(l.as_str().unwrap().to_string());
    }
    out
}

fn hexes(digests: &[String]) -> Vec<String> {
    let mut out: Vec<String> = digests.iter().map(|d| d[7..].to_string()).collect();
    out.sort();
    out
}

#[test]
fn tag_adds_a_second_name() {
    let w = Wharf::new();
    let app = image_on(&base_layer(), "app");
    load(&w, &[(&app, &["app:1"])]);
    assert_eq!(
        inspect(&w, "app:1")["Metadata"]["LastTagTime"],
        "0001-01-01T00:00:00Z"
    );
    assert_eq!(w.ok(&["tag", "app:1", "localhost:5000/app:2"]), "");
    assert_eq!(
        repo_tags(&w, "app:1"),
        vec!["app:1", "localhost:5000/app:2"]
    );
    let doc = inspect(&w, "localhost:5000/app:2");
    assert_eq!(doc["Id"], app.id());
    let time = doc["Metadata"]["LastTagTime"].as_str().unwrap();
    assert_ne!(time, "0001-01-01T00:00:00Z");
    assert!(
        chrono_like(time),
        "LastTagTime `{time}` is not an RFC 3339 time"
    );
    // `image tag` is the same command, and tagging by ID works too.
    w.ok(&["image", "tag", &app.id()[7..19], "app:3"]);
    assert_eq!(w.ok(&["images", "-q", "app"]).lines().count(), 2);
    assert_eq!(w.ok(&["images", "-q"]).lines().count(), 3);
}

fn chrono_like(time: &str) -> bool {
    time.len() >= 20 && time.as_bytes()[4] == b'-' && time.contains('T') && time.ends_with('Z')
}

#[test]
fn tag_moves_a_name_and_leaves_the_old_image_dangling() {
    let w = Wharf::new();
    let base = base_layer();
    let a = image_on(&base, "a");
    let b = image_on(&base, "b");
    load(&w, &[(&a, &["app:1"]), (&b, &["b:1"])]);
    w.ok(&["tag", "b:1", "app:1"]);
    assert_eq!(inspect(&w, "app:1")["Id"], b.id());
    assert_eq!(repo_tags(&w, "b:1"), vec!["b:1", "app:1"]);
    let images = w.ok(&["images"]);
    let dangling: Vec<&str> = images.lines().filter(|l| l.starts_with("<none>")).collect();
    assert_eq!(dangling.len(), 1, "{images}");
    assert!(dangling[0].contains(&a.id()[7..19]), "{images}");
    assert_eq!(inspect(&w, &a.id())["RepoTags"], serde_json::json!([]));
    // Its blobs are still there until a prune.
    assert_eq!(w.blob_files().len(), 7);
    assert!(w.ok(&["fsck"]).contains("the store is clean"));
}

#[test]
fn rmi_untags_while_another_name_remains() {
    let w = Wharf::new();
    let app = image_on(&base_layer(), "app");
    load(&w, &[(&app, &["app:1", "app:2"])]);
    let blobs = w.blob_files();
    assert_eq!(w.ok(&["rmi", "app:1"]), "Untagged: app:1\n");
    assert_eq!(repo_tags(&w, "app:2"), vec!["app:2"]);
    assert_eq!(w.blob_files(), blobs);
    w.fails(&["inspect", "app:1"]);
}

#[test]
fn rmi_of_the_last_name_deletes_the_image_but_not_shared_layers() {
    let w = Wharf::new();
    let base = base_layer();
    let a = image_on(&base, "a");
    let b = image_on(&base, "b");
    load(&w, &[(&a, &["a:1"]), (&b, &["b:1"])]);
    let a_blobs = blobs_of(&w, "a:1");
    let b_blobs = blobs_of(&w, "b:1");
    // Debris that is no part of `a` is not reported as deleted with it.
    let orphan = b"an orphaned blob".to_vec();
    let orphan_digest = wharf_spec::Digest::sha256_of(&orphan);
    std::fs::write(
        w.root().join("blobs/sha256").join(orphan_digest.hex()),
        &orphan,
    )
    .unwrap();
    let out = w.ok(&["image", "rm", "a:1"]);
    assert!(!out.contains(orphan_digest.hex()), "{out}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("Untagged: a:1"));
    let deleted: Vec<String> = lines
        .map(|l| {
            l.strip_prefix("Deleted: ")
                .unwrap_or_else(|| panic!("{out}"))
                .to_string()
        })
        .collect();
    // Everything of `a` except the base layer `b` still uses.
    let base_digest = base.diff_id().to_string();
    let only_a: Vec<String> = a_blobs
        .iter()
        .filter(|d| **d != base_digest)
        .cloned()
        .collect();
    assert_eq!(hexes(&deleted), hexes(&only_a));
    assert!(deleted.contains(&a.id()), "{out}");
    assert_eq!(w.blob_files(), hexes(&b_blobs));
    w.fails(&["inspect", "a:1"]);
    assert!(w.ok(&["fsck"]).contains("the store is clean"));
}

#[test]
fn rmi_by_id_of_an_image_in_two_repositories_must_be_forced() {
    let w = Wharf::new();
    let app = image_on(&base_layer(), "app");
    load(&w, &[(&app, &["app:1", "other:1"])]);
    let before = w.state();
    let short = &app.id()[7..19];
    let out = w.run(&["rmi", short]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("must be forced"), "{}", out.stderr);
    assert!(out.stderr.contains(short), "{}", out.stderr);
    assert!(out.stderr.contains("hint: "), "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(w.state(), before);
    let out = w.ok(&["rmi", "-f", short]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], &["Untagged: app:1", "Untagged: other:1"]);
    assert_eq!(lines.len(), 2 + 4, "{out}");
    assert!(
        lines.contains(&format!("Deleted: {}", app.id()).as_str()),
        "{out}"
    );
    assert!(w.blob_files().is_empty());
    assert_eq!(w.ok(&["images", "-q"]), "");
}

#[test]
fn rmi_by_id_of_an_image_tagged_in_one_repository_needs_no_force() {
    // Docker asks for `-f` only when the names span several repositories.
    let w = Wharf::new();
    let app = image_on(&base_layer(), "app");
    load(&w, &[(&app, &["app:1", "app:2"])]);
    let out = w.ok(&["rmi", &app.id()]);
    assert!(
        out.starts_with("Untagged: app:1\nUntagged: app:2\n"),
        "{out}"
    );
    assert!(out.contains(&format!("Deleted: {}", app.id())), "{out}");
    assert!(w.blob_files().is_empty());
}

#[test]
fn rmi_of_a_dangling_image_by_id() {
    let w = Wharf::new();
    let app = image_on(&base_layer(), "app");
    load(&w, &[(&app, &[])]);
    let out = w.ok(&["rmi", &app.id()[7..19]]);
    assert!(out.starts_with("Deleted: "), "{out}");
    assert!(!out.contains("Untagged"), "{out}");
    assert!(w.blob_files().is_empty());
}

#[test]
fn rmi_reports_each_failure_and_removes_the_rest() {
    let w = Wharf::new();
    let base = base_layer();
    let a = image_on(&base, "a");
    load(&w, &[(&a, &["a:1", "a:2"])]);
    let out = w.run(&["rmi", "nosuch", "a:1"]);
    assert_ne!(out.code, 0);
    assert_eq!(out.stdout, "Untagged: a:1\n");
    assert!(
        out.stderr.contains("No such image: `nosuch`"),
        "{}",
        out.stderr
    );
    assert_eq!(repo_tags(&w, "a:2"), vec!["a:2"]);
}

#[test]
fn tag_refuses_bad_names_and_missing_images() {
    let w = Wharf::new();
    let app = image_on(&base_layer(), "app");
    load(&w, &[(&app, &["app:1"])]);
    let before = w.state();
    let err = w.fails(&["tag", "nosuch", "app:2"]);
    assert!(err.contains("No such image: `nosuch`"), "{err}");
    let err = w.fails(&["tag", "app:1", "App:2"]);
    assert!(err.contains("must be lowercase"), "{err}");
    let digest = format!("app@{}", app.manifest.digest());
    let err = w.fails(&["tag", "app:1", &digest]);
    assert!(err.contains("digest"), "{err}");
    assert_eq!(w.state(), before);
}
