//! `wharf-image` at its own boundary: the library's operations driven directly, against
//! real registries (CNCF distribution from `wharf-testkit`) and real files, without the
//! CLI. The CLI's tests keep rendering and snapshots; these keep the semantics.

mod copy_matrix;
mod engine;
mod layers;
mod referrers;
mod unpack;

/// Runs a future on a runtime of its own, as the CLI does.
pub fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
