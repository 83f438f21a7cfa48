//! Layer snapshots: each layer extracted once, into a directory keyed by its ChainID, and
//! shared by every image whose stack begins with the same layers.
//!
//! ```text
//! .wharf/snapshots/<chainid-hex>/fs     one layer, overlay-style (usable as a LowerDir):
//!                                       whiteouts are 0/0 character devices, opaque
//!                                       directories carry trusted.overlay.opaque=y
//! .wharf/snapshots/<chainid-hex>/boot-id  the boot it was written in (absent: synced)
//! .wharf/snapshots.lock                 held while snapshots are made or pruned
//! .wharf/tmp/<pid>-snapshot-<n>         a snapshot being made (a directory; gc removes
//!                                       one left by a crash)
//! ```
//!
//! A snapshot appears under its name only complete: it is built in `.wharf/tmp` and
//! renamed. It is not fsynced (that cost more than the extraction): a killed process loses
//! nothing the kernel holds, and only a crash of the whole machine can lose unwritten
//! pages. So a snapshot records the boot it was written in (`boot-id`, from the kernel),
//! and one from an earlier boot is not trusted: it is extracted again. Layers extract concurrently, each into its own snapshot; a hard link to a
//! lower layer's file is linked to that snapshot's inode once the lower one is done.
//! Snapshots are never written after that rename: unpacking copies (or, on request, links)
//! from them, and replacing a path always unlinks first.
//!
//! Overlay-style whiteouts are device nodes, so snapshots need root; without it, `unpack`
//! applies the layers straight onto its target instead.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rustix::fs::{self as rfs, AtFlags, FileType};
use wharf_layer::apply::{
    self, root, Applier, ApplyError, ApplyOptions, RelPath, Root, WhiteoutMode,
};
use wharf_spec::walk::{Policy, Step, Walker};
use wharf_spec::{Descriptor, Digest, ImageConfig, Manifest, MAX_MANIFEST_SIZE};
use wharf_store::Store;

use crate::catalog::read_manifest;
use crate::error::{ImageError, Result};

static STAGING_COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn snapshots_dir(store: &Store) -> PathBuf {
    store.root().join(".wharf").join("snapshots")
}

/// The directory holding the files of the snapshot of `chain` (its overlay LowerDir).
pub fn snapshot_fs(store: &Store, chain: &Digest) -> PathBuf {
    snapshots_dir(store).join(chain.hex()).join("fs")
}

fn tmp_dir(store: &Store) -> PathBuf {
    store.root().join(".wharf").join("tmp")
}

/// Where a snapshot records the boot it was written in.
const BOOT_ID_FILE: &str = "boot-id";

/// The kernel's id of this boot; None where there is none to read (then snapshots are
/// synced before they are published, and carry no `boot-id`).
fn boot_id() -> Option<String> {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string()).filter(|id| !id.is_empty())
}

/// Whether the snapshot `dir` (`.../snapshots/<hex>`) can be used: it exists, and was
/// written in this boot or synced before it was published.
fn usable(dir: &Path, boot: Option<&str>) -> bool {
    if !dir.is_dir() {
        return false;
    }
    match fs::read_to_string(dir.join(BOOT_ID_FILE)) {
        Ok(written) => boot.is_some_and(|b| b == written.trim()),
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// Whether the snapshot of `chain` exists and can be used (see [`usable`]).
pub fn is_usable(store: &Store, chain: &Digest) -> bool {
    usable(
        &snapshot_dir_of(&snapshot_fs(store, chain)),
        boot_id().as_deref(),
    )
}

/// The ChainIDs of every prefix of `diff_ids`, bottom first.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    (1..=diff_ids.len())
        .filter_map(|n| wharf_layer::chain_id(&diff_ids[..n]))
        .collect()
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Default)]
pub struct Ensured {
    /// Snapshot directories, bottom layer first.
    pub dirs: Vec<PathBuf>,
    pub created: usize,
    pub reused: usize,
    pub warnings: Vec<String>,
}

