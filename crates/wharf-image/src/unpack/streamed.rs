//! `wharf unpack docker://REF DIR` and `--no-store SOURCE DIR`: an image from a copy-engine
//! source (a registry, an OCI layout or archive, a docker-archive) written as a directory
//! in one pipeline per layer — download, verify, inflate, apply — each file written once,
//! straight into the staging directory beside DIR, which becomes DIR only when every
//! layer's digest and diff_id checked out; a failure leaves no DIR.
//!
//! With [`Keep`], the first layer's bytes are also written into the store's verifying
//! ingest as they pass (a tee), the layers above it are downloaded into the store ahead
//! and applied from there, a layer the store holds already is read from disk, and the
//! image is named in one commit before DIR appears: the pull and the unpack in one
//! download.

use std::io::{self, Read, Write};
use std::path::Path;

use futures_util::StreamExt;
use wharf_layer::apply::{self, Applier, ApplyOptions, Root, WhiteoutMode};
use wharf_spec::{Algorithm, Descriptor, Digest, Reference};
use wharf_store::{Ingest, StagedBlob, Store};

use super::{applied, Staging, UnpackReport};
use crate::engine::into_store::blob_into_store;
use crate::engine::stream::with_blob;
use crate::engine::{one_image, ImageSource, Select};
use crate::error::{ImageError, Result};
use crate::ingest::{self, Ingested, Started};
use crate::names;
use crate::snapshots::layer_error;
use crate::store_task::blocking;

/// Where a streamed unpack keeps the image: the store, under `name`.
pub struct Keep {
    pub store: Store,
    pub name: Reference,
}

/// Unpacks the image `source` names (one platform, chosen by `select`) into `dir` (new
/// or empty), keeping it in the store too with `keep`.
pub async fn unpack_streamed(
    source: &dyn ImageSource,
    select: &Select,
    dir: &Path,
    keep: Option<&Keep>,
) -> Result<UnpackReport> {
    let image = one_image(source, select).await?;
    // gc must not collect what this run stages before its commit.
    let _guard = match keep {
        Some(k) => Some(blocking(&k.store, |s| s.lock_shared()).await??),
        None => None,
    };
    let staging = Staging::beside(dir)?;
    let root = Root::open(&staging.path)
        .map_err(ImageError::io(format!("open `{}`", staging.path.display())))?;
    let mut applier = Applier::new(root, ApplyOptions::for_this_process(WhiteoutMode::Apply));
    let mut staged: Vec<StagedBlob> = Vec::new();
    let layers = &image.manifest.layers;
    let diff_ids = &image.config.rootfs.diff_ids;
    // Kept in the store, the layers above the first are downloaded into it ahead
    // ([`PREFETCH`] at once) while the ones below are applied, then applied from there.
    let (ahead, mut fetched) = tokio::sync::mpsc::unbounded_channel();
    let prefetch = async {
        let Some(k) = keep else { return };
        let mut fetches = futures_util::stream::iter(layers.iter().skip(1))
            .map(|layer| fetch_into_store(source, &k.store, layer))
            .buffered(PREFETCH);
        while let Some(result) = fetches.next().await {
            if ahead.send(result).is_err() {
                return; // the unpack failed: fetch no more
            }
        }
    };
    let apply_all = async {
        for (i, (layer, diff_id)) in layers.iter().zip(diff_ids).enumerate() {
            // What the store holds of the layer already, or the ingest to tee it into.
            let (ready, tee) = match keep {
                Some(_) if i > 0 => {
                    let fetched = fetched.recv().await.ok_or_else(|| {
                        ImageError::Invalid("the layer downloads stopped early".into())
                    })??;
                    (Some(fetched), None)
                }
                Some(k) => match start_whole(&k.store, layer).await? {
                    Started::Write(ingest) => (None, Some(ingest)),
                    Started::Staged(blob) => (Some(Ingested::Staged(blob)), None),
                    Started::Present(size) => (Some(Ingested::Present(size)), None),
                },
                None => (None, None),
            };
            applier = match (ready, keep) {
                // In the store (or staged there) already: read from disk, not downloaded.
                (Some(ingested), Some(k)) => {
                    let path = match &ingested {
                        Ingested::Staged(blob) => blob.path().to_path_buf(),
                        Ingested::Present(_) => k.store.blob_path(&layer.digest),
                    };
                    staged.extend(ingested.staged());
                    apply_file(applier, path, layer, diff_id).await?
                }
                _ => {
                    let (back, blob) = stream_layer(source, applier, layer, diff_id, tee).await?;
                    staged.extend(blob);
                    back
                }
            };
        }
        drop(fetched);
        Ok::<_, ImageError>(applier)
    };
    let (applied_all, ()) = futures_util::future::join(apply_all, prefetch).await;
    let applier = applied_all?;
    let warnings = tokio::task::spawn_blocking(move || applier.finish())
        .await
        .map_err(ImageError::internal("finishing the unpack"))?
        .map_err(applied)?;
    if let Some(k) = keep {
        let (config, manifest) = (image.config_bytes.clone(), image.raw.bytes().to_vec());
        let (top, name) = (image.top.clone(), k.name.clone());
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        blocking(&k.store, move |s| -> Result<()> {
            for bytes in [&config, &manifest] {
                staged.push(s.stage_bytes(bytes, Algorithm::Sha256)?);
            }
            s.commit(staged, |index| {
                names::set_name(index, &top, &name, Some(&now));
                Ok(())
            })?;
            Ok(())
        })
        .await??;
    }
    staging.commit()?;
    Ok(UnpackReport {
        id: image.manifest.config.digest.clone(),
        layers: layers.len(),
        extracted: layers.len(),
        reused: 0,
        warnings: warnings.iter().map(ToString::to_string).collect(),
    })
}

