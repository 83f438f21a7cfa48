//! Images, layers and archives built in code: small, deterministic (fixed times, sorted
//! entries), so their digests are stable and tests need no checked-in blobs.

use std::io::Write;
use std::path::Path;

use serde_json::json;
use wharf_spec::Digest;

/// A layer: its uncompressed tar and a gzip of it.
#[derive(Clone)]
pub struct Layer {
    pub tar: Vec<u8>,
    pub gz: Vec<u8>,
}

impl Layer {
    pub fn diff_id(&self) -> Digest {
        Digest::sha256_of(&self.tar)
    }
    pub fn digest(&self) -> Digest {
        Digest::sha256_of(&self.gz)
    }
    /// What its files hold, Docker's size of a layer (these layers hold regular files only).
    pub fn content_size(&self) -> u64 {
        let mut archive = tar::Archive::new(self.tar.as_slice());
        let entries = archive.entries().unwrap();
        entries.map(|e| e.unwrap().header().size().unwrap()).sum()
    }
}

impl TestImage {
    /// Docker's image `Size`: what the layers' files hold, not the tars' bytes.
    pub fn content_size(&self) -> u64 {
        self.layers.iter().map(Layer::content_size).sum()
    }
}

/// A layer holding `files` (path, content), mode 0644, mtime 0.
pub fn layer(files: &[(&str, &[u8])]) -> Layer {
    let tar = tar_of(files);
    Layer {
        gz: gzip(&tar),
        tar,
    }
}

/// A tar of regular files, in the order given.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *content).unwrap();
    }
    builder.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An image: config, gzip layers, and an OCI manifest naming them.
#[derive(Clone)]
pub struct TestImage {
    pub config: Vec<u8>,
    pub layers: Vec<Layer>,
    pub manifest: Vec<u8>,
}

pub const CREATED: &str = "2020-01-02T03:04:05Z";

/// An image for `architecture` whose layers are `layers`; `cmd` makes configs differ.
pub fn image_for(architecture: &str, cmd: &str, layers: Vec<Layer>) -> TestImage {
    image_at(architecture, cmd, CREATED, layers)
}

/// [`image_for`] with another creation time.
pub fn image_at(architecture: &str, cmd: &str, created: &str, layers: Vec<Layer>) -> TestImage {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id().to_string()).collect();
    let mut history: Vec<serde_json::Value> = layers
        .iter()
        .enumerate()
        .map(|(i, _)| json!({"created": created, "created_by": format!("/bin/sh -c make layer {i}")}))
        .collect();
    history.push(json!({"created": created, "created_by": format!("/bin/sh -c #(nop)  CMD [\"{cmd}\"]"), "empty_layer": true}));
    let config = json!({
        "architecture": architecture,
        "os": "linux",
        "created": created,
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": [cmd]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config = serde_json::to_vec(&config).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256_of(&config).to_string(), "size": config.len()},
        "layers": layers.iter().map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": l.digest().to_string(), "size": l.gz.len()})).collect::<Vec<_>>(),
    });
    TestImage {
        manifest: serde_json::to_vec(&manifest).unwrap(),
        config,
        layers,
    }
}

pub fn image(cmd: &str, layers: Vec<Layer>) -> TestImage {
    image_for("amd64", cmd, layers)
}

/// A two-layer image whose base layer is `base`.
pub fn image_on(base: &Layer, cmd: &str) -> TestImage {
    image(
        cmd,
        vec![base.clone(), layer(&[("app/run", cmd.as_bytes())])],
    )
}

pub fn base_layer() -> Layer {
    layer(&[
        ("etc/os-release", b"ID=test\n"),
        ("bin/sh", &[0x7f, b'E', b'L', b'F']),
    ])
}

impl TestImage {
    pub fn manifest_digest(&self) -> Digest {
        Digest::sha256_of(&self.manifest)
    }
    pub fn config_digest(&self) -> Digest {
        Digest::sha256_of(&self.config)
    }
    pub fn id(&self) -> String {
        self.config_digest().to_string()
    }
    pub fn diff_ids(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|l| l.diff_id().to_string())
            .collect()
    }
    pub fn manifest_descriptor(&self) -> serde_json::Value {
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": self.manifest_digest().to_string(), "size": self.manifest.len()})
    }
    /// Every blob of the image: (digest, bytes), manifest first.
    pub fn blobs(&self) -> Vec<(Digest, Vec<u8>)> {
        let mut out = vec![
            (self.manifest_digest(), self.manifest.clone()),
            (self.config_digest(), self.config.clone()),
        ];
        out.extend(self.layers.iter().map(|l| (l.digest(), l.gz.clone())));
        out
    }
}

/// An index of several platform images.
pub struct TestIndex {
    pub index: Vec<u8>,
    pub images: Vec<(TestImage, &'static str, Option<&'static str>)>,
}

pub fn multi_platform() -> TestIndex {
    let amd = image_for("amd64", "amd", vec![layer(&[("arch", b"amd64")])]);
    let arm = image_for("arm64", "arm", vec![layer(&[("arch", b"arm64")])]);
    let images = vec![(amd, "amd64", None), (arm, "arm64", Some("v8"))];
    let manifests: Vec<serde_json::Value> = images
        .iter()
        .map(|(img, arch, variant)| {
            let mut d = img.manifest_descriptor();
            let mut platform = json!({"architecture": arch, "os": "linux"});
            if let Some(v) = variant {
                platform["variant"] = json!(v);
            }
            d["platform"] = platform;
            d
        })
        .collect();
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    TestIndex {
        index: serde_json::to_vec(&index).unwrap(),
        images,
    }
}

