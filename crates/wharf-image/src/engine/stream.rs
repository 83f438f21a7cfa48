//! A blob's byte stream (async, from the network or a file reader thread) written by a
//! blocking writer (a store ingest, a file) through a small channel, so a slow disk never
//! stalls the runtime and no blob is ever whole in memory.

use std::io::{self, Read, Write};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use wharf_client::UploadSource;
use wharf_spec::{Algorithm, Descriptor, Digest, Digester, MAX_MANIFEST_SIZE};

use crate::error::{ImageError, Result};
use crate::ingest::{self, Mismatch, Origin};
use crate::push::BlobSource;

/// Chunks queued between the stream and the writer. A chunk from the network is a slice
/// of hyper's read buffer (up to ~400 KiB) and keeps that buffer alive, so every queued
/// chunk costs a buffer: with 4, a debian-python pull peaked at ~18 MiB RSS, with 1 at
/// ~16 MiB, in the same time (the kernel's socket buffer, not ours, absorbs the writer's
/// pauses).
const CHANNEL_CHUNKS: usize = 1;

/// Streams `blob` from `offset` to its end into `writer`, on a blocking thread, telling
/// `progress` the bytes handed to the writer so far. Returns the writer (to finish or
/// drop) with the bytes written, or the first failure: the writer's, else the stream's.
pub(crate) async fn write_blob<W: Write + Send + 'static>(
    blob: &dyn UploadSource,
    offset: u64,
    writer: W,
    progress: &dyn Fn(u64),
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
    let mut sent = 0u64;
    loop {
        // The queue's slot first, then the next chunk: a chunk pins its read buffer, so
        // none should wait in hand for the slot.
        let Ok(slot) = tx.reserve().await else {
            break; // The writer failed; its error is returned below.
        };
        match stream.next().await {
            None => break,
            Some(Ok(bytes)) => {
                sent += bytes.len() as u64;
                slot.send(bytes);
                progress(sent);
            }
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

/// The registry's error inside `error` (what [`wharf_client::RemoteBlob`] streams carry),
/// or `error` back when it holds none.
pub(crate) fn client_error(
    error: io::Error,
) -> std::result::Result<wharf_client::ClientError, io::Error> {
    if !error
        .get_ref()
        .is_some_and(|inner| inner.is::<wharf_client::ClientError>())
    {
        return Err(error);
    }
    match error
        .into_inner()
        .map(|inner| inner.downcast::<wharf_client::ClientError>())
    {
        Some(Ok(client_error)) => Ok(*client_error),
        _ => unreachable!("a ClientError is inside, as checked above"),
    }
}

/// A failed blob stream as an error: the registry's own error when it came from one,
/// else the I/O error with `context`.
pub(crate) fn stream_error(context: String) -> impl FnOnce(io::Error) -> ImageError {
    move |error| match client_error(error) {
        Ok(client_error) => client_error.into(),
        Err(error) => ImageError::io(context)(error),
    }
}

/// What the stream side hands a blocking file writer (an archive sink), blob after blob.
pub(crate) enum Message {
    Chunk(Bytes),
    Failed(io::Error),
    End,
}

pub(crate) fn blob_channel() -> (mpsc::Sender<Message>, mpsc::Receiver<Message>) {
    mpsc::channel(CHANNEL_CHUNKS)
}

/// Sends each blob's chunks in order, each followed by its `End` (or its stream's
/// failure); stops early when the writer hangs up (it failed, and says why).
pub(crate) async fn feed(blobs: &[Descriptor], source: &dyn BlobSource, tx: mpsc::Sender<Message>) {
    'blobs: for blob in blobs {
        match source.blob(blob).open(0).await {
            Ok(mut stream) => {
                while let Some(chunk) = stream.next().await {
                    let message = match chunk {
                        Ok(bytes) => Message::Chunk(bytes),
                        Err(e) => Message::Failed(e),
                    };
                    if tx.send(message).await.is_err() {
                        break 'blobs;
                    }
                }
            }
            Err(e) => {
                if tx.send(Message::Failed(e)).await.is_err() {
                    break 'blobs;
                }
            }
        }
        if tx.send(Message::End).await.is_err() {
            break;
        }
    }
}

/// Where [`Chunks`] reads a blob's bytes.
enum Supply<'a> {
    /// Sent by [`feed`] from the async side.
    Channel(&'a mut mpsc::Receiver<Message>),
    /// Read on the writer's own thread (a local file: nothing to wait for).
    Reader(Box<dyn Read + Send + 'a>),
}

/// Blobs an archive writer reads, one after another: sent through a channel by [`feed`],
/// or opened on the writer's thread.
pub(crate) enum BlobFeed<'a> {
    Channel(mpsc::Receiver<Message>),
    Open(&'a dyn Fn(&Descriptor) -> io::Result<Box<dyn Read + Send + 'a>>),
}

impl BlobFeed<'_> {
    /// The next blob, `blob`, to read and check.
    pub fn next(&mut self, blob: &Descriptor) -> Chunks<'_> {
        let algorithm = blob.digest.algorithm();
        match self {
            BlobFeed::Channel(rx) => Chunks::new(rx, algorithm),
            BlobFeed::Open(open) => {
                let supply = match open(blob) {
                    Ok(reader) => Supply::Reader(reader),
                    Err(e) => Supply::Reader(Box::new(FailedRead(Some(e)))),
                };
                Chunks::with_supply(supply, algorithm)
            }
        }
    }
}

/// A reader whose first read fails with the error that kept it from opening.
struct FailedRead(Option<io::Error>);

impl Read for FailedRead {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| io::Error::other("the blob could not be opened")))
    }
}

