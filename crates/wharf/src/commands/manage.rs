//! `wharf tag`, `wharf rmi`, `wharf image prune`.

use std::process::ExitCode;

use anyhow::Result;
use wharf_image::remove::{self, Removal};
use wharf_store::Store;

use crate::cli::RmiArgs;
use crate::output::human;
use crate::output::stdout::outln;

pub fn tag(store: &Store, source: &str, target: &str) -> Result<ExitCode> {
    wharf_image::tag::tag(store, source, target)?;
    Ok(ExitCode::SUCCESS)
}

/// Removes each image in turn; reports every failure and exits non-zero if any failed.
pub fn rmi(store: &Store, args: &RmiArgs) -> Result<ExitCode> {
    let mut failed = false;
    for input in &args.images {
        match remove::remove(store, input, args.force) {
            Ok(removals) => {
                for removal in removals {
                    match removal {
                        Removal::Untagged(name) => outln!("Untagged: {name}")?,
                        Removal::Deleted(digest) => outln!("Deleted: {digest}")?,
                    }
                }
            }
            Err(e) => {
                crate::report::print_error(&e.into());
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub fn prune(store: &Store) -> Result<ExitCode> {
    let report = remove::prune(store)?;
    if !report.images.is_empty() {
        outln!("Deleted Images:")?;
        for digest in &report.images {
            outln!("deleted: {digest}")?;
        }
        outln!()?;
    }
    if !report.snapshots.is_empty() {
        outln!("Deleted Snapshots:")?;
        for chain in &report.snapshots {
            outln!("deleted: {chain}")?;
        }
        outln!()?;
    }
    outln!(
        "Total reclaimed space: {}",
        human::size(report.reclaimed_bytes)
    )?;
    Ok(ExitCode::SUCCESS)
}
