//! Committed blobs, stored once per registry under `<algorithm>/<hex>`.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, WriteMultipart};
use wharf_spec::Digest;

use crate::error::StorageError;

pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Reads from files in chunks this large: big enough that a blob streams at disk speed
/// (object_store's own file streams use 8 KiB).
const READ_CHUNK: usize = 1 << 20;

/// Committed blobs by digest. Only verified bytes reach a `BlobStore`: services stage and
/// hash uploads in the [`UploadArea`](super::UploadArea) and `commit` them once they match.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Streams `range` of the blob `digest` (a range within its size).
    async fn read(&self, digest: &Digest, range: Range<u64>) -> Result<ByteStream, StorageError>;
    /// Publishes the verified file `staged` as `digest`; durable when this returns. The
    /// staged file is consumed (moved or copied, then removed).
    async fn commit(&self, staged: &Path, digest: &Digest) -> Result<(), StorageError>;
    /// Removes a blob (GC); removing a missing blob is not an error.
    async fn delete(&self, digest: &Digest) -> Result<(), StorageError>;
    /// Every stored blob with when it was written (GC looks for files the database lacks).
    async fn list(&self) -> Result<Vec<(Digest, std::time::SystemTime)>, StorageError>;
}

/// A [`BlobStore`] over any `object_store`. On the local filesystem a commit is an fsync'd
/// rename; elsewhere the staged file is streamed up as a multipart upload.
pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    local: Option<Arc<LocalFileSystem>>,
}

impl ObjectBlobStore {
    pub fn local(root: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(root)
            .map_err(StorageError::io(format!("create `{}`", root.display())))?;
        let fs = Arc::new(LocalFileSystem::new_with_prefix(root)?);
        Ok(ObjectBlobStore {
            store: fs.clone(),
            local: Some(fs),
        })
    }

    /// Any other object store (S3, in-memory for tests).
    pub fn remote(store: Arc<dyn ObjectStore>) -> Self {
        ObjectBlobStore { store, local: None }
    }

    fn location(digest: &Digest) -> ObjectPath {
        ObjectPath::from(format!("{}/{}", digest.algorithm().name(), digest.hex()))
    }
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    async fn read(&self, digest: &Digest, range: Range<u64>) -> Result<ByteStream, StorageError> {
        if range.is_empty() {
            return Ok(stream::empty().boxed());
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&Self::location(digest), options)
            .await?;
        Ok(match result.payload {
            GetResultPayload::File(file, _) => file_stream(file, result.range),
            GetResultPayload::Stream(s) => s.map_err(std::io::Error::other).boxed(),
        })
    }

    async fn commit(&self, staged: &Path, digest: &Digest) -> Result<(), StorageError> {
        let location = Self::location(digest);
        if let Some(fs) = &self.local {
            let target = fs.path_to_filesystem(&location)?;
            let staged = staged.to_path_buf();
            return tokio::task::spawn_blocking(move || publish_file(&staged, &target))
                .await
                .map_err(StorageError::internal("blob commit"))?;
        }
        let mut upload = WriteMultipart::new(self.store.put_multipart(&location).await?);
        let mut file = tokio::fs::File::open(staged)
            .await
            .map_err(StorageError::io(format!("open `{}`", staged.display())))?;
        let mut buf = vec![0; READ_CHUNK];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf)
                .await
                .map_err(StorageError::io(format!("read `{}`", staged.display())))?;
            if n == 0 {
                break;
            }
            upload.wait_for_capacity(4).await?;
            upload.write(&buf[..n]);
        }
        upload.finish().await?;
        tokio::fs::remove_file(staged)
            .await
            .map_err(StorageError::io(format!("remove `{}`", staged.display())))
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        match self.store.delete(&Self::location(digest)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self) -> Result<Vec<(Digest, std::time::SystemTime)>, StorageError> {
        let mut objects = self.store.list(None);
        let mut out = Vec::new();
        while let Some(object) = objects.next().await {
            let object = object?;
            // `<algorithm>/<hex>`; anything else (a staging file) is not a blob.
            let text = object.location.as_ref().replacen('/', ":", 1);
            if let Ok(digest) = Digest::parse(&text) {
                out.push((digest, std::time::SystemTime::from(object.last_modified)));
            }
        }
        Ok(out)
    }
}

/// fsync the staged file, rename it into place, fsync the directory: after a crash the blob
/// is either wholly there or not at all.
fn publish_file(staged: &Path, target: &Path) -> Result<(), StorageError> {
    let file = std::fs::File::open(staged)
        .map_err(StorageError::io(format!("open `{}`", staged.display())))?;
    let dir = target.parent().expect("a blob path has a parent");
    std::fs::create_dir_all(dir)
        .map_err(StorageError::io(format!("create `{}`", dir.display())))?;
    Ok(wharf_fs::publish(
        &file,
        staged,
        target,
        wharf_fs::Durability::Durable,
    )?)
}

/// Streams `range` of an open file in large chunks, each read on the blocking pool.
fn file_stream(file: std::fs::File, range: Range<u64>) -> ByteStream {
    let state = (Some(file), range.start, range.end);
    stream::try_unfold(state, |(file, pos, end)| async move {
        let Some(mut file) = file else {
            return Ok(None);
        };
        if pos >= end {
            return Ok(None);
        }
        let want = (end - pos).min(READ_CHUNK as u64) as usize;
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0; want];
            file.seek(SeekFrom::Start(pos))?;
            file.read_exact(&mut buf)?;
            Ok::<_, std::io::Error>((file, buf))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(Some((
            Bytes::from(chunk),
            (Some(file), pos + want as u64, end),
        )))
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    //! A suite every `BlobStore` must pass (containerd's content-store test suite idea).
    use super::*;
    use futures_util::TryStreamExt;

    async fn read_all(store: &dyn BlobStore, digest: &Digest, range: Range<u64>) -> Vec<u8> {
        let chunks: Vec<Bytes> = store
            .read(digest, range)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        chunks.concat()
    }

    async fn conformance(store: &dyn BlobStore, scratch: &Path) {
        let bytes: Vec<u8> = (0..3 * READ_CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let digest = Digest::sha256_of(&bytes);
        let staged = scratch.join("staged");
        std::fs::write(&staged, &bytes).unwrap();
        store.commit(&staged, &digest).await.unwrap();
        assert!(!staged.exists(), "commit consumes the staged file");
        let len = bytes.len() as u64;
        assert_eq!(read_all(store, &digest, 0..len).await, bytes);
        assert_eq!(
            read_all(store, &digest, 5..len - 3).await,
            &bytes[5..bytes.len() - 3]
        );
        assert!(read_all(store, &digest, 7..7).await.is_empty());
        // Committing the same content again (two racing uploads) is harmless.
        std::fs::write(&staged, &bytes).unwrap();
        store.commit(&staged, &digest).await.unwrap();
        assert_eq!(read_all(store, &digest, 0..len).await, bytes);
        store.delete(&digest).await.unwrap();
        store.delete(&digest).await.unwrap();
        assert!(store.read(&digest, 0..1).await.is_err());
    }

    #[tokio::test]
    async fn local_filesystem_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectBlobStore::local(&dir.path().join("blobs")).unwrap();
        conformance(&store, dir.path()).await;
    }

    #[tokio::test]
    async fn other_object_stores_pass_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectBlobStore::remote(Arc::new(object_store::memory::InMemory::new()));
        conformance(&store, dir.path()).await;
    }
}
