//! Blob uploads that survive broken connections: a cross-repository mount tried first
//! (falling back to the upload session the registry opens instead), small blobs in one
//! request, large ones streamed from a source that can be reopened at any offset — in one
//! `PATCH`, or in chunks of at least the registry's `OCI-Chunk-Min-Length` — and, when a
//! `PATCH` breaks, a resume from the offset the registry reports (`GET` on the session →
//! `Range`) or a fresh session when it reports none.
//!
//! Nothing is held whole in memory except blobs under [`UploadOptions::whole_max`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::blob::Mount;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use reqwest::{Method, StatusCode, Url};
use wharf_spec::{Descriptor, Reference};

use crate::auth::Scope;
use crate::blob::session_location;
use crate::client::Client;
use crate::endpoint::Endpoint;
use crate::error::{ClientError, Result};
use crate::event::ClientEvent;
use crate::transport::{Body, Call};

/// A blob's bytes from some offset to its end.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// What [`UploadSource::open`] returns.
pub type OpenFuture<'a> = Pin<Box<dyn Future<Output = io::Result<ByteStream>> + Send + 'a>>;

/// Where an upload's bytes come from. It is opened again at the registry's offset when an
/// upload resumes, so it must give the same bytes each time (a file, a registry's blob).
pub trait UploadSource: Send + Sync {
    /// The bytes from `offset` to the end of the blob.
    fn open(&self, offset: u64) -> OpenFuture<'_>;

    /// Whether the bytes of the stream opened last joined others: it started after byte 0,
    /// or resumed a broken connection with a `Range` request. Such bytes can mismatch
    /// their digest through no fault of what the source holds now (a blob that changed in
    /// between), so a reader may try once more from byte 0.
    fn resumed(&self) -> bool {
        false
    }
}

/// A blob in another repository (of any registry), streamed straight through: what a
/// registry-to-registry copy uploads, without touching disk. The destination registry
/// checks the digest when the upload closes.
pub struct RemoteBlob {
    client: Client,
    repository: Reference,
    descriptor: Descriptor,
    /// The last stream's "resumed" flag ([`crate::BlobStream::resumed`]).
    last_resumed: std::sync::Mutex<Option<Arc<AtomicBool>>>,
}

impl RemoteBlob {
    pub fn new(client: Client, repository: Reference, descriptor: Descriptor) -> RemoteBlob {
        RemoteBlob {
            client,
            repository,
            descriptor,
            last_resumed: std::sync::Mutex::new(None),
        }
    }
}

impl UploadSource for RemoteBlob {
    /// The stream's errors are [`ClientError`]s inside the `io::Error` (see
    /// [`io::Error::into_inner`]), so a reader can tell what the registry did.
    fn open(&self, offset: u64) -> OpenFuture<'_> {
        Box::pin(async move {
            let stream = self
                .client
                .fetch_blob(&self.repository, &self.descriptor, offset)
                .await
                .map_err(io::Error::other)?;
            *self.last_resumed.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(stream.resumed_flag());
            let stream: ByteStream = Box::pin(stream.map(|r| r.map_err(io::Error::other)));
            Ok(stream)
        })
    }

    fn resumed(&self) -> bool {
        let last = self.last_resumed.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }
}

/// Bytes of one upload the registry has been sent so far (counted from byte 0; a resume
/// moves it back to the registry's offset). Shared, so a caller can watch it.
#[derive(Debug, Clone, Default)]
pub struct UploadProgress(Arc<AtomicU64>);

impl UploadProgress {
    pub fn new() -> UploadProgress {
        UploadProgress::default()
    }

    pub fn sent(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOptions {
    /// Blobs up to this size are read whole and sent in one request (retried like any
    /// request); larger ones are streamed.
    pub whole_max: u64,
    /// Send large blobs in `PATCH` chunks of this size (raised to the registry's
    /// `OCI-Chunk-Min-Length`) instead of one streamed `PATCH`.
    pub chunk_size: Option<u64>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            whole_max: 1 << 20,
            chunk_size: None,
        }
    }
}

/// How a blob got into the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uploaded {
    /// Linked from this repository (one of `mount_from`); nothing transferred.
    Mounted(Reference),
    /// Its bytes were sent; `resumes` counts broken `PATCH`es continued or restarted.
    Sent { resumes: u32 },
}

