//! Interop with real peers: skopeo and umoci read the store and wharf's archives, wharf
//! reads theirs, and the Docker Engine loads what wharf saves and the other way round.
//! Each test skips when its peer is missing (fails under `WHARF_REQUIRE_INTEROP=1`).

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use wharf_spec::Digest;

use wharf_testkit::cli::*;
use wharf_testkit::fixtures::*;

/// Runs a peer tool and asserts success; returns stdout.
fn peer(program: &str, args: &[&str]) -> String {
    String::from_utf8(peer_bytes(program, args)).unwrap()
}

fn peer_bytes(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `skopeo` without a policy file to depend on: copies here are local.
fn skopeo(args: &[&str]) -> String {
    let mut all = vec!["--insecure-policy"];
    all.extend_from_slice(args);
    peer("skopeo", &all)
}

fn skopeo_bytes(args: &[&str]) -> Vec<u8> {
    let mut all = vec!["--insecure-policy"];
    all.extend_from_slice(args);
    peer_bytes("skopeo", &all)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// `wharf inspect REF`'s one document.
fn inspect(w: &Wharf, reference: &str) -> Value {
    let mut docs = json(&w.ok(&["inspect", reference]));
    docs[0].take()
}

fn id_of(w: &Wharf, reference: &str) -> String {
    inspect(w, reference)["Id"].as_str().unwrap().to_string()
}

fn diff_ids_of(w: &Wharf, reference: &str) -> Vec<String> {
    strings(&inspect(w, reference)["RootFS"]["Layers"])
}

/// The manifest (or index) digest the store names `reference` by.
fn stored_digest(w: &Wharf, reference: &str) -> String {
    inspect(w, reference)["Descriptor"]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn blob(root: &Path, digest: &str) -> Vec<u8> {
    let digest = Digest::parse(digest).unwrap();
    std::fs::read(root.join("blobs/sha256").join(digest.hex())).unwrap()
}

/// The bytes of one member of a tar archive.
fn member(archive: &Path, name: &str) -> Vec<u8> {
    let mut tar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(name) {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            return bytes;
        }
    }
    panic!("no `{name}` in `{}`", archive.display())
}

fn sha256(bytes: &[u8]) -> String {
    Digest::sha256_of(bytes).to_string()
}

fn layer_digests(manifest: &[u8]) -> Vec<String> {
    let m: Value = serde_json::from_slice(manifest).unwrap();
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

fn assert_clean(w: &Wharf) {
    let out = w.ok(&["fsck"]);
    assert!(out.contains("the store is clean"), "fsck: {out}");
}

#[test]
fn skopeo_and_umoci_read_the_store() {
    if !have_tool("skopeo") || !have_tool("umoci") {
        return;
    }
    let w = Wharf::new();
    let root = w.root();
    let root_s = s(&root).to_string();
    let base = base_layer();

    // An OCI image (its manifest kept byte for byte) ...
    let a = image_on(&base, "store-a");
    let layout = w.path("a-layout");
    write_image_layout(&layout, &a, "v1");
    w.ok(&["load", "-i", s(&layout), "-t", "interop-a"]);
    // ... a docker-archive image (wharf writes its manifest) ...
    let b = image_on(&base, "store-b");
    let archive = w.write("b.tar", &docker_archive(&[(&b, &["interop-b:2"])]));
    w.ok(&["load", "-i", s(&archive)]);
    // ... and a multi-platform index.
    let multi = multi_platform();
    let multi_dir = w.path("multi-layout");
    write_oci_layout(
        &multi_dir,
        &multi.blobs(),
        &named_index(multi.descriptor(), "m"),
    );
    w.ok(&["load", "-i", s(&multi_dir), "-t", "interop-multi"]);

    // skopeo addresses each entry by its full reference.
    let a_ref = format!("oci:{root_s}:docker.io/library/interop-a:v1");
    let doc = json(&skopeo(&["inspect", &a_ref]));
    assert_eq!(doc["Digest"], a.manifest.digest().to_string());
    assert_eq!(
        strings(&doc["Layers"]),
        a.layers
            .iter()
            .map(|l| l.digest().to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        skopeo_bytes(&["inspect", "--raw", &a_ref]),
        a.manifest.bytes()
    );
    let config = skopeo_bytes(&["inspect", "--config", "--raw", &a_ref]);
    assert_eq!(config, a.config);

    let b_ref = format!("oci:{root_s}:docker.io/library/interop-b:2");
    let b_manifest = skopeo_bytes(&["inspect", "--raw", &b_ref]);
    assert_eq!(sha256(&b_manifest), stored_digest(&w, "interop-b:2"));
    assert_eq!(
        b_manifest,
        blob(&root, &stored_digest(&w, "interop-b:2")),
        "skopeo reads the manifest wharf stored"
    );
    let doc = json(&skopeo(&["inspect", &b_ref]));
    assert_eq!(doc["Digest"], sha256(&b_manifest));
    assert_eq!(strings(&doc["Layers"]), layer_digests(&b_manifest));
    let config = json(&skopeo(&["inspect", "--config", &b_ref]));
    assert_eq!(strings(&config["rootfs"]["diff_ids"]), b.diff_ids());
    assert_eq!(
        sha256(&skopeo_bytes(&["inspect", "--config", "--raw", &b_ref])),
        b.id()
    );

    let m_ref = format!("oci:{root_s}:docker.io/library/interop-multi:m");
    assert_eq!(
        skopeo_bytes(&["inspect", "--raw", &m_ref]),
        multi.manifest.bytes()
    );
    for (img, platform) in &multi.images {
        let arch = platform.architecture.as_str();
        // skopeo's `Digest` is the index's; the rest is the platform's image.
        let doc = json(&skopeo(&["--override-arch", arch, "inspect", &m_ref]));
        assert_eq!(doc["Digest"], multi.digest().to_string(), "{arch}");
        assert_eq!(doc["Architecture"], arch);
        assert_eq!(strings(&doc["Layers"]), layer_digests(img.manifest.bytes()));
    }

    // umoci lists exactly the stored names ...
    let mut listed: Vec<String> = peer("umoci", &["ls", "--layout", &root_s])
        .lines()
        .map(String::from)
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "docker.io/library/interop-a:v1",
            "docker.io/library/interop-b:2",
            "docker.io/library/interop-multi:m",
        ]
    );
    // ... and unpacks an image from the store, checking every layer's diff_id on the way.
    let bundle = w.path("bundle");
    peer(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            &format!("{root_s}:docker.io/library/interop-a:v1"),
            s(&bundle),
        ],
    );
    assert_eq!(
        std::fs::read(bundle.join("rootfs/app/run")).unwrap(),
        b"store-a"
    );
    assert_eq!(
        std::fs::read(bundle.join("rootfs/etc/os-release")).unwrap(),
        b"ID=test\n"
    );

    // skopeo copies out of the store with every digest preserved.
    let copy = w.path("copy");
    skopeo(&["copy", "-q", &a_ref, &format!("oci:{}:c", s(&copy))]);
    let copied = json(&std::fs::read_to_string(copy.join("index.json")).unwrap());
    assert_eq!(
        copied["manifests"][0]["digest"],
        a.manifest.digest().to_string()
    );

    // The peers read without writing: the store is still exactly what wharf made.
    assert_clean(&w);

    // And the other way: skopeo writes an image into the store, wharf sees it.
    let c = image_on(&base, "store-c");
    let c_layout = w.path("c-layout");
    write_image_layout(&c_layout, &c, "1");
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{}:1", s(&c_layout)),
        &format!("oci:{root_s}:docker.io/library/interop-c:1"),
    ]);
    assert_eq!(id_of(&w, "interop-c:1"), c.id());
    assert_eq!(
        stored_digest(&w, "interop-c:1"),
        c.manifest.digest().to_string()
    );
    assert_eq!(diff_ids_of(&w, "interop-c:1"), c.diff_ids());
    assert!(w.ok(&["images"]).contains("interop-c "));
    assert_clean(&w);
}

