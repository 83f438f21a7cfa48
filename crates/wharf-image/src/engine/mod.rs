//! The copy engine: an image graph moves from an [`ImageSource`] to an [`ImageSink`].
//!
//! ```text
//!   registry       ─┐                       ┌─ registry       (HEAD, mount, upload, manifests)
//!   store          ─┤                       ├─ store          (verifying ingest, one commit)
//!   OCI dir        ─┼─ ImageSource ─ copy ─ ImageSink ─┼─ OCI dir   (verified files, index.json last)
//!   OCI archive    ─┤   graph + blobs       ├─ OCI archive    (one tar, hashed as written)
//!   docker-archive ─┘                       └─ docker-archive (layers decompressed, diff_ids checked)
//! ```
//!
//! - A source resolves its reference to a [`Graph`] (one platform's manifest, or with
//!   `all_platforms` a whole index) and opens any blob at any offset ([`BlobSource`]).
//!   Archives are read in place ([`tar_index`]); a docker-archive's plain layers are
//!   compressed on the way to a registry or an OCI layout ([`compress`]).
//! - A sink says what its name points at now ([`ImageSink::current`], so an unchanged
//!   image costs one lookup), takes the blobs it lacks — every byte hashed as it is
//!   written — then the manifests, children first, and names the top last: a reader
//!   never sees a name over missing blobs.
//! - [`copy`] joins them. `push` is the store source into the registry sink, `copy` runs
//!   every pair of locations through it, and `sync` runs it once per image. Pull keeps
//!   planner in front (one `HEAD` decides up-to-date) and is then the registry source into
//!   the store sink, which reports per-layer progress as `docker pull` shows it.

pub mod archive;
pub mod compress;
pub mod docker_archive;
pub(crate) mod into_store;
pub mod layout;
pub mod registry;
pub mod store;
pub(crate) mod stream;
pub mod tar_index;

use futures_util::future::LocalBoxFuture;
use wharf_spec::media_type::{self, Kind};
use wharf_spec::{Descriptor, Digest, ImageConfig, ImageManifest, Manifest, Platform, RawManifest};

use crate::error::{ImageError, Result};
pub use crate::push::{BlobSource, Graph, PushEvent, Sent};

/// Which part of an image a copy takes.
#[derive(Debug, Clone, Default)]
pub struct Select {
    /// The platform to pick from an index; the host's when `None`.
    pub platform: Option<Platform>,
    /// The whole index, every platform.
    pub all_platforms: bool,
    /// Several platforms of an index (more than one): an index of just those, which
    /// wharf writes (a new digest). Registry sources only (what `sync` reads).
    pub platforms: Vec<Platform>,
}

/// Where an image comes from.
pub trait ImageSource: BlobSource {
    /// The graph to copy: the whole index with `all_platforms`, else one platform's
    /// manifest. Every manifest in it has been read and checked against its digest.
    fn graph<'a>(&'a self, select: &'a Select) -> LocalBoxFuture<'a, Result<Graph>>;
}

/// Where an image goes.
pub trait ImageSink {
    /// The digest the destination's name points at now, if it names anything.
    fn current(&self) -> LocalBoxFuture<'_, Result<Option<Digest>>>;

    /// Whether the sink reads and checks each image config itself (the store does, as it
    /// stages them), so [`copy`] need not read them first.
    fn checks_configs(&self) -> bool {
        false
    }

    /// Writes every blob of `graph` the sink lacks, read from `source` and verified as it
    /// is written, then the manifests, children first; names the top last.
    fn put<'a>(
        &'a self,
        graph: &'a Graph,
        source: &'a dyn BlobSource,
        events: &'a dyn Fn(PushEvent),
    ) -> LocalBoxFuture<'a, Result<Sent>>;
}

/// What one [`copy`] moved.
#[derive(Debug, Clone)]
pub struct Copied {
    pub graph: Graph,
    pub sent: Sent,
}

/// Copies the image `source` names (as `select` narrows it) into `sink`.
pub async fn copy(
    source: &dyn ImageSource,
    sink: &dyn ImageSink,
    select: &Select,
    events: &dyn Fn(PushEvent),
) -> Result<Copied> {
    let graph = source.graph(select).await?;
    if source.repository().is_none() && !sink.checks_configs() {
        check_configs(&graph, source).await?;
    }
    let sent = sink.put(&graph, source, events).await?;
    Ok(Copied { graph, sent })
}

/// Refuses an image whose config does not parse or names another number of diff_ids
/// than its manifest has layers, as `wharf load` does: files (layouts, archives, the
/// store) are input, and a broken image read from them is not spread. A registry's
/// images are copied as they are, as a mirror must (and reading each config there
/// would cost a request).
async fn check_configs(graph: &Graph, source: &dyn BlobSource) -> Result<()> {
    for (_, raw) in &graph.manifests {
        let Manifest::Image(image) = raw.manifest() else {
            continue;
        };
        if media_type::kind(&image.config.media_type) != Kind::Config {
            continue; // an artifact's config is its own business
        }
        let bytes = stream::read_small(source, &image.config).await?;
        image_config(&bytes, image)?;
    }
    Ok(())
}

/// One platform's image as a source names it ([`one_image`]).
pub(crate) struct OneImage {
    /// The manifest's descriptor and exact bytes.
    pub top: Descriptor,
    pub raw: RawManifest,
    pub manifest: ImageManifest,
    /// The config, checked, and its exact bytes.
    pub config: ImageConfig,
    pub config_bytes: Vec<u8>,
}

/// One platform's image as `source` names it (chosen by `select`; an index without one is
/// an error), with its config read and checked.
pub(crate) async fn one_image(source: &dyn ImageSource, select: &Select) -> Result<OneImage> {
    let select = Select {
        all_platforms: false,
        ..select.clone()
    };
    let graph = source.graph(&select).await?;
    let (top, raw) = graph.manifests.last().expect("a graph has a top");
    let Manifest::Image(manifest) = raw.manifest() else {
        return Err(ImageError::Invalid(format!(
            "`{}` is an index; name one platform with `--platform`",
            top.digest
        )));
    };
    let config_bytes = stream::read_small(source, &manifest.config).await?;
    let config = image_config(&config_bytes, manifest)?;
    Ok(OneImage {
        top: top.clone(),
        raw: raw.clone(),
        manifest: manifest.clone(),
        config,
        config_bytes,
    })
}

/// The image config `bytes` of `image`, checked to name a diff_id for each layer.
pub(crate) fn image_config(bytes: &[u8], image: &ImageManifest) -> Result<ImageConfig> {
    let config = ImageConfig::parse(bytes).map_err(|e| ImageError::Config {
        digest: image.config.digest.clone(),
        source: e,
    })?;
    if config.rootfs.diff_ids.len() != image.layers.len() {
        return Err(ImageError::Invalid(format!(
            "the config `{}` lists {} for an image of {}",
            image.config.digest,
            crate::count::count(config.rootfs.diff_ids.len(), "diff_id"),
            crate::count::count(image.layers.len(), "layer")
        )));
    }
    Ok(config)
}
