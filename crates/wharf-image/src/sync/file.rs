//! A sync file: many sources, each with its own tag filters, in TOML.
//!
//! ```toml
//! [[sync]]
//! source = "docker://registry.example:5000/team"   # a namespace: every repository under it
//!
//! [[sync]]
//! source = "docker://registry.example:5000/tools/cli"
//! tags = ["stable"]          # exactly these tags
//! tag-regex = '^v?1\.'       # tags the expression matches
//! semver = ">=1.2, <2"       # tags whose version is in the range
//! newest = 3                 # then the 3 highest versions
//! ```
//!
//! Filters the command line gives apply to entries that give none of their own.
//!
//! A `.yaml` or `.yml` file is read as `skopeo sync --src yaml` reads it, so a skopeo sync
//! file works unchanged, and each repository lands under the destination by its last path
//! component, as skopeo puts it ([`SyncSource::exact`]):
//!
//! ```yaml
//! registry.example:5000:
//!   images:
//!     team/app: []              # every tag (this repository only)
//!     team/cli: ["1.0", "2.0"]  # these tags
//!   images-by-tag-regex:
//!     team/web: ^v1\.
//!   images-by-semver:
//!     team/db: ">= 3.12.0"
//!   tls-verify: false           # read, not used: wharf's own rules decide (see the README)
//! ```
//!
//! Credentials in the file are refused: wharf reads them where `docker login` and
//! `wharf login` write them.

use std::path::Path;

use serde::Deserialize;

use super::endpoint::SyncSource;
use super::filter::TagFilter;
use super::Job;
use crate::error::{ImageError, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    sync: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Entry {
    source: String,
    #[serde(default)]
    tags: Vec<String>,
    tag_regex: Option<String>,
    semver: Option<String>,
    newest: Option<usize>,
}

/// Whether `input` names a sync file (`.toml`, `.yaml`, `.yml`) rather than a registry.
pub fn is_sync_file(input: &str) -> bool {
    !input.contains("://")
        && [".toml", ".yaml", ".yml"]
            .iter()
            .any(|ext| input.ends_with(ext))
}

/// The jobs a sync file lists; `default` is the filter for entries without their own.
pub fn read(path: &Path, default: &TagFilter) -> Result<Vec<Job>> {
    let bad = |reason: String| ImageError::Invalid(format!("`{}`: {reason}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
        return read_skopeo_yaml(&text).map_err(|e| bad(e.to_string()));
    }
    let file: File = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if file.sync.is_empty() {
        return Err(bad(
            "lists nothing to sync; add a `[[sync]]` entry with a `source`".into(),
        ));
    }
    file.sync
        .into_iter()
        .map(|entry| {
            let source = SyncSource::parse(&entry.source)?;
            let own = TagFilter::parse(
                entry.tags,
                entry.tag_regex.as_deref(),
                entry.semver.as_deref(),
                entry.newest,
            )?;
            let filter = if own.is_everything() {
                default.clone()
            } else {
                own
            };
            Ok(Job { source, filter })
        })
        .collect()
}

/// One registry of a skopeo sync file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SkopeoRegistry {
    #[serde(default)]
    images: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    images_by_tag_regex: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    images_by_semver: std::collections::BTreeMap<String, String>,
    #[serde(rename = "tls-verify")]
    _tls_verify: Option<bool>,
    #[serde(rename = "cert-dir")]
    _cert_dir: Option<String>,
    credentials: Option<serde_yaml::Value>,
}

fn read_skopeo_yaml(text: &str) -> Result<Vec<Job>> {
    let registries: std::collections::BTreeMap<String, SkopeoRegistry> =
        serde_yaml::from_str(text).map_err(|e| ImageError::Invalid(e.to_string()))?;
    let mut jobs = Vec::new();
    for (registry, entry) in registries {
        if entry.credentials.is_some() {
            return Err(ImageError::Invalid(format!(
                "`{registry}` has `credentials`: wharf does not read passwords from a sync file; run `wharf login {registry}`"
            )));
        }
        let source = |repository: &str| -> Result<SyncSource> {
            let mut source = SyncSource::parse(&format!("docker://{registry}/{repository}"))?;
            if source.tag.is_some() {
                return Err(ImageError::Invalid(format!(
                    "`{repository}` under `{registry}`: list its tags, not `REPO:TAG`"
                )));
            }
            source.exact = true;
            Ok(source)
        };
        for (repository, tags) in &entry.images {
            if let Some(digest) = tags.iter().find(|t| t.contains(':')) {
                return Err(ImageError::Invalid(format!(
                    "`{repository}` under `{registry}`: `{digest}` is not a tag (a sync copies tags)"
                )));
            }
            jobs.push(Job {
                source: source(repository)?,
                filter: TagFilter::parse(tags.clone(), None, None, None)?,
            });
        }
        for (repository, regex) in &entry.images_by_tag_regex {
            jobs.push(Job {
                source: source(repository)?,
                filter: TagFilter::parse(Vec::new(), Some(regex), None, None)?,
            });
        }
        for (repository, range) in &entry.images_by_semver {
            jobs.push(Job {
                source: source(repository)?,
                filter: TagFilter::parse(Vec::new(), None, Some(range), None)?,
            });
        }
    }
    if jobs.is_empty() {
        return Err(ImageError::Invalid(
            "lists nothing to sync; add a registry with `images`".into(),
        ));
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_carry_their_filters_and_mistakes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.toml");
        std::fs::write(
            &path,
            r#"
[[sync]]
source = "docker://r.example:5000/team"

[[sync]]
source = "docker://r.example:5000/tools/cli"
tag-regex = '^1\.'
newest = 1
"#,
        )
        .unwrap();
        let default = TagFilter::parse(vec!["latest".into()], None, None, None).unwrap();
        let jobs = read(&path, &default).unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].filter.tags, ["latest"]);
        let tags: Vec<String> = ["1.0", "1.1", "2.0"].map(String::from).to_vec();
        assert_eq!(jobs[1].filter.select(&tags), ["1.1"]);

        std::fs::write(
            &path,
            "[[sync]]\nsource = \"docker://r.example/a\"\nnewst = 1\n",
        )
        .unwrap();
        let err = read(&path, &default).unwrap_err().to_string();
        assert!(err.contains("sync.toml") && err.contains("newst"), "{err}");
        std::fs::write(&path, "").unwrap();
        let err = read(&path, &default).unwrap_err().to_string();
        assert!(err.contains("lists nothing to sync"), "{err}");
    }
}

