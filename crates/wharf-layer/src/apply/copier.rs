//! Copies of snapshot files on worker threads. Merging snapshots into a directory is
//! mostly creating and filling files, which the kernel does on whichever core asks:
//! the applier walks and decides, the workers copy.
//!
//! Only copies that nothing later in the same layer depends on are sent here (not
//! members of hard-link groups); the applier waits for all of them before the next
//! layer, which may replace or hide them, and before setting directory times.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use rustix::fs::{self as rfs, Mode, OFlags};

use super::applier::ApplyOptions;
use super::attrs::{times, Attrs, Failure};
use super::entry::Meta;
use super::path::RelPath;
use super::{ApplyError, Warning};

/// Jobs waiting at most: bounds the open descriptors and memory the walk runs ahead by.
const QUEUED_MAX: usize = 64;

/// One file to make: `name` in `parent`, with the bytes of `src` and `meta`'s attributes.
pub(super) struct CopyJob {
    pub parent: Arc<OwnedFd>,
    pub name: Vec<u8>,
    pub src: OwnedFd,
    pub size: u64,
    pub path: RelPath,
    pub meta: Meta,
}

pub(super) struct CopyPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<CopyJob>,
    /// Jobs submitted and not finished.
    pending: usize,
    error: Option<ApplyError>,
    warnings: Vec<Warning>,
    closing: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }
}