#[test]
fn skopeo_reads_wharf_docker_archives() {
    if !have_tool("skopeo") {
        return;
    }
    let w = Wharf::new();
    let base = base_layer();
    // An empty layer twice (one archive member, listed twice), as `RUN true` steps make.
    let empty = layer(&[]);
    let a = image(
        "save-a",
        vec![
            base.clone(),
            empty.clone(),
            layer(&[("app/run", b"save-a")]),
            empty,
        ],
    );
    let b = image_on(&base, "save-b");
    let layout = w.path("a-layout");
    write_image_layout(&layout, &a, "1");
    w.ok(&["load", "-i", s(&layout), "-t", "interop-a"]);
    let archive = w.write("b.tar", &docker_archive(&[(&b, &["interop-b:1"])]));
    w.ok(&["load", "-i", s(&archive)]);

    // One image.
    let saved = w.path("a.docker.tar");
    w.ok(&["save", "-o", s(&saved), "interop-a:1"]);
    let src = format!("docker-archive:{}", s(&saved));
    let doc = json(&skopeo(&["inspect", &src]));
    assert_eq!(strings(&doc["Layers"]), a.diff_ids());
    assert_eq!(doc["Architecture"], "amd64");
    let config = json(&skopeo(&["inspect", "--config", &src]));
    assert_eq!(
        strings(&config["rootfs"]["diff_ids"]),
        diff_ids_of(&w, "interop-a:1")
    );
    assert_eq!(
        sha256(&skopeo_bytes(&["inspect", "--config", "--raw", &src])),
        id_of(&w, "interop-a:1")
    );
    // skopeo copies it out as it is (`dir:` keeps the Docker manifest, so the config's
    // bytes too) ...
    let dir = w.path("as-dir");
    skopeo(&["copy", "-q", &src, &format!("dir:{}", s(&dir))]);
    let manifest = json(&std::fs::read_to_string(dir.join("manifest.json")).unwrap());
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(manifest["config"]["digest"], a.id());
    assert_eq!(
        std::fs::read(dir.join(a.config_digest().hex())).unwrap(),
        a.config
    );
    for layer in &a.layers {
        assert_eq!(
            std::fs::read(dir.join(layer.diff_id().hex())).unwrap(),
            layer.tar
        );
    }
    // ... and into an OCI layout, which skopeo's conversion gives a re-serialized config:
    // the same document, the same diff_ids.
    let out = w.path("from-archive");
    skopeo(&["copy", "-q", &src, &format!("oci:{}:x", s(&out))]);
    let w2 = Wharf::new();
    w2.ok(&["load", "-i", s(&out), "-t", "interop-x"]);
    assert_eq!(diff_ids_of(&w2, "interop-x:x"), a.diff_ids());
    let converted: Value =
        serde_json::from_slice(&blob(&w2.root(), &id_of(&w2, "interop-x:x"))).unwrap();
    assert_eq!(
        converted,
        serde_json::from_slice::<Value>(&a.config).unwrap()
    );
    assert_clean(&w2);

    // Two images sharing a base layer, one of them under two names; skopeo picks each out.
    w.ok(&["tag", "interop-b:1", "interop-b:again"]);
    let both = w.path("both.docker.tar");
    w.ok(&[
        "save",
        "-o",
        s(&both),
        "interop-a:1",
        "interop-b:1",
        "interop-b:again",
    ]);
    // One item per image, with all its names, as `docker save` and skopeo write it.
    let items = json(&String::from_utf8(member(&both, "manifest.json")).unwrap());
    let tags: Vec<Vec<String>> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| strings(&i["RepoTags"]))
        .collect();
    assert_eq!(
        tags,
        [vec!["interop-a:1"], vec!["interop-b:1", "interop-b:again"]]
    );
    for (name, img) in [
        ("interop-a:1", &a),
        ("interop-b:1", &b),
        ("interop-b:again", &b),
    ] {
        let src = format!("docker-archive:{}:{name}", s(&both));
        let config = json(&skopeo(&["inspect", "--config", &src]));
        assert_eq!(strings(&config["rootfs"]["diff_ids"]), img.diff_ids());
        assert_eq!(
            sha256(&skopeo_bytes(&["inspect", "--config", "--raw", &src])),
            img.id(),
            "{name}"
        );
    }
}

