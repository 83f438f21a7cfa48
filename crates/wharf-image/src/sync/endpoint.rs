//! Where a sync reads and writes, and how a source repository's name becomes the
//! destination's: the source namespace is replaced by the destination's, the rest of the
//! name is kept (`docker://a/team docker://b/mirror` copies `team/app/web` to
//! `mirror/app/web`). A destination without a namespace keeps the whole source path.

use std::fmt;
use std::path::PathBuf;

use wharf_spec::Reference;

use crate::error::{ImageError, Result};

/// A registry namespace, repository or one image: `docker://HOST[/PATH[:TAG]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSource {
    pub registry: String,
    /// A repository or a namespace of repositories; empty for the whole registry.
    pub namespace: String,
    /// One tag only.
    pub tag: Option<String>,
    /// `namespace` is one repository: the catalog is not asked for what is under it.
    pub exact: bool,
}

impl SyncSource {
    pub fn parse(input: &str) -> Result<SyncSource> {
        let bad = |reason: &str| ImageError::Invalid(format!("`{input}`: {reason}"));
        let rest = input.strip_prefix("docker://").ok_or_else(|| {
            bad("a sync source is a registry: `docker://HOST[/NAMESPACE]`, or a .toml file")
        })?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        check_host(host).map_err(|r| bad(&r))?;
        if path.is_empty() {
            return Ok(SyncSource {
                registry: host.to_string(),
                namespace: String::new(),
                tag: None,
                exact: false,
            });
        }
        let reference = Reference::parse_normalized(&format!("{host}/{path}"))
            .map_err(|e| bad(&format!("not a repository name: {e}")))?;
        if reference.digest().is_some() {
            return Err(bad("a sync copies tags; name a tag or none, not a digest"));
        }
        Ok(SyncSource {
            registry: host.to_string(),
            namespace: reference.path().to_string(),
            tag: reference.tag().map(str::to_string),
            exact: false,
        })
    }

    /// Whether `repository` (a path the catalog lists) is in this source.
    pub fn contains(&self, repository: &str) -> bool {
        self.namespace.is_empty()
            || repository == self.namespace
            || repository
                .strip_prefix(&self.namespace)
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// `repository` relative to the namespace (empty for the namespace itself); an exact
    /// repository (from a skopeo sync file) is named by its last path component, as
    /// `skopeo sync` names it (`team/app/web` → `web`).
    fn relative<'a>(&self, repository: &'a str) -> &'a str {
        if self.exact {
            return repository.rsplit('/').next().unwrap_or(repository);
        }
        repository
            .strip_prefix(&self.namespace)
            .unwrap_or(repository)
            .trim_start_matches('/')
    }

    /// The image `repository:tag` in the source registry.
    pub fn image(&self, repository: &str, tag: &str) -> Result<Reference> {
        Ok(Reference::parse_normalized(&format!(
            "{}/{repository}:{tag}",
            self.registry
        ))?)
    }
}

impl fmt::Display for SyncSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "docker://{}", self.registry)?;
        if !self.namespace.is_empty() {
            write!(f, "/{}", self.namespace)?;
        }
        match &self.tag {
            Some(tag) => write!(f, ":{tag}"),
            None => Ok(()),
        }
    }
}

fn check_host(host: &str) -> std::result::Result<(), String> {
    let looks_like_host = host.contains(['.', ':']) || host == "localhost";
    if host.is_empty() || !looks_like_host {
        return Err(format!(
            "`{host}` is not a registry host; write the host in full (`docker://HOST/NAMESPACE`)"
        ));
    }
    Ok(())
}

/// Where a sync writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncDestination {
    /// `docker://HOST[/NAMESPACE]`.
    Registry { registry: String, namespace: String },
    /// `oci:DIR`: one layout, blobs shared; each image named `PATH:TAG` (`ref.name`).
    Layout { dir: PathBuf },
    /// `wharf:` or `wharf:NAMESPACE`: the local store; without a namespace each image is
    /// named as `wharf pull` names it (`HOST/PATH:TAG`).
    Store { namespace: String },
}

