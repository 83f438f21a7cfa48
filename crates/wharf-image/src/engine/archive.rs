//! An OCI archive (`oci-archive:PATH[:REF]`) as a source and as a sink.
//!
//! - Source: a plain (uncompressed) tar is indexed once — where each member's bytes
//!   start — and then read like a layout directory, any blob at any offset, without
//!   copying the archive anywhere. A compressed archive cannot be read at an offset, and
//!   one whose members link to each other is read as `wharf load` reads it: those go
//!   through a staging store ([`crate::copy`]).
//! - Sink: the layout written as one tar, straight from the source's streams. Members
//!   come in the order `wharf save` writes them (`oci-layout`, every blob, `index.json`,
//!   then Docker ≥ 25's `manifest.json`), so the result reads the same to `docker load`,
//!   skopeo and `wharf load`. Each blob is hashed as it is written; the archive is a
//!   temporary file beside `PATH` until the last member is in, so a mismatch or a failure
//!   leaves no archive behind.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc;
use wharf_fs::{AtomicFile, Durability};
use wharf_spec::descriptor::{ANNOTATION_CONTAINERD_IMAGE_NAME, ANNOTATION_REF_NAME};
use wharf_spec::{
    Algorithm, Descriptor, Digest, Digester, ImageIndex, Manifest, Platform, Reference,
};

use wharf_client::UploadSource;
use wharf_spec::MAX_MANIFEST_SIZE;

use super::layout::{choose_entry, layout_graph};
use super::{ImageSink, ImageSource, Select};
use crate::error::{ImageError, Result};
use crate::ingest::{self, Mismatch, Origin};
use crate::load::layout::{check_layout_file, check_size, parse_index};
use crate::load::members::normalize;
use crate::load::oci_dir::open_nofollow;
use crate::push::store_source::file_stream;
use crate::push::{BlobSource, Graph, PushEvent, Sent};
use crate::save::{append_bytes, append_stream, ArchiveItem};

/// Chunks queued between the source's stream and the tar writer.
const CHANNEL_CHUNKS: usize = 2;

/// An OCI archive at `path`, naming its image `name` when given.
pub struct OciArchiveSink {
    pub path: PathBuf,
    pub name: Option<Reference>,
    /// The platform `manifest.json` lists when the archive holds a whole index.
    pub select: Select,
}

/// What the stream side hands the tar writer, blob after blob.
enum Message {
    Chunk(Bytes),
    Failed(io::Error),
    End,
}

impl ImageSink for OciArchiveSink {
    /// An archive is written whole every time: it names nothing worth comparing.
    fn current(&self) -> LocalBoxFuture<'_, Result<Option<Digest>>> {
        async { Ok(None) }.boxed_local()
    }

    fn put<'a>(
        &'a self,
        graph: &'a Graph,
        source: &'a dyn BlobSource,
        _events: &'a dyn Fn(PushEvent),
    ) -> LocalBoxFuture<'a, Result<Sent>> {
        async move {
            let (tx, rx) = mpsc::channel::<Message>(CHANNEL_CHUNKS);
            let blobs: Vec<(Descriptor, Origin)> = graph
                .blobs
                .iter()
                .map(|b| (b.clone(), source.origin(&b.digest)))
                .collect();
            let documents = Documents::of(graph, self.name.as_ref(), &self.select);
            let path = self.path.clone();
            let writer =
                tokio::task::spawn_blocking(move || write_archive(&path, &blobs, documents, rx));
            // The writer reads each blob's chunks up to its `End`; it hangs up on failure.
            'blobs: for blob in &graph.blobs {
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
            drop(tx);
            writer
                .await
                .map_err(ImageError::internal("archive writer"))??;
            Ok(Sent {
                uploaded: graph.blobs.iter().map(|b| b.digest.clone()).collect(),
                bytes_uploaded: graph.blobs.iter().map(|b| b.size).sum(),
                ..Sent::default()
            })
        }
        .boxed_local()
    }
}

/// The archive's own documents, built before any blob is written.
struct Documents {
    manifests: Vec<(Descriptor, Vec<u8>)>,
    index: Vec<u8>,
    docker_manifest: Vec<u8>,
}

impl Documents {
    fn of(graph: &Graph, name: Option<&Reference>, select: &Select) -> Documents {
        let top = graph.top();
        let mut entry = top.clone();
        entry.annotations = None;
        if let Some(name) = name {
            entry.set_annotation(ANNOTATION_CONTAINERD_IMAGE_NAME, name.to_string());
            entry.set_annotation(ANNOTATION_REF_NAME, name.tag().unwrap_or("latest"));
        }
        let mut index = ImageIndex::empty();
        index.manifests.push(entry);
        // Docker before 25 reads only `manifest.json`: the image of one platform.
        let blob = |d: &Digest| format!("blobs/{}/{}", d.algorithm(), d.hex());
        let image = docker_image(graph, select);
        let items: Vec<ArchiveItem> = image
            .map(|m| ArchiveItem {
                config: blob(&m.config.digest),
                repo_tags: name.map(|n| vec![n.familiar()]),
                layers: m.layers.iter().map(|l| blob(&l.digest)).collect(),
            })
            .into_iter()
            .collect();
        Documents {
            manifests: graph
                .manifests
                .iter()
                .map(|(d, raw)| (d.clone(), raw.bytes().to_vec()))
                .collect(),
            index: serde_json::to_vec(&index).expect("an index serializes"),
            docker_manifest: serde_json::to_vec(&items).expect("json"),
        }
    }
}