/// One blob's bytes as [`feed`] sends them (or a reader gives them), read on the
/// writer's thread and hashed as they are read.
pub(crate) struct Chunks<'a> {
    supply: Supply<'a>,
    current: Bytes,
    digester: Digester,
    count: u64,
    ended: bool,
    /// The stream itself failed (a broken connection, a read error).
    pub failed: bool,
}

impl<'a> Chunks<'a> {
    pub fn new(rx: &'a mut mpsc::Receiver<Message>, algorithm: Algorithm) -> Chunks<'a> {
        Chunks::with_supply(Supply::Channel(rx), algorithm)
    }

    fn with_supply(supply: Supply<'a>, algorithm: Algorithm) -> Chunks<'a> {
        Chunks {
            supply,
            current: Bytes::new(),
            digester: Digester::new(algorithm),
            count: 0,
            ended: false,
            failed: false,
        }
    }

    /// Reads the rest of the blob (bytes past what the writer took still count, so a
    /// longer blob is a size mismatch); returns its digest and size.
    pub fn finish(mut self) -> Result<(Digest, u64)> {
        let mut sink = [0u8; 64 << 10];
        loop {
            match self.read(&mut sink) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ImageError::io("read a blob for the archive")(e)),
            }
        }
        Ok((self.digester.finish(), self.count))
    }

    /// Checks what was read against `blob`: its size, then its digest; `written` is the
    /// writer's own outcome, reported when the bytes were right (or the stream broke).
    pub fn verify(self, blob: &Descriptor, origin: &Origin, written: Result<()>) -> Result<()> {
        let failed = self.failed;
        let (actual, count) = self.finish()?;
        if failed {
            // The stream's own error failed the write; bytes past it cannot be judged.
            written?;
            return Err(ImageError::TruncatedBlob {
                digest: blob.digest.clone(),
                origin: origin.clone(),
                got: count,
                want: blob.size,
            });
        }
        let mismatch = if count != blob.size {
            Some(Mismatch::Size {
                expected: blob.size,
                actual: count,
            })
        } else {
            (actual != blob.digest).then_some(Mismatch::Digest { actual })
        };
        match mismatch {
            Some(mismatch) => Err(ImageError::CorruptBlob {
                digest: blob.digest.clone(),
                origin: origin.clone(),
                mismatch,
            }),
            None => written,
        }
    }
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Supply::Reader(reader) = &mut self.supply {
            if self.ended {
                return Ok(0);
            }
            let n = match reader.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
                Err(e) => {
                    self.ended = true;
                    self.failed = true;
                    return Err(e);
                }
            };
            self.ended = n == 0;
            self.digester.update(&buf[..n]);
            self.count += n as u64;
            return Ok(n);
        }
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            let Supply::Channel(rx) = &mut self.supply else {
                unreachable!("a reader supply returned above");
            };
            match rx.blocking_recv() {
                Some(Message::Chunk(bytes)) => self.current = bytes,
                Some(Message::Failed(e)) => {
                    self.ended = true;
                    self.failed = true;
                    return Err(e);
                }
                Some(Message::End) | None => self.ended = true,
            }
        }
        let n = buf.len().min(self.current.len());
        let bytes = self.current.split_to(n);
        buf[..n].copy_from_slice(&bytes);
        self.digester.update(&bytes);
        self.count += n as u64;
        Ok(n)
    }
}

/// A small blob (a config) read whole from `source`, capped, and checked against its
/// descriptor.
pub(crate) async fn read_small(source: &dyn BlobSource, blob: &Descriptor) -> Result<Vec<u8>> {
    let origin = source.origin(&blob.digest);
    if blob.size > MAX_MANIFEST_SIZE {
        return Err(ImageError::Invalid(format!(
            "blob `{}` from {origin} is over the {MAX_MANIFEST_SIZE}-byte limit for a config",
            blob.digest
        )));
    }
    let opened = source.blob(blob);
    let mut stream = opened.open(0).await.map_err(stream_error(format!(
        "read blob `{}` from {origin}",
        blob.digest
    )))?;
    let mut bytes = Vec::with_capacity(blob.size as usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(stream_error(format!(
            "read blob `{}` from {origin}",
            blob.digest
        )))?;
        if (bytes.len() + chunk.len()) as u64 > blob.size {
            return Err(ImageError::CorruptBlob {
                digest: blob.digest.clone(),
                origin,
                mismatch: Mismatch::Size {
                    expected: blob.size,
                    actual: (bytes.len() + chunk.len()) as u64,
                },
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    if bytes.len() as u64 != blob.size {
        return Err(ImageError::TruncatedBlob {
            digest: blob.digest.clone(),
            origin,
            got: bytes.len() as u64,
            want: blob.size,
        });
    }
    ingest::check_bytes(&bytes, &blob.digest, &origin)?;
    Ok(bytes)
}

/// Runs `read` on a blocking thread over `blob`'s bytes as they stream from `source`.
/// Every byte is checked against the blob's digest as it arrives, and what `read` leaves
/// unread is read and checked after it returns: wrong bytes are reported as that, not as
/// whatever `read` made of them.
pub(crate) async fn with_blob<T: Send + 'static>(
    source: &dyn BlobSource,
    blob: &Descriptor,
    read: impl FnOnce(&mut Chunks<'_>) -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, mut rx) = blob_channel();
    let origin = source.origin(&blob.digest);
    let descriptor = blob.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let mut chunks = Chunks::new(&mut rx, descriptor.digest.algorithm());
        let (outcome, value) = match read(&mut chunks) {
            Ok(v) => (Ok(()), Some(v)),
            Err(e) => (Err(e), None),
        };
        chunks.verify(&descriptor, &origin, outcome)?;
        Ok::<_, ImageError>(value.expect("verified"))
    });
    feed(std::slice::from_ref(blob), source, tx).await;
    reader.await.map_err(ImageError::internal("blob reader"))?
}
