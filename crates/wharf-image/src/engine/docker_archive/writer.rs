//! The docker-archive format as it is written (what `docker load` and
//! `skopeo copy docker-archive:` read): per layer a `<diff_id>/layer.tar` with its
//! `VERSION` and `json`, per image a `<image ID>.json` config, then `repositories` and
//! `manifest.json`. Used by `wharf save` (layers from the store, sizes known) and by the
//! engine's sink (layers from any source, sizes learned while writing).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Seek, SeekFrom, Write};

use wharf_spec::{Algorithm, Descriptor, Digest, HashingReader, Reference};

use crate::error::{ImageError, Result};
use crate::save::{append_bytes, append_stream, header, ArchiveItem};

/// A tar block: members are padded to it.
const BLOCK: u64 = 512;

#[derive(Default)]
pub(crate) struct DockerArchiveWriter {
    /// Members already in the archive (a layer or config shared by several images is
    /// written once).
    written: BTreeSet<String>,
    items: Vec<ArchiveItem>,
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

impl DockerArchiveWriter {
    /// The member holding the layer of `diff_id`.
    pub fn layer_member(diff_id: &Digest) -> String {
        format!("{}/layer.tar", diff_id.hex())
    }

    /// Whether the layer of `diff_id` is in the archive already.
    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.written.contains(&Self::layer_member(diff_id))
    }

    /// Writes the layer `layer` (a distribution descriptor, for messages) whose
    /// uncompressed bytes `content` gives, `size` of them; checked against `diff_id`.
    pub fn layer<W: Write>(
        &mut self,
        tar: &mut tar::Builder<W>,
        layer: &Descriptor,
        diff_id: &Digest,
        size: u64,
        content: &mut dyn Read,
    ) -> Result<()> {
        let Some(member) = self.start_layer(tar, diff_id)? else {
            return Ok(());
        };
        let mut hashing = HashingReader::new(content, Algorithm::Sha256);
        append_stream(tar, &member, size, &mut hashing)?;
        let (actual, count) = hashing.finish();
        check_diff_id(layer, diff_id, &actual, count == size)
    }

    /// As [`Self::layer`] for a layer whose uncompressed size is not known until it has
    /// been read: the member's header is written last, over a placeholder (a seekable
    /// archive file).
    pub fn layer_unsized<W: Write + Seek>(
        &mut self,
        tar: &mut tar::Builder<W>,
        layer: &Descriptor,
        diff_id: &Digest,
        content: &mut dyn Read,
    ) -> Result<()> {
        let Some(member) = self.start_layer(tar, diff_id)? else {
            return Ok(());
        };
        let context = format!("writing `{member}` to the archive");
        let failed = |e: io::Error| ImageError::io(context.clone())(e);
        let out = tar.get_mut();
        let start = out.stream_position().map_err(&failed)?;
        out.write_all(&[0u8; BLOCK as usize]).map_err(&failed)?;
        let mut hashing = HashingReader::new(content, Algorithm::Sha256);
        let size = io::copy(&mut hashing, out).map_err(&failed)?;
        let padding = (BLOCK - size % BLOCK) % BLOCK;
        out.write_all(&[0u8; BLOCK as usize][..padding as usize])
            .map_err(&failed)?;
        let end = out.stream_position().map_err(&failed)?;
        let mut h = header(size);
        // `<hex>/layer.tar` fits the header's name field: no long-name extension needed,
        // so the header is the one block reserved for it.
        h.set_path(&member).map_err(&failed)?;
        h.set_cksum();
        out.seek(SeekFrom::Start(start)).map_err(&failed)?;
        out.write_all(h.as_bytes()).map_err(&failed)?;
        out.seek(SeekFrom::Start(end)).map_err(&failed)?;
        let (actual, _) = hashing.finish();
        check_diff_id(layer, diff_id, &actual, true)
    }

    /// `VERSION` and `json` of a new layer; its member name, or None when it is written.
    fn start_layer<W: Write>(
        &mut self,
        tar: &mut tar::Builder<W>,
        diff_id: &Digest,
    ) -> Result<Option<String>> {
        let member = Self::layer_member(diff_id);
        if !self.written.insert(member.clone()) {
            return Ok(None);
        }
        let dir = diff_id.hex();
        append_bytes(tar, &format!("{dir}/VERSION"), b"1.0")?;
        let json = serde_json::to_vec(&serde_json::json!({ "id": dir })).expect("json");
        append_bytes(tar, &format!("{dir}/json"), &json)?;
        Ok(Some(member))
    }

    /// Adds the image whose config is `config` (written once), layers `diff_ids` (already
    /// written), named `names`.
    pub fn image<W: Write>(
        &mut self,
        tar: &mut tar::Builder<W>,
        config: &[u8],
        diff_ids: &[Digest],
        names: &[Reference],
    ) -> Result<()> {
        let config_name = format!("{}.json", Digest::sha256_of(config).hex());
        if self.written.insert(config_name.clone()) {
            append_bytes(tar, &config_name, config)?;
        }
        let repo_tags: Vec<String> = names.iter().map(Reference::familiar).collect();
        for name in names {
            if let (Some(top), Some(tag)) = (diff_ids.last(), name.tag()) {
                self.repositories
                    .entry(name.familiar_name())
                    .or_default()
                    .insert(tag.to_string(), top.hex().to_string());
            }
        }
        // One item per image, holding all its names, as `docker save` and skopeo write
        // them (the config names the image; its layers follow from it).
        match self.items.iter_mut().find(|i| i.config == config_name) {
            Some(item) => {
                let tags = item.repo_tags.get_or_insert_with(Vec::new);
                for tag in repo_tags {
                    if !tags.contains(&tag) {
                        tags.push(tag);
                    }
                }
            }
            None => self.items.push(ArchiveItem {
                config: config_name,
                repo_tags: (!repo_tags.is_empty()).then_some(repo_tags),
                layers: diff_ids.iter().map(Self::layer_member).collect(),
            }),
        }
        Ok(())
    }

    /// `repositories` (when an image has a tag) and `manifest.json`.
    pub fn finish<W: Write>(self, tar: &mut tar::Builder<W>) -> Result<()> {
        if !self.repositories.is_empty() {
            append_bytes(
                tar,
                "repositories",
                &serde_json::to_vec(&self.repositories).expect("json"),
            )?;
        }
        append_bytes(
            tar,
            "manifest.json",
            &serde_json::to_vec(&self.items).expect("json"),
        )
    }
}

fn check_diff_id(
    layer: &Descriptor,
    expected: &Digest,
    actual: &Digest,
    sized: bool,
) -> Result<()> {
    if actual != expected || !sized {
        return Err(ImageError::DiffIdMismatch {
            layer: layer.digest.clone(),
            expected: expected.clone(),
            actual: actual.clone(),
        });
    }
    Ok(())
}
