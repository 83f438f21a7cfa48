//! HTTP: the OCI Distribution endpoints. Parses paths, queries and headers, calls the
//! services, and renders their results with the spec's status codes and headers.
//!
//! Repository names hold `/`, so `/v2/<name>/...` cannot be matched by a router pattern;
//! [`Route::parse`] reads the path from its end, where the fixed parts are.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Extension;
use axum::Router;
use futures_util::{StreamExt, TryStreamExt};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;
use wharf_spec::media_type::Kind;
use wharf_spec::{Digest, MAX_MANIFEST_SIZE};

use crate::auth::Action;
use crate::error::{Code, Error, Result};
use crate::gate::{token_endpoint, Access, Gate};
use crate::metrics::{track, Metrics};
use crate::service::{check_name, parse_digest, range_header, ManifestRef, Registry};
use crate::storage::ByteStream;

const API_VERSION: &str = "docker-distribution-api-version";
const CONTENT_DIGEST: &str = "docker-content-digest";
const UPLOAD_UUID: &str = "docker-upload-uuid";
const OCI_SUBJECT: &str = "oci-subject";
const OCI_TAG: &str = "oci-tag";
const OCI_FILTERS_APPLIED: &str = "oci-filters-applied";
const OCI_CHUNK_MIN_LENGTH: &str = "oci-chunk-min-length";
/// Advertised on upload sessions. Smaller chunks are accepted too; this only tells clients
/// that chunks this large cost one request per MiB rather than many.
const CHUNK_MIN_LENGTH: u64 = 1 << 20;
/// Upper bound for `n` on listings: one page is one response held in memory.
const MAX_PAGE: u32 = 10_000;

/// The registry's HTTP application without auth: `/v2/...`, `/healthz`, `/metrics`.
pub fn router(registry: Arc<Registry>) -> Router {
    router_with(registry, Gate::open())
}

/// The registry's HTTP application behind `gate` (auth), with its token endpoint.
pub fn router_with(registry: Arc<Registry>, gate: Gate) -> Router {
    routers(registry, gate, false, None).0
}

/// The registry's HTTP application behind `gate`, and, with `metrics_apart`, `/metrics` as
/// an application of its own (for its own listener, `metrics-addr`) instead of a route of
/// the first. On the registry's own listener `/metrics` answers only identified callers
/// when auth is on: it is not for anonymous eyes. `pages` adds the web pages.
pub fn routers(
    registry: Arc<Registry>,
    gate: Gate,
    metrics_apart: bool,
    pages: Option<&crate::Pages>,
) -> (Router, Option<Router>) {
    let gate = Arc::new(gate);
    let metrics = Arc::new(Metrics::default());
    let tokens = Router::new()
        .route("/token", get(token_endpoint).post(token_endpoint))
        .with_state(gate.clone());
    let exposition = Router::new()
        .route("/metrics", get(crate::metrics::endpoint))
        .with_state((metrics.clone(), registry.clone()));
    let mut app = Router::new()
        .route("/v2/", get(base))
        .route("/v2", get(base))
        .route("/v2/{*path}", any(dispatch))
        .route("/healthz", get(health))
        .layer(Extension(gate.clone()))
        .with_state(registry.clone())
        .merge(tokens);
    if let Some(pages) = pages {
        app = app.merge(pages(registry, gate.clone()));
    }
    let apart = if metrics_apart {
        Some(exposition.layer(axum::middleware::map_response(no_sniff)))
    } else {
        app = app.merge(exposition.route_layer(axum::middleware::from_fn_with_state(
            gate,
            crate::metrics::identified,
        )));
        None
    };
    let app = app
        .layer(axum::middleware::map_response(api_version))
        .layer(axum::middleware::map_response(no_sniff))
        .layer(axum::middleware::from_fn_with_state(metrics, track));
    (app, apart)
}

/// `app` with an access log: one span per request and a line per response (tracing, at
/// INFO), in the format `wharf serve --log-format` chooses.
pub fn with_access_log(app: Router) -> Router {
    app.layer(
        TraceLayer::new_for_http()
            .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
            // Microseconds: most answers take less than a millisecond.
            .on_response(
                DefaultOnResponse::new()
                    .level(Level::INFO)
                    .latency_unit(tower_http::LatencyUnit::Micros),
            ),
    )
}

async fn api_version(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    response
}

