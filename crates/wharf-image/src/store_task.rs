//! Store work on the blocking pool: the store does synchronous file I/O and may wait on
//! file locks, which must not stall the async runtime.

use wharf_store::Store;

use crate::error::{ImageError, Result};

/// Runs `work` on the blocking pool; a panic in it is an internal error.
pub(crate) async fn blocking<T: Send + 'static>(
    store: &Store,
    work: impl FnOnce(&Store) -> T + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(ImageError::internal("store"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TaskFailure;

    #[test]
    fn a_panicking_store_task_is_an_internal_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = runtime.block_on(blocking(&store, |_| -> u32 { panic!("boom") }));
        let err = result.unwrap_err();
        assert!(
            matches!(&err, ImageError::Internal { task: "store", source: TaskFailure::Join(j) } if j.is_panic()),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("internal error: the store task failed"),
            "{err}"
        );
    }
}