#[cfg(test)]
mod skopeo_tests {
    use super::*;

    #[test]
    fn a_skopeo_sync_file_reads_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.yaml");
        std::fs::write(
            &path,
            r#"
r.example:5000:
  images:
    team/app: []
    team/cli: ["1.0", "2.0"]
  images-by-tag-regex:
    team/web: ^v1\.
  images-by-semver:
    team/db: ">= 3.12.0"
  tls-verify: false
"#,
        )
        .unwrap();
        let jobs = read(&path, &TagFilter::default()).unwrap();
        let sources: Vec<&str> = jobs.iter().map(|j| j.source.namespace.as_str()).collect();
        assert_eq!(sources, ["team/app", "team/cli", "team/web", "team/db"]);
        assert!(jobs
            .iter()
            .all(|j| j.source.exact && j.source.registry == "r.example:5000"));
        assert!(jobs[0].filter.is_everything());
        assert_eq!(jobs[1].filter.tags, ["1.0", "2.0"]);
        let tags: Vec<String> = ["v1.2", "v2.0", "3.12.1", "3.11"]
            .map(String::from)
            .to_vec();
        assert_eq!(jobs[2].filter.select(&tags), ["v1.2"]);
        assert_eq!(jobs[3].filter.select(&tags), ["3.12.1"]);

        std::fs::write(
            &path,
            "r.example:\n  images:\n    a: []\n  credentials:\n    username: u\n    password: p\n",
        )
        .unwrap();
        let err = read(&path, &TagFilter::default()).unwrap_err().to_string();
        assert!(
            err.contains("wharf login r.example") && !err.contains("password: p"),
            "{err}"
        );
        std::fs::write(&path, "r.example:\n  images:\n    a: [\"sha256:00\"]\n").unwrap();
        let err = read(&path, &TagFilter::default()).unwrap_err().to_string();
        assert!(err.contains("is not a tag"), "{err}");
    }
}