/// Every answer is to be read as the type it declares, never sniffed: a browser that
/// guessed HTML in a blob or a manifest would run it as a page of the registry's origin.
async fn no_sniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn base(Extension(gate): Extension<Arc<Gate>>, headers: HeaderMap) -> Response {
    let checked = match gate.caller(&headers).await {
        Ok(access) => gate.check_base(&access),
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        return e.into_response();
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        "{}",
    )
        .into_response()
}

async fn health(State(registry): State<Arc<Registry>>) -> Response {
    match registry.health().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => e
            .with_status(StatusCode::SERVICE_UNAVAILABLE)
            .into_response(),
    }
}

/// The metrics label of a request path: the kind of endpoint, never a repository name.
pub fn route_label(path: &str) -> &'static str {
    match path {
        "/v2" | "/v2/" => return "base",
        "/token" => return "token",
        "/healthz" => return "health",
        "/metrics" => return "metrics",
        p if !p.starts_with("/v2/") => return "page",
        _ => {}
    }
    match path.strip_prefix("/v2/").and_then(Route::parse) {
        Some(Route::Catalog) => "catalog",
        Some(Route::Tags(_)) => "tags",
        Some(Route::Manifest(..)) => "manifest",
        Some(Route::Blob(..)) => "blob",
        Some(Route::Uploads(_)) => "uploads",
        Some(Route::Upload(..)) => "upload",
        Some(Route::Referrers(..)) => "referrers",
        None => "other",
    }
}

/// An endpoint under `/v2/`, with the raw (not yet validated) name and reference.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Uploads(&'a str),
    Upload(&'a str, &'a str),
    Referrers(&'a str, &'a str),
}

impl<'a> Route<'a> {
    fn parse(path: &'a str) -> Option<Route<'a>> {
        if path == "_catalog" {
            return Some(Route::Catalog);
        }
        if let Some(name) = path.strip_suffix("/tags/list") {
            return Some(Route::Tags(name));
        }
        if let Some(name) = path
            .strip_suffix("/blobs/uploads/")
            .or_else(|| path.strip_suffix("/blobs/uploads"))
        {
            return Some(Route::Uploads(name));
        }
        let (head, last) = path.rsplit_once('/')?;
        let (name, kind) = head.rsplit_once('/')?;
        match kind {
            "manifests" => Some(Route::Manifest(name, last)),
            "blobs" => Some(Route::Blob(name, last)),
            "uploads" => Some(Route::Upload(name.strip_suffix("/blobs")?, last)),
            "referrers" => Some(Route::Referrers(name, last)),
            _ => None,
        }
    }

    fn name(&self) -> Option<&'a str> {
        match *self {
            Route::Catalog => None,
            Route::Tags(n)
            | Route::Manifest(n, _)
            | Route::Blob(n, _)
            | Route::Uploads(n)
            | Route::Upload(n, _)
            | Route::Referrers(n, _) => Some(n),
        }
    }

    /// What a caller must be allowed to do on the repository for `method` here.
    fn action(&self, method: &Method) -> Action {
        match (self, method) {
            (Route::Uploads(_) | Route::Upload(..), _) => Action::Push,
            (Route::Manifest(..), &Method::PUT) => Action::Push,
            (Route::Manifest(..) | Route::Blob(..), &Method::DELETE) => Action::Delete,
            _ => Action::Pull,
        }
    }
}

/// The parts of a request the endpoints read (the body travels separately: it is not `Sync`).
struct Request {
    method: Method,
    query: Vec<(String, String)>,
    headers: HeaderMap,
}

