//! `wharf load`: images from an OCI layout directory, an OCI archive, or a docker-archive
//! (legacy `docker save` and Docker ≥ 25's OCI-in-tar), plain or compressed.
//!
//! Every blob is hashed as it streams into the store's staging area; nothing becomes
//! visible until the whole archive has been read and every manifest, config and layer
//! checked, and then all of it is published in one commit. Bad input leaves the store
//! as it was.

pub(crate) mod docker_archive;
pub(crate) mod layout;
pub(crate) mod members;
mod naming;
pub(crate) mod oci_dir;

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use wharf_spec::Reference;
use wharf_store::Store;

use crate::error::{ImageError, Result};

pub use naming::Candidate;

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Names images the archive carries only a tag for, or no name at all.
    pub tag: Option<Reference>,
}

/// One image a load put in the store.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// None for an image the archive did not name (it is stored dangling).
    pub name: Option<Reference>,
    pub target: wharf_spec::Descriptor,
}

pub fn load(store: &Store, path: &Path, options: &LoadOptions) -> Result<Vec<Loaded>> {
    let _guard = store.lock_shared()?;
    // What an earlier, killed load left behind (a re-run after `kill -9` is the common
    // case) goes now, so that run ends with a clean store.
    store.clear_dead_debris()?;
    let meta = std::fs::metadata(path).map_err(ImageError::io(format!("`{}`", path.display())))?;
    if meta.is_file() && meta.len() == 0 {
        return Err(ImageError::archive(path, "the file is empty"));
    }
    let (candidates, staged) = if meta.is_dir() {
        oci_dir::read(store, path)?
    } else {
        let file =
            File::open(path).map_err(ImageError::io(format!("opening `{}`", path.display())))?;
        read_archive(store, path, file)?
    };
    naming::publish(store, candidates, staged, options.tag.as_ref())
}

/// Loads an archive streamed from `reader` (`docker load < image.tar`); `name` says where
/// it comes from in messages.
pub fn load_stream(
    store: &Store,
    name: &Path,
    reader: impl Read,
    options: &LoadOptions,
) -> Result<Vec<Loaded>> {
    let _guard = store.lock_shared()?;
    store.clear_dead_debris()?;
    let (candidates, staged) = read_archive(store, name, reader)?;
    naming::publish(store, candidates, staged, options.tag.as_ref())
}

/// Reads a tar archive, plain or gzip/zstd-compressed (sniffed, not guessed from the name).
fn read_archive<R: Read>(
    store: &Store,
    path: &Path,
    reader: R,
) -> Result<(Vec<Candidate>, Vec<wharf_store::StagedBlob>)> {
    let (_, decoded) = wharf_layer::decompress(BufReader::with_capacity(1 << 20, reader))
        .map_err(ImageError::io(format!("reading `{}`", path.display())))?;
    let members = members::read(store, path, decoded)?;
    if members.small.contains_key("index.json") {
        layout::from_members(store, path, members)
    } else if members.small.contains_key("manifest.json") {
        docker_archive::from_members(store, path, members)
    } else {
        Err(ImageError::archive(
            path,
            "not an image archive: it holds neither `index.json` (OCI) nor `manifest.json` (docker-archive)",
        ))
    }
}