#[test]
fn wharf_reads_skopeo_archives_and_oci_archives_go_both_ways() {
    if !have_tool("skopeo") {
        return;
    }
    let w = Wharf::new();
    let base = base_layer();
    let a = image_on(&base, "peer-a");
    let layout = w.path("a-layout");
    write_image_layout(&layout, &a, "v1");
    let layout_ref = format!("oci:{}:v1", s(&layout));

    // A docker-archive written by skopeo.
    let docker = w.path("skopeo.docker.tar");
    skopeo(&[
        "copy",
        "-q",
        &layout_ref,
        &format!("docker-archive:{}:interop-c:1", s(&docker)),
    ]);
    assert_eq!(
        w.ok(&["load", "-i", s(&docker)]),
        "Loaded image: interop-c:1\n"
    );
    assert_eq!(id_of(&w, "interop-c:1"), a.id());
    assert_eq!(diff_ids_of(&w, "interop-c:1"), a.diff_ids());

    // An OCI archive written by skopeo: every blob kept, so the manifest digest too.
    let oci = w.path("skopeo.oci.tar");
    skopeo(&[
        "copy",
        "-q",
        &layout_ref,
        &format!("oci-archive:{}", s(&oci)),
    ]);
    assert_eq!(
        w.ok(&["load", "-i", s(&oci), "-t", "interop-d:1"]),
        "Loaded image: interop-d:1\n"
    );
    assert_eq!(
        stored_digest(&w, "interop-d:1"),
        a.manifest.digest().to_string()
    );
    assert_eq!(id_of(&w, "interop-d:1"), a.id());
    assert_eq!(diff_ids_of(&w, "interop-d:1"), a.diff_ids());
    // With a tag in the archive skopeo names the image by it.
    let tagged = w.path("skopeo-tagged.oci.tar");
    skopeo(&[
        "copy",
        "-q",
        &layout_ref,
        &format!("oci-archive:{}:7", s(&tagged)),
    ]);
    assert_eq!(
        w.ok(&["load", "-i", s(&tagged), "-t", "interop-e"]),
        "Loaded image: interop-e:7\n"
    );
    assert_eq!(
        stored_digest(&w, "interop-e:7"),
        a.manifest.digest().to_string()
    );

    // wharf's OCI archive: skopeo addresses an image by its tag (the archive's
    // `org.opencontainers.image.ref.name`), or without a name when it is the only one.
    // (interop-d came from an OCI archive: its manifest is the fixture's, byte for byte.)
    let saved = w.path("wharf.oci.tar");
    w.ok(&["save", "--format", "oci", "-o", s(&saved), "interop-d:1"]);
    for src in [
        format!("oci-archive:{}:1", s(&saved)),
        format!("oci-archive:{}", s(&saved)),
    ] {
        assert_eq!(
            skopeo_bytes(&["inspect", "--raw", &src]),
            a.manifest.bytes()
        );
        let doc = json(&skopeo(&["inspect", &src]));
        assert_eq!(doc["Digest"], a.manifest.digest().to_string());
        assert_eq!(
            strings(&doc["Layers"]),
            a.layers
                .iter()
                .map(|l| l.digest().to_string())
                .collect::<Vec<_>>()
        );
        let config = json(&skopeo(&["inspect", "--config", &src]));
        assert_eq!(strings(&config["rootfs"]["diff_ids"]), a.diff_ids());
    }
    let out = w.path("from-wharf");
    skopeo(&[
        "copy",
        "-q",
        &format!("oci-archive:{}:1", s(&saved)),
        &format!("oci:{}:y", s(&out)),
    ]);
    let index = json(&std::fs::read_to_string(out.join("index.json")).unwrap());
    assert_eq!(
        index["manifests"][0]["digest"],
        a.manifest.digest().to_string()
    );

    // Its full name travels in `io.containerd.image.name`: a fresh store needs no `-t`.
    let w2 = Wharf::new();
    assert_eq!(
        w2.ok(&["load", "-i", s(&saved)]),
        "Loaded image: interop-d:1\n"
    );
    assert_eq!(
        stored_digest(&w2, "interop-d:1"),
        a.manifest.digest().to_string()
    );
    // A docker-archive image (its manifest written by wharf) goes out and back the same.
    let saved_c = w.path("wharf-c.oci.tar");
    w.ok(&["save", "--format", "oci", "-o", s(&saved_c), "interop-c:1"]);
    let src = format!("oci-archive:{}:1", s(&saved_c));
    assert_eq!(
        sha256(&skopeo_bytes(&["inspect", "--raw", &src])),
        stored_digest(&w, "interop-c:1")
    );
    let config = json(&skopeo(&["inspect", "--config", &src]));
    assert_eq!(strings(&config["rootfs"]["diff_ids"]), a.diff_ids());
    assert_eq!(
        w2.ok(&["load", "-i", s(&saved_c)]),
        "Loaded image: interop-c:1\n"
    );
    assert_eq!(
        stored_digest(&w2, "interop-c:1"),
        stored_digest(&w, "interop-c:1")
    );
    assert_clean(&w);
    assert_clean(&w2);
}