impl Request {
    /// The first value of a query parameter.
    fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable query parameter (`?tag=a&tag=b`).
    fn query_all(&self, key: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn byte_stream(body: Body) -> ByteStream {
    body.into_data_stream()
        .map_err(std::io::Error::other)
        .boxed()
}

async fn dispatch(
    State(registry): State<Arc<Registry>>,
    Extension(gate): Extension<Arc<Gate>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = uri.path().strip_prefix("/v2/").unwrap_or_default();
    let query = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let request = Request {
        method,
        query,
        headers,
    };
    match handle(&registry, &gate, path, request, body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(
    registry: &Registry,
    gate: &Gate,
    path: &str,
    request: Request,
    body: Body,
) -> Result<Response> {
    let Some(route) = Route::parse(path) else {
        return Err(
            Error::new(Code::Unsupported, format!("no endpoint at `/v2/{path}`"))
                .with_status(StatusCode::NOT_FOUND),
        );
    };
    if let Some(name) = route.name() {
        check_name(name)?;
    }
    // Authorization is decided before anything is looked up, from the rules alone: a caller
    // who may not read a repository gets the same answer whether it exists or not.
    let access = gate.caller(&request.headers).await?;
    match route.name() {
        Some(name) => gate.require(&access, name, route.action(&request.method))?,
        None => gate.require_catalog(&access)?,
    }
    let method = request.method.clone();
    match (route, method) {
        (Route::Catalog, Method::GET) => catalog(registry, &access, &request).await,
        (Route::Referrers(name, digest), Method::GET) => {
            referrers(registry, name, &parse_digest(digest)?, &request).await
        }
        (Route::Tags(name), Method::GET) => tags(registry, name, &request).await,
        (Route::Blob(name, digest), m @ (Method::GET | Method::HEAD)) => {
            get_blob(
                registry,
                name,
                &parse_digest(digest)?,
                &request,
                m == Method::HEAD,
            )
            .await
        }
        (Route::Blob(name, digest), Method::DELETE) => {
            registry.delete_blob(name, &parse_digest(digest)?).await?;
            Ok(empty(StatusCode::ACCEPTED))
        }
        (Route::Uploads(name), Method::POST) => {
            start_upload(registry, &access, name, &request, body).await
        }
        (Route::Upload(name, id), Method::GET) => {
            let status = registry.upload_status(name, id).await?;
            Ok(upload_response(
                StatusCode::NO_CONTENT,
                name,
                &status.id,
                status.received,
            ))
        }
        (Route::Upload(name, id), Method::PATCH) => {
            let range = chunk_range(&request.headers)?;
            let status = registry.append(name, id, range, byte_stream(body)).await?;
            Ok(upload_response(
                StatusCode::ACCEPTED,
                name,
                &status.id,
                status.received,
            ))
        }
        (Route::Upload(name, id), Method::PUT) => {
            let digest = request.query("digest").ok_or_else(|| {
                Error::new(Code::DigestInvalid, "completing an upload needs `?digest=`")
            })?;
            let digest = parse_digest(digest)?;
            let range = chunk_range(&request.headers)?;
            registry
                .finish(name, id, &digest, range, byte_stream(body))
                .await?;
            Ok(blob_created(name, &digest))
        }
        (Route::Upload(name, id), Method::DELETE) => {
            registry.cancel(name, id).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (Route::Manifest(name, reference), m @ (Method::GET | Method::HEAD)) => {
            let reference = ManifestRef::lookup(reference)?;
            let manifest = registry.manifest(name, &reference).await?;
            if matches!(reference, ManifestRef::Tag(_))
                && !accepts(&request.headers, &manifest.media_type)
            {
                // No conversion: the stored bytes are the only answer, and this client
                // said it cannot read them. (By digest the bytes are fixed: always served.)
                return Err(Error::new(
                    Code::ManifestUnknown,
                    format!(
                        "the manifest is stored as `{}`, which the request's `Accept` header excludes",
                        manifest.media_type
                    ),
                ));
            }
            let mut response = Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, served_type(&manifest.media_type))
                .header(header::CONTENT_LENGTH, manifest.content.len())
                .header(CONTENT_DIGEST, manifest.digest.to_string())
                .header(header::ETAG, format!("\"{}\"", manifest.digest));
            if let Some(subject) = &manifest.subject {
                response = response.header(OCI_SUBJECT, subject.to_string());
            }
            if m == Method::HEAD {
                return Ok(finish(response, Body::empty()));
            }
            Ok(finish(response, Body::from(manifest.content)))
        }
        (Route::Manifest(name, reference), Method::PUT) => {
            put_manifest(
                registry,
                name,
                &ManifestRef::parse(reference)?,
                &request,
                body,
            )
            .await
        }
        (Route::Manifest(name, reference), Method::DELETE) => {
            registry
                .delete_manifest(name, &ManifestRef::lookup(reference)?)
                .await?;
            Ok(empty(StatusCode::ACCEPTED))
        }
        (_, method) => Err(Error::new(
            Code::Unsupported,
            format!("`{method}` is not supported on `/v2/{path}`"),
        )),
    }
}

/// The `Content-Type` of a stored manifest: its type, unless it was stored before only
/// manifest types were accepted and is something else (`text/html`): such bytes are
/// served as opaque data, never as a page of the registry's origin.
fn served_type(media_type: &str) -> &str {
    match wharf_spec::media_type::kind(media_type) {
        Kind::Manifest | Kind::Index => media_type,
        _ => "application/octet-stream",
    }
}

async fn get_blob(
    registry: &Registry,
    name: &str,
    digest: &Digest,
    request: &Request,
    head: bool,
) -> Result<Response> {
    let size = registry.blob(name, digest).await?;
    let response = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::ACCEPT_RANGES, "bytes")
        .header(CONTENT_DIGEST, digest.to_string())
        .header(header::ETAG, format!("\"{digest}\""));
    if head {
        let response = response
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, size);
        return Ok(finish(response, Body::empty()));
    }
    let range = match request.headers.get(header::RANGE) {
        Some(value) => byte_range(value.to_str().unwrap_or_default(), size)?,
        None => None,
    };
    let (status, range, response) = match range {
        Some(r) => (
            StatusCode::PARTIAL_CONTENT,
            r.clone(),
            response.header(
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{size}", r.start, r.end - 1),
            ),
        ),
        None => (StatusCode::OK, 0..size, response),
    };
    let len = range.end - range.start;
    let stream = registry.read_blob(digest, range).await?;
    let response = response.status(status).header(header::CONTENT_LENGTH, len);
    Ok(finish(response, Body::from_stream(stream)))
}

/// A `Range: bytes=...` header against a blob of `size` bytes: `Ok(None)` to serve the whole
/// blob (no range, or one this server ignores as RFC 9110 allows: malformed or multiple),
/// an error for an unsatisfiable one.
fn byte_range(value: &str, size: u64) -> Result<Option<std::ops::Range<u64>>> {
    let unsatisfiable = || {
        Error::new(
            Code::RangeInvalid,
            format!("range `{value}` is outside the blob's {size} bytes"),
        )
        .with_header(header::CONTENT_RANGE, format!("bytes */{size}"))
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() {
        let Ok(suffix) = end.parse::<u64>() else {
            return Ok(None);
        };
        if suffix == 0 || size == 0 {
            return Err(unsatisfiable());
        }
        return Ok(Some(size.saturating_sub(suffix)..size));
    }
    let Ok(start) = start.parse::<u64>() else {
        return Ok(None);
    };
    let end = match end {
        "" => size.saturating_sub(1),
        end => match end.parse::<u64>() {
            Ok(end) if end >= start => end.min(size.saturating_sub(1)),
            _ => return Ok(None),
        },
    };
    if start >= size {
        return Err(unsatisfiable());
    }
    Ok(Some(start..end + 1))
}

/// The `Content-Range` of an upload chunk. One whose length disagrees with the request's
/// `Content-Length` is refused from the headers alone, before a byte of the body is read
/// (`SIZE_INVALID`, as distribution answers); a body without `Content-Length` is held to
/// the range as it streams (`Registry::append`).
fn chunk_range(headers: &HeaderMap) -> Result<Option<(u64, u64)>> {
    let range = content_range(headers)?;
    if let (Some((start, end)), Some(length)) = (range, content_length(headers)) {
        // `end < start` is out of order, answered 416 by the service before any read.
        let announced = end.checked_sub(start).map(|n| n.saturating_add(1));
        if announced.is_some_and(|announced| announced != length) {
            return Err(Error::new(
                Code::SizeInvalid,
                format!(
                    "`Content-Range: {start}-{end}` announces {} bytes but `Content-Length` is {length}: \
                     send the chunk's exact range; nothing was written",
                    announced.unwrap_or_default()
                ),
            ));
        }
    }
    Ok(range)
}

/// The request's `Content-Length`, when it has a valid one.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
}

/// `Content-Range: <start>-<end>` of a chunk (also accepted: a `bytes ` prefix, a `/total`).
fn content_range(headers: &HeaderMap) -> Result<Option<(u64, u64)>> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let invalid = || {
        Error::new(
            Code::BlobUploadInvalid,
            format!(
                "`Content-Range: {}` is not `<start>-<end>`",
                value.to_str().unwrap_or("?")
            ),
        )
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    let text = text.strip_prefix("bytes ").unwrap_or(text);
    let text = text.split_once('/').map_or(text, |(range, _)| range);
    let (start, end) = text.split_once('-').ok_or_else(invalid)?;
    let start = start.trim().parse().map_err(|_| invalid())?;
    let end = end.trim().parse().map_err(|_| invalid())?;
    Ok(Some((start, end)))
}

async fn start_upload(
    registry: &Registry,
    access: &Access<'_>,
    name: &str,
    request: &Request,
    body: Body,
) -> Result<Response> {
    if let Some(mount) = request.query("mount") {
        let digest = parse_digest(mount)?;
        // Only from repositories the caller may read; otherwise it is an ordinary upload,
        // so a mount can neither copy nor reveal a private blob.
        let readable = |repository: &str| access.can(repository, Action::Pull);
        if registry
            .mount(name, &digest, request.query("from"), &readable)
            .await?
        {
            return Ok(blob_created(name, &digest));
        }
        // Not mountable: the spec's fallback is an ordinary upload session.
    } else if let Some(digest) = request.query("digest") {
        let digest = parse_digest(digest)?;
        registry.put_blob(name, &digest, byte_stream(body)).await?;
        return Ok(blob_created(name, &digest));
    }
    let id = registry.start_upload(name).await?;
    Ok(upload_response(StatusCode::ACCEPTED, name, &id, 0))
}

async fn put_manifest(
    registry: &Registry,
    name: &str,
    reference: &ManifestRef,
    request: &Request,
    body: Body,
) -> Result<Response> {
    let too_large = || {
        Error::new(
            Code::SizeInvalid,
            format!("manifest is over the {MAX_MANIFEST_SIZE}-byte limit"),
        )
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    };
    let declared = content_length(&request.headers);
    if declared.is_some_and(|len| len > MAX_MANIFEST_SIZE) {
        return Err(too_large());
    }
    let content_type = request
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        // Media types are case-insensitive; parameters are ignored, as the spec says.
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut body = byte_stream(body);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            Error::new(
                Code::ManifestInvalid,
                format!("the request body broke off: {e}"),
            )
        })?;
        if (bytes.len() + chunk.len()) as u64 > MAX_MANIFEST_SIZE {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let tags = request.query_all("tag");
    let pushed = registry
        .put_manifest(name, reference, &tags, content_type.as_deref(), bytes)
        .await?;
    let mut response = Response::builder()
        .status(StatusCode::CREATED)
        .header(
            header::LOCATION,
            format!("/v2/{name}/manifests/{}", pushed.digest),
        )
        .header(CONTENT_DIGEST, pushed.digest.to_string())
        .header(header::CONTENT_LENGTH, 0);
    if let Some(subject) = &pushed.subject {
        response = response.header(OCI_SUBJECT, subject.to_string());
    }
    for tag in &pushed.extra_tags {
        response = response.header(OCI_TAG, tag);
    }
    Ok(finish(response, Body::empty()))
}

async fn tags(registry: &Registry, name: &str, request: &Request) -> Result<Response> {
    let n = page_size(request)?;
    let (tags, more) = registry.tags(name, n, request.query("last")).await?;
    let link = next_link(&format!("/v2/{name}/tags/list"), n, more, tags.last());
    let body = serde_json::json!({ "name": name, "tags": tags });
    Ok(json_page(body, link))
}

async fn catalog(registry: &Registry, access: &Access<'_>, request: &Request) -> Result<Response> {
    let n = page_size(request)?;
    let readable = |repository: &str| access.lists(repository);
    let (names, more) = registry
        .catalog(n, request.query("last"), &readable)
        .await?;
    let link = next_link("/v2/_catalog", n, more, names.last());
    Ok(json_page(
        serde_json::json!({ "repositories": names }),
        link,
    ))
}

/// `GET /v2/<name>/referrers/<digest>`: an index of the manifests whose `subject` is
/// `digest`, optionally only those of one `artifactType`. Never 404: no referrers (or no
/// such repository) is an empty index.
async fn referrers(
    registry: &Registry,
    name: &str,
    digest: &Digest,
    request: &Request,
) -> Result<Response> {
    let artifact_type = request.query("artifactType");
    let manifests = registry.referrers(name, digest, artifact_type).await?;
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": wharf_spec::media_type::OCI_INDEX,
        "manifests": manifests,
    });
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, wharf_spec::media_type::OCI_INDEX);
    if artifact_type.is_some() {
        response = response.header(OCI_FILTERS_APPLIED, "artifactType");
    }
    Ok(finish(response, Body::from(body.to_string())))
}

