//! The pages' URLs: built here and parsed here, nowhere else.
//!
//! Repository names hold `/`, so a page of a repository is `/r/NAME/-/...`: a name's
//! components start with a letter or digit, so `-` is never one of them and the first
//! `/-/` ends the name (GitLab's convention). Paths inside an image and layer numbers go
//! in the query string.

use serde::Deserialize;

/// A page under `/r/`.
#[derive(Debug, PartialEq, Eq)]
pub enum Page<'a> {
    /// `/r/NAME`: the repository's tags.
    Repository(&'a str),
    /// `/r/NAME/-/image/DIGEST[/files|/file]`.
    Image {
        name: &'a str,
        digest: &'a str,
        part: ImagePart,
    },
    /// `/r/NAME/-/tag/TAG/delete`.
    DeleteTag { name: &'a str, tag: &'a str },
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum ImagePart {
    Overview,
    Files,
    File,
}

/// Parses what follows `/r/`; None for anything else (a 404).
pub fn parse(path: &str) -> Option<Page<'_>> {
    let Some((name, rest)) = path.split_once("/-/") else {
        return (!path.is_empty()).then_some(Page::Repository(path.trim_end_matches('/')));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["image", digest] => Some(Page::Image {
            name,
            digest,
            part: ImagePart::Overview,
        }),
        ["image", digest, "files"] => Some(Page::Image {
            name,
            digest,
            part: ImagePart::Files,
        }),
        ["image", digest, "file"] => Some(Page::Image {
            name,
            digest,
            part: ImagePart::File,
        }),
        ["tag", tag, "delete"] => Some(Page::DeleteTag { name, tag }),
        _ => None,
    }
}

/// The query of the file pages: a path inside the image, and a layer (0 is the lowest)
/// for that layer alone instead of the merged filesystem.
#[derive(Debug, Default, Deserialize)]
pub struct FileQuery {
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub layer: Option<usize>,
    /// `1`: the file's bytes as a download instead of a page.
    #[serde(default)]
    pub raw: Option<u8>,
}

pub fn home(search: Option<&str>, after: Option<&str>) -> String {
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(q) = search.filter(|q| !q.is_empty()) {
        query.push(("q", q));
    }
    if let Some(after) = after {
        query.push(("after", after));
    }
    with_query("/", &query)
}

pub fn repository(name: &str) -> String {
    format!("/r/{name}")
}

pub fn repository_after(name: &str, after: &str) -> String {
    with_query(&repository(name), &[("after", after)])
}

pub fn image(name: &str, digest: &str) -> String {
    format!("/r/{name}/-/image/{digest}")
}

pub fn files(name: &str, digest: &str, layer: Option<usize>, path: &str) -> String {
    file_page(name, digest, "files", layer, path, false)
}

pub fn file(name: &str, digest: &str, layer: Option<usize>, path: &str, raw: bool) -> String {
    file_page(name, digest, "file", layer, path, raw)
}

pub fn delete_tag(name: &str, tag: &str) -> String {
    format!("/r/{name}/-/tag/{tag}/delete")
}

pub fn login(next: &str) -> String {
    with_query("/-/login", &[("next", next)])
}

fn file_page(
    name: &str,
    digest: &str,
    part: &str,
    layer: Option<usize>,
    path: &str,
    raw: bool,
) -> String {
    let layer = layer.map(|n| n.to_string());
    let mut query: Vec<(&str, &str)> = vec![("path", path)];
    if let Some(layer) = &layer {
        query.push(("layer", layer));
    }
    if raw {
        query.push(("raw", "1"));
    }
    with_query(&format!("{}/{part}", image(name, digest)), &query)
}

fn with_query(path: &str, query: &[(&str, &str)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let encoded = serde_urlencoded::to_string(query).expect("pairs of strings encode");
    format!("{path}?{encoded}")
}

/// Where a login may send the browser back to: a path of this site only (never
/// `//host` or a URL of another site).
pub fn local_target(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_parse_from_the_first_separator() {
        assert_eq!(
            parse("library/redis"),
            Some(Page::Repository("library/redis"))
        );
        assert_eq!(
            parse("a/b/-/image/sha256:00/files"),
            Some(Page::Image {
                name: "a/b",
                digest: "sha256:00",
                part: ImagePart::Files
            })
        );
        assert_eq!(
            parse("app/-/tag/v1.0/delete"),
            Some(Page::DeleteTag {
                name: "app",
                tag: "v1.0"
            })
        );
        assert_eq!(parse("app/-/image"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn links_round_trip_their_queries() {
        let link = files("a/b", "sha256:00", Some(2), "/etc/a b&c");
        assert_eq!(
            link,
            "/r/a/b/-/image/sha256:00/files?path=%2Fetc%2Fa+b%26c&layer=2"
        );
        assert_eq!(local_target(Some("//evil.example/")), "/");
        assert_eq!(local_target(Some("https://evil.example/")), "/");
        assert_eq!(local_target(Some("/r/app")), "/r/app");
    }
}
