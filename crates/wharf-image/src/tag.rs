//! `wharf tag SRC DST`: another name for an image.

use wharf_spec::Reference;
use wharf_store::Store;

use crate::catalog;
use crate::error::{ImageError, Result};
use crate::names;

/// Points `target_name` at the image `source` finds; returns the new name.
pub fn tag(store: &Store, source: &str, target_name: &str) -> Result<Reference> {
    let name = Reference::parse_normalized(target_name)?;
    if name.digest().is_some() {
        return Err(ImageError::Invalid(format!(
            "cannot tag with a digest: `{target_name}` (a tag is NAME[:TAG])"
        )));
    }
    let name = name.canonical();
    let _guard = store.lock_shared()?;
    let found = catalog::find(store, source, None)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    store.update_index(|index| {
        names::set_name(index, &found.resolved.target, &name, Some(&now));
        Ok(())
    })?;
    Ok(name)
}
