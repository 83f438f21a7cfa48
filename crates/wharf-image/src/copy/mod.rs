//! `copy`: an image from any [`Location`] to any other — registries, the store, OCI layout
//! directories, OCI archives and docker-archives — as `skopeo copy` does.
//!
//! - Registries, the store and OCI layout directories are sources and sinks of the copy
//!   engine ([`crate::engine`]), and an OCI archive is a sink: every blob streams from the
//!   source straight into the destination (registry to registry without touching disk),
//!   verified as it is written; bytes, manifests and digests stay identical (a
//!   destination on the same registry mounts instead). A registry to the store is
//!   [`crate::pull`].
//! - Archive sources and docker-archive destinations go through a store: an archive
//!   source is loaded into a throwaway staging store (only the chosen image moves on into
//!   the user's store, [`into_store`]); a docker-archive is written from a store with
//!   [`crate::save`].
//! - A docker-archive holds uncompressed layers: going anywhere but another
//!   docker-archive, they are compressed again ([`recompress`]), which gives new layer and
//!   manifest digests (reported); the image ID stays.

pub mod into_store;
pub mod recompress;
pub mod referrers;
pub mod transport;

use std::path::Path;

use wharf_client::Client;
use wharf_spec::media_type::Compression;
use wharf_spec::{Descriptor, Digest, Platform, Reference};
use wharf_store::{BlobLocations, Store};

use crate::catalog;
use crate::engine::archive::{OciArchiveSink, OciArchiveSource};
use crate::engine::layout::{LayoutSink, LayoutSource};
use crate::engine::registry::{RegistrySink, RegistrySource};
use crate::engine::store::{StoreSink, StoreSource};
use crate::engine::{self, ImageSink, ImageSource, Select};
use crate::error::{ImageError, Result};
use crate::load::{self, LoadOptions};
use crate::pull::{self, blocking, PullOptions};
use crate::push::{self, KnownBlobs, PushEvent, PushOptions, SendOptions, Sent};
use crate::save::{self, SaveFormat};

pub use transport::Location;

#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Which platforms (`all_platforms`: a whole index) and how uploads run.
    pub push: PushOptions,
    /// How uncompressed layers (from a docker-archive) are compressed for other formats.
    pub compression: Compression,
    /// Copy the manifests that refer to the image too (registry to registry).
    pub referrers: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            push: PushOptions::default(),
            compression: Compression::Gzip,
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
    match (from, to) {
        (Location::Registry(a), Location::Store(name)) => {
            let store = user_store()?;
            let options = PullOptions {
                platform: options.push.platform.clone(),
                all_platforms: options.push.all_platforms,
            };
            let report = pull::pull(store, client, a, options, &|_| {}).await?;
            name_as(store, &report.reference.to_string(), name).await?;
            let target = target_of(store, name, None, true).await?;
            Ok(done(target, None))
        }
        (Location::Store(a), Location::Store(b)) => {
            let store = user_store()?;
            name_as(store, a, b).await?;
            Ok(done(target_of(store, b, None, true).await?, None))
        }
        (_, Location::DockerArchive { .. }) => {
            staged(store, client, from, to, options, events).await
        }
        _ => match engine_source(store, client, from).await? {
            Some(source) => {
                through_engine(store, client, source.as_ref(), from, to, options, events).await
            }
            None => staged(store, client, from, to, options, events).await,
        },
    }
}

/// The engine's source for `from`; `None` for what must be staged: a docker-archive (its
/// layers are compressed again on the way) and an OCI archive that is compressed or has
/// links between its members.
async fn engine_source(
    store: Option<&Store>,
    client: &Client,
    from: &Location,
) -> Result<Option<Box<dyn ImageSource>>> {
    let user_store =
        || store.ok_or_else(|| ImageError::Invalid("this copy needs the local store".into()));
    Ok(Some(match from {
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
            let indexed =
                tokio::task::spawn_blocking(move || OciArchiveSource::open(&path, reference))
                    .await
                    .map_err(ImageError::internal("archive index"))??;
            match indexed {
                Some(source) => Box::new(source),
                None => return Ok(None),
            }
        }
        Location::DockerArchive { .. } => return Ok(None),
    }))
}

