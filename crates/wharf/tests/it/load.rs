//! `wharf load` from every kind of source, and what the store holds afterwards.

use serde_json::Value;

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn inspect(w: &Wharf, args: &[&str]) -> Value {
    let mut full = vec!["inspect"];
    full.extend(args);
    let docs: Value = serde_json::from_str(&w.ok(&full)).unwrap();
    assert_eq!(docs.as_array().unwrap().len(), 1);
    docs[0].clone()
}

fn repo_tags(w: &Wharf, image: &str) -> Vec<String> {
    serde_json::from_value(inspect(w, &[image])["RepoTags"].clone()).unwrap()
}

/// (name or "", target digest) of every `index.json` entry, sorted.
fn index_entries(w: &Wharf) -> Vec<(String, String)> {
    let index: Value =
        serde_json::from_slice(&std::fs::read(w.root().join("index.json")).unwrap()).unwrap();
    let mut out: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let name = d["annotations"][REF_NAME]
                .as_str()
                .unwrap_or("")
                .to_string();
            (name, d["digest"].as_str().unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}

fn tag_only_layout(w: &Wharf, name: &str, img: &Image, tag: &str) -> String {
    let dir = w.path(name);
    write_image_layout(&dir, img, tag);
    s(&dir).to_string()
}

#[test]
fn layout_whose_ref_name_is_a_tag_takes_its_name_from_t() {
    let w = Wharf::new();
    let img = image_on(&base_layer(), "app");
    let dir = tag_only_layout(&w, "layout", &img, "v1");
    assert_eq!(
        w.ok(&["load", "-i", &dir, "-t", "app"]),
        "Loaded image: app:v1\n"
    );
    assert_eq!(
        w.ok(&["load", "-i", &dir, "-t", "example.com/team/app:2"]),
        "Loaded image: example.com/team/app:2\n"
    );
    let doc = inspect(&w, &["app:v1"]);
    assert_eq!(doc["Id"], img.id());
    assert_eq!(
        doc["RepoTags"],
        serde_json::json!(["app:v1", "example.com/team/app:2"])
    );
    assert_eq!(
        doc["Descriptor"]["digest"],
        img.manifest.digest().to_string()
    );
    // Every blob once: manifest, config and two layers.
    assert_eq!(w.blob_files().len(), 4);
    assert!(w.ok(&["fsck"]).contains("the store is clean"));
}

#[test]
fn layout_without_t_loads_a_dangling_image_and_says_how_to_name_it() {
    let w = Wharf::new();
    let img = image_on(&base_layer(), "app");
    let dir = tag_only_layout(&w, "layout", &img, "v1");
    let out = w.run(&["load", "-i", &dir]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, format!("Loaded image ID: {}\n", img.id()));
    assert!(out.stderr.starts_with("hint: "), "{}", out.stderr);
    assert!(out.stderr.contains("wharf load -t"), "{}", out.stderr);
    let images = w.ok(&["images"]);
    assert!(
        images
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("<none>       <none>"),
        "{images}"
    );
    assert_eq!(
        index_entries(&w),
        vec![(String::new(), img.manifest.digest().to_string())]
    );
    // Naming it afterwards replaces the dangling entry rather than adding a second one.
    w.ok(&["tag", &img.id()[7..19], "app:v1"]);
    assert_eq!(
        index_entries(&w),
        vec![(
            "docker.io/library/app:v1".to_string(),
            img.manifest.digest().to_string()
        )]
    );
}

#[test]
fn oci_archive_plain_and_gzipped() {
    let w = Wharf::new();
    let base = base_layer();
    let a = image_on(&base, "a");
    let b = image_on(&base, "b");
    let full = named_index(a.manifest.descriptor(), "example.com/team/web:1.0");
    let plain = w.write("a.tar", &oci_archive(&a.blobs(), &full));
    assert_eq!(
        w.ok(&["load", "-i", s(&plain)]),
        "Loaded image: example.com/team/web:1.0\n"
    );
    let tag_only = named_index(b.manifest.descriptor(), "2");
    let gz = w.write("b.tar.gz", &gzip(&oci_archive(&b.blobs(), &tag_only)));
    assert_eq!(
        w.ok(&["load", "-i", s(&gz), "-t", "web"]),
        "Loaded image: web:2\n"
    );
    // The base layer is stored once: 2 manifests + 2 configs + base + 2 app layers.
    assert_eq!(w.blob_files().len(), 7);
    let doc = inspect(&w, &["web:2"]);
    assert_eq!(doc["Id"], b.id());
    assert_eq!(doc["RootFS"]["Layers"], serde_json::json!(b.diff_ids()));
    assert_eq!(doc["Descriptor"]["digest"], b.manifest.digest().to_string());
}

#[test]
fn docker_archive_with_several_images_sharing_a_layer() {
    let w = Wharf::new();
    let base = base_layer();
    let a = image_on(&base, "a");
    let b = image_on(&base, "b");
    let archive = w.write(
        "images.tar",
        &docker_archive(&[
            (&a, &["a:1", "registry.example:5000/a:latest"]),
            (&b, &["b:1"]),
        ]),
    );
    assert_eq!(
        w.ok(&["load", "-i", s(&archive)]),
        "Loaded image: a:1\nLoaded image: registry.example:5000/a:latest\nLoaded image: b:1\n"
    );
    // Two synthesized manifests, two configs, the shared base once, two app layers.
    assert_eq!(w.blob_files().len(), 7);
    assert!(w.blob_files().contains(&base.diff_id().hex().to_string()));
    assert_eq!(
        repo_tags(&w, "a:1"),
        vec!["a:1", "registry.example:5000/a:latest"]
    );
    let doc = inspect(&w, &["b:1"]);
    assert_eq!(doc["Id"], b.id());
    assert_eq!(doc["RootFS"]["Layers"], serde_json::json!(b.diff_ids()));
    assert_eq!(doc["Size"], b.content_size());
    assert!(w.ok(&["fsck"]).contains("the store is clean"));
}

#[test]
fn docker_archive_whose_repeated_layer_is_a_symlink() {
    // `docker save` writes a layer once and links later images' copies to it.
    let w = Wharf::new();
    let base = base_layer();
    let a = image_on(&base, "a");
    let b = image_on(&base, "b");
    let dir_of = |l: &Layer| l.diff_id().hex().to_string();
    let linked_dir = "0".repeat(64);
    let a_base = format!("{}/layer.tar", dir_of(&base));
    let a_app = format!("{}/layer.tar", dir_of(&a.layers[1]));
    let b_base = format!("{linked_dir}/layer.tar");
    let b_app = format!("{}/layer.tar", dir_of(&b.layers[1]));
    let a_config = format!("{}.json", a.config_digest().hex());
    let b_config = format!("{}.json", b.config_digest().hex());
    let link_target = format!("../{}/layer.tar", dir_of(&base));
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": a_config, "RepoTags": ["a:1"], "Layers": [a_base, a_app]},
        {"Config": b_config, "RepoTags": ["b:1"], "Layers": [b_base, b_app]},
    ]))
    .unwrap();
    let archive = tar_members(&[
        Member::File(&a_base, &base.tar),
        Member::File(&a_app, &a.layers[1].tar),
        Member::File(&a_config, &a.config),
        Member::Symlink(&b_base, &link_target),
        Member::File(&b_app, &b.layers[1].tar),
        Member::File(&b_config, &b.config),
        Member::File("manifest.json", &manifest),
    ]);
    let path = w.write("linked.tar", &archive);
    assert_eq!(
        w.ok(&["load", "-i", s(&path)]),
        "Loaded image: a:1\nLoaded image: b:1\n"
    );
    assert_eq!(w.blob_files().len(), 7);
    let doc = inspect(&w, &["b:1"]);
    assert_eq!(doc["Id"], b.id());
    assert_eq!(doc["RootFS"]["Layers"], serde_json::json!(b.diff_ids()));
    assert!(w.ok(&["fsck"]).contains("the store is clean"));
}

