//! `wharf image inspect`: Docker's image inspect document, field for field.

use serde::Serialize;
use serde_json::{Map, Value};
use wharf_spec::{Platform, Reference};
use wharf_store::Store;

use crate::catalog::{self, Found};
use crate::error::Result;
use crate::layers::image_size;

/// Docker's zero time, shown for images never tagged with `wharf tag`.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Inspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    pub docker_version: String,
    pub author: String,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    pub size: u64,
    /// Local images only: the layer snapshots `wharf unpack` made (none yet: `Data` null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_driver: Option<GraphDriver>,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    pub metadata: Metadata,
    pub config: Value,
    pub descriptor: DescriptorView,
}

/// Docker's `GraphDriver`: an overlay-style `LowerDir` (top layer first, `:`-separated),
/// usable as `mount -t overlay -o lowerdir=...` once every layer has a snapshot.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    pub data: Option<Map<String, Value>>,
    pub name: String,
}

fn graph_driver(store: &Store, diff_ids: &[wharf_spec::Digest]) -> GraphDriver {
    let dirs: Vec<String> = crate::snapshots::chain_ids(diff_ids)
        .iter()
        .take_while(|c| crate::snapshots::is_usable(store, c))
        .map(|c| {
            crate::snapshots::snapshot_fs(store, c)
                .display()
                .to_string()
        })
        .collect();
    let data = (!dirs.is_empty() && dirs.len() == diff_ids.len()).then(|| {
        let lower: Vec<String> = dirs.into_iter().rev().collect();
        let mut data = Map::new();
        data.insert("LowerDir".into(), Value::String(lower.join(":")));
        data
    });
    GraphDriver {
        data,
        name: "overlay".into(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    pub layers: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    pub last_tag_time: String,
}

/// The descriptor of what the name points at (the index for a multi-platform image).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DescriptorView {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

pub fn inspect(store: &Store, input: &str, platform: Option<&Platform>) -> Result<Inspect> {
    let found = catalog::find(store, input, platform)?;
    let index = store.read_index()?;
    let last_tag_time = catalog::entries(&index)
        .into_iter()
        .filter(|e| e.target.digest == found.resolved.target.digest)
        .filter_map(|e| e.last_tag_time().map(str::to_string))
        .max()
        .unwrap_or_else(|| ZERO_TIME.to_string());
    document(store, &found, last_tag_time)
}

fn document(store: &Store, found: &Found, last_tag_time: String) -> Result<Inspect> {
    let r = &found.resolved;
    let c = &r.config;
    Ok(Inspect {
        id: r.id().to_string(),
        // A name pinned by digest (a pull by digest) is a repo digest, not a tag.
        repo_tags: found
            .names
            .iter()
            .filter(|n| n.digest().is_none())
            .map(Reference::familiar)
            .collect(),
        repo_digests: repo_digests(found),
        parent: c.parent.clone().unwrap_or_default(),
        comment: c.comment.clone().unwrap_or_default(),
        created: c.created.clone(),
        docker_version: c.docker_version.clone().unwrap_or_default(),
        author: c.author.clone().unwrap_or_default(),
        architecture: c.architecture.clone(),
        variant: c.variant.clone().filter(|v| !v.is_empty()),
        os: c.os.clone(),
        os_version: c.os_version.clone().filter(|v| !v.is_empty()),
        size: image_size(store, &r.manifest.layers)?,
        graph_driver: Some(graph_driver(store, &c.rootfs.diff_ids)),
        root_fs: RootFs {
            kind: if c.rootfs.kind.is_empty() {
                "layers".into()
            } else {
                c.rootfs.kind.clone()
            },
            layers: c.rootfs.diff_ids.iter().map(ToString::to_string).collect(),
        },
        metadata: Metadata { last_tag_time },
        config: container_config(c.config.as_ref()),
        descriptor: DescriptorView {
            media_type: r.target.media_type.clone(),
            digest: r.target.digest.to_string(),
            size: r.target.size,
            platform: r.target.platform.clone(),
        },
    })
}

/// `name@digest` for each repository the image was pulled from, as a pull by digest would
/// use; none for an image that only came from an archive or a build, as in Docker.
fn repo_digests(found: &Found) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in &found.pulled_names {
        let entry = name
            .with_digest(found.resolved.target.digest.clone())
            .familiar();
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    out
}

/// Docker always shows these keys, `null` or empty when the image leaves them unset.
fn container_config(config: Option<&Map<String, Value>>) -> Value {
    let mut out: Map<String, Value> = config.cloned().unwrap_or_default();
    for key in ["Cmd", "Entrypoint", "Env", "Labels", "OnBuild", "Volumes"] {
        out.entry(key).or_insert(Value::Null);
    }
    for key in ["User", "WorkingDir"] {
        out.entry(key).or_insert(Value::String(String::new()));
    }
    Value::Object(out)
}

/// The inspect document of an image still in a registry (`wharf image inspect --remote`):
/// built from its manifest and config alone, no store involved. `target` is what the
/// reference resolved to (an index for a multi-platform image), `reference` the name asked
/// for (it gives `RepoTags` when it has a tag, and `RepoDigests` as a pull would record it).
///
/// `Size` is the sum of the layers' compressed sizes from the manifest — the bytes a pull
/// downloads. The local document shows uncompressed sizes, which a registry does not know
/// without downloading every layer; the number differs from what the same image shows once
/// pulled, and that is the honest price of not pulling.
pub fn remote(
    reference: &Reference,
    target: &wharf_spec::Descriptor,
    manifest: &wharf_spec::ImageManifest,
    config: &wharf_spec::ImageConfig,
) -> Inspect {
    let c = config;
    let repo_tags = match reference.tag() {
        Some(_) if reference.digest().is_none() => vec![reference.familiar()],
        _ => Vec::new(),
    };
    let repo_digests = vec![reference.with_digest(target.digest.clone()).familiar()];
    Inspect {
        id: manifest.config.digest.to_string(),
        repo_tags,
        repo_digests,
        parent: c.parent.clone().unwrap_or_default(),
        comment: c.comment.clone().unwrap_or_default(),
        created: c.created.clone(),
        docker_version: c.docker_version.clone().unwrap_or_default(),
        author: c.author.clone().unwrap_or_default(),
        architecture: c.architecture.clone(),
        variant: c.variant.clone().filter(|v| !v.is_empty()),
        os: c.os.clone(),
        os_version: c.os_version.clone().filter(|v| !v.is_empty()),
        size: manifest.layers.iter().map(|l| l.size).sum(),
        graph_driver: None,
        root_fs: RootFs {
            kind: if c.rootfs.kind.is_empty() {
                "layers".into()
            } else {
                c.rootfs.kind.clone()
            },
            layers: c.rootfs.diff_ids.iter().map(ToString::to_string).collect(),
        },
        metadata: Metadata {
            last_tag_time: ZERO_TIME.to_string(),
        },
        config: container_config(c.config.as_ref()),
        descriptor: DescriptorView {
            media_type: target.media_type.clone(),
            digest: target.digest.to_string(),
            size: target.size,
            platform: target.platform.clone(),
        },
    }
}

#[cfg(test)]
mod remote_tests {
    use super::*;
    use wharf_spec::{Descriptor, Digest, ImageConfig, ImageManifest};

    #[test]
    fn remote_document_comes_from_manifest_and_config_alone() {
        let config_bytes = br#"{"architecture":"arm64","variant":"v8","os":"linux",
            "created":"2024-01-02T03:04:05Z","config":{"Cmd":["sh"]},
            "rootfs":{"type":"layers","diff_ids":["sha256:1111111111111111111111111111111111111111111111111111111111111111"]}}"#;
        let config = ImageConfig::parse(config_bytes).unwrap();
        let config_desc = Descriptor::new(
            "application/vnd.oci.image.config.v1+json",
            Digest::sha256_of(config_bytes),
            config_bytes.len() as u64,
        );
        let layers = vec![
            Descriptor::new(
                "application/vnd.oci.image.layer.v1.tar+gzip",
                Digest::sha256_of(b"a"),
                100,
            ),
            Descriptor::new(
                "application/vnd.oci.image.layer.v1.tar+gzip",
                Digest::sha256_of(b"b"),
                23,
            ),
        ];
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some("application/vnd.oci.image.manifest.v1+json".into()),
            artifact_type: None,
            config: config_desc.clone(),
            layers,
            subject: None,
            annotations: None,
        };
        let target = Descriptor::new(
            "application/vnd.oci.image.index.v1+json",
            Digest::sha256_of(b"index"),
            456,
        );
        let reference = Reference::parse_normalized("localhost:5000/app:1").unwrap();
        let doc = remote(&reference, &target, &manifest, &config);
        assert_eq!(doc.id, config_desc.digest.to_string());
        assert_eq!(doc.repo_tags, ["localhost:5000/app:1"]);
        assert_eq!(
            doc.repo_digests,
            [format!("localhost:5000/app@{}", target.digest)]
        );
        assert_eq!(doc.size, 123);
        assert_eq!(
            (doc.architecture.as_str(), doc.variant.as_deref()),
            ("arm64", Some("v8"))
        );
        assert_eq!(doc.root_fs.layers.len(), 1);
        assert_eq!(doc.metadata.last_tag_time, ZERO_TIME);
        assert_eq!(doc.config["Cmd"], serde_json::json!(["sh"]));
        assert_eq!(doc.config["Entrypoint"], serde_json::Value::Null);
        assert_eq!(doc.descriptor.size, 456);

        let by_digest = reference.with_digest(target.digest.clone());
        assert!(remote(&by_digest, &target, &manifest, &config)
            .repo_tags
            .is_empty());
    }
}
