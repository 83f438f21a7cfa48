//! Online garbage collection: runs while the registry serves (no read-only mode).
//!
//! Reachability is kept in SQL: tags name manifests, `manifest_references` records what
//! each manifest names, referrers hang on their subject. A collection
//! 1. (with `delete_untagged`) deletes manifests no tag, index or subject reaches,
//! 2. unlinks blobs from repositories where no manifest references them,
//! 3. forgets blobs no repository links and deletes their bytes,
//! 4. deletes blob files the database does not know (a crash between publishing a file and
//!    recording it), and
//! 5. purges upload sessions idle longer than the upload TTL: no chunk completed and no
//!    byte written since, and no request holding the session (one that is receiving bytes).
//!
//! Content younger than the grace period is never touched: a blob uploaded for a manifest
//! not yet pushed is safe. One a client was just told exists is safe for the serving
//! registry's grace period whatever this collection's grace: a read sets its link's
//! `protected_until`. Steps 3 and 4 hold the GC lock exclusively; committing an upload and
//! mounting hold it shared, so a blob cannot be forgotten between "it exists" and "it is
//! linked".

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::StorageError;
use crate::service::Registry;
use crate::storage::{now, SessionLock};

#[derive(Debug, Clone)]
pub struct GcOptions {
    pub grace_period: Duration,
    pub upload_ttl: Duration,
    pub delete_untagged: bool,
    /// Count what would go; delete nothing.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        let config = crate::config::GcConfig::default();
        GcOptions {
            grace_period: config.grace_period,
            upload_ttl: config.upload_ttl,
            delete_untagged: config.delete_untagged,
            dry_run: false,
        }
    }
}

/// What a collection removed (or, in a dry run, would remove).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct GcReport {
    pub manifests: u64,
    pub blob_links: u64,
    pub blobs: u64,
    pub bytes: u64,
    pub orphaned_files: u64,
    pub uploads: u64,
}

/// Serializes GC's blob sweep against blob commits and mounts: in this process with an
/// `RwLock`, across processes with a file lock beside a SQLite database (`wharf registry gc`
/// beside `wharf serve`), or with a PostgreSQL advisory lock when replicas share a database.
pub struct GcLock {
    inner: RwLock<()>,
    across: Across,
}

/// How [`GcLock`] reaches other processes.
enum Across {
    /// Not at all (a registry assembled from parts, as tests do).
    Nothing,
    File(PathBuf),
    /// `pg_advisory_lock[_shared]`, each hold on a connection of its own for its lifetime.
    /// The pool is not the metadata's: a holder also runs queries, and holders taking every
    /// metadata connection would wait forever for one more.
    Advisory(AnyPool),
}

/// The PostgreSQL advisory lock's key: "wharf_gc" in ASCII, so it is recognisable in
/// `pg_locks` (`objid` holds its low 32 bits, `classid` the high).
pub const ADVISORY_KEY: i64 = 0x7768_6172_665f_6763;

pub struct GcGuard<'a> {
    _shared: Option<RwLockReadGuard<'a, ()>>,
    _exclusive: Option<RwLockWriteGuard<'a, ()>>,
    _file: Option<std::fs::File>,
    _advisory: Option<AdvisoryHold>,
}

/// A held advisory lock. Session-level locks outlive a transaction, so the connection must
/// not go back to the pool still holding it: the drop unlocks, or closes the session.
struct AdvisoryHold {
    conn: Option<PoolConnection<Any>>,
    exclusive: bool,
    /// False while the lock is being asked for: if that is cancelled (the request went
    /// away) or fails, the server may still grant it to the session, so the session is
    /// closed instead of unlocked.
    granted: bool,
}

impl Drop for AdvisoryHold {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.granted {
            drop(conn.detach());
            return;
        }
        let unlock = match self.exclusive {
            true => "SELECT pg_advisory_unlock($1)",
            false => "SELECT pg_advisory_unlock_shared($1)",
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(error) = sqlx::query(unlock)
                        .bind(ADVISORY_KEY)
                        .execute(&mut *conn)
                        .await
                    {
                        tracing::warn!(%error, "cannot release the GC lock; closing its connection");
                        // The server releases a closed session's locks.
                        drop(conn.detach());
                    }
                });
            }
            Err(_) => drop(conn.detach()),
        }
    }
}

impl GcLock {
    /// A lock for this process, and with `file` (a `flock`) for others on this machine.
    pub fn new(file: Option<PathBuf>) -> GcLock {
        GcLock {
            inner: RwLock::new(()),
            across: file.map_or(Across::Nothing, Across::File),
        }
    }

