//! A cache of per-layer facts that are expensive to compute (they need a full decompress)
//! and never change for a given blob: its diff_id and uncompressed size.

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

impl Store {
    /// The cached facts about layer blob `blob`, if a previous run recorded them. An
    /// unreadable entry counts as absent: it is recomputed and overwritten.
    pub fn layer_info(&self, blob: &Digest) -> Result<Option<LayerInfo>, StoreError> {
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
        let path = self.layer_info_path(blob);
        if let Some(dir) = path.parent() {
            ensure_real_dir(dir)?;
        }
        let bytes = serde_json::to_vec(info).map_err(|e| StoreError::Io {
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
