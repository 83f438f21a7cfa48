//! One layer from the registry into the store: the network side runs on the async
//! runtime, the file writes on a blocking thread fed through a small channel, so a slow
//! disk never stalls other downloads and no blob is ever whole in memory.

use std::io::Write;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use wharf_client::{Client, ClientError};
use wharf_spec::{Descriptor, Reference};
use wharf_store::{Ingest, StagedBlob, Store};

use super::PullEvent;
use crate::error::{ImageError, Result};
use crate::ingest::{self, Origin, Started};

/// Chunks queued between the network and the writer. Each chunk is a slice of hyper's read
/// buffer (up to ~400 KiB) and keeps that buffer alive, so every queued chunk costs a
/// buffer: with 4, a debian-python pull peaked at ~18 MiB RSS, with 1 at ~16 MiB, in the
/// same time (the kernel's socket buffer, not ours, absorbs the writer's pauses).
const CHANNEL_CHUNKS: usize = 1;

pub(super) struct Fetched {
    /// `None` when another process committed the blob meanwhile.
    pub staged: Option<StagedBlob>,
    /// Bytes received from the registry.
    pub received: u64,
}

/// Runs store work on the blocking pool (the store does synchronous file I/O and may wait
/// on file locks).
pub(crate) async fn blocking<T: Send + 'static>(
    store: &Store,
    work: impl FnOnce(&Store) -> T + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(ImageError::internal("store"))
}

pub(super) async fn blob(
    store: &Store,
    client: &Client,
    repository: &Reference,
    layer: &Descriptor,
    events: &dyn Fn(PullEvent),
) -> Result<Fetched> {
    let mut received = 0;
    let mut refetched = false;
    let origin = Origin::Registry(repository.domain().to_string());
    loop {
        let (digest, size) = (layer.digest.clone(), layer.size);
        let mut ingest = match blocking(store, move |s| ingest::start(s, &digest, size)).await?? {
            Started::Present(_) => return Ok(done(layer, None, received, events)),
            Started::Staged(staged) => return Ok(done(layer, Some(staged), received, events)),
            Started::Write(ingest) => ingest,
        };
        let mut resumed = ingest.offset() > 0;
        if ingest.offset() < layer.size {
            let got = download(client, repository, layer, ingest, events).await?;
            ingest = got.ingest;
            received += got.received;
            resumed |= got.resumed;
        }
        events(PullEvent::LayerVerifying(layer.digest.clone()));
        let (digest, from) = (layer.digest.clone(), origin.clone());
        let error = match blocking(store, move |_| ingest::finish(ingest, &digest, &from)).await? {
            Ok(staged) => return Ok(done(layer, Some(staged), received, events)),
            Err(e) => e,
        };
        // Bytes joined from two downloads (a stale partial, a registry whose blob changed
        // in between) can mismatch where one whole download would not: once, from byte 0.
        // (On a mismatch the store has deleted the partial file.)
        if matches!(error, ImageError::CorruptBlob { .. }) && resumed && !refetched {
            refetched = true;
            tracing::debug!(digest = %layer.digest, %error, "resumed layer mismatched; fetching it again from byte 0");
            continue;
        }
        return Err(error);
    }
}

fn done(
    layer: &Descriptor,
    staged: Option<StagedBlob>,
    received: u64,
    events: &dyn Fn(PullEvent),
) -> Fetched {
    events(PullEvent::LayerDownloaded(layer.digest.clone()));
    Fetched { staged, received }
}

/// What one download into an ingest did.
struct Downloaded {
    ingest: Ingest,
    /// Bytes received from the registry.
    received: u64,
    /// Whether the bytes continue others (see [`wharf_client::BlobStream::resumed`]).
    resumed: bool,
}

/// Streams the rest of the blob (from the ingest's offset) into the ingest. On failure
/// the ingest is dropped, which keeps its partial file for the next pull to resume —
/// unless the registry sent more bytes than the blob has, or announced another size: then
/// what it sent is not a prefix to resume from, and the partial file is deleted.
async fn download(
    client: &Client,
    repository: &Reference,
    layer: &Descriptor,
    ingest: Ingest,
    events: &dyn Fn(PullEvent),
) -> Result<Downloaded> {
    let mut done = ingest.offset();
    let mut stream = match client.fetch_blob(repository, layer, done).await {
        Ok(stream) => stream,
        Err(e) => {
            if matches!(e, ClientError::SizeMismatch { .. }) {
                blocking_discard(ingest).await;
            }
            return Err(e.into());
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let writer = tokio::task::spawn_blocking(move || write_all(ingest, rx));
    let mut received = 0u64;
    let mut failure = None;
    loop {
        // The queue's slot first, then the next chunk: a chunk pins its hyper read buffer,
        // so none should wait in hand for the slot (that kept one more buffer alive).
        let Ok(slot) = tx.reserve().await else {
            break; // The writer failed; its error is reported below.
        };
        let Some(chunk) = stream.next().await else {
            break;
        };
        match chunk {
            Ok(bytes) => {
                let len = bytes.len() as u64;
                slot.send(bytes);
                done += len;
                received += len;
                events(PullEvent::LayerDownloading {
                    digest: layer.digest.clone(),
                    done,
                    total: layer.size,
                });
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let resumed = stream.resumed();
    // Gives the download slot back before the (fsyncing) verification.
    drop(stream);
    drop(tx);
    let (ingest, written) = writer.await.map_err(ImageError::internal("layer writer"))?;
    if let Some(e) = failure {
        if matches!(e, ClientError::SizeMismatch { .. }) {
            blocking_discard(ingest).await;
        }
        return Err(e.into());
    }
    written.map_err(ImageError::io(format!("write layer `{}`", layer.digest)))?;
    Ok(Downloaded {
        ingest,
        received,
        resumed,
    })
}

/// Deletes the ingest's partial file on the blocking pool, waiting for it to be gone.
async fn blocking_discard(ingest: Ingest) {
    let _ = tokio::task::spawn_blocking(move || ingest.discard()).await;
}

fn write_all(mut ingest: Ingest, mut rx: mpsc::Receiver<Bytes>) -> (Ingest, std::io::Result<()>) {
    while let Some(bytes) = rx.blocking_recv() {
        if let Err(e) = ingest.write_all(&bytes) {
            return (ingest, Err(e));
        }
    }
    (ingest, Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TaskFailure;

    #[test]
    fn a_panicking_store_task_is_an_internal_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = runtime.block_on(blocking(&store, |_| -> u32 { panic!("boom") }));
        let err = result.unwrap_err();
        assert!(
            matches!(&err, ImageError::Internal { task: "store", source: TaskFailure::Join(j) } if j.is_panic()),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("internal error: the store task failed"),
            "{err}"
        );
    }
}