#[test]
fn docker25_archive_is_named_from_the_containerd_annotation() {
    let w = Wharf::new();
    let img = image_on(&base_layer(), "c");
    let bytes = docker25_archive(&img, "c", "2");
    // The archive's own manifest is kept byte for byte (not re-synthesized).
    let index: Value = serde_json::from_slice(&tar_member(&bytes, "index.json")).unwrap();
    let manifest_digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path = w.write("c.tar", &bytes);
    assert_eq!(w.ok(&["load", "-i", s(&path)]), "Loaded image: c:2\n");
    let doc = inspect(&w, &["c:2"]);
    assert_eq!(doc["Id"], img.id());
    assert_eq!(doc["RepoTags"], serde_json::json!(["c:2"]));
    assert_eq!(doc["Descriptor"]["digest"], manifest_digest);
    assert_eq!(doc["RootFS"]["Layers"], serde_json::json!(img.diff_ids()));
    // Layers stay uncompressed, as the archive has them: their digests are the diff_ids.
    for diff_id in img.diff_ids() {
        assert!(w.blob_files().contains(&diff_id[7..].to_string()));
    }
}

fn tar_member(archive: &[u8], name: &str) -> Vec<u8> {
    let mut ar = tar::Archive::new(archive);
    for entry in ar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(name) {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut out).unwrap();
            return out;
        }
    }
    panic!("no `{name}` in the archive");
}

