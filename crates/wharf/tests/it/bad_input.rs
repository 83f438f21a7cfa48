//! Bad input to `wharf load`: each is refused with an error naming what is wrong, and the
//! store is left exactly as it was (same `index.json`, same blobs, no staging debris).

use std::os::unix::fs::symlink;
use std::path::PathBuf;

use serde_json::json;
use wharf_spec::{Descriptor, Digest};

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

struct Case {
    name: &'static str,
    input: PathBuf,
    /// Words the error must contain (the rule or the blob at fault).
    expect: Vec<String>,
    /// A truncated stream keeps its verified prefix as a resumable `.partial` ingest.
    resumable: bool,
}

fn case(name: &'static str, input: PathBuf, expect: &[&str]) -> Case {
    Case {
        name,
        input,
        expect: expect.iter().map(|s| s.to_string()).collect(),
        resumable: false,
    }
}

fn descriptor_of(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor::new(media_type, Digest::sha256_of(bytes), bytes.len() as u64)
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Where `needle` starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in haystack")
}

fn layout(w: &Wharf, name: &str, blobs: &[(Digest, Vec<u8>)], index: &[u8]) -> PathBuf {
    let dir = w.path(name);
    write_oci_layout(&dir, blobs, index);
    dir
}

fn flip_middle(mut bytes: Vec<u8>) -> Vec<u8> {
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    bytes
}

