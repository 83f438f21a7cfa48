//! The services: what the registry does, in terms of repositories, digests and streams.
//! Routes translate HTTP into these calls; storage is reached only from here.

mod browse;

pub use browse::{RepositorySummary, Totals};

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::sync::Mutex as AsyncMutex;
use wharf_spec::media_type::{self, Kind};
use wharf_spec::reference::{validate_repository_path, validate_tag};
use wharf_spec::{Algorithm, Digest, Digester, Manifest, ManifestError, RawManifest};

use crate::error::{Code, Error, Result};
use crate::gc::GcLock;
use crate::storage::{
    Appended, Backend, BlobStore, ByteStream, Metadata, NewManifest, ObjectBlobStore, SessionLock,
    UploadArea,
};

/// The registry: metadata, blob store and upload area behind one set of operations.
pub struct Registry {
    meta: Metadata,
    blobs: Arc<dyn BlobStore>,
    uploads: UploadArea,
    /// One lock per upload session in this process, holding the running sha256 of the bytes
    /// received so far. Absent after a restart: the next request re-hashes the file.
    sessions: Mutex<HashMap<String, Arc<AsyncMutex<Option<HashState>>>>>,
    /// Held shared while a blob is committed or linked, exclusively while GC forgets blobs.
    gc_lock: GcLock,
}

struct HashState {
    received: u64,
    digester: Digester,
}

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    Tag(String),
    Digest(Digest),
}

impl ManifestRef {
    pub fn parse(reference: &str) -> Result<Self> {
        if reference.contains(':') {
            return parse_digest(reference).map(ManifestRef::Digest);
        }
        validate_tag(reference)
            .map(|()| ManifestRef::Tag(reference.to_string()))
            .map_err(|e| Error::new(Code::ManifestInvalid, e.to_string()))
    }

    /// A reference to look up (`GET`, `HEAD`, `DELETE`). One that is neither a tag nor a
    /// digest names no manifest, so it is answered like any other such reference: 404
    /// `MANIFEST_UNKNOWN` (as distribution does, and the conformance suite expects),
    /// with a message that says why. Only a push is told its reference is malformed.
    pub fn lookup(reference: &str) -> Result<Self> {
        Self::parse(reference).map_err(|e| {
            Error::new(
                Code::ManifestUnknown,
                format!("manifest `{reference}` is unknown: {}", e.message),
            )
        })
    }
}

pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub content: Vec<u8>,
    pub subject: Option<Digest>,
}

pub struct PushedManifest {
    pub digest: Digest,
    pub subject: Option<Digest>,
    /// Tags set with `?tag=` on a push by digest.
    pub extra_tags: Vec<String>,
}

/// Where an upload session stands.
pub struct UploadStatus {
    pub id: String,
    pub received: u64,
}

pub fn check_name(name: &str) -> Result<()> {
    validate_repository_path(name).map_err(|e| Error::new(Code::NameInvalid, e.to_string()))
}

pub fn parse_digest(text: &str) -> Result<Digest> {
    Digest::parse(text).map_err(|e| Error::new(Code::DigestInvalid, e.to_string()))
}

/// Upload ids are UUIDs this server made; anything else names no session. The canonical
/// form is what reaches the filesystem, never the client's text.
fn parse_upload_id(id: &str) -> Result<String> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| upload_unknown(id))
}

fn upload_unknown(id: &str) -> Error {
    Error::new(
        Code::BlobUploadUnknown,
        format!(
            "upload `{id}` is unknown to this repository (finished, cancelled or never started)"
        ),
    )
}

/// The most blobs and manifests one manifest may name: config, layers and `subject` of an
/// image manifest, or an index's entries and `subject` (other registries cap layers
/// similarly). Every reference is a row written in the push's transaction, and SQLite has
/// one writer: without a cap, one huge manifest stalls every other push.
pub const MAX_MANIFEST_REFERENCES: usize = 10_000;

