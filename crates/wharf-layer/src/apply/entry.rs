//! The entry model: what one tar entry (or one file of a snapshot) asks the applier to
//! do, independent of where it came from.

use std::io::{self, Read};

use super::path::RelPath;

/// The AUFS whiteout prefix of the OCI image-spec (`layer.md`).
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// Hides every lower entry of the directory that holds it.
pub const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// `.wh..wh.*` names other than the opaque marker are AUFS bookkeeping; Docker skips them.
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    /// `implicit`: a directory only made to hold other entries; it never overrides the
    /// attributes of an existing directory.
    Dir {
        implicit: bool,
    },
    Symlink(Vec<u8>),
    /// A hard link to another path of the root (this layer's or a lower one's).
    Hardlink(RelPath),
    CharDevice(u32, u32),
    BlockDevice(u32, u32),
    Fifo,
    /// `.wh.NAME`: removes NAME of the lower layers (`path` is NAME).
    Whiteout,
    /// `.wh..wh..opq`: hides the lower children of the directory `path`.
    Opaque,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits with setuid/setgid/sticky (`0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: RelPath,
    pub kind: Kind,
    pub meta: Meta,
}

/// What one tar entry means, or why it is refused. `None` for entries that carry no file
/// (PAX global headers, AUFS bookkeeping).
pub fn from_tar<R: Read>(entry: &mut tar::Entry<'_, R>) -> Result<Option<Entry>, EntryError> {
    let raw_name = entry.path_bytes().into_owned();
    let name = String::from_utf8_lossy(&raw_name).into_owned();
    let bad = |reason: &str| EntryError::Invalid {
        name: name.clone(),
        reason: reason.to_string(),
    };
    let header = entry.header();
    let entry_type = header.entry_type();
    if matches!(
        entry_type,
        tar::EntryType::XGlobalHeader | tar::EntryType::XHeader | tar::EntryType::GNULongName
    ) || matches!(entry_type, tar::EntryType::GNULongLink)
    {
        return Ok(None);
    }
    let path = RelPath::clean(&raw_name)
        .ok_or_else(|| bad("the name climbs out of the root with `..`"))?;
    // An all-blank numeric field reads as 0, as Go's archive/tar (Docker's) reads it.
    let old = header.as_old();
    let number = |field: &[u8], value: io::Result<u64>, what: &str| match value {
        Ok(v) => Ok(v),
        Err(_) if field.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        Err(e) => Err(bad(&format!("bad {what}: {e}"))),
    };
    let mut meta = Meta {
        mode: number(&old.mode, header.mode().map(u64::from), "mode")? as u32 & 0o7777,
        uid: number(&old.uid, header.uid(), "uid")?,
        gid: number(&old.gid, header.gid(), "gid")?,
        mtime: number(&old.mtime, header.mtime(), "mtime")? as i64,
        mtime_nsec: 0,
        xattrs: Vec::new(),
    };
    let device = |major: io::Result<Option<u32>>, minor: io::Result<Option<u32>>| {
        Ok::<_, EntryError>((
            major
                .map_err(|e| bad(&format!("bad device number: {e}")))?
                .unwrap_or(0),
            minor
                .map_err(|e| bad(&format!("bad device number: {e}")))?
                .unwrap_or(0),
        ))
    };
    let kind =
        match entry_type {
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Directory => Kind::Dir { implicit: false },
            tar::EntryType::Symlink => Kind::Symlink(
                entry
                    .link_name_bytes()
                    .ok_or_else(|| bad("a symlink without a target"))?
                    .into_owned(),
            ),
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| bad("a hard link without a target"))?;
                Kind::Hardlink(RelPath::clean(&target).ok_or_else(|| {
                    bad("the hard link's target climbs out of the root with `..`")
                })?)
            }
            tar::EntryType::Char => {
                let (ma, mi) = device(header.device_major(), header.device_minor())?;
                Kind::CharDevice(ma, mi)
            }
            tar::EntryType::Block => {
                let (ma, mi) = device(header.device_major(), header.device_minor())?;
                Kind::BlockDevice(ma, mi)
            }
            tar::EntryType::Fifo => Kind::Fifo,
            other => {
                return Err(bad(&format!(
                    "unsupported entry type `{}`",
                    other.as_byte() as char
                )))
            }
        };
    // PAX records override the header: long ids, sub-second times, xattrs.
    if let Some(extensions) = entry
        .pax_extensions()
        .map_err(|e| bad(&format!("bad PAX header: {e}")))?
    {
        for ext in extensions {
            let ext = ext.map_err(|e| bad(&format!("bad PAX record: {e}")))?;
            let key = ext.key_bytes();
            let value = ext.value_bytes();
            let number = || std::str::from_utf8(value).ok();
            if let Some(xattr) = key.strip_prefix(b"SCHILY.xattr.") {
                meta.xattrs.push((xattr.to_vec(), value.to_vec()));
            } else if key == b"uid" {
                meta.uid = number()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| bad("bad PAX uid"))?;
            } else if key == b"gid" {
                meta.gid = number()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| bad("bad PAX gid"))?;
            } else if key == b"mtime" {
                let (secs, nsec) = number()
                    .and_then(parse_pax_time)
                    .ok_or_else(|| bad("bad PAX mtime"))?;
                meta.mtime = secs;
                meta.mtime_nsec = nsec;
            }
        }
    }
    // Whiteouts are recognized by name, whatever the entry type.
    if let Some((parent, base)) = path.split() {
        if base == OPAQUE_MARKER {
            return Ok(Some(Entry {
                path: parent,
                kind: Kind::Opaque,
                meta,
            }));
        }
        if base.starts_with(WHITEOUT_META_PREFIX) {
            return Ok(None);
        }
        if let Some(victim) = base.strip_prefix(WHITEOUT_PREFIX) {
            if victim.is_empty() || victim == b"." || victim == b".." {
                return Err(bad("a whiteout that names no file"));
            }
            return Ok(Some(Entry {
                path: parent.join(victim),
                kind: Kind::Whiteout,
                meta,
            }));
        }
    }
    Ok(Some(Entry { path, kind, meta }))
}

/// `1700000000.123456789` (or a plain integer, or negative) → seconds and nanoseconds.
fn parse_pax_time(value: &str) -> Option<(i64, u32)> {
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nsec = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    // A negative time with a fraction counts down; sub-second precision there is moot.
    Some((secs, if secs < 0 { 0 } else { nsec }))
}

#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("layer entry `{name}`: {reason}")]
    Invalid { name: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_keep_nanoseconds() {
        assert_eq!(parse_pax_time("12.5"), Some((12, 500_000_000)));
        assert_eq!(parse_pax_time("12"), Some((12, 0)));
        assert_eq!(parse_pax_time("x"), None);
    }
}