#[test]
fn multi_platform_index_round_trips() {
    if !have_tool("skopeo") {
        return;
    }
    let w = Wharf::new();
    let multi = multi_platform();
    let dir = w.path("multi");
    write_oci_layout(
        &dir,
        &multi.blobs(),
        &named_index(multi.descriptor(), "multi"),
    );
    w.ok(&["load", "-i", s(&dir), "-t", "interop-multi"]);
    assert_eq!(
        stored_digest(&w, "interop-multi:multi"),
        multi.digest().to_string()
    );

    let saved = w.path("multi.oci.tar");
    w.ok(&[
        "save",
        "--format",
        "oci",
        "-o",
        s(&saved),
        "interop-multi:multi",
    ]);
    let w2 = Wharf::new();
    assert_eq!(
        w2.ok(&["load", "-i", s(&saved)]),
        "Loaded image: interop-multi:multi\n"
    );
    assert_eq!(
        stored_digest(&w2, "interop-multi:multi"),
        multi.digest().to_string()
    );
    // Every platform's manifest came along.
    for (img, platform) in &multi.images {
        let platform = platform.to_string();
        let doc = json(&w2.ok(&["inspect", "--platform", &platform, "interop-multi:multi"]));
        assert_eq!(doc[0]["Id"], img.id(), "{platform}");
        assert_eq!(strings(&doc[0]["RootFS"]["Layers"]), img.diff_ids());
    }
    assert_clean(&w2);

    // skopeo reads the index from the archive and each platform's image through it.
    let src = format!("oci-archive:{}:multi", s(&saved));
    assert_eq!(
        skopeo_bytes(&["inspect", "--raw", &src]),
        multi.manifest.bytes()
    );
    for (img, platform) in &multi.images {
        let arch = platform.architecture.as_str();
        let doc = json(&skopeo(&["--override-arch", arch, "inspect", &src]));
        assert_eq!(doc["Digest"], multi.digest().to_string());
        assert_eq!(doc["Architecture"], arch);
        assert_eq!(strings(&doc["Layers"]), layer_digests(img.manifest.bytes()));
        let config = skopeo_bytes(&[
            "--override-arch",
            arch,
            "inspect",
            "--config",
            "--raw",
            &src,
        ]);
        assert_eq!(config, img.config, "{arch}");
    }
    // `skopeo copy --all` keeps the index byte for byte.
    let out = w.path("copied");
    skopeo(&["copy", "-q", "--all", &src, &format!("oci:{}:m", s(&out))]);
    let index = json(&std::fs::read_to_string(out.join("index.json")).unwrap());
    assert_eq!(index["manifests"][0]["digest"], multi.digest().to_string());

    // A docker-archive holds one platform's image, chosen with `--platform`.
    let arm = w.path("arm.docker.tar");
    w.ok(&[
        "save",
        "--platform",
        "linux/arm64",
        "-o",
        s(&arm),
        "interop-multi:multi",
    ]);
    let config = json(&skopeo(&[
        "inspect",
        "--config",
        &format!("docker-archive:{}", s(&arm)),
    ]));
    assert_eq!(config["architecture"], "arm64");
    assert_eq!(
        strings(&config["rootfs"]["diff_ids"]),
        multi.images[1].0.diff_ids()
    );
}