/// Refuses `media_type` unless it is an image manifest or index type (OCI or Docker
/// schema2). The stored type is served back as the manifest's `Content-Type`, so anything
/// else (`text/html`, `image/svg+xml`) would be a page on the registry's origin.
fn check_manifest_type(media_type: &str, what: &str) -> Result<()> {
    match media_type::kind(media_type) {
        // Schema1 goes on to the parser, which says what to do about it.
        Kind::Manifest | Kind::Index | Kind::Schema1 => Ok(()),
        _ => Err(Error::new(
            Code::ManifestInvalid,
            format!(
                "{what} is `{media_type}`, which is not a manifest media type: push manifests as `{}`",
                media_type::MANIFEST_ACCEPT.join("`, `")
            ),
        )),
    }
}

/// A body that went past the length its `Content-Range` announced.
#[derive(Debug, thiserror::Error)]
#[error("the body is longer than the {0} bytes its `Content-Range` announced")]
struct Overlong(u64);

impl Overlong {
    fn of(error: &std::io::Error) -> Option<&Overlong> {
        error.get_ref()?.downcast_ref()
    }
}

/// `body`, failing as soon as it goes past `limit` bytes: a chunk longer than its
/// `Content-Range` (sent without `Content-Length`) is refused when it says so, not after
/// all of it reached the disk. The failure cuts the session back like a broken body.
fn at_most(body: ByteStream, limit: u64) -> ByteStream {
    let mut seen = 0u64;
    body.map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                Overlong(limit),
            ));
        }
        Ok(chunk)
    })
    .boxed()
}

/// The spec's `Range` value for `received` bytes: `0-<last byte>` (`0-0` when empty).
pub fn range_header(received: u64) -> String {
    format!("0-{}", received.saturating_sub(1))
}

impl Registry {
    /// Opens (creating) a registry under `root`: `registry.db`, `blobs/`, `uploads/`.
    pub async fn open(root: &Path) -> Result<Registry, crate::StorageError> {
        Registry::open_with(root, &Backend::Sqlite(root.join("registry.db"))).await
    }

    /// Opens (creating) a registry with its blobs and uploads under `root` and its metadata
    /// in `backend`. Replicas that share a PostgreSQL database must share `root` too.
    pub async fn open_with(
        root: &Path,
        backend: &Backend,
    ) -> Result<Registry, crate::StorageError> {
        std::fs::create_dir_all(root).map_err(crate::StorageError::io(format!(
            "create `{}`",
            root.display()
        )))?;
        let meta = Metadata::open(backend).await?;
        let blobs = Arc::new(ObjectBlobStore::local(&root.join("blobs"))?);
        let uploads = UploadArea::open(&root.join("uploads"))?;
        let mut registry = Registry::with_storage(meta, blobs, uploads);
        registry.gc_lock = match backend {
            Backend::Sqlite(_) => GcLock::new(Some(crate::gc::lock_path(root))),
            Backend::Postgres(url) => GcLock::advisory(url)?,
        };
        registry.record_missing_references().await?;
        Ok(registry)
    }

    pub fn with_storage(meta: Metadata, blobs: Arc<dyn BlobStore>, uploads: UploadArea) -> Self {
        Registry {
            meta,
            blobs,
            uploads,
            sessions: Mutex::new(HashMap::new()),
            gc_lock: GcLock::new(None),
        }
    }

    /// The serving grace period: a blob a HEAD or GET answered 200 for is kept that long,
    /// also by a GC of another process with a shorter grace. Reads refresh the protection
    /// at most every quarter of it (at most a minute).
    pub fn set_gc_grace(&self, grace: std::time::Duration) {
        self.meta
            .set_touch_after((grace.as_secs() / 4).min(60) as i64);
        self.meta.set_read_grace(grace.as_secs() as i64);
    }

    pub(crate) fn metadata(&self) -> &Metadata {
        &self.meta
    }

    pub(crate) fn blob_store(&self) -> &dyn BlobStore {
        self.blobs.as_ref()
    }

    pub(crate) fn upload_area(&self) -> &UploadArea {
        &self.uploads
    }

