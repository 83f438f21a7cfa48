//! `wharf push [--platform P] [--all-platforms] [-q] SOURCE [DESTINATION]`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use wharf_client::{Client, ClientConfig, ClientEvent, EventHandler};
use wharf_image::push::{self, PushOptions};
use wharf_spec::Reference;
use wharf_store::Store;

use super::parse_platform;
use super::remote::block_on;
use crate::cli::{CompressArg, PushArgs};
use crate::output::push::{short, PushOutput};

pub fn run(store: &Store, args: &PushArgs) -> Result<ExitCode> {
    let destination_text = args.destination.as_deref().unwrap_or(&args.source);
    let destination = Reference::parse_normalized(destination_text)
        .with_context(|| format!("invalid destination `{destination_text}`"))?
        .canonical();
    let mut config = super::remote::client_config(&args.registry)?;
    if let Some(n) = args.max_concurrent_uploads {
        config.max_concurrent_uploads = n.max(1);
    }
    report_resumes(&mut config);
    let mut options = PushOptions {
        platform: parse_platform(args.platform.as_deref())?,
        all_platforms: args.all_platforms,
        max_concurrent_uploads: config.max_concurrent_uploads,
        dest_compress: args.dest_compress.map(CompressArg::compression),
        ..PushOptions::default()
    };
    options.upload.chunk_size = args.chunk_size;
    let client = Client::new(config)?;
    let output = PushOutput::new(args.quiet);
    let report = block_on(push::push(
        store,
        &client,
        &args.source,
        &destination,
        &options,
        &|event| output.event(&event),
    ))?
    .with_context(|| {
        format!(
            "cannot push `{}` to `{}`",
            args.source,
            destination.familiar()
        )
    })?;
    output.finish(&report.destination, &report.digest, report.size);
    Ok(ExitCode::SUCCESS)
}

/// Broken uploads that continue are worth a line on stderr (stdout stays Docker's).
pub(super) fn report_resumes(config: &mut ClientConfig) {
    config.events = Some(EventHandler::new(|event| {
        if let ClientEvent::UploadResuming {
            digest,
            offset,
            reason,
            ..
        } = event
        {
            eprintln!(
                "{}: upload broke off ({reason}); continuing from byte {offset}",
                short(digest)
            );
        }
    }));
}
