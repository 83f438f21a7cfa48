//! Blobs: streaming downloads that start at any offset and resume by themselves when a
//! connection breaks, existence checks, monolithic uploads and cross-repository mounts.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt, TryStream};
use reqwest::header::{HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode, Url};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use wharf_spec::{Descriptor, Digest, Digester, Reference};

use crate::auth::Scope;
use crate::client::Client;
use crate::endpoint::Endpoint;
use crate::error::{describe, ClientError, Result};
use crate::event::ClientEvent;
use crate::response::{error_from, header_length, Subject};
use crate::transport::{Body, Call};

/// A blob's bytes as they arrive, from [`BlobStream::offset`] to its end. Each item is a
/// chunk; an error ends the stream. Broken connections are resumed with `Range` requests
/// before they surface as [`ClientError::Interrupted`].
///
/// Holds one of the client's download slots until dropped: consume or drop it rather than
/// keeping many idle at once.
pub struct BlobStream {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>,
    offset: u64,
    size: u64,
    ranged: Arc<AtomicBool>,
}

impl BlobStream {
    /// Where the bytes start: the offset asked for.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The blob's whole size, from its descriptor.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether any of its bytes joined others already there: a start after byte 0 (a
    /// partial download's offset) or a `Range` request after a broken connection. Such a
    /// blob's digest can mismatch through no fault of the registry's current bytes.
    pub fn resumed(&self) -> bool {
        self.ranged.load(Ordering::Relaxed)
    }

    /// The flag [`BlobStream::resumed`] reads, to read after the stream is gone.
    pub(crate) fn resumed_flag(&self) -> Arc<AtomicBool> {
        self.ranged.clone()
    }

    /// The stream as a [`tokio::io::AsyncRead`]; a [`ClientError`] comes out as the
    /// `io::Error`'s inner error.
    pub fn into_reader(self) -> BlobReader {
        BlobReader {
            stream: self,
            chunk: Bytes::new(),
        }
    }
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream")
            .field("offset", &self.offset)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Stream for BlobStream {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// [`BlobStream`] as an `AsyncRead`.
#[derive(Debug)]
pub struct BlobReader {
    stream: BlobStream,
    chunk: Bytes,
}

impl AsyncRead for BlobReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.chunk.is_empty() {
            match ready!(this.stream.inner.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => this.chunk = chunk,
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = buf.remaining().min(this.chunk.len());
        buf.put_slice(&this.chunk[..n]);
        this.chunk.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// What [`Client::mount_blob`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mount {
    /// The blob is now in the target repository; nothing was transferred.
    Mounted,
    /// The registry would not mount it (unknown there, or not supported): upload it.
    NotMounted,
}

/// The header with which a registry asks for chunks of at least this many bytes.
pub(crate) const OCI_CHUNK_MIN_LENGTH: &str = "oci-chunk-min-length";

/// An upload session the registry opened (`202`), or a mount it did (`201`).
pub(crate) struct OpenedUpload {
    pub status: StatusCode,
    /// Where the session continues (absolute).
    pub location: Url,
    /// `OCI-Chunk-Min-Length`, when the registry sent it.
    pub min_chunk: Option<u64>,
}

/// The absolute session URL of an upload response's `Location`.
pub(crate) fn session_location(response: &Response) -> Option<Url> {
    response
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| response.url().join(l).ok())
}

/// One blob download in progress.
struct Download {
    client: Client,
    endpoint: Endpoint,
    url: Url,
    scope: Scope,
    digest: Digest,
    size: u64,
    /// Absolute offset of the next byte handed out.
    position: u64,
    /// Bytes still to drop from the current response (a server that ignored `Range`).
    skip: u64,
    response: Option<Response>,
    /// Resumes since the last byte arrived.
    failures: u32,
    digester: Option<Digester>,
    finished: bool,
    /// Set once a request starts after byte 0.
    ranged: Arc<AtomicBool>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// `Content-Range: bytes START-END/TOTAL` (TOTAL may be `*`).
fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start.trim().parse().ok()?, end.trim().parse().ok()?, total))
}