/// An open upload session and how far the registry has it.
struct Session {
    location: Url,
    offset: u64,
    min_chunk: Option<u64>,
}

/// Failures worth continuing the session after: the connection broke, or the registry
/// failed transiently.
fn is_resumable(error: &ClientError) -> bool {
    match error {
        ClientError::Unreachable { .. } => true,
        ClientError::Registry { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
        _ => false,
    }
}

/// `Range: 0-N` of an upload session: the next offset (`N + 1`). Distribution says `0-0`
/// for an empty session as well.
fn next_offset(range: &str) -> Option<u64> {
    let range = range.trim();
    let range = range.strip_prefix("bytes=").unwrap_or(range);
    let (start, end) = range.split_once('-')?;
    if start.trim() != "0" {
        return None;
    }
    let end: u64 = end.trim().parse().ok()?;
    Some(if end == 0 { 0 } else { end + 1 })
}

/// At most `len` bytes of `stream`, counting each into `progress`; a stream that ends
/// early is an error, so the request fails instead of sending a short body.
fn limited(stream: ByteStream, len: u64, start: u64, progress: UploadProgress) -> ByteStream {
    progress.0.store(start, Ordering::Relaxed);
    let state = (stream, len, progress);
    Box::pin(futures_util::stream::unfold(
        state,
        |(mut stream, left, progress)| async move {
            if left == 0 {
                return None;
            }
            match stream.next().await {
                Some(Ok(mut chunk)) => {
                    if chunk.len() as u64 > left {
                        chunk.truncate(left as usize);
                    }
                    let n = chunk.len() as u64;
                    progress.0.fetch_add(n, Ordering::Relaxed);
                    Some((Ok(chunk), (stream, left - n, progress)))
                }
                Some(Err(e)) => Some((Err(e), (stream, 0, progress))),
                None => Some((
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the blob's source ended {left} bytes early"),
                    )),
                    (stream, 0, progress),
                )),
            }
        },
    ))
}

