//! The SQL of the web pages: searching repositories, tags with what they point at, and
//! which images use a blob. Read-only; every list is bounded by its caller's page.

use sqlx::Row;
use wharf_spec::Digest;

use super::meta::digest_column;
use super::Metadata;
use crate::error::StorageError;

/// A tag and the manifest it points at.
#[derive(Debug, Clone)]
pub struct TagRow {
    pub name: String,
    pub digest: Digest,
    /// When the tag was last pushed (seconds since the epoch).
    pub updated_at: i64,
    pub media_type: String,
    pub content: Vec<u8>,
}

/// One manifest of a repository that references a blob, and a tag naming it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobUse {
    pub blob: Digest,
    pub repository: String,
    pub manifest: Digest,
    pub tag: Option<String>,
}

/// Rows read for "who uses these blobs" at most: a base layer of a big registry is used
/// by more images than a page shows.
const MAX_BLOB_USES: i64 = 5_000;

/// `LIKE` pattern matching names that contain `text` (`%`, `_` and `\` taken literally).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// `$first, $first+1, ...`: `count` numbered parameters.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Metadata {
    /// Repository names after `after` that contain `contains` (all when `None`), in
    /// byte order, at most `limit`.
    pub async fn search_repositories(
        &self,
        contains: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, StorageError> {
        let pattern = contains_pattern(contains.unwrap_or(""));
        let rows = sqlx::query(
            "SELECT name FROM repositories WHERE ($1 IS NULL OR name > $1) \
             AND name LIKE $2 ESCAPE '\\' ORDER BY name LIMIT $3",
        )
        .bind(after)
        .bind(pattern)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// For each of `names` that has tags: how many, and when one was last pushed.
    pub async fn tag_counts(
        &self,
        names: &[String],
    ) -> Result<Vec<(String, u64, i64)>, StorageError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT repository, COUNT(*), MAX(updated_at) FROM tags \
             WHERE repository IN ({}) GROUP BY repository",
            placeholders(1, names.len())
        );
        let mut query = sqlx::query(&sql);
        for name in names {
            query = query.bind(name);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), r.get::<i64, _>(1).max(0) as u64, r.get(2)))
            .collect())
    }

    /// Tags of `repository` after `after`, in byte order, at most `limit`, each with the
    /// manifest it points at.
    pub async fn tag_rows(
        &self,
        repository: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<TagRow>, StorageError> {
        let rows = sqlx::query(
            "SELECT t.name, t.digest, t.updated_at, m.media_type, m.content FROM tags t \
             JOIN manifests m ON m.repository = t.repository AND m.digest = t.digest \
             WHERE t.repository = $1 AND ($2 IS NULL OR t.name > $2) ORDER BY t.name LIMIT $3",
        )
        .bind(repository)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(TagRow {
                    name: r.get(0),
                    digest: digest_column(&r, 1, "tags", "digest")?,
                    updated_at: r.get(2),
                    media_type: r.get(3),
                    content: r.get(4),
                })
            })
            .collect()
    }

    /// The tags of `repository` that point at `digest`, with when each was pushed.
    pub async fn tags_of(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Vec<(String, i64)>, StorageError> {
        let rows = sqlx::query(
            "SELECT name, updated_at FROM tags WHERE repository = $1 AND digest = $2 \
             ORDER BY name",
        )
        .bind(repository)
        .bind(digest.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// When `digest` was pushed into `repository`, if it is there.
    pub async fn manifest_created(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<i64>, StorageError> {
        let row =
            sqlx::query("SELECT created_at FROM manifests WHERE repository = $1 AND digest = $2")
                .bind(repository)
                .bind(digest.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The manifests of `repository` among `digests`: (digest, media type, content).
    pub async fn manifests_among(
        &self,
        repository: &str,
        digests: &[Digest],
    ) -> Result<Vec<(Digest, String, Vec<u8>)>, StorageError> {
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT digest, media_type, content FROM manifests \
             WHERE repository = $1 AND digest IN ({})",
            placeholders(2, digests.len())
        );
        let mut query = sqlx::query(&sql).bind(repository);
        for digest in digests {
            query = query.bind(digest.to_string());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    digest_column(&r, 0, "manifests", "digest")?,
                    r.get(1),
                    r.get(2),
                ))
            })
            .collect()
    }

    /// Every manifest (in any repository) that references one of `blobs`, with the tags
    /// naming it (one row per tag; `None` for an untagged one), ordered by blob,
    /// repository, manifest and tag; at most [`MAX_BLOB_USES`] rows.
    pub async fn blob_uses(&self, blobs: &[Digest]) -> Result<Vec<BlobUse>, StorageError> {
        if blobs.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT r.digest, r.repository, r.manifest, t.name FROM manifest_references r \
             LEFT JOIN tags t ON t.repository = r.repository AND t.digest = r.manifest \
             WHERE r.digest IN ({}) ORDER BY r.digest, r.repository, r.manifest, t.name LIMIT ${}",
            placeholders(1, blobs.len()),
            blobs.len() + 1
        );
        let mut query = sqlx::query(&sql);
        for blob in blobs {
            query = query.bind(blob.to_string());
        }
        let rows = query.bind(MAX_BLOB_USES).fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| {
                Ok(BlobUse {
                    blob: digest_column(&r, 0, "manifest_references", "digest")?,
                    repository: r.get(1),
                    manifest: digest_column(&r, 2, "manifest_references", "manifest")?,
                    tag: r.get(3),
                })
            })
            .collect()
    }

    /// The bytes every manifest's blobs would take if no blob were shared (each reference
    /// counted), and how many repositories there are: the registry-wide saving of sharing
    /// is the first minus the stored bytes.
    pub async fn referenced_bytes(&self) -> Result<(u64, u64), StorageError> {
        let row = sqlx::query(
            "SELECT (SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM manifest_references r \
                     JOIN blobs b ON b.digest = r.digest), \
                    (SELECT COUNT(*) FROM repositories)",
        )
        .fetch_one(&self.pool)
        .await?;
        let (bytes, repositories): (i64, i64) = (row.get(0), row.get(1));
        Ok((bytes.max(0) as u64, repositories.max(0) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn search_text_is_literal() {
        assert_eq!(contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
        assert_eq!(contains_pattern(""), "%%");
    }
}
