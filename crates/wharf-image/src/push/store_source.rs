//! Blobs read from the local store for an upload: a blocking thread reads the file from
//! any offset and hands chunks to the network side through a small channel, so a slow disk
//! never stalls the runtime and no blob is ever whole in memory.

use std::io::{self, Read, Seek, SeekFrom};

use bytes::Bytes;
use tokio::sync::mpsc;
use wharf_client::{ByteStream, OpenFuture, UploadSource};
use wharf_spec::{Descriptor, Digest};
use wharf_store::Store;

use super::send::BlobSource;
use crate::ingest::Origin;

/// Bytes per read; chunks in flight per upload are bounded by [`CHANNEL_CHUNKS`].
const READ_SIZE: usize = 256 << 10;
const CHANNEL_CHUNKS: usize = 4;

pub struct StoreBlobs {
    pub store: Store,
}

impl BlobSource for StoreBlobs {
    fn blob(&self, descriptor: &Descriptor) -> Box<dyn UploadSource + '_> {
        Box::new(StoreBlob {
            store: self.store.clone(),
            digest: descriptor.digest.clone(),
        })
    }

    fn origin(&self, _: &Digest) -> Origin {
        Origin::Store(self.store.root().to_path_buf())
    }
}

pub struct StoreBlob {
    pub store: Store,
    pub digest: Digest,
}

impl UploadSource for StoreBlob {
    fn open(&self, offset: u64) -> OpenFuture<'_> {
        let store = self.store.clone();
        let digest = self.digest.clone();
        file_stream(offset, u64::MAX, move || {
            store.open_blob(&digest).map_err(io::Error::other)
        })
    }
}

/// The bytes of the file `open` opens, from `offset`, at most `len` of them: read on a
/// blocking thread and handed to the network side in chunks through a small channel.
pub(crate) fn file_stream(
    offset: u64,
    len: u64,
    open: impl FnOnce() -> io::Result<std::fs::File> + Send + 'static,
) -> OpenFuture<'static> {
    Box::pin(async move {
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHANNEL_CHUNKS);
        let file = tokio::task::spawn_blocking(move || -> io::Result<std::fs::File> {
            let mut file = open()?;
            file.seek(SeekFrom::Start(offset))?;
            Ok(file)
        })
        .await
        .map_err(io::Error::other)??;
        tokio::task::spawn_blocking(move || read_into(file.take(len), tx));
        let stream: ByteStream = Box::pin(futures_util::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|item| (item, rx))
        }));
        Ok(stream)
    })
}

/// Reads until the end or until the receiver is gone (the upload failed or finished).
fn read_into(mut file: impl Read, tx: mpsc::Sender<io::Result<Bytes>>) {
    loop {
        let mut buf = vec![0u8; READ_SIZE];
        let n = match file.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        buf.truncate(n);
        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
            return;
        }
    }
}
