//! The SQL of garbage collection. Every delete restates its reason in its own `WHERE`
//! (no tag, no reference, old enough), so a push that lands between finding a candidate
//! and deleting it wins: the row no longer qualifies and stays.

use sqlx::Row;
use wharf_spec::Digest;

use super::meta::digest_column;
use super::{now, Metadata};
use crate::error::StorageError;

/// A blob no repository links any more.
#[derive(Debug, Clone)]
pub struct DeadBlob {
    pub digest: Digest,
    pub size: u64,
}

/// A manifest `m` is unreachable when no tag names it, no other manifest references it, and
/// its subject (if any) is not in the repository: referrers live as long as their subject.
/// `m` is the table or alias the conditions apply to.
fn unreachable(m: &str) -> String {
    format!(
        "{m}.created_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository = {m}.repository AND t.digest = {m}.digest) \
         AND NOT EXISTS (SELECT 1 FROM manifest_references r \
                         WHERE r.repository = {m}.repository AND r.digest = {m}.digest) \
         AND ({m}.subject IS NULL OR NOT EXISTS (SELECT 1 FROM manifests s \
                         WHERE s.repository = {m}.repository AND s.digest = {m}.subject))"
    )
}

/// A link `rb` no manifest of its repository references, not refreshed since `$1`, and no
/// longer protected by a read (`protected_until` before `$2`, now).
fn unreferenced_link(rb: &str) -> String {
    format!(
        "{rb}.created_at < $1 AND {rb}.protected_until < $2 \
         AND NOT EXISTS (SELECT 1 FROM manifest_references r \
                         WHERE r.repository = {rb}.repository AND r.digest = {rb}.digest)"
    )
}

impl Metadata {
    /// Untagged, unreferenced manifests created before `cutoff`.
    pub async fn unreachable_manifests(
        &self,
        cutoff: i64,
    ) -> Result<Vec<(String, Digest)>, StorageError> {
        let rows = sqlx::query(&format!(
            "SELECT m.repository, m.digest FROM manifests m WHERE {}",
            unreachable("m")
        ))
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| Ok((r.get(0), digest_column(&r, 1, "manifests", "digest")?)))
            .collect()
    }

    /// Deletes one manifest if it is still unreachable; with it go its references.
    pub async fn delete_unreachable_manifest(
        &self,
        repository: &str,
        digest: &Digest,
        cutoff: i64,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        // The conditions are on the deleted row itself, not a subquery: PostgreSQL re-checks
        // those on the newest version of a row a concurrent push touched (and kept).
        let done = sqlx::query(&format!(
            "DELETE FROM manifests WHERE repository = $2 AND digest = $3 AND {}",
            unreachable("manifests")
        ))
        .bind(cutoff)
        .bind(repository)
        .bind(digest.to_string())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM manifest_references WHERE repository = $1 AND manifest = $2")
            .bind(repository)
            .bind(digest.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Blob links (repository → blob) that no manifest of the repository references and
    /// that nobody pushed, mounted or was told about since `cutoff`.
    pub async fn unreferenced_links(&self, cutoff: i64) -> Result<u64, StorageError> {
        let row = sqlx::query(&format!(
            "SELECT COUNT(*) FROM repository_blobs rb WHERE {}",
            unreferenced_link("rb")
        ))
        .bind(cutoff)
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get::<i64, _>(0) as u64)
    }

    pub async fn delete_unreferenced_links(&self, cutoff: i64) -> Result<u64, StorageError> {
        // On the deleted row itself, as in `delete_unreachable_manifest`.
        let done = sqlx::query(&format!(
            "DELETE FROM repository_blobs WHERE {}",
            unreferenced_link("repository_blobs")
        ))
        .bind(cutoff)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Blobs no repository links, recorded before `cutoff`.
    pub async fn dead_blobs(&self, cutoff: i64) -> Result<Vec<DeadBlob>, StorageError> {
        let rows = sqlx::query(
            "SELECT b.digest, b.size FROM blobs b WHERE b.created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest) \
             ORDER BY b.digest",
        )
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dead_blob).collect()
    }

    /// What [`Metadata::dead_blobs`] would return once the unreferenced links are gone
    /// (for a dry run, which deletes no link).
    pub async fn dead_blobs_after_unlinking(
        &self,
        cutoff: i64,
    ) -> Result<Vec<DeadBlob>, StorageError> {
        let rows = sqlx::query(&format!(
            "SELECT b.digest, b.size FROM blobs b WHERE b.created_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest \
             AND NOT ({})) ORDER BY b.digest",
            unreferenced_link("rb")
        ))
        .bind(cutoff)
        .bind(now())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(dead_blob).collect()
    }

    /// Forgets a blob if still nothing links it; true when the caller must delete its bytes.
    pub async fn delete_dead_blob(&self, digest: &Digest) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "DELETE FROM blobs WHERE digest = $1 \
             AND NOT EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = $1)",
        )
        .bind(digest.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Upload sessions not written to since `cutoff`.
    pub async fn idle_uploads(&self, cutoff: i64) -> Result<Vec<String>, StorageError> {
        let rows = sqlx::query("SELECT id FROM uploads WHERE updated_at < $1 ORDER BY id")
            .bind(cutoff)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// Forgets an upload session if it is still idle.
    pub async fn delete_idle_upload(&self, id: &str, cutoff: i64) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM uploads WHERE id = $1 AND updated_at < $2")
            .bind(id)
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn upload_exists(&self, id: &str) -> Result<bool, StorageError> {
        let row = sqlx::query("SELECT 1 FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    pub async fn upload_count(&self) -> Result<u64, StorageError> {
        let row = sqlx::query("SELECT COUNT(*) FROM uploads")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get::<i64, _>(0) as u64)
    }

    /// The bytes of all blobs the registry records.
    pub async fn stored_bytes(&self) -> Result<u64, StorageError> {
        // Cast: PostgreSQL sums BIGINTs as NUMERIC, a type `Any` cannot carry.
        let row = sqlx::query("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get::<i64, _>(0) as u64)
    }
}

/// A `(digest, size)` row of the dead-blob queries.
fn dead_blob(row: &sqlx::any::AnyRow) -> Result<DeadBlob, StorageError> {
    Ok(DeadBlob {
        digest: digest_column(row, 0, "blobs", "digest")?,
        size: row.get::<i64, _>(1) as u64,
    })
}
