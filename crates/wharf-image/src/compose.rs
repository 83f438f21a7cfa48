//! Making a new image out of an existing one (`append`, `mutate`): edit its config and
//! manifest as JSON — so every field wharf does not change is copied, known to wharf or
//! not — then publish the new blobs and name the result in one store commit.

use serde_json::{json, Map, Value};
use wharf_spec::media_type::{self, Kind};
use wharf_spec::{Algorithm, Descriptor, Digest, Platform, Reference};
use wharf_store::{LayerInfo, StagedBlob, Store};

use crate::catalog::{self, Resolved};
use crate::error::{ImageError, Result};
use crate::names;

/// The word for "no base image", as in a Dockerfile's `FROM scratch`.
pub const SCRATCH: &str = "scratch";

/// The image a new one starts from, as editable JSON documents.
#[derive(Debug, Clone)]
pub struct Draft {
    pub config: Map<String, Value>,
    pub manifest: Map<String, Value>,
}

/// What a new image was published as.
#[derive(Debug, Clone)]
pub struct Composed {
    pub name: Reference,
    /// The image ID (the config's digest).
    pub id: Digest,
    pub manifest: Descriptor,
}

/// Checks `-t NAME[:TAG]` before any work: a digest cannot name a new image.
pub fn target_name(input: &str) -> Result<Reference> {
    let name = Reference::parse_normalized(input)?;
    if name.digest().is_some() {
        return Err(ImageError::Invalid(format!(
            "`-t {input}` must be NAME[:TAG], without a digest: a new image's digest is not known in advance"
        )));
    }
    Ok(name.canonical())
}

impl Draft {
    /// `base`'s config and manifest, or an empty image for `scratch` (for `platform`, else
    /// this host's).
    pub fn from_base(store: &Store, base: &str, platform: Option<&Platform>) -> Result<Draft> {
        if base == SCRATCH {
            return Ok(Draft::scratch(platform));
        }
        let found = catalog::find(store, base, platform)?;
        Draft::of(store, &found.resolved)
    }

    pub(crate) fn of(store: &Store, resolved: &Resolved) -> Result<Draft> {
        let raw = catalog::read_manifest(store, &resolved.manifest_descriptor)?;
        let bad = |what: &str, digest: &Digest| {
            ImageError::Invalid(format!("{what} `{digest}` is not a JSON object"))
        };
        let manifest = match serde_json::from_slice(raw.bytes()) {
            Ok(Value::Object(m)) => m,
            _ => return Err(bad("manifest", raw.digest())),
        };
        let config = match serde_json::from_slice(&resolved.config_bytes) {
            Ok(Value::Object(c)) => c,
            _ => return Err(bad("image config", resolved.id())),
        };
        let mut draft = Draft { config, manifest };
        // A manifest that omits `mediaType` (the OCI spec allows it) gets the one it was
        // stored under, so the layer media types can follow it.
        draft
            .manifest
            .entry("mediaType")
            .or_insert_with(|| json!(raw.media_type()));
        Ok(draft)
    }

