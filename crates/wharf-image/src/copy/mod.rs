//! `copy`: an image from any [`Location`] to any other — registries, the store, OCI layout
//! directories, OCI archives and docker-archives — as `skopeo copy` does.
//!
//! - Every pair runs the copy engine ([`crate::engine`]): each blob streams from the
//!   source straight into the destination (registry to registry without touching disk,
//!   archives read in place), verified as it is written; bytes, manifests and digests
//!   stay identical (a destination on the same registry mounts instead). The store to
//!   the store is simpler: a tag.
//! - A docker-archive holds uncompressed layers: going anywhere but the store or another
//!   docker-archive, they are compressed on the way ([`crate::engine::compress`]), which
//!   gives new layer and manifest digests (reported); the image ID stays. With
//!   `--dest-compress`, layers in another compression are re-encoded the same way.

pub mod referrers;
pub mod transport;

use wharf_client::Client;
use wharf_spec::media_type::Compression;
use wharf_spec::{Descriptor, Digest, Platform, Reference};
use wharf_store::{BlobLocations, Store};

use crate::catalog;
use crate::engine::archive::{OciArchiveSink, OciArchiveSource};
use crate::engine::compress::Compressed;
use crate::engine::docker_archive::{self, DockerArchiveSink};
use crate::engine::layout::{LayoutSink, LayoutSource};
use crate::engine::registry::{RegistrySink, RegistrySource};
use crate::engine::store::{StoreSink, StoreSource};
use crate::engine::{self, ImageSink, ImageSource, Select};
use crate::error::{ImageError, Result};
use crate::push::{self, KnownBlobs, PushEvent, PushOptions, SendOptions, Sent};
use crate::save::SaveFormat;
use crate::store_task::blocking;

pub use transport::Location;

#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Which platforms (`all_platforms`: a whole index) and how uploads run.
    pub push: PushOptions,
    /// How uncompressed layers (from a docker-archive) are compressed for other formats.
    pub compression: Compression,
    /// Re-encode layers in another compression as `compression` too (`--dest-compress`
    /// given): new layer and manifest digests, the same image ID.
    pub recompress: bool,
    /// Copy the manifests that refer to the image too (registry to registry).
    pub referrers: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            push: PushOptions::default(),
            compression: Compression::Gzip,
            recompress: false,
            referrers: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CopyReport {
    /// What the destination names now: its digest and size.
    pub digest: Digest,
    pub size: u64,
    /// For a registry destination: what was uploaded, mounted or already there.
    pub sent: Option<Sent>,
    /// With `referrers`: the referrers copied along, in order.
    pub referrers: Vec<Descriptor>,
}

/// Copies `from` to `to`. `store` is the user's store, needed when either side is one.
pub async fn copy(
    store: Option<&Store>,
    client: &Client,
    from: &Location,
    to: &Location,
    options: &CopyOptions,
    events: &dyn Fn(PushEvent),
) -> Result<CopyReport> {
    let user_store =
        || store.ok_or_else(|| ImageError::Invalid("this copy needs the local store".into()));
    if options.referrers && !matches!((from, to), (Location::Registry(_), Location::Registry(_))) {
        return Err(ImageError::Invalid(
            "`--referrers` copies between registries only (`docker://` to `docker://`)".into(),
        ));
    }
    if options.referrers && options.recompress {
        return Err(ImageError::Invalid(
            "`--referrers` cannot go with `--dest-compress`: re-encoded layers give the image new digests, and its signatures and SBOMs name the old ones".into(),
        ));
    }
    match (from, to) {
        (Location::Store(a), Location::Store(b)) if !options.recompress => {
            let store = user_store()?;
            name_as(store, a, b).await?;
            Ok(done(target_of(store, b, None, true).await?, None))
        }
        _ => {
            let source = engine_source(store, client, from, to, options).await?;
            through_engine(store, client, source.as_ref(), from, to, options, events).await
        }
    }
}

/// The engine's source for `from`. A docker-archive's plain layers are compressed on the
/// way to anything but the store (which keeps them, as `wharf load` does) or another
/// docker-archive (which holds them plain); with `recompress`, every layer in another
/// compression is re-encoded too (but not for a docker-archive, whose layers are plain).
async fn engine_source(
    store: Option<&Store>,
    client: &Client,
    from: &Location,
    to: &Location,
    options: &CopyOptions,
) -> Result<Box<dyn ImageSource>> {
    let source = open_source(store, client, from).await?;
    Ok(match (from, to) {
        // A docker-archive holds layers plain: nothing to compress for one.
        (_, Location::DockerArchive { .. }) => source,
        (Location::DockerArchive { .. }, Location::Store(_)) if !options.recompress => source,
        (Location::DockerArchive { .. }, _) => Box::new(Compressed::new(
            source,
            options.compression,
            options.recompress,
        )?),
        _ if options.recompress => Box::new(Compressed::new(source, options.compression, true)?),
        _ => source,
    })
}