impl Client {
    /// Puts the blob `descriptor` names into `repository`: mounted from the first of
    /// `mount_from` (other repositories of the same registry, tried in order) the
    /// registry agrees to link it from, else its bytes are sent from `source` (see the
    /// module docs for how). The registry verifies the digest before the blob exists there.
    pub async fn upload_blob(
        &self,
        repository: &Reference,
        descriptor: &Descriptor,
        source: &dyn UploadSource,
        mount_from: &[Reference],
        options: &UploadOptions,
        progress: &UploadProgress,
    ) -> Result<Uploaded> {
        let endpoint = Endpoint::origin(repository.domain(), &self.inner.config.insecure);
        let candidates: Vec<&Reference> = mount_from
            .iter()
            .filter(|f| f.domain() == repository.domain() && f.path() != repository.path())
            .collect();
        // All but the last are asked on their own (a refusal's upload session is
        // cancelled); the last one's refusal opens the session the bytes then go to.
        let (from, others) = match candidates.split_last() {
            Some((last, others)) => (Some(*last), others),
            None => (None, &[][..]),
        };
        for candidate in others {
            if self
                .mount_blob(repository, &descriptor.digest, candidate)
                .await?
                == Mount::Mounted
            {
                return Ok(Uploaded::Mounted((*candidate).clone()));
            }
        }
        let scope = match from {
            Some(f) => Scope::push(repository.path()).and(Scope::pull(f.path())),
            None => Scope::push(repository.path()),
        };
        let query = from.map(|f| format!("mount={}&from={}", descriptor.digest, f.path()));
        let mounting = query.is_some();
        let opened = self
            .start_upload(&endpoint, repository, &scope, query)
            .await?;
        match opened.status {
            StatusCode::CREATED if mounting => {
                return Ok(Uploaded::Mounted(
                    from.expect("mounting has a source").clone(),
                ))
            }
            StatusCode::ACCEPTED => {}
            status => {
                return Err(ClientError::InvalidResponse {
                    registry: endpoint.display(),
                    what: format!("upload of blob `{}`", descriptor.digest),
                    reason: format!("opening the upload answered {status}, expected 202"),
                })
            }
        }
        let mut session = Session {
            location: opened.location,
            offset: 0,
            min_chunk: opened.min_chunk,
        };
        if descriptor.size <= options.whole_max {
            let bytes = self.read_whole(descriptor, source).await?;
            self.close_upload(
                &endpoint,
                &scope,
                session.location,
                repository,
                descriptor,
                Body::Bytes(bytes),
            )
            .await?;
            progress.0.store(descriptor.size, Ordering::Relaxed);
            return Ok(Uploaded::Sent { resumes: 0 });
        }

        let mut resumes = 0;
        let mut failures = 0;
        loop {
            let before = session.offset;
            let sent = self
                .send_rest(
                    &endpoint,
                    &scope,
                    repository,
                    descriptor,
                    &mut session,
                    source,
                    options,
                    progress,
                )
                .await;
            let error = match sent {
                Ok(()) => break,
                Err(e) if is_resumable(&e) => e,
                Err(e) => return Err(e),
            };
            // Progress since the last failure resets the count, as downloads do.
            if session.offset > before {
                failures = 0;
            }
            failures += 1;
            let max = self.inner.config.max_resumes;
            if failures > max {
                return Err(error);
            }
            resumes += 1;
            let delay = self.inner.transport.retry.backoff(failures);
            tokio::time::sleep(delay).await;
            match self
                .upload_status(&endpoint, &scope, &session.location)
                .await
            {
                Ok(Some((location, offset))) if offset <= descriptor.size => {
                    session.location = location;
                    session.offset = offset;
                }
                status => {
                    if let Err(e) = status {
                        tracing::debug!(error = %e, "upload status unavailable; restarting");
                    }
                    let opened = self
                        .start_upload(&endpoint, repository, &Scope::push(repository.path()), None)
                        .await?;
                    session = Session {
                        location: opened.location,
                        offset: 0,
                        min_chunk: opened.min_chunk,
                    };
                }
            }
            tracing::debug!(digest = %descriptor.digest, offset = session.offset, %error, "resuming upload");
            self.inner.transport.emit(ClientEvent::UploadResuming {
                registry: endpoint.display(),
                digest: descriptor.digest.clone(),
                offset: session.offset,
                reason: error.to_string(),
            });
        }
        self.close_upload(
            &endpoint,
            &scope,
            session.location,
            repository,
            descriptor,
            Body::Empty,
        )
        .await?;
        progress.0.store(descriptor.size, Ordering::Relaxed);
        Ok(Uploaded::Sent { resumes })
    }

