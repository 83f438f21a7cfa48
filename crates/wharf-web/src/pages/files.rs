//! `/r/NAME/-/image/DIGEST/files?path=DIR[&layer=N]`: a directory of the image's merged
//! filesystem, or of one layer as its tar holds it (whiteouts and opaque markers shown);
//! `.../file?path=FILE[&layer=N][&raw=1]`: a file's first bytes as text, or all of them as
//! a download, streamed from its layer (checked against the layer's digest to the end: a
//! layer that fails its digest cuts the download short, so a client never takes it whole).

use std::io::{self, Write};
use std::sync::Arc;
use std::task::Poll;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use maud::{html, Markup};
use tokio::sync::mpsc;
use wharf_image::analysis::{FileEntry, ImageTree};
use wharf_registry::gate::Access;
use wharf_registry::service::ManifestRef;
use wharf_spec::media_type::{self, Kind};
use wharf_spec::{Descriptor, Manifest, RawManifest};

use super::{digest, failed, readable};
use crate::cache::run_local;
use crate::paths::{self, FileQuery};
use crate::render::{self, short, size, Viewer};
use crate::source::StoredImage;
use crate::Web;

/// A file's page shows at most this much of it.
const PREVIEW: usize = 256 << 10;
/// Bytes per chunk of a download.
const CHUNK: usize = 64 << 10;

/// What the file pages need: the image read, and where to stream a layer from again.
struct Opened {
    tree: Arc<ImageTree>,
    source: StoredImage,
    digest: String,
    query: FileQuery,
}

async fn open(
    web: &Web,
    access: &Access<'_>,
    viewer: &Viewer,
    name: &str,
    digest_text: &str,
    query: &str,
) -> Result<Opened, Response> {
    readable(access, viewer, name)?;
    let digest = digest(viewer, digest_text)?;
    let stored = web
        .registry
        .manifest(name, &ManifestRef::Digest(digest.clone()))
        .await
        .map_err(|e| failed(viewer, e))?;
    let size = stored.content.len() as u64;
    let is_image = RawManifest::parse(stored.content, Some(&stored.media_type))
        .is_ok_and(|raw| matches!(raw.manifest(), Manifest::Image(m) if media_type::kind(&m.config.media_type) == Kind::Config));
    if !is_image {
        return Err(render::problem(
            viewer,
            StatusCode::NOT_FOUND,
            "No files",
            "This manifest is not an image of one platform: open one of its platforms.",
        ));
    }
    let source = || StoredImage {
        registry: web.registry.clone(),
        repository: name.to_string(),
        top: Descriptor::new(stored.media_type.clone(), digest.clone(), size),
    };
    let tree = web.trees.get(source()).await.map_err(|e| {
        render::problem(
            viewer,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The layers could not be read",
            &e,
        )
    })?;
    let query: FileQuery = serde_urlencoded::from_str(query).unwrap_or_default();
    Ok(Opened {
        tree,
        source: source(),
        digest: digest.to_string(),
        query,
    })
}

/// `.../files`: one directory.
pub async fn listing(
    web: &Web,
    access: &Access<'_>,
    viewer: &Viewer,
    name: &str,
    digest_text: &str,
    query: &str,
) -> Response {
    let opened = match open(web, access, viewer, name, digest_text, query).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let layer = opened.query.layer;
    let dir = opened.query.path.clone().unwrap_or_else(|| "/".into());
    let children = match opened.tree.children(&dir, layer) {
        Ok(children) => children,
        Err(e) => {
            return render::problem(viewer, StatusCode::NOT_FOUND, "Not found", &e.to_string())
        }
    };
    let digest = &opened.digest;
    let layers = opened.tree.analysis().layers.len();
    let body = html! {
        h1 #directory { (display_dir(&dir)) }
        p.muted #scope {
            @match layer {
                None => { "The merged filesystem (what a container sees). " }
                Some(n) => { "Layer " (n) " alone, as its tar holds it. " }
            }
        }
        p #layers-nav {
            @if layer.is_some() { a href=(paths::files(name, digest, None, &dir)) { "merged" } } @else { b { "merged" } }
            @for n in 0..layers {
                " · "
                @if layer == Some(n) { b { "layer " (n) } } @else { a href=(paths::files(name, digest, Some(n), "/")) { "layer " (n) } }
            }
        }
        (path_crumbs(name, digest, layer, &dir))
        @if children.is_empty() {
            div.notice #empty { "Empty directory." }
        } @else {
            table #files {
                thead { tr { th { "Name" } th { "Mode" } th { "Owner" } th.num { "Size" } th { "Modified" } } }
                tbody { @for child in &children { (file_row(name, digest, layer, child)) } }
            }
        }
    };
    let crumbs = html! {
        a href="/" { "Repositories" } " / " a href=(paths::repository(name)) { (name) } " / "
        a href=(paths::image(name, digest)) { (short(digest)) } " / files"
    };
    render::ok(render::page(viewer, &display_dir(&dir), crumbs, body))
}