impl CopyPool {
    /// A worker per core.
    pub fn new(options: ApplyOptions) -> io::Result<CopyPool> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let count = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8);
        let mut workers = Vec::with_capacity(count);
        for i in 0..count {
            let shared = Arc::clone(&shared);
            let worker = std::thread::Builder::new()
                .name(format!("wharf-copy-{i}"))
                .spawn(move || work(&shared, options));
            match worker {
                Ok(handle) => workers.push(handle),
                // Fewer workers still work; none does not.
                Err(e) if workers.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(CopyPool { shared, workers })
    }

    /// Queues `job`, waiting while the queue is full. A copy that already failed is
    /// returned instead, so the applier stops at once.
    pub fn submit(&self, job: CopyJob) -> Result<(), ApplyError> {
        let mut state = self.shared.lock();
        while state.queue.len() >= QUEUED_MAX && state.error.is_none() {
            state = self.shared.wait(state);
        }
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        state.queue.push_back(job);
        state.pending += 1;
        drop(state);
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Waits until every queued copy is done: their warnings, or the first failure.
    pub fn wait(&self) -> Result<Vec<Warning>, ApplyError> {
        let mut state = self.shared.lock();
        while state.pending > 0 {
            state = self.shared.wait(state);
        }
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        Ok(std::mem::take(&mut state.warnings))
    }
}

impl Drop for CopyPool {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.closing = true;
            state.queue.clear();
        }
        self.shared.changed.notify_all();
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn work(shared: &Shared, options: ApplyOptions) {
    let mut buf = Vec::new();
    let mut attrs = Attrs::new(options);
    loop {
        let job = {
            let mut state = shared.lock();
            loop {
                if state.closing {
                    return;
                }
                if let Some(job) = state.queue.pop_front() {
                    break job;
                }
                state = shared.wait(state);
            }
        };
        shared.changed.notify_all();
        let path = job.path.clone();
        let result = copy(job, &mut attrs, &mut buf).map_err(|f| f.at(&path));
        let mut state = shared.lock();
        state.pending -= 1;
        match result {
            Ok(()) => merge_warnings(&mut state.warnings, std::mem::take(&mut attrs.warnings)),
            Err(e) => {
                state.error.get_or_insert(e);
                // Nothing after a failure is worth doing.
                let dropped = state.queue.len();
                state.queue.clear();
                state.pending -= dropped;
            }
        }
        drop(state);
        shared.changed.notify_all();
    }
}

/// "Owners were not applied" is said once, however many workers found it.
pub(super) fn merge_warnings(into: &mut Vec<Warning>, new: Vec<Warning>) {
    for warning in new {
        if warning == Warning::OwnersSkipped && into.contains(&warning) {
            continue;
        }
        into.push(warning);
    }
}

fn copy(job: CopyJob, attrs: &mut Attrs, buf: &mut Vec<u8>) -> Result<(), Failure> {
    let out = create_new(&job.parent, &job.name)?;
    copy_file(&job.src, &out, job.size, buf).map_err(|e| Failure::Io("copy", e))?;
    attrs.set_attributes(&out, &job.path, &job.meta)?;
    rfs::futimens(&out, &times(job.meta.mtime, job.meta.mtime_nsec))
        .map_err(|e| Failure::Io("set mtime", e.into()))
}

/// A new, empty file `name` in `parent`, readable only by its owner until its mode is set.
pub(super) fn create_new(parent: &OwnedFd, name: &[u8]) -> Result<OwnedFd, Failure> {
    rfs::openat(
        parent,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| Failure::Io("create file", e.into()))
}

/// In-kernel copy (`copy_file_range`, a reflink where the filesystem can) of `size` bytes
/// (the source's size when it was looked at; a shorter file ends the copy early), falling
/// back to read/write across filesystems that refuse it.
pub(super) fn copy_file(
    src: &OwnedFd,
    dst: &OwnedFd,
    size: u64,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let mut copied = 0u64;
    while copied < size {
        match rfs::copy_file_range(src, None, dst, None, (size - copied) as usize) {
            Ok(0) => return Ok(()),
            Ok(n) => copied += n as u64,
            Err(
                rustix::io::Errno::XDEV
                | rustix::io::Errno::INVAL
                | rustix::io::Errno::NOSYS
                | rustix::io::Errno::OPNOTSUPP,
            ) if copied == 0 => break,
            Err(e) => return Err(e.into()),
        }
    }
    if copied >= size {
        return Ok(());
    }
    if buf.is_empty() {
        buf.resize(1 << 20, 0);
    }
    let mut input = File::from(src.try_clone()?);
    let mut output = File::from(dst.try_clone()?);
    loop {
        let n = input.read(buf)?;
        if n == 0 {
            return Ok(());
        }
        output.write_all(&buf[..n])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn open(path: &std::path::Path, flags: OFlags) -> OwnedFd {
        rfs::open(path, flags | OFlags::CLOEXEC, Mode::empty()).unwrap()
    }

    fn job(parent: &Arc<OwnedFd>, src: &std::path::Path, name: &str, mode: u32) -> CopyJob {
        CopyJob {
            parent: Arc::clone(parent),
            name: name.as_bytes().to_vec(),
            src: open(src, OFlags::RDONLY),
            size: fs::metadata(src).unwrap().len(),
            path: RelPath::clean(name.as_bytes()).unwrap(),
            meta: Meta {
                mode,
                uid: rustix::process::geteuid().as_raw() as u64,
                gid: rustix::process::getegid().as_raw() as u64,
                mtime: 1_700_000_000,
                mtime_nsec: 5,
                xattrs: Vec::new(),
            },
        }
    }

    fn options() -> ApplyOptions {
        ApplyOptions::for_this_process(super::super::WhiteoutMode::Apply)
    }

    #[test]
    fn copies_more_files_than_the_queue_holds_with_bytes_modes_and_times() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let scene = tempfile::tempdir().unwrap();
        let src = scene.path().join("src");
        fs::write(&src, b"layer bytes").unwrap();
        let out = scene.path().join("out");
        fs::create_dir(&out).unwrap();
        let parent = Arc::new(open(&out, OFlags::RDONLY | OFlags::DIRECTORY));
        let pool = CopyPool::new(options()).unwrap();
        let count = QUEUED_MAX * 2 + 3;
        for i in 0..count {
            pool.submit(job(&parent, &src, &format!("f{i}"), 0o750))
                .unwrap();
        }
        assert!(pool.wait().unwrap().is_empty());
        for i in [0, count / 2, count - 1] {
            let path = out.join(format!("f{i}"));
            assert_eq!(fs::read(&path).unwrap(), b"layer bytes");
            let meta = fs::metadata(&path).unwrap();
            assert_eq!(meta.permissions().mode() & 0o7777, 0o750);
            assert_eq!((meta.mtime(), meta.mtime_nsec()), (1_700_000_000, 5));
        }
        assert_eq!(fs::read_dir(&out).unwrap().count(), count);
    }

    #[test]
    fn a_failed_copy_names_its_entry_and_stops_the_rest() {
        let scene = tempfile::tempdir().unwrap();
        let src = scene.path().join("src");
        fs::write(&src, b"x").unwrap();
        let out = scene.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::write(out.join("taken"), b"already here").unwrap();
        let parent = Arc::new(open(&out, OFlags::RDONLY | OFlags::DIRECTORY));
        let pool = CopyPool::new(options()).unwrap();
        pool.submit(job(&parent, &src, "taken", 0o644)).unwrap();
        let err = pool.wait().unwrap_err().to_string();
        assert!(err.contains("`taken`"), "{err}");
        assert!(err.contains("create file"), "{err}");
        assert_eq!(fs::read(out.join("taken")).unwrap(), b"already here");
        // The failure is reported once; the pool then works again.
        pool.submit(job(&parent, &src, "next", 0o644)).unwrap();
        pool.wait().unwrap();
        assert_eq!(fs::read(out.join("next")).unwrap(), b"x");
    }

    #[test]
    fn a_shorter_source_ends_the_copy_with_what_it_has() {
        let scene = tempfile::tempdir().unwrap();
        let src = scene.path().join("src");
        fs::write(&src, b"12345").unwrap();
        let dst = scene.path().join("dst");
        let (s, d) = (
            open(&src, OFlags::RDONLY),
            rfs::open(
                &dst,
                OFlags::WRONLY | OFlags::CREATE,
                Mode::from_raw_mode(0o600),
            )
            .unwrap(),
        );
        copy_file(&s, &d, 100, &mut Vec::new()).unwrap();
        assert_eq!(fs::read(&dst).unwrap(), b"12345");
    }
}