/// The image `from` names as the copy engine reads it, blobs as they are stored there
/// (archives indexed in place). `store` is the user's store, needed for a store location.
pub async fn open_source(
    store: Option<&Store>,
    client: &Client,
    from: &Location,
) -> Result<Box<dyn ImageSource>> {
    let user_store =
        || store.ok_or_else(|| ImageError::Invalid("this copy needs the local store".into()));
    Ok(match from {
        Location::Registry(reference) => Box::new(RegistrySource {
            client: client.clone(),
            repository: reference.clone(),
        }),
        Location::Store(input) => Box::new(StoreSource::new(user_store()?, input)),
        Location::OciDir { path, reference } => Box::new(LayoutSource {
            dir: path.clone(),
            reference: reference.clone(),
        }),
        Location::OciArchive { path, reference } => {
            let (path, reference) = (path.clone(), reference.clone());
            let source =
                tokio::task::spawn_blocking(move || OciArchiveSource::open(&path, reference))
                    .await
                    .map_err(ImageError::internal("archive index"))??;
            Box::new(source)
        }
        Location::DockerArchive { path, reference } => {
            let (path, reference) = (path.clone(), reference.clone());
            tokio::task::spawn_blocking(move || docker_archive::open(&path, reference))
                .await
                .map_err(ImageError::internal("archive index"))??
        }
    })
}

fn done(target: Descriptor, sent: Option<Sent>) -> CopyReport {
    CopyReport {
        digest: target.digest,
        size: target.size,
        sent,
        referrers: Vec::new(),
    }
}

/// Copies `source` (what `from` names) to `to` with the engine.
async fn through_engine(
    store: Option<&Store>,
    client: &Client,
    source: &dyn ImageSource,
    from: &Location,
    to: &Location,
    options: &CopyOptions,
    events: &dyn Fn(PushEvent),
) -> Result<CopyReport> {
    let user_store =
        || store.ok_or_else(|| ImageError::Invalid("this copy needs the local store".into()));
    let select = Select {
        platform: options.push.platform.clone(),
        // A docker-archive holds one platform's image.
        all_platforms: options.push.all_platforms && !matches!(to, Location::DockerArchive { .. }),
        platforms: Vec::new(),
    };
    // The store's blob-info cache says where a registry destination may mount from.
    let known = KnownBlobs::new(match store {
        Some(s) => blocking(s, |s| s.blob_locations()).await?,
        None => BlobLocations::default(),
    });
    let sink: Box<dyn ImageSink + '_> = match to {
        Location::Registry(reference) => Box::new(RegistrySink {
            client,
            destination: reference.clone(),
            known: &known,
            options: SendOptions {
                max_concurrent_uploads: options.push.max_concurrent_uploads,
                upload: options.push.upload.clone(),
            },
        }),
        Location::Store(name) => {
            let mut sink = StoreSink::new(user_store()?, name)?;
            sink.writers = client.config().max_concurrent_downloads.max(1);
            Box::new(sink)
        }
        Location::OciDir { path, reference } => Box::new(LayoutSink {
            dir: path.clone(),
            reference: reference.clone(),
        }),
        Location::OciArchive { path, reference } => Box::new(OciArchiveSink {
            path: path.clone(),
            name: archive_name(reference.as_deref(), SaveFormat::OciArchive)?,
            select: select.clone(),
        }),
        Location::DockerArchive { path, reference } => Box::new(DockerArchiveSink {
            path: path.clone(),
            name: archive_name(reference.as_deref(), SaveFormat::DockerArchive)?,
            select: select.clone(),
        }),
    };
    // gc must not delete what a store source is sending.
    let _guard = match from {
        Location::Store(_) => Some(blocking(user_store()?, |s| s.lock_shared()).await??),
        _ => None,
    };
    let copied = engine::copy(source, sink.as_ref(), &select, events).await?;
    let registry_sink = matches!(to, Location::Registry(_));
    if let (Some(store), true) = (store, registry_sink) {
        push::remember(store, copied.sent.locations.clone()).await;
    }
    let mut report = done(
        copied.graph.top().clone(),
        registry_sink.then_some(copied.sent.clone()),
    );
    if let (true, Location::Registry(a), Location::Registry(b)) = (options.referrers, from, to) {
        let send_options = SendOptions {
            max_concurrent_uploads: options.push.max_concurrent_uploads,
            upload: options.push.upload.clone(),
        };
        report.referrers =
            referrers::copy_referrers(client, a, b, &copied.graph, &known, &send_options).await?;
    }
    Ok(report)
}

/// Names the image `input` finds `name` too (a `tag`), unless that is its name already.
async fn name_as(store: &Store, input: &str, name: &str) -> Result<()> {
    let (input, name) = (input.to_string(), name.to_string());
    blocking(store, move |s| {
        let wanted = Reference::parse_normalized(&name)?.canonical();
        if Reference::parse_normalized(&input).is_ok_and(|r| r.canonical() == wanted) {
            return Ok(());
        }
        crate::tag::tag(s, &input, &name).map(|_| ())
    })
    .await?
}

/// The descriptor the copy sends for `input`: the whole target with `all` (an index),
/// else the platform's manifest.
async fn target_of(
    store: &Store,
    input: &str,
    platform: Option<&Platform>,
    all: bool,
) -> Result<Descriptor> {
    let (input, platform) = (input.to_string(), platform.cloned());
    blocking(store, move |s| {
        let found = catalog::find(s, &input, platform.as_ref())?;
        Ok(if all {
            found.resolved.target
        } else {
            found.resolved.manifest_descriptor
        })
    })
    .await?
}

/// The name an archive gives its image: `REF` of `PATH:REF` as a full name, or an OCI
/// `ref.name` that is only a tag (`image:TAG`).
fn archive_name(reference: Option<&str>, format: SaveFormat) -> Result<Option<Reference>> {
    let Some(r) = reference else {
        return Ok(None);
    };
    Ok(Some(match Reference::parse_normalized(r) {
        Ok(name) if name.tag().is_some() || format == SaveFormat::DockerArchive => name,
        _ => Reference::parse_normalized(&format!("image:{r}")).map_err(|_| {
            ImageError::Invalid(format!("`{r}` is neither a tag nor an image name"))
        })?,
    }))
}
