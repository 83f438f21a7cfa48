//! Where blobs were seen in registries (like skopeo's blob-info cache): pulls and pushes
//! record `digest → (registry, repository)`, and a push to another repository of the same
//! registry mounts the blob from there instead of uploading it again.
//!
//! One small JSON file, `.wharf/blob-info.json`, bounded ([`MAX_BLOBS`] digests, the
//! [`MAX_LOCATIONS`] most recent places each), replaced atomically under
//! `.wharf/blob-info.lock`. It is only a hint: a missing, unreadable or corrupt file is an
//! empty cache (logged at debug level), and a stale entry only costs a mount the registry
//! declines.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use wharf_spec::Digest;

use crate::error::{io_err, StoreError};
use crate::layout::{read_small_file, Store};

/// Digests remembered; the least recently seen go first.
pub const MAX_BLOBS: usize = 8192;
/// Places remembered per digest, most recent first.
pub const MAX_LOCATIONS: usize = 4;
/// A file above this is not ours to parse.
const MAX_FILE_SIZE: u64 = 8 << 20;

const FILE: &str = "blob-info.json";
const LOCK: &str = "blob-info.lock";

/// A repository of a registry where a blob is known to be.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlobLocation {
    /// The reference domain (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// The repository path (`library/redis`).
    pub repository: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Seen {
    #[serde(flatten)]
    location: BlobLocation,
    /// Seconds since the epoch.
    seen: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    blobs: BTreeMap<Digest, Vec<Seen>>,
}

/// A snapshot of the cache, read once per operation.
#[derive(Debug, Default)]
pub struct BlobLocations {
    file: File,
}

impl BlobLocations {
    /// Notes, in this snapshot only, that `digest` is in `location` now (a run that
    /// sends many images mounts from where its earlier sends put a blob).
    pub fn note(&mut self, digest: &Digest, location: &BlobLocation) {
        let list = self.file.blobs.entry(digest.clone()).or_default();
        list.retain(|s| &s.location != location);
        let seen = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        list.insert(
            0,
            Seen {
                location: location.clone(),
                seen,
            },
        );
    }

    /// Where `digest` was seen, most recent first.
    pub fn get(&self, digest: &Digest) -> Vec<&BlobLocation> {
        self.file
            .blobs
            .get(digest)
            .map(|list| list.iter().map(|s| &s.location).collect())
            .unwrap_or_default()
    }
}

impl Store {
    /// The blob-info cache as it is now; never an error (see the module docs).
    pub fn blob_locations(&self) -> BlobLocations {
        BlobLocations {
            file: self.read_blob_info(),
        }
    }

    /// Records that each digest is in its location, now.
    pub fn record_blob_locations(&self, seen: &[(Digest, BlobLocation)]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        let lock_path = self.private_dir().join(LOCK);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        lock.lock().map_err(io_err("lock", &lock_path))?;
        let mut file = self.read_blob_info();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for (digest, location) in seen {
            let list = file.blobs.entry(digest.clone()).or_default();
            list.retain(|s| &s.location != location);
            list.insert(
                0,
                Seen {
                    location: location.clone(),
                    seen: now,
                },
            );
            list.truncate(MAX_LOCATIONS);
        }
        prune(&mut file, MAX_BLOBS);
        let bytes = serde_json::to_vec(&file).map_err(|e| StoreError::Io {
            op: "serialize",
            path: self.blob_info_path(),
            source: e.into(),
        })?;
        // A lost update only costs a mount: no directory fsync.
        self.write_atomic(&self.blob_info_path(), &bytes, false)
    }

    fn read_blob_info(&self) -> File {
        let path = self.blob_info_path();
        let bytes = match read_small_file(&path, MAX_FILE_SIZE) {
            Ok(b) => b,
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return File::default()
            }
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "ignoring unreadable blob-info cache");
                return File::default();
            }
        };
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::debug!(path = %path.display(), error = %e, "ignoring corrupt blob-info cache");
            File::default()
        })
    }

    fn blob_info_path(&self) -> PathBuf {
        self.private_dir().join(FILE)
    }
}

/// Keeps the `max` most recently seen digests.
fn prune(file: &mut File, max: usize) {
    if file.blobs.len() <= max {
        return;
    }
    let mut ages: Vec<(u64, Digest)> = file
        .blobs
        .iter()
        .map(|(d, list)| (list.iter().map(|s| s.seen).max().unwrap_or(0), d.clone()))
        .collect();
    ages.sort();
    let excess = file.blobs.len() - max;
    for (_, digest) in ages.into_iter().take(excess) {
        file.blobs.remove(&digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(registry: &str, repository: &str) -> BlobLocation {
        BlobLocation {
            registry: registry.into(),
            repository: repository.into(),
        }
    }

    #[test]
    fn records_most_recent_first_and_survives_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s")).unwrap();
        let d = Digest::sha256_of(b"layer");
        assert!(store.blob_locations().get(&d).is_empty());
        store
            .record_blob_locations(&[(d.clone(), at("r:5000", "a"))])
            .unwrap();
        store
            .record_blob_locations(&[(d.clone(), at("r:5000", "b"))])
            .unwrap();
        store
            .record_blob_locations(&[(d.clone(), at("r:5000", "a"))])
            .unwrap();
        let cache = store.blob_locations();
        assert_eq!(cache.get(&d), vec![&at("r:5000", "a"), &at("r:5000", "b")]);
        for i in 0..10 {
            store
                .record_blob_locations(&[(d.clone(), at("r:5000", &format!("x{i}")))])
                .unwrap();
        }
        assert_eq!(store.blob_locations().get(&d).len(), MAX_LOCATIONS);

        std::fs::write(store.blob_info_path(), b"{not json").unwrap();
        assert!(store.blob_locations().get(&d).is_empty());
        store
            .record_blob_locations(&[(d.clone(), at("r:5000", "c"))])
            .unwrap();
        assert_eq!(store.blob_locations().get(&d), vec![&at("r:5000", "c")]);
        assert!(store.fsck(false).unwrap().is_clean());
    }

    #[test]
    fn prunes_the_oldest_digests() {
        let mut file = File::default();
        for i in 0..5u64 {
            file.blobs.insert(
                Digest::sha256_of(&i.to_le_bytes()),
                vec![Seen {
                    location: at("r", "a"),
                    seen: i,
                }],
            );
        }
        prune(&mut file, 3);
        assert_eq!(file.blobs.len(), 3);
        assert!(!file
            .blobs
            .contains_key(&Digest::sha256_of(&0u64.to_le_bytes())));
        assert!(file
            .blobs
            .contains_key(&Digest::sha256_of(&4u64.to_le_bytes())));
    }
}
