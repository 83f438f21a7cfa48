//! The sink a new layer's tar stream goes into: it hashes the uncompressed bytes (the
//! diff_id) and compresses them into the caller's writer in the same pass. The caller's
//! writer (the store's ingest) hashes the compressed bytes, so one pass yields both digests.

use std::io::{self, Write};

use wharf_spec::{Algorithm, Digest, HashingWriter};

use super::pgzip::ParallelGzEncoder;
use crate::Compression;

/// Default levels: gzip 6 is Docker's and `gzip`'s default; zstd 3 is zstd's.
pub const DEFAULT_GZIP_LEVEL: u32 = 6;
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

enum Encoder<W: Write> {
    Gzip(ParallelGzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    None(W),
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::None(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::None(w) => w.flush(),
        }
    }
}

/// Hashes, counts and compresses; [`LayerEncoder::finish`] gives the diff_id.
pub struct LayerEncoder<W: Write> {
    inner: HashingWriter<Encoder<W>>,
}

impl<W: Write> LayerEncoder<W> {
    /// `level`: gzip 0–9 or zstd 1–22; `None` for the default. `threads` ≥ 1.
    pub fn new(
        out: W,
        compression: Compression,
        level: Option<i32>,
        threads: usize,
    ) -> io::Result<Self> {
        let encoder = match compression {
            Compression::Gzip => {
                let level = level.map_or(DEFAULT_GZIP_LEVEL, |l| l.clamp(0, 9) as u32);
                Encoder::Gzip(ParallelGzEncoder::new(out, level, threads))
            }
            Compression::Zstd => {
                let mut e =
                    zstd::stream::write::Encoder::new(out, level.unwrap_or(DEFAULT_ZSTD_LEVEL))?;
                // zstd's multithreaded output is the same for any number of workers ≥ 1,
                // but differs from its single-threaded mode: always ≥ 1 keeps digests
                // equal across machines.
                e.multithread(threads.max(1) as u32)?;
                Encoder::Zstd(e)
            }
            Compression::None => Encoder::None(out),
        };
        Ok(LayerEncoder {
            inner: HashingWriter::new(encoder, Algorithm::Sha256),
        })
    }

    /// Flushes the compressor; returns the writer, the diff_id and the uncompressed size.
    pub fn finish(self) -> io::Result<(W, Digest, u64)> {
        let (encoder, diff_id, size) = self.inner.finish();
        let out = match encoder {
            Encoder::Gzip(e) => e.finish()?,
            Encoder::Zstd(e) => e.finish()?,
            Encoder::None(mut w) => {
                w.flush()?;
                w
            }
        };
        Ok((out, diff_id, size))
    }
}

impl<W: Write> Write for LayerEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Worker threads for compression: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_compression_round_trips_and_hashes_the_plain_bytes() {
        let data = b"some layer bytes ".repeat(100_000);
        for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let mut e = LayerEncoder::new(Vec::new(), compression, None, 2).unwrap();
            e.write_all(&data).unwrap();
            let (out, diff_id, size) = e.finish().unwrap();
            assert_eq!(diff_id, Digest::sha256_of(&data));
            assert_eq!(size, data.len() as u64);
            let back = crate::diff_id(&out[..]).unwrap();
            assert_eq!(back.compression, compression);
            assert_eq!(back.digest, diff_id);
        }
    }

    #[test]
    fn zstd_output_does_not_depend_on_the_thread_count() {
        let data: Vec<u8> = (0..4_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let run = |threads| {
            let mut e = LayerEncoder::new(Vec::new(), Compression::Zstd, None, threads).unwrap();
            e.write_all(&data).unwrap();
            e.finish().unwrap().0
        };
        assert_eq!(run(1), run(3));
    }
}