    pub(crate) fn gc_lock(&self) -> &GcLock {
        &self.gc_lock
    }

    /// Manifests stored before references were recorded get them now (GC relies on them).
    async fn record_missing_references(&self) -> Result<(), crate::StorageError> {
        for (repository, digest, media_type, content) in
            self.meta.manifests_without_references().await?
        {
            let Ok(raw) = RawManifest::parse_with(content, Some(&media_type), digest.algorithm())
            else {
                continue;
            };
            let digests: Vec<Digest> = match raw.manifest() {
                Manifest::Image(m) => std::iter::once(&m.config)
                    .chain(&m.layers)
                    .map(|d| d.digest.clone())
                    .collect(),
                Manifest::Index(i) => i.manifests.iter().map(|d| d.digest.clone()).collect(),
            };
            if !digests.is_empty() {
                self.meta
                    .add_references(&repository, &digest, &digests)
                    .await?;
            }
        }
        Ok(())
    }

    /// Upload sessions open and bytes of blobs stored (for `/metrics`).
    pub async fn usage(&self) -> Result<(u64, u64)> {
        Ok((
            self.meta.upload_count().await?,
            self.meta.stored_bytes().await?,
        ))
    }

    pub async fn health(&self) -> Result<()> {
        Ok(self.meta.ping().await?)
    }

    // ---- blobs ----

    /// The size of `digest` in `name`, or `BLOB_UNKNOWN`.
    pub async fn blob(&self, name: &str, digest: &Digest) -> Result<u64> {
        self.meta
            .repository_blob_touch(name, digest)
            .await?
            .ok_or_else(|| {
                Error::new(
                    Code::BlobUnknown,
                    format!("blob `{digest}` is unknown to repository `{name}`"),
                )
            })
    }

    pub async fn read_blob(&self, digest: &Digest, range: Range<u64>) -> Result<ByteStream> {
        Ok(self.blobs.read(digest, range).await?)
    }

    /// Removes the blob from `name` only; its bytes stay for other repositories and GC.
    pub async fn delete_blob(&self, name: &str, digest: &Digest) -> Result<()> {
        if self.meta.unlink_blob(name, digest).await? {
            Ok(())
        } else {
            Err(Error::new(
                Code::BlobUnknown,
                format!("blob `{digest}` is unknown to repository `{name}`"),
            ))
        }
    }