#[test]
fn multi_platform_index_stores_every_child_and_resolves_platforms() {
    let w = Wharf::new();
    let multi = multi_platform();
    let dir = w.path("multi");
    let index = named_index(multi.descriptor(), "1.0");
    write_oci_layout(&dir, &multi.blobs(), &index);
    assert_eq!(
        w.ok(&["load", "-i", s(&dir), "-t", "multi"]),
        "Loaded image: multi:1.0\n"
    );
    // The index, and each platform's manifest, config and layer.
    assert_eq!(w.blob_files().len(), 7);
    let (amd, _) = &multi.images[0];
    let (arm, _) = &multi.images[1];
    let doc = inspect(&w, &["multi:1.0", "--platform", "linux/arm64"]);
    assert_eq!(doc["Id"], arm.id());
    assert_eq!(doc["Architecture"], "arm64");
    // The config names no variant (only the index does); Docker omits an empty one.
    assert!(doc.get("Variant").is_none(), "{doc}");
    assert_eq!(doc["Config"]["Cmd"], serde_json::json!(["arm"]));
    assert_eq!(doc["RootFS"]["Layers"], serde_json::json!(arm.diff_ids()));
    assert_eq!(doc["Descriptor"]["digest"], multi.digest().to_string());
    if std::env::consts::ARCH == "x86_64" {
        let doc = inspect(&w, &["multi:1.0"]);
        assert_eq!(doc["Id"], amd.id());
        assert_eq!(doc["Architecture"], "amd64");
    }
    let doc = inspect(&w, &["multi:1.0", "--platform", "linux/amd64"]);
    assert_eq!(doc["Id"], amd.id());
    let err = w.fails(&["inspect", "multi:1.0", "--platform", "linux/s390x"]);
    assert!(err.contains("linux/s390x"), "{err}");
}

#[test]
fn loading_the_same_sources_twice_changes_nothing() {
    let w = Wharf::new();
    let base = base_layer();
    let a = image_on(&base, "a");
    let b = image_on(&base, "b");
    let legacy = w.write("ab.tar", &docker_archive(&[(&a, &["a:1"]), (&b, &["b:1"])]));
    let dir = tag_only_layout(&w, "layout", &a, "v1");
    let multi = multi_platform();
    let multi_dir = w.path("multi");
    write_oci_layout(
        &multi_dir,
        &multi.blobs(),
        &named_index(multi.descriptor(), "m:1"),
    );
    let sources: [&[&str]; 3] = [
        &["load", "-i", s(&legacy)],
        &["load", "-i", &dir, "-t", "layout"],
        &["load", "-i", s(&multi_dir)],
    ];
    for args in sources {
        w.ok(args);
    }
    let entries = index_entries(&w);
    let blobs = w.blob_files();
    assert_eq!(entries.len(), 4, "{entries:?}");
    for args in sources {
        w.ok(args);
    }
    assert_eq!(index_entries(&w), entries);
    assert_eq!(w.blob_files(), blobs);
    assert!(w.staging_debris().is_empty(), "{:?}", w.staging_debris());
}

