//! wharf-layer: layer tars. Detects and decodes compression by magic bytes (whatever a
//! media type claims), computes diff_ids and ChainIDs.

pub mod apply;
pub mod build;
pub mod chain;
pub mod compression;
mod read_ahead;
mod tar_end;

pub use chain::chain_id;
pub use compression::{decompress, detect, diff_id, Compression, DiffId};