fn display_dir(dir: &str) -> String {
    format!("/{}", dir.trim_matches('/'))
}

/// `/ usr / lib /`, each part a link to its directory.
fn path_crumbs(name: &str, digest: &str, layer: Option<usize>, dir: &str) -> Markup {
    let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    html! {
        p.mono #path {
            a href=(paths::files(name, digest, layer, "/")) { "/" }
            @for (i, part) in parts.iter().enumerate() {
                a href=(paths::files(name, digest, layer, &format!("/{}", parts[..=i].join("/")))) { (part) }
                "/"
            }
        }
    }
}

fn file_row(name: &str, digest: &str, layer: Option<usize>, entry: &FileEntry) -> Markup {
    let base = entry.path.rsplit('/').next().unwrap_or(&entry.path);
    html! {
        tr.entry {
            td.mono {
                @match entry.kind {
                    "dir" => a.dir href=(paths::files(name, digest, layer, &entry.path)) { (base) "/" },
                    "file" | "hardlink" => a.file href=(paths::file(name, digest, layer, &entry.path, false)) { (base) },
                    // In the merged filesystem a symlink is followed as a container would.
                    "symlink" if layer.is_none() => a.file href=(paths::file(name, digest, layer, &entry.path, false)) { (base) },
                    "whiteout" => span.bad title="removed by this layer" { (base) " (removed)" },
                    "opaque" => span.bad title="hides what lower layers hold in this directory" { (base) " (opaque directory)" },
                    _ => span { (base) },
                }
                @if let Some(link) = &entry.link { span.muted { " → " (link) } }
            }
            td.mono { (mode(entry)) }
            td.mono { (entry.uid) ":" (entry.gid) }
            td.num { @if entry.kind == "file" { (size(entry.size)) } }
            td { @if entry.mtime > 0 { (render::time(entry.mtime as i64)) } }
        }
    }
}

/// `drwxr-xr-x`, as `ls -l` shows it.
fn mode(entry: &FileEntry) -> String {
    let kind = match entry.kind {
        "dir" => 'd',
        "symlink" => 'l',
        "file" | "hardlink" => '-',
        _ => '?',
    };
    let mut text = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = (entry.mode >> shift) & 7;
        text.push(if bits & 4 != 0 { 'r' } else { '-' });
        text.push(if bits & 2 != 0 { 'w' } else { '-' });
        text.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    text
}