/// The image manifest `manifest.json` describes: the top one, or in an index the one for
/// the selected platform (the host's by default).
fn docker_image(graph: &Graph, select: &Select) -> Option<wharf_spec::ImageManifest> {
    let image_of = |digest: &Digest| {
        graph
            .manifests
            .iter()
            .find_map(|(d, raw)| match raw.manifest() {
                Manifest::Image(m) if d.digest == *digest => Some(m.clone()),
                _ => None,
            })
    };
    match graph.manifests.last()?.1.manifest() {
        Manifest::Image(m) => Some(m.clone()),
        Manifest::Index(index) => {
            let wanted = select.platform.clone().unwrap_or_else(Platform::host);
            let chosen = wharf_client::select_platform(index, &wanted)?;
            image_of(&chosen.digest)
        }
    }
}

fn write_archive(
    path: &std::path::Path,
    blobs: &[(Descriptor, Origin)],
    documents: Documents,
    mut rx: mpsc::Receiver<Message>,
) -> Result<()> {
    let file = AtomicFile::create(path)?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    for (blob, origin) in blobs {
        let member = format!("blobs/{}/{}", blob.digest.algorithm(), blob.digest.hex());
        let mut chunks = Chunks::new(&mut rx, blob.digest.algorithm());
        let written = append_stream(&mut tar, &member, blob.size, &mut chunks);
        let failed = chunks.failed;
        // Whatever the stream sent past the descriptor's size counts too.
        let (actual, count) = chunks.finish()?;
        let mismatch = if failed {
            // The stream's own error (a broken connection, a read failure) failed the
            // member; its bytes past that point cannot be judged.
            written?;
            return Err(ImageError::TruncatedBlob {
                digest: blob.digest.clone(),
                origin: origin.clone(),
                got: count,
                want: blob.size,
            });
        } else if count != blob.size {
            Some(Mismatch::Size {
                expected: blob.size,
                actual: count,
            })
        } else {
            written?;
            (actual != blob.digest).then_some(Mismatch::Digest { actual })
        };
        if let Some(mismatch) = mismatch {
            return Err(ImageError::CorruptBlob {
                digest: blob.digest.clone(),
                origin: origin.clone(),
                mismatch,
            });
        }
    }
    for (descriptor, bytes) in &documents.manifests {
        let member = format!(
            "blobs/{}/{}",
            descriptor.digest.algorithm(),
            descriptor.digest.hex()
        );
        append_bytes(&mut tar, &member, bytes)?;
    }
    append_bytes(&mut tar, "index.json", &documents.index)?;
    append_bytes(&mut tar, "manifest.json", &documents.docker_manifest)?;
    let failed = |e: io::Error| ImageError::Io {
        context: format!("write `{}`", path.display()),
        source: e,
    };
    let mut out = tar.into_inner().map_err(failed)?;
    out.flush().map_err(failed)?;
    let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
    file.commit(Durability::Durable)?;
    Ok(())
}

/// One blob's bytes as the stream side sends them, hashed as they are read.
struct Chunks<'a> {
    rx: &'a mut mpsc::Receiver<Message>,
    current: Bytes,
    digester: Digester,
    count: u64,
    ended: bool,
    failed: bool,
}

