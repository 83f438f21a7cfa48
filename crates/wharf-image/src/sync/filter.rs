//! Which tags of a repository a sync takes: named tags, a regular expression, a semver
//! range, the newest N versions. Filters given together all apply (AND); `newest` last.
//!
//! Versions are read leniently, as image tags are written: a leading `v`, and missing
//! minor or patch numbers (`1.2` is `1.2.0`, `v3` is `3.0.0`); a suffix after `-` is a
//! pre-release (`1.2-alpine`), which a range matches only when it names a pre-release of
//! the same version (Cargo's rule). Tags that are not versions never match `semver`, and
//! `newest` orders versions only: with it, other tags are left out.

use regex::Regex;
use semver::{Version, VersionReq};

use crate::error::{ImageError, Result};

#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    /// Exactly these tags (those the repository has).
    pub tags: Vec<String>,
    /// Tags the expression matches (anchor it with `^…$` to match whole tags).
    pub regex: Option<Regex>,
    /// Tags whose version is in the range (e.g. `>=1.2, <2`).
    pub semver: Option<VersionReq>,
    /// At most this many, the highest versions.
    pub newest: Option<usize>,
}

impl TagFilter {
    /// Builds a filter from the text a user wrote, naming what is wrong with it.
    pub fn parse(
        tags: Vec<String>,
        regex: Option<&str>,
        semver: Option<&str>,
        newest: Option<usize>,
    ) -> Result<TagFilter> {
        let regex = regex
            .map(|r| {
                Regex::new(r).map_err(|e| {
                    ImageError::Invalid(format!("`{r}` is not a regular expression: {e}"))
                })
            })
            .transpose()?;
        let semver = semver
            .map(|r| {
                VersionReq::parse(r)
                    .map_err(|e| ImageError::Invalid(format!("`{r}` is not a semver range: {e}")))
            })
            .transpose()?;
        Ok(TagFilter {
            tags,
            regex,
            semver,
            newest,
        })
    }

    /// Whether the filter takes every tag.
    pub fn is_everything(&self) -> bool {
        self.tags.is_empty()
            && self.regex.is_none()
            && self.semver.is_none()
            && self.newest.is_none()
    }

    /// The tags of `all` the filter selects, sorted (highest version first with `newest`).
    pub fn select(&self, all: &[String]) -> Vec<String> {
        let mut chosen: Vec<&String> = all
            .iter()
            .filter(|t| self.tags.is_empty() || self.tags.contains(t))
            .filter(|t| self.regex.as_ref().is_none_or(|r| r.is_match(t)))
            .filter(|t| {
                self.semver
                    .as_ref()
                    .is_none_or(|range| version_of(t).is_some_and(|v| range.matches(&v)))
            })
            .collect();
        chosen.sort();
        chosen.dedup();
        if let Some(n) = self.newest {
            let mut versions: Vec<(Version, &String)> = chosen
                .into_iter()
                .filter_map(|t| version_of(t).map(|v| (v, t)))
                .collect();
            versions.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
            return versions
                .into_iter()
                .take(n)
                .map(|(_, t)| t.clone())
                .collect();
        }
        chosen.into_iter().cloned().collect()
    }
}

/// The version a tag names, read leniently (see the module docs).
pub fn version_of(tag: &str) -> Option<Version> {
    let bare = tag.strip_prefix('v').unwrap_or(tag);
    let (core, suffix) = match bare.find(['-', '+']) {
        Some(at) => bare.split_at(at),
        None => (bare, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    if parts
        .iter()
        .any(|p| !p.bytes().all(|b| b.is_ascii_digit()) || (p.len() > 1 && p.starts_with('0')))
    {
        return None;
    }
    let mut full = parts.join(".");
    for _ in parts.len()..3 {
        full.push_str(".0");
    }
    Version::parse(&format!("{full}{suffix}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn versions_are_read_as_tags_are_written() {
        assert_eq!(version_of("1.2"), Some(Version::new(1, 2, 0)));
        assert_eq!(version_of("v3"), Some(Version::new(3, 0, 0)));
        assert_eq!(version_of("1.2.3"), Some(Version::new(1, 2, 3)));
        assert_eq!(version_of("1.2-alpine").unwrap().pre.as_str(), "alpine");
        for not in ["latest", "1.2.3.4", "01.2", "1..2", "", "v", "bookworm-1.2"] {
            assert_eq!(version_of(not), None, "{not}");
        }
    }

    #[test]
    fn filters_combine_and_newest_orders_versions() {
        let all = tags(&["1.0", "1.1", "1.2", "2.0", "latest", "1.2-alpine", "0.9"]);
        let everything = TagFilter::default();
        assert!(everything.is_everything());
        assert_eq!(everything.select(&all).len(), all.len());

        let range = TagFilter::parse(vec![], None, Some(">=1.1, <2"), None).unwrap();
        assert_eq!(range.select(&all), tags(&["1.1", "1.2"]));

        let regex = TagFilter::parse(vec![], Some("^1\\."), None, None).unwrap();
        assert_eq!(
            regex.select(&all),
            tags(&["1.0", "1.1", "1.2", "1.2-alpine"])
        );

        let newest = TagFilter::parse(vec![], Some("^[0-9.]+$"), None, Some(2)).unwrap();
        assert_eq!(newest.select(&all), tags(&["2.0", "1.2"]));

        let named = TagFilter::parse(tags(&["latest", "3.0"]), None, None, None).unwrap();
        assert_eq!(named.select(&all), tags(&["latest"]));
    }

    #[test]
    fn bad_filters_are_named() {
        let err = TagFilter::parse(vec![], Some("(["), None, None).unwrap_err();
        assert!(
            err.to_string().contains("`([` is not a regular expression"),
            "{err}"
        );
        let err = TagFilter::parse(vec![], None, Some(">>1"), None).unwrap_err();
        assert!(
            err.to_string().contains("`>>1` is not a semver range"),
            "{err}"
        );
    }
}