    fn scratch(platform: Option<&Platform>) -> Draft {
        let platform = platform.cloned().unwrap_or_else(Platform::host);
        let mut config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        });
        if let Some(variant) = &platform.variant {
            config["variant"] = json!(variant);
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": {"mediaType": media_type::OCI_CONFIG, "digest": Digest::sha256_of(b"{}"), "size": 2},
            "layers": [],
        });
        Draft {
            config: into_map(config),
            manifest: into_map(manifest),
        }
    }

    /// Whether the manifest uses Docker's schema2 media types (else OCI's).
    pub fn is_docker(&self) -> bool {
        self.manifest.get("mediaType").and_then(Value::as_str) == Some(media_type::DOCKER_MANIFEST)
    }

    /// Switches a Docker schema2 manifest to OCI media types (zstd layers exist only in
    /// OCI). The layers' bytes are unchanged, only how they are described.
    pub fn convert_to_oci(&mut self) {
        if !self.is_docker() {
            return;
        }
        self.manifest
            .insert("mediaType".into(), json!(media_type::OCI_MANIFEST));
        if let Some(config) = self.manifest.get_mut("config") {
            config["mediaType"] = json!(media_type::OCI_CONFIG);
        }
        for layer in self.layers_mut() {
            if let Some(Value::String(t)) = layer.get_mut("mediaType") {
                let oci = match t.as_str() {
                    media_type::DOCKER_LAYER_GZIP => media_type::OCI_LAYER_GZIP,
                    media_type::DOCKER_LAYER_TAR => media_type::OCI_LAYER_TAR,
                    media_type::DOCKER_FOREIGN_LAYER_GZIP => media_type::OCI_LAYER_NONDIST_GZIP,
                    _ => continue,
                };
                *t = oci.to_string();
            }
        }
    }

    /// The media type a new layer of `compression` gets in this manifest.
    pub fn layer_media_type(&self, compression: wharf_layer::Compression) -> &'static str {
        use wharf_layer::Compression::*;
        match (self.is_docker(), compression) {
            (true, Gzip) => media_type::DOCKER_LAYER_GZIP,
            (true, None) => media_type::DOCKER_LAYER_TAR,
            (_, Gzip) => media_type::OCI_LAYER_GZIP,
            (_, None) => media_type::OCI_LAYER_TAR,
            (_, Zstd) => media_type::OCI_LAYER_ZSTD,
        }
    }

    fn layers_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.manifest
            .get_mut("layers")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
    }

    /// Adds a layer to the manifest and its diff_id to the config.
    pub fn push_layer(&mut self, descriptor: &Descriptor, diff_id: &Digest) {
        array(&mut self.manifest, "layers").push(json!(descriptor));
        let rootfs = self
            .config
            .entry("rootfs")
            .or_insert_with(|| json!({"type": "layers"}));
        if !rootfs.is_object() {
            *rootfs = json!({"type": "layers"});
        }
        let rootfs = rootfs.as_object_mut().expect("made an object above");
        array(rootfs, "diff_ids").push(json!(diff_id));
    }

    /// Records a build step: a history entry, and the image's creation time.
    pub fn push_history(&mut self, created: &str, created_by: &str, empty_layer: bool) {
        let mut step = json!({"created": created, "created_by": created_by});
        if empty_layer {
            step["empty_layer"] = json!(true);
        }
        array(&mut self.config, "history").push(step);
        self.config.insert("created".into(), json!(created));
    }

    /// The runtime config (`Env`, `Cmd`, ...), created if the base has none.
    pub fn runtime_config(&mut self) -> &mut Map<String, Value> {
        let config = self.config.entry("config").or_insert_with(|| json!({}));
        if !config.is_object() {
            *config = json!({});
        }
        config.as_object_mut().expect("made an object above")
    }

    /// Stages the new config and manifest beside `staged` (the new layers), publishes
    /// everything and points `name` at the new manifest, in one commit: on any error
    /// nothing is visible. `layers` are the new layers' facts, cached for `images`/`df`.
    pub fn publish(
        mut self,
        store: &Store,
        mut staged: Vec<StagedBlob>,
        layers: &[(Digest, LayerInfo)],
        name: &Reference,
    ) -> Result<Composed> {
        // A new image is not an artifact attached to the base's subject.
        self.manifest.remove("subject");
        let config_bytes = to_bytes(&self.config)?;
        let config = store.stage_bytes(&config_bytes, Algorithm::Sha256)?;
        let config_type = match self.is_docker() {
            true => media_type::DOCKER_CONFIG,
            false => media_type::OCI_CONFIG,
        };
        self.manifest.insert(
            "config".into(),
            json!(Descriptor::new(
                config_type,
                config.digest().clone(),
                config.size()
            )),
        );
        let id = config.digest().clone();
        staged.push(config);
        let manifest_bytes = to_bytes(&self.manifest)?;
        let digest = Digest::sha256_of(&manifest_bytes);
        // Parsed back as any manifest read from the store is, so a draft that went wrong
        // fails here rather than in a later `inspect`.
        let raw = wharf_spec::RawManifest::parse(manifest_bytes, None)
            .map_err(|source| ImageError::Manifest { digest, source })?;
        if !matches!(media_type::kind(raw.media_type()), Kind::Manifest) {
            return Err(ImageError::Invalid(format!(
                "the base image's manifest has media type `{}`, not an image manifest",
                raw.media_type()
            )));
        }
        let manifest = raw.descriptor();
        staged.push(store.stage_bytes(raw.bytes(), Algorithm::Sha256)?);
        let target = manifest.clone();
        let entry_name = name.clone();
        store.commit(staged, move |index| {
            names::set_name(index, &target, &entry_name, None);
            Ok(())
        })?;
        for (blob, info) in layers {
            store.set_layer_info(blob, info)?;
        }
        Ok(Composed {
            name: name.clone(),
            id,
            manifest,
        })
    }
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The array at `key`, created (or replacing a non-array) if needed.
fn array<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let slot = map.entry(key).or_insert_with(|| json!([]));
    if !slot.is_array() {
        *slot = json!([]);
    }
    slot.as_array_mut().expect("made an array above")
}

fn to_bytes(map: &Map<String, Value>) -> Result<Vec<u8>> {
    serde_json::to_vec(map).map_err(|e| ImageError::Invalid(format!("cannot serialize: {e}")))
}

/// A creation time: `SOURCE_DATE_EPOCH` (seconds) when given, for reproducible images,
/// else now. RFC 3339, as Docker writes it.
pub fn created_at(source_date_epoch: Option<u64>) -> String {
    use chrono::{DateTime, SecondsFormat, Utc};
    match source_date_epoch {
        Some(secs) => DateTime::<Utc>::from_timestamp(secs.min(i64::MAX as u64) as i64, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        None => Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true),
    }
}