    /// A lock for this process and every process using the PostgreSQL database at `url`.
    /// Connects when first taken.
    pub fn advisory(url: &str) -> Result<GcLock, StorageError> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .connect_lazy_with(options);
        Ok(GcLock {
            inner: RwLock::new(()),
            across: Across::Advisory(pool),
        })
    }

    pub async fn shared(&self) -> Result<GcGuard<'_>, StorageError> {
        let guard = self.inner.read().await;
        let (file, advisory) = self.lock_across(false).await?;
        Ok(GcGuard {
            _shared: Some(guard),
            _exclusive: None,
            _file: file,
            _advisory: advisory,
        })
    }

    pub async fn exclusive(&self) -> Result<GcGuard<'_>, StorageError> {
        let guard = self.inner.write().await;
        let (file, advisory) = self.lock_across(true).await?;
        Ok(GcGuard {
            _shared: None,
            _exclusive: Some(guard),
            _file: file,
            _advisory: advisory,
        })
    }

    async fn lock_across(
        &self,
        exclusive: bool,
    ) -> Result<(Option<std::fs::File>, Option<AdvisoryHold>), StorageError> {
        match &self.across {
            Across::Nothing => Ok((None, None)),
            Across::File(path) => Ok((Some(lock_file(path.clone(), exclusive).await?), None)),
            Across::Advisory(pool) => {
                let mut hold = AdvisoryHold {
                    conn: Some(pool.acquire().await?),
                    exclusive,
                    granted: false,
                };
                let lock = match exclusive {
                    true => "SELECT pg_advisory_lock($1)",
                    false => "SELECT pg_advisory_lock_shared($1)",
                };
                if let Some(conn) = hold.conn.as_mut() {
                    sqlx::query(lock)
                        .bind(ADVISORY_KEY)
                        .execute(&mut **conn)
                        .await?;
                }
                hold.granted = true;
                Ok((None, Some(hold)))
            }
        }
    }
}

async fn lock_file(path: PathBuf, exclusive: bool) -> Result<std::fs::File, StorageError> {
    tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(StorageError::io(format!("open `{}`", path.display())))?;
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(StorageError::io(format!("lock `{}`", path.display())))?;
        Ok::<_, StorageError>(file)
    })
    .await
    .map_err(StorageError::internal("gc lock"))?
}

impl Registry {
    /// One garbage collection; see the module documentation for what it removes.
    pub async fn collect_garbage(&self, options: &GcOptions) -> Result<GcReport, StorageError> {
        let cutoff = now() - options.grace_period.as_secs() as i64;
        let mut report = GcReport::default();
        let meta = self.metadata();

        if options.delete_untagged {
            // Deleting an index frees its children, a subject its referrers: repeat until
            // nothing more goes. A dry run sees the first round only.
            loop {
                let candidates = meta.unreachable_manifests(cutoff).await?;
                if options.dry_run {
                    report.manifests = candidates.len() as u64;
                    break;
                }
                let mut deleted = 0;
                for (repository, digest) in &candidates {
                    if meta
                        .delete_unreachable_manifest(repository, digest, cutoff)
                        .await?
                    {
                        deleted += 1;
                    }
                }
                report.manifests += deleted;
                if deleted == 0 {
                    break;
                }
            }
        }

        report.blob_links = if options.dry_run {
            meta.unreferenced_links(cutoff).await?
        } else {
            meta.delete_unreferenced_links(cutoff).await?
        };

        {
            let _lock = self.gc_lock().exclusive().await?;
            let dead = match options.dry_run {
                true => meta.dead_blobs_after_unlinking(cutoff).await?,
                false => meta.dead_blobs(cutoff).await?,
            };
            for blob in dead {
                if options.dry_run {
                    report.blobs += 1;
                    report.bytes += blob.size;
                    continue;
                }
                if meta.delete_dead_blob(&blob.digest).await? {
                    self.blob_store().delete(&blob.digest).await?;
                    report.blobs += 1;
                    report.bytes += blob.size;
                }
            }
            let horizon = SystemTime::now()
                .checked_sub(options.grace_period)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            for (digest, modified) in self.blob_store().list().await? {
                if modified > horizon || meta.blob(&digest).await?.is_some() {
                    continue;
                }
                if !options.dry_run {
                    self.blob_store().delete(&digest).await?;
                }
                report.orphaned_files += 1;
            }
        }

        let upload_cutoff = now() - options.upload_ttl.as_secs() as i64;
        let horizon = SystemTime::now()
            .checked_sub(options.upload_ttl)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for id in meta.idle_uploads(upload_cutoff).await? {
            // The record moves when a chunk completes; a request still receiving one holds
            // the session's file (and moves its modification time with every write).
            let _held = match self.upload_area().lock(&id).await? {
                SessionLock::Busy => continue,
                SessionLock::Held(file) => {
                    let written = file.metadata().and_then(|m| m.modified());
                    if written.is_ok_and(|t| t > horizon) {
                        continue;
                    }
                    Some(file)
                }
                SessionLock::Gone => None,
            };
            if options.dry_run {
                report.uploads += 1;
            } else if meta.delete_idle_upload(&id, upload_cutoff).await? {
                self.upload_area().remove(&id).await?;
                report.uploads += 1;
            }
        }
        // Files of sessions whose record never got written (a crash right after creating).
        for (id, modified) in self.upload_area().list().await? {
            if modified > horizon || meta.upload_exists(&id).await? {
                continue;
            }
            if !options.dry_run {
                self.upload_area().remove(&id).await?;
            }
            report.uploads += 1;
        }
        Ok(report)
    }
}

/// Runs a collection every `interval` until the process ends; each result is logged.
pub fn spawn_periodic(
    registry: std::sync::Arc<Registry>,
    interval: Duration,
    options: GcOptions,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            match registry.collect_garbage(&options).await {
                Ok(report) => tracing::info!(
                    manifests = report.manifests,
                    blob_links = report.blob_links,
                    blobs = report.blobs,
                    bytes = report.bytes,
                    orphaned_files = report.orphaned_files,
                    uploads = report.uploads,
                    "garbage collected"
                ),
                Err(error) => tracing::error!(%error, "garbage collection failed"),
            }
        }
    })
}

/// The lock file beside a registry's database.
pub fn lock_path(root: &Path) -> PathBuf {
    root.join("gc.lock")
}