/// Images a test loaded into the Docker Engine, removed when the test ends (even on a
/// failed assertion) so reruns start clean.
struct DockerImages(Vec<String>);

impl DockerImages {
    /// A name no other test or run uses.
    fn name(&mut self, test: &str) -> String {
        let name = format!("wharf-interop/{test}:p{}", std::process::id());
        self.0.push(name.clone());
        name
    }
}

impl Drop for DockerImages {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("docker").args(["rmi", "-f", name]).output();
        }
    }
}

fn docker_inspect(name: &str) -> Value {
    let mut docs = json(&peer("docker", &["image", "inspect", name]));
    docs[0].take()
}

#[test]
fn docker_engine_loads_what_wharf_saves_and_back() {
    if !have_tool("docker") || !have_docker() {
        return;
    }
    let mut cleanup = DockerImages(Vec::new());
    let first = cleanup.name("first");
    let second = cleanup.name("second");
    let w = Wharf::new();
    let base = base_layer();
    // Unique per run, so the engine never already holds these images under other names.
    let pid = std::process::id();
    let empty = layer(&[]);
    // The same (empty) layer twice, as `RUN true` steps make: one member, listed twice.
    let one = image(
        &format!("first-{pid}"),
        vec![
            base.clone(),
            layer(&[("app/run", format!("first-{pid}").as_bytes())]),
            empty.clone(),
            layer(&[("app/config", b"x=1\n")]),
            empty.clone(),
        ],
    );
    let two = image(
        &format!("second-{pid}"),
        vec![
            base.clone(),
            layer(&[("app/run", format!("second-{pid}").as_bytes())]),
        ],
    );
    for (img, name) in [(&one, &first), (&two, &second)] {
        let layout = w.path(&format!("layout-{}", img.config_digest().short()));
        write_image_layout(&layout, img, "1");
        w.ok(&["load", "-i", s(&layout), "-t", name]);
    }

    // Both images in one archive, sharing the base layer's member.
    let saved = w.path("for-docker.tar");
    w.ok(&["save", "-o", s(&saved), &first, &second]);
    let out = peer("docker", &["load", "-i", s(&saved)]);
    for name in [&first, &second] {
        assert!(out.contains(&format!("Loaded image: {name}\n")), "{out}");
    }
    for (img, name) in [(&one, &first), (&two, &second)] {
        let docker_doc = docker_inspect(name);
        let wharf_doc = inspect(&w, name);
        assert_eq!(docker_doc["Id"], wharf_doc["Id"], "{name}");
        assert_eq!(docker_doc["Id"], img.id());
        assert_eq!(
            docker_doc["RootFS"]["Layers"],
            wharf_doc["RootFS"]["Layers"]
        );
        assert_eq!(strings(&docker_doc["RootFS"]["Layers"]), img.diff_ids());
        assert_eq!(docker_doc["Architecture"], wharf_doc["Architecture"]);
        assert_eq!(docker_doc["Os"], wharf_doc["Os"]);
        assert_eq!(docker_doc["Created"], wharf_doc["Created"]);
        assert_eq!(docker_doc["Config"]["Cmd"], wharf_doc["Config"]["Cmd"]);
        assert_eq!(docker_doc["Config"]["Env"], wharf_doc["Config"]["Env"]);
    }

    // An OCI archive carries a `manifest.json` too (as Docker ≥ 25 writes), so Docker
    // before 25, which reads only that file, loads it with its gzip layers.
    peer("docker", &["rmi", "-f", &first]);
    let oci = w.path("for-docker.oci.tar");
    w.ok(&["save", "--format", "oci", "-o", s(&oci), &first]);
    let out = peer("docker", &["load", "-i", s(&oci)]);
    assert!(out.contains(&format!("Loaded image: {first}\n")), "{out}");
    assert_eq!(docker_inspect(&first)["Id"], one.id());
    assert_eq!(
        strings(&docker_inspect(&first)["RootFS"]["Layers"]),
        one.diff_ids()
    );

    // And back: Docker 20.10 writes the legacy layout; a fresh store reads both images.
    let from_docker = w.path("from-docker.tar");
    peer("docker", &["save", "-o", s(&from_docker), &first, &second]);
    let w2 = Wharf::new();
    let mut loaded: Vec<String> = w2
        .ok(&["load", "-i", s(&from_docker)])
        .lines()
        .map(String::from)
        .collect();
    loaded.sort();
    assert_eq!(
        loaded,
        [
            format!("Loaded image: {first}"),
            format!("Loaded image: {second}")
        ]
    );
    for (img, name) in [(&one, &first), (&two, &second)] {
        assert_eq!(id_of(&w2, name), img.id(), "{name}");
        assert_eq!(diff_ids_of(&w2, name), img.diff_ids(), "{name}");
    }
    // The shared base layer is stored once.
    let layers: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|n| diff_ids_of(&w2, n))
        .collect();
    assert!(w2
        .root()
        .join("blobs/sha256")
        .join(base.diff_id().hex())
        .exists());
    assert_eq!(
        layers
            .iter()
            .filter(|d| **d == base.diff_id().to_string())
            .count(),
        2
    );
    assert_clean(&w2);
}

