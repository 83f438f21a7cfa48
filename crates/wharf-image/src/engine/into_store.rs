//! One blob from any [`BlobSource`] into the store: the one async routine every path that
//! streams a blob into the store takes (a pull, a copy or sync into the store, a kept
//! streamed unpack's prefetch), over the blocking [`crate::ingest`] steps.
//!
//! - A partial an interrupted run left is resumed from its end; bytes that joined others
//!   (that partial, or a `Range` resume after a broken connection) and then mismatch are
//!   fetched once more from byte 0, since the source's blob may have changed in between.
//! - A registry that sends more bytes than the blob has, or announces another size, leaves
//!   no partial: what it sent is no prefix to resume from.
//! - A short stream keeps its prefix for the next run ([`ImageError::TruncatedBlob`]).

use std::io;

use wharf_client::ClientError;
use wharf_spec::Descriptor;
use wharf_store::{Ingest, Store};

use super::stream::{client_error, write_blob};
use crate::error::{ImageError, Result};
use crate::ingest::{self, Ingested, Origin, Started};
use crate::push::BlobSource;
use crate::store_task::blocking;

/// What writing one blob goes through, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// `done` of the blob's bytes are in the store's partial file.
    Writing { done: u64 },
    /// Every byte is written; the digest is being checked.
    Verifying,
}

/// What [`blob_into_store`] did.
pub(crate) struct Fetched {
    pub ingested: Ingested,
    /// Bytes read from the source in this run (a resumed blob counts only the rest).
    pub received: u64,
}

/// Writes `blob` from `source` into the store's verifying ingest, unless the store has it
/// or another run staged the same bytes.
pub(crate) async fn blob_into_store(
    store: &Store,
    blob: &Descriptor,
    source: &dyn BlobSource,
    progress: &dyn Fn(Step),
) -> Result<Fetched> {
    let origin = source.origin(&blob.digest);
    let mut received = 0;
    let mut refetched = false;
    loop {
        let (digest, size) = (blob.digest.clone(), blob.size);
        let ingest = match blocking(store, move |s| ingest::start(s, &digest, size)).await?? {
            Started::Present(size) => {
                return Ok(Fetched {
                    ingested: Ingested::Present(size),
                    received,
                })
            }
            Started::Staged(staged) => {
                return Ok(Fetched {
                    ingested: Ingested::Staged(staged),
                    received,
                })
            }
            Started::Write(ingest) => ingest,
        };
        let offset = ingest.offset();
        let bytes = source.blob(blob);
        let (ingest, written) = if offset < size {
            let report = |n: u64| progress(Step::Writing { done: offset + n });
            write_blob(bytes.as_ref(), offset, ingest, &report).await?
        } else {
            (ingest, Ok(0))
        };
        let joined = offset > 0 || bytes.resumed();
        received += match written {
            Ok(n) => n,
            Err(e) => return Err(failed(e, ingest, blob, &origin).await),
        };
        progress(Step::Verifying);
        let (digest, from) = (blob.digest.clone(), origin.clone());
        let error = match blocking(store, move |_| {
            ingest::finish_written(ingest, &digest, size, &from)
        })
        .await?
        {
            Ok(staged) => {
                return Ok(Fetched {
                    ingested: Ingested::Staged(staged),
                    received,
                })
            }
            Err(e) => e,
        };
        // (On a mismatch the store has deleted the partial file.)
        if matches!(error, ImageError::CorruptBlob { .. }) && joined && !refetched {
            refetched = true;
            tracing::debug!(digest = %blob.digest, %error, "resumed blob mismatched; fetching it again from byte 0");
            continue;
        }
        return Err(error);
    }
}

/// The error for a stream or write that failed part way. The partial stays for the next
/// run to resume, unless the registry sent more than the blob or announced another size.
async fn failed(
    error: io::Error,
    ingest: Ingest,
    blob: &Descriptor,
    origin: &Origin,
) -> ImageError {
    match client_error(error) {
        Ok(client_error) => {
            if matches!(client_error, ClientError::SizeMismatch { .. }) {
                let _ = tokio::task::spawn_blocking(move || ingest.discard()).await;
            }
            client_error.into()
        }
        Err(error) => ImageError::io(format!("copy blob `{}` from {origin}", blob.digest))(error),
    }
}