fn cases(w: &Wharf, img: &Image) -> Vec<Case> {
    let layer = &img.layers[1];
    let index = named_index(img.manifest.descriptor(), "bad:1");
    let oci = oci_archive(&img.blobs(), &index);
    let legacy = docker_archive(&[(img, &["bad:1"])]);
    let mut out = Vec::new();

    // Truncated in the middle of a blob.
    let cut = find(&oci, &layer.blob) + layer.blob.len() / 2;
    out.push(Case {
        resumable: true,
        ..case(
            "truncated OCI archive",
            w.write("truncated.oci.tar", &oci[..cut]),
            &["truncated"],
        )
    });
    let cut = find(&legacy, &layer.tar) + layer.tar.len() / 2;
    out.push(case(
        "truncated docker-archive",
        w.write("truncated.docker.tar", &legacy[..cut]),
        &["truncated"],
    ));
    let gz = gzip(&oci);
    out.push(Case {
        resumable: true,
        ..case(
            "truncated gzip OCI archive",
            w.write("truncated.oci.tar.gz", &gz[..gz.len() / 2]),
            &["truncated"],
        )
    });
    // A member cut short mid-way through its last 512-byte block.
    out.push(case(
        "archive cut after index.json's header",
        w.write(
            "cut-header.tar",
            &oci[..find(&oci, &index) + index.len() / 2],
        ),
        &["truncated"],
    ));

    // Bytes that do not match their digest.
    let mut blobs = img.blobs();
    blobs[3].1 = flip_middle(blobs[3].1.clone());
    out.push(case(
        "layer digest mismatch in a layout",
        layout(w, "mismatch-layer", &blobs, &index),
        &[layer.digest().hex(), "does not match"],
    ));
    let mut blobs = img.blobs();
    blobs[1].1 = flip_middle(blobs[1].1.clone());
    out.push(case(
        "config digest mismatch in a layout",
        layout(w, "mismatch-config", &blobs, &index),
        &[img.config_digest().hex(), "does not match"],
    ));
    let mut blobs = img.blobs();
    blobs[3].1 = flip_middle(blobs[3].1.clone());
    out.push(case(
        "layer digest mismatch in an OCI archive",
        w.write("mismatch.oci.tar", &oci_archive(&blobs, &index)),
        &[layer.digest().hex(), "does not match"],
    ));
    let mut blobs = img.blobs();
    blobs[0].1 = flip_middle(blobs[0].1.clone());
    out.push(case(
        "manifest digest mismatch in an OCI archive",
        w.write("mismatch-manifest.oci.tar", &oci_archive(&blobs, &index)),
        &[img.manifest.digest().hex(), "does not match"],
    ));

    // A manifest naming a blob that is not there.
    let without_layer: Vec<_> = img
        .blobs()
        .into_iter()
        .filter(|(d, _)| *d != layer.digest())
        .collect();
    out.push(case(
        "missing layer in a layout",
        layout(w, "missing-layer", &without_layer, &index),
        &[layer.digest().hex(), "missing"],
    ));
    out.push(case(
        "missing layer in an OCI archive",
        w.write("missing.oci.tar", &oci_archive(&without_layer, &index)),
        &[layer.digest().hex(), "missing"],
    ));
    let without_config: Vec<_> = img
        .blobs()
        .into_iter()
        .filter(|(d, _)| *d != img.config_digest())
        .collect();
    out.push(case(
        "missing config in a layout",
        layout(w, "missing-config", &without_config, &index),
        &[img.config_digest().hex()],
    ));
    let missing_manifest = named_index(descriptor_of(OCI_MANIFEST, b"{}"), "bad:1");
    out.push(case(
        "index.json names a missing manifest",
        w.write(
            "missing-manifest.oci.tar",
            &oci_archive(&img.blobs(), &missing_manifest),
        ),
        &[Digest::sha256_of(b"{}").hex(), "missing"],
    ));
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    files.push((
        format!("{}.json", img.config_digest().hex()),
        img.config.clone(),
    ));
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&json!([{"Config": format!("{}.json", img.config_digest().hex()), "RepoTags": ["bad:1"], "Layers": ["nothere/layer.tar", "nothere2/layer.tar"]}])).unwrap(),
    ));
    out.push(case(
        "docker-archive names a missing layer",
        w.write("missing-layer.docker.tar", &tar_files(&files)),
        &["nothere/layer.tar", "missing"],
    ));

    // Malformed JSON.
    out.push(case(
        "malformed index.json in a layout",
        layout(
            w,
            "bad-index",
            &img.blobs(),
            b"{\"schemaVersion\": 2, \"manifests\": [",
        ),
        &["index.json", "malformed"],
    ));
    out.push(case(
        "malformed index.json in an OCI archive",
        w.write(
            "bad-index.oci.tar",
            &oci_archive(&img.blobs(), b"{\"manifests\": 7}"),
        ),
        &["index.json", "malformed"],
    ));
    let bad_manifest = b"{\"schemaVersion\": 2, \"config\": ".to_vec();
    let mut blobs = img.blobs();
    blobs.push((Digest::sha256_of(&bad_manifest), bad_manifest.clone()));
    out.push(case(
        "malformed manifest",
        layout(
            w,
            "bad-manifest",
            &blobs,
            &named_index(descriptor_of(OCI_MANIFEST, &bad_manifest), "bad:1"),
        ),
        &[Digest::sha256_of(&bad_manifest).hex()],
    ));
    let bad_config = b"{\"architecture\": \"amd64\", \"rootfs\": ".to_vec();
    let broken = Image::new(bad_config.clone(), img.layers.clone(), KeyOrder::Sorted);
    let mut blobs = img.blobs();
    blobs.push((broken.config_digest(), bad_config.clone()));
    let manifest = broken.manifest.bytes().to_vec();
    blobs.push((broken.manifest.digest().clone(), manifest));
    out.push(case(
        "malformed config",
        w.write(
            "bad-config.oci.tar",
            &oci_archive(&blobs, &named_index(broken.manifest.descriptor(), "bad:1")),
        ),
        &[Digest::sha256_of(&bad_config).hex()],
    ));
    let mut files = docker_files(&[(img, &["bad:1"])]);
    files.retain(|(n, _)| n != "manifest.json");
    files.push(("manifest.json".into(), b"[{\"Config\": ".to_vec()));
    out.push(case(
        "malformed manifest.json",
        w.write("bad-manifest-json.docker.tar", &tar_files(&files)),
        &["manifest.json", "malformed"],
    ));
    let mut files = docker_files(&[(img, &["bad:1"])]);
    for (name, bytes) in &mut files {
        if name.ends_with(".json") && name != "manifest.json" {
            *bytes = b"{\"os\": ".to_vec();
        }
    }
    out.push(case(
        "malformed config in a docker-archive",
        w.write("bad-config.docker.tar", &tar_files(&files)),
        &["config"],
    ));

    // Member names that escape the archive.
    let mut members: Vec<Member> = vec![Member::File("../evil", b"x")];
    let oci_files = oci_files(&img.blobs(), &index);
    members.extend(oci_files.iter().map(|(n, b)| Member::File(n, b)));
    out.push(case(
        "member name with ..",
        w.write("dotdot.tar", &tar_members(&members)),
        &["../evil", "unsafe path"],
    ));
    members[0] = Member::File("/etc/evil", b"x");
    out.push(case(
        "absolute member name",
        w.write("absolute.tar", &tar_members(&members)),
        &["/etc/evil", "unsafe path"],
    ));
    members[0] = Member::File("blobs/../../evil", b"x");
    out.push(case(
        "member name escaping through blobs/",
        w.write("dotdot2.tar", &tar_members(&members)),
        &["blobs/../../evil", "unsafe path"],
    ));
    members[0] = Member::Symlink("link", "../../etc/passwd");
    out.push(case(
        "member linking outside the archive",
        w.write("link-out.tar", &tar_members(&members)),
        &["../../etc/passwd", "outside"],
    ));
    let blob_link = format!("blobs/sha256/{}", layer.digest().hex());
    let mut linked: Vec<Member> = oci_files
        .iter()
        .filter(|(n, _)| *n != blob_link)
        .map(|(n, b)| Member::File(n, b))
        .collect();
    linked.push(Member::File("elsewhere", &layer.blob));
    linked.push(Member::Symlink(&blob_link, "../../elsewhere"));
    out.push(case(
        "blob member that is a symlink",
        w.write("blob-link.tar", &tar_members(&linked)),
        &[layer.digest().hex(), "link"],
    ));

    // Symlinks in an OCI layout directory, even to files with the right content.
    let dir = layout(w, "symlinked-layer", &img.blobs(), &index);
    let real = w.write("real-layer", &layer.blob);
    let link = dir.join("blobs/sha256").join(layer.digest().hex());
    std::fs::remove_file(&link).unwrap();
    symlink(&real, &link).unwrap();
    out.push(case(
        "symlinked layer in a layout",
        dir,
        &[layer.digest().hex(), "symlink"],
    ));
    let dir = layout(w, "symlinked-manifest", &img.blobs(), &index);
    let real = w.write("real-manifest", img.manifest.bytes());
    let link = dir.join("blobs/sha256").join(img.manifest.digest().hex());
    std::fs::remove_file(&link).unwrap();
    symlink(&real, &link).unwrap();
    out.push(case(
        "symlinked manifest in a layout",
        dir,
        &[img.manifest.digest().hex(), "symlink"],
    ));
    let real = layout(w, "real-layout", &img.blobs(), &index);
    let dir = w.path("symlinked-blobs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("oci-layout"), OCI_LAYOUT).unwrap();
    std::fs::write(dir.join("index.json"), &index).unwrap();
    symlink(real.join("blobs"), dir.join("blobs")).unwrap();
    out.push(case(
        "symlinked blobs/ directory",
        dir,
        &["blobs", "symlink"],
    ));

    // Not an image at all.
    out.push(case(
        "a text file",
        w.write("notes.txt", b"this is not an image archive\n"),
        &["not"],
    ));
    out.push(case(
        "a tar without an image",
        w.write("other.tar", &tar_of(&[("README", b"hello")])),
        &["not an image archive"],
    ));
    out.push(case("an empty file", w.write("empty.tar", b""), &["empty"]));
    out.push(case(
        "a nonexistent path",
        w.path("does-not-exist.tar"),
        &["cannot load `INPUT`", "No such file"],
    ));
    let empty_dir = w.path("empty-dir");
    std::fs::create_dir(&empty_dir).unwrap();
    out.push(case("an empty directory", empty_dir, &["oci-layout"]));

    // Docker schema 1 is refused by name.
    let schema1 = serde_json::to_vec(&json!({"schemaVersion": 1, "name": "library/bad", "tag": "1", "architecture": "amd64", "fsLayers": [], "history": []})).unwrap();
    let mut blobs = img.blobs();
    blobs.push((Digest::sha256_of(&schema1), schema1.clone()));
    out.push(case(
        "schema1 manifest",
        w.write(
            "schema1.oci.tar",
            &oci_archive(
                &blobs,
                &named_index(
                    descriptor_of(
                        "application/vnd.docker.distribution.manifest.v1+prettyjws",
                        &schema1,
                    ),
                    "bad:1",
                ),
            ),
        ),
        &["schema"],
    ));
    out.push(case(
        "schema1 manifest under an OCI media type",
        layout(
            w,
            "schema1-oci",
            &blobs,
            &named_index(descriptor_of(OCI_MANIFEST, &schema1), "bad:1"),
        ),
        &["schema"],
    ));

    // A docker-archive whose config disagrees with its layers.
    let mut files = docker_files(&[(img, &["bad:1"])]);
    let other = wharf_testkit::fixtures::layer(&[("other", b"other")]);
    let config_name = format!("{}.json", img.config_digest().hex());
    let mut config: serde_json::Value = serde_json::from_slice(&img.config).unwrap();
    config["rootfs"]["diff_ids"][1] = json!(other.diff_id().to_string());
    let config = serde_json::to_vec(&config).unwrap();
    for (name, bytes) in &mut files {
        if *name == config_name {
            *bytes = config.clone();
        }
    }
    out.push(case(
        "docker-archive config with wrong diff_ids",
        w.write("diffid.docker.tar", &tar_files(&files)),
        &[other.diff_id().hex(), layer.diff_id().hex()],
    ));
    let mut files = docker_files(&[(img, &["bad:1"])]);
    for (name, bytes) in &mut files {
        if name == "manifest.json" {
            let mut m: serde_json::Value = serde_json::from_slice(bytes).unwrap();
            m[0]["Layers"].as_array_mut().unwrap().pop();
            *bytes = serde_json::to_vec(&m).unwrap();
        }
    }
    out.push(case(
        "docker-archive with fewer layers than diff_ids",
        w.write("fewer.docker.tar", &tar_files(&files)),
        &["lists 1 layer for", "2 diff_ids"],
    ));
    out
}

