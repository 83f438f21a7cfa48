//! Where a layer tar may end. `umoci insert` ≤ 0.4.7 wrote layers that stop right after
//! the last file's content: no padding to 512 bytes, no end-of-archive blocks. Go's
//! `archive/tar` (and so Docker and containerd) read them as complete, and images in the
//! wild carry them. The `tar` crate accepts a stream that ends at an entry boundary, but
//! not one that ends in the padding after the last file's content.
//!
//! [`TarEnd`] sits between the (decoded) layer stream and `tar::Archive`: when the stream
//! ends inside the padding of the entry being read, it supplies the missing zeros, so the
//! archive ends cleanly there. A stream cut inside a header or inside an entry's content
//! stays an error that says so. The supplied zeros are never part of the layer's bytes:
//! callers hash the stream before it reaches this reader.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

const BLOCK: u64 = 512;

/// A tar stream that may end in its last entry's padding. Read it through `tar::Archive`
/// and call [`Tracker::entry`] for every entry the archive yields.
pub struct TarEnd<R> {
    inner: R,
    pos: u64,
    zeros_left: u64,
    shared: Rc<Shared>,
}

/// The caller's side: tells the reader where the current entry's content ends.
pub struct Tracker {
    shared: Rc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// The byte offset just past the content of the entry being read.
    content_end: Cell<u64>,
    /// Set once the archive returned its last entry: what follows is trailing bytes.
    entries_done: Cell<bool>,
}

pub fn tar_end<R: Read>(inner: R) -> (TarEnd<R>, Tracker) {
    let shared = Rc::new(Shared::default());
    let reader = TarEnd {
        inner,
        pos: 0,
        zeros_left: 0,
        shared: Rc::clone(&shared),
    };
    (reader, Tracker { shared })
}

impl Tracker {
    /// Records the entry the archive just returned (before its content is read).
    pub fn entry<R: Read>(&self, entry: &tar::Entry<'_, R>) {
        // `size()` is the content's length in the archive (for a GNU sparse file the
        // larger logical size, which only makes the check stricter).
        let end = entry.raw_file_position().saturating_add(entry.size());
        self.shared.content_end.set(end);
    }

    /// The archive has no more entries; the rest of the stream is read as it is.
    pub fn entries_done(&self) {
        self.shared.entries_done.set(true);
    }
}

impl<R> TarEnd<R> {
    /// What a stream that ends at `self.pos` means.
    fn at_end(&mut self) -> io::Result<()> {
        if self.shared.entries_done.get() || self.pos.is_multiple_of(BLOCK) {
            return Ok(());
        }
        let content_end = self.shared.content_end.get();
        if self.pos < content_end {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the layer ends inside an entry's content, {} bytes short",
                    content_end - self.pos
                ),
            ));
        }
        let padded_end = content_end.div_ceil(BLOCK) * BLOCK;
        if self.pos < padded_end {
            // Only the padding is missing: the entry is complete.
            self.zeros_left = padded_end - self.pos;
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "the layer ends inside a tar header (at byte {}, {} bytes into a 512-byte block)",
                self.pos,
                self.pos % BLOCK
            ),
        ))
    }
}

impl<R: Read> Read for TarEnd<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.zeros_left == 0 {
            let n = self.inner.read(out)?;
            if n > 0 {
                self.pos += n as u64;
                return Ok(n);
            }
            self.at_end()?;
            if self.zeros_left == 0 {
                return Ok(0);
            }
        }
        let n = out.len().min(self.zeros_left as usize);
        out[..n].fill(0);
        self.zeros_left -= n as u64;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, content) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *content).unwrap();
        }
        b.into_inner().unwrap()
    }

    /// Every entry's (name, content), or the error that stopped the read.
    fn read_all(bytes: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
        let (reader, tracker) = tar_end(bytes);
        let mut archive = tar::Archive::new(reader);
        let mut got = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            tracker.entry(&entry);
            let name = entry.path()?.to_string_lossy().into_owned();
            let mut content = Vec::new();
            entry.read_to_end(&mut content)?;
            got.push((name, content));
        }
        tracker.entries_done();
        io::copy(&mut archive.into_inner(), &mut io::sink())?;
        Ok(got)
    }

    #[test]
    fn a_stream_without_the_last_padding_or_end_blocks_reads_complete() {
        let full = tar_of(&[("a", b"first"), ("b", &[7u8; 700])]);
        let unpadded = &full[..512 + 512 + 512 + 700];
        let want = vec![
            ("a".to_string(), b"first".to_vec()),
            ("b".to_string(), vec![7u8; 700]),
        ];
        assert_eq!(read_all(&full).unwrap(), want);
        assert_eq!(read_all(unpadded).unwrap(), want);
        // Part of the padding there, part missing.
        assert_eq!(read_all(&full[..512 * 3 + 800]).unwrap(), want);
        // A file whose content fills its last block needs no padding.
        let exact = tar_of(&[("c", &[1u8; 1024])]);
        assert_eq!(read_all(&exact[..1536]).unwrap().len(), 1);
    }

    #[test]
    fn a_stream_cut_inside_content_or_a_header_is_an_error_naming_it() {
        let full = tar_of(&[("a", b"first"), ("b", &[7u8; 700])]);
        let err = read_all(&full[..512 * 3 + 699]).unwrap_err();
        assert!(
            err.to_string()
                .contains("inside an entry's content, 1 bytes short"),
            "{err}"
        );
        let err = read_all(&full[..512 + 512 + 100]).unwrap_err();
        assert!(err.to_string().contains("inside a tar header"), "{err}");
        // Trailing bytes after the end-of-archive blocks are not a header.
        let mut trailing = full.clone();
        trailing.extend_from_slice(&[0u8; 100]);
        assert_eq!(read_all(&trailing).unwrap().len(), 2);
    }
}
