//! One layer from the registry into the store: the network side runs on the async
//! runtime, the file writes on a blocking thread fed through a small channel, so a slow
//! disk never stalls other downloads and no blob is ever whole in memory.

use std::io::Write;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use wharf_client::Client;
use wharf_spec::{Descriptor, Reference};
use wharf_store::{Ingest, IngestStart, StagedBlob, Store, StoreError};

use super::PullEvent;
use crate::error::{ImageError, Result};

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
        .map_err(|e| ImageError::Invalid(format!("a store task failed: {e}")))
}

pub(super) async fn blob(
    store: &Store,
    client: &Client,
    repository: &Reference,
    layer: &Descriptor,
    events: &dyn Fn(PullEvent),
) -> Result<Fetched> {
    let (digest, size) = (layer.digest.clone(), layer.size);
    let start = blocking(store, move |s| s.ingest(&digest, Some(size))).await??;
    let mut ingest = match start {
        IngestStart::Exists(_) => return Ok(done(layer, None, 0, events)),
        IngestStart::Staged(staged) => return Ok(done(layer, Some(staged), 0, events)),
        IngestStart::Writer(ingest) => ingest,
    };
    let mut received = 0;
    if ingest.offset() > size {
        // More than the blob's size cannot be a prefix of it.
        ingest = blocking(store, move |_| ingest.restart().map(|()| ingest)).await??;
    }
    if ingest.offset() < size {
        let (back, got) = download(client, repository, layer, ingest, events).await?;
        ingest = back;
        received = got;
    }
    events(PullEvent::LayerVerifying(layer.digest.clone()));
    // On a mismatch the store deletes the partial file: its bytes can only mismatch again.
    let staged =
        blocking(store, move |_| ingest.finish())
            .await?
            .map_err(|source| match source {
                StoreError::DigestMismatch { .. } | StoreError::SizeMismatch { .. } => {
                    ImageError::CorruptBlob {
                        digest: layer.digest.clone(),
                        registry: repository.domain().to_string(),
                        source: Box::new(source),
                    }
                }
                other => other.into(),
            })?;
    Ok(done(layer, Some(staged), received, events))
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

/// Streams the rest of the blob (from the ingest's offset) into the ingest. On failure
/// the ingest is dropped, which keeps its partial file for the next pull to resume.
async fn download(
    client: &Client,
    repository: &Reference,
    layer: &Descriptor,
    ingest: Ingest,
    events: &dyn Fn(PullEvent),
) -> Result<(Ingest, u64)> {
    let mut done = ingest.offset();
    let mut stream = client.fetch_blob(repository, layer, done).await?;
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
    // Gives the download slot back before the (fsyncing) verification.
    drop(stream);
    drop(tx);
    let (ingest, written) = writer
        .await
        .map_err(|e| ImageError::Invalid(format!("a store task failed: {e}")))?;
    written.map_err(ImageError::io(format!("write layer `{}`", layer.digest)))?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok((ingest, received))
}

fn write_all(mut ingest: Ingest, mut rx: mpsc::Receiver<Bytes>) -> (Ingest, std::io::Result<()>) {
    while let Some(bytes) = rx.blocking_recv() {
        if let Err(e) = ingest.write_all(&bytes) {
            return (ingest, Err(e));
        }
    }
    (ingest, Ok(()))
}