#[test]
fn bad_input_is_refused_and_leaves_the_store_unchanged() {
    let w = Wharf::new();
    let base = base_layer();
    // The store already holds an image sharing the base layer with the bad inputs'.
    let good = image_on(&base, "good");
    w.ok(&[
        "load",
        "-i",
        s(&w.write("good.tar", &docker_archive(&[(&good, &["good:1"])]))),
    ]);
    let bad = image_on(&base, "bad");
    let cases = cases(&w, &bad);
    let before = w.state();
    let mut failures = Vec::new();
    let mut messages = String::new();
    for c in &cases {
        let debris_before = w.staging_debris();
        let out = w.run(&["load", "-i", s(&c.input)]);
        messages.push_str(&format!("## {}\n{}\n", c.name, out.stderr));
        let mut problems = Vec::new();
        if out.code == 0 || out.code > 2 {
            problems.push(format!("exit code {}", out.code));
        }
        if !out.stdout.is_empty() {
            problems.push(format!("stdout: {}", out.stdout));
        }
        if !out.stderr.starts_with("error: ") || out.stderr.contains("panicked") {
            problems.push("stderr is not an error report".into());
        }
        if out.stderr.lines().count() != 1 {
            problems.push("the error is not one line".into());
        }
        // The words must be in the message, not merely in the input's name.
        let message = out.stderr.replace(s(&c.input), "INPUT");
        for word in &c.expect {
            if !message.contains(word.as_str()) {
                problems.push(format!("stderr does not say `{word}`"));
            }
        }
        let after = w.state();
        if after != before {
            problems.push(format!(
                "the store changed: index {} → {}, blobs {:?} → {:?}",
                String::from_utf8_lossy(&before.index),
                String::from_utf8_lossy(&after.index),
                before.blobs,
                after.blobs
            ));
        }
        let debris: Vec<String> = w
            .staging_debris()
            .into_iter()
            .filter(|f| !debris_before.contains(f))
            .filter(|f| !(c.resumable && f.ends_with(".partial")))
            .collect();
        if !debris.is_empty() {
            problems.push(format!("staging debris: {debris:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}:\n  {}\n{}",
                c.name,
                problems.join("\n  "),
                out.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    w.settings().bind(|| insta::assert_snapshot!(messages));
    // The good image is intact, and a good load still works after all that.
    w.ok(&["inspect", "good:1"]);
    let dir = layout(
        &w,
        "finally-good",
        &bad.blobs(),
        &named_index(bad.manifest.descriptor(), "bad:1"),
    );
    assert_eq!(w.ok(&["load", "-i", s(&dir)]), "Loaded image: bad:1\n");
    assert!(w.ok(&["fsck"]).ends_with("the store is clean\n"));
}

#[test]
fn an_interrupted_archive_resumes_when_loaded_whole() {
    let w = Wharf::new();
    let img = image_on(&base_layer(), "app");
    let index = named_index(img.manifest.descriptor(), "bad:1");
    let oci = oci_archive(&img.blobs(), &index);
    let layer = &img.layers[1];
    let cut = find(&oci, &layer.blob) + layer.blob.len() / 2;
    w.fails(&["load", "-i", s(&w.write("cut.tar", &oci[..cut]))]);
    assert_eq!(w.ok(&["images", "-q"]), "");
    assert_eq!(
        w.ok(&["load", "-i", s(&w.write("whole.tar", &oci))]),
        "Loaded image: bad:1\n"
    );
    assert!(w.staging_debris().is_empty(), "{:?}", w.staging_debris());
    assert!(w.ok(&["fsck"]).ends_with("the store is clean\n"));
}

/// The same bad inputs through `wharf copy`, which reads archives and layouts in place
/// (not through `load`): each is refused with an error, nothing is written at the
/// destination, and the store is untouched.
#[test]
fn bad_input_is_refused_by_copy_and_nothing_is_written() {
    let w = Wharf::new();
    let bad = image_on(&base_layer(), "bad");
    let cases = cases(&w, &bad);
    let before = w.state();
    let mut failures = Vec::new();
    let mut messages = String::new();
    for (i, c) in cases.iter().enumerate() {
        let transport = if c.input.is_dir() {
            "oci"
        } else if c.name.contains("docker") {
            "docker-archive"
        } else {
            "oci-archive"
        };
        let destination = w.path(&format!("out-{i}.tar"));
        let out = w.run(&[
            "copy",
            &format!("{transport}:{}", s(&c.input)),
            &format!("oci-archive:{}", s(&destination)),
        ]);
        messages.push_str(&format!("## {}\n{}\n", c.name, out.stderr));
        let mut problems = Vec::new();
        if out.code == 0 || out.code > 2 {
            problems.push(format!("exit code {}", out.code));
        }
        if !out.stderr.starts_with("error: ") || out.stderr.contains("panicked") {
            problems.push("stderr is not an error report".into());
        }
        if destination.exists() {
            problems.push("the destination was written".into());
        }
        let leftovers: Vec<_> = std::fs::read_dir(w.path(""))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&format!(".out-{i}.tar")))
            .collect();
        if !leftovers.is_empty() {
            problems.push(format!("temporary files left: {leftovers:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{} ({transport}):\n  {}\n{}",
                c.name,
                problems.join("\n  "),
                out.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        w.state(),
        before,
        "copy between files never touches the store"
    );
    w.settings().bind(|| insta::assert_snapshot!(messages));
}
