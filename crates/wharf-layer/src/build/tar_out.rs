//! Writing tar entries: ustar headers, with a PAX extended header in front when a name,
//! link target or number does not fit, or the entry has xattrs (`SCHILY.xattr.*`, as
//! Docker, containerd and GNU tar write them). Owner names are left empty: only the
//! numeric ids mean anything inside a container, and host names would break
//! reproducibility.

use std::io::{self, Write};

const BLOCK: usize = 512;
/// Largest value an 8-byte octal field holds (uid, gid).
const MAX_OCTAL_ID: u64 = 0o7777777;
/// Largest value the 12-byte octal size field holds.
const MAX_OCTAL_SIZE: u64 = 0o77777777777;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File {
        size: u64,
    },
    Dir,
    Symlink {
        target: Vec<u8>,
    },
    /// A hard link to an entry written earlier in the same layer.
    Hardlink {
        target: Vec<u8>,
    },
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
}

/// One entry's header. `name` is relative, `/`-separated, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub kind: EntryKind,
    /// Permission bits with setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    /// Sorted by name.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    /// The name as written: directories end in `/`, as Docker writes them.
    fn tar_name(&self) -> Vec<u8> {
        let mut name = self.name.clone();
        if self.kind == EntryKind::Dir && !name.ends_with(b"/") {
            name.push(b'/');
        }
        name
    }
}

/// Writes the header block(s) of `entry`; a regular file's content follows, then
/// [`pad`]. Returns the bytes written.
pub fn write_header<W: Write>(out: &mut W, entry: &Entry) -> io::Result<u64> {
    let name = entry.tar_name();
    let mut header = tar::Header::new_ustar();
    let mut pax: Vec<(&str, Vec<u8>)> = Vec::new();

    if !set_name(&mut header, &name) {
        pax.push(("path", name.clone()));
        // Readers that ignore PAX get a truncated name, as with Go's archive/tar.
        set_name(&mut header, &name[..name.len().min(100)]);
    }
    let (entry_type, size) = match &entry.kind {
        EntryKind::File { size } => (tar::EntryType::Regular, *size),
        EntryKind::Dir => (tar::EntryType::Directory, 0),
        EntryKind::Symlink { .. } => (tar::EntryType::Symlink, 0),
        EntryKind::Hardlink { .. } => (tar::EntryType::Link, 0),
        EntryKind::CharDevice { .. } => (tar::EntryType::Char, 0),
        EntryKind::BlockDevice { .. } => (tar::EntryType::Block, 0),
        EntryKind::Fifo => (tar::EntryType::Fifo, 0),
    };
    header.set_entry_type(entry_type);
    if let EntryKind::Symlink { target } | EntryKind::Hardlink { target } = &entry.kind {
        if header.set_link_name_literal(target).is_err() {
            pax.push(("linkpath", target.clone()));
            let _ = header.set_link_name_literal(&target[..target.len().min(100)]);
        }
    }
    if let EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } =
        &entry.kind
    {
        header.set_device_major(*major)?;
        header.set_device_minor(*minor)?;
    }
    if size > MAX_OCTAL_SIZE {
        pax.push(("size", size.to_string().into_bytes()));
    }
    header.set_size(size);
    for (key, id, set) in [
        (
            "uid",
            entry.uid,
            tar::Header::set_uid as fn(&mut tar::Header, u64),
        ),
        ("gid", entry.gid, tar::Header::set_gid),
    ] {
        if id > MAX_OCTAL_ID {
            pax.push((key, id.to_string().into_bytes()));
            set(&mut header, 0);
        } else {
            set(&mut header, id);
        }
    }
    header.set_mode(entry.mode & 0o7777);
    header.set_mtime(entry.mtime);
    header.set_cksum();

    let mut records: Vec<(Vec<u8>, &[u8])> = pax
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_slice()))
        .collect();
    for (key, value) in &entry.xattrs {
        let mut k = b"SCHILY.xattr.".to_vec();
        k.extend_from_slice(key);
        records.push((k, value));
    }
    let mut written = 0;
    if !records.is_empty() {
        records.sort();
        written += write_pax(out, &name, &records)?;
    }
    out.write_all(header.as_bytes())?;
    Ok(written + BLOCK as u64)
}

/// Puts `name` in the ustar name field, or split over prefix and name; false if it
/// fits neither way.
fn set_name(header: &mut tar::Header, name: &[u8]) -> bool {
    let Some(ustar) = header.as_ustar_mut() else {
        return false;
    };
    if name.len() <= 100 {
        ustar.name = [0; 100];
        ustar.name[..name.len()].copy_from_slice(name);
        return true;
    }
    // Split at a `/` so that the prefix holds ≤ 155 bytes and the rest ≤ 100 (a
    // directory's trailing slash stays with the rest).
    let body = name.strip_suffix(b"/").unwrap_or(name);
    for (i, _) in body.iter().enumerate().filter(|(_, &b)| b == b'/') {
        let (prefix, rest) = (&name[..i], &name[i + 1..]);
        if prefix.len() <= 155 && rest.len() <= 100 && !rest.is_empty() {
            ustar.prefix = [0; 155];
            ustar.prefix[..prefix.len()].copy_from_slice(prefix);
            ustar.name = [0; 100];
            ustar.name[..rest.len()].copy_from_slice(rest);
            return true;
        }
    }
    false
}

