//! Layer tars written entry by entry, for tests of layer application: whiteouts, opaque
//! directories, hard links, symlinks, owners, xattrs, devices, hostile names.

/// A tar under construction; every entry gets mtime 1_600_000_000 unless told otherwise.
pub struct LayerTar {
    builder: tar::Builder<Vec<u8>>,
    owner: (u64, u64),
    mtime: u64,
}

impl Default for LayerTar {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerTar {
    pub fn new() -> LayerTar {
        LayerTar {
            builder: tar::Builder::new(Vec::new()),
            owner: (0, 0),
            mtime: 1_600_000_000,
        }
    }

    /// The owner of the entries that follow.
    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.owner = (uid, gid);
        self
    }

    fn header(&self, kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(self.owner.0);
        h.set_gid(self.owner.1);
        h.set_mtime(self.mtime);
        h.set_size(0);
        h
    }

    pub fn file(self, path: &str, content: &[u8]) -> Self {
        self.file_mode(path, content, 0o644)
    }

    pub fn file_mode(mut self, path: &str, content: &[u8], mode: u32) -> Self {
        let mut h = self.header(tar::EntryType::Regular, mode);
        h.set_size(content.len() as u64);
        self.builder.append_data(&mut h, path, content).unwrap();
        self
    }

    /// A file with xattrs, carried as PAX `SCHILY.xattr.*` records.
    pub fn file_xattrs(mut self, path: &str, content: &[u8], xattrs: &[(&str, &[u8])]) -> Self {
        let keys: Vec<String> = xattrs
            .iter()
            .map(|(k, _)| format!("SCHILY.xattr.{k}"))
            .collect();
        self.builder
            .append_pax_extensions(keys.iter().zip(xattrs).map(|(k, (_, v))| (k.as_str(), *v)))
            .unwrap();
        self.file(path, content)
    }

    pub fn dir(self, path: &str) -> Self {
        self.dir_mode(path, 0o755)
    }

    pub fn dir_mode(mut self, path: &str, mode: u32) -> Self {
        let mut h = self.header(tar::EntryType::Directory, mode);
        self.builder
            .append_data(&mut h, path, std::io::empty())
            .unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = self.header(tar::EntryType::Symlink, 0o777);
        self.builder.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = self.header(tar::EntryType::Link, 0o644);
        self.builder.append_link(&mut h, path, target).unwrap();
        self
    }

    /// `.wh.NAME` beside `path`'s NAME.
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
        let wh = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&wh, b"")
    }

    /// `DIR/.wh..wh..opq`.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), b"")
    }

    pub fn fifo(mut self, path: &str) -> Self {
        let mut h = self.header(tar::EntryType::Fifo, 0o644);
        self.builder
            .append_data(&mut h, path, std::io::empty())
            .unwrap();
        self
    }

    pub fn char_device(mut self, path: &str, major: u32, minor: u32) -> Self {
        let mut h = self.header(tar::EntryType::Char, 0o666);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.builder
            .append_data(&mut h, path, std::io::empty())
            .unwrap();
        self
    }

    /// An entry whose name is written raw into the header, bypassing the tar crate's
    /// refusal of `..` and absolute names (hostile layers have them).
    pub fn raw_file(mut self, name: &str, content: &[u8]) -> Self {
        let mut h = self.header(tar::EntryType::Regular, 0o644);
        h.set_size(content.len() as u64);
        set_raw_name(&mut h, name);
        h.set_cksum();
        self.builder.append(&h, content).unwrap();
        self
    }

    /// A hard link whose target is written raw (may climb out with `..` or be absolute).
    pub fn raw_hardlink(mut self, name: &str, target: &str) -> Self {
        let mut h = self.header(tar::EntryType::Link, 0o644);
        set_raw_name(&mut h, name);
        let bytes = target.as_bytes();
        let gnu = h.as_gnu_mut().unwrap();
        gnu.linkname[..bytes.len()].copy_from_slice(bytes);
        h.set_cksum();
        self.builder.append(&h, std::io::empty()).unwrap();
        self
    }

    /// The finished tar, with its end-of-archive blocks.
    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }

    /// The tar without the two zero blocks at its end (as some tools write them).
    pub fn finish_without_end(self) -> Vec<u8> {
        let mut tar = self.finish();
        tar.truncate(tar.len() - 1024);
        tar
    }

    /// The tar as `umoci insert` ≤ 0.4.7 wrote layers: no end-of-archive blocks, and the
    /// last entry, a file of `last_len` content bytes, without its padding to 512 bytes.
    pub fn finish_unpadded(self, last_len: usize) -> Vec<u8> {
        let mut tar = self.finish_without_end();
        let padding = (512 - last_len % 512) % 512;
        tar.truncate(tar.len() - padding);
        tar
    }
}

fn set_raw_name(h: &mut tar::Header, name: &str) {
    let gnu = h.as_gnu_mut().unwrap();
    let bytes = name.as_bytes();
    gnu.name = [0; 100];
    gnu.name[..bytes.len()].copy_from_slice(bytes);
}