impl Download {
    fn registry(&self) -> String {
        self.endpoint.display()
    }

    fn invalid(&self, reason: String) -> ClientError {
        ClientError::InvalidResponse {
            registry: self.registry(),
            what: format!("GET blob `{}`", self.digest),
            reason,
        }
    }

    fn size_mismatch(&self, actual: String) -> ClientError {
        ClientError::SizeMismatch {
            registry: self.registry(),
            digest: self.digest.clone(),
            expected: self.size,
            actual,
        }
    }

    /// Requests the rest of the blob from `position`.
    async fn open(&mut self) -> Result<()> {
        let mut call = Call::new(Method::GET, self.url.clone(), &self.scope);
        if self.position > 0 {
            self.ranged.store(true, Ordering::Relaxed);
            let range = HeaderValue::from_str(&format!("bytes={}-", self.position))
                .expect("digits are a valid header");
            call.headers.insert(RANGE, range);
        }
        let what = call.what();
        let response = self.client.send(&self.endpoint, call).await?;
        let remaining = self.size - self.position;
        let length = response.content_length();
        match response.status() {
            StatusCode::OK => {
                // Ranges are optional for servers: drop what we already have.
                self.skip = self.position;
                if let Some(len) = length.filter(|&l| l != self.size) {
                    return Err(self.size_mismatch(format!("the registry announced {len}")));
                }
            }
            StatusCode::PARTIAL_CONTENT => {
                let header = response
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                let Some((start, _end, total)) = parse_content_range(header) else {
                    return Err(
                        self.invalid(format!("206 with an invalid `Content-Range` `{header}`"))
                    );
                };
                if start != self.position {
                    return Err(self.invalid(format!(
                        "asked for bytes from {}, got a range starting at {start}",
                        self.position
                    )));
                }
                if let Some(total) = total.filter(|&t| t != self.size) {
                    return Err(self.size_mismatch(format!("the registry says {total}")));
                }
                if let Some(len) = length.filter(|&l| l != remaining) {
                    return Err(self.size_mismatch(format!(
                        "the registry announced {len} bytes from offset {}",
                        self.position
                    )));
                }
                self.skip = 0;
            }
            status if status.is_success() => {
                return Err(self.invalid(format!("unexpected status {status}")));
            }
            _ => {
                let registry = self.registry();
                let repository = self.scope_repository();
                return Err(error_from(
                    response,
                    &registry,
                    &what,
                    Subject::Blob {
                        repository: &repository,
                        digest: &self.digest,
                    },
                )
                .await);
            }
        }
        self.response = Some(response);
        Ok(())
    }

    fn scope_repository(&self) -> String {
        // `/v2/<repository>/blobs/<digest>`
        let path = self.url.path();
        path.strip_prefix(&format!("{}/v2/", self.endpoint.prefix))
            .and_then(|p| p.rsplit_once("/blobs/"))
            .map(|(repo, _)| repo.to_string())
            .unwrap_or_else(|| path.to_string())
    }

    fn verify(&mut self) -> Option<Result<Bytes>> {
        let digester = self.digester.take()?;
        let actual = digester.finish();
        (actual != self.digest).then(|| {
            Err(ClientError::DigestMismatch {
                registry: self.registry(),
                what: format!("blob `{}`", self.digest),
                expected: self.digest.clone(),
                actual,
            })
        })
    }

