//! Image manifests and indexes, parsed from their exact bytes and kept beside them.
//!
//! Manifests are content-addressed by their bytes, so wharf never re-serializes one it
//! received: [`RawManifest`] keeps the bytes and a parsed view side by side.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::media_type::{self, Kind};
use crate::{Algorithm, Descriptor, Digest};

/// Manifests and configs larger than this are refused: they are held in memory.
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageIndex {
    pub fn empty() -> Self {
        ImageIndex {
            schema_version: 2,
            media_type: Some(media_type::OCI_INDEX.to_string()),
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: None,
        }
    }
}

/// The parsed view of a manifest document.
// Short-lived and few at a time: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

impl Manifest {
    /// Every descriptor this document points at (config and layers, or child manifests),
    /// plus its `subject`.
    pub fn children(&self) -> Vec<&Descriptor> {
        let (mut out, subject): (Vec<&Descriptor>, _) = match self {
            Manifest::Image(m) => (
                std::iter::once(&m.config).chain(m.layers.iter()).collect(),
                m.subject.as_ref(),
            ),
            Manifest::Index(i) => (i.manifests.iter().collect(), i.subject.as_ref()),
        };
        out.extend(subject);
        out
    }

    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Manifest::Image(m) => m.subject.as_ref(),
            Manifest::Index(i) => i.subject.as_ref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is {size} bytes, over the {MAX_MANIFEST_SIZE}-byte limit")]
    TooLarge { size: u64 },
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    #[error("Docker schema1 manifests (`{0}`) are deprecated and not supported; rebuild or re-push the image with a current Docker or buildah")]
    Schema1(String),
    #[error("unsupported manifest media type `{0}`")]
    UnsupportedMediaType(String),
    #[error("manifest has schemaVersion {0}, expected 2")]
    SchemaVersion(u32),
    #[error("manifest declares media type `{declared}` but was served as `{given}`")]
    MediaTypeMismatch { declared: String, given: String },
    #[error("manifest has neither `config`/`layers` nor `manifests`: cannot tell what it is")]
    Unrecognized,
    #[error("ambiguous manifest: a document of type `{media_type}` must not have `{field}`, which only {other} has; it could be read as either (CVE-2021-41190)")]
    Ambiguous {
        media_type: String,
        field: &'static str,
        other: &'static str,
    },
    #[error("invalid manifest: {0}")]
    Invalid(String),
}

/// A manifest's exact bytes, its digest and media type, and the parsed view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawManifest {
    bytes: Vec<u8>,
    digest: Digest,
    media_type: String,
    manifest: Manifest,
}

/// Just enough of a document to tell what it is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<u32>,
    media_type: Option<String>,
    config: Option<serde_json::Value>,
    layers: Option<serde_json::Value>,
    manifests: Option<serde_json::Value>,
    fs_layers: Option<serde_json::Value>,
}

impl Probe {
    /// A field of the other kind of document in `manifest`, which makes it ambiguous: the
    /// same bytes (and digest) would read as an image manifest or as an index depending on
    /// the type a transport claims. The image-spec's advice since 1.0.2, and what containerd
    /// and the Docker Engine refuse on pull.
    fn ambiguity(&self, manifest: &Manifest, media_type: &str) -> Result<(), ManifestError> {
        let (field, other) = match manifest {
            Manifest::Image(_) if self.manifests.is_some() => ("manifests", "an index"),
            Manifest::Index(_) if self.config.is_some() => ("config", "an image manifest"),
            Manifest::Index(_) if self.layers.is_some() => ("layers", "an image manifest"),
            _ => return Ok(()),
        };
        Err(ManifestError::Ambiguous {
            media_type: media_type.to_string(),
            field,
            other,
        })
    }
}

impl RawManifest {
    /// Parses `bytes` as a manifest or index. `given_type` is the media type a transport
    /// claims (a descriptor's `mediaType` or an HTTP `Content-Type`), when there is one.
    pub fn parse(bytes: Vec<u8>, given_type: Option<&str>) -> Result<Self, ManifestError> {
        Self::parse_with(bytes, given_type, Algorithm::Sha256)
    }

