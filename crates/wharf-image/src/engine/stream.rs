//! A blob's byte stream (async, from the network or a file reader thread) written by a
//! blocking writer (a store ingest, a file) through a small channel, so a slow disk never
//! stalls the runtime and no blob is ever whole in memory.

use std::io::{self, Write};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use wharf_client::UploadSource;

use crate::error::{ImageError, Result};

/// Chunks queued between the stream and the writer.
const CHANNEL_CHUNKS: usize = 2;

/// Streams `blob` from `offset` to its end into `writer`, on a blocking thread. Returns
/// the writer (to finish or drop) with the bytes written, or the first failure: the
/// writer's, else the stream's.
pub(crate) async fn write_blob<W: Write + Send + 'static>(
    blob: &dyn UploadSource,
    offset: u64,
    writer: W,
) -> Result<(W, io::Result<u64>)> {
    let mut stream = match blob.open(offset).await {
        Ok(stream) => stream,
        Err(e) => return Ok((writer, Err(e))),
    };
    let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let task = tokio::task::spawn_blocking(move || {
        let mut writer = writer;
        let mut written = 0u64;
        while let Some(bytes) = rx.blocking_recv() {
            if let Err(e) = writer.write_all(&bytes) {
                return (writer, Err(e));
            }
            written += bytes.len() as u64;
        }
        (writer, Ok(written))
    });
    let mut failure = None;
    loop {
        let Ok(slot) = tx.reserve().await else {
            break; // The writer failed; its error is returned below.
        };
        match stream.next().await {
            None => break,
            Some(Ok(bytes)) => slot.send(bytes),
            Some(Err(e)) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(stream);
    drop(tx);
    let (writer, written) = task.await.map_err(ImageError::internal("blob writer"))?;
    Ok(match (written, failure) {
        (Err(e), _) | (Ok(_), Some(e)) => (writer, Err(e)),
        (Ok(n), None) => (writer, Ok(n)),
    })
}
