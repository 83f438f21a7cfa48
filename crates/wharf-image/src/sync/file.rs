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

/// The jobs a sync file lists; `default` is the filter for entries without their own.
pub fn read(path: &Path, default: &TagFilter) -> Result<Vec<Job>> {
    let bad = |reason: String| ImageError::Invalid(format!("`{}`: {reason}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
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
