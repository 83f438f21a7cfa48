//! Naming a pulled image. The `index.json` entry a pull writes is named by what was
//! pulled — `name:tag`, or `name@digest` for a pull by digest (Docker's `<none>` tag:
//! `wharf images` lists it unless a tag of the repository names the image, `name@digest`
//! finds it), is marked pulled (so `RepoDigests` shows its name), and points at:
//! - the image manifest, for a single-platform image or one platform of an index (with
//!   the platform from the index entry, and the index digest in an annotation, so the
//!   next pull of the same tag knows it is up to date with one `HEAD`);
//! - the index itself with `--all-platforms`.
//!
//! An entry must never reach a blob the store lacks, which is why a one-platform pull does
//! not name the index. The store sink names what it pulls in the commit that publishes
//! the blobs ([`crate::names::set_pulled_name`]); [`name`] is for an image the store holds
//! already.

use wharf_spec::{Descriptor, Reference};
use wharf_store::Store;

use crate::error::Result;
use crate::names;
use crate::store_task::blocking;

/// On an entry for one platform of an index: the index's digest.
pub const ANNOTATION_INDEX_DIGEST: &str = "dev.wharf.index-digest";

/// Names an image the store already holds completely (a pull by digest with nothing to
/// download): `target` is an existing entry's, `index_digest` the index it was chosen
/// from.
pub(super) async fn name(
    store: &Store,
    reference: &Reference,
    target: Descriptor,
    index_digest: Option<String>,
) -> Result<()> {
    let name = reference.clone();
    blocking(store, move |store| {
        store.commit(Vec::new(), |index| {
            names::set_pulled_name(index, &target, &name, index_digest);
            Ok(())
        })
    })
    .await??;
    Ok(())
}