/// Whether the request's `Accept` headers admit `media_type`: no header, a wildcard, or the
/// type itself listed (parameters such as `q=` are ignored).
fn accepts(headers: &HeaderMap, media_type: &str) -> bool {
    let mut listed = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.split(';').next().unwrap_or_default().trim())
        .filter(|v| !v.is_empty())
        .peekable();
    if listed.peek().is_none() {
        return true;
    }
    listed.any(|v| v == "*/*" || v == "application/*" || v.eq_ignore_ascii_case(media_type))
}

fn page_size(request: &Request) -> Result<Option<u32>> {
    request
        .query("n")
        .map(|n| match n.parse::<u32>() {
            Ok(n) if n <= MAX_PAGE => Ok(n),
            _ => Err(Error::new(
                Code::PaginationNumberInvalid,
                format!("`n={n}` must be a whole number up to {MAX_PAGE}"),
            )),
        })
        .transpose()
}

fn next_link(path: &str, n: Option<u32>, more: bool, last: Option<&String>) -> Option<String> {
    let (n, last) = (n?, last?);
    more.then(|| format!("<{path}?n={n}&last={last}>; rel=\"next\""))
}

fn json_page(body: serde_json::Value, link: Option<String>) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(link) = link {
        response = response.header(header::LINK, link);
    }
    finish(response, Body::from(body.to_string()))
}