/// Makes sure a snapshot exists for each layer of an image (`layers` with their config
/// `diff_ids`), extracting the missing ones concurrently. The caller holds the store's
/// shared lock, so gc cannot remove blobs or snapshots meanwhile.
pub fn ensure(store: &Store, layers: &[Descriptor], diff_ids: &[Digest]) -> Result<Ensured> {
    if layers.len() != diff_ids.len() {
        return Err(ImageError::Invalid(format!(
            "the image has {} but its config lists {}",
            crate::count::count(layers.len(), "layer"),
            crate::count::count(diff_ids.len(), "diff_id")
        )));
    }
    let _lock = lock(store)?;
    let boot = boot_id();
    let chains = chain_ids(diff_ids);
    let dirs: Vec<PathBuf> = chains.iter().map(|c| snapshot_fs(store, c)).collect();
    // Above a missing snapshot everything is made again: an upper snapshot's hard links
    // may share inodes with the lower one it was made on.
    let first_missing = (0..layers.len())
        .find(|&i| !usable(&snapshot_dir_of(&dirs[i]), boot.as_deref()))
        .unwrap_or(layers.len());
    let missing: Vec<usize> = (first_missing..layers.len()).collect();
    let mut out = Ensured {
        reused: layers.len() - missing.len(),
        created: missing.len(),
        dirs: dirs.clone(),
        warnings: Vec::new(),
    };
    if missing.is_empty() {
        return Ok(out);
    }
    fs::create_dir_all(snapshots_dir(store))
        .map_err(ImageError::io("create the snapshots directory"))?;

    // Phase 1: every missing layer extracted at once, each into its own staging dir.
    let staged: Vec<Mutex<Option<Result<Staged>>>> =
        missing.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(missing.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = missing.get(k) else { break };
                let result = extract(store, &layers[i], &diff_ids[i]);
                *staged[k].lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            });
        }
    });
    let mut staged: Vec<Result<Staged>> = staged
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| {
                    Err(ImageError::Invalid("a layer extraction did not run".into()))
                })
        })
        .collect();
    if let Some(k) = staged.iter().position(|s| s.is_err()) {
        let err = staged.swap_remove(k).err().expect("an error");
        for s in staged.into_iter().flatten() {
            let _ = fs::remove_dir_all(&s.dir);
        }
        return Err(err);
    }
    let mut staged: Vec<Staged> = staged.into_iter().map(|s| s.expect("checked")).collect();

    // Phase 2, bottom up: links into lower layers, directory times, sync, rename.
    let mut lower_dirs: Vec<PathBuf> = Vec::new();
    let mut result = Ok(());
    let mut k = 0;
    for (i, dir) in dirs.iter().enumerate() {
        if missing.get(k) != Some(&i) {
            lower_dirs.push(dir.clone());
            continue;
        }
        let s = &mut staged[k];
        k += 1;
        let fs_dir = s.dir.join("fs");
        result = finish_staged(s, &lower_dirs, &mut out.warnings);
        if result.is_err() {
            break;
        }
        lower_dirs.push(fs_dir);
    }
    if let Err(e) = result {
        for s in staged {
            let _ = fs::remove_dir_all(&s.dir);
        }
        return Err(e);
    }
    publish(store, &staged, &missing, &dirs, boot.as_deref())?;
    Ok(out)
}

/// Renames the staged snapshots into place: each marked with this boot, or, where the
/// boot has no id, everything synced first. A snapshot an earlier boot left (not
/// trusted) is replaced.
fn publish(
    store: &Store,
    staged: &[Staged],
    missing: &[usize],
    dirs: &[PathBuf],
    boot: Option<&str>,
) -> Result<()> {
    let discard = || {
        for s in staged {
            let _ = fs::remove_dir_all(&s.dir);
        }
    };
    match boot {
        Some(id) => {
            for s in staged {
                let marker = s.dir.join(BOOT_ID_FILE);
                if let Err(e) = fs::write(&marker, id) {
                    discard();
                    return Err(ImageError::io(format!("write `{}`", marker.display()))(e));
                }
            }
        }
        None => {
            let tmp = File::open(tmp_dir(store)).map_err(ImageError::io("open .wharf/tmp"))?;
            if let Err(e) = rfs::syncfs(&tmp) {
                discard();
                return Err(ImageError::io("sync snapshots")(e.into()));
            }
        }
    }
    for (s, &i) in staged.iter().zip(missing) {
        let dest = snapshot_dir_of(&dirs[i]);
        let stale = match fs::remove_dir_all(&dest) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
        if let Err(e) = stale.and_then(|()| fs::rename(&s.dir, &dest)) {
            discard();
            return Err(ImageError::io(format!(
                "publish snapshot `{}`",
                dest.display()
            ))(e));
        }
    }
    if boot.is_none() {
        let dir = File::open(snapshots_dir(store))
            .map_err(ImageError::io("open the snapshots directory"))?;
        dir.sync_all()
            .map_err(ImageError::io("sync the snapshots directory"))?;
    }
    Ok(())
}