    async fn next(&mut self) -> Option<Result<Bytes>> {
        loop {
            if self.finished {
                return None;
            }
            if self.position == self.size {
                self.finished = true;
                self.response = None;
                return self.verify();
            }
            let outcome = match &mut self.response {
                Some(response) => response.chunk().await,
                None => match self.open().await {
                    Ok(()) => continue,
                    Err(e) => {
                        self.finished = true;
                        return Some(Err(e));
                    }
                },
            };
            let reason = match outcome {
                Ok(Some(mut chunk)) => {
                    if self.skip > 0 {
                        let n = self.skip.min(chunk.len() as u64);
                        chunk.advance(n as usize);
                        self.skip -= n;
                        if chunk.is_empty() {
                            continue;
                        }
                    }
                    let len = chunk.len() as u64;
                    if self.position + len > self.size {
                        self.finished = true;
                        return Some(Err(self.size_mismatch("got more".into())));
                    }
                    self.position += len;
                    self.failures = 0;
                    if let Some(d) = &mut self.digester {
                        d.update(&chunk);
                    }
                    return Some(Ok(chunk));
                }
                Ok(None) => format!("the connection closed at byte {}", self.position),
                Err(e) => describe(e),
            };
            self.response = None;
            self.failures += 1;
            let max = self.client.inner.config.max_resumes;
            if self.failures > max {
                self.finished = true;
                return Some(Err(ClientError::Interrupted {
                    registry: self.registry(),
                    digest: self.digest.clone(),
                    offset: self.position,
                    attempts: max,
                    reason,
                }));
            }
            tracing::debug!(digest = %self.digest, offset = self.position, %reason, "resuming blob");
            self.client.inner.transport.emit(ClientEvent::Resuming {
                registry: self.registry(),
                digest: self.digest.clone(),
                offset: self.position,
                reason,
            });
            let delay = self.client.inner.transport.retry.backoff(self.failures);
            tokio::time::sleep(delay).await;
        }
    }
}

