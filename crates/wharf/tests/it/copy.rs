//! `wharf copy` between registries (real CNCF distribution on 127.0.0.1), the store, OCI
//! layouts and archives, checked against skopeo reading and writing the same formats.

use std::path::Path;

use serde_json::Value;
use wharf_spec::Digest;
use wharf_testkit::registry::Auth;
use wharf_testkit::registry_or_skip;

use crate::pull::{block_on, Env};
use crate::push::{app_image, assert_pushed, load, multi_layout, skopeo_fetch, skopeo_raw};
use wharf_testkit::cli::{have_tool, s};
use wharf_testkit::fixtures::{write_image_layout, Image};

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
fn layout_of(env: &Env, img: &Image, tag: &str) -> String {
    let dir = env.w.path(&format!("src-{tag}"));
    write_image_layout(&dir, img, tag);
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
        img.manifest.digest().to_string()
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
        img.manifest.digest().to_string()
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
    for (img, _) in &idx.images {
        assert_eq!(
            skopeo_raw(&format!("{}/multi@{}", b.host, img.manifest.digest())),
            img.manifest.bytes()
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
    // Signatures name the image's digests; re-encoding changes them.
    let err = env.fails(&[
        "copy",
        "--referrers",
        "--dest-compress",
        "zstd",
        "docker://127.0.0.1:1/x:1",
        "docker://127.0.0.1:1/y:1",
    ]);
    assert!(
        err.contains("`--referrers` cannot go with `--dest-compress`"),
        "{err}"
    );
}

/// One image of a two-image archive copied into the store: only that image arrives,
/// under the destination name; the archive's other image and the copy's staging names
/// never reach the store.
#[test]
fn an_archive_into_the_store_brings_only_the_chosen_image() {
    let env = Env::new();
    let (a, b) = (app_image(21), app_image(22));
    load(&env, &a, "first:v1");
    load(&env, &b, "second:v1");
    let archive = env.w.path("two.tar");
    env.ok(&["save", "-o", s(&archive), "first:v1", "second:v1"]);

    let fresh = Env::new();
    let out = fresh.ok(&[
        "copy",
        &format!("docker-archive:{}:second:v1", s(&archive)),
        "chosen:v2",
    ]);
    assert!(out.contains("Copied"), "{out}");
    assert_eq!(
        fresh.inspect("chosen:v2")["Id"],
        serde_json::json!(b.id()),
        "the chosen image, under the destination name"
    );
    assert_eq!(names_in(&fresh), ["chosen:v2"]);
    // Only the chosen image's blobs are stored: its config, layers and manifest.
    assert_eq!(
        fresh.w.blob_files().len(),
        b.blobs().len(),
        "{:?}",
        fresh.w.blob_files()
    );

    // OCI layouts too: a layout holding both, one picked by its ref name.
    let layout = env.w.path("both-layout");
    env.ok(&["copy", "first:v1", &format!("oci:{}:first", s(&layout))]);
    env.ok(&["copy", "second:v1", &format!("oci:{}:second", s(&layout))]);
    let other = Env::new();
    other.ok(&["copy", &format!("oci:{}:first", s(&layout)), "picked:1"]);
    assert_eq!(names_in(&other), ["picked:1"]);
    assert_eq!(other.inspect("picked:1")["Id"], serde_json::json!(a.id()));
    assert_eq!(other.w.blob_files().len(), a.blobs().len());
}

/// `REPOSITORY:TAG` of every image `wharf images` lists.
fn names_in(env: &Env) -> Vec<String> {
    env.ok(&["images", "--format", "json"])
        .lines()
        .map(|l| {
            let row: Value = serde_json::from_str(l).unwrap();
            format!(
                "{}:{}",
                row["Repository"].as_str().unwrap(),
                row["Tag"].as_str().unwrap()
            )
        })
        .collect()
}

/// `--referrers`: a signature pushed beside an image, and an SBOM of that signature, go
/// along with it: from distribution (no referrers API: the client keeps the spec's
/// fallback tag) to `wharf serve` (which tracks referrers itself), and back to
/// distribution. Digests and bytes stay; without the flag only the image moves.
#[test]
fn referrers_follow_the_image_between_registries() {
    use wharf_testkit::fixtures::{artifact, client, push_image, random_image, reference};
    let registry = registry_or_skip!(Auth::None);
    let host = registry.host.as_str();
    let env = Env::new();
    let server = crate::serve::Server::start(&env.w.path("served"));
    let served = server.host.as_str();
    let client = client();
    let digests = |list: Vec<wharf_spec::Descriptor>| -> Vec<Digest> {
        list.into_iter().map(|d| d.digest).collect()
    };

    let src = reference(host, "signed/app:v1");
    let img = random_image("linux/amd64", &[3000], 31);
    let top = block_on(push_image(&client, &src, &img));
    let sig = artifact(&top, "application/vnd.example.signature", b"signed");
    let sig_top = sig.manifest.descriptor();
    let sbom = artifact(
        &sig_top,
        "application/vnd.example.sbom",
        b"sbom of the signature",
    );
    for a in [&sig, &sbom] {
        block_on(push_image(
            &client,
            &src.with_digest(a.manifest.digest().clone()),
            a,
        ));
    }
    // distribution has no referrers API: pushing kept the fallback tag for each subject.
    let tags = block_on(client.tags(&src)).unwrap();
    assert!(
        tags.contains(&wharf_client::referrers_tag(&top.digest))
            && tags.contains(&wharf_client::referrers_tag(&sig_top.digest)),
        "{tags:?}"
    );
    assert_eq!(
        digests(block_on(client.referrers(&src, &top.digest)).unwrap()),
        std::slice::from_ref(&sig_top.digest)
    );

    let out = env.ok(&[
        "copy",
        "--referrers",
        &format!("docker://{host}/signed/app:v1"),
        &format!("docker://{served}/copied/app:v1"),
    ]);
    for a in [&sig, &sbom] {
        assert!(
            out.contains(&format!("Copied referrer {}", a.manifest.digest())),
            "{out}"
        );
    }
    let dst = reference(served, "copied/app:v1");
    assert_eq!(
        digests(block_on(client.referrers(&dst, &top.digest)).unwrap()),
        std::slice::from_ref(&sig_top.digest)
    );
    assert_eq!(
        digests(block_on(client.referrers(&dst, &sig_top.digest)).unwrap()),
        [sbom.manifest.digest().clone()]
    );
    let copied = block_on(client.resolve(&dst.with_digest(sig_top.digest.clone()))).unwrap();
    assert_eq!(copied.manifest.bytes(), sig.manifest.bytes());
    // wharf serve answers `OCI-Subject`: no fallback tag was written there.
    assert_eq!(block_on(client.tags(&dst)).unwrap(), ["v1"]);

    // Without the flag, only the image.
    env.ok(&[
        "copy",
        &format!("docker://{host}/signed/app:v1"),
        &format!("docker://{served}/plain/app:v1"),
    ]);
    let plain = reference(served, "plain/app:v1");
    assert!(block_on(client.referrers(&plain, &top.digest))
        .unwrap()
        .is_empty());

    // Back to distribution: the fallback tags are written again.
    env.ok(&[
        "copy",
        "--referrers",
        &format!("docker://{served}/copied/app:v1"),
        &format!("docker://{host}/back/app:v1"),
    ]);
    let back = reference(host, "back/app:v1");
    assert_eq!(
        digests(block_on(client.referrers(&back, &sig_top.digest)).unwrap()),
        [sbom.manifest.digest().clone()]
    );
    assert!(block_on(client.tags(&back))
        .unwrap()
        .contains(&wharf_client::referrers_tag(&top.digest)));

    let err = env.fails(&[
        "copy",
        "--referrers",
        &format!("docker://{host}/signed/app:v1"),
        &format!("oci:{}:x", s(&env.w.path("layout"))),
    ]);
    assert!(
        err.contains("`--referrers` copies between registries only"),
        "{err}"
    );
}

/// The tree `wharf unpack` gives for `image` (in the env's store).
fn unpacked(env: &Env, image: &str, name: &str) -> std::collections::BTreeMap<String, String> {
    let dir = env.w.path(name);
    env.ok(&["unpack", image, s(&dir)]);
    wharf_testkit::tree::describe(&dir)
}

/// The layers' media types and digests of the manifest `reference` names.
fn layers_of(reference: &str) -> Vec<(String, String)> {
    let raw: Value = serde_json::from_slice(&skopeo_raw(reference)).unwrap();
    raw["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let field = |k: &str| l[k].as_str().unwrap().to_string();
            (field("mediaType"), field("digest"))
        })
        .collect()
}

/// `--dest-compress` re-encodes every layer in another compression, on `copy` and `push`:
/// gzip to zstd and back, one platform or a whole index. The layers get new digests, the
/// config (the image ID) stays, skopeo fetches and verifies the result, and every copy
/// unpacks to the same tree as the original.
#[test]
fn dest_compress_recompresses_layers_and_keeps_the_image() {
    let registry = registry_or_skip!(Auth::None);
    if !have_tool("skopeo") {
        return;
    }
    let host = registry.host.as_str();
    let env = Env::new();
    let img = app_image(14);
    let layout = layout_of(&env, &img, "v1");
    load(&env, &img, "app:v1");
    let original = unpacked(&env, "app:v1", "original");
    const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

    // gzip -> zstd, from a layout to a registry.
    env.ok(&[
        "copy",
        "--dest-compress",
        "zstd",
        &format!("oci:{layout}:v1"),
        &format!("docker://{host}/app:zstd"),
    ]);
    let zstd = layers_of(&format!("{host}/app:zstd"));
    assert_eq!(zstd.len(), img.layers.len());
    for ((media, digest), layer) in zstd.iter().zip(&img.layers) {
        assert_eq!(media, ZSTD);
        assert_ne!(*digest, layer.digest().to_string(), "a new blob");
    }
    let raw: Value = serde_json::from_slice(&skopeo_raw(&format!("{host}/app:zstd"))).unwrap();
    assert_eq!(raw["config"]["digest"], img.id(), "the image ID stays");
    skopeo_fetch(&format!("{host}/app:zstd"), &env.w.path("skopeo-zstd"));
    env.ok(&["pull", &format!("{host}/app:zstd")]);
    assert_eq!(
        unpacked(&env, &format!("{host}/app:zstd"), "from-zstd"),
        original
    );

    // zstd -> gzip, registry to registry; then a no-op: layers already gzip stay.
    env.ok(&[
        "copy",
        "--dest-compress",
        "gzip",
        &format!("docker://{host}/app:zstd"),
        &format!("docker://{host}/app:gzip"),
    ]);
    let gzip = layers_of(&format!("{host}/app:gzip"));
    assert!(gzip.iter().all(|(media, _)| media == GZIP), "{gzip:?}");
    env.ok(&[
        "copy",
        "--dest-compress",
        "gzip",
        &format!("docker://{host}/app:gzip"),
        &format!("docker://{host}/app:gzip-again"),
    ]);
    assert_eq!(layers_of(&format!("{host}/app:gzip-again")), gzip);
    env.ok(&["pull", &format!("{host}/app:gzip")]);
    assert_eq!(
        unpacked(&env, &format!("{host}/app:gzip"), "from-gzip"),
        original
    );

    // push --dest-compress: the store keeps its gzip layers.
    env.ok(&[
        "push",
        "--dest-compress",
        "zstd",
        "app:v1",
        &format!("{host}/app:pushed"),
    ]);
    assert_eq!(layers_of(&format!("{host}/app:pushed")), zstd);
    let blobs = env.w.blob_files();
    for layer in &img.layers {
        assert!(blobs.contains(&layer.digest().hex().to_string()));
    }

    // A whole index: each platform's manifest rewritten, the index too, platforms kept.
    let (idx, dir) = multi_layout(&env);
    env.ok(&[
        "copy",
        "--all",
        "--dest-compress",
        "zstd",
        &format!("oci:{}:1", s(&dir)),
        &format!("docker://{host}/multi:zstd"),
    ]);
    let index: Value = serde_json::from_slice(&skopeo_raw(&format!("{host}/multi:zstd"))).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let children = index["manifests"].as_array().unwrap();
    assert_eq!(children.len(), idx.images.len());
    for (child, (img, _)) in children.iter().zip(&idx.images) {
        assert_ne!(child["digest"], img.manifest.digest().to_string());
        let digest = child["digest"].as_str().unwrap();
        let layers = layers_of(&format!("{host}/multi@{digest}"));
        assert!(layers.iter().all(|(media, _)| media == ZSTD), "{layers:?}");
        let raw: Value =
            serde_json::from_slice(&skopeo_raw(&format!("{host}/multi@{digest}"))).unwrap();
        assert_eq!(raw["config"]["digest"], img.id());
    }
    let platforms = |v: &Value| -> Vec<Value> {
        v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["platform"].clone())
            .collect()
    };
    let original_index: Value = serde_json::from_slice(idx.manifest.bytes()).unwrap();
    assert_eq!(platforms(&index), platforms(&original_index));

    // A layer whose bytes are wrong is refused, naming it, and nothing is tagged.
    let bad = env.w.path("bad-layout");
    write_image_layout(&bad, &img, "v1");
    let layer = img.layers[1].digest();
    let path = bad.join("blobs/sha256").join(layer.hex());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let err = env.fails(&[
        "copy",
        "--dest-compress",
        "zstd",
        &format!("oci:{}:v1", s(&bad)),
        &format!("docker://{host}/app:bad"),
    ]);
    assert!(
        err.contains(&layer.to_string()) && err.contains("does not match its digest"),
        "{err}"
    );
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{host}/app:bad"))
        .output()
        .unwrap();
    assert!(!out.status.success(), "nothing tagged after a failed copy");
}

