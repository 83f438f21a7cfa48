//! `wharf append BASE PATH... -t NEW`: one new layer per PATH (a directory, or a tar file
//! used as it is) on top of BASE or `scratch`, like `crane append` and `umoci repack`.
//!
//! Each layer streams into the store's staging area while both its digests are computed;
//! the new config (diff_ids, history, created) and manifest (layers in the media types of
//! the base's manifest) are published with the layers and the name in one commit, so a
//! failure at any point leaves the store as it was.

use std::path::{Path, PathBuf};

use wharf_layer::build::{self, BuildOptions, LayerSource};
use wharf_spec::{Algorithm, Descriptor, Digest, Platform, Reference};
use wharf_store::{LayerInfo, Store};

use crate::compose::{created_at, Composed, Draft};
use crate::error::{ImageError, Result};

#[derive(Debug, Clone, Default)]
pub struct AppendOptions {
    /// Which image of a multi-platform BASE; for `scratch`, the new image's platform.
    pub platform: Option<Platform>,
    /// Compression and normalization of the new layers.
    pub layer: BuildOptions,
    /// `SOURCE_DATE_EPOCH`: the history's and config's `created`, and the mtime clamp.
    pub source_date_epoch: Option<u64>,
}

impl AppendOptions {
    /// What every new layer on `draft` shares: the draft goes OCI for zstd layers (Docker's
    /// media types have none); returns the history's `created` and the layer options with
    /// `SOURCE_DATE_EPOCH` as the mtime clamp unless one was given.
    pub(crate) fn prepare(&self, draft: &mut Draft) -> (String, BuildOptions) {
        if self.layer.compression == wharf_layer::Compression::Zstd {
            draft.convert_to_oci();
        }
        let mut layer_options = self.layer.clone();
        if layer_options.normalize.source_date_epoch.is_none() {
            layer_options.normalize.source_date_epoch = self.source_date_epoch;
        }
        (created_at(self.source_date_epoch), layer_options)
    }
}

/// One layer `append` added.
#[derive(Debug, Clone)]
pub struct NewLayer {
    pub source: LayerSource,
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    /// Paths left out because a tar cannot hold them (sockets).
    pub skipped: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Appended {
    pub image: Composed,
    pub layers: Vec<NewLayer>,
}

/// Reads a PATH argument: a directory or a tar file, or `DIR:/DEST` to place a
/// directory's contents under `/DEST` in the layer. A path that exists as typed is
/// always taken whole, so names with `:/` in them still work.
pub fn parse_source(arg: &str) -> Result<LayerSource> {
    let whole = Path::new(arg);
    if whole.exists() || !arg.contains(":/") {
        let source = if whole.is_dir() {
            LayerSource::Directory {
                path: whole.to_path_buf(),
                dest: String::new(),
            }
        } else {
            LayerSource::Tarball {
                path: whole.to_path_buf(),
            }
        };
        build::check_source(&source)?;
        return Ok(source);
    }
    let (path, dest) = arg.rsplit_once(":/").expect("checked above");
    let source = LayerSource::Directory {
        path: PathBuf::from(path),
        dest: normalize_dest(dest).ok_or_else(|| {
            ImageError::Invalid(format!(
                "`{arg}`: the destination `/{dest}` may not contain `..`"
            ))
        })?,
    };
    if Path::new(path).is_file() {
        return Err(ImageError::Invalid(format!(
            "`{arg}`: a destination applies to directories only; a tar file's entries are used as they are"
        )));
    }
    build::check_source(&source)?;
    Ok(source)
}

/// `usr//share/./html/` → `usr/share/html`; `None` if it climbs with `..`.
fn normalize_dest(dest: &str) -> Option<String> {
    let mut parts = Vec::new();
    for part in dest.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// What the history says made a layer: the last component of each path (never the
/// host's absolute path, which would make the digest depend on where the input lives).
fn created_by(source: &LayerSource) -> String {
    let short = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.to_string_lossy().into_owned())
    };
    match source {
        LayerSource::Directory { path, dest } if !dest.is_empty() => {
            format!("wharf append {}:/{dest}", short(path))
        }
        LayerSource::Directory { path, .. } | LayerSource::Tarball { path } => {
            format!("wharf append {}", short(path))
        }
    }
}

pub fn append(
    store: &Store,
    base: &str,
    sources: &[LayerSource],
    name: &Reference,
    options: &AppendOptions,
) -> Result<Appended> {
    if sources.is_empty() {
        return Err(ImageError::Invalid(
            "nothing to append: give at least one directory or tar file".into(),
        ));
    }
    for source in sources {
        build::check_source(source)?;
    }
    let _guard = store.lock_shared()?;
    let mut draft = Draft::from_base(store, base, options.platform.as_ref())?;
    let (created, layer_options) = options.prepare(&mut draft);
    let mut staged = Vec::new();
    let mut infos = Vec::new();
    let mut layers = Vec::new();
    for source in sources {
        let ingest = store.ingest_unknown(Algorithm::Sha256)?;
        let (ingest, built) = build::build_layer(source, &layer_options, ingest)?;
        let blob = ingest.finish()?;
        let descriptor = Descriptor::new(
            draft.layer_media_type(built.compression),
            blob.digest().clone(),
            blob.size(),
        );
        draft.push_layer(&descriptor, &built.diff_id);
        draft.push_history(&created, &created_by(source), false);
        infos.push((
            blob.digest().clone(),
            LayerInfo {
                diff_id: built.diff_id.clone(),
                size: built.size,
            },
        ));
        staged.push(blob);
        layers.push(NewLayer {
            source: source.clone(),
            descriptor,
            diff_id: built.diff_id,
            skipped: built.skipped,
        });
    }
    let image = draft.publish(store, staged, &infos, name)?;
    Ok(Appended { image, layers })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_normalized_and_may_not_climb() {
        assert_eq!(
            normalize_dest("usr//share/./html/").as_deref(),
            Some("usr/share/html")
        );
        assert_eq!(normalize_dest("").as_deref(), Some(""));
        assert_eq!(normalize_dest("a/../../etc"), None);
    }

    #[test]
    fn sources_are_told_apart_and_missing_ones_named() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("site");
        std::fs::create_dir(&dir).unwrap();
        let file = tmp.path().join("layer.tar");
        std::fs::write(&file, b"x").unwrap();
        let s = |p: &Path| p.to_str().unwrap().to_string();
        assert!(
            matches!(parse_source(&s(&dir)).unwrap(), LayerSource::Directory { dest, .. } if dest.is_empty())
        );
        assert!(matches!(
            parse_source(&s(&file)).unwrap(),
            LayerSource::Tarball { .. }
        ));
        let placed = parse_source(&format!("{}:/usr/share/html/", s(&dir))).unwrap();
        assert_eq!(
            placed,
            LayerSource::Directory {
                path: dir.clone(),
                dest: "usr/share/html".into()
            }
        );
        assert_eq!(created_by(&placed), "wharf append site:/usr/share/html");
        let missing = tmp.path().join("missing");
        assert_eq!(
            parse_source(&s(&missing)).unwrap_err().to_string(),
            format!("`{}` does not exist", missing.display())
        );
        assert!(parse_source(&format!("{}:/x", s(&file)))
            .unwrap_err()
            .to_string()
            .contains("directories only"));
        assert!(parse_source(&format!("{}:/../x", s(&dir)))
            .unwrap_err()
            .to_string()
            .contains("`..`"));
    }
}
