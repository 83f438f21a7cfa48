//! `wharf pull [--platform P] [--all-platforms] [--unpack DIR] [-q] REF`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use wharf_client::Client;
use wharf_image::pull::{self, PullOptions};
use wharf_spec::Reference;
use wharf_store::Store;

use super::parse_platform;
use super::remote::block_on;
use crate::cli::PullArgs;
use crate::output::progress::PullOutput;

pub fn run(store: &Store, args: &PullArgs) -> Result<ExitCode> {
    if let Some(dir) = &args.unpack {
        return super::unpack::pull_and_unpack(store, args, dir);
    }
    let reference = Reference::parse_normalized(&args.reference)
        .with_context(|| format!("invalid reference `{}`", args.reference))?;
    let options = PullOptions {
        platform: parse_platform(args.platform.as_deref())?,
        all_platforms: args.all_platforms,
    };
    let mut config = super::remote::client_config(&args.registry)?;
    if let Some(n) = args.max_concurrent_downloads {
        config.max_concurrent_downloads = n.max(1);
    }
    let client = Client::new(config)?;
    let output = PullOutput::new(args.quiet);
    let report = block_on(pull::pull(store, &client, &reference, options, &|event| {
        output.event(&event)
    }))?
    .with_context(|| format!("cannot pull `{}`", reference.familiar()))?;
    output.finish(&report.reference, report.up_to_date);
    Ok(ExitCode::SUCCESS)
}