/// A copy through a throwaway staging store: the source is loaded (or pulled) into it,
/// and the destination written from it.
async fn staged(
    store: Option<&Store>,
    client: &Client,
    source: &Location,
    destination: &Location,
    options: &CopyOptions,
    events: &dyn Fn(PushEvent),
) -> Result<CopyReport> {
    let user_store =
        || store.ok_or_else(|| ImageError::Invalid("this copy needs the local store".into()));
    let staging = tempfile::Builder::new()
        .prefix("wharf-copy-")
        .tempdir()
        .map_err(ImageError::io("creating a staging directory"))?;
    let (holder, mut input) = stage_source(store, client, source, staging.path(), options).await?;
    if let Location::Store(name) = destination {
        // Layers stay as the file holds them, as `wharf load` keeps them.
        let target = target_of(
            &holder,
            &input,
            options.push.platform.as_ref(),
            options.push.all_platforms,
        )
        .await?;
        let (user, name, moved) = (user_store()?.clone(), name.clone(), target.clone());
        blocking(&holder, move |s| {
            into_store::transfer(s, &user, &moved, &name)
        })
        .await??;
        return Ok(done(target, None));
    }
    if matches!(source, Location::DockerArchive { .. })
        && !matches!(destination, Location::DockerArchive { .. })
    {
        let name = Reference::parse_normalized("wharf-copy/recompressed:latest")?;
        let compression = options.compression;
        let from = input.clone();
        blocking(&holder, move |s| {
            recompress::recompress(s, &from, compression, &name)
        })
        .await??;
        input = "wharf-copy/recompressed:latest".to_string();
    }
    write_destination(&holder, client, &input, destination, options, events).await
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
        all_platforms: options.push.all_platforms,
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
        Location::Store(name) => Box::new(StoreSink::new(user_store()?, name)?),
        Location::OciDir { path, reference } => Box::new(LayoutSink {
            dir: path.clone(),
            reference: reference.clone(),
        }),
        Location::OciArchive { path, reference } => Box::new(OciArchiveSink {
            path: path.clone(),
            name: archive_name(reference.as_deref(), SaveFormat::OciArchive)?,
            select: select.clone(),
        }),
        _ => unreachable!("a docker-archive is written from a staging store"),
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

/// Puts the source image into a store and says how to find it there: the user's store
/// for a store source, else a staging store in `dir`.
async fn stage_source(
    store: Option<&Store>,
    client: &Client,
    source: &Location,
    dir: &Path,
    options: &CopyOptions,
) -> Result<(Store, String)> {
    if let Location::Store(name) = source {
        let store =
            store.ok_or_else(|| ImageError::Invalid("this copy needs the local store".into()))?;
        return Ok((store.clone(), name.clone()));
    }
    let holder = Store::open(dir.join("store"))?;
    let input = match source {
        Location::Registry(reference) => {
            let options = PullOptions {
                platform: options.push.platform.clone(),
                all_platforms: options.push.all_platforms,
            };
            let report = pull::pull(&holder, client, reference, options, &|_| {}).await?;
            report.reference.to_string()
        }
        Location::OciDir { path, reference }
        | Location::OciArchive { path, reference }
        | Location::DockerArchive { path, reference } => {
            let (path, reference) = (path.clone(), reference.clone());
            blocking(&holder, move |s| load_one(s, &path, reference.as_deref())).await??
        }
        Location::Store(_) => unreachable!("handled above"),
    };
    Ok((holder, input))
}

/// Loads a layout or archive and picks the image `reference` names in it (an OCI
/// `ref.name`, or a docker-archive's `RepoTags` entry), or its only image.
fn load_one(store: &Store, path: &Path, reference: Option<&str>) -> Result<String> {
    let options = LoadOptions {
        tag: Some(Reference::parse_normalized("wharf-copy/source")?),
    };
    let loaded = load::load(store, path, &options)?;
    let wanted = reference.and_then(|r| Reference::parse_normalized(r).ok().map(|n| n.canonical()));
    let matches = |name: &Reference| match reference {
        None => true,
        Some(r) => name.tag() == Some(r) || Some(name) == wanted.as_ref(),
    };
    let mut chosen: Vec<&load::Loaded> = loaded
        .iter()
        .filter(|l| {
            l.name.as_ref().is_some_and(matches) || (reference.is_none() && l.name.is_none())
        })
        .collect();
    chosen.dedup_by(|a, b| a.target.digest == b.target.digest);
    match chosen.as_slice() {
        [one] => Ok(match &one.name {
            Some(name) => name.to_string(),
            None => one.target.digest.to_string(),
        }),
        [] => Err(ImageError::archive(
            path,
            format!("holds no image named `{}`", reference.unwrap_or("")),
        )),
        many => Err(ImageError::archive(
            path,
            format!("holds {} images; name one as `PATH:REF`", many.len()),
        )),
    }
}

async fn write_destination(
    holder: &Store,
    client: &Client,
    input: &str,
    destination: &Location,
    options: &CopyOptions,
    events: &dyn Fn(PushEvent),
) -> Result<CopyReport> {
    match destination {
        Location::Registry(_) | Location::OciDir { .. } | Location::OciArchive { .. } => {
            let from = Location::Store(input.to_string());
            let source = StoreSource::new(holder, input);
            through_engine(
                Some(holder),
                client,
                &source,
                &from,
                destination,
                options,
                events,
            )
            .await
        }
        Location::Store(_) => unreachable!("a store destination is handled by `copy`"),
        Location::DockerArchive { path, reference } => {
            let format = SaveFormat::DockerArchive;
            let (input, path, reference) = (input.to_string(), path.clone(), reference.clone());
            let (platform, all) = (options.push.platform.clone(), options.push.all_platforms);
            let target = blocking(holder, move |s| {
                write_archive(
                    s,
                    &input,
                    &path,
                    reference.as_deref(),
                    format,
                    platform.as_ref(),
                    all,
                )
            })
            .await??;
            Ok(done(target, None))
        }
    }
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

/// Writes the image as an archive at `path` (through a temporary file and a rename),
/// named `reference` in it; returns what was written.
fn write_archive(
    store: &Store,
    input: &str,
    path: &Path,
    reference: Option<&str>,
    format: SaveFormat,
    platform: Option<&Platform>,
    all: bool,
) -> Result<Descriptor> {
    let mut found = catalog::find(store, input, platform)?;
    if !all || format == SaveFormat::DockerArchive {
        found.resolved.target = found.resolved.manifest_descriptor.clone();
    }
    let name = archive_name(reference, format)?;
    found.names = name.iter().cloned().collect();
    found.matched_name = name;
    let failed = |e: std::io::Error| ImageError::Io {
        context: format!("write `{}`", path.display()),
        source: e,
    };
    let target = found.resolved.target.clone();
    let file = wharf_fs::AtomicFile::create(path)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    save::write_archive(store, std::slice::from_ref(&found), format, &mut out)?;
    let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
    file.commit(wharf_fs::Durability::Durable)?;
    Ok(target)
}
