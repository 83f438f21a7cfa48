//! `wharf sync [filters] [--all | --platform P] [--referrers] [--delete] [--dry-run] SOURCE DESTINATION`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use wharf_client::Client;
use wharf_image::engine::Select;
use wharf_image::push::SendOptions;
use wharf_image::sync::{
    self, Job, SyncDestination, SyncEvent, SyncOptions, SyncSource, TagFilter,
};
use wharf_spec::Platform;
use wharf_store::Store;

use super::parse_platform;
use super::remote::block_on;
use crate::cli::SyncArgs;
use crate::output::human;
use crate::output::stdout::outln;

pub fn run(root: Option<std::path::PathBuf>, args: &SyncArgs) -> Result<ExitCode> {
    let filter = TagFilter::parse(
        args.tags.clone(),
        args.tag_regex.as_deref(),
        args.semver.as_deref(),
        args.newest,
    )?;
    let jobs = if sync::file::is_sync_file(&args.source) {
        sync::file::read(Path::new(&args.source), &filter)?
    } else {
        vec![Job {
            source: SyncSource::parse(&args.source)?,
            filter,
        }]
    };
    let destination = SyncDestination::parse(&args.destination)?;
    // The store is opened only for a store destination; it helps mounts otherwise.
    let store: Option<Store> = match destination {
        SyncDestination::Store { .. } => Some(super::open_store(root)?),
        _ => None,
    };
    let config = super::copy::streaming_config(&args.registry, args.max_concurrent_uploads)?;
    let options = SyncOptions {
        select: Select {
            platform: match args.platforms.as_slice() {
                [one] => parse_platform(Some(one))?,
                _ => None,
            },
            all_platforms: args.all,
            platforms: match args.platforms.as_slice() {
                [] | [_] => Vec::new(),
                many => many
                    .iter()
                    .map(|p| Platform::parse(p).map_err(anyhow::Error::from))
                    .collect::<Result<_>>()?,
            },
        },
        referrers: args.referrers,
        delete: args.delete,
        dry_run: args.dry_run,
        send: SendOptions {
            max_concurrent_uploads: config.max_concurrent_uploads,
            upload: Default::default(),
        },
    };
    let client = Client::new(config)?;
    let quiet = args.quiet;
    let report = block_on(sync::sync(
        &client,
        store.as_ref(),
        &jobs,
        &destination,
        &options,
        &|event| {
            if !quiet {
                // A closed stdout ends the run at the summary line.
                let _ = print_event(event);
            }
        },
    ))?
    .with_context(|| format!("cannot sync `{}` to `{}`", args.source, args.destination))?;
    let verb = if args.dry_run { "Would sync" } else { "Synced" };
    outln!(
        "{verb}: {} copied, {} up to date, {} deleted, {} referrers; blobs: {} uploaded ({}), {} mounted, {} already there",
        report.copied,
        report.up_to_date,
        report.deleted,
        report.referrers,
        report.blobs_uploaded,
        human::size(report.bytes_uploaded),
        report.blobs_mounted,
        report.blobs_existing,
    )?;
    Ok(ExitCode::SUCCESS)
}

fn print_event(event: &SyncEvent) -> Result<()> {
    match event {
        SyncEvent::Listed {
            repository,
            tags,
            selected,
        } => outln!("{repository}: {selected} of {tags} tags")?,
        SyncEvent::Copying { .. } => {}
        SyncEvent::Copied {
            source,
            destination,
            digest,
            sent,
        } => outln!(
            "  {} -> {destination}: copied {digest} ({} uploaded, {} mounted, {} already there)",
            source.tag_or_latest(),
            sent.uploaded.len(),
            sent.mounted.len(),
            sent.existing.len(),
        )?,
        SyncEvent::UpToDate {
            source,
            destination,
            ..
        } => outln!("  {} -> {destination}: up to date", source.tag_or_latest())?,
        SyncEvent::WouldCopy {
            source,
            destination,
            digest,
        } => outln!(
            "  {} -> {destination}: would copy {digest}",
            source.tag_or_latest()
        )?,
        SyncEvent::Referrer {
            destination,
            referrer,
        } => {
            let kind = referrer.artifact_type.as_deref().unwrap_or("referrer");
            outln!(
                "  {destination}: copied referrer {} ({kind})",
                referrer.digest
            )?
        }
        SyncEvent::Deleted { destination } => outln!("  deleted {destination}")?,
        SyncEvent::WouldDelete { destination } => outln!("  would delete {destination}")?,
        SyncEvent::Kept {
            destination,
            reason,
        } => outln!("  kept {destination}: {reason}")?,
    }
    Ok(())
}
