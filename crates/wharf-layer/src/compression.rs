//! Compression detection by magic bytes and streaming decompression.
//!
//! Media types lie (a `tar+gzip` that is plain tar, a Docker archive layer that is
//! gzipped), so the bytes decide, as Docker does.

use std::io::{self, BufRead, BufReader, Read};

use wharf_spec::{Algorithm, Digest, HashingReader};

pub use wharf_spec::media_type::Compression;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Sniffs the compression from the first bytes of a stream without consuming them.
/// (A first read shorter than a magic number, possible only on odd pipes, reads as plain.)
pub fn detect<R: BufRead>(reader: &mut R) -> io::Result<Compression> {
    let head = reader.fill_buf()?;
    Ok(if head.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    })
}

/// Wraps `reader` in the decoder its magic bytes call for. Multi-member gzip is read whole.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let compression = detect(&mut buffered)?;
    let decoded: Box<dyn Read + 'a> = match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buffered)?),
        Compression::None => Box::new(buffered),
    };
    Ok((compression, decoded))
}

/// The diff_id and uncompressed size of a layer stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffId {
    pub digest: Digest,
    pub size: u64,
    pub compression: Compression,
}

/// Streams `reader` through the matching decoder and hashes the uncompressed bytes.
pub fn diff_id<R: Read>(reader: R) -> io::Result<DiffId> {
    let (compression, decoded) = decompress(reader)?;
    let mut hashing = HashingReader::new(decoded, Algorithm::Sha256);
    io::copy(&mut hashing, &mut io::sink())?;
    let (digest, size) = hashing.finish();
    Ok(DiffId {
        digest,
        size,
        compression,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn detects_by_magic_and_decodes_all_three() {
        let data = b"hello layer".repeat(1000);
        let plain = diff_id(&data[..]).unwrap();
        assert_eq!(plain.compression, Compression::None);
        assert_eq!(plain.digest, Digest::sha256_of(&data));
        assert_eq!(plain.size, data.len() as u64);

        let gz = diff_id(&gzip(&data)[..]).unwrap();
        assert_eq!(gz.compression, Compression::Gzip);
        assert_eq!(gz.digest, plain.digest);

        let zst = zstd::encode_all(&data[..], 3).unwrap();
        let z = diff_id(&zst[..]).unwrap();
        assert_eq!(z.compression, Compression::Zstd);
        assert_eq!(z.digest, plain.digest);
    }

    #[test]
    fn multi_member_gzip_is_read_to_the_end() {
        let mut both = gzip(b"first ");
        both.extend(gzip(b"second"));
        let d = diff_id(&both[..]).unwrap();
        assert_eq!(d.digest, Digest::sha256_of(b"first second"));
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let gz = gzip(&b"x".repeat(100_000));
        assert!(diff_id(&gz[..gz.len() / 2]).is_err());
    }

    #[test]
    fn empty_and_tiny_streams_are_plain() {
        assert_eq!(diff_id(&b""[..]).unwrap().size, 0);
        assert_eq!(
            diff_id(&b"\x1f"[..]).unwrap().compression,
            Compression::None
        );
    }
}