#[test]
fn gzipped_docker_archive_saved_by_id() {
    // `docker save IMAGE_ID | gzip`: `RepoTags` is null.
    let w = Wharf::new();
    let img = image_on(&base_layer(), "app");
    let layer_names: Vec<String> = img
        .layers
        .iter()
        .map(|l| format!("{}/layer.tar", l.diff_id().hex()))
        .collect();
    let config_name = format!("{}.json", img.config_digest().hex());
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": config_name, "RepoTags": null, "Layers": layer_names},
    ]))
    .unwrap();
    let archive = tar_members(&[
        Member::File(&layer_names[0], &img.layers[0].tar),
        Member::File(&layer_names[1], &img.layers[1].tar),
        Member::File(&config_name, &img.config),
        Member::File("manifest.json", &manifest),
    ]);
    let path = w.write("by-id.tar.gz", &gzip(&archive));
    let out = w.run(&["load", "-i", s(&path)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, format!("Loaded image ID: {}\n", img.id()));
    assert!(out.stderr.starts_with("hint: "), "{}", out.stderr);
    assert_eq!(
        w.ok(&["load", "-i", s(&path), "-t", "app:1"]),
        "Loaded image: app:1\n"
    );
    // Named now: the dangling entry is gone, not listed beside the name.
    assert_eq!(
        index_entries(&w),
        vec![(
            "docker.io/library/app:1".to_string(),
            inspect(&w, &["app:1"])["Descriptor"]["digest"]
                .as_str()
                .unwrap()
                .to_string()
        )]
    );
    assert_eq!(inspect(&w, &["app:1"])["Id"], img.id());
}

#[test]
fn loads_from_standard_input_like_docker_load() {
    let w = Wharf::new();
    let img = image_on(&base_layer(), "stdin");
    let archive = gzip(&docker_archive(&[(&img, &["piped:1"])]));
    let out = w.cmd(&["load"]).write_stdin(archive).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "Loaded image: piped:1\n"
    );
    assert_eq!(inspect(&w, &["piped:1"])["Id"], img.id());

    // `wharf save NAME | wharf load` into another store: the same image.
    let saved = w.cmd(&["save", "piped:1"]).output().unwrap();
    assert!(saved.status.success());
    let other = Wharf::new();
    let out = other
        .cmd(&["load", "-i", "-"])
        .write_stdin(saved.stdout)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(inspect(&other, &["piped:1"])["Id"], img.id());

    // Garbage on standard input is refused by name, and the store stays empty.
    let out = other
        .cmd(&["load"])
        .write_stdin(b"not an archive".to_vec())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("standard input"), "{err}");
}

/// A layer damaged on disk in the store is caught by `save` in either format, naming the
/// layer, and no archive is left at `-o`: a save never spreads bytes the store no longer
/// vouches for.
#[test]
fn save_refuses_a_layer_damaged_in_the_store() {
    let w = Wharf::new();
    let img = image(
        "damaged",
        vec![base_layer(), layer(&[("app/data", b"payload")])],
    );
    let archive = w.write("in.tar", &docker_archive(&[(&img, &["damaged:1"])]));
    w.ok(&["load", "-i", s(&archive)]);
    // A docker-archive's layers are stored as they are: plain, named by their diff_id.
    let top = img.layers[1].diff_id();
    let path = w.root().join("blobs/sha256").join(top.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[600] ^= 1; // inside the file's content, past the first tar header
    std::fs::write(&path, bytes).unwrap();

    for format in ["oci", "docker"] {
        let out = w.path(&format!("out-{format}.tar"));
        let err = w.fails(&["save", "--format", format, "-o", s(&out), "damaged:1"]);
        assert!(err.contains(top.hex()), "{format}: {err}");
        assert!(
            err.contains("does not match"),
            "{format}: the damage is named: {err}"
        );
        assert!(!out.exists(), "{format}: no archive after a failed save");
    }
}