impl SyncDestination {
    pub fn parse(input: &str) -> Result<SyncDestination> {
        let bad = |reason: &str| ImageError::Invalid(format!("`{input}`: {reason}"));
        if let Some(rest) = input.strip_prefix("docker://") {
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            check_host(host).map_err(|r| bad(&r))?;
            let namespace = path.trim_end_matches('/');
            if !namespace.is_empty() {
                wharf_spec::reference::validate_repository_path(namespace)
                    .map_err(|e| bad(&format!("not a namespace: {e}")))?;
            }
            return Ok(SyncDestination::Registry {
                registry: host.to_string(),
                namespace: namespace.to_string(),
            });
        }
        if let Some(dir) = input.strip_prefix("oci:") {
            if dir.is_empty() || dir.contains(':') {
                return Err(bad(
                    "a sync writes into one layout: `oci:DIR` (names come from the source)",
                ));
            }
            return Ok(SyncDestination::Layout { dir: dir.into() });
        }
        if let Some(namespace) = input.strip_prefix("wharf:") {
            let namespace = namespace.trim_end_matches('/');
            if !namespace.is_empty() {
                Reference::parse_normalized(namespace)
                    .map_err(|e| bad(&format!("not a namespace: {e}")))?;
            }
            return Ok(SyncDestination::Store {
                namespace: namespace.to_string(),
            });
        }
        Err(bad(
            "a sync destination is `docker://HOST[/NAMESPACE]`, `oci:DIR` or `wharf:[NAMESPACE]`",
        ))
    }

    /// The destination repository for the source's `repository`.
    pub fn repository(&self, source: &SyncSource, repository: &str) -> String {
        let namespace = match self {
            SyncDestination::Registry { namespace, .. } | SyncDestination::Store { namespace } => {
                namespace.as_str()
            }
            SyncDestination::Layout { .. } => "",
        };
        let relative = source.relative(repository);
        match (namespace.is_empty(), relative.is_empty()) {
            (true, _) => match self {
                SyncDestination::Store { .. } => format!("{}/{repository}", source.registry),
                _ => repository.to_string(),
            },
            (false, true) => namespace.to_string(),
            (false, false) => format!("{namespace}/{relative}"),
        }
    }

    /// How an image is named at the destination, for messages.
    pub fn describe(&self, repository: &str, tag: &str) -> String {
        match self {
            SyncDestination::Registry { registry, .. } => {
                format!("docker://{registry}/{repository}:{tag}")
            }
            SyncDestination::Layout { dir } => format!("oci:{}:{repository}:{tag}", dir.display()),
            SyncDestination::Store { .. } => format!("wharf:{repository}:{tag}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_destinations_parse_and_map_names() {
        let source = SyncSource::parse("docker://127.0.0.1:5000/team").unwrap();
        assert_eq!(source.namespace, "team");
        assert!(source.contains("team") && source.contains("team/a/b"));
        assert!(!source.contains("teams/a") && !source.contains("other"));
        let registry = SyncDestination::parse("docker://r.example:5000/mirror").unwrap();
        assert_eq!(registry.repository(&source, "team/a/b"), "mirror/a/b");
        assert_eq!(registry.repository(&source, "team"), "mirror");
        let flat = SyncDestination::parse("docker://r.example:5000").unwrap();
        assert_eq!(flat.repository(&source, "team/a"), "team/a");
        let store = SyncDestination::parse("wharf:").unwrap();
        assert_eq!(store.repository(&source, "team/a"), "127.0.0.1:5000/team/a");
        let layout = SyncDestination::parse("oci:/tmp/l").unwrap();
        assert_eq!(layout.repository(&source, "team/a"), "team/a");

        let one = SyncSource::parse("docker://localhost:5000/team/a:1").unwrap();
        assert_eq!(
            (one.namespace.as_str(), one.tag.as_deref()),
            ("team/a", Some("1"))
        );
        let whole = SyncSource::parse("docker://r.example").unwrap();
        assert!(whole.namespace.is_empty() && whole.contains("anything/at/all"));
    }

    #[test]
    fn bad_endpoints_are_named() {
        for bad in [
            "oci:/x",
            "docker://team/app",
            "docker://r.example/Bad",
            "docker://r.example/a@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            let err = SyncSource::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        for bad in [
            "oci:",
            "oci:/x:y",
            "ftp://x",
            "docker://nohost",
            "docker://r.example/Bad",
        ] {
            let err = SyncDestination::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
