//! What the web pages read: repositories searched and summed up, tags with the manifests
//! they point at, and which images share a blob. Read-only, paged like the API.

use wharf_spec::Digest;

use super::Registry;
use crate::error::{Code, Error, Result};
use crate::storage::{BlobUse, TagRow};

/// A repository as the repository list shows it.
#[derive(Debug, Clone)]
pub struct RepositorySummary {
    pub name: String,
    pub tags: u64,
    /// When a tag was last pushed (seconds since the epoch); None without tags.
    pub last_push: Option<i64>,
}

/// Registry-wide numbers for the front page.
#[derive(Debug, Clone, Copy)]
pub struct Totals {
    pub repositories: u64,
    /// Bytes of blobs stored (each once).
    pub stored_bytes: u64,
    /// What the manifests' blobs would take were none shared.
    pub referenced_bytes: u64,
}

impl Registry {
    /// One page of the repositories `readable` admits whose names contain `contains`: at
    /// most `n` after `after`, and whether more follow. Read in batches past the hidden
    /// ones, as the catalog is.
    pub async fn search(
        &self,
        contains: Option<&str>,
        after: Option<&str>,
        n: u32,
        readable: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(Vec<RepositorySummary>, bool)> {
        let want = n as usize + 1;
        let batch = (n + 1).max(200);
        let mut names = Vec::new();
        let mut cursor = after.map(str::to_string);
        loop {
            let rows = self
                .meta
                .search_repositories(contains, cursor.as_deref(), batch)
                .await?;
            let exhausted = rows.len() < batch as usize;
            cursor = rows.last().cloned();
            names.extend(rows.into_iter().filter(|r| readable(r)));
            if exhausted || names.len() >= want {
                break;
            }
        }
        let more = names.len() > n as usize;
        names.truncate(n as usize);
        let counts = self.meta.tag_counts(&names).await?;
        let summaries = names
            .into_iter()
            .map(|name| {
                let found = counts.iter().find(|(r, _, _)| *r == name);
                RepositorySummary {
                    tags: found.map_or(0, |c| c.1),
                    last_push: found.map(|c| c.2),
                    name,
                }
            })
            .collect();
        Ok((summaries, more))
    }

    /// One page of `name`'s tags with their manifests: at most `n` after `after`, and
    /// whether more follow.
    pub async fn tag_page(
        &self,
        name: &str,
        after: Option<&str>,
        n: u32,
    ) -> Result<(Vec<TagRow>, bool)> {
        if !self.meta.repository_exists(name).await? {
            return Err(Error::new(
                Code::NameUnknown,
                format!("repository `{name}` is unknown"),
            ));
        }
        let mut rows = self.meta.tag_rows(name, after, n + 1).await?;
        let more = rows.len() > n as usize;
        rows.truncate(n as usize);
        Ok((rows, more))
    }

    /// The tags of `name` that point at `digest`, with when each was pushed.
    pub async fn tags_of(&self, name: &str, digest: &Digest) -> Result<Vec<(String, i64)>> {
        Ok(self.meta.tags_of(name, digest).await?)
    }

    /// When `digest` was pushed into `name`.
    pub async fn manifest_created(&self, name: &str, digest: &Digest) -> Result<Option<i64>> {
        Ok(self.meta.manifest_created(name, digest).await?)
    }

    /// The manifests of `name` among `digests`: (digest, media type, exact bytes).
    pub async fn manifests_among(
        &self,
        name: &str,
        digests: &[Digest],
    ) -> Result<Vec<(Digest, String, Vec<u8>)>> {
        Ok(self.meta.manifests_among(name, digests).await?)
    }

    /// The manifests of every repository that reference one of `blobs`, with their tags.
    pub async fn blob_uses(&self, blobs: &[Digest]) -> Result<Vec<BlobUse>> {
        Ok(self.meta.blob_uses(blobs).await?)
    }

    pub async fn totals(&self) -> Result<Totals> {
        let (referenced_bytes, repositories) = self.meta.referenced_bytes().await?;
        Ok(Totals {
            repositories,
            stored_bytes: self.meta.stored_bytes().await?,
            referenced_bytes,
        })
    }
}