/// `.../snapshots/<hex>` of `.../snapshots/<hex>/fs`.
fn snapshot_dir_of(fs_dir: &Path) -> PathBuf {
    fs_dir.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn lock(store: &Store) -> Result<File> {
    let path = store.root().join(".wharf").join("snapshots.lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(ImageError::io(format!("open `{}`", path.display())))?;
    file.lock()
        .map_err(ImageError::io(format!("lock `{}`", path.display())))?;
    Ok(file)
}

use std::os::unix::fs::OpenOptionsExt;

/// A layer extracted into `.wharf/tmp`, its directory times and lower links still to do.
struct Staged {
    dir: PathBuf,
    applier: Option<Applier>,
    unresolved: Vec<(RelPath, RelPath)>,
}

fn extract(store: &Store, layer: &Descriptor, diff_id: &Digest) -> Result<Staged> {
    let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = tmp_dir(store).join(format!("{}-snapshot-{n}", std::process::id()));
    let fs_dir = dir.join("fs");
    let made = fs::create_dir(&dir).and_then(|()| fs::create_dir(&fs_dir));
    made.map_err(ImageError::io(format!("create `{}`", fs_dir.display())))?;
    let run = || -> Result<Staged> {
        let root =
            Root::open(&fs_dir).map_err(ImageError::io(format!("open `{}`", fs_dir.display())))?;
        let mut applier = Applier::new(root, ApplyOptions::for_this_process(WhiteoutMode::Record));
        apply_stored_layer(store, &mut applier, layer, diff_id)?;
        let unresolved = applier.take_unresolved();
        Ok(Staged {
            dir: dir.clone(),
            applier: Some(applier),
            unresolved,
        })
    };
    run().inspect_err(|_| {
        let _ = fs::remove_dir_all(&dir);
    })
}

/// Applies the stored blob of `layer` with `applier`, checking its `diff_id` in the same
/// pass.
pub(crate) fn apply_stored_layer(
    store: &Store,
    applier: &mut Applier,
    layer: &Descriptor,
    diff_id: &Digest,
) -> Result<()> {
    let blob = store.open_blob(&layer.digest)?;
    apply::apply_tar(
        BufReader::with_capacity(1 << 20, blob),
        applier,
        Some(diff_id),
    )
    .map_err(|e| layer_error(&layer.digest, e))?;
    Ok(())
}

pub(crate) fn layer_error(layer: &Digest, e: ApplyError) -> ImageError {
    match e {
        ApplyError::DiffIdMismatch { expected, actual } => ImageError::DiffIdMismatch {
            layer: layer.clone(),
            expected,
            actual,
        },
        other => ImageError::Layer {
            layer: layer.clone(),
            source: other,
        },
    }
}

fn finish_staged(s: &mut Staged, lower_dirs: &[PathBuf], warnings: &mut Vec<String>) -> Result<()> {
    let applier = s.applier.take().expect("finished once");
    for (path, target) in std::mem::take(&mut s.unresolved) {
        link_from_lower(applier.root(), &path, &target, lower_dirs)?;
    }
    let w = applier
        .finish()
        .map_err(|e| ImageError::Invalid(e.to_string()))?;
    warnings.extend(w.iter().map(ToString::to_string));
    Ok(())
}

/// A hard link whose target a lower layer holds: linked to that snapshot's inode, so the
/// two names stay one file when the layers are merged.
fn link_from_lower(
    root: &Root,
    path: &RelPath,
    target: &RelPath,
    lower_dirs: &[PathBuf],
) -> Result<()> {
    let refuse = |why: &str| {
        ImageError::Invalid(format!(
            "layer entry `{path}`: its hard link target `{target}` {why}"
        ))
    };
    let (parent, name) = path.split().ok_or_else(|| refuse("is the root"))?;
    let (target_parent, target_name) = target.split().ok_or_else(|| refuse("is the root"))?;
    for lower in lower_dirs.iter().rev() {
        let lower_root =
            Root::open(lower).map_err(ImageError::io(format!("open `{}`", lower.display())))?;
        match find_in_layer(&lower_root, &target_parent, target_name)? {
            Lookup::Found(dir) => {
                let into = root
                    .open_dir(&parent)
                    .map_err(ImageError::io(format!("open `{parent}`")))?;
                rfs::linkat(&dir, target_name, &into, name, AtFlags::empty()).map_err(|e| {
                    ImageError::io(format!("link `{path}` to `{target}`"))(e.into())
                })?;
                return Ok(());
            }
            Lookup::Hidden => break,
            Lookup::Absent => continue,
        }
    }
    Err(refuse("does not exist"))
}

enum Lookup {
    Found(std::os::fd::OwnedFd),
    /// A whiteout or an opaque directory of this layer hides it and everything lower.
    Hidden,
    Absent,
}

fn find_in_layer(layer: &Root, parent: &RelPath, name: &[u8]) -> Result<Lookup> {
    let io = |e: io::Error| ImageError::io("search a lower snapshot")(e);
    let mut opaque = false;
    let mut prefix = RelPath::root();
    let components: Vec<&[u8]> = if parent.is_root() {
        Vec::new()
    } else {
        parent.as_bytes().split(|&b| b == b'/').collect()
    };
    for part in components {
        let dir = match layer.open_dir(&prefix) {
            Ok(d) => d,
            Err(_) => {
                return Ok(if opaque {
                    Lookup::Hidden
                } else {
                    Lookup::Absent
                })
            }
        };
        match root::stat_at(&dir, part).map_err(io)? {
            Some(st) if root::file_type(&st) == FileType::CharacterDevice && st.st_rdev == 0 => {
                return Ok(Lookup::Hidden)
            }
            Some(st) if root::file_type(&st) == FileType::Directory => {
                let sub = layer.open_dir(&prefix.join(part)).map_err(io)?;
                let (_, _, is_opaque) = apply::tree::read_xattrs_fd(&sub).map_err(io)?;
                opaque |= is_opaque;
            }
            _ => {
                return Ok(if opaque {
                    Lookup::Hidden
                } else {
                    Lookup::Absent
                })
            }
        }
        prefix = prefix.join(part);
    }
    let dir = layer.open_dir(parent).map_err(io)?;
    Ok(match root::stat_at(dir.as_fd(), name).map_err(io)? {
        Some(st) if root::file_type(&st) == FileType::CharacterDevice && st.st_rdev == 0 => {
            Lookup::Hidden
        }
        Some(st) if root::file_type(&st) != FileType::Directory => Lookup::Found(dir),
        _ if opaque => Lookup::Hidden,
        _ => Lookup::Absent,
    })
}

/// Every snapshot in the store, by ChainID.
pub fn list(store: &Store) -> Result<Vec<Digest>> {
    let dir = snapshots_dir(store);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ImageError::io(format!("list `{}`", dir.display()))(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(ImageError::io(format!("list `{}`", dir.display())))?;
        let name = entry.file_name();
        if let Some(d) = name
            .to_str()
            .and_then(|h| Digest::parse(&format!("sha256:{h}")).ok())
        {
            out.push(d);
        }
    }
    out.sort();
    Ok(out)
}

/// The ChainIDs of every layer prefix of every image (and every platform of an index)
/// that `index.json` names.
pub fn chains_in_use(store: &Store) -> Result<BTreeSet<Digest>> {
    Ok(chain_users(store)?.into_keys().collect())
}

/// For each ChainID of the stored images: how many distinct images (configs) begin with
/// that stack of layers.
fn chain_users(store: &Store) -> Result<BTreeMap<Digest, usize>> {
    let mut configs: BTreeSet<Digest> = BTreeSet::new();
    let mut out: BTreeMap<Digest, usize> = BTreeMap::new();
    let mut walk = Walker::from_roots(store.read_index()?.manifests, Policy::IMAGE);
    while let Some(step) = walk.next() {
        let Step::Read(d) = step else {
            continue; // configs are read with their manifest; layers have no chains
        };
        if store.blob_size(&d.digest)?.is_none() {
            walk.skip(&d);
            continue;
        }
        let raw = read_manifest(store, &d)?;
        if let Manifest::Image(m) = raw.manifest() {
            let new_image = configs.insert(m.config.digest.clone());
            if new_image && store.blob_size(&m.config.digest)?.is_some() {
                let bytes = store.read_blob(&m.config.digest, MAX_MANIFEST_SIZE)?;
                if let Ok(config) = ImageConfig::parse(&bytes) {
                    for chain in chain_ids(&config.rootfs.diff_ids) {
                        *out.entry(chain).or_default() += 1;
                    }
                }
            }
        }
        walk.manifest(&d, raw);
    }
    Ok(out)
}

/// How many bottom layers of an image (its config `diff_ids`) are worth a snapshot when
/// it is unpacked: those another stored image also begins with (the next unpack of that
/// one copies them instead of extracting them again), and those that have a usable
/// snapshot already. The layers above are extracted straight into the target, each file
/// written once. ARCHITECTURE.md has the numbers behind this.
pub fn worth_keeping(store: &Store, diff_ids: &[Digest]) -> Result<usize> {
    let chains = chain_ids(diff_ids);
    let usable = chains.iter().take_while(|c| is_usable(store, c)).count();
    let users = chain_users(store)?;
    let shared = chains
        .iter()
        .take_while(|c| users.get(*c).is_some_and(|&n| n > 1))
        .count();
    Ok(usable.max(shared))
}

/// Disk usage of a snapshot: bytes of the distinct inodes below it.
pub fn size_of(store: &Store, chain: &Digest) -> u64 {
    let mut seen = BTreeSet::new();
    tree_size(&snapshot_dir_of(&snapshot_fs(store, chain)), &mut seen)
}

fn tree_size(path: &Path, seen: &mut BTreeSet<(u64, u64)>) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = 0;
    if seen.insert((meta.dev(), meta.ino())) {
        total += meta.blocks() * 512;
    }
    if meta.is_dir() {
        if let Ok(entries) = fs::read_dir(path) {
            for e in entries.flatten() {
                total += tree_size(&e.path(), seen);
            }
        }
    }
    total
}

#[derive(Debug, Clone, Default)]
pub struct Pruned {
    pub removed: Vec<Digest>,
    pub reclaimed_bytes: u64,
}

/// Removes the snapshots no image in `index.json` uses, under the store's exclusive lock
/// (no unpack is reading them). Each is first renamed into `.wharf/tmp`, so a crash midway
/// leaves debris for gc, never a half-deleted snapshot under its name.
pub fn prune(store: &Store) -> Result<Pruned> {
    let _guard = store.lock_exclusive()?;
    let _lock = lock(store)?;
    let used = chains_in_use(store)?;
    let mut out = Pruned::default();
    for chain in list(store)? {
        if used.contains(&chain) {
            continue;
        }
        let bytes = size_of(store, &chain);
        let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
        let doomed = tmp_dir(store).join(format!("{}-snapshot-removed-{n}", std::process::id()));
        let dir = snapshot_dir_of(&snapshot_fs(store, &chain));
        fs::rename(&dir, &doomed).map_err(ImageError::io(format!(
            "remove snapshot `{}`",
            dir.display()
        )))?;
        fs::remove_dir_all(&doomed)
            .map_err(ImageError::io(format!("remove `{}`", doomed.display())))?;
        out.removed.push(chain);
        out.reclaimed_bytes += bytes;
    }
    Ok(out)
}

/// How many snapshots the store holds and their size on disk.
pub fn usage(store: &Store) -> Result<(usize, u64)> {
    let chains = list(store)?;
    let mut seen = BTreeSet::new();
    let bytes = chains
        .iter()
        .map(|c| tree_size(&snapshot_dir_of(&snapshot_fs(store, c)), &mut seen))
        .sum();
    Ok((chains.len(), bytes))
}

#[cfg(test)]
mod layer_error_tests {
    use super::*;

    #[test]
    fn an_apply_error_stays_the_source_of_the_layer_error() {
        let layer = Digest::sha256_of(b"layer");
        let err = layer_error(&layer, ApplyError::Read(std::io::Error::other("cut short")));
        assert!(matches!(&err, ImageError::Layer { layer: l, .. } if *l == layer));
        let source = std::error::Error::source(&err).expect("the apply error is kept");
        assert!(source.downcast_ref::<ApplyError>().is_some(), "{source:?}");
        assert!(
            err.to_string().starts_with(&format!("layer `{layer}`: ")),
            "{err}"
        );
    }
}