impl<'a> Chunks<'a> {
    fn new(rx: &'a mut mpsc::Receiver<Message>, algorithm: Algorithm) -> Chunks<'a> {
        Chunks {
            rx,
            current: Bytes::new(),
            digester: Digester::new(algorithm),
            count: 0,
            ended: false,
            failed: false,
        }
    }

    /// Reads the rest of the blob (bytes past what the tar member took still count, so a
    /// longer blob is a size mismatch); returns its digest and size.
    fn finish(mut self) -> Result<(Digest, u64)> {
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
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
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

/// The image `reference` names in a plain OCI archive, read in place.
pub struct OciArchiveSource {
    pub path: PathBuf,
    pub reference: Option<String>,
    /// Regular members: where their bytes start in the file, and how many there are.
    members: BTreeMap<String, (u64, u64)>,
}

impl OciArchiveSource {
    /// Indexes the archive; `None` when it is compressed or has links (stage it instead).
    /// Blocking file work: call it off the async runtime.
    pub fn open(path: &Path, reference: Option<String>) -> Result<Option<OciArchiveSource>> {
        let cannot = |e: io::Error| ImageError::Io {
            context: format!("read `{}`", path.display()),
            source: e,
        };
        let mut file = open_nofollow(path).map_err(cannot)?;
        let mut magic = [0u8; 4];
        let n = file.read(&mut magic).map_err(cannot)?;
        let compression = wharf_layer::detect(&mut &magic[..n]).map_err(cannot)?;
        if compression != wharf_layer::Compression::None {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(0)).map_err(cannot)?;
        let broken = |e: io::Error| {
            ImageError::archive(path, format!("archive is truncated or corrupt: {e}"))
        };
        let mut archive = tar::Archive::new(io::BufReader::new(file));
        let mut members = BTreeMap::new();
        // Headers only: each member's data is skipped by seeking, so indexing reads a few
        // blocks per member, not the archive; the blobs are read once, when copied.
        for entry in archive.entries_with_seek().map_err(broken)? {
            let entry = entry.map_err(broken)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = normalize(&raw) else {
                return Ok(None); // `wharf load`'s reader names the unsafe path.
            };
            let kind = entry.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                return Ok(None);
            }
            if kind.is_file() || kind == tar::EntryType::Continuous {
                members.insert(name, (entry.raw_file_position(), entry.size()));
            }
        }
        Ok(Some(OciArchiveSource {
            path: path.to_path_buf(),
            reference,
            members,
        }))
    }

    fn member_of(digest: &Digest) -> String {
        format!("blobs/{}/{}", digest.algorithm().name(), digest.hex())
    }

    /// A member read whole, capped.
    fn read_member(&self, name: &str) -> Result<Vec<u8>> {
        let &(offset, size) = self.members.get(name).ok_or_else(|| {
            ImageError::archive(&self.path, format!("`{name}` is missing from the archive"))
        })?;
        if size > MAX_MANIFEST_SIZE {
            return Err(ImageError::archive(
                &self.path,
                format!("`{name}` is over the {MAX_MANIFEST_SIZE}-byte limit"),
            ));
        }
        let failed =
            |e: io::Error| ImageError::archive(&self.path, format!("cannot read `{name}`: {e}"));
        let mut file = open_nofollow(&self.path).map_err(failed)?;
        file.seek(SeekFrom::Start(offset)).map_err(failed)?;
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(size).read_to_end(&mut bytes).map_err(failed)?;
        if bytes.len() as u64 != size {
            return Err(ImageError::archive(
                &self.path,
                format!("`{name}` is truncated"),
            ));
        }
        Ok(bytes)
    }

    fn read_small(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let name = Self::member_of(&descriptor.digest);
        let bytes = self.read_member(&name)?;
        check_size(descriptor, bytes.len() as u64)?;
        ingest::check_bytes(&bytes, &descriptor.digest, &self.origin(&descriptor.digest))?;
        Ok(bytes)
    }
}

impl BlobSource for OciArchiveSource {
    fn blob(&self, descriptor: &Descriptor) -> Box<dyn UploadSource + '_> {
        Box::new(ArchiveBlob {
            path: self.path.clone(),
            span: self
                .members
                .get(&Self::member_of(&descriptor.digest))
                .copied()
                .unwrap_or((0, 0)),
        })
    }

    fn origin(&self, digest: &Digest) -> Origin {
        Origin::Member {
            archive: self.path.clone(),
            name: Self::member_of(digest),
        }
    }
}

struct ArchiveBlob {
    path: PathBuf,
    /// Where the member's bytes start, and how many there are.
    span: (u64, u64),
}

impl UploadSource for ArchiveBlob {
    fn open(&self, offset: u64) -> wharf_client::OpenFuture<'_> {
        let (start, len) = self.span;
        let path = self.path.clone();
        file_stream(start + offset.min(len), len - offset.min(len), move || {
            open_nofollow(&path)
        })
    }
}

impl ImageSource for OciArchiveSource {
    fn graph<'a>(&'a self, select: &'a Select) -> LocalBoxFuture<'a, Result<Graph>> {
        async move {
            let layout_file = self.read_member("oci-layout").map_err(|_| {
                ImageError::archive(&self.path, "not an OCI archive: `oci-layout` is missing")
            })?;
            check_layout_file(&self.path, &layout_file)?;
            let index = parse_index(&self.path, &self.read_member("index.json")?)?;
            let entry = choose_entry(&self.path, &index, self.reference.as_deref())?;
            let check_blob =
                |blob: &Descriptor| match self.members.get(&Self::member_of(&blob.digest)) {
                    Some(&(_, size)) => check_size(blob, size),
                    None => Err(ImageError::archive(
                        &self.path,
                        format!("blob `{}` is missing from the archive", blob.digest),
                    )),
                };
            layout_graph(entry, select, |d| self.read_small(d), check_blob).await
        }
        .boxed_local()
    }
}
