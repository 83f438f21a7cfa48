//! `wharf unpack` and `wharf export`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use wharf_image::unpack::{self, UnpackOptions, UnpackReport};
use wharf_store::Store;

use super::parse_platform;
use crate::cli::{ExportArgs, UnpackArgs};
use crate::output::stdout::outln;
use wharf_image::count::count;

pub fn unpack(store: &Store, args: &UnpackArgs) -> Result<ExitCode> {
    let options = UnpackOptions {
        platform: parse_platform(args.platform.as_deref())?,
        link: args.link,
    };
    let report = unpack::unpack(store, &args.image, &args.dir, &options).with_context(|| {
        format!(
            "cannot unpack `{}` into `{}`",
            args.image,
            args.dir.display()
        )
    })?;
    print_warnings(&report);
    if !args.quiet {
        outln!(
            "Unpacked {} into {} ({}: {} extracted, {} from snapshots)",
            report.id.short(),
            args.dir.display(),
            count(report.layers, "layer"),
            report.extracted,
            report.reused
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(store: &Store, args: &ExportArgs) -> Result<ExitCode> {
    let platform = parse_platform(args.platform.as_deref())?;
    let context = || format!("cannot export `{}`", args.image);
    let report = super::write_output(args.output.as_deref(), "a tar", |out| {
        let (_, report) =
            unpack::export(store, &args.image, platform.as_ref(), out).with_context(context)?;
        Ok(report)
    })?;
    print_warnings(&report);
    Ok(ExitCode::SUCCESS)
}

fn print_warnings(report: &UnpackReport) {
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
}