/// A PAX extended header (`x`) with `records`, sorted, named like Go's archive/tar does.
fn write_pax<W: Write>(out: &mut W, name: &[u8], records: &[(Vec<u8>, &[u8])]) -> io::Result<u64> {
    let mut body = Vec::new();
    for (key, value) in records {
        body.extend_from_slice(&pax_record(key, value));
    }
    let base = name
        .strip_suffix(b"/")
        .unwrap_or(name)
        .rsplit(|&b| b == b'/')
        .next()
        .unwrap_or(b"");
    let mut pax_name = b"PaxHeaders.0/".to_vec();
    pax_name.extend_from_slice(&base[..base.len().min(100 - pax_name.len())]);
    let mut header = tar::Header::new_ustar();
    set_name(&mut header, &pax_name);
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_size(body.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
    out.write_all(header.as_bytes())?;
    out.write_all(&body)?;
    let padding = pad(out, body.len() as u64)?;
    Ok(BLOCK as u64 + body.len() as u64 + padding)
}

/// `"<len> <key>=<value>\n"`, where `<len>` counts the whole record, itself included.
fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + rest.to_string().len();
    if len.to_string().len() != rest.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut record = format!("{len} ").into_bytes();
    record.extend_from_slice(key);
    record.push(b'=');
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// Zero bytes up to the next 512-byte boundary after `size` bytes of content.
pub fn pad<W: Write>(out: &mut W, size: u64) -> io::Result<u64> {
    let rem = (size % BLOCK as u64) as usize;
    if rem == 0 {
        return Ok(0);
    }
    out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
    Ok((BLOCK - rem) as u64)
}

/// The end-of-archive marker: two zero blocks.
pub fn write_end<W: Write>(out: &mut W) -> io::Result<u64> {
    out.write_all(&[0u8; 2 * BLOCK])?;
    Ok(2 * BLOCK as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entry(name: &str, kind: EntryKind) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            kind,
            mode: 0o4755,
            uid: 1000,
            gid: 1000,
            mtime: 1_700_000_000,
            xattrs: Vec::new(),
        }
    }

    fn archive(entries: &[(Entry, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (e, content) in entries {
            write_header(&mut out, e).unwrap();
            out.extend_from_slice(content);
            pad(&mut out, content.len() as u64).unwrap();
        }
        write_end(&mut out).unwrap();
        out
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        for (k, v) in [("path", 1usize), ("path", 93), ("path", 994), ("x", 5)] {
            let r = pax_record(k.as_bytes(), &vec![b'a'; v]);
            let len: usize = std::str::from_utf8(&r[..r.iter().position(|&b| b == b' ').unwrap()])
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(len, r.len(), "{k} {v}");
        }
    }

    #[test]
    fn the_tar_crate_reads_back_long_names_links_ids_and_xattrs() {
        let long = format!("{}/{}", "d".repeat(160), "f".repeat(120));
        let mut file = entry(&long, EntryKind::File { size: 5 });
        file.xattrs = vec![(b"user.note".to_vec(), b"hi\0there".to_vec())];
        file.uid = 5_000_000;
        let link = entry(
            "link",
            EntryKind::Symlink {
                target: "t".repeat(150).into_bytes(),
            },
        );
        let dir = entry(&format!("{}/sub", "p".repeat(120)), EntryKind::Dir);
        let dev = entry("dev/null", EntryKind::CharDevice { major: 1, minor: 3 });
        let bytes = archive(&[(file, b"hello"), (link, b""), (dir, b""), (dev, b"")]);

        let mut tar = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for e in tar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            if path == long {
                assert_eq!(e.header().mode().unwrap(), 0o4755);
                let xattrs: Vec<_> = e
                    .pax_extensions()
                    .unwrap()
                    .unwrap()
                    .map(|x| x.unwrap())
                    .map(|x| (x.key().unwrap().to_string(), x.value_bytes().to_vec()))
                    .collect();
                assert!(xattrs.contains(&("uid".into(), b"5000000".to_vec())));
                assert!(xattrs.contains(&("SCHILY.xattr.user.note".into(), b"hi\0there".to_vec())));
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                assert_eq!(s, "hello");
            }
            if path == "link" {
                assert_eq!(
                    e.link_name().unwrap().unwrap().to_str().unwrap(),
                    "t".repeat(150)
                );
            }
            if path == "dev/null" {
                assert_eq!(e.header().device_major().unwrap(), Some(1));
                assert_eq!(e.header().device_minor().unwrap(), Some(3));
            }
            seen.push(path);
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(seen.contains(&format!("{}/sub/", "p".repeat(120))));
    }
}
