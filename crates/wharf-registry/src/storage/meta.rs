//! Metadata in SQL through `sqlx`'s `Any` driver: SQLite embedded by default, PostgreSQL
//! when several replicas share one database. Every query is written once, in SQL both run
//! (`$n` parameters, `ON CONFLICT ... DO NOTHING`, no database-only functions, values of
//! the types `Any` carries: i64, text, bytes); only the migrations differ per backend.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};
use std::sync::atomic::{AtomicI64, Ordering};

use sqlx::Row;
use wharf_spec::Digest;

use super::now;
use crate::error::StorageError;

/// A digest column, parsed here, once: the rest of the registry handles `Digest`s, and a
/// row that does not hold one is named instead of trusted.
pub(super) fn digest_column(
    row: &sqlx::any::AnyRow,
    index: usize,
    table: &'static str,
    column: &'static str,
) -> Result<Digest, StorageError> {
    let value: String = row.try_get(index)?;
    parse_digest(value, table, column)
}

fn optional_digest_column(
    row: &sqlx::any::AnyRow,
    index: usize,
    table: &'static str,
    column: &'static str,
) -> Result<Option<Digest>, StorageError> {
    let value: Option<String> = row.try_get(index)?;
    value.map(|v| parse_digest(v, table, column)).transpose()
}

fn parse_digest(
    value: String,
    table: &'static str,
    column: &'static str,
) -> Result<Digest, StorageError> {
    Digest::parse(&value).map_err(|e| StorageError::CorruptRow {
        table,
        column,
        reason: e.to_string(),
        value,
    })
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Where the metadata lives.
#[derive(Clone)]
pub enum Backend {
    /// A SQLite file (`ROOT/registry.db`), for one server.
    Sqlite(PathBuf),
    /// A `postgres://` URL, for replicas that share it (and a root).
    Postgres(String),
}

impl std::fmt::Debug for Backend {
    // By hand: the URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Backend::Postgres(url) => f.debug_tuple("Postgres").field(&redact_url(url)).finish(),
        }
    }
}

impl Backend {
    /// The `database` setting (`None`: SQLite under `root`), checked.
    pub fn from_setting(database: Option<&str>, root: &Path) -> Result<Backend, String> {
        match database {
            None => Ok(Backend::Sqlite(root.join("registry.db"))),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Backend::Postgres(url.to_string()))
            }
            Some(other) => Err(format!(
                "`{}` is not a PostgreSQL URL: use `postgres://USER:PASSWORD@HOST:PORT/DATABASE`, \
                 or leave `database` unset for SQLite in the registry's root",
                redact_url(other)
            )),
        }
    }

    /// What to call it in messages: the file, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Backend::Sqlite(path) => format!("`{}`", path.display()),
            Backend::Postgres(url) => format!("`{}`", redact_url(url)),
        }
    }
}

/// `url` with any password (in the user info or a `password=` parameter) replaced by `***`,
/// for errors and logs.
pub fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@') {
            let userinfo = rest..rest + at;
            if let Some(colon) = out[userinfo.clone()].find(':') {
                out.replace_range(rest + colon + 1..userinfo.end, "***");
            }
        }
    }
    if let Some(query) = out.find('?') {
        let (head, params) = out.split_at(query + 1);
        let params: Vec<String> = params
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => p.to_string(),
            })
            .collect();
        out = format!("{head}{}", params.join("&"));
    }
    out
}

/// `sqlite:///ABSOLUTE/PATH?mode=rwc` with every byte but unreserved ones percent-encoded
/// (sqlx's own `to_url_lossy` leaves `%` as is, which its parser then decodes), absolute so
/// no first component is taken for a host. sqlx reads the path back as UTF-8 only.
fn sqlite_url(path: &Path) -> Result<String, StorageError> {
    let path = std::path::absolute(path)
        .map_err(StorageError::io(format!("resolve `{}`", path.display())))?;
    let mut url = String::from("sqlite://");
    for &b in path.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url.push_str("?mode=rwc");
    Ok(url)
}

