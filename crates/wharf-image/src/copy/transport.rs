//! Where a copy reads or writes, written as skopeo writes it: `docker://REF`,
//! `oci:PATH[:REF]`, `oci-archive:PATH[:REF]`, `docker-archive:PATH[:REF]`, and the local
//! store as `wharf:REF` or a bare reference.

use std::fmt;
use std::path::PathBuf;

use wharf_spec::Reference;

use crate::error::{ImageError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A registry repository.
    Registry(Reference),
    /// An image in the local store: a name, `name@digest` or an ID.
    Store(String),
    /// An OCI image layout directory; `reference` is an `org.opencontainers.image.ref.name`.
    OciDir {
        path: PathBuf,
        reference: Option<String>,
    },
    /// An OCI layout in a tar file.
    OciArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// A `docker save` tar; `reference` is a `RepoTags` name.
    DockerArchive {
        path: PathBuf,
        reference: Option<String>,
    },
}

impl Location {
    pub fn parse(input: &str) -> Result<Location> {
        let bad = |reason: &str| ImageError::Invalid(format!("`{input}`: {reason}"));
        let path_and_ref = |rest: &str| -> Result<(PathBuf, Option<String>)> {
            // The path ends at the first colon, as in skopeo.
            let (path, reference) = match rest.split_once(':') {
                Some((p, r)) => (p, Some(r.to_string()).filter(|r| !r.is_empty())),
                None => (rest, None),
            };
            if path.is_empty() {
                return Err(bad("no path given"));
            }
            Ok((PathBuf::from(path), reference))
        };
        if let Some(rest) = input.strip_prefix("docker://") {
            let reference = Reference::parse_normalized(rest)
                .map_err(|e| bad(&format!("not an image reference: {e}")))?;
            return Ok(Location::Registry(reference));
        }
        if let Some(rest) = input.strip_prefix("oci-archive:") {
            let (path, reference) = path_and_ref(rest)?;
            return Ok(Location::OciArchive { path, reference });
        }
        if let Some(rest) = input.strip_prefix("oci:") {
            let (path, reference) = path_and_ref(rest)?;
            return Ok(Location::OciDir { path, reference });
        }
        if let Some(rest) = input.strip_prefix("docker-archive:") {
            let (path, reference) = path_and_ref(rest)?;
            if let Some(r) = &reference {
                Reference::parse_normalized(r)
                    .map_err(|e| bad(&format!("`{r}` is not an image name: {e}")))?;
            }
            return Ok(Location::DockerArchive { path, reference });
        }
        let name = input.strip_prefix("wharf:").unwrap_or(input);
        if name.is_empty() {
            return Err(bad("no image given"));
        }
        if let Some((scheme, _)) = name.split_once("://") {
            return Err(bad(&format!(
                "unknown transport `{scheme}://`; use `docker://`, `oci:`, `oci-archive:`, `docker-archive:` or `wharf:`"
            )));
        }
        Ok(Location::Store(name.to_string()))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with_ref =
            |f: &mut fmt::Formatter<'_>, kind: &str, path: &PathBuf, r: &Option<String>| {
                write!(f, "{kind}:{}", path.display())?;
                match r {
                    Some(r) => write!(f, ":{r}"),
                    None => Ok(()),
                }
            };
        match self {
            Location::Registry(r) => write!(f, "docker://{}", r.familiar()),
            Location::Store(name) => write!(f, "wharf:{name}"),
            Location::OciDir { path, reference } => with_ref(f, "oci", path, reference),
            Location::OciArchive { path, reference } => with_ref(f, "oci-archive", path, reference),
            Location::DockerArchive { path, reference } => {
                with_ref(f, "docker-archive", path, reference)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_skopeo_style_locations() {
        assert!(matches!(
            Location::parse("docker://127.0.0.1:5000/a/b:1").unwrap(),
            Location::Registry(r) if r.path() == "a/b" && r.tag() == Some("1")
        ));
        assert_eq!(
            Location::parse("oci:/tmp/x:bookworm").unwrap(),
            Location::OciDir {
                path: "/tmp/x".into(),
                reference: Some("bookworm".into())
            }
        );
        assert_eq!(
            Location::parse("docker-archive:a.tar:app:v1").unwrap(),
            Location::DockerArchive {
                path: "a.tar".into(),
                reference: Some("app:v1".into())
            }
        );
        assert_eq!(
            Location::parse("oci-archive:a.tar").unwrap(),
            Location::OciArchive {
                path: "a.tar".into(),
                reference: None
            }
        );
        assert_eq!(
            Location::parse("wharf:app:1").unwrap(),
            Location::Store("app:1".into())
        );
        assert_eq!(
            Location::parse("redis").unwrap(),
            Location::Store("redis".into())
        );
        for bad in [
            "oci:",
            "docker://Bad Name",
            "ftp://x",
            "wharf:",
            "docker-archive:a.tar:Bad Name",
        ] {
            let err = Location::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
