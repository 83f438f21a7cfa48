//! `copy`: an image from any [`Location`] to any other — registries, the store, OCI layout
//! directories, OCI archives and docker-archives — as `skopeo copy` does.
//!
//! - Registry to registry streams every blob from the source straight into the
//!   destination's upload, several at once, without touching disk; bytes, manifests and
//!   digests are identical (a destination on the same registry mounts instead).
//! - The store to a registry is [`crate::push`]; a registry to the store is
//!   [`crate::pull`].
//! - Files go through a store: a layout or archive source is loaded into a throwaway
//!   staging store, a registry source that goes to a file is pulled into one; files are
//!   written from it with [`crate::save`] or [`layout_dir`], and only the chosen image
//!   moves on into the user's store ([`into_store`]). OCI to OCI keeps every digest.
//! - A docker-archive holds uncompressed layers: going anywhere but another
//!   docker-archive, they are compressed again ([`recompress`]), which gives new layer and
//!   manifest digests (reported); the image ID stays.

pub mod into_store;
pub mod layout_dir;
pub mod recompress;
pub mod referrers;
pub mod registry;
pub mod transport;

use std::path::Path;

use wharf_client::Client;
use wharf_spec::media_type::Compression;
use wharf_spec::{Descriptor, Digest, Platform, Reference};
use wharf_store::{BlobLocations, Store};

use crate::catalog;
use crate::error::{ImageError, Result};
use crate::load::{self, LoadOptions};
use crate::pull::{self, blocking, PullOptions};
use crate::push::{self, PushEvent, PushOptions, SendOptions, Sent};
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
        (Location::Registry(a), Location::Registry(b)) => {
            registry_to_registry(store, client, a, b, options, events).await
        }
        (Location::Store(name), Location::Registry(b)) => {
            push_from(user_store()?, client, name, b, options, events).await
        }
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
        (source, destination) => {
            let staging = tempfile::Builder::new()
                .prefix("wharf-copy-")
                .tempdir()
                .map_err(ImageError::io("creating a staging directory"))?;
            let (holder, mut input) =
                stage_source(store, client, source, staging.path(), options).await?;
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
    }
}

fn done(target: Descriptor, sent: Option<Sent>) -> CopyReport {
    CopyReport {
        digest: target.digest,
        size: target.size,
        sent,
        referrers: Vec::new(),
    }
}

async fn registry_to_registry(
    store: Option<&Store>,
    client: &Client,
    from: &Reference,
    to: &Reference,
    options: &CopyOptions,
    events: &dyn Fn(PushEvent),
) -> Result<CopyReport> {
    let graph = registry::graph_of(
        client,
        from,
        options.push.all_platforms,
        options.push.platform.as_ref(),
    )
    .await?;
    let source = registry::RemoteBlobs {
        client: client.clone(),
        repository: from.clone(),
    };
    let known = match store {
        Some(s) => blocking(s, |s| s.blob_locations()).await?,
        None => BlobLocations::default(),
    };
    let send_options = SendOptions {
        max_concurrent_uploads: options.push.max_concurrent_uploads,
        upload: options.push.upload.clone(),
    };
    let sent = push::send::send(client, to, &graph, &source, &known, &send_options, events).await?;
    let mut report = done(graph.top().clone(), Some(sent));
    if options.referrers {
        report.referrers =
            referrers::copy_referrers(client, from, to, &graph, &known, &send_options).await?;
    }
    Ok(report)
}

async fn push_from(
    store: &Store,
    client: &Client,
    input: &str,
    to: &Reference,
    options: &CopyOptions,
    events: &dyn Fn(PushEvent),
) -> Result<CopyReport> {
    let report = push::push(store, client, input, to, &options.push, events).await?;
    Ok(CopyReport {
        digest: report.digest,
        size: report.size,
        sent: Some(report.sent),
        referrers: Vec::new(),
    })
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
        Location::Registry(to) => push_from(holder, client, input, to, options, events).await,
        Location::Store(_) => unreachable!("a store destination is handled by `copy`"),
        Location::OciDir { path, reference } => {
            let target = target_of(
                holder,
                input,
                options.push.platform.as_ref(),
                options.push.all_platforms,
            )
            .await?;
            let (path, reference, written) = (path.clone(), reference.clone(), target.clone());
            blocking(holder, move |s| {
                layout_dir::write(s, &written, &path, reference.as_deref())
            })
            .await??;
            Ok(done(target, None))
        }
        Location::OciArchive { path, reference } | Location::DockerArchive { path, reference } => {
            let format = match destination {
                Location::OciArchive { .. } => SaveFormat::OciArchive,
                _ => SaveFormat::DockerArchive,
            };
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
    let name = match reference {
        None => None,
        Some(r) => Some(match Reference::parse_normalized(r) {
            Ok(name) if name.tag().is_some() || format == SaveFormat::DockerArchive => name,
            // An OCI `ref.name` that is only a tag.
            _ => Reference::parse_normalized(&format!("image:{r}")).map_err(|_| {
                ImageError::Invalid(format!("`{r}` is neither a tag nor an image name"))
            })?,
        }),
    };
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