pub struct Metadata {
    pub(super) pool: AnyPool,
    backend: Backend,
    /// A blob link is refreshed when a client reads it and its protection (below) ends
    /// sooner than `read_grace` from now: at most once per `touch_after` seconds for a hot
    /// blob. GC counts its grace period from the last refresh.
    touch_after: AtomicI64,
    /// The serving registry's grace period, in seconds: a read protects a link this long
    /// (plus `touch_after`, what a read that refreshed nothing may lag), for every GC.
    read_grace: AtomicI64,
}

/// Refresh links read this long after their last refresh (set lower for short grace periods).
const DEFAULT_TOUCH_AFTER: i64 = 60;

#[derive(Debug, Clone)]
pub struct UploadRecord {
    pub repository: String,
    pub received: u64,
}

#[derive(Debug, Clone)]
pub struct ManifestRecord {
    pub media_type: String,
    pub content: Vec<u8>,
    pub subject: Option<Digest>,
}

/// A manifest whose `subject` is some digest, for the referrers API.
#[derive(Debug, Clone)]
pub struct ReferrerRecord {
    pub digest: Digest,
    pub media_type: String,
    pub content: Vec<u8>,
    pub artifact_type: Option<String>,
}

pub struct NewManifest<'a> {
    pub repository: &'a str,
    pub digest: &'a Digest,
    pub media_type: &'a str,
    pub content: &'a [u8],
    pub subject: Option<&'a Digest>,
    pub artifact_type: Option<&'a str>,
    /// Tags to point at it (moved from wherever they pointed).
    pub tags: &'a [&'a str],
    /// The blobs (config, layers) and child manifests it names, which must be in the
    /// repository when it is stored.
    pub blobs: &'a [Digest],
    pub children: &'a [Digest],
}

impl Metadata {
    /// Opens (creating, migrating) the metadata of `backend`.
    pub async fn open(backend: &Backend) -> Result<Self, StorageError> {
        sqlx::any::install_default_drivers();
        let pool = match backend {
            Backend::Sqlite(path) => {
                // `Any` takes a URL; the pragmas below are per connection and not
                // expressible in it.
                let options = AnyConnectOptions::from_str(&sqlite_url(path)?)?;
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // busy_timeout first: switching to WAL waits for other connections.
                            // WAL + NORMAL: a committed transaction survives a killed process;
                            // readers never wait for the writer.
                            conn.execute(
                                "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres(url) => {
                let options = AnyConnectOptions::from_url(&url.parse().map_err(|e| {
                    StorageError::Database(sqlx::Error::Configuration(
                        format!("`{}`: {e}", redact_url(url)).into(),
                    ))
                })?)?;
                // One connection first: a pool retries an unreachable server until its
                // timeout and then reports only that; this reports why (refused, password).
                options.connect().await?.close().await?;
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?
            }
        };
        let migrator = match backend {
            Backend::Sqlite(_) => &SQLITE_MIGRATOR,
            Backend::Postgres(_) => &POSTGRES_MIGRATOR,
        };
        // Replicas starting together are safe: the migrator takes a database lock.
        migrator.run(&pool).await?;
        Ok(Metadata {
            pool,
            backend: backend.clone(),
            touch_after: AtomicI64::new(DEFAULT_TOUCH_AFTER),
            read_grace: AtomicI64::new(
                crate::config::GcConfig::default().grace_period.as_secs() as i64
            ),
        })
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn set_touch_after(&self, seconds: i64) {
        self.touch_after.store(seconds.max(0), Ordering::Relaxed);
    }

    /// How long (seconds) a read protects a blob link from every GC: the serving grace.
    pub fn set_read_grace(&self, seconds: i64) {
        self.read_grace.store(seconds.max(0), Ordering::Relaxed);
    }

    /// Like [`Metadata::repository_blob`], for a client being told the blob exists: the
    /// link is protected from GC (`protected_until`) for at least the read grace from now,
    /// refreshed when it would end sooner (one write per link per `touch_after`).
    /// `None` also when the link went between the read and the refresh: then the client
    /// must not be told it exists.
    pub async fn repository_blob_touch(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, StorageError> {
        let row = sqlx::query(
            "SELECT b.size, rb.protected_until FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest \
             WHERE rb.repository = $1 AND rb.digest = $2",
        )
        .bind(repository)
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let now = now();
        let grace = self.read_grace.load(Ordering::Relaxed);
        if row.get::<i64, _>(1) < now + grace {
            // GC deletes a link only where `protected_until` has passed, restated in its
            // DELETE: either it deleted first (no row here: not found) or it finds this
            // row protected and leaves it.
            let protect_until = now + grace + self.touch_after.load(Ordering::Relaxed);
            let done = sqlx::query(
                "UPDATE repository_blobs SET created_at = $1, protected_until = $2 \
                 WHERE repository = $3 AND digest = $4",
            )
            .bind(now)
            .bind(protect_until)
            .bind(repository)
            .bind(digest.to_string())
            .execute(&self.pool)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(None);
            }
        }
        Ok(Some(row.get::<i64, _>(0) as u64))
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
        digest: &Digest,
    ) -> Result<Option<u64>, StorageError> {
        let row = sqlx::query(
            "SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest \
             WHERE rb.repository = $1 AND rb.digest = $2",
        )
        .bind(repository)
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get::<i64, _>(0) as u64))
    }

