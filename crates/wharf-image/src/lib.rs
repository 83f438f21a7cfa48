//! wharf-image: the operations users run on images — pull, load, save, inspect, tag, remove,
//! history, disk usage. Libraries report; only the `wharf` binary prints.

pub mod analysis;
pub mod append;
pub mod catalog;
pub mod commit;
pub mod compose;
pub mod copy;
pub mod count;
pub mod engine;
pub mod error;
pub mod graph;
pub mod history;
pub mod ingest;
pub mod inspect;
pub mod layers;
pub mod load;
pub mod mutate;
pub mod names;
pub mod pull;
pub mod push;
pub mod remove;
pub mod save;
pub mod snapshots;
mod store_task;
pub mod sync;
pub mod tag;
pub mod unpack;
pub mod usage;

pub use error::{ImageError, Result};
