//! Images read for their pages, kept by manifest digest. Reading an image streams every
//! layer (seconds for a large one); its pages then ask many questions of it (the layer
//! table, directory after directory, a file). A digest names the same bytes in every
//! repository, so one entry serves all of them (who may see it is checked per request,
//! before the cache is asked). Concurrent requests for an image not read yet wait for
//! one read (single flight); a failed read is not kept.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use wharf_image::analysis::ImageTree;
use wharf_image::engine::Select;
use wharf_spec::Digest;

use crate::source::StoredImage;

/// Images kept at most.
const KEPT: usize = 32;
/// Tar entries kept at most, over all images (each costs a path and its metadata, some
/// 150 bytes: about 300 MB): a few images of millions of files must not fill memory.
const KEPT_ENTRIES: usize = 2_000_000;

type Slot = Arc<OnceCell<Arc<ImageTree>>>;

#[derive(Default)]
pub struct TreeCache {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    slots: HashMap<Digest, Slot>,
    /// Oldest first: the first to go when full.
    order: VecDeque<Digest>,
    /// The tar entries of each image read, and their sum.
    weights: HashMap<Digest, usize>,
    weight: usize,
}

impl Entries {
    fn evict_oldest(&mut self) {
        if let Some(oldest) = self.order.pop_front() {
            self.slots.remove(&oldest);
            self.weight -= self.weights.remove(&oldest).unwrap_or(0);
        }
    }
}

impl TreeCache {
    /// The image `source` names, read once.
    pub async fn get(&self, source: StoredImage) -> Result<Arc<ImageTree>, String> {
        let digest = source.top.digest.clone();
        let slot = self.slot(&digest);
        let read = slot
            .get_or_try_init(|| async move {
                run_local(move || async move { ImageTree::read(&source, &Select::default()).await })
                    .await
                    .map(Arc::new)
            })
            .await;
        match read {
            Ok(tree) => {
                self.weigh(&digest, tree.entries());
                Ok(tree.clone())
            }
            Err(e) => {
                self.forget(&digest);
                Err(e)
            }
        }
    }

    fn slot(&self, digest: &Digest) -> Slot {
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = entries.slots.get(digest) {
            return slot.clone();
        }
        while entries.order.len() >= KEPT {
            entries.evict_oldest();
        }
        let slot = Slot::default();
        entries.slots.insert(digest.clone(), slot.clone());
        entries.order.push_back(digest.clone());
        slot
    }

    /// Records what the image read for `digest` costs, and lets older images go until
    /// the total fits [`KEPT_ENTRIES`] (the newest stays, however large).
    fn weigh(&self, digest: &Digest, weight: usize) {
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !entries.slots.contains_key(digest) || entries.weights.contains_key(digest) {
            return;
        }
        entries.weights.insert(digest.clone(), weight);
        entries.weight += weight;
        while entries.weight > KEPT_ENTRIES && entries.order.front() != Some(digest) {
            entries.evict_oldest();
        }
    }

    fn forget(&self, digest: &Digest) {
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        entries.slots.remove(digest);
        entries.order.retain(|d| d != digest);
        entries.weight -= entries.weights.remove(digest).unwrap_or(0);
    }
}

/// Runs the future `work` makes to completion on a blocking thread of its own: the copy
/// engine's sources are not `Send` (they borrow `dyn` sources across awaits), and a
/// request handler must be.
pub async fn run_local<T, F, Fut>(work: F) -> Result<T, String>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = wharf_image::Result<T>>,
{
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || handle.block_on(work()))
        .await
        .map_err(|e| format!("reading the image stopped: {e}"))?
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(cache: &TreeCache) -> Vec<Digest> {
        let entries = cache.inner.lock().unwrap();
        entries.order.iter().cloned().collect()
    }

    #[test]
    fn the_oldest_images_go_when_too_many_or_too_large() {
        let cache = TreeCache::default();
        let digest = |n: u8| Digest::sha256_of(&[n]);
        for n in 0..KEPT as u8 + 2 {
            cache.slot(&digest(n));
        }
        assert_eq!(kept(&cache).len(), KEPT);
        assert_eq!(kept(&cache)[0], digest(2), "the two oldest went");
        // A read that weighs more than the limit with the others sends the oldest away
        // until it fits; the new one itself stays.
        cache.weigh(&digest(2), KEPT_ENTRIES / 2);
        cache.weigh(&digest(3), KEPT_ENTRIES / 2);
        assert_eq!(kept(&cache)[0], digest(2));
        let last = digest(KEPT as u8 + 1);
        cache.weigh(&last, KEPT_ENTRIES);
        assert_eq!(kept(&cache).last(), Some(&last));
        assert!(!kept(&cache).contains(&digest(2)) && !kept(&cache).contains(&digest(3)));
        assert_eq!(cache.inner.lock().unwrap().weight, KEPT_ENTRIES);
        cache.forget(&last);
        assert_eq!(cache.inner.lock().unwrap().weight, 0);
    }
}