    /// Cross-repository mount: links `digest` into `name` when `from` holds it (or, without
    /// `from`, when any repository does), counting only repositories `readable` admits.
    pub async fn mount(
        &self,
        name: &str,
        digest: &Digest,
        from: Option<&str>,
        readable: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<bool> {
        let _gc = self.gc_lock.shared().await?;
        let size = match from {
            Some(from) if check_name(from).is_ok() && readable(from) => {
                self.meta.repository_blob(from, digest).await?
            }
            Some(_) => None,
            None => {
                let holders = self.meta.repositories_with_blob(digest).await?;
                match holders.iter().any(|r| readable(r)) {
                    true => self.meta.blob(digest).await?,
                    false => None,
                }
            }
        };
        match size {
            Some(size) => {
                self.meta.link_blob(name, digest, size).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    // ---- uploads ----

    pub async fn start_upload(&self, name: &str) -> Result<String> {
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        self.uploads.create(&id).await?;
        self.meta.create_upload(&id, name).await?;
        Ok(id)
    }

    pub async fn upload_status(&self, name: &str, id: &str) -> Result<UploadStatus> {
        let id = parse_upload_id(id)?;
        let received = self.record(name, &id).await?;
        Ok(UploadStatus { id, received })
    }

    /// Appends a (streamed or `Content-Range`d) chunk; returns the bytes received so far.
    pub async fn append(
        &self,
        name: &str,
        id: &str,
        range: Option<(u64, u64)>,
        body: ByteStream,
    ) -> Result<UploadStatus> {
        let id = parse_upload_id(id)?;
        let session = self.session(&id);
        let mut state = session.lock().await;
        let (_held, received) = self.hold(name, &id).await?;
        let received = self
            .append_locked(&id, received, &mut state, range, body)
            .await?;
        Ok(UploadStatus { id, received })
    }

    /// Completes a session with an optional last chunk: the blob becomes visible only if the
    /// bytes hash to `digest`; otherwise the session and its bytes are dropped.
    pub async fn finish(
        &self,
        name: &str,
        id: &str,
        digest: &Digest,
        range: Option<(u64, u64)>,
        body: ByteStream,
    ) -> Result<()> {
        let id = parse_upload_id(id)?;
        let session = self.session(&id);
        let mut state = session.lock().await;
        let (_held, received) = self.hold(name, &id).await?;
        let received = self
            .append_locked(&id, received, &mut state, range, body)
            .await?;
        let computed = match (digest.algorithm(), state.as_ref()) {
            (Algorithm::Sha256, Some(s)) if s.received == received => s.digester.clone().finish(),
            // sha512 uploads are rare: their session was hashed with sha256 (the algorithm
            // is only named at the end), so the file is hashed once more.
            (algorithm, _) => self
                .uploads
                .rehash(&id, received, algorithm)
                .await?
                .finish(),
        };
        if &computed != digest {
            self.drop_session(&id).await?;
            return Err(Error::new(
                Code::DigestInvalid,
                format!("the uploaded content has digest `{computed}`, not `{digest}`; nothing was stored"),
            ));
        }
        let _gc = self.gc_lock.shared().await?;
        if self.meta.blob(digest).await?.is_some() {
            self.uploads.remove(&id).await?;
        } else {
            self.blobs.commit(&self.uploads.path(&id), digest).await?;
        }
        self.meta.link_blob(name, digest, received).await?;
        self.meta.delete_upload(&id).await?;
        *state = None;
        self.forget(&id);
        Ok(())
    }

    pub async fn cancel(&self, name: &str, id: &str) -> Result<()> {
        let id = parse_upload_id(id)?;
        let session = self.session(&id);
        let _state = session.lock().await;
        let _held = self.hold(name, &id).await?;
        self.drop_session(&id).await
    }

    /// A monolithic upload (`POST ?digest=`): a session that is finished at once.
    pub async fn put_blob(&self, name: &str, digest: &Digest, body: ByteStream) -> Result<()> {
        let id = self.start_upload(name).await?;
        let result = self.finish(name, &id, digest, None, body).await;
        if result.is_err() {
            // A digest mismatch already dropped it; any other failure drops it here.
            let _ = self.drop_session(&id).await;
        }
        result
    }

    /// Takes a session for this request against other processes (replicas sharing the
    /// root; this process's requests already wait on the session's mutex) and returns its
    /// length as of then. Another request busy with it is a chunk out of order: two writers
    /// at one offset would leave bytes in the file that neither running hash saw.
    async fn hold(&self, name: &str, id: &str) -> Result<(std::fs::File, u64)> {
        let received = self.record(name, id).await?;
        match self.uploads.lock(id).await? {
            // Read again: another replica may have moved it on (or GC purged it) before we
            // held it.
            SessionLock::Held(file) => Ok((file, self.record(name, id).await?)),
            // Finished or purged since the record was read.
            SessionLock::Gone => {
                self.forget(id);
                Err(upload_unknown(id))
            }
            SessionLock::Busy => Err(Error::new(
                Code::RangeInvalid,
                format!("another request is writing upload `{id}`: send its chunks one at a time"),
            )
            .with_header(axum::http::header::RANGE, range_header(received))),
        }
    }

    async fn record(&self, name: &str, id: &str) -> Result<u64> {
        match self.meta.upload(id).await? {
            Some(record) if record.repository == name => Ok(record.received),
            _ => {
                self.forget(id);
                Err(upload_unknown(id))
            }
        }
    }

    async fn append_locked(
        &self,
        id: &str,
        received: u64,
        state: &mut Option<HashState>,
        range: Option<(u64, u64)>,
        body: ByteStream,
    ) -> Result<u64> {
        let out_of_order = |received: u64| {
            Error::new(
                Code::RangeInvalid,
                format!("chunk does not continue the upload: {received} bytes received so far"),
            )
            .with_header(axum::http::header::RANGE, range_header(received))
        };
        let mut body = body;
        if let Some((start, end)) = range {
            if start != received || end < start {
                return Err(out_of_order(received));
            }
            body = at_most(body, (end - start).saturating_add(1));
        }
        let mut digester = match state.take() {
            Some(s) if s.received == received => s.digester,
            _ => self.uploads.rehash(id, received, Algorithm::Sha256).await?,
        };
        let written = match self
            .uploads
            .append(id, received, body, &mut digester)
            .await?
        {
            Appended::Done(n) => n,
            Appended::Broken(e) => {
                *state = Some(HashState { received, digester });
                if let (Some((start, end)), Some(overlong)) = (range, Overlong::of(&e)) {
                    return Err(Error::new(
                        Code::SizeInvalid,
                        format!(
                            "`Content-Range: {start}-{end}` announces {} bytes but the body held more; nothing was written",
                            overlong.0
                        ),
                    ));
                }
                return Err(Error::new(
                    Code::BlobUploadInvalid,
                    format!("the request body broke off: {e}"),
                ));
            }
        };
        if let Some((start, end)) = range {
            if written != end - start + 1 {
                self.uploads.truncate(id, received).await?;
                return Err(Error::new(
                    Code::SizeInvalid,
                    format!(
                        "`Content-Range: {start}-{end}` announces {} bytes but the body held {written}",
                        end - start + 1
                    ),
                ));
            }
        }
        if written == 0 {
            *state = Some(HashState { received, digester });
            return Ok(received);
        }
        let total = received + written;
        if !self.meta.advance_upload(id, received, total).await? {
            // Another replica moved the session on: its bytes win, ours were cut on its write.
            return Err(out_of_order(received));
        }
        *state = Some(HashState {
            received: total,
            digester,
        });
        Ok(total)
    }

    async fn drop_session(&self, id: &str) -> Result<()> {
        self.meta.delete_upload(id).await?;
        self.uploads.remove(id).await?;
        self.forget(id);
        Ok(())
    }

    fn session(&self, id: &str) -> Arc<AsyncMutex<Option<HashState>>> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.entry(id.to_string()).or_default().clone()
    }

    fn forget(&self, id: &str) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.remove(id);
    }

    // ---- manifests ----

    pub async fn manifest(&self, name: &str, reference: &ManifestRef) -> Result<StoredManifest> {
        let unknown = || {
            Error::new(
                Code::ManifestUnknown,
                format!("manifest unknown to repository `{name}`"),
            )
        };
        let found = match reference {
            ManifestRef::Digest(d) => self.meta.manifest(name, d).await?.map(|m| (d.clone(), m)),
            ManifestRef::Tag(tag) => self.meta.manifest_by_tag(name, tag).await?,
        };
        match found {
            Some((digest, m)) => Ok(StoredManifest {
                digest,
                media_type: m.media_type,
                content: m.content,
                subject: m.subject,
            }),
            None => Err(self.unknown_or(name, unknown()).await?),
        }
    }

    /// `NAME_UNKNOWN` for a repository that does not exist, else `error`.
    async fn unknown_or(&self, name: &str, error: Error) -> Result<Error> {
        if self.meta.repository_exists(name).await? {
            Ok(error)
        } else {
            Ok(Error::new(
                Code::NameUnknown,
                format!("repository `{name}` is unknown"),
            ))
        }
    }

    /// Validates and stores a manifest as its exact bytes: every blob and child manifest it
    /// names (but its `subject`, which may come later) must already be in the repository.
    pub async fn put_manifest(
        &self,
        name: &str,
        reference: &ManifestRef,
        extra_tags: &[&str],
        content_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<PushedManifest> {
        for tag in extra_tags {
            validate_tag(tag)
                .map_err(|e| Error::new(Code::ManifestInvalid, format!("`?tag={tag}`: {e}")))?;
        }
        let algorithm = match reference {
            ManifestRef::Digest(d) => d.algorithm(),
            ManifestRef::Tag(_) => Algorithm::Sha256,
        };
        // A generic `Content-Type` (`application/json`) claims nothing: the body's
        // `mediaType` or shape decides, and that is checked below.
        if let Some(claimed) = content_type.filter(|t| !t.is_empty() && !media_type::is_generic(t))
        {
            check_manifest_type(claimed, "the request's `Content-Type`")?;
        }
        let raw = RawManifest::parse_with(bytes, content_type, algorithm).map_err(|e| match e {
            ManifestError::TooLarge { .. } => Error::new(Code::SizeInvalid, e.to_string())
                .with_status(axum::http::StatusCode::PAYLOAD_TOO_LARGE),
            _ => Error::new(Code::ManifestInvalid, e.to_string()),
        })?;
        // The body's `mediaType` (or, without one, the type its shape says).
        check_manifest_type(raw.media_type(), "the manifest's `mediaType`")?;
        if let ManifestRef::Digest(d) = reference {
            if d != raw.digest() {
                return Err(Error::new(
                    Code::DigestInvalid,
                    format!("the manifest has digest `{}`, not `{d}`", raw.digest()),
                ));
            }
        }
        let references = raw.manifest().children().len();
        if references > MAX_MANIFEST_REFERENCES {
            return Err(Error::new(
                Code::ManifestInvalid,
                format!(
                    "the manifest names {references} blobs and manifests; this registry takes at most \
                     {MAX_MANIFEST_REFERENCES} per manifest (config, layers and subject, or an index's \
                     entries and subject): split the image or the index"
                ),
            ));
        }
        let (blobs, manifests) = match raw.manifest() {
            Manifest::Image(m) => (
                std::iter::once(&m.config)
                    .chain(&m.layers)
                    .collect::<Vec<_>>(),
                Vec::new(),
            ),
            Manifest::Index(i) => (Vec::new(), i.manifests.iter().collect()),
        };
        let blob_keys: Vec<Digest> = blobs
            .into_iter()
            // Foreign layers live at their `urls`, not in this registry.
            .filter(|blob| blob.urls.as_ref().is_none_or(|u| u.is_empty()))
            .map(|blob| blob.digest.clone())
            .collect();
        let child_keys: Vec<Digest> = manifests.iter().map(|c| c.digest.clone()).collect();
        // Checked here, in batched reads, so the write transaction below stays short; it
        // checks again (GC may have run in between).
        if let Some(key) = self.meta.first_missing_blob(name, &blob_keys).await? {
            return Err(Error::new(
                Code::ManifestBlobUnknown,
                format!("blob `{key}` named by the manifest is not in repository `{name}`: push it first"),
            ));
        }
        if let Some(key) = self.meta.first_missing_manifest(name, &child_keys).await? {
            return Err(Error::new(
                Code::ManifestBlobUnknown,
                format!("manifest `{key}` named by the index is not in repository `{name}`: push it first"),
            ));
        }
        let subject = raw.manifest().subject().map(|s| s.digest.clone());
        let artifact_type = match raw.manifest() {
            Manifest::Image(m) => m.artifact_type.clone(),
            Manifest::Index(i) => i.artifact_type.clone(),
        };
        let digest = raw.digest().clone();
        let mut tags: Vec<&str> = extra_tags.to_vec();
        if let ManifestRef::Tag(t) = reference {
            tags.push(t);
        }
        tags.sort_unstable();
        tags.dedup();
        let stored = self
            .meta
            .put_manifest(NewManifest {
                repository: name,
                digest: &digest,
                media_type: raw.media_type(),
                content: raw.bytes(),
                subject: subject.as_ref(),
                artifact_type: artifact_type.as_deref(),
                tags: &tags,
                blobs: &blob_keys,
                children: &child_keys,
            })
            .await?;
        if let Err(missing) = stored {
            return Err(Error::new(
                Code::ManifestBlobUnknown,
                format!("`{missing}` named by the manifest left repository `{name}` while it was pushed: push it again"),
            ));
        }
        Ok(PushedManifest {
            digest,
            subject,
            extra_tags: extra_tags.iter().map(|t| t.to_string()).collect(),
        })
    }

    /// By tag: removes only the tag. By digest: the manifest and the tags that point at it.
    pub async fn delete_manifest(&self, name: &str, reference: &ManifestRef) -> Result<()> {
        let deleted = match reference {
            ManifestRef::Tag(tag) => self.meta.delete_tag(name, tag).await?,
            ManifestRef::Digest(d) => self.meta.delete_manifest(name, d).await?,
        };
        if deleted {
            Ok(())
        } else {
            let unknown = Error::new(
                Code::ManifestUnknown,
                format!("manifest unknown to repository `{name}`"),
            );
            Err(self.unknown_or(name, unknown).await?)
        }
    }

    // ---- listings ----

    /// One page of tags: at most `n` after `last`, and whether more follow.
    pub async fn tags(
        &self,
        name: &str,
        n: Option<u32>,
        last: Option<&str>,
    ) -> Result<(Vec<String>, bool)> {
        if !self.meta.repository_exists(name).await? {
            return Err(Error::new(
                Code::NameUnknown,
                format!("repository `{name}` is unknown"),
            ));
        }
        let mut tags = self
            .meta
            .tags(name, last, n.map(|n| n.saturating_add(1)))
            .await?;
        Ok(page(&mut tags, n))
    }

    /// One page of the repositories `readable` admits: read in batches past the ones it
    /// hides, so a page is full whenever enough readable names follow.
    pub async fn catalog(
        &self,
        n: Option<u32>,
        last: Option<&str>,
        readable: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(Vec<String>, bool)> {
        let want = n.map(|n| n as usize + 1);
        let batch = want.map_or(1000, |w| w.max(100)) as u32;
        let mut names = Vec::new();
        let mut after = last.map(str::to_string);
        loop {
            let rows = self
                .meta
                .repositories(after.as_deref(), Some(batch))
                .await?;
            let exhausted = rows.len() < batch as usize;
            after = rows.last().cloned();
            names.extend(rows.into_iter().filter(|r| readable(r)));
            if exhausted || want.is_some_and(|w| names.len() >= w) {
                break;
            }
        }
        if let Some(w) = want {
            names.truncate(w);
        }
        Ok(page(&mut names, n))
    }

    /// Descriptors of the manifests in `name` whose subject is `digest` (optionally only
    /// those of `artifact_type`), as the referrers API lists them.
    pub async fn referrers(
        &self,
        name: &str,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<serde_json::Value>> {
        let records = self.meta.referrers(name, digest).await?;
        let mut out = Vec::new();
        for r in records {
            // The stored bytes were validated at push; re-reading them gives the
            // annotations and, for images without `artifactType`, the config's media type.
            let parsed: serde_json::Value = serde_json::from_slice(&r.content).unwrap_or_default();
            let kind = r
                .artifact_type
                .clone()
                .or_else(|| parsed["config"]["mediaType"].as_str().map(str::to_string));
            if artifact_type.is_some_and(|wanted| kind.as_deref() != Some(wanted)) {
                continue;
            }
            let mut descriptor = serde_json::json!({
                "mediaType": r.media_type,
                "digest": r.digest,
                "size": r.content.len(),
            });
            if let Some(kind) = kind {
                descriptor["artifactType"] = kind.into();
            }
            if let Some(annotations) = parsed.get("annotations").filter(|a| a.is_object()) {
                descriptor["annotations"] = annotations.clone();
            }
            out.push(descriptor);
        }
        Ok(out)
    }
}

/// Cuts a list fetched with one extra row to `n`; the extra row says a next page exists.
fn page(items: &mut Vec<String>, n: Option<u32>) -> (Vec<String>, bool) {
    let more = n.is_some_and(|n| items.len() > n as usize);
    if let Some(n) = n {
        items.truncate(n as usize);
    }
    (std::mem::take(items), more)
}
