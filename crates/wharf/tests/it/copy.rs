//! `wharf copy` between registries (real CNCF distribution on 127.0.0.1), the store, OCI
//! layouts and archives, checked against skopeo reading and writing the same formats.

use std::path::Path;

use serde_json::Value;
use wharf_spec::Digest;
use wharf_testkit::registry::Auth;
use wharf_testkit::registry_or_skip;

use crate::fixtures::{index_json, write_oci_layout, TestImage};
use crate::harness::{have_tool, s};
use crate::pull::Env;
use crate::push::{app_image, assert_pushed, load, multi_layout, skopeo_fetch, skopeo_raw};

fn skopeo(args: &[&str]) {
    let out = std::process::Command::new("skopeo")
        .args(["--insecure-policy"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An OCI layout of `img` tagged `tag`, for skopeo to read.
fn layout_of(env: &Env, img: &TestImage, tag: &str) -> String {
    let dir = env.w.path(&format!("src-{tag}"));
    let index = index_json(&[(
        img.manifest_descriptor(),
        vec![("org.opencontainers.image.ref.name", tag)],
    )]);
    write_oci_layout(&dir, &img.blobs(), &index);
    s(&dir).to_string()
}

/// The manifest digest an OCI layout's `index.json` names for `tag`.
fn layout_digest(dir: &Path, tag: &str) -> String {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no `{tag}` in {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn registry_to_registry_is_byte_identical_and_touches_no_store() {
    let a = registry_or_skip!(Auth::None);
    let b = registry_or_skip!(Auth::None);
    if !have_tool("skopeo") {
        return;
    }
    let env = Env::new();
    let img = app_image(11);
    let layout = layout_of(&env, &img, "v1");
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{layout}:v1"),
        &format!("docker://{}/x:v1", a.host),
    ]);
    let from_a = skopeo_raw(&format!("{}/x:v1", a.host));
    let out = env.ok(&[
        "copy",
        &format!("docker://{}/x:v1", a.host),
        &format!("docker://{}/y/x:v1", b.host),
    ]);
    let from_b = skopeo_raw(&format!("{}/y/x:v1", b.host));
    assert_eq!(from_a, from_b, "the manifest bytes are identical");
    assert!(
        out.ends_with(&format!(
            "v1: digest: {} size: {}\n",
            Digest::sha256_of(&from_a),
            from_a.len()
        )),
        "{out}"
    );
    skopeo_fetch(&format!("{}/y/x:v1", b.host), &env.w.path("check"));
    assert!(!env.w.root().exists(), "a registry copy opened the store");

    // Within one registry: mounted from the source repository.
    let again = env.ok(&[
        "copy",
        &format!("docker://{}/x:v1", a.host),
        &format!("docker://{}/z:v1", a.host),
    ]);
    assert!(again.contains("Mounted from x"), "{again}");
}

#[test]
fn docker_archives_both_ways_with_skopeo() {
    let registry = registry_or_skip!(Auth::None);
    if !have_tool("skopeo") {
        return;
    }
    let host = registry.host.as_str();
    let env = Env::new();
    let img = app_image(12);
    load(&env, &img, "app:v1");

    // wharf writes, skopeo reads (and checks every layer against the config).
    let archive = env.w.path("wharf.tar");
    env.ok(&[
        "copy",
        "wharf:app:v1",
        &format!("docker-archive:{}:app:v1", s(&archive)),
    ]);
    let skopeo_oci = env.w.path("from-wharf-archive");
    skopeo(&[
        "copy",
        &format!("docker-archive:{}", s(&archive)),
        &format!("oci:{}:x", s(&skopeo_oci)),
    ]);

    // skopeo writes, wharf reads and pushes with layers compressed again.
    let layout = layout_of(&env, &img, "v1");
    let skopeo_archive = env.w.path("skopeo.tar");
    skopeo(&[
        "copy",
        &format!("oci:{layout}:v1"),
        &format!("docker-archive:{}:other:v2", s(&skopeo_archive)),
    ]);
    let out = env.ok(&[
        "copy",
        &format!("docker-archive:{}", s(&skopeo_archive)),
        &format!("docker://{host}/other:v2"),
    ]);
    assert!(out.contains("Pushed"), "{out}");
    let raw: Value = serde_json::from_slice(&skopeo_raw(&format!("{host}/other:v2"))).unwrap();
    for layer in raw["layers"].as_array().unwrap() {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
    }
    assert_eq!(raw["config"]["digest"], img.id(), "the image ID stays");
    let check = Env::new();
    check.ok(&["pull", &format!("{host}/other:v2")]);
    assert_eq!(
        check.inspect(&format!("{host}/other:v2"))["Id"],
        serde_json::json!(img.id())
    );

    env.ok(&[
        "copy",
        "--dest-compress",
        "zstd",
        &format!("docker-archive:{}:other:v2", s(&skopeo_archive)),
        &format!("docker://{host}/other:zstd"),
    ]);
    let raw: Value = serde_json::from_slice(&skopeo_raw(&format!("{host}/other:zstd"))).unwrap();
    assert_eq!(
        raw["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
}

#[test]
fn oci_archives_both_ways_keep_every_digest() {
    if !have_tool("skopeo") {
        return;
    }
    let env = Env::new();
    let img = app_image(13);
    load(&env, &img, "app:v1");

    let archive = env.w.path("wharf-oci.tar");
    env.ok(&["copy", "app:v1", &format!("oci-archive:{}:v1", s(&archive))]);
    let out_dir = env.w.path("skopeo-read");
    skopeo(&[
        "copy",
        &format!("oci-archive:{}:v1", s(&archive)),
        &format!("oci:{}:v1", s(&out_dir)),
    ]);
    assert_eq!(
        layout_digest(&out_dir, "v1"),
        img.manifest_digest().to_string()
    );

    let layout = layout_of(&env, &img, "v1");
    let skopeo_archive = env.w.path("skopeo-oci.tar");
    skopeo(&[
        "copy",
        &format!("oci:{layout}:v1"),
        &format!("oci-archive:{}:v1", s(&skopeo_archive)),
    ]);
    let fresh = Env::new();
    fresh.ok(&[
        "copy",
        &format!("oci-archive:{}:v1", s(&skopeo_archive)),
        "wharf:fromoci:v1",
    ]);
    assert_eq!(
        fresh.inspect("fromoci:v1")["Id"],
        serde_json::json!(img.id())
    );
    let dir = fresh.w.path("out-layout");
    fresh.ok(&["copy", "fromoci:v1", &format!("oci:{}:again", s(&dir))]);
    assert_eq!(
        layout_digest(&dir, "again"),
        img.manifest_digest().to_string()
    );
    assert!(fresh.ok(&["fsck"]).contains("clean"));
}

#[test]
fn a_multi_platform_index_round_trips_with_all() {
    let a = registry_or_skip!(Auth::None);
    let b = registry_or_skip!(Auth::None);
    if !have_tool("skopeo") {
        return;
    }
    let env = Env::new();
    let (idx, dir) = multi_layout(&env);
    skopeo(&[
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:1", s(&dir)),
        &format!("docker://{}/multi:1", a.host),
    ]);
    let archive = env.w.path("multi.tar");
    env.ok(&[
        "copy",
        "--all",
        &format!("docker://{}/multi:1", a.host),
        &format!("oci-archive:{}:1", s(&archive)),
    ]);
    env.ok(&[
        "copy",
        "--all",
        &format!("oci-archive:{}:1", s(&archive)),
        &format!("docker://{}/multi:1", b.host),
    ]);
    assert_eq!(
        Digest::sha256_of(&skopeo_raw(&format!("{}/multi:1", b.host))),
        idx.digest()
    );
    for (img, _, _) in &idx.images {
        assert_eq!(
            skopeo_raw(&format!("{}/multi@{}", b.host, img.manifest_digest())),
            img.manifest
        );
    }
    // One platform only, without `--all`.
    let out = env.ok(&[
        "copy",
        "--platform",
        "linux/arm64",
        &format!("docker://{}/multi:1", a.host),
        &format!("docker://{}/arm:1", b.host),
    ]);
    assert_pushed(&out, "1", &idx.images[1].0);
}

#[test]
fn bad_locations_are_clear_errors() {
    let env = Env::new();
    let err = env.fails(&["copy", "ftp://x", "docker://127.0.0.1:1/x"]);
    assert!(err.contains("unknown transport `ftp://`"), "{err}");
    let err = env.fails(&["copy", "oci:", "wharf:x"]);
    assert!(err.contains("no path given"), "{err}");
    let missing = env.w.path("missing.tar");
    let err = env.fails(&["copy", &format!("oci-archive:{}", s(&missing)), "wharf:x:1"]);
    assert!(err.contains("missing.tar"), "{err}");
}
