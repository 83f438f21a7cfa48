//! Inflates layer blobs with wharf's decoder (`wharf_layer::decompress`: flate2 on
//! zlib-rs for gzip, zstd for zstd) into nothing, on this thread, and prints the bytes it
//! produced and the seconds it took: the decoder alone, for `bench/inflate.sh`.
//!
//!   cargo run --release -p wharf-layer --example inflate -- LAYER...

use std::fs::File;
use std::io;
use std::time::Instant;

fn main() -> io::Result<()> {
    let mut produced = 0u64;
    let started = Instant::now();
    for path in std::env::args().skip(1) {
        let (_, mut decoded) = wharf_layer::decompress(File::open(&path)?)?;
        produced += io::copy(&mut decoded, &mut io::sink())?;
    }
    println!("{produced} {:.6}", started.elapsed().as_secs_f64());
    Ok(())
}
