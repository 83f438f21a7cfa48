//! `wharf image inspect` / `wharf inspect`: Docker's document, and every way to name an image.

use serde_json::{json, Value};

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

/// `app:1` (an OCI layout, gzip layers) and `other:1` (a docker-archive).
fn store() -> (Wharf, Image, Image) {
    let w = Wharf::new();
    let base = base_layer();
    let app = image_on(&base, "app");
    let other = image_on(&base, "other");
    let dir = w.path("app");
    write_image_layout(&dir, &app, "app:1");
    w.ok(&["load", "-i", s(&dir)]);
    let archive = w.write("other.tar", &docker_archive(&[(&other, &["other:1"])]));
    w.ok(&["load", "-i", s(&archive)]);
    (w, app, other)
}

fn inspect(w: &Wharf, image: &str) -> Value {
    let docs: Value = serde_json::from_str(&w.ok(&["inspect", image])).unwrap();
    assert_eq!(docs.as_array().unwrap().len(), 1, "{docs}");
    docs[0].clone()
}

#[test]
fn document_matches_the_image() {
    let (w, app, _) = store();
    w.ok(&["tag", "app:1", "example.com/team/app:2"]);
    let out = w.ok(&["image", "inspect", "app:1"]);
    w.settings().bind(|| insta::assert_snapshot!(out));
    let doc: Value = serde_json::from_str(&out).unwrap();
    let doc = &doc[0];
    assert_eq!(doc["Id"], app.id());
    assert_eq!(
        doc["RootFS"],
        json!({"Type": "layers", "Layers": app.diff_ids()})
    );
    assert_eq!(doc["RepoTags"], json!(["app:1", "example.com/team/app:2"]));
    let manifest = app.manifest.digest().to_string();
    // Loaded from an archive, never pulled: no registry knows it by digest (as in Docker).
    assert_eq!(doc["RepoDigests"], json!([]));
    assert_eq!(doc["Size"], app.content_size());
    assert_eq!(doc["Descriptor"]["digest"], manifest);
    assert_eq!(doc["Descriptor"]["size"], app.manifest.bytes().len());
    assert_eq!(doc["Created"], CREATED);
    assert_eq!(doc["Architecture"], "amd64");
    assert_eq!(doc["Os"], "linux");
    assert_eq!(doc["Config"]["Cmd"], json!(["app"]));
    assert_ne!(doc["Metadata"]["LastTagTime"], "0001-01-01T00:00:00Z");
    // `inspect` and `image inspect` are the same command.
    assert_eq!(w.ok(&["inspect", "app:1"]), out);
}

#[test]
fn never_tagged_image_has_docker_zero_tag_time() {
    let (w, _, other) = store();
    let doc = inspect(&w, "other:1");
    assert_eq!(doc["Metadata"]["LastTagTime"], "0001-01-01T00:00:00Z");
    assert_eq!(doc["Id"], other.id());
    assert_eq!(doc["Size"], other.content_size());
    assert_eq!(doc["RootFS"]["Layers"], json!(other.diff_ids()));
}

#[test]
fn every_way_of_naming_an_image_finds_it() {
    let (w, app, other) = store();
    let id = app.id();
    let hex = &id[7..];
    let manifest = app.manifest.digest().to_string();
    for input in [
        "app:1".to_string(),
        "docker.io/library/app:1".to_string(),
        id.clone(),
        hex.to_string(),
        hex[..12].to_string(),
        hex[..5].to_string(),
        format!("app@{manifest}"),
        format!("docker.io/library/app@{manifest}"),
        // A digest beside a tag wins over the tag, as in Docker.
        format!("app:nosuchtag@{manifest}"),
    ] {
        let doc = inspect(&w, &input);
        assert_eq!(doc["Id"], id, "{input}");
    }
    assert_eq!(inspect(&w, &other.id()[7..19])["Id"], other.id());
}

#[test]
fn unknown_image_fails_with_a_hint() {
    let (w, _, _) = store();
    for input in [
        "nosuch",
        "app:2",
        "sha256:0123456789abcdef",
        "app@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let out = w.run(&["inspect", input]);
        assert_ne!(out.code, 0, "{input}");
        assert_eq!(out.stdout, "[]\n", "{input}");
        let mut lines = out.stderr.lines();
        let first = lines.next().unwrap();
        assert!(first.contains("No such image"), "{input}: {}", out.stderr);
        assert!(first.contains(input), "{input}: {}", out.stderr);
        assert!(
            lines.any(|l| l.starts_with("hint: ")),
            "{input}: {}",
            out.stderr
        );
    }
}

#[test]
fn ambiguous_short_id_is_an_error() {
    let w = Wharf::new();
    // Enough images that two IDs share their first hex digit (there are only 16).
    let images: Vec<Image> = (0..17)
        .map(|i| image(&format!("cmd{i}"), vec![base_layer()]))
        .collect();
    let named: Vec<(Image, [String; 1])> = images
        .iter()
        .enumerate()
        .map(|(i, img)| (img.clone(), [format!("img:{i}")]))
        .collect();
    let items: Vec<(&Image, Vec<&str>)> = named
        .iter()
        .map(|(img, names)| (img, names.iter().map(String::as_str).collect()))
        .collect();
    let items: Vec<(&Image, &[&str])> = items.iter().map(|(img, n)| (*img, n.as_slice())).collect();
    w.ok(&[
        "load",
        "-i",
        s(&w.write("all.tar", &docker_archive(&items))),
    ]);
    let prefix = (0..16)
        .map(|d| format!("{d:x}"))
        .find(|p| {
            images
                .iter()
                .filter(|i| i.id()[7..].starts_with(p.as_str()))
                .count()
                > 1
        })
        .unwrap();
    let out = w.run(&["inspect", &prefix]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("ambiguous"), "{}", out.stderr);
    assert!(out.stderr.contains("hint: "), "{}", out.stderr);
    // The full ID of one of them is not.
    let one = images
        .iter()
        .find(|i| i.id()[7..].starts_with(prefix.as_str()))
        .unwrap();
    assert_eq!(inspect(&w, &one.id())["Id"], one.id());
}

#[test]
fn several_images_print_what_was_found_and_fail_for_the_rest() {
    let (w, app, other) = store();
    let out = w.run(&["inspect", "app:1", "nosuch", "other:1"]);
    assert_ne!(out.code, 0);
    let docs: Value = serde_json::from_str(&out.stdout).unwrap();
    let ids: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["Id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![app.id(), other.id()]);
    assert!(
        out.stderr.contains("No such image: `nosuch`"),
        "{}",
        out.stderr
    );
}