/// podman (Debian's, rootful, `vfs` storage under the test's directory), run with `args`.
fn podman(env: &Env, args: &[&str]) -> String {
    let root = env.w.path("podman");
    let out = std::process::Command::new("podman")
        .arg("--root")
        .arg(root.join("root"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(["--storage-driver", "vfs"])
        .args(args)
        // podman reads registry logins from here: an empty one, not the machine's.
        .env("REGISTRY_AUTH_FILE", env.w.write("podman-auth.json", b"{}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// zstd both ways with podman: podman pulls (and checks every diff_id of) the image
/// `wharf push --dest-compress zstd` wrote, and wharf pulls and unpacks the zstd image
/// podman pushes, to the tree of the original.
#[test]
fn podman_reads_wharf_zstd_images_and_back() {
    let registry = registry_or_skip!(Auth::None);
    if !have_tool("podman") {
        return;
    }
    let host = registry.host.as_str();
    let env = Env::new();
    let img = app_image(15);
    load(&env, &img, "app:v1");
    let original = unpacked(&env, "app:v1", "original");
    const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

    env.ok(&[
        "push",
        "--dest-compress",
        "zstd",
        "app:v1",
        &format!("{host}/app:zstd"),
    ]);
    podman(
        &env,
        &[
            "pull",
            "-q",
            "--tls-verify=false",
            &format!("{host}/app:zstd"),
        ],
    );
    let id = podman(
        &env,
        &[
            "image",
            "inspect",
            "--format",
            "{{.Id}}",
            &format!("{host}/app:zstd"),
        ],
    );
    assert_eq!(format!("sha256:{}", id.trim()), img.id(), "the same image");

    // podman compresses what it holds uncompressed (a loaded archive) as zstd.
    let archive = env.w.path("app.tar");
    env.ok(&["save", "-o", s(&archive), "app:v1"]);
    let loaded = podman(&env, &["load", "-i", s(&archive)]);
    let name = loaded
        .lines()
        .find_map(|l| l.strip_prefix("Loaded image: "))
        .unwrap_or_else(|| panic!("podman load named nothing: {loaded}"))
        .trim()
        .to_string();
    podman(
        &env,
        &[
            "push",
            "--tls-verify=false",
            "--compression-format",
            "zstd",
            &name,
            &format!("{host}/app:from-podman"),
        ],
    );
    let layers = layers_of(&format!("{host}/app:from-podman"));
    assert!(layers.iter().all(|(media, _)| media == ZSTD), "{layers:?}");
    env.ok(&["pull", &format!("{host}/app:from-podman")]);
    assert_eq!(
        unpacked(&env, &format!("{host}/app:from-podman"), "from-podman"),
        original
    );
}