    /// A small blob read whole from its source (at most `whole_max` bytes).
    async fn read_whole(
        &self,
        descriptor: &Descriptor,
        source: &dyn UploadSource,
    ) -> Result<Bytes> {
        let failed = |e: io::Error| {
            ClientError::Setup(format!(
                "reading blob `{}` to upload: {e}",
                descriptor.digest
            ))
        };
        let mut stream = source.open(0).await.map_err(failed)?;
        let mut out = BytesMut::with_capacity(descriptor.size as usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(failed)?;
            if (out.len() + chunk.len()) as u64 > descriptor.size {
                return Err(failed(io::Error::other(format!(
                    "the source has more than the descriptor's {} bytes",
                    descriptor.size
                ))));
            }
            out.extend_from_slice(&chunk);
        }
        if out.len() as u64 != descriptor.size {
            return Err(failed(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} of {} bytes", out.len(), descriptor.size),
            )));
        }
        Ok(out.freeze())
    }

    /// `PATCH`es the bytes from the session's offset to the end: one request, or chunks.
    #[allow(clippy::too_many_arguments)]
    async fn send_rest(
        &self,
        endpoint: &Endpoint,
        scope: &Scope,
        repository: &Reference,
        descriptor: &Descriptor,
        session: &mut Session,
        source: &dyn UploadSource,
        options: &UploadOptions,
        progress: &UploadProgress,
    ) -> Result<()> {
        let size = descriptor.size;
        while session.offset < size {
            let rest = size - session.offset;
            let len = match options.chunk_size {
                Some(chunk) => chunk.max(session.min_chunk.unwrap_or(0)).max(1).min(rest),
                None => rest,
            };
            let stream = source.open(session.offset).await.map_err(|e| {
                ClientError::Setup(format!(
                    "reading blob `{}` to upload: {e}",
                    descriptor.digest
                ))
            })?;
            let body = limited(stream, len, session.offset, progress.clone());
            let mut call = Call::new(Method::PATCH, session.location.clone(), scope);
            call.headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            call.headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
            // A streamed upload sends no range; chunks and resumed uploads say where they go.
            if options.chunk_size.is_some() || session.offset > 0 {
                let range = format!("{}-{}", session.offset, session.offset + len - 1);
                call.headers.insert(
                    CONTENT_RANGE,
                    HeaderValue::from_str(&range).expect("digits are a valid header"),
                );
            }
            call.body = Body::Stream(Some(reqwest::Body::wrap_stream(body)));
            let what = call.what();
            let response = self
                .send_upload(endpoint, call, repository, &descriptor.digest)
                .await?;
            let expected = session.offset + len;
            let reported = response
                .headers()
                .get(RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(next_offset);
            if let Some(location) = session_location(&response) {
                session.location = location;
            }
            session.offset = match reported {
                // Trust a registry that kept less: the rest is sent again from there.
                Some(offset) if offset < expected => offset,
                Some(offset) if offset > expected => {
                    return Err(ClientError::InvalidResponse {
                        registry: endpoint.display(),
                        what,
                        reason: format!(
                            "the registry reports {offset} bytes, {expected} were sent"
                        ),
                    })
                }
                _ => expected,
            };
        }
        Ok(())
    }

    /// `GET` on an upload session: where it continues and how many bytes the registry
    /// has; `None` when the registry no longer knows the session.
    async fn upload_status(
        &self,
        endpoint: &Endpoint,
        scope: &Scope,
        location: &Url,
    ) -> Result<Option<(Url, u64)>> {
        let call = Call::new(Method::GET, location.clone(), scope);
        let response = self.send(endpoint, call).await?;
        if response.status() != StatusCode::NO_CONTENT && !response.status().is_success() {
            return Ok(None);
        }
        let offset = response
            .headers()
            .get(RANGE)
            .and_then(|v| v.to_str().ok())
            .map(next_offset);
        let location = session_location(&response).unwrap_or_else(|| location.clone());
        Ok(match offset {
            Some(Some(offset)) => Some((location, offset)),
            // No `Range` at all: nothing received yet.
            None => Some((location, 0)),
            Some(None) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ranges() {
        assert_eq!(next_offset("0-99"), Some(100));
        assert_eq!(next_offset("bytes=0-9"), Some(10));
        assert_eq!(next_offset("0-0"), Some(0));
        assert_eq!(next_offset("5-9"), None);
        assert_eq!(next_offset("junk"), None);
    }

    #[test]
    fn only_transient_failures_resume() {
        let unreachable = ClientError::Unreachable {
            registry: "r".into(),
            reason: "reset".into(),
        };
        assert!(is_resumable(&unreachable));
        let server = |status| ClientError::Registry {
            registry: "r".into(),
            what: "PATCH".into(),
            status,
            code: None,
            message: String::new(),
        };
        assert!(is_resumable(&server(503)));
        assert!(!is_resumable(&server(400)));
    }

    #[tokio::test]
    async fn limited_streams_stop_at_their_length_and_count() {
        let chunks: Vec<io::Result<Bytes>> = vec![
            Ok(Bytes::from_static(b"hello")),
            Ok(Bytes::from_static(b"world")),
        ];
        let progress = UploadProgress::new();
        let out: Vec<_> = limited(
            Box::pin(futures_util::stream::iter(chunks)),
            7,
            100,
            progress.clone(),
        )
        .collect()
        .await;
        let bytes: Vec<u8> = out.into_iter().flat_map(|c| c.unwrap().to_vec()).collect();
        assert_eq!(bytes, b"hellowo");
        assert_eq!(progress.sent(), 107);
        let short: Vec<_> = limited(
            Box::pin(futures_util::stream::iter(vec![Ok(Bytes::from_static(
                b"ab",
            ))])),
            3,
            0,
            UploadProgress::new(),
        )
        .collect()
        .await;
        assert!(short.last().unwrap().is_err());
    }
}
