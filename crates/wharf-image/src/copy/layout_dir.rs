//! Writing an image into an OCI image layout directory (`oci:PATH[:REF]`), beside any
//! images already there: blobs are copied under a temporary name and renamed into place,
//! and `index.json` is replaced by rename last, so a reader never sees an entry whose
//! blobs are missing. Files and the directories they were renamed in are fsynced before
//! `index.json` names them, so a crash cannot leave an entry over empty blobs.

use std::fs;
use std::io;
use std::path::Path;

use wharf_fs::{AtomicFile, Durability};
use wharf_spec::descriptor::ANNOTATION_REF_NAME;
use wharf_spec::{Descriptor, ImageIndex};
use wharf_store::Store;

use crate::error::{ImageError, Result};
use crate::graph::blobs_of;

pub fn write(
    store: &Store,
    target: &Descriptor,
    dir: &Path,
    reference: Option<&str>,
) -> Result<()> {
    let io_err = |what: &str, path: &Path| {
        let context = format!("{what} `{}`", path.display());
        move |e: io::Error| ImageError::Io { context, source: e }
    };
    fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    let layout = dir.join("oci-layout");
    if !layout.exists() {
        wharf_fs::replace(
            &layout,
            br#"{"imageLayoutVersion":"1.0.0"}"#,
            Durability::Durable,
        )?;
    }
    let mut renamed_in = std::collections::BTreeSet::new();
    for (digest, size) in blobs_of(store, target)? {
        let alg_dir = dir.join("blobs").join(digest.algorithm().name());
        fs::create_dir_all(&alg_dir).map_err(io_err("create", &alg_dir))?;
        let path = alg_dir.join(digest.hex());
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == size) {
            continue;
        }
        let mut from = store.open_blob(&digest)?;
        let mut to = AtomicFile::create(&path)?;
        io::copy(&mut from, &mut to).map_err(io_err("write", to.temp_path()))?;
        // Each directory is fsynced once, after all its blobs.
        to.commit(Durability::Content)?;
        renamed_in.insert(alg_dir);
    }
    for alg_dir in &renamed_in {
        wharf_fs::fsync_dir(alg_dir)?;
    }
    let index_path = dir.join("index.json");
    let mut index = match fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::archive(&index_path, format!("not an OCI index: {e}")))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => ImageIndex::empty(),
        Err(e) => return Err(io_err("read", &index_path)(e)),
    };
    let mut entry = target.clone();
    entry.annotations = None;
    match reference {
        Some(r) => {
            index
                .manifests
                .retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some(r));
            entry.set_annotation(ANNOTATION_REF_NAME, r);
        }
        None => index
            .manifests
            .retain(|d| d.digest != entry.digest || d.annotations.is_some()),
    }
    index.manifests.push(entry);
    let bytes = serde_json::to_vec(&index).expect("an index serializes");
    Ok(wharf_fs::replace(&index_path, &bytes, Durability::Durable)?)
}
