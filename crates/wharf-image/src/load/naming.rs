//! Naming what a load found and publishing it in one store commit.

use wharf_spec::{Descriptor, Digest, Reference};
use wharf_store::{LayerInfo, StagedBlob, Store};

use super::Loaded;
use crate::error::{ImageError, Result};
use crate::names;

/// An image found in an archive, before it is named.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub target: Descriptor,
    /// Full names the archive gives (`RepoTags`, containerd's image name annotation).
    pub names: Vec<Reference>,
    /// An OCI layout `ref.name` that is only a tag (`bookworm`), waiting for `-t NAME`.
    pub tag_only: Option<String>,
    /// diff_ids and sizes learned while reading, cached so nothing is decompressed twice.
    pub known_layers: Vec<(Digest, LayerInfo)>,
}

/// Applies `-t` and the archive's names, then publishes blobs and names atomically.
pub fn publish(
    store: &Store,
    candidates: Vec<Candidate>,
    staged: Vec<StagedBlob>,
    tag: Option<&Reference>,
) -> Result<Vec<Loaded>> {
    let needing_tag = candidates.iter().filter(|c| c.names.is_empty()).count();
    if let Some(t) = tag {
        if t.digest().is_some() {
            return Err(ImageError::Invalid(format!(
                "`-t {}` must be NAME[:TAG], without a digest",
                t.familiar()
            )));
        }
        if t.tag().is_some() && needing_tag > 1 {
            return Err(ImageError::Invalid(format!(
                "`-t {}` names one image, but the archive holds {needing_tag} unnamed images; give `-t NAME` without a tag to keep the archive's tags",
                t.familiar()
            )));
        }
    }
    let mut loaded = Vec::new();
    for candidate in &candidates {
        let mut chosen: Vec<Reference> = candidate.names.clone();
        if let Some(t) = tag {
            let tag_name = t
                .tag()
                .map(str::to_string)
                .or_else(|| candidate.tag_only.clone())
                .or_else(|| {
                    candidate
                        .names
                        .first()
                        .and_then(|n| n.tag().map(str::to_string))
                })
                .unwrap_or_else(|| "latest".to_string());
            if chosen.is_empty() || candidates.len() == 1 {
                let named = t.with_tag(&tag_name)?;
                if !chosen.contains(&named) {
                    chosen.push(named);
                }
            }
        }
        if chosen.is_empty() {
            loaded.push(Loaded {
                name: None,
                target: candidate.target.clone(),
            });
        }
        for name in chosen {
            loaded.push(Loaded {
                name: Some(name),
                target: candidate.target.clone(),
            });
        }
    }
    let plan = loaded.clone();
    store.commit(staged, move |index| {
        for item in &plan {
            match &item.name {
                Some(name) => names::set_name(index, &item.target, name, None),
                None => names::add_unnamed(index, &item.target),
            }
        }
        Ok(())
    })?;
    for candidate in &candidates {
        for (blob, info) in &candidate.known_layers {
            store.set_layer_info(blob, info)?;
        }
    }
    Ok(loaded)
}
