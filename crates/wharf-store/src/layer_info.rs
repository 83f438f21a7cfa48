//! A cache of per-layer facts that are expensive to compute (they need a full decompress)
//! and never change for a given blob: its diff_id and uncompressed size, and (once asked
//! for) the size of its content as Docker counts it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use wharf_spec::Digest;

use crate::error::StoreError;
use crate::layout::{ensure_real_dir, read_small_file, Store};

/// Far above any real entry; a bigger file is garbage, not a cache entry.
const MAX_LAYER_INFO_SIZE: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerInfo {
    /// Digest of the uncompressed layer tar.
    pub diff_id: Digest,
    /// Size of the uncompressed layer tar.
    pub size: u64,
}

/// A cache file: the facts, and the content size when it was computed. Writers of plain
/// [`LayerInfo`] drop the content size; it is computed again when next needed.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    #[serde(flatten)]
    info: LayerInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_size: Option<u64>,
}

impl Store {
    /// The cached facts about layer blob `blob`, if a previous run recorded them. An
    /// unreadable entry counts as absent: it is recomputed and overwritten.
    pub fn layer_info(&self, blob: &Digest) -> Result<Option<LayerInfo>, StoreError> {
        Ok(self.entry(blob)?.map(|e| e.info))
    }

    /// The cached content size of layer blob `blob` (the bytes its files hold once
    /// extracted, as Docker reports a layer's size), if recorded.
    pub fn layer_content_size(&self, blob: &Digest) -> Result<Option<u64>, StoreError> {
        Ok(self.entry(blob)?.and_then(|e| e.content_size))
    }

    /// Records facts about `blob` with its content size, replacing the file atomically.
    pub fn set_layer_info_with_content_size(
        &self,
        blob: &Digest,
        info: &LayerInfo,
        content_size: u64,
    ) -> Result<(), StoreError> {
        self.write_entry(
            blob,
            &Entry {
                info: info.clone(),
                content_size: Some(content_size),
            },
        )
    }

    fn entry(&self, blob: &Digest) -> Result<Option<Entry>, StoreError> {
        let path = self.layer_info_path(blob);
        let bytes = match read_small_file(&path, MAX_LAYER_INFO_SIZE) {
            Ok(b) => b,
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e @ StoreError::Io { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring unreadable layer info");
                return Ok(None);
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(info) => Ok(Some(info)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring malformed layer info");
                Ok(None)
            }
        }
    }

    /// Records facts about `blob`, replacing the file atomically.
    pub fn set_layer_info(&self, blob: &Digest, info: &LayerInfo) -> Result<(), StoreError> {
        self.write_entry(
            blob,
            &Entry {
                info: info.clone(),
                content_size: None,
            },
        )
    }

    fn write_entry(&self, blob: &Digest, entry: &Entry) -> Result<(), StoreError> {
        let path = self.layer_info_path(blob);
        if let Some(dir) = path.parent() {
            ensure_real_dir(dir)?;
        }
        let bytes = serde_json::to_vec(entry).map_err(|e| StoreError::Io {
            op: "serialize",
            path: path.clone(),
            source: e.into(),
        })?;
        // A cache entry lost in a crash is just recomputed: no directory fsync needed.
        self.write_atomic(&path, &bytes, false)
    }

    fn layer_info_path(&self, blob: &Digest) -> PathBuf {
        self.layers_dir()
            .join(blob.algorithm().name())
            .join(format!("{}.json", blob.hex()))
    }
}
