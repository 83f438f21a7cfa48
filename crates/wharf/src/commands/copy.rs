//! `wharf copy [--all] [--platform P] [--dest-compress gzip|zstd] SOURCE DESTINATION`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use wharf_client::Client;
use wharf_image::copy::{self, CopyOptions, Location};
use wharf_image::push::PushOptions;
use wharf_spec::media_type::Compression;
use wharf_store::Store;

use super::parse_platform;
use super::remote::block_on;
use crate::cli::{CompressArg, CopyArgs};
use crate::output::push::PushOutput;
use crate::output::stdout::outln;

/// The client config of a command that streams blobs from one registry into another
/// (`copy`, `sync`): `--max-concurrent-uploads` on top of the config file, as many
/// downloads as uploads, and resumed uploads reported.
pub(super) fn streaming_config(
    registry: &crate::cli::RegistryArgs,
    max_concurrent_uploads: Option<usize>,
) -> Result<wharf_client::ClientConfig> {
    let mut config = super::remote::client_config(registry)?;
    if let Some(n) = max_concurrent_uploads {
        config.max_concurrent_uploads = n.max(1);
    }
    config.max_concurrent_downloads = config
        .max_concurrent_downloads
        .max(config.max_concurrent_uploads);
    super::push::report_resumes(&mut config);
    Ok(config)
}

pub fn run(root: Option<std::path::PathBuf>, args: &CopyArgs) -> Result<ExitCode> {
    let from = Location::parse(&args.source)?;
    let to = Location::parse(&args.destination)?;
    let needs_store = [&from, &to].iter().any(|l| matches!(l, Location::Store(_)));
    // The store is opened only when a side is one; its blob-info cache helps otherwise.
    let store: Option<Store> = if needs_store {
        Some(super::open_store(root)?)
    } else {
        None
    };
    let config = streaming_config(&args.registry, args.max_concurrent_uploads)?;
    let options = CopyOptions {
        push: PushOptions {
            platform: parse_platform(args.platform.as_deref())?,
            all_platforms: args.all,
            max_concurrent_uploads: config.max_concurrent_uploads,
            ..PushOptions::default()
        },
        compression: args
            .dest_compress
            .map_or(Compression::Gzip, CompressArg::compression),
        recompress: args.dest_compress.is_some(),
        referrers: args.referrers,
    };
    let client = Client::new(config)?;
    let output = PushOutput::new(args.quiet);
    let report = block_on(copy::copy(
        store.as_ref(),
        &client,
        &from,
        &to,
        &options,
        &|event| output.event(&event),
    ))?
    .with_context(|| format!("cannot copy `{from}` to `{to}`"))?;
    if !args.quiet {
        for referrer in &report.referrers {
            let kind = referrer.artifact_type.as_deref().unwrap_or("referrer");
            outln!("Copied referrer {} ({kind})", referrer.digest)?;
        }
    }
    match &to {
        Location::Registry(reference) => output.finish(reference, &report.digest, report.size),
        _ if args.quiet => outln!("{to}")?,
        _ => {
            outln!("Copied {from} to {to}")?;
            outln!("Digest: {} size: {}", report.digest, report.size)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