    pub fn parse_with(
        bytes: Vec<u8>,
        given_type: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Self, ManifestError> {
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(ManifestError::TooLarge {
                size: bytes.len() as u64,
            });
        }
        let probe: Probe =
            serde_json::from_slice(&bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        let given_type = given_type.filter(|t| !t.is_empty() && !media_type::is_generic(t));
        if let Some(t) = given_type.filter(|t| media_type::kind(t) == Kind::Schema1) {
            return Err(ManifestError::Schema1(t.to_string()));
        }
        if probe.schema_version == Some(1) || probe.fs_layers.is_some() {
            return Err(ManifestError::Schema1(
                probe
                    .media_type
                    .unwrap_or_else(|| media_type::DOCKER_SCHEMA1.to_string()),
            ));
        }
        match probe.schema_version {
            Some(2) => {}
            Some(v) => return Err(ManifestError::SchemaVersion(v)),
            None => return Err(ManifestError::Invalid("`schemaVersion` is missing".into())),
        }
        if let (Some(declared), Some(given)) = (&probe.media_type, given_type) {
            if declared != given {
                return Err(ManifestError::MediaTypeMismatch {
                    declared: declared.clone(),
                    given: given.to_string(),
                });
            }
        }
        let media_type = match probe.media_type.as_deref().or(given_type) {
            Some(t) => t.to_string(),
            // The OCI spec lets `mediaType` be absent; the shape says which it is.
            None if probe.manifests.is_some() => media_type::OCI_INDEX.to_string(),
            None if probe.config.is_some() => media_type::OCI_MANIFEST.to_string(),
            None => return Err(ManifestError::Unrecognized),
        };
        let manifest = match media_type::kind(&media_type) {
            Kind::Manifest => Manifest::Image(
                serde_json::from_slice(&bytes)
                    .map_err(|e| ManifestError::Invalid(e.to_string()))?,
            ),
            Kind::Index => Manifest::Index(
                serde_json::from_slice(&bytes)
                    .map_err(|e| ManifestError::Invalid(e.to_string()))?,
            ),
            Kind::Schema1 => return Err(ManifestError::Schema1(media_type)),
            _ if probe.manifests.is_some() => Manifest::Index(
                serde_json::from_slice(&bytes)
                    .map_err(|e| ManifestError::Invalid(e.to_string()))?,
            ),
            _ if probe.config.is_some() => Manifest::Image(
                serde_json::from_slice(&bytes)
                    .map_err(|e| ManifestError::Invalid(e.to_string()))?,
            ),
            _ => return Err(ManifestError::UnsupportedMediaType(media_type)),
        };
        probe.ambiguity(&manifest, &media_type)?;
        let digest = Digest::of_bytes(algorithm, &bytes);
        Ok(RawManifest {
            bytes,
            digest,
            media_type,
            manifest,
        })
    }

    /// Serializes a manifest wharf itself creates; its bytes are fixed from then on.
    pub fn from_image(manifest: &ImageManifest) -> Self {
        let bytes = serde_json::to_vec(manifest).expect("manifest serializes");
        let media_type = manifest
            .media_type
            .clone()
            .unwrap_or_else(|| media_type::OCI_MANIFEST.to_string());
        RawManifest {
            digest: Digest::sha256_of(&bytes),
            bytes,
            media_type,
            manifest: Manifest::Image(manifest.clone()),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// A descriptor that points at this manifest.
    pub fn descriptor(&self) -> Descriptor {
        let mut d = Descriptor::new(
            self.media_type.clone(),
            self.digest.clone(),
            self.bytes.len() as u64,
        );
        d.artifact_type = match &self.manifest {
            Manifest::Image(m) => m.artifact_type.clone(),
            Manifest::Index(i) => i.artifact_type.clone(),
        };
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYER: &str = "sha256:a1e539fb64b60d04a989065a2e4cc7bc0dc658f3ae2a7c1bfd7e2d1cc5f88c9d";
    const CONFIG: &str = "sha256:6b0dd887c916b3ece5be59d91794eb3d9403eb8b0fb1ac9bbc30724550c988d0";

    fn oci_manifest(media_type: Option<&str>) -> Vec<u8> {
        let mt = media_type
            .map(|t| format!(r#""mediaType":"{t}","#))
            .unwrap_or_default();
        format!(
            r#"{{"schemaVersion":2,{mt}"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{CONFIG}","size":10}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{LAYER}","size":20}}]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn keeps_exact_bytes_and_digest() {
        let bytes = oci_manifest(None);
        let m = RawManifest::parse(bytes.clone(), None).unwrap();
        assert_eq!(m.bytes(), &bytes[..]);
        assert_eq!(m.digest(), &Digest::sha256_of(&bytes));
        assert_eq!(m.media_type(), media_type::OCI_MANIFEST);
        assert_eq!(m.manifest().children().len(), 2);
    }

    #[test]
    fn index_without_media_type_is_recognized_by_shape() {
        let bytes = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{LAYER}","size":3,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}]}}"#
        );
        let m = RawManifest::parse(bytes.into_bytes(), None).unwrap();
        assert_eq!(m.media_type(), media_type::OCI_INDEX);
        match m.manifest() {
            Manifest::Index(i) => {
                assert_eq!(
                    i.manifests[0].platform.as_ref().unwrap().variant.as_deref(),
                    Some("v8")
                )
            }
            _ => panic!("expected an index"),
        }
    }

    #[test]
    fn docker_schema2_is_accepted() {
        let bytes = oci_manifest(Some(media_type::DOCKER_MANIFEST));
        let m = RawManifest::parse(bytes, Some(media_type::DOCKER_MANIFEST)).unwrap();
        assert_eq!(m.media_type(), media_type::DOCKER_MANIFEST);
    }

    #[test]
    fn schema1_is_refused_clearly() {
        let body = br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#.to_vec();
        let err = RawManifest::parse(body, None).unwrap_err().to_string();
        assert!(err.contains("schema1"), "{err}");
        let err = RawManifest::parse(oci_manifest(None), Some(media_type::DOCKER_SCHEMA1_SIGNED))
            .unwrap_err()
            .to_string();
        assert!(err.contains("schema1"), "{err}");
    }

    #[test]
    fn ambiguous_documents_are_refused() {
        let manifest: serde_json::Value = serde_json::from_slice(&oci_manifest(None)).unwrap();
        let entry = serde_json::json!([{"mediaType": media_type::OCI_MANIFEST, "digest": LAYER, "size": 3}]);
        // An image manifest (declared, claimed by the transport, or by shape) with `manifests`.
        let mut with_manifests = manifest.clone();
        with_manifests["manifests"] = entry.clone();
        let mut declared = with_manifests.clone();
        declared["mediaType"] = media_type::OCI_MANIFEST.into();
        let mut docker = with_manifests.clone();
        docker["mediaType"] = media_type::DOCKER_MANIFEST.into();
        // An index with `config` or `layers`.
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX, "manifests": entry});
        let mut with_config = index.clone();
        with_config["config"] = manifest["config"].clone();
        let mut with_layers = index.clone();
        with_layers["layers"] = manifest["layers"].clone();
        let mut list_with_layers = with_layers.clone();
        list_with_layers["mediaType"] = media_type::DOCKER_MANIFEST_LIST.into();
        let cases: Vec<(serde_json::Value, Option<&str>, &str)> = vec![
            // Typed by nobody: the shape says index first, and it has `config`.
            (with_manifests.clone(), None, "`config`"),
            (
                with_manifests,
                Some(media_type::OCI_MANIFEST),
                "`manifests`",
            ),
            (declared, None, "`manifests`"),
            (docker, None, "`manifests`"),
            (with_config, None, "`config`"),
            (with_layers, Some(media_type::OCI_INDEX), "`layers`"),
            (list_with_layers, None, "`layers`"),
        ];
        for (doc, given, field) in cases {
            let err = RawManifest::parse(serde_json::to_vec(&doc).unwrap(), given).unwrap_err();
            assert!(
                matches!(err, ManifestError::Ambiguous { .. }),
                "{doc}: {err}"
            );
            let message = err.to_string();
            assert!(
                message.contains(field) && message.contains("ambiguous"),
                "{message}"
            );
        }
        // Unambiguous documents still parse; `null` is no field at all.
        let mut plain = manifest.clone();
        plain["manifests"] = serde_json::Value::Null;
        RawManifest::parse(serde_json::to_vec(&plain).unwrap(), None).unwrap();
        RawManifest::parse(serde_json::to_vec(&index).unwrap(), None).unwrap();
    }

    #[test]
    fn bad_documents_name_the_problem() {
        let cases: Vec<(Vec<u8>, Option<&str>, &str)> = vec![
            (b"{not json".to_vec(), None, "not valid JSON"),
            (b"{}".to_vec(), None, "schemaVersion"),
            (br#"{"schemaVersion":3}"#.to_vec(), None, "schemaVersion 3"),
            (br#"{"schemaVersion":2}"#.to_vec(), None, "neither"),
            (
                oci_manifest(Some(media_type::OCI_MANIFEST)),
                Some(media_type::DOCKER_MANIFEST),
                "but was served as",
            ),
            (
                br#"{"schemaVersion":2,"config":{"digest":"sha256:00"},"layers":[]}"#.to_vec(),
                None,
                "invalid manifest",
            ),
            (vec![b' '; MAX_MANIFEST_SIZE as usize + 1], None, "over the"),
        ];
        for (bytes, given, want) in cases {
            let err = RawManifest::parse(bytes, given).unwrap_err().to_string();
            assert!(err.contains(want), "want {want:?} in {err}");
        }
    }
}