fn upload_response(status: StatusCode, name: &str, id: &str, received: u64) -> Response {
    let response = Response::builder()
        .status(status)
        .header(header::LOCATION, format!("/v2/{name}/blobs/uploads/{id}"))
        .header(header::RANGE, range_header(received))
        .header(UPLOAD_UUID, id)
        .header(OCI_CHUNK_MIN_LENGTH, CHUNK_MIN_LENGTH)
        .header(header::CONTENT_LENGTH, 0);
    finish(response, Body::empty())
}

fn blob_created(name: &str, digest: &Digest) -> Response {
    let response = Response::builder()
        .status(StatusCode::CREATED)
        .header(header::LOCATION, format!("/v2/{name}/blobs/{digest}"))
        .header(CONTENT_DIGEST, digest.to_string())
        .header(header::CONTENT_LENGTH, 0);
    finish(response, Body::empty())
}

fn empty(status: StatusCode) -> Response {
    finish(
        Response::builder()
            .status(status)
            .header(header::CONTENT_LENGTH, 0),
        Body::empty(),
    )
}

/// Every header value above is built from validated names, digests and numbers.
fn finish(builder: axum::http::response::Builder, body: Body) -> Response {
    builder
        .body(body)
        .unwrap_or_else(|e| Error::new(Code::Unknown, e.to_string()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_read_paths_from_the_end() {
        assert_eq!(Route::parse("_catalog"), Some(Route::Catalog));
        assert_eq!(Route::parse("a/b/tags/list"), Some(Route::Tags("a/b")));
        assert_eq!(
            Route::parse("a/manifests/b/manifests/latest"),
            Some(Route::Manifest("a/manifests/b", "latest"))
        );
        assert_eq!(Route::parse("x/blobs/uploads/"), Some(Route::Uploads("x")));
        assert_eq!(
            Route::parse("x/blobs/uploads/u1"),
            Some(Route::Upload("x", "u1"))
        );
        assert_eq!(
            Route::parse("x/blobs/uploads/y/blobs/sha256:1"),
            Some(Route::Blob("x/blobs/uploads/y", "sha256:1"))
        );
        assert_eq!(Route::parse("x"), None);
        assert_eq!(Route::parse("blobs/uploads/u"), None);
    }

    #[test]
    fn byte_ranges() {
        assert_eq!(byte_range("bytes=0-9", 100).unwrap(), Some(0..10));
        assert_eq!(byte_range("bytes=90-", 100).unwrap(), Some(90..100));
        assert_eq!(byte_range("bytes=-10", 100).unwrap(), Some(90..100));
        assert_eq!(byte_range("bytes=95-200", 100).unwrap(), Some(95..100));
        assert_eq!(byte_range("bytes=5-1", 100).unwrap(), None);
        assert_eq!(byte_range("items=0-1", 100).unwrap(), None);
        assert!(byte_range("bytes=100-", 100).is_err());
        assert!(byte_range("bytes=-0", 100).is_err());
    }
}