/// Layers downloaded into the store ahead of the one being applied, at most.
const PREFETCH: usize = 2;

/// Begins storing `layer` whole as it streams past: a partial an earlier run left is
/// written again from its start rather than trusted as a prefix (the whole blob passes
/// anyway). File work, on the blocking pool.
async fn start_whole(store: &Store, layer: &Descriptor) -> Result<Started> {
    let (digest, size) = (layer.digest.clone(), layer.size);
    blocking(store, move |s| {
        let started = ingest::start(s, &digest, size)?;
        if let Started::Write(mut ingest) = started {
            if ingest.offset() > 0 {
                ingest.restart()?;
            }
            return Ok(Started::Write(ingest));
        }
        Ok(started)
    })
    .await?
}

/// Streams `layer` from `source` into `applier` on its blocking thread (digest checked as
/// the bytes arrive, diff_id at the end), and into the store's ingest `tee` too, which
/// is then staged.
async fn stream_layer(
    source: &dyn ImageSource,
    mut applier: Applier,
    layer: &Descriptor,
    diff_id: &Digest,
    tee: Option<Ingest>,
) -> Result<(Applier, Option<StagedBlob>)> {
    let (digest, diff_id) = (layer.digest.clone(), diff_id.clone());
    // The applier (and the ingest) go to the layer's blocking thread and come back.
    let (applier, tee) = with_blob(source, layer, move |chunks| {
        let mut reader = Tee::new(chunks, tee);
        applier.begin_layer().map_err(applied)?;
        apply::apply_tar(&mut reader, &mut applier, Some(&diff_id))
            .map_err(|e| layer_error(&digest, e))?;
        // What follows the tar's end (gzip's trailer, padding) is the blob's too.
        io::copy(&mut reader, &mut io::sink())
            .map_err(ImageError::io(format!("reading layer `{digest}`")))?;
        Ok((applier, reader.ingest))
    })
    .await?;
    let Some(ingest) = tee else {
        return Ok((applier, None));
    };
    let (digest, size, origin) = (
        layer.digest.clone(),
        layer.size,
        source.origin(&layer.digest),
    );
    let blob =
        tokio::task::spawn_blocking(move || ingest::finish_written(ingest, &digest, size, &origin))
            .await
            .map_err(ImageError::internal("staging a layer"))??;
    Ok((applier, Some(blob)))
}

/// Downloads `layer` from `source` into the store's verifying ingest (resuming a partial
/// an earlier run left), unless the store has it or another run staged it.
async fn fetch_into_store(
    source: &dyn ImageSource,
    store: &Store,
    layer: &Descriptor,
) -> Result<Ingested> {
    Ok(blob_into_store(store, layer, source, &|_| {})
        .await?
        .ingested)
}

/// Applies the layer blob at `path` (verified when it was stored) into `applier` on a
/// blocking thread, its diff_id checked in the same pass.
async fn apply_file(
    mut applier: Applier,
    path: std::path::PathBuf,
    layer: &Descriptor,
    diff_id: &Digest,
) -> Result<Applier> {
    let (digest, diff_id) = (layer.digest.clone(), diff_id.clone());
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path)
            .map_err(ImageError::io(format!("open `{}`", path.display())))?;
        applier.begin_layer().map_err(applied)?;
        apply::apply_tar(
            io::BufReader::with_capacity(1 << 20, file),
            &mut applier,
            Some(&diff_id),
        )
        .map_err(|e| layer_error(&digest, e))?;
        Ok(applier)
    })
    .await
    .map_err(ImageError::internal("applying a layer"))?
}

/// A reader that copies what passes through it into the store's ingest.
struct Tee<R> {
    inner: R,
    ingest: Option<Ingest>,
}

impl<R: Read> Tee<R> {
    fn new(inner: R, ingest: Option<Ingest>) -> Tee<R> {
        Tee { inner, ingest }
    }
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(ingest) = &mut self.ingest {
            ingest.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}