    /// The size of `digest` if the registry holds it in any repository.
    pub async fn blob(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        let row = sqlx::query("SELECT size FROM blobs WHERE digest = $1")
            .bind(digest.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<i64, _>(0) as u64))
    }

    /// Records a committed blob and makes it servable from `repository` (also a mount).
    pub async fn link_blob(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<(), StorageError> {
        let now = now();
        let mut tx = self.pool.begin().await?;
        ensure_repository(&mut tx, repository, now).await?;
        sqlx::query(
            "INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest.to_string())
        .bind(size as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO repository_blobs (repository, digest, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (repository, digest) DO NOTHING",
        )
        .bind(repository)
        .bind(digest.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `digest` from `repository`; the bytes stay for other repositories (and GC).
    pub async fn unlink_blob(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        let done =
            sqlx::query("DELETE FROM repository_blobs WHERE repository = $1 AND digest = $2")
                .bind(repository)
                .bind(digest.to_string())
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

    /// The first of `digests` (in their order) that `repository` may not serve as a blob.
    /// A manifest's references are checked in a few reads, before its write transaction.
    pub async fn first_missing_blob(
        &self,
        repository: &str,
        digests: &[Digest],
    ) -> Result<Option<Digest>, StorageError> {
        self.first_missing(Holding::Blobs, repository, digests)
            .await
    }

    /// The first of `digests` (in their order) that is not a manifest in `repository`.
    pub async fn first_missing_manifest(
        &self,
        repository: &str,
        digests: &[Digest],
    ) -> Result<Option<Digest>, StorageError> {
        self.first_missing(Holding::Manifests, repository, digests)
            .await
    }

    async fn first_missing(
        &self,
        table: Holding,
        repository: &str,
        digests: &[Digest],
    ) -> Result<Option<Digest>, StorageError> {
        // A manifest may name one layer many times: each is asked for once.
        let distinct: Vec<String> = digests
            .iter()
            .map(Digest::to_string)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut present = std::collections::HashSet::new();
        for batch in distinct.chunks(BATCH) {
            let sql = format!(
                "SELECT digest FROM {} WHERE repository = $1 AND digest IN ({})",
                table.name(),
                placeholders(2, batch.len())
            );
            let mut query = sqlx::query(&sql).bind(repository);
            for digest in batch {
                query = query.bind(digest);
            }
            for row in query.fetch_all(&self.pool).await? {
                present.insert(row.get::<String, _>(0));
            }
        }
        Ok(digests
            .iter()
            .find(|d| !present.contains(&d.to_string()))
            .cloned())
    }

    /// Whether `digest` is a manifest in `repository`.
    pub async fn has_manifest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        let row = sqlx::query("SELECT 1 FROM manifests WHERE repository = $1 AND digest = $2")
            .bind(repository)
            .bind(digest.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Stores a manifest's exact bytes (once per repository and digest), records what it
    /// references, and moves its tags. `Ok(Err(digest))`: a blob or child it names is gone
    /// (collected since the caller checked); nothing was stored.
    pub async fn put_manifest(
        &self,
        m: NewManifest<'_>,
    ) -> Result<Result<(), Digest>, StorageError> {
        let now = now();
        let digest = m.digest.to_string();
        let mut tx = self.pool.begin().await?;
        ensure_repository(&mut tx, m.repository, now).await?;
        // A push of a manifest already stored refreshes it, so a GC deleting it concurrently
        // either finishes first (and the insert below stores it again) or skips it.
        sqlx::query("UPDATE manifests SET created_at = $1 WHERE repository = $2 AND digest = $3")
            .bind(now)
            .bind(m.repository)
            .bind(&digest)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO manifests \
             (repository, digest, media_type, content, subject, artifact_type, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (repository, digest) DO NOTHING",
        )
        .bind(m.repository)
        .bind(&digest)
        .bind(m.media_type)
        .bind(m.content)
        .bind(m.subject.map(Digest::to_string))
        .bind(m.artifact_type)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let mut references: Vec<String> = m
            .blobs
            .iter()
            .chain(m.children)
            .map(Digest::to_string)
            .collect();
        references.sort();
        references.dedup();
        insert_references(&mut tx, m.repository, &digest, &references).await?;
        // Checked again inside the transaction that records the references: GC deletes a
        // link only where no reference exists, so either it ran first (and we refuse) or it
        // sees our references (and keeps the links).
        // On PostgreSQL (read committed) a plain SELECT would not wait for a GC transaction
        // deleting the link, so the link is touched instead: the UPDATE waits for such a
        // delete and then finds no row, or, when it comes first, the delete re-checks the
        // touched row, finds it young and leaves it. In digest order, so two pushes that
        // share blobs lock them in the same order and never deadlock.
        for (table, digests) in [(Holding::Blobs, m.blobs), (Holding::Manifests, m.children)] {
            if let Some(missing) = touch_rows(&mut tx, table, m.repository, digests, now).await? {
                tx.rollback().await?;
                return Ok(Err(missing));
            }
        }
        for tag in m.tags {
            sqlx::query(
                "INSERT INTO tags (repository, name, digest, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (repository, name) DO UPDATE SET digest = $3, updated_at = $4",
            )
            .bind(m.repository)
            .bind(tag)
            .bind(&digest)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Manifests with no recorded references (stored before references were recorded, or
    /// an empty index): `(repository, digest, media type, content)`.
    pub async fn manifests_without_references(
        &self,
    ) -> Result<Vec<(String, Digest, String, Vec<u8>)>, StorageError> {
        let rows = sqlx::query(
            "SELECT m.repository, m.digest, m.media_type, m.content FROM manifests m \
             WHERE NOT EXISTS (SELECT 1 FROM manifest_references r \
             WHERE r.repository = m.repository AND r.manifest = m.digest)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let digest = digest_column(&r, 1, "manifests", "digest")?;
                Ok((r.get(0), digest, r.get(2), r.get(3)))
            })
            .collect()
    }

    pub async fn add_references(
        &self,
        repository: &str,
        manifest: &Digest,
        digests: &[Digest],
    ) -> Result<(), StorageError> {
        let mut digests: Vec<String> = digests.iter().map(Digest::to_string).collect();
        digests.sort();
        digests.dedup();
        let mut tx = self.pool.begin().await?;
        insert_references(&mut tx, repository, &manifest.to_string(), &digests).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn manifest(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<ManifestRecord>, StorageError> {
        let row = sqlx::query(
            "SELECT media_type, content, subject FROM manifests \
             WHERE repository = $1 AND digest = $2",
        )
        .bind(repository)
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ManifestRecord {
                media_type: r.get(0),
                content: r.get(1),
                subject: optional_digest_column(&r, 2, "manifests", "subject")?,
            })
        })
        .transpose()
    }

    /// The manifest `tag` points at in `repository`, with its digest: one query, as a
    /// `GET` by tag is the registry's hottest read.
    pub async fn manifest_by_tag(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<(Digest, ManifestRecord)>, StorageError> {
        let row = sqlx::query(
            "SELECT m.digest, m.media_type, m.content, m.subject FROM tags t \
             JOIN manifests m ON m.repository = t.repository AND m.digest = t.digest \
             WHERE t.repository = $1 AND t.name = $2",
        )
        .bind(repository)
        .bind(tag)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok((
                digest_column(&r, 0, "manifests", "digest")?,
                ManifestRecord {
                    media_type: r.get(1),
                    content: r.get(2),
                    subject: optional_digest_column(&r, 3, "manifests", "subject")?,
                },
            ))
        })
        .transpose()
    }

    /// Manifests in `repository` whose `subject` is `digest`, in digest order.
    pub async fn referrers(
        &self,
        repository: &str,
        digest: &Digest,
    ) -> Result<Vec<ReferrerRecord>, StorageError> {
        let rows = sqlx::query(
            "SELECT digest, media_type, content, artifact_type FROM manifests \
             WHERE repository = $1 AND subject = $2 ORDER BY digest",
        )
        .bind(repository)
        .bind(digest.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ReferrerRecord {
                    digest: digest_column(&r, 0, "manifests", "digest")?,
                    media_type: r.get(1),
                    content: r.get(2),
                    artifact_type: r.get(3),
                })
            })
            .collect()
    }

    /// The repositories that may serve `digest`, in name order.
    pub async fn repositories_with_blob(
        &self,
        digest: &Digest,
    ) -> Result<Vec<String>, StorageError> {
        let rows = sqlx::query(
            "SELECT repository FROM repository_blobs WHERE digest = $1 ORDER BY repository",
        )
        .bind(digest.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
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
        digest: &Digest,
    ) -> Result<bool, StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM tags WHERE repository = $1 AND digest = $2")
            .bind(repository)
            .bind(digest.to_string())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM manifests WHERE repository = $1 AND digest = $2")
            .bind(repository)
            .bind(digest.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM manifest_references WHERE repository = $1 AND manifest = $2")
            .bind(repository)
            .bind(digest.to_string())
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

/// Rows per multi-row statement: a 10,000-reference manifest is written in a few dozen
/// statements, not 20,000, so its write transaction (SQLite has one writer) stays short.
/// Far below both databases' limits on bound parameters (32,766 and 65,535).
const BATCH: usize = 500;

/// Where a manifest's references must be: its blobs and its child manifests.
#[derive(Debug, Clone, Copy)]
enum Holding {
    Blobs,
    Manifests,
}

impl Holding {
    fn name(self) -> &'static str {
        match self {
            Holding::Blobs => "repository_blobs",
            Holding::Manifests => "manifests",
        }
    }
}

/// `$first, $first+1, ...`: `count` numbered parameters.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records that `manifest` names each of `digests` (sorted, distinct), in multi-row inserts.
async fn insert_references(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    repository: &str,
    manifest: &str,
    digests: &[String],
) -> Result<(), StorageError> {
    for batch in digests.chunks(BATCH) {
        let rows: Vec<String> = (3..3 + batch.len())
            .map(|i| format!("($1, $2, ${i})"))
            .collect();
        let sql = format!(
            "INSERT INTO manifest_references (repository, manifest, digest) VALUES {} \
             ON CONFLICT (repository, manifest, digest) DO NOTHING",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(repository).bind(manifest);
        for digest in batch {
            query = query.bind(digest);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Sets `created_at` on `repository`'s rows of `table` for each of `digests`, in batches
/// in digest order; returns the first digest with no row.
async fn touch_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: Holding,
    repository: &str,
    digests: &[Digest],
    now: i64,
) -> Result<Option<Digest>, StorageError> {
    let mut digests: Vec<(String, &Digest)> = digests.iter().map(|d| (d.to_string(), d)).collect();
    digests.sort();
    digests.dedup();
    let table = table.name();
    for batch in digests.chunks(BATCH) {
        let sql = format!(
            "UPDATE {table} SET created_at = $1 WHERE repository = $2 AND digest IN ({})",
            placeholders(3, batch.len())
        );
        let mut query = sqlx::query(&sql).bind(now).bind(repository);
        for (digest, _) in batch {
            query = query.bind(digest);
        }
        let touched = query.execute(&mut **tx).await?.rows_affected();
        if touched < batch.len() as u64 {
            // Rare (GC won a race): say which one is gone.
            let sql = format!(
                "SELECT digest FROM {table} WHERE repository = $1 AND digest IN ({})",
                placeholders(2, batch.len())
            );
            let mut query = sqlx::query(&sql).bind(repository);
            for (digest, _) in batch {
                query = query.bind(digest);
            }
            let present: std::collections::HashSet<String> = query
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(|r| r.get(0))
                .collect();
            // (Under read committed a row may reappear in between: name the first then.)
            let missing = batch
                .iter()
                .find(|(key, _)| !present.contains(key))
                .or(batch.first());
            return Ok(missing.map(|(_, d)| (*d).clone()));
        }
    }
    Ok(None)
}

async fn ensure_repository(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The write transaction re-checks every reference in batches; one gone since the
    /// caller's check (GC won a race), even past the first batch, refuses the whole push
    /// and is named, and nothing is stored.
    #[tokio::test]
    async fn a_reference_gone_by_the_write_is_named_and_nothing_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Metadata::open(&Backend::Sqlite(dir.path().join("registry.db")))
            .await
            .unwrap();
        let blobs: Vec<Digest> = (0..BATCH + 10)
            .map(|i| Digest::parse(&format!("sha256:{i:064x}")).unwrap())
            .collect();
        let feed = Digest::sha256_of(b"feed");
        for blob in &blobs {
            meta.link_blob("r", blob, 1).await.unwrap();
        }
        let gone = blobs[BATCH + 5].clone();
        assert!(meta.unlink_blob("r", &gone).await.unwrap());
        assert_eq!(
            meta.first_missing_blob("r", &blobs).await.unwrap(),
            Some(gone.clone())
        );
        let manifest = || NewManifest {
            repository: "r",
            digest: &feed,
            media_type: "application/vnd.oci.image.manifest.v1+json",
            content: b"{}",
            subject: None,
            artifact_type: None,
            tags: &["t"],
            blobs: &blobs,
            children: &[],
        };
        assert_eq!(
            meta.put_manifest(manifest()).await.unwrap(),
            Err(gone.clone())
        );
        assert!(meta.manifest("r", &feed).await.unwrap().is_none());
        assert!(meta
            .manifests_without_references()
            .await
            .unwrap()
            .is_empty());
        meta.link_blob("r", &gone, 1).await.unwrap();
        assert_eq!(meta.put_manifest(manifest()).await.unwrap(), Ok(()));
        assert!(meta.manifest_by_tag("r", "t").await.unwrap().is_some());
    }

    /// A row edited by hand to hold something that is not a digest is named, table,
    /// column and value, wherever it is read: never trusted, never a panic.
    #[tokio::test]
    async fn a_row_whose_digest_is_not_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Metadata::open(&Backend::Sqlite(dir.path().join("registry.db")))
            .await
            .unwrap();
        let layer = Digest::sha256_of(b"layer");
        meta.link_blob("r", &layer, 5).await.unwrap();
        let m = Digest::sha256_of(b"{}");
        meta.put_manifest(NewManifest {
            repository: "r",
            digest: &m,
            media_type: "application/vnd.oci.image.manifest.v1+json",
            content: b"{}",
            subject: Some(&layer),
            artifact_type: None,
            tags: &["t"],
            blobs: std::slice::from_ref(&layer),
            children: &[],
        })
        .await
        .unwrap()
        .unwrap();
        sqlx::query("UPDATE manifests SET subject = 'not-a-digest'")
            .execute(&meta.pool)
            .await
            .unwrap();
        let err = meta.manifest_by_tag("r", "t").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "database table `manifests` holds `not-a-digest` in column `subject`: \
             invalid digest `not-a-digest`: expected `algorithm:hex`"
        );
        sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES ('sha256:short', 1, 0)")
            .execute(&meta.pool)
            .await
            .unwrap();
        let err = meta.dead_blobs(i64::MAX).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("database table `blobs` holds `sha256:short` in column `digest`"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn sqlite_files_keep_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join("a %41 #b? ü");
        std::fs::create_dir(&odd).unwrap();
        let meta = Metadata::open(&Backend::Sqlite(odd.join("registry.db")))
            .await
            .unwrap();
        meta.ping().await.unwrap();
        assert!(odd.join("registry.db").is_file());
        // WAL mode: the write-ahead log sits beside the file.
        meta.link_blob("r", &Digest::sha256_of(b"wal"), 1)
            .await
            .unwrap();
        assert!(odd.join("registry.db-wal").is_file());
    }
}
