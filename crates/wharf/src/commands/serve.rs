//! `wharf serve`: run the OCI registry.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use wharf_registry::Registry;

use crate::cli::ServeArgs;

pub fn run(root: Option<PathBuf>, args: &ServeArgs) -> Result<ExitCode> {
    let root = match registry_root(root) {
        Some(root) => root,
        None => super::default_root()?.join("registry"),
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let registry = Registry::open(&root)
            .await
            .with_context(|| format!("cannot open the registry at `{}`", root.display()))?;
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on `{}`", args.addr))?;
        let addr: SocketAddr = listener.local_addr()?;
        // One parseable line: tests (and scripts using `--addr 127.0.0.1:0`) read the port here.
        eprintln!(
            "wharf serve: listening on http://{addr} (data in `{}`)",
            root.display()
        );
        wharf_registry::serve(
            listener,
            Arc::new(registry),
            wharf_registry::shutdown_signal(),
        )
        .await
        .context("the registry server failed")?;
        eprintln!("wharf serve: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// The global `--root` names the registry's directory for `serve`. `$WHARF_ROOT` names the
/// image store, not a registry, so a root that only came from it is not used here.
fn registry_root(root: Option<PathBuf>) -> Option<PathBuf> {
    let from_env = std::env::var_os("WHARF_ROOT").map(PathBuf::from);
    root.filter(|root| Some(root) != from_env.as_ref())
}
