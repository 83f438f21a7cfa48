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

/// Images kept at most. An entry holds every path of the image (a few MB for a large one).
const KEPT: usize = 32;

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
            Ok(tree) => Ok(tree.clone()),
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
            if let Some(oldest) = entries.order.pop_front() {
                entries.slots.remove(&oldest);
            }
        }
        let slot = Slot::default();
        entries.slots.insert(digest.clone(), slot.clone());
        entries.order.push_back(digest.clone());
        slot
    }

    fn forget(&self, digest: &Digest) {
        let mut entries = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        entries.slots.remove(digest);
        entries.order.retain(|d| d != digest);
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