impl TestIndex {
    pub fn digest(&self) -> Digest {
        Digest::sha256_of(&self.index)
    }
    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": self.digest().to_string(), "size": self.index.len()})
    }
    pub fn blobs(&self) -> Vec<(Digest, Vec<u8>)> {
        let mut out = vec![(self.digest(), self.index.clone())];
        for (img, _, _) in &self.images {
            out.extend(img.blobs());
        }
        out
    }
}

/// `index.json` entries: (descriptor, annotations).
pub fn index_json(entries: &[(serde_json::Value, Vec<(&str, &str)>)]) -> Vec<u8> {
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(d, annotations)| {
            let mut d = d.clone();
            if !annotations.is_empty() {
                let map: serde_json::Map<String, serde_json::Value> = annotations
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v)))
                    .collect();
                d["annotations"] = serde_json::Value::Object(map);
            }
            d
        })
        .collect();
    serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": manifests})).unwrap()
}

pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes an OCI layout directory holding `blobs` and `index`.
pub fn write_oci_layout(dir: &Path, blobs: &[(Digest, Vec<u8>)], index: &[u8]) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), OCI_LAYOUT).unwrap();
    std::fs::write(dir.join("index.json"), index).unwrap();
    for (digest, bytes) in blobs {
        std::fs::write(dir.join("blobs/sha256").join(digest.hex()), bytes).unwrap();
    }
}

/// The same layout as a tar (an OCI archive).
pub fn oci_archive(blobs: &[(Digest, Vec<u8>)], index: &[u8]) -> Vec<u8> {
    let mut files: Vec<(String, Vec<u8>)> = vec![("oci-layout".into(), OCI_LAYOUT.to_vec())];
    for (digest, bytes) in blobs {
        files.push((format!("blobs/sha256/{}", digest.hex()), bytes.clone()));
    }
    files.push(("index.json".into(), index.to_vec()));
    tar_of(
        &files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect::<Vec<_>>(),
    )
}

/// A classic `docker save` archive: `<diffid>/layer.tar` (uncompressed), `<id>.json`,
/// `manifest.json` with `RepoTags`.
pub fn docker_archive(images: &[(&TestImage, &[&str])]) -> Vec<u8> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut manifest = Vec::new();
    for (img, tags) in images {
        let mut layer_paths = Vec::new();
        for l in &img.layers {
            let name = format!("{}/layer.tar", l.diff_id().hex());
            if !files.iter().any(|(n, _)| n == &name) {
                files.push((format!("{}/VERSION", l.diff_id().hex()), b"1.0".to_vec()));
                files.push((name.clone(), l.tar.clone()));
            }
            layer_paths.push(name);
        }
        let config_name = format!("{}.json", img.config_digest().hex());
        files.push((config_name.clone(), img.config.clone()));
        manifest.push(json!({"Config": config_name, "RepoTags": tags, "Layers": layer_paths}));
    }
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    ));
    tar_of(
        &files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect::<Vec<_>>(),
    )
}

/// Docker ≥ 25's `docker save`: an OCI layout with uncompressed layers, plus a
/// `manifest.json` whose paths point into `blobs/`.
pub fn docker25_archive(img: &TestImage, name: &str, tag: &str) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = img
        .layers
        .iter()
        .map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l.diff_id().to_string(), "size": l.tar.len()}))
        .collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": img.config_digest().to_string(), "size": img.config.len()},
        "layers": layers,
    }))
    .unwrap();
    let manifest_digest = Digest::sha256_of(&manifest);
    let mut blobs = vec![
        (manifest_digest.clone(), manifest.clone()),
        (img.config_digest(), img.config.clone()),
    ];
    blobs.extend(img.layers.iter().map(|l| (l.diff_id(), l.tar.clone())));
    let descriptor = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest.to_string(), "size": manifest.len()});
    let full = format!("docker.io/library/{name}:{tag}");
    let index = index_json(&[(
        descriptor,
        vec![
            ("io.containerd.image.name", full.as_str()),
            ("org.opencontainers.image.ref.name", tag),
        ],
    )]);
    let docker_manifest = json!([{
        "Config": format!("blobs/sha256/{}", img.config_digest().hex()),
        "RepoTags": [format!("{name}:{tag}")],
        "Layers": img.layers.iter().map(|l| format!("blobs/sha256/{}", l.diff_id().hex())).collect::<Vec<_>>(),
    }]);
    let mut files: Vec<(String, Vec<u8>)> = vec![("oci-layout".into(), OCI_LAYOUT.to_vec())];
    for (digest, bytes) in &blobs {
        files.push((format!("blobs/sha256/{}", digest.hex()), bytes.clone()));
    }
    files.push(("index.json".into(), index));
    files.push((
        "manifest.json".into(),
        serde_json::to_vec(&docker_manifest).unwrap(),
    ));
    tar_of(
        &files
            .iter()
            .map(|(n, b)| (n.as_str(), b.as_slice()))
            .collect::<Vec<_>>(),
    )
}

/// A tar member for archives the tidy builders cannot express.
pub enum Member<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
}

/// A tar of `members` in order. Names are written verbatim (`..` and absolute paths too),
/// so that malicious archives can be built.
pub fn tar_members(members: &[Member]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for member in members {
        let mut header = tar::Header::new_gnu();
        let (name, data): (&str, &[u8]) = match member {
            Member::File(name, data) => {
                header.set_entry_type(tar::EntryType::Regular);
                (name, data)
            }
            Member::Symlink(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_link_name(target).unwrap();
                (name, &[])
            }
        };
        let slot = &mut header.as_gnu_mut().unwrap().name;
        assert!(
            name.len() < slot.len(),
            "`{name}` is too long for a plain header"
        );
        slot[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}