/// `Size` in `image inspect` and `images` is what the Docker Engine reports for the same
/// image: the layers' content (a hard-linked file once, a symlink's target length, no
/// tar headers or padding), not the tars' bytes.
#[test]
fn image_size_is_what_the_docker_engine_reports() {
    if !have_tool("docker") || !have_docker() {
        return;
    }
    let mut cleanup = DockerImages(Vec::new());
    let name = cleanup.name("size");
    let w = Wharf::new();
    let unique = format!("size-{}", std::process::id());
    let first = LayerTar::new()
        .dir("d")
        .file("d/a", &[b'a'; 1000])
        .hardlink("d/hard", "d/a")
        .symlink("d/sym", "0123456789abcdefghij")
        .file("d/empty", b"")
        .file("gone", unique.as_bytes())
        .finish();
    let second = LayerTar::new()
        .whiteout("gone")
        .dir("d")
        .opaque("d")
        .file("d/b", &[b'b'; 77])
        .symlink("d/sym2", "abc")
        .finish();
    let img = image(&unique, vec![Layer::gzip(first), Layer::gzip(second)]);
    let layout = w.path("layout");
    write_image_layout(&layout, &img, "1");
    w.ok(&["load", "-i", s(&layout), "-t", &name]);
    let saved = w.path("for-docker.tar");
    w.ok(&["save", "-o", s(&saved), &name]);
    peer("docker", &["load", "-i", s(&saved)]);

    let docker_size = docker_inspect(&name)["Size"].as_u64().unwrap();
    let wharf_size = inspect(&w, &name)["Size"].as_u64().unwrap();
    assert_eq!(wharf_size, docker_size);
    let tar_bytes: usize = img.layers.iter().map(|l| l.tar.len()).sum();
    assert_ne!(
        wharf_size, tar_bytes as u64,
        "the tars' bytes are not the size"
    );
    // `images` says the same, in Docker's units.
    let docker_row = peer("docker", &["images", "--format", "{{.Size}}", &name]);
    let wharf_row = w.ok(&["images", "--format", "json", &name]);
    let wharf_row: Value = json(wharf_row.lines().next().unwrap());
    assert_eq!(wharf_row["Size"], docker_row.trim());
}
