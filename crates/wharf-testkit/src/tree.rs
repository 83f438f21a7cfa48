//! A directory tree described line by line, to compare two unpacked root filesystems
//! (wharf's and umoci's): path → type, mode, owner, size, content hash or link target,
//! xattrs, and the hard-link group it belongs to (named by its first path).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use wharf_spec::Digest;

/// Every path below `root` (not `root` itself), sorted, with its description.
pub fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut paths = Vec::new();
    collect(root, "", &mut paths);
    paths.sort();
    let mut first_of_inode: HashMap<(u64, u64), String> = HashMap::new();
    let mut out = BTreeMap::new();
    for rel in paths {
        let full = root.join(&rel);
        let m = fs::symlink_metadata(&full).unwrap();
        let t = m.file_type();
        let what = if t.is_dir() {
            "dir".to_string()
        } else if t.is_symlink() {
            format!("symlink -> {}", fs::read_link(&full).unwrap().display())
        } else if t.is_file() {
            format!(
                "file {} {}",
                m.len(),
                Digest::sha256_of(&fs::read(&full).unwrap()).short()
            )
        } else if t.is_char_device() {
            format!(
                "char {}:{}",
                rustix::fs::major(m.rdev()),
                rustix::fs::minor(m.rdev())
            )
        } else if t.is_block_device() {
            format!(
                "block {}:{}",
                rustix::fs::major(m.rdev()),
                rustix::fs::minor(m.rdev())
            )
        } else if t.is_fifo() {
            "fifo".to_string()
        } else {
            "other".to_string()
        };
        let mut line = format!(
            "{what} mode={:o} owner={}:{}",
            m.mode() & 0o7777,
            m.uid(),
            m.gid()
        );
        if t.is_symlink() {
            line = format!("{what} owner={}:{}", m.uid(), m.gid());
        }
        let xattrs = xattrs(&full);
        if !xattrs.is_empty() {
            line.push_str(&format!(" xattrs={xattrs:?}"));
        }
        if !t.is_dir() && m.nlink() > 1 {
            match first_of_inode.get(&(m.dev(), m.ino())) {
                Some(first) => line.push_str(&format!(" hardlink={first}")),
                None => {
                    first_of_inode.insert((m.dev(), m.ino()), rel.clone());
                }
            }
        }
        out.insert(rel, line);
    }
    out
}

fn collect(root: &Path, rel: &str, out: &mut Vec<String>) {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    for entry in fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let name = String::from_utf8_lossy(entry.file_name().as_bytes()).into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let is_dir = entry.file_type().unwrap().is_dir();
        out.push(child.clone());
        if is_dir {
            collect(root, &child, out);
        }
    }
}

/// `user.*`, `trusted.*` and `security.capability` xattrs, sorted, values lossy.
fn xattrs(path: &Path) -> Vec<(String, String)> {
    let mut buf = vec![0u8; 64 * 1024];
    let Ok(n) = rustix::fs::llistxattr(path, &mut buf[..]) else {
        return Vec::new();
    };
    let names: Vec<Vec<u8>> = buf[..n]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let mut out = Vec::new();
    for name in names {
        let keep = name.starts_with(b"user.")
            || name.starts_with(b"trusted.")
            || name == b"security.capability";
        if !keep {
            continue;
        }
        let mut value = vec![0u8; 64 * 1024];
        let Ok(len) = rustix::fs::lgetxattr(path, name.as_slice(), &mut value[..]) else {
            continue;
        };
        out.push((
            String::from_utf8_lossy(&name).into_owned(),
            String::from_utf8_lossy(&value[..len]).into_owned(),
        ));
    }
    out.sort();
    out
}