/// `.../file`: the file's page, or with `raw=1` its bytes.
pub async fn content(
    web: &Web,
    access: &Access<'_>,
    viewer: &Viewer,
    name: &str,
    digest_text: &str,
    query: &str,
) -> Response {
    let opened = match open(web, access, viewer, name, digest_text, query).await {
        Ok(opened) => opened,
        Err(response) => return response,
    };
    let layer = opened.query.layer;
    let path = opened.query.path.clone().unwrap_or_default();
    let file = match opened.tree.file(&path, layer) {
        Ok(file) => file,
        Err(e) => {
            return render::problem(viewer, StatusCode::NOT_FOUND, "Not found", &e.to_string())
        }
    };
    if opened.query.raw == Some(1) {
        return download(opened, path, file);
    }
    let (tree, source) = (opened.tree.clone(), opened.source);
    let (wanted, at) = (path.clone(), layer);
    let preview = run_local(move || async move {
        tree.cat(&source, &wanted, at, Preview::default())
            .await
            .map(|(preview, _)| preview.bytes)
    })
    .await;
    let digest = &opened.digest;
    let shown = match &preview {
        Ok(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => Ok(Some(text.to_string())),
            // A cut in the middle of a character is still text.
            Err(e) if e.error_len().is_none() && bytes.len() == PREVIEW => Ok(Some(
                String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
            )),
            _ => Ok(None),
        },
        Err(e) => Err(e.clone()),
    };
    let body = html! {
        h1 #file { (file.path) }
        p.muted {
            (size(file.size)) " · " code { (mode(&file)) } " · " (file.uid) ":" (file.gid)
            @if let Some(n) = layer { " · layer " (n) }
            " · " a #download href=(paths::file(name, digest, layer, &path, true)) { "Download" }
        }
        @match shown {
            Ok(Some(text)) => {
                @if file.size as usize > PREVIEW { p.muted { "The first " (size(PREVIEW as u64)) " of " (size(file.size)) "." } }
                pre #content { (text) }
            },
            Ok(None) => div.notice #binary { "A binary file: download it to see it." },
            Err(e) => div.notice.error #problem { "The file could not be read: " (e) },
        }
    };
    let parent = path
        .rsplit_once('/')
        .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
    let crumbs = html! {
        a href="/" { "Repositories" } " / " a href=(paths::repository(name)) { (name) } " / "
        a href=(paths::image(name, digest)) { (short(digest)) } " / "
        a href=(paths::files(name, digest, layer, parent)) { "files" }
    };
    render::ok(render::page(viewer, &file.path, crumbs, body))
}

/// The file's bytes, streamed as the layer is read again.
fn download(opened: Opened, path: String, file: FileEntry) -> Response {
    let (sender, mut receiver) = mpsc::channel::<io::Result<Bytes>>(4);
    let failed = sender.clone();
    let (tree, source, layer) = (opened.tree, opened.source, opened.query.layer);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let out = Chunked {
            sender,
            buffer: Vec::with_capacity(CHUNK),
        };
        let sent = match handle.block_on(tree.cat(&source, &path, layer, out)) {
            Ok((out, _)) => out.finish().map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            tracing::warn!("download of `{path}` failed: {e}");
            let _ = failed.blocking_send(Err(io::Error::other(e)));
        }
    });
    let mut failure: Option<io::Error> = None;
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| {
        if let Some(e) = failure.take() {
            return Poll::Ready(Some(Err(e)));
        }
        match receiver.poll_recv(cx) {
            // The bytes sent so far (and the response head) reach the client first: the
            // server flushes what it holds when the body is pending, and drops it when the
            // body fails. A failed download is then short of its `Content-Length`, not a
            // connection closed with no answer at all.
            Poll::Ready(Some(Err(e))) => {
                failure = Some(e);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            other => other,
        }
    }));
    let base = file.path.rsplit('/').next().unwrap_or("file");
    // Only plain characters in the header's quoted name; the rest become `_`.
    let safe: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    response
}

/// A file's first [`PREVIEW`] bytes; the rest is read (for the layer's digest) and dropped.
#[derive(Default)]
struct Preview {
    bytes: Vec<u8>,
}

impl Write for Preview {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = PREVIEW.saturating_sub(self.bytes.len());
        self.bytes.extend_from_slice(&buf[..room.min(buf.len())]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Bytes sent on to a response body in chunks; a client gone stops the reading. The last
/// bytes are held back until the layer has passed its digest ([`Chunked::finish`]): a
/// layer that fails leaves the download short of its `Content-Length`, which every client
/// takes as a failed download.
struct Chunked {
    sender: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
}

impl Chunked {
    fn send(&mut self, len: usize) -> io::Result<()> {
        let rest = self.buffer.split_off(len);
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, rest));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }

    /// Sends what was held back: the layer passed its digest.
    fn finish(mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let len = self.buffer.len();
        self.send(len)
    }
}

impl Write for Chunked {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        // Strictly more than a chunk: at least one byte always stays for `finish`.
        while self.buffer.len() > CHUNK {
            self.send(CHUNK)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