impl Client {
    /// Streams the blob `descriptor` names from `repository` (only its domain and path
    /// count), starting at byte `offset` — where a partial download left off. The bytes are
    /// not hashed here: the caller's sink (the store's ingest) verifies them in its pass.
    /// The size is enforced: more bytes than the descriptor says is an error.
    ///
    /// Waits for a download slot first (`max_concurrent_downloads`).
    pub async fn fetch_blob(
        &self,
        repository: &Reference,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream> {
        self.download(repository, descriptor, offset, false).await
    }

    /// Like [`Client::fetch_blob`] from the start, hashing as it goes: when the bytes do
    /// not match the digest, the last item is a [`ClientError::DigestMismatch`]. For
    /// callers without a verifying sink (registry-to-registry copies).
    pub async fn fetch_blob_verified(
        &self,
        repository: &Reference,
        descriptor: &Descriptor,
    ) -> Result<BlobStream> {
        self.download(repository, descriptor, 0, true).await
    }

    /// A small blob (an image config) read whole and verified; refused over 4 MiB.
    pub async fn fetch_blob_bytes(
        &self,
        repository: &Reference,
        descriptor: &Descriptor,
    ) -> Result<Bytes> {
        if descriptor.size > wharf_spec::MAX_MANIFEST_SIZE {
            return Err(ClientError::InvalidResponse {
                registry: repository.domain().to_string(),
                what: format!("blob `{}`", descriptor.digest),
                reason: format!(
                    "{} bytes is over the {}-byte limit for blobs read whole",
                    descriptor.size,
                    wharf_spec::MAX_MANIFEST_SIZE
                ),
            });
        }
        let mut stream = self.fetch_blob_verified(repository, descriptor).await?;
        let mut out = Vec::with_capacity(descriptor.size as usize);
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(Bytes::from(out))
    }

    async fn download(
        &self,
        repository: &Reference,
        descriptor: &Descriptor,
        offset: u64,
        verify: bool,
    ) -> Result<BlobStream> {
        let size = descriptor.size;
        if offset > size {
            return Err(ClientError::InvalidOffset {
                digest: descriptor.digest.clone(),
                offset,
                size,
            });
        }
        let permit = self
            .inner
            .downloads
            .clone()
            .acquire_owned()
            .await
            .expect("the download semaphore is never closed");
        let path = &format!("{}/blobs/{}", repository.path(), descriptor.digest);
        let ranged = Arc::new(AtomicBool::new(false));
        let ranged_here = &ranged;
        let mut download = self
            .on_endpoints(repository.domain(), true, |endpoint| async move {
                let mut d = Download {
                    client: self.clone(),
                    url: self.url(&endpoint, path).await?,
                    endpoint,
                    scope: Scope::pull(repository.path()),
                    digest: descriptor.digest.clone(),
                    size,
                    position: offset,
                    skip: 0,
                    response: None,
                    failures: 0,
                    digester: verify.then(|| Digester::new(descriptor.digest.algorithm())),
                    finished: false,
                    ranged: ranged_here.clone(),
                    _permit: None,
                };
                // Open now so that "not found" and auth errors come from this call, and a
                // mirror that lacks the blob falls back to the next endpoint.
                if offset < size {
                    d.open().await?;
                }
                Ok(d)
            })
            .await?;
        download._permit = Some(permit);
        let inner = futures_util::stream::unfold(download, |mut d| async move {
            let item = d.next().await?;
            Some((item, d))
        });
        Ok(BlobStream {
            inner: Box::pin(inner),
            offset,
            size,
            ranged,
        })
    }

    /// The size of `digest` in `repository` when the registry has it there, else `None`.
    pub async fn head_blob(&self, repository: &Reference, digest: &Digest) -> Result<Option<u64>> {
        let endpoint = Endpoint::origin(repository.domain(), &self.inner.config.insecure);
        let scope = Scope::pull(repository.path());
        let url = self
            .url(&endpoint, &format!("{}/blobs/{digest}", repository.path()))
            .await?;
        let call = Call::new(Method::HEAD, url, &scope);
        let what = call.what();
        let response = self.send(&endpoint, call).await?;
        match response.status() {
            s if s.is_success() => Ok(Some(header_length(&response).unwrap_or(0))),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(error_from(
                response,
                &endpoint.display(),
                &what,
                Subject::Blob {
                    repository: repository.path(),
                    digest,
                },
            )
            .await),
        }
    }

    /// Uploads a blob whose bytes come from `body`, in one monolithic request (`POST` to
    /// open an upload, `PUT` with all the bytes and the digest). The registry verifies the
    /// digest. A streamed body cannot be retried: on failure, call again with a new stream.
    pub async fn push_blob<S>(
        &self,
        repository: &Reference,
        descriptor: &Descriptor,
        body: S,
    ) -> Result<()>
    where
        S: TryStream + Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        Bytes: From<S::Ok>,
    {
        let body = Body::Stream(Some(reqwest::Body::wrap_stream(body)));
        self.upload(repository, descriptor, body).await
    }

    /// Uploads a small blob held in memory (a config); retried like any request.
    pub async fn push_blob_bytes(&self, repository: &Reference, data: Bytes) -> Result<Descriptor> {
        let descriptor = Descriptor::new(
            "application/octet-stream",
            Digest::sha256_of(&data),
            data.len() as u64,
        );
        self.upload(repository, &descriptor, Body::Bytes(data))
            .await?;
        Ok(descriptor)
    }

    async fn upload(
        &self,
        repository: &Reference,
        descriptor: &Descriptor,
        body: Body,
    ) -> Result<()> {
        let endpoint = Endpoint::origin(repository.domain(), &self.inner.config.insecure);
        let scope = Scope::push(repository.path());
        let opened = self
            .start_upload(&endpoint, repository, &scope, None)
            .await?;
        if opened.status != StatusCode::ACCEPTED {
            return Err(ClientError::InvalidResponse {
                registry: endpoint.display(),
                what: format!("upload of blob `{}`", descriptor.digest),
                reason: format!(
                    "opening the upload answered {}, expected 202",
                    opened.status
                ),
            });
        }
        self.close_upload(
            &endpoint,
            &scope,
            opened.location,
            repository,
            descriptor,
            body,
        )
        .await
    }

    /// `PUT <session>?digest=…` with the last bytes (all of them for a monolithic upload,
    /// none after `PATCH`es): the registry checks the digest and publishes the blob.
    pub(crate) async fn close_upload(
        &self,
        endpoint: &Endpoint,
        scope: &Scope,
        mut location: Url,
        repository: &Reference,
        descriptor: &Descriptor,
        body: Body,
    ) -> Result<()> {
        let length = match &body {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Stream(_) => descriptor.size,
        };
        location
            .query_pairs_mut()
            .append_pair("digest", &descriptor.digest.to_string());
        let mut call = Call::new(Method::PUT, location, scope);
        call.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        call.headers
            .insert(CONTENT_LENGTH, HeaderValue::from(length));
        call.body = match body {
            Body::Empty => Body::Bytes(Bytes::new()),
            other => other,
        };
        self.send_upload(endpoint, call, repository, &descriptor.digest)
            .await?;
        Ok(())
    }

    /// Sends one request of an upload session; an unsuccessful answer becomes the error
    /// naming the blob and repository.
    pub(crate) async fn send_upload(
        &self,
        endpoint: &Endpoint,
        call: Call<'_>,
        repository: &Reference,
        digest: &Digest,
    ) -> Result<Response> {
        let what = call.what();
        let response = self.send(endpoint, call).await?;
        if !response.status().is_success() {
            return Err(error_from(
                response,
                &endpoint.display(),
                &what,
                Subject::Blob {
                    repository: repository.path(),
                    digest,
                },
            )
            .await);
        }
        Ok(response)
    }

    /// `POST /v2/<repository>/blobs/uploads/[?query]`: the status, the session URL and the
    /// smallest chunk the registry accepts.
    pub(crate) async fn start_upload(
        &self,
        endpoint: &Endpoint,
        repository: &Reference,
        scope: &Scope,
        query: Option<String>,
    ) -> Result<OpenedUpload> {
        let mut path = format!("{}/blobs/uploads/", repository.path());
        if let Some(q) = query {
            path = format!("{path}?{q}");
        }
        let url = self.url(endpoint, &path).await?;
        let mut call = Call::new(Method::POST, url, scope);
        call.headers.insert(CONTENT_LENGTH, HeaderValue::from(0u64));
        call.body = Body::Bytes(Bytes::new());
        let what = call.what();
        let response = self.send(endpoint, call).await?;
        let status = response.status();
        if status != StatusCode::ACCEPTED && status != StatusCode::CREATED {
            return Err(error_from(
                response,
                &endpoint.display(),
                &what,
                Subject::Repository {
                    repository: repository.path(),
                },
            )
            .await);
        }
        let location = session_location(&response).ok_or_else(|| ClientError::InvalidResponse {
            registry: endpoint.display(),
            what: what.clone(),
            reason: "no valid `Location` for the upload".into(),
        })?;
        let min_chunk = response
            .headers()
            .get(OCI_CHUNK_MIN_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Ok(OpenedUpload {
            status,
            location,
            min_chunk,
        })
    }

    /// Asks the registry to link `digest` from `from` (another repository on the same
    /// registry) into `repository`, without transferring it.
    pub async fn mount_blob(
        &self,
        repository: &Reference,
        digest: &Digest,
        from: &Reference,
    ) -> Result<Mount> {
        if from.domain() != repository.domain() {
            return Ok(Mount::NotMounted);
        }
        let endpoint = Endpoint::origin(repository.domain(), &self.inner.config.insecure);
        let scope = Scope::push(repository.path()).and(Scope::pull(from.path()));
        let query = format!("mount={digest}&from={}", from.path());
        let opened = self
            .start_upload(&endpoint, repository, &scope, Some(query))
            .await?;
        if opened.status == StatusCode::CREATED {
            return Ok(Mount::Mounted);
        }
        // The registry opened an ordinary upload instead; close it again.
        let call = Call::new(Method::DELETE, opened.location, &scope);
        if let Err(e) = self.send(&endpoint, call).await {
            tracing::debug!(error = %e, "cancelling an unused upload failed");
        }
        Ok(Mount::NotMounted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, 199, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, 9, None)));
        assert_eq!(parse_content_range("bytes */200"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(parse_content_range(""), None);
    }
}
