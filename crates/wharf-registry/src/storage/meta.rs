//! Metadata in SQL through `sqlx`: SQLite embedded by default. Every query uses only SQL
//! that PostgreSQL runs as well (`$n` parameters, `ON CONFLICT ... DO NOTHING`, no
//! SQLite-only functions), so a PostgreSQL backend is a pool type and a migration away.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::now;
use crate::error::StorageError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct Metadata {
    pool: SqlitePool,
}

#[derive(Debug, Clone)]
pub struct UploadRecord {
    pub repository: String,
    pub received: u64,
}

#[derive(Debug, Clone)]
pub struct ManifestRecord {
    pub media_type: String,
    pub content: Vec<u8>,
}

pub struct NewManifest<'a> {
    pub repository: &'a str,
    pub digest: &'a str,
    pub media_type: &'a str,
    pub content: &'a [u8],
    pub subject: Option<&'a str>,
    pub artifact_type: Option<&'a str>,
    pub tag: Option<&'a str>,
}

impl Metadata {
    pub async fn open(path: &Path) -> Result<Self, StorageError> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            // WAL + NORMAL: a committed transaction survives a killed process; readers
            // never wait for the writer.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Metadata { pool })
    }

    pub async fn ping(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn repository_exists(&self, name: &str) -> Result<bool, StorageError> {
        let row = sqlx::query("SELECT 1 FROM repositories WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// The size of `digest` if `repository` may serve it.
    pub async fn repository_blob(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<u64>, StorageError> {
        let row = sqlx::query(
            "SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest \
             WHERE rb.repository = $1 AND rb.digest = $2",
        )
        .bind(repository)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get::<i64, _>(0) as u64))
    }

    /// The size of `digest` if the registry holds it in any repository.
    pub async fn blob(&self, digest: &str) -> Result<Option<u64>, StorageError> {
        let row = sqlx::query("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<i64, _>(0) as u64))
    }

    /// Records a committed blob and makes it servable from `repository` (also a mount).
    pub async fn link_blob(
        &self,
        repository: &str,
        digest: &str,
        size: u64,
    ) -> Result<(), StorageError> {
        let now = now();
        let mut tx = self.pool.begin().await?;
        ensure_repository(&mut tx, repository, now).await?;
        sqlx::query(
            "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest)
        .bind(size as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO repository_blobs (repository, digest, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (repository, digest) DO NOTHING",
        )
        .bind(repository)
        .bind(digest)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `digest` from `repository`; the bytes stay for other repositories (and GC).
    pub async fn unlink_blob(&self, repository: &str, digest: &str) -> Result<bool, StorageError> {
        let done =
            sqlx::query("DELETE FROM repository_blobs WHERE repository = $1 AND digest = $2")
                .bind(repository)
                .bind(digest)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn create_upload(&self, id: &str, repository: &str) -> Result<(), StorageError> {
        let now = now();
        sqlx::query(
            "INSERT INTO uploads (id, repository, received, started_at, updated_at) \
             VALUES ($1, $2, 0, $3, $3)",
        )
        .bind(id)
        .bind(repository)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn upload(&self, id: &str) -> Result<Option<UploadRecord>, StorageError> {
        let row = sqlx::query("SELECT repository, received FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| UploadRecord {
            repository: r.get(0),
            received: r.get::<i64, _>(1) as u64,
        }))
    }

    /// Moves a session from `from` to `to` bytes; false when another writer moved it first
    /// (a compare-and-set, so replicas sharing the database never interleave chunks).
    pub async fn advance_upload(&self, id: &str, from: u64, to: u64) -> Result<bool, StorageError> {
        let done = sqlx::query(
            "UPDATE uploads SET received = $1, updated_at = $2 WHERE id = $3 AND received = $4",
        )
        .bind(to as i64)
        .bind(now())
        .bind(id)
        .bind(from as i64)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn delete_upload(&self, id: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether `digest` is a manifest in `repository`.
    pub async fn has_manifest(&self, repository: &str, digest: &str) -> Result<bool, StorageError> {
        let row = sqlx::query("SELECT 1 FROM manifests WHERE repository = $1 AND digest = $2")
            .bind(repository)
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Stores a manifest's exact bytes (once per repository and digest) and moves `tag`.
    pub async fn put_manifest(&self, m: NewManifest<'_>) -> Result<(), StorageError> {
        let now = now();
        let mut tx = self.pool.begin().await?;
        ensure_repository(&mut tx, m.repository, now).await?;
        sqlx::query(
            "INSERT INTO manifests \
             (repository, digest, media_type, content, subject, artifact_type, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (repository, digest) DO NOTHING",
        )
        .bind(m.repository)
        .bind(m.digest)
        .bind(m.media_type)
        .bind(m.content)
        .bind(m.subject)
        .bind(m.artifact_type)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if let Some(tag) = m.tag {
            sqlx::query(
                "INSERT INTO tags (repository, name, digest, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (repository, name) DO UPDATE SET digest = $3, updated_at = $4",
            )
            .bind(m.repository)
            .bind(tag)
            .bind(m.digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn manifest(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<ManifestRecord>, StorageError> {
        let row = sqlx::query(
            "SELECT media_type, content FROM manifests WHERE repository = $1 AND digest = $2",
        )
        .bind(repository)
        .bind(digest)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| ManifestRecord {
            media_type: r.get(0),
            content: r.get(1),
        }))
    }

    pub async fn tag(&self, repository: &str, tag: &str) -> Result<Option<String>, StorageError> {
        let row = sqlx::query("SELECT digest FROM tags WHERE repository = $1 AND name = $2")
            .bind(repository)
            .bind(tag)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn delete_tag(&self, repository: &str, tag: &str) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM tags WHERE repository = $1 AND name = $2")
            .bind(repository)
            .bind(tag)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a manifest and every tag that points at it.
    pub async fn delete_manifest(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM tags WHERE repository = $1 AND digest = $2")
            .bind(repository)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM manifests WHERE repository = $1 AND digest = $2")
            .bind(repository)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Tags of `repository` in lexical (byte) order after `last`, at most `limit`.
    pub async fn tags(
        &self,
        repository: &str,
        last: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<String>, StorageError> {
        let rows = sqlx::query(
            "SELECT name FROM tags WHERE repository = $1 AND ($2 IS NULL OR name > $2) \
             ORDER BY name LIMIT $3",
        )
        .bind(repository)
        .bind(last)
        .bind(limit.map_or(i64::MAX, i64::from))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    pub async fn repositories(
        &self,
        last: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<String>, StorageError> {
        let rows = sqlx::query(
            "SELECT name FROM repositories WHERE ($1 IS NULL OR name > $1) ORDER BY name LIMIT $2",
        )
        .bind(last)
        .bind(limit.map_or(i64::MAX, i64::from))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }
}

async fn ensure_repository(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    name: &str,
    now: i64,
) -> Result<(), StorageError> {
    sqlx::query(
        "INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
